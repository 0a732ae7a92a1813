package resetmail

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// The received message's ARC chain is validated (testdata/arc-pass-i2.eml
// is the ARC suite's cv_pass_i2_1, MIT licence, pkg/arc/testdata).
func TestARCFindings(t *testing.T) {
	srv := dnstest.Start(t, dnstest.NewZone().MustAdd(`dummy._domainkey.example.org. 300 IN TXT "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"`))
	r, err := resolver.New(resolver.Options{Server: srv.Addr, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("testdata/arc-pass-i2.eml")
	if err != nil {
		t.Fatal(err)
	}
	codes := func(fs []report.Finding) string {
		var c []string
		for _, f := range fs {
			c = append(c, f.Code)
		}
		return strings.Join(c, " ")
	}
	rep := report.NewReport("reset send", "x", time.Now())
	if got := codes(arcFindings(context.Background(), r, raw, rep)); got != "arc.chain.pass" {
		t.Errorf("forwarded message: %q", got)
	}
	if _, ok := rep.Facts["arc"]; !ok {
		t.Error("no arc fact")
	}
	changed := []byte(strings.Replace(string(raw), "This is a test message", "Changed", 1))
	if got := codes(arcFindings(context.Background(), r, changed, rep)); got != "arc.ams.fail" {
		t.Errorf("changed message: %q", got)
	}
	// No chain, or no resolver: nothing said.
	if fs := arcFindings(context.Background(), r, []byte("From: a@b\r\n\r\nx\r\n"), rep); len(fs) != 0 {
		t.Errorf("no chain: %v", codes(fs))
	}
	if fs := arcFindings(context.Background(), nil, raw, rep); len(fs) != 0 {
		t.Errorf("no resolver: %v", codes(fs))
	}
}
