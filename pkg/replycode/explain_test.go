package replycode

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rfcCodes are the reply codes mailprobe must know: RFC 5321 §4.2.2/§4.2.3,
// RFC 4954 §6 (235, 334, 432, 454, 530, 534, 535, 538), RFC 3207 §4 and
// RFC 7504 (521, 556).
var rfcCodes = []int{211, 214, 220, 221, 235, 250, 251, 252, 334, 354, 421, 432, 450, 451, 452, 454, 455, 500, 501, 502, 503, 504, 521, 530, 534, 535, 538, 550, 551, 552, 553, 554, 555, 556}

var validClasses = map[string]bool{
	ClassPositiveCompletion:   true,
	ClassPositiveIntermediate: true,
	ClassTransientNegative:    true,
	ClassPermanentNegative:    true,
	ClassInvalid:              true,
}

// TestExplain_basicCodes checks every code of RFC 5321 §4.2.3 (and the
// AUTH, STARTTLS and RFC 7504 additions) has a meaning, a summary and a
// reference, and that class and Temporary follow the first digit.
func TestExplain_basicCodes(t *testing.T) {
	wantClass := map[int]string{2: ClassPositiveCompletion, 3: ClassPositiveIntermediate, 4: ClassTransientNegative, 5: ClassPermanentNegative}
	for _, code := range rfcCodes {
		b, ok := basicCodes[code]
		if !ok || b.Meaning == "" || b.Summary == "" || len(b.Refs) == 0 {
			t.Errorf("basic code %d: missing meaning, summary or reference", code)
			continue
		}
		ex := Explain(code, "", "")
		if ex.Meaning != b.Meaning {
			t.Errorf("Explain(%d).Meaning = %q, want %q", code, ex.Meaning, b.Meaning)
		}
		if ex.Class != wantClass[code/100] {
			t.Errorf("Explain(%d).Class = %q, want %q", code, ex.Class, wantClass[code/100])
		}
		if ex.Temporary != (code/100 == 4) {
			t.Errorf("Explain(%d).Temporary = %v", code, ex.Temporary)
		}
		if ex.Summary == "" || len(ex.Refs) == 0 {
			t.Errorf("Explain(%d): empty summary or refs", code)
		}
	}
	if len(basicCodes) != len(rfcCodes) {
		t.Errorf("basicCodes has %d entries, the RFC list %d: keep them in step", len(basicCodes), len(rfcCodes))
	}
}

// TestExplain_unknownAndInvalidCodes: an undefined code inside 200-599 still
// has a class (RFC 5321 §4.2.1 says clients must act on the first digit),
// while anything outside gets "invalid" and a note.
func TestExplain_unknownAndInvalidCodes(t *testing.T) {
	tests := []struct {
		code      int
		class     string
		temporary bool
		note      bool
	}{
		{299, ClassPositiveCompletion, false, false},
		{399, ClassPositiveIntermediate, false, false},
		{499, ClassTransientNegative, true, false},
		{599, ClassPermanentNegative, false, false},
		{0, ClassInvalid, false, false},
		{199, ClassInvalid, false, true},
		{600, ClassInvalid, false, true},
		{-550, ClassInvalid, false, true},
		{55, ClassInvalid, false, true},
	}
	for _, tt := range tests {
		ex := Explain(tt.code, "", "whatever")
		if ex.Class != tt.class || ex.Temporary != tt.temporary || (len(ex.Notes) > 0) != tt.note {
			t.Errorf("Explain(%d) = class %q temporary %v notes %q; want %q %v note=%v", tt.code, ex.Class, ex.Temporary, ex.Notes, tt.class, tt.temporary, tt.note)
		}
		if ex.Summary == "" || ex.Meaning == "" {
			t.Errorf("Explain(%d): empty summary or meaning", tt.code)
		}
	}
}

// ianaRecord is read straight from the XML here, independently of the
// package's parser, so that a parser bug cannot hide a missing code.
type ianaRecord struct {
	registry, code, title, description string
}

