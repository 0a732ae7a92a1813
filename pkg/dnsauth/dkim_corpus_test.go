package dnsauth_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"gopkg.in/yaml.v3"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/pkg/dnsauth"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

const dkimCorpus = "../../testdata/dkim/mail-dkim-corpus"

// fakeDNSZone serves Mail::DKIM's FAKE_DNS.dat: "NAME TXT-VALUE" lines,
// NXDOMAIN for absent names, ~~Query timed out~~ and ~~SERVFAIL~~ as
// the failures they name.
func fakeDNSZone(t *testing.T) *dnstest.Zone {
	t.Helper()
	f, err := os.Open(filepath.Join(dkimCorpus, "FAKE_DNS.dat"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z := dnstest.NewZone()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, _ := strings.Cut(line, " ")
		value = strings.TrimSpace(value)
		owner := dns.Fqdn(name)
		switch value {
		case "NXDOMAIN":
			continue
		case "~~Query timed out~~":
			z.Mark(owner, 0, dnstest.Timeout)
			continue
		case "~~SERVFAIL~~":
			z.Mark(owner, 0, dnstest.ServFail)
			continue
		case `""`:
			value = ""
		}
		z.Add(txtRR(owner, value))
	}
	return z
}

// txtRR makes a TXT record, splitting the value into 255-octet strings.
func txtRR(owner, value string) *dns.TXT {
	var strs []string
	for len(value) > 255 {
		strs = append(strs, resolver.EscapeTXT(value[:255]))
		value = value[255:]
	}
	strs = append(strs, resolver.EscapeTXT(value))
	return &dns.TXT{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300}, Txt: strs}
}

type corpusCase struct {
	File     string `yaml:"file"`
	Expected string `yaml:"expected"`
	Comment  string `yaml:"comment"`
	Skipped  bool   `yaml:"skipped_in_source"`
}

func loadCorpus(t *testing.T) []corpusCase {
	b, err := os.ReadFile(filepath.Join(dkimCorpus, "expected-results.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []corpusCase `yaml:"cases"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Cases
}

// overall is Mail::DKIM's message result: pass if any signature passes,
// else fail if any was checked and did not verify, else invalid.
func overall(v *dnsauth.DKIMVerification) string {
	if len(v.Signatures) == 0 {
		return "none"
	}
	res := "invalid"
	for _, s := range v.Signatures {
		switch s.Result {
		case dnsauth.DKIMPass:
			return "pass"
		case dnsauth.DKIMFail:
			res = "fail"
		}
	}
	return res
}

// modernExpectation re-derives a case's expected result under the rules
// that replaced Mail::DKIM's era: RFC 6376 (v=1 only; the pre-RFC drafts
// v=0.x are not DKIM), RFC 8301 (rsa-sha1 and RSA keys under 1024 bits
// must not verify) and RFC 4870 being historic (DomainKeys signatures are
// not DKIM signatures, so a message with only those is unsigned). It is
// computed from the message and the key records, never from our output,
// and returns why it differs from the corpus' expectation.
func modernExpectation(t *testing.T, c corpusCase, msg []byte, keys map[string]string) (want, why string) {
	var sigs []map[string]string
	for _, f := range rawHeaderFields(msg) {
		name, value, _ := strings.Cut(f, ":")
		if !strings.EqualFold(strings.TrimSpace(name), "DKIM-Signature") {
			continue
		}
		m := map[string]string{}
		for _, spec := range strings.Split(value, ";") {
			k, v, ok := strings.Cut(spec, "=")
			if !ok {
				if strings.TrimSpace(spec) != "" {
					m["malformed"] = "1"
				}
				continue
			}
			m[strings.TrimSpace(k)] = strings.Join(strings.Fields(v), "")
		}
		sigs = append(sigs, m)
	}
	if len(sigs) == 0 {
		return "none", "DomainKeys only (RFC 4870, historic): unsigned for DKIM"
	}
	var reasons []string
	for _, m := range sigs {
		key, _ := dnsauth.ParseDKIMKey(keys[strings.ToLower(m["s"]+"._domainkey."+m["d"])])
		switch {
		case m["malformed"] != "":
			reasons = append(reasons, "malformed tag list")
		case m["v"] == "":
			reasons = append(reasons, "pre-RFC 6376 draft (no v= tag)")
		case m["v"] != "1":
			reasons = append(reasons, "pre-RFC 6376 draft v="+m["v"])
		case m["a"] == "rsa-sha1":
			reasons = append(reasons, "rsa-sha1 (RFC 8301 §3.1)")
		case key != nil && key.KeyType == "rsa" && key.Bits > 0 && key.Bits < 1024:
			reasons = append(reasons, fmt.Sprintf("%d-bit RSA key (RFC 8301 §3.2)", key.Bits))
		default:
			return c.Expected, "" // a signature the modern rules still judge: same expectation
		}
	}
	if c.Expected == "invalid" {
		return "invalid", ""
	}
	return "invalid", strings.Join(reasons, "; ")
}

func rawHeaderFields(msg []byte) []string {
	var fields []string
	for _, line := range strings.SplitAfter(string(msg), "\n") {
		if strings.TrimRight(line, "\r\n") == "" {
			break
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1] += line
		} else {
			fields = append(fields, line)
		}
	}
	return fields
}

func fakeDNSKeys(t *testing.T) map[string]string {
	b, err := os.ReadFile(filepath.Join(dkimCorpus, "FAKE_DNS.dat"))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		name, value, _ := strings.Cut(strings.TrimSpace(line), " ")
		keys[strings.ToLower(name)] = strings.TrimSpace(value)
	}
	return keys
}

