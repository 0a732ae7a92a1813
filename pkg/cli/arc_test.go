package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/internal/dnstest"
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
