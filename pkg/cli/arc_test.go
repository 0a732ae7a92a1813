package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/pkg/iostreams"
)

// The key of the ARC suite's scenario (testdata/arc/README.md), 1024-bit RSA.
const arcSuiteKey = `dummy._domainkey.example.org. 300 IN TXT "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"`

func TestARCVerify(t *testing.T) {
	dnsAddr := dnstest.Start(t, dnstest.NewZone().MustAdd(arcSuiteKey)).Addr
	empty := dnstest.Start(t, dnstest.NewZone()).Addr
	file := func(n string) string { return filepath.Join("testdata", "arc", n) }
	cases := []struct {
		name, file, resolver string
		code                 int
		codes                []string
		cv                   string
	}{
		{"chain passes", "pass-i2.eml", dnsAddr, 0, []string{"arc.chain.pass"}, "pass"},
		{"second seal broken", "fail-seal-i2.eml", dnsAddr, 1, []string{"arc.as.fail"}, "fail"},
		{"key not published", "pass-i2.eml", empty, 1, []string{"arc.ams.fail"}, "fail"},
	}
	for _, c := range cases {
		r := run(t, nil, "arc", "verify", file(c.file), "--resolver", c.resolver, "--format", "json")
		if r.code != c.code {
			t.Errorf("%s: exit %d, want %d\n%s%s", c.name, r.code, c.code, r.out, r.errOut)
			continue
		}
		var rep struct {
			Findings []struct{ Code string }
			Facts    struct {
				ARC struct {
					CV         string `json:"cv"`
					OldestPass int    `json:"oldest_pass"`
					Instances  []struct {
						I          int
						SealDomain string `json:"seal_domain"`
					}
				} `json:"arc"`
			}
		}
		if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
			t.Fatalf("%s: %v\n%s", c.name, err, r.out)
		}
		var got []string
		for _, f := range rep.Findings {
			got = append(got, f.Code)
		}
		for _, w := range c.codes {
			if !strings.Contains(strings.Join(got, " "), w) {
				t.Errorf("%s: findings %v, want %s", c.name, got, w)
			}
		}
		if a := rep.Facts.ARC; a.CV != c.cv || len(a.Instances) != 2 || a.Instances[1].SealDomain != "example.org" {
			t.Errorf("%s: facts %+v", c.name, a)
		}
	}
	// dkim verify carries the chain as its own stage.
	r := run(t, nil, "dkim", "verify", file("pass-i2.eml"), "--resolver", dnsAddr)
	if !strings.Contains(r.out, "arc.chain.pass") || !strings.Contains(r.out, "cv=pass") {
		t.Errorf("dkim verify does not report the ARC chain:\n%s", r.out)
	}
	// A dead resolver is a temporary error: incomplete, exit 3.
	if r := run(t, nil, "arc", "verify", file("pass-i2.eml"), "--resolver", "127.0.0.1:9", "--dns-timeout", "200ms"); r.code != 3 {
		t.Errorf("dead resolver: exit %d, want 3\n%s", r.code, r.out)
	}
	if r := run(t, nil, "arc", "verify", "/nonexistent.eml", "--resolver", dnsAddr); r.code != 2 {
		t.Errorf("missing file: exit %d", r.code)
	}
}

// The test sealer's ed25519 key (pkg/arc/chain_test.go) for
// pkg/arc/testdata/expiring-i2.eml, whose newest AMS has
// x=1767225600 (2026-01-01T00:00:00Z).
const arcTestKey = `t._domainkey.seal.example. 300 IN TXT "v=DKIM1; k=ed25519; p=Gm3QZZPeOu9RO17aqyltB1uZIJqUnq1ZgCS3EfB4KxY="`

var arcExpiring = filepath.Join("..", "arc", "testdata", "expiring-i2.eml")

// --at judges x= at the given time, the report says which time, and the
// per-instance table is in every format.
func TestARCVerifyAtAndFormats(t *testing.T) {
	dnsAddr := dnstest.Start(t, dnstest.NewZone().MustAdd(arcTestKey)).Addr
	r := run(t, nil, "arc", "verify", arcExpiring, "--resolver", dnsAddr, "--at", "2025-12-31T23:00:00Z")
	if r.code != 0 || !strings.Contains(r.out, "cv=pass") || !strings.Contains(r.out, "at 2025-12-31T23:00:00Z") {
		t.Errorf("before x=: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	// The table: one row per instance, in the details of the text report.
	for _, w := range []string{"arc_instances.i=01", "arc_instances.i=02", "seal seal.example (s=t) cv=pass: pass", "oldest pass"} {
		if !strings.Contains(r.out, w) {
			t.Errorf("text report lacks %q:\n%s", w, r.out)
		}
	}
	r = run(t, nil, "arc", "verify", arcExpiring, "--resolver", dnsAddr, "--at", "1767229200", "--format", "json")
	if r.code != 1 || !strings.Contains(r.out, `"arc.ams.fail"`) || !strings.Contains(r.out, "expired at 2026-01-01T00:00:00Z") ||
		!strings.Contains(r.out, `"verified_at": "2026-01-01T01:00:00Z"`) {
		t.Errorf("after x=: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	var rep struct {
		Facts struct {
			Table map[string]string `json:"arc_instances"`
		}
	}
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil || !strings.Contains(rep.Facts.Table["i=02"], "broke the chain") {
		t.Errorf("json table %q (%v)", rep.Facts.Table, err)
	}
	r = run(t, nil, "arc", "verify", arcExpiring, "--resolver", dnsAddr, "--at", "1767229200", "--format", "sarif")
	if r.code != 1 || !strings.Contains(r.out, `"ruleId": "arc.ams.fail"`) {
		t.Errorf("sarif: exit %d\n%s", r.code, r.out)
	}
	r = run(t, nil, "arc", "verify", arcExpiring, "--resolver", dnsAddr, "--at", "1767229200", "--format", "junit")
	if r.code != 1 || !strings.Contains(r.out, `<testcase name="stage arc"`) || !strings.Contains(r.out, "<failure") {
		t.Errorf("junit: exit %d\n%s", r.code, r.out)
	}
	if r := run(t, nil, "arc", "verify", arcExpiring, "--resolver", dnsAddr, "--at", "yesterday"); r.code != 2 {
		t.Errorf("bad --at: exit %d", r.code)
	}
}

// "-" reads the message from standard input.
func TestARCVerifyStdin(t *testing.T) {
	dnsAddr := dnstest.Start(t, dnstest.NewZone().MustAdd(arcTestKey)).Addr
	msg, err := os.ReadFile(arcExpiring)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		in   string
		code int
		want string
	}{
		{string(msg), 0, "cv=pass"},
		{strings.Replace(string(msg), "the link.", "the l1nk.", 1), 1, "body hash does not match"},
		{"", 2, "empty"},
	} {
		io, in, out, errOut := iostreams.Test()
		in.WriteString(c.in)
		code := Main([]string{"arc", "verify", "-", "--resolver", dnsAddr, "--at", "1767225600"}, &Env{IO: io})
		if code != c.code || !strings.Contains(out.String()+errOut.String(), c.want) {
			t.Errorf("stdin: exit %d, want %d with %q\n%s%s", code, c.code, c.want, out, errOut)
		}
	}
}
