package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/pkg/report"
)

// dkim verify --at and dmarc --message through the command line, with a
// loopback DNS server.

func TestDKIMVerify_atFlag(t *testing.T) {
	srv := dnstest.Start(t, dnstest.NewZone())
	msg := filepath.Join(t.TempDir(), "m.eml")
	os.WriteFile(msg, []byte("From: a@example.test\r\nSubject: x\r\n\r\nbody\r\n"), 0o600)
	for _, at := range []string{"2024-05-01T12:00:00Z", "1714564800"} {
		r := run(t, nil, "dkim", "verify", msg, "--resolver", srv.Addr, "--at", at, "--format", "json")
		if r.code == report.ExitUsage || !strings.Contains(r.out, "2024-05-01T12:00:00Z") {
			t.Errorf("--at %s: exit %d, time not reported:\n%s%s", at, r.code, r.out, r.errOut)
		}
	}
	for _, bad := range []string{"yesterday", "-5", "2024-05-01"} {
		if r := run(t, nil, "dkim", "verify", msg, "--resolver", srv.Addr, "--at", bad); r.code != report.ExitUsage || !strings.Contains(r.errOut, "--at") {
			t.Errorf("--at %s: exit %d %q", bad, r.code, r.errOut)
		}
	}
	if r := run(t, nil, "dmarc", "example.test", "--resolver", srv.Addr, "--at", "1714564800"); r.code != report.ExitUsage {
		t.Errorf("dmarc --at without --message: exit %d", r.code)
	}
}

func TestDMARC_multipleAuthorsIsAFinding(t *testing.T) {
	srv := dnstest.Start(t, dnstest.NewZone().MustAdd(`_dmarc.example.test. 300 IN TXT "v=DMARC1; p=reject; rua=mailto:d@example.test"`))
	msg := filepath.Join(t.TempDir(), "m.eml")
	os.WriteFile(msg, []byte("From: a@example.test, b@other.test\r\nSubject: x\r\n\r\nbody\r\n"), 0o600)
	r := run(t, nil, "dmarc", "--message", msg, "--resolver", srv.Addr)
	if r.code == report.ExitUsage || !strings.Contains(r.out, "dmarc.from.multiple") {
		t.Errorf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
}
