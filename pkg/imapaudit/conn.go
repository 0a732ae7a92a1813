package imapaudit

import (
	"context"
	"crypto/tls"
	"errors"
	"time"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// MaxLine bounds one response line: RFC 9051 sets no limit, but no sane
// greeting or capability line comes near 64 KiB, and a server sending an
// endless line must not make the auditor buffer forever.
const MaxLine = netx.DefaultMaxLine

// lineConn is the audit's connection: a netx.Conn (recorded, bounded
// lines, a deadline on every read and write) plus what the audit learnt
// about it. The audit reads the pre-authentication dialogue itself, line
// by line: it has to see exactly what the server says (greeting text,
// untagged alerts, bytes after the STARTTLS reply) and keep control when
// the server misbehaves, which a full client library hides. The
// authenticated part (the login and lockout tests) runs on go-imap.
type lineConn struct {
	nc   *netx.Conn
	tls  *tls.ConnectionState
	addr string
	// detected is set when dial found implicit TLS on a port of
	// unknown mode.
	detected bool
}

// dial connects to addr and, in mode implicit, runs the TLS handshake.
// In mode auto netx.Conn.DetectImplicitTLS decides: when the port is
// silent and answers a ClientHello, this connection, still untouched, is
// upgraded and marked detected. Otherwise the caller reads the greeting
// as usual (a deliberate greeting delay is not TLS).
func dial(ctx context.Context, o *Options, addr string, mode netx.TLSMode, rec *transcript.Recorder) (*lineConn, error) {
	t := o.Timeouts.WithDefaults()
	co := netx.ConnOptions{Dial: o.Dial, Timeouts: t, MaxLine: MaxLine}
	if mode == netx.TLSImplicit {
		co.ImplicitTLS = o.tlsConfig()
	}
	nc, err := netx.Dial(ctx, addr, rec, co)
	if err != nil {
		return nil, err
	}
	c := &lineConn{nc: nc, addr: addr, tls: nc.TLS()}
	if mode == netx.TLSAuto {
		// An error of the wait (a close, a reset) is left for the
		// greeting stage, which reads again and reports it.
		if implicit, _, err := nc.DetectImplicitTLS(ctx, o.Dial, addr, o.ServerName); err == nil && implicit {
			if _, err := c.handshake(ctx, o.tlsConfig()); err != nil {
				nc.Close()
				return nil, err
			}
			c.detected = true
		}
	}
	return c, nil
}

// handshake runs TLS over the connection (after the STARTTLS go-ahead,
// or at once for detected implicit TLS). It returns how many bytes the
// server sent in plaintext after its go-ahead and before the handshake:
// netx.Conn discards them (RFC 2595 §3.1), the audit reports them.
func (c *lineConn) handshake(ctx context.Context, cfg *tls.Config) (int, error) {
	pre, err := c.nc.StartTLS(ctx, cfg)
	c.tls = c.nc.TLS()
	return len(pre), err
}

// readLine reads one CRLF- (or LF-) terminated line within timeout.
func (c *lineConn) readLine(ctx context.Context, timeout time.Duration) (string, error) {
	l, err := c.nc.ReadLine(ctx, timeout)
	return l.Text, err
}

func (c *lineConn) write(ctx context.Context, timeout time.Duration, s string) error {
	return c.nc.Write(ctx, timeout, []byte(s))
}

func (c *lineConn) close() { c.nc.Close() }

// kindOf sorts errors into the finding codes: timeout, closed, reset,
// tls, malformed, error.
func kindOf(err error) string {
	var oe *netx.OpError
	if !errors.As(err, &oe) {
		return "error"
	}
	if errors.Is(oe.Err, ErrResponseTooLarge) {
		return "too-large"
	}
	if errors.Is(oe.Err, netx.ErrLineTooLong) {
		return "malformed"
	}
	if oe.Op == "tls handshake" {
		return "tls"
	}
	switch netx.Classify(oe.Err) {
	case netx.KindTimeout:
		return "timeout"
	case netx.KindClosed:
		return "closed"
	case netx.KindReset:
		return "reset"
	}
	return "error"
}