func readIANA(t testing.TB) []ianaRecord {
	t.Helper()
	f, err := os.Open(filepath.Join("data", "smtp-enhanced-status-codes.xml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	var (
		out      []ianaRecord
		registry string
		cur      *ianaRecord
		field    string
		text     strings.Builder
	)
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			switch tok.Name.Local {
			case "registry":
				for _, a := range tok.Attr {
					if a.Name.Local == "id" {
						registry = a.Value
					}
				}
			case "record":
				cur = &ianaRecord{registry: registry}
			case "code", "sample", "summary", "description":
				field = tok.Name.Local
				text.Reset()
			case "xref":
				// An inline citation in a description: "Section 6.1 of RFC 6376".
				if field == "description" {
					for _, a := range tok.Attr {
						if a.Name.Local == "data" {
							text.WriteString("RFC " + strings.TrimPrefix(a.Value, "rfc"))
						}
					}
				}
			}
		case xml.CharData:
			if field != "" {
				text.Write(tok)
			}
		case xml.EndElement:
			if cur == nil {
				continue
			}
			if tok.Name.Local == "xref" {
				continue
			}
			v := strings.Join(strings.Fields(text.String()), " ")
			switch tok.Name.Local {
			case "code":
				cur.code = v
			case "sample", "summary":
				cur.title = v
			case "description":
				cur.description = v
			case "record":
				out = append(out, *cur)
				cur = nil
			}
			field = ""
		}
	}
	if len(out) == 0 {
		t.Fatal("no records read from the IANA XML")
	}
	return out
}

// TestExplain_everyIANACode walks every enumerated code of the registry and
// asks for it in each class it can take.
func TestExplain_everyIANACode(t *testing.T) {
	subjects := map[string]string{}
	classes := map[string]string{}
	var enumerated int
	recs := readIANA(t)
	for _, r := range recs {
		switch r.registry {
		case "smtp-enhanced-status-codes-1":
			classes[r.code[:1]] = r.title
		case "smtp-enhanced-status-codes-2":
			subjects[strings.Split(r.code, ".")[1]] = r.title
		}
	}
	if len(classes) != 3 || len(subjects) != 8 {
		t.Fatalf("read %d classes and %d subjects, want 3 and 8", len(classes), len(subjects))
	}
	for _, r := range recs {
		if r.registry != "smtp-enhanced-status-codes-3" {
			continue
		}
		enumerated++
		parts := strings.Split(r.code, ".")
		if len(parts) != 3 || parts[0] != "X" {
			t.Errorf("unexpected registry code %q", r.code)
			continue
		}
		wantMeaning := r.title
		if wantMeaning == "" {
			wantMeaning = r.description
		}
		for _, class := range []string{"2", "4", "5"} {
			enh := class + "." + parts[1] + "." + parts[2]
			ex := Explain(0, enh, "")
			if ex.EnhancedMeaning != wantMeaning {
				t.Errorf("Explain(0, %q).EnhancedMeaning = %q, want IANA %q", enh, ex.EnhancedMeaning, wantMeaning)
			}
			if ex.EnhancedDescription != r.description {
				t.Errorf("Explain(0, %q).EnhancedDescription = %q, want IANA %q", enh, ex.EnhancedDescription, r.description)
			}
			if ex.EnhancedSubject != subjects[parts[1]] {
				t.Errorf("Explain(0, %q).EnhancedSubject = %q, want %q", enh, ex.EnhancedSubject, subjects[parts[1]])
			}
			if ex.Class == ClassInvalid || ex.Summary == "" || len(ex.Notes) > 0 {
				t.Errorf("Explain(0, %q) = class %q, summary %q, notes %q", enh, ex.Class, ex.Summary, ex.Notes)
			}
			// The same code found at the start of the text (RFC 2034 §4).
			if ex2 := Explain(0, "", enh+" text"); ex2.Enhanced != enh || ex2.EnhancedMeaning != wantMeaning {
				t.Errorf("Explain(0, \"\", %q): enhanced %q meaning %q", enh+" text", ex2.Enhanced, ex2.EnhancedMeaning)
			}
		}
	}
	if got := len(EnhancedCodes()); got != enumerated {
		t.Errorf("EnhancedCodes() has %d codes, the XML %d", got, enumerated)
	}
	// Every key of the hand-written advice must be a registered code, or a
	// class-specific form of one: advice for a code that does not exist
	// would never be shown.
	reg := loadRegistry()
	for key := range enhancedAdvice {
		var s, d int
		if _, err := fmt.Sscanf(key[2:], "%d.%d", &s, &d); err != nil {
			t.Errorf("advice key %q: %v", key, err)
			continue
		}
		if _, ok := reg.codes[[2]int{s, d}]; !ok {
			t.Errorf("advice key %q is not a registered code", key)
		}
	}
}

