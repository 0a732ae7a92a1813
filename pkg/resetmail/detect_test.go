package resetmail_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/capture"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resetmail"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// implicitTLSFront serves TLS from the first byte (RFC 8314 §3.3) on a
// loopback port no table knows, and passes the plaintext inside to
// backend: the capture server's IMAP, so the mailbox read over implicit
// TLS is the one the SMTP leg delivered into.
func implicitTLSFront(t *testing.T, cert tls.Certificate, backend string) (host string, port int) {
	t.Helper()
	addr := testserver.Start(t, func(c *testserver.Conn) {
		if c.UpgradeTLS(cert) != nil {
			return // the detection's probe hangs up after its handshake
		}
		b, err := net.Dial("tcp", backend)
		if err != nil {
			return
		}
		defer b.Close()
		_ = b.SetDeadline(time.Now().Add(30 * time.Second))
		go func() { _, _ = io.Copy(b, c.R); b.Close() }()
		_, _ = io.Copy(c, b)
	})
	h, p, _ := netx.SplitHostPort(addr, 0)
	return h, p
}

// reset send with the IMAP leg on an implicit-TLS port outside
// netx.MailPorts and no --imap-tls: the silent port is found to speak
// TLS, one info finding says so and names the flag, and the message is
// found over TLS.
func TestRun_imapImplicitTLSOnUnknownPortIsDetected(t *testing.T) {
	s := startCapture(t, capture.Options{}) // the front terminates TLS; the hop behind it is loopback
	cert := testserver.NewCert(t, testserver.CertOptions{})
	o := options(t, s, s, password)
	o.IMAP.Host, o.IMAP.Port = implicitTLSFront(t, cert.TLS, s.IMAPAddr())
	o.IMAP.TLS, o.IMAP.RootCAs, o.IMAP.ServerName = "", cert.Pool, "mail.test.example"
	if _, known := netx.PortInfo(o.IMAP.Port); known {
		t.Skipf("the kernel gave a well-known port %d", o.IMAP.Port)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := resetmail.Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	var found *report.Finding
	for i, f := range r.Findings {
		if f.Code == "reset.imap.implicit-detected" {
			found = &r.Findings[i]
		}
	}
	if found == nil {
		t.Fatalf("no reset.imap.implicit-detected finding: %+v", r.Findings)
	}
	code, _ := report.Lookup(found.Code)
	if found.Severity != report.Info || found.Stage != "imap-connect" || !strings.Contains(found.Detail, "--imap-tls implicit") || !strings.Contains(code.Fix, "--imap-tls implicit") {
		t.Errorf("finding %+v (fix %q): want info at imap-connect naming --imap-tls implicit", *found, code.Fix)
	}
	for _, c := range []string{"reset.delivery.inbox", "reset.token.intact"} {
		if !has(r, c) {
			t.Errorf("no %s: the message was not found over TLS; %+v", c, r.Findings)
		}
	}
	if st := stage(r, "imap-login"); st != report.StatusOK {
		t.Errorf("imap-login %s", st)
	}
}

// An explicit --imap-tls is obeyed (no detection, no finding), and a
// value that is not a mode is a clear error before anything is dialed.
func TestDialMailbox_explicitMode(t *testing.T) {
	s := startCapture(t, capture.Options{})
	cert := testserver.NewCert(t, testserver.CertOptions{})
	host, port := implicitTLSFront(t, cert.TLS, s.IMAPAddr())
	for _, mode := range []string{"implicit", "tls", "IMAPS"} {
		o := resetmail.IMAPOptions{Host: host, Port: port, TLS: mode, ServerName: "mail.test.example", RootCAs: cert.Pool,
			Timeouts: netx.Timeouts{Banner: 5 * time.Second}}
		mb, err := resetmail.DialMailbox(context.Background(), o, transcript.New(nil))
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if mb.TLS() == nil || mb.DetectedImplicitTLS() != 0 {
			t.Errorf("%s: TLS %v, detected after %s", mode, mb.TLS() != nil, mb.DetectedImplicitTLS())
		}
		mb.Close()
	}
	_, err := resetmail.DialMailbox(context.Background(), resetmail.IMAPOptions{Host: host, Port: port, TLS: "sometimes"}, transcript.New(nil))
	if err == nil || !strings.Contains(err.Error(), "--imap-tls") || !strings.Contains(err.Error(), `"sometimes"`) {
		t.Errorf("got %v, want an error naming --imap-tls and the value", err)
	}
}

// Auto on an unknown port that greets in plaintext: STARTTLS, as the
// greeting arrived (before, any port but 143 was taken for implicit TLS
// and the handshake failed on the greeting).
func TestRun_imapAutoOnUnknownPlaintextPortUsesSTARTTLS(t *testing.T) {
	s := startPair(t, capture.Options{})
	o := options(t, s, s, password)
	o.IMAP.TLS = ""
	if _, known := netx.PortInfo(o.IMAP.Port); known {
		t.Skipf("the kernel gave a well-known port %d", o.IMAP.Port)
	}
	r, err := resetmail.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if has(r, "reset.imap.implicit-detected") {
		t.Errorf("a plaintext greeting was taken for implicit TLS")
	}
	if !has(r, "reset.delivery.inbox") || stage(r, "imap-login") != report.StatusOK {
		t.Errorf("message not found over STARTTLS: %+v", r.Findings)
	}
}

// --insecure on the mailbox leg alone: the engine says the IMAP
// certificate went unchecked (the command no longer adds this finding).
func TestRun_imapInsecureIsReportedByTheEngine(t *testing.T) {
	s := startCapture(t, capture.Options{})
	cert := testserver.NewCert(t, testserver.CertOptions{})
	o := options(t, s, s, password)
	o.IMAP.Host, o.IMAP.Port = implicitTLSFront(t, cert.TLS, s.IMAPAddr())
	o.IMAP.TLS, o.IMAP.RootCAs, o.IMAP.Insecure, o.IMAP.ServerName = "implicit", nil, true, "mail.test.example"
	r, err := resetmail.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range r.Findings {
		if f.Code == "cert.verify-skipped" {
			n++
			if f.Stage != "imap-connect" {
				t.Errorf("stage %s, want imap-connect", f.Stage)
			}
		}
	}
	if n != 1 || !has(r, "reset.delivery.inbox") {
		t.Errorf("%d cert.verify-skipped findings, want 1; %+v", n, r.Findings)
	}
}
