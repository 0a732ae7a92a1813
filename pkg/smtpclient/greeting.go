package smtpclient

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
)

// Implicit TLS on a port nobody said speaks it.
//
// A server on a port that expects TLS from the first byte (RFC 8314 §3.3)
// says nothing after the TCP handshake: it waits for a ClientHello, while
// an SMTP server greets within milliseconds (RFC 5321 §3.1). Every SMTP
// command (check, send, script, shell) therefore reads the greeting with
// AwaitGreeting, which tells the two apart the same way for all of them:
// wait netx.GreetingWait for the greeting; on silence, ask
// netx.ProbeImplicitTLS over a second connection; on a TLS answer, either
// go on over a new implicit-TLS connection (auto mode) or stop and say
// the port wants implicit TLS (explicit STARTTLS mode). Either way the
// user learns it in one line that names --tls implicit, within about a
// second instead of after the banner timeout.

// GreetingOptions configure AwaitGreeting.
type GreetingOptions struct {
	// Mode is the --tls mode asked for ("" = auto). Detection runs in
	// auto mode on a port netx.MailPorts does not know, and with an
	// explicit starttls on any port; implicit and none never detect.
	Mode netx.TLSMode
	Port int // the port the session is connected to
	// Wait is how long the greeting may take in all (0 = the session's
	// banner timeout). Detection runs only when it is longer than
	// netx.GreetingWait: a caller who asked for less gets exactly that.
	Wait time.Duration
	// TLS is the configuration of the implicit-TLS connection that
	// replaces the session when detection finds TLS; its ServerName is
	// sent in the probe's ClientHello too.
	TLS      *tls.Config
	Dial     netx.DialFunc
	Timeouts netx.Timeouts // of the replacement session
}

// Greeting is what AwaitGreeting found.
type Greeting struct {
	// Session is the session to go on with: the one given, or the new
	// implicit-TLS session that replaced it (the old one is then closed).
	// It is nil when the replacement could not be set up.
	Session *Session
	// Reply is the greeting (zero when none was read).
	Reply Reply
	// Implicit says the port was found to speak implicit TLS and Session
	// is the new TLS connection (or nil, with the dial's error).
	Implicit bool
	// Expected says the mode was starttls but the port speaks implicit
	// TLS: nothing more was read, and the caller should stop.
	Expected bool
	// Addr is the address the detection was about.
	Addr string
}

// Detects reports whether AwaitGreeting may probe for implicit TLS with
// these options, that is: whether reading the greeting can take a second
// connection and about a second longer than the greeting itself.
func (o GreetingOptions) Detects(s *Session) bool {
	if s.TLS() != nil {
		return false // already TLS
	}
	wait := o.Wait
	if wait <= 0 {
		wait = s.Timeouts().Banner
	}
	if wait <= netx.GreetingWait {
		return false
	}
	_, known := netx.PortInfo(o.Port)
	switch o.Mode {
	case "", netx.TLSAuto:
		return !known
	case netx.TLSStartTLS:
		return true
	}
	return false
}

// AwaitGreeting reads the server's greeting on a new session, detecting
// implicit TLS (see the top of this file) when o.Detects. Its error is
// ReadReply's (for the greeting, on whichever session g.Session is) or
// Dial's (for the replacement TLS session, with g.Implicit set and
// g.Session nil). A greeting delay is still waited for when the probe
// says the port does not speak TLS: the whole wait is o.Wait.
func AwaitGreeting(ctx context.Context, s *Session, o GreetingOptions) (Greeting, error) {
	g := Greeting{Session: s, Addr: s.RemoteAddr().String()}
	wait := o.Wait
	if wait <= 0 {
		wait = s.Timeouts().Banner
	}
	if !o.Detects(s) {
		rp, err := s.ReadReply(ctx, wait)
		g.Reply = rp
		return g, err
	}
	start := time.Now()
	serverName := ""
	if o.TLS != nil {
		serverName = o.TLS.ServerName
	}
	// The one detection every engine uses: the wait does not consume what
	// arrives, so a greeting, even a slow multi-line one, is then read
	// whole by ReadReply within the rest of the wait.
	implicit, _, err := s.conn.DetectImplicitTLS(ctx, o.Dial, g.Addr, serverName)
	if err != nil {
		return g, err // closed, reset or interrupted before any greeting
	}
	if !implicit {
		rp, err := s.ReadReply(ctx, wait-time.Since(start))
		g.Reply = rp
		return g, err
	}
	if o.Mode == netx.TLSStartTLS {
		g.Expected = true
		return g, nil
	}
	s.Close()
	g.Implicit, g.Session = true, nil
	cfg := o.TLS
	if cfg == nil {
		cfg = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10} //nolint:gosec // the caller verifies after the handshake
	}
	ns, err := Dial(ctx, g.Addr, s.rec, DialOptions{Dial: o.Dial, Timeouts: o.Timeouts, ImplicitTLS: cfg})
	if err != nil {
		return g, err
	}
	ns.observe = s.observe
	g.Session = ns
	rp, err := ns.ReadReply(ctx, wait-time.Since(start))
	g.Reply = rp
	return g, err
}