func TestExplain_hasAdviceForCommonCodes(t *testing.T) {
	// The codes a developer debugging mail meets most; each needs a plain
	// cause or fix, not only the registry's wording.
	for _, key := range []string{"X.1.1", "X.1.2", "X.1.8", "X.2.2", "X.3.4", "X.4.1", "X.4.2", "X.4.7", "X.5.3", "X.7.0", "X.7.1", "4.7.1", "X.7.8", "X.7.9", "X.7.10", "X.7.11", "X.7.23", "X.7.24", "X.7.25", "X.7.26", "X.7.27", "X.7.30"} {
		a, ok := enhancedAdvice[key]
		if !ok || a.Summary == "" || a.Fix == "" {
			t.Errorf("advice for %s: missing summary or fix", key)
		}
	}
}

// TestExplain_precedence pins the layering: provider reply, then enhanced
// code advice, then basic code, and the ordering inside the provider table
// where two entries could match the same reply.
func TestExplain_precedence(t *testing.T) {
	tests := []struct {
		name     string
		line     string
		provider string
		summary  string // exact expected summary, when given
	}{
		{"provider beats enhanced", "550-5.7.26 This mail has been blocked because the sender is\n550 5.7.26 unauthenticated. Gmail requires all senders to authenticate. - gsmtp", "Gmail", ""},
		{"enhanced without known text", "550 5.7.26 rejected", "", enhancedAdvice["X.7.26"].Summary},
		{"class-specific enhanced advice", "451 4.7.1 go away for now", "", enhancedAdvice["4.7.1"].Summary},
		{"generic enhanced advice", "550 5.7.1 go away", "", enhancedAdvice["X.7.1"].Summary},
		{"basic code without enhanced", "550 nope", "", basicCodes[550].Summary},
		{"success enhanced codes do not take failure advice", "235 2.7.0 Authentication successful", "", basicCodes[235].Summary},
		{"unregistered enhanced falls back to basic", "550 5.7.999 private", "", basicCodes[550].Summary},
		{"specific basic code beats a subject-only enhanced code", "530 5.7.0 Authentication required", "", basicCodes[530].Summary},
		{"catch-all basic code does not", "550 5.1.0 mailbox unavailable", "", enhancedAdvice["X.1.0"].Summary},
		{"Gmail STARTTLS text", "530 5.7.0 Must issue a STARTTLS command first. a1-2 - gsmtp", "Gmail", ""},
		{"same text without gsmtp is Postfix", "530 5.7.0 Must issue a STARTTLS command first", "Postfix", ""},
		{"Gmail's X.7.30 means DKIM", "421 4.7.30 Your email has been rate limited because DKIM authentication didn't pass. - gsmtp", "Gmail", ""},
		{"IANA's X.7.30 without Gmail's text", "550 5.7.30 REQUIRETLS support required", "", enhancedAdvice["X.7.30"].Summary},
		{"Yahoo 5.7.9 is not Gmail 5.7.26", "550 5.7.9 This mail has been blocked because the sender is unauthenticated.", "Yahoo", ""},
		{"enhanced code must match", "550 5.7.1 This mail has been blocked because the sender is unauthenticated.", "", enhancedAdvice["X.7.1"].Summary},
		{"class must match", "250 2.0.0 <x@example.com>: Relay access denied", "", basicCodes[250].Summary},
		{"specific DNSBL before the generic one", "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org", "Spamhaus (DNSBL)", ""},
		{"generic DNSBL", "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using dnsbl.example.org", "DNS blocklist", ""},
		{"postgrey before generic greylisting", "450 4.2.0 <a@b>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/b.html", "Postfix + postgrey", ""},
		{"Yahoo TSS04", "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1", "Yahoo", ""},
		{"Microsoft SendAsDenied in STOREDRV", "554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message", "Microsoft 365", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, enh, text, ok := ParseReplyLine(tt.line)
			if !ok {
				t.Fatalf("ParseReplyLine(%q) failed", tt.line)
			}
			ex := Explain(code, enh, text)
			if ex.Provider != tt.provider {
				t.Errorf("provider = %q, want %q (summary %q)", ex.Provider, tt.provider, ex.Summary)
			}
			if tt.summary != "" && ex.Summary != tt.summary {
				t.Errorf("summary = %q, want %q", ex.Summary, tt.summary)
			}
		})
	}
	// SendAsDenied must win over the generic STOREDRV entry.
	ex := Explain(554, "5.2.0", "STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied")
	if !strings.Contains(ex.Summary, "may not send with this From address") {
		t.Errorf("SendAsDenied explained as %q", ex.Summary)
	}
}

