package cli

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/iostreams"
)

// dialLog is an Env.Dial that records what it was asked to connect to.
type dialLog struct {
	mu    sync.Mutex
	addrs []string
}

func (d *dialLog) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	d.mu.Unlock()
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}

// names returns the dialed addresses that are not IP literals: each one
// would have been resolved by the operating system, behind --resolver's back.
func (d *dialLog) names() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, a := range d.addrs {
		host, _, _ := net.SplitHostPort(a)
		if _, err := netip.ParseAddr(host); err != nil {
			out = append(out, a)
		}
	}
	return out
}

// TestResolver_everyCommandResolvesThroughTheFlag runs each command that
// connects to a host by name with --resolver pointing at a loopback DNS
// server that alone knows the name: the name must be asked there, and the
// dialer must only ever be handed addresses.
func TestResolver_everyCommandResolvesThroughTheFlag(t *testing.T) {
	srv := testserver.Start(t, testserver.SMTP{}.Handler())
	_, port, _ := net.SplitHostPort(srv)
	zone := dnstest.NewZone().MustAdd(
		"mail.test.example. 300 IN A 127.0.0.1",
		"rcpt.test.example. 300 IN MX 10 mail.test.example.",
	)
	dnsSrv := dnstest.Start(t, zone)
	target := "mail.test.example:" + port
	script := "../../testdata/scripts/plain-send.script"
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"smtp check", []string{"smtp", "check", target}},
		{"smtp send", []string{"smtp", "send", target, "--from", "a@x.test", "--to", "b@rcpt.test.example"}},
		{"smtp script", []string{"smtp", "script", script, target, "--var", "FROM=a@x.test", "--var", "TO=b@rcpt.test.example"}},
		{"smtp shell", []string{"smtp", "shell", target}},
		{"tls", []string{"tls", target, "--quick", "--tls", "starttls", "--role", "mx"}},
		{"imap audit", []string{"imap", "audit", "mail.test.example", "--port", port, "--no-tls-scan"}},
		{"pop3 audit", []string{"pop3", "audit", "mail.test.example", "--port", port, "--no-tls-scan"}},
		{"reset send --smtp mx", []string{"reset", "send", "--smtp", "mx", "--from", "a@x.test", "--to", "b@rcpt.test.example", "--tls", "none", "--wait", "1s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := dnsSrv.Count("mail.test.example.", dns.TypeA)
			io, in, out, errOut := iostreams.Test()
			in.WriteString("QUIT\n") // for the shell
			log := &dialLog{}
			args := append(append([]string{}, tc.args...), "--resolver", dnsSrv.Addr, "--timeout", "10s")
			if tc.name == "smtp shell" {
				args = args[:len(args)-2] // the shell has no --timeout
			}
			code := Main(args, &Env{IO: io, Dial: log.dial})
			if n := dnsSrv.Count("mail.test.example.", dns.TypeA); n <= before {
				t.Errorf("mail.test.example was not asked at --resolver (exit %d)\n%s\n%s", code, out, errOut)
			}
			if names := log.names(); len(names) > 0 {
				t.Errorf("dialed by name, past --resolver: %v", names)
			}
			if len(log.addrs) == 0 {
				t.Errorf("nothing was dialed (exit %d)\n%s\n%s", code, out, errOut)
			}
			if code == 2 {
				t.Errorf("usage error: %s", errOut)
			}
		})
	}
	if n := dnsSrv.Count("rcpt.test.example.", dns.TypeMX); n == 0 {
		t.Error("reset send --smtp mx did not ask --resolver for the MX records")
	}
}

// The probe found the server through the resolver, and its PTR question
// went to the same server.
func TestResolver_smtpCheckTargetAndPTR(t *testing.T) {
	srv := testserver.Start(t, testserver.SMTP{}.Handler())
	_, port, _ := net.SplitHostPort(srv)
	dnsSrv := dnstest.Start(t, dnstest.NewZone().MustAdd(
		"mail.test.example. 300 IN A 127.0.0.1",
		"1.0.0.127.in-addr.arpa. 300 IN PTR mail.test.example.",
	))
	r := run(t, nil, "smtp", "check", "mail.test.example:"+port, "--resolver", dnsSrv.Addr, "--format", "json")
	if !strings.Contains(r.out, `"name": "banner"`) || !strings.Contains(r.out, "testserver") {
		t.Errorf("no banner from the server found through --resolver: exit %d\n%s\n%s", r.code, r.out, r.errOut)
	}
	if dnsSrv.Count("1.0.0.127.in-addr.arpa.", dns.TypePTR) == 0 {
		t.Error("the PTR question did not go to --resolver")
	}
}

func TestResolver_malformedIsOneLineUsageError(t *testing.T) {
	commands := [][]string{
		{"smtp", "check", "mx.test"},
		{"smtp", "send", "mx.test", "--from", "a@x.test", "--to", "b@y.test"},
		{"smtp", "script", "../../testdata/scripts/plain-send.script", "mx.test", "--var", "FROM=a@x.test", "--var", "TO=b@y.test"},
		{"smtp", "shell", "mx.test"},
		{"tls", "mx.test"},
		{"imap", "audit", "mail.test"},
		{"pop3", "audit", "mail.test"},
		{"reset", "send", "--smtp", "mx", "--from", "a@x.test", "--to", "b@y.test"},
		{"capture"},
		{"dns", "example.test"},
		{"spf", "example.test"},
		{"dkim", "check", "example.test"},
		{"dmarc", "example.test"},
		{"batch", "--", "dns"}, // --resolver goes before the --
		{"check", "-f", "testdata/none.yaml"},
	}
	for _, bad := range []string{"nonsense", "1.2.3.4:99999", ":53"} {
		for _, args := range commands {
			full := append(append([]string{}, args...), "--resolver", bad)
			if args[0] == "batch" {
				full = []string{"batch", "--resolver", bad, "--", "dns"}
			}
			r := run(t, nil, full...)
			lines := strings.Split(strings.TrimSuffix(r.errOut, "\n"), "\n")
			if r.code != 2 || r.out != "" || len(lines) != 1 || !strings.Contains(lines[0], "--resolver") {
				t.Errorf("%v --resolver %s: exit %d, stdout %q, stderr %q; want exit 2 and one line", args, bad, r.code, r.out, r.errOut)
			}
		}
	}
}
