package netx

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"time"
)

// GreetingWait is how long a plaintext protocol's greeting is awaited
// before mailprobe suspects implicit TLS (RFC 8314) on a port that is not
// known to use it: a server waiting for a ClientHello says nothing, while
// real greetings arrive within milliseconds (a deliberate greeting delay,
// RFC 5321 §4.5.3.2, is still waited for when the TLS probe says no).
const GreetingWait = 700 * time.Millisecond

// ProbeImplicitTLS reports whether addr speaks TLS from the first byte. It
// opens a second connection and sends a ClientHello; the server is TLS
// when it answers with a TLS record: a ServerHello, or an alert (it speaks
// TLS but disliked the hello). A plaintext greeting, a reset or silence
// within wait is "no". The certificate is not checked here: the caller's
// real handshake does that.
func ProbeImplicitTLS(ctx context.Context, dial DialFunc, addr, serverName string, wait time.Duration) bool {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	c, err := dial(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	tc := tls.Client(c, &tls.Config{
		ServerName:         serverName,
		InsecureSkipVerify: true, //nolint:gosec // detection only; the real handshake verifies
		MinVersion:         tls.VersionTLS10,
	})
	err = tc.HandshakeContext(ctx)
	if err == nil {
		return true
	}
	// A TLS alert means a TLS server; a record header error means the
	// server sent something that is not TLS (a greeting).
	var ae tls.AlertError
	var re tls.RecordHeaderError
	switch {
	case errors.As(err, &ae), isRemoteAlert(err):
		return true
	case errors.As(err, &re):
		return false
	}
	return false
}

// isRemoteAlert reports whether err is an alert record the server sent.
// crypto/tls reports a received alert as a *net.OpError with Op "remote
// error" (tls.AlertError is only used for QUIC), so errors.As on
// AlertError alone misses it.
func isRemoteAlert(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}

// DetectImplicitTLS is the one implicit-TLS detection for a port whose
// mode is not known (not in MailPorts, no --tls): an implicit-TLS server
// (RFC 8314 §3) says nothing until it gets a ClientHello, while a
// plaintext greeting arrives within milliseconds. It waits GreetingWait
// (at most the banner timeout) for data without consuming it; on silence
// ProbeImplicitTLS asks on a second connection to addr. implicit means
// the port speaks TLS and c, still untouched, is ready for the handshake
// (StartTLS); otherwise the caller reads the greeting as usual (a
// deliberate greeting delay, RFC 5321 §4.5.3.2, is not TLS). waited is
// the silence waited, for the finding that reports the detection; err is
// a failure of the wait (a close, a reset, a cancelled ctx) for the
// caller's greeting stage.
func (c *Conn) DetectImplicitTLS(ctx context.Context, dial DialFunc, addr, serverName string) (implicit bool, waited time.Duration, err error) {
	waited = min(c.timeouts.Banner, GreetingWait)
	arrived, err := c.WaitForData(ctx, waited)
	if err != nil || arrived {
		return false, waited, err
	}
	if !ProbeImplicitTLS(ctx, dial, addr, serverName, min(c.timeouts.TLS, c.timeouts.Banner)) {
		c.rec.Event("no greeting within %s, and the port did not answer a ClientHello: waiting for the greeting", waited)
		return false, waited, nil
	}
	c.rec.Event("no greeting within %s and the port answered a ClientHello: implicit TLS", waited)
	return true, waited, nil
}