// TestExplain_gmailDMARCSummary is the reply that motivated the package: a
// developer's password-reset mail bounced by Gmail for DMARC. The summary
// must name the failed mechanisms and the fix the records to publish.
func TestExplain_gmailDMARCSummary(t *testing.T) {
	ex := Explain(550, "5.7.26", "Unauthenticated email from example.com is not accepted due to domain's DMARC policy. Please contact the administrator of example.com domain. - gsmtp")
	if ex.Provider != "Gmail" || ex.Class != ClassPermanentNegative || ex.Temporary {
		t.Fatalf("got %+v", ex)
	}
	for _, want := range []string{"not authenticated", "SPF and DKIM", "DMARC"} {
		if !strings.Contains(ex.Summary, want) {
			t.Errorf("summary %q lacks %q", ex.Summary, want)
		}
	}
	for _, want := range []string{"SPF", "DKIM", "_domainkey"} {
		if !strings.Contains(ex.Fix, want) {
			t.Errorf("fix %q lacks %q", ex.Fix, want)
		}
	}
	if ex.EnhancedSubject != "Security or Policy Status" || ex.EnhancedMeaning != "Multiple authentication checks failed" {
		t.Errorf("enhanced subject/meaning = %q / %q", ex.EnhancedSubject, ex.EnhancedMeaning)
	}
	refs := strings.Join(ex.Refs, "\n")
	for _, want := range []string{"support.google.com", "RFC 3463 §3.8", "RFC 7372", "RFC 5321 §4.2.3"} {
		if !strings.Contains(refs, want) {
			t.Errorf("refs lack %q:\n%s", want, refs)
		}
	}
}

// TestExplain_notes: protocol violations in the reply itself are reported,
// since mailprobe also audits servers, not only explains them.
func TestExplain_notes(t *testing.T) {
	tests := []struct {
		code      int
		enh, text string
		note      string
	}{
		{550, "5.07.1", "", "not a valid enhanced status code"},
		{550, "2.0.0", "", "contradicts the reply code"},
		{250, "", "5.1.1 text", "contradicts the reply code"},
		{700, "", "", "not an SMTP reply code"},
	}
	for _, tt := range tests {
		ex := Explain(tt.code, tt.enh, tt.text)
		if !strings.Contains(strings.Join(ex.Notes, "\n"), tt.note) {
			t.Errorf("Explain(%d, %q, %q).Notes = %q, want one containing %q", tt.code, tt.enh, tt.text, ex.Notes, tt.note)
		}
	}
	if ex := Explain(550, "5.7.1", "Relaying denied"); len(ex.Notes) != 0 {
		t.Errorf("a well-formed reply got notes %q", ex.Notes)
	}
}

func TestExplain_enhancedOnly(t *testing.T) {
	// mailprobe explain 4.2.2: no basic code, class from the enhanced code.
	ex := Explain(0, "4.2.2", "")
	if ex.Class != ClassTransientNegative || !ex.Temporary || ex.Code != 0 {
		t.Errorf("Explain(0, 4.2.2) = class %q temporary %v code %d", ex.Class, ex.Temporary, ex.Code)
	}
	if ex.Summary != enhancedAdvice["X.2.2"].Summary {
		t.Errorf("summary = %q", ex.Summary)
	}
	if ex := Explain(0, "", ""); ex.Class != ClassInvalid {
		t.Errorf("Explain(0, \"\", \"\").Class = %q", ex.Class)
	}
}

func TestExplain_authChallenge(t *testing.T) {
	ex := Explain(334, "", "UGFzc3dvcmQ6")
	if !strings.Contains(ex.Summary, `"Password:"`) {
		t.Errorf("334 summary = %q, want the decoded challenge", ex.Summary)
	}
	// A challenge that is not printable text (DIGEST-MD5 is, CRAM-MD5 is;
	// random bytes are not) is not shown.
	if ex := Explain(334, "", "AAECAw=="); strings.Contains(ex.Summary, "decodes") {
		t.Errorf("binary challenge shown: %q", ex.Summary)
	}
}