// TestDKIMCorpus verifies Mail::DKIM's 79-message corpus through the
// real resolver and the loopback DNS server serving FAKE_DNS.dat. Every
// message must get the corpus' expected result, or the result the current
// RFCs give it (see modernExpectation); the cases where the two differ
// are listed in the test log and in testdata/dkim/README.md.
func TestDKIMCorpus(t *testing.T) {
	srv := dnstest.Start(t, fakeDNSZone(t))
	keys := fakeDNSKeys(t)
	same, differ := 0, 0
	for _, c := range loadCorpus(t) {
		t.Run(filepath.Base(c.File), func(t *testing.T) {
			msg, err := os.ReadFile(filepath.Join(dkimCorpus, c.File))
			if err != nil {
				t.Fatal(err)
			}
			r, _ := resolver.New(resolver.Options{Server: srv.Addr, Timeout: 500 * time.Millisecond, Retries: -1})
			v, err := dnsauth.VerifyDKIM(context.Background(), r, msg)
			if err != nil {
				t.Fatal(err)
			}
			want, why := modernExpectation(t, c, msg, keys)
			got := overall(v)
			if got != want {
				var reasons []string
				for _, s := range v.Signatures {
					reasons = append(reasons, string(s.Result)+": "+s.Reason)
				}
				t.Errorf("got %s, want %s (corpus: %s %s) %v", got, want, c.Expected, why, reasons)
				return
			}
			if why != "" {
				differ++
				t.Logf("corpus expects %s, current RFCs give %s: %s", c.Expected, want, why)
			} else {
				same++
			}
		})
	}
	t.Logf("%d messages: %d as the corpus expects, %d as RFC 6376/8301 require instead", same+differ, same, differ)
}

// Specific assertions verifier.t makes beyond the overall result.
func TestDKIMCorpus_details(t *testing.T) {
	srv := dnstest.Start(t, fakeDNSZone(t))
	verify := func(file string) *dnsauth.DKIMVerification {
		msg, err := os.ReadFile(filepath.Join(dkimCorpus, "corpus", file))
		if err != nil {
			t.Fatal(err)
		}
		r, _ := resolver.New(resolver.Options{Server: srv.Addr, Timeout: 500 * time.Millisecond, Retries: -1})
		v, err := dnsauth.VerifyDKIM(context.Background(), r, msg)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// badkey_14: the key lookup times out; badkey_15: SERVFAIL. Both are
	// temporary failures naming the cause.
	for file, cause := range map[string]string{"badkey_14.txt": "timed out", "badkey_15.txt": "SERVFAIL"} {
		v := verify(file)
		if s := v.Signatures[0]; s.Result != dnsauth.DKIMTempError || !strings.Contains(s.Reason, cause) {
			t.Errorf("%s: %s %q, want temperror mentioning %q", file, s.Result, s.Reason, cause)
		}
	}
	// ed25519 (RFC 8463): the good one passes with its key reported; an
	// altered header and an altered body fail with different reasons.
	if s := verify("goodkey_ed25519.txt").Signatures[0]; s.Result != dnsauth.DKIMPass || s.KeyType != "ed25519" {
		t.Errorf("goodkey_ed25519: %+v", s)
	}
	if s := verify("badkey2_ed25519.txt").Signatures[0]; s.Result != dnsauth.DKIMFail || !strings.Contains(s.Reason, "signature did not verify") {
		t.Errorf("badkey2_ed25519 (header modified): %+v", s)
	}
	if s := verify("badkey3_ed25519.txt").Signatures[0]; s.Result != dnsauth.DKIMFail || !strings.Contains(s.Reason, "body hash") {
		t.Errorf("badkey3_ed25519 (body modified): %+v", s)
	}
}