// Notice is the one line that tells the user what the detection found,
// naming the flag that says it up front; "" when it found nothing.
func (g Greeting) Notice() string {
	switch {
	case g.Implicit:
		return fmt.Sprintf("%s sent no greeting within %s but answered a TLS ClientHello: continuing over implicit TLS (--tls implicit says so up front).", g.Addr, netx.GreetingWait)
	case g.Expected:
		return fmt.Sprintf("%s sent no greeting within %s but answered a TLS ClientHello: it expects implicit TLS, not STARTTLS; use --tls implicit.", g.Addr, netx.GreetingWait)
	}
	return ""
}

// Finding is the detection's finding at stage (smtp.tls.implicit-detected
// or smtp.tls.implicit-expected), with Notice as its detail; ok is false
// when there is nothing to report.
func (g Greeting) Finding(stage string) (f report.Finding, ok bool) {
	switch {
	case g.Implicit:
		return report.New("smtp.tls.implicit-detected", stage, g.Notice()), true
	case g.Expected:
		return report.New("smtp.tls.implicit-expected", stage, g.Notice()), true
	}
	return report.Finding{}, false
}

// The detection's finding codes belong here, with the detection, so that
// every command that reads a greeting reports it under the same code.
func init() {
	report.Register(
		report.Code{Code: "smtp.tls.implicit-detected", Severity: report.Info, Title: "Implicit TLS detected on a port not known for it",
			Fix: "The port sent no greeting but answered a TLS ClientHello, so the check went on over implicit TLS. Say `--tls implicit` to skip the detection.", Refs: []string{"RFC 8314 §3.3"}},
		report.Code{Code: "smtp.banner.invalid", Severity: report.Fail, Title: "The greeting is not an SMTP greeting",
			Fix: "The server greeted with a code that is neither 220 nor a 4xx/5xx refusal: check that the port runs an SMTP server and that no proxy or filter in front of it rewrites the greeting. The check stopped: nothing after such a greeting can be judged.", Refs: []string{"RFC 5321 §3.1", "RFC 5321 §4.2", "RFC 5321 §4.3.2"}},
		report.Code{Code: "smtp.reply.unsolicited", Severity: report.Fail, Title: "Server sent replies nobody asked for",
			Fix: "The server (or a proxy in front of it) sent a reply before the client's next command: from then on every reply answers the wrong command, so the run stopped judging them. Look for a greeting sent twice, a banner split into several replies, or a filter that injects replies.", Refs: []string{"RFC 5321 §4.2", "RFC 2920 §3.1"}},
		report.Code{Code: "smtp.reply.code-mismatch", Severity: report.Fail, Title: "Lines of one reply carry different codes",
			Fix: "Every line of a multi-line reply must carry the same code; the last line's decides, but a client that reads the first understands the opposite (a refusal read as an acceptance). Fix the server, or the proxy or filter in front of it that rewrites replies.", Refs: []string{"RFC 5321 §4.2.1"}},
		report.Code{Code: "smtp.tls.implicit-expected", Severity: report.Fail, Title: "The port looks like implicit TLS, not STARTTLS",
			Fix: "The port sent no greeting but answered a TLS ClientHello: run again with `--tls implicit` (or `--tls auto`).", Refs: []string{"RFC 8314 §3.3", "RFC 3207"}},
	)
}