// TestExplain_refsAreCopies guards the shared tables: callers append to
// and edit Refs when building findings.
func TestExplain_refsAreCopies(t *testing.T) {
	a := Explain(550, "5.7.26", "sender is unauthenticated - gsmtp")
	a.Refs[0] = "mutated"
	b := Explain(550, "5.7.26", "sender is unauthenticated - gsmtp")
	if b.Refs[0] == "mutated" {
		t.Error("Explain returned shared Refs")
	}
	p := Providers()
	p[0].Refs[0] = "mutated"
	if Providers()[0].Refs[0] == "mutated" {
		t.Error("Providers returned shared Refs")
	}
}

// TestExplain_mailkitSamples explains real replies recorded by MailKit's
// tests (testdata/mailkit, MIT): every one must parse and get a real class.
func TestExplain_mailkitSamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "mailkit", "*.txt"))
	if err != nil || len(files) < 10 {
		t.Fatalf("mailkit samples: %v (%d files)", err, len(files))
	}
	want := map[string]string{
		"auth-failed.txt":         ClassPermanentNegative,
		"auth-successful.txt":     ClassPositiveCompletion,
		"comcast-data.txt":        ClassPositiveIntermediate,
		"mailbox-unavailable.txt": ClassPermanentNegative,
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, reply := range splitReplies(string(b)) {
			code, enh, text, ok := ParseReplyLine(reply)
			if !ok {
				t.Errorf("%s: ParseReplyLine(%q) failed", file, reply)
				continue
			}
			ex := Explain(code, enh, text)
			if ex.Class == ClassInvalid || ex.Summary == "" || ex.Meaning == "" || len(ex.Notes) > 0 {
				t.Errorf("%s: %q explained as %+v", file, reply, ex)
			}
			if w, ok := want[filepath.Base(file)]; ok && ex.Class != w {
				t.Errorf("%s: class %q, want %q", file, ex.Class, w)
			}
		}
	}
}

// splitReplies cuts a recording into replies: a reply ends at a line whose
// code is followed by a space or nothing (RFC 5321 §4.2.1).
func splitReplies(s string) []string {
	var out []string
	var cur []string
	for _, line := range strings.Split(strings.TrimRight(s, "\r\n"), "\n") {
		cur = append(cur, line)
		if len(line) <= 3 || line[3] != '-' {
			out = append(out, strings.Join(cur, "\n"))
			cur = nil
		}
	}
	if len(cur) > 0 {
		out = append(out, strings.Join(cur, "\n"))
	}
	return out
}

func TestExplain_concurrent(t *testing.T) {
	// The lazily built tables must be safe under -race when first used from
	// several goroutines at once.
	done := make(chan bool)
	for i := 0; i < 8; i++ {
		go func() {
			ex := Explain(550, "5.7.26", "sender is unauthenticated - gsmtp")
			done <- ex.Provider == "Gmail"
		}()
	}
	for i := 0; i < 8; i++ {
		if !<-done {
			t.Error("concurrent Explain gave a different answer")
		}
	}
}

func BenchmarkExplain(b *testing.B) {
	cases := []struct {
		code      int
		enh, text string
	}{
		{550, "5.7.26", "This mail has been blocked because the sender is unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM. - gsmtp"},
		{535, "5.7.139", "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."},
		{550, "5.1.1", "<nobody@example.com>: Recipient address rejected: User unknown in virtual mailbox table"},
		{250, "2.0.0", "Ok: queued as 4WbXyZ1abcz9vQ"},
		{421, "", "Service not available, closing transmission channel"},
	}
	Explain(250, "", "") // build the tables outside the timing
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := cases[i%len(cases)]
		Explain(c.code, c.enh, c.text)
	}
}

func TestExplain_hugeTextIsBounded(t *testing.T) {
	// A hostile server can send megabytes of reply text; matching looks at
	// the first maxMatchText bytes only, so a provider text beyond that is
	// not found, and the call stays fast.
	big := strings.Repeat("x ", maxMatchText) + "Relay access denied"
	if ex := Explain(554, "5.7.1", big); ex.Provider != "" {
		t.Errorf("matched text beyond the bound: %q", ex.Provider)
	}
	if ex := Explain(554, "5.7.1", "Relay access denied "+strings.Repeat("x ", 1<<20)); ex.Provider != "Postfix" {
		t.Errorf("provider = %q, want Postfix", ex.Provider)
	}
}
