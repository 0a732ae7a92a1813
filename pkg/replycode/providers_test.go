package replycode

import (
	"regexp"
	"strings"
	"testing"
)

// sampleReply picks the code and enhanced code under which an entry's Sample
// is tried: the entry's own where it has them, else a code of its class.
func sampleReply(p ProviderReply) (code int, enh string) {
	code, enh = p.Code, p.Enhanced
	if strings.HasPrefix(enh, "X.") {
		digit := "5"
		if code/100 == 4 {
			digit = "4"
		}
		enh = digit + enh[1:]
	}
	if code == 0 {
		code = 550
		if strings.HasPrefix(enh, "4.") {
			code = 451
		} else if strings.HasPrefix(enh, "2.") {
			code = 250
		}
	}
	return code, enh
}

// TestProviders_table checks each entry is complete and well-formed: a
// provider reply without a cause or a fix would explain less than the
// generic layers below it.
func TestProviders_table(t *testing.T) {
	ps := Providers()
	if len(ps) < 50 {
		t.Errorf("%d provider replies, want at least 50", len(ps))
	}
	for i, p := range ps {
		if p.Provider == "" || p.Match == "" || p.Sample == "" || p.Summary == "" || p.Cause == "" || p.Fix == "" || len(p.Refs) == 0 {
			t.Errorf("entry %d (%s %q): provider, match, sample, summary, cause, fix and refs are all required", i, p.Provider, p.Match)
		}
		if _, err := regexp.Compile("(?i)" + p.Match); err != nil {
			t.Errorf("entry %d (%s): %v", i, p.Provider, err)
		}
		if p.Code != 0 && (p.Code < 200 || p.Code > 599) {
			t.Errorf("entry %d (%s): code %d", i, p.Provider, p.Code)
		}
		if p.Enhanced != "" {
			e := p.Enhanced
			if strings.HasPrefix(e, "X.") {
				e = "5" + e[1:]
			}
			if _, _, _, ok := ParseEnhanced(e); !ok {
				t.Errorf("entry %d (%s): bad enhanced code %q", i, p.Provider, p.Enhanced)
			}
			if p.Code != 0 && !strings.HasPrefix(p.Enhanced, "X.") && int(p.Enhanced[0]-'0') != p.Code/100 {
				t.Errorf("entry %d (%s): enhanced %s contradicts code %d", i, p.Provider, p.Enhanced, p.Code)
			}
		}
		// The sample is itself a reply text, not a reply line.
		if _, _, _, ok := ParseReplyLine(p.Sample); ok {
			t.Errorf("entry %d (%s): sample starts with a reply code; store only the text", i, p.Provider)
		}
	}
}

// TestProviders_samples checks that every entry's sample is matched by that
// very entry: its expression works, and no earlier entry shadows it.
func TestProviders_samples(t *testing.T) {
	for i, p := range Providers() {
		code, enh := sampleReply(p)
		var pe parsedEnhanced
		if enh != "" {
			pe.class, pe.subject, pe.detail, pe.ok = ParseEnhanced(enh)
		}
		got := matchProvider(code/100, pe, normalizeText(p.Sample, enh))
		if got != i {
			other := "nothing"
			if got >= 0 {
				other = providerTable[got].Provider + " " + providerTable[got].Match
			}
			t.Errorf("entry %d (%s %q): its sample matched %s", i, p.Provider, p.Match, other)
			continue
		}
		ex := Explain(code, enh, p.Sample)
		if ex.Provider != p.Provider || ex.Summary != p.Summary || ex.Cause != p.Cause || ex.Fix != p.Fix {
			t.Errorf("entry %d (%s): Explain gave %+v", i, p.Provider, ex)
		}
		if !strings.Contains(strings.Join(ex.Refs, "\n"), p.Refs[0]) {
			t.Errorf("entry %d (%s): refs %q lack the provider's", i, p.Provider, ex.Refs)
		}
		// The same reply pasted as a whole line gives the same answer.
		line := itoa3(code) + " "
		if enh != "" {
			line += enh + " "
		}
		c2, e2, t2, ok := ParseReplyLine(line + p.Sample)
		if !ok {
			t.Errorf("entry %d: ParseReplyLine(%q) failed", i, line+p.Sample)
		} else if ex2 := Explain(c2, e2, t2); ex2.Provider != p.Provider || ex2.Summary != p.Summary {
			t.Errorf("entry %d (%s): as a reply line, explained as %q / %q", i, p.Provider, ex2.Provider, ex2.Summary)
		}
	}
}

func itoa3(n int) string {
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}

func TestProviders_enhancedMustMatch(t *testing.T) {
	// An entry with an enhanced code does not match a reply carrying
	// another one, nor a reply without any.
	ex := Explain(550, "5.7.1", "Unauthenticated email from example.com is not accepted due to domain's DMARC policy - gsmtp")
	if ex.Provider == "Gmail" {
		t.Errorf("5.7.1 matched a 5.7.26-only entry: %q", ex.Summary)
	}
	ex = Explain(550, "", "Unauthenticated email from example.com is not accepted due to domain's DMARC policy - gsmtp")
	if ex.Provider == "Gmail" {
		t.Errorf("a reply without enhanced code matched a 5.7.26-only entry: %q", ex.Summary)
	}
	// "X." entries take both classes.
	for _, c := range []struct {
		code int
		enh  string
	}{{421, "4.7.27"}, {550, "5.7.27"}} {
		if ex := Explain(c.code, c.enh, "SPF authentication didn't pass - gsmtp"); ex.Provider != "Gmail" || ex.Temporary != (c.code == 421) {
			t.Errorf("Explain(%d, %s) = %q temporary %v", c.code, c.enh, ex.Provider, ex.Temporary)
		}
	}
}

func TestProviders_coverage(t *testing.T) {
	// The providers the explain command promises (PRODUCT.md) are present.
	have := map[string]int{}
	for _, p := range Providers() {
		have[strings.Fields(p.Provider)[0]]++
	}
	for _, want := range []string{"Gmail", "Microsoft", "Yahoo", "iCloud", "Postfix", "Exim", "Sendmail", "Amazon", "SendGrid", "Mailgun", "Spamhaus", "Barracuda", "Greylisting"} {
		if have[want] == 0 {
			t.Errorf("no provider reply for %s", want)
		}
	}
}
