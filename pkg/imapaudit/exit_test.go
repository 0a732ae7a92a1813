package imapaudit

import (
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/report"
)

// upgradeThenGarbage is a server that offers the upgrade, accepts it, and
// answers the ClientHello with plaintext.
func upgradeThenGarbage(proto Protocol) testserver.Handler {
	return func(c *testserver.Conn) {
		if proto == POP3 {
			c.Send("+OK ready")
		} else {
			c.Send("* OK ready")
		}
		for {
			line, err := c.Line()
			if err != nil {
				return
			}
			tag, cmd, _ := strings.Cut(line, " ")
			switch {
			case proto == POP3 && line == "CAPA":
				c.Send("+OK", "STLS", "USER", ".")
			case proto == POP3 && line == "STLS", proto == IMAP && cmd == "STARTTLS":
				if proto == POP3 {
					c.Send("+OK begin TLS")
				} else {
					c.Send(tag + " OK begin TLS")
				}
				_, _ = c.R.Peek(1) // the ClientHello (or a pipelined command) has arrived
				_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
				_ = c.Close()
				return
			case proto == IMAP && cmd == "CAPABILITY":
				c.Send("* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED", tag+" OK done")
			case proto == POP3:
				c.Send("-ERR no")
			default:
				c.Send(tag + " BAD no")
			}
		}
	}
}

// One rule for "could not complete": a failed STARTTLS/STLS handshake
// leaves the audit incomplete (exit 3), as in smtp check and tls; it was
// exit 1 in imap audit.
func TestAudit_failedHandshakeIsIncomplete(t *testing.T) {
	for _, proto := range []Protocol{IMAP, POP3} {
		addr := testserver.Start(t, upgradeThenGarbage(proto))
		r := audit(t, proto, addr, func(o *Options) { o.NoTLSScan = true })
		if _, ok := codes(r)[string(proto)+".starttls.failed"]; !ok {
			t.Errorf("%s: findings %v", proto, list(r))
		}
		if r.ExitCode(report.Fail) != report.ExitIncomplete {
			t.Errorf("%s: exit %d, want 3; findings %v", proto, r.ExitCode(report.Fail), list(r))
		}
	}
}

// An audit over loopback says, once, that a local client may be treated
// as secured (Dovecot), so results may differ for remote clients; the
// note is info and does not change the exit code.
func TestAudit_loopbackNote(t *testing.T) {
	for _, proto := range []Protocol{IMAP, POP3} {
		addr := testserver.Start(t, upgradeThenGarbage(proto))
		r := audit(t, proto, addr, func(o *Options) { o.NoTLSScan = true })
		n := 0
		for _, f := range r.Findings {
			if f.Code == string(proto)+".client.local" {
				n++
				if f.Severity != report.Info || !strings.HasPrefix(f.Stage, "connect:") || !strings.Contains(f.Detail, "remote clients") {
					t.Errorf("%s: %+v", proto, f)
				}
			}
		}
		if n != 1 {
			t.Errorf("%s: %d notes; findings %v", proto, n, list(r))
		}
	}
}
