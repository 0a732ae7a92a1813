package imapaudit

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// MaxLine bounds one response line: RFC 9051 sets no limit, but no sane
// greeting or capability line comes near 64 KiB, and a server sending an
// endless line must not make the auditor buffer forever.
const MaxLine = 64 << 10

var errLineTooLong = errors.New("response line longer than 64 KiB")

// lineConn is a recorded line-oriented connection with a deadline on every
// read and write. The audit reads the pre-authentication dialogue itself,
// byte for byte: it has to see exactly what the server says (greeting
// text, untagged alerts, bytes after the STARTTLS reply) and keep control
// when the server misbehaves, which a full client library hides. The
// authenticated part (the login and lockout tests) runs on go-imap.
type lineConn struct {
	raw  net.Conn
	rc   *transcript.Conn
	br   *bufio.Reader
	rec  *transcript.Recorder
	tls  *tls.ConnectionState
	addr string
	// detected is set when dial found implicit TLS on a port of
	// unknown mode.
	detected bool
}

// dial connects to addr and, in mode implicit, runs the TLS handshake.
// In mode auto a silence of netx.GreetingWait is suspicious: an
// implicit-TLS server (RFC 8314 §3) says nothing until it gets a
// ClientHello. netx.ProbeImplicitTLS then asks on a second connection,
// and when it says TLS this connection, still untouched, is upgraded and
// marked detected. Otherwise the caller reads the greeting as usual (a
// deliberate greeting delay is not TLS).
func dial(ctx context.Context, o *Options, addr string, mode netx.TLSMode, rec *transcript.Recorder) (*lineConn, error) {
	t := o.Timeouts.WithDefaults()
	d := o.Dial
	if d == nil {
		d = (&net.Dialer{}).DialContext
	}
	cctx, cancel := context.WithTimeout(ctx, t.Connect)
	raw, err := d(cctx, "tcp", addr)
	cancel()
	if err != nil {
		return nil, &opError{op: "connect", err: err, waited: t.Connect}
	}
	rec.Event("connected to %s", raw.RemoteAddr())
	c := &lineConn{raw: raw, rec: rec, addr: addr}
	if mode == netx.TLSImplicit {
		if _, err := c.handshake(ctx, o.tlsConfig(), t.TLS); err != nil {
			raw.Close()
			return nil, err
		}
		return c, nil
	}
	c.rc = rec.Wrap(raw, false)
	c.br = bufio.NewReaderSize(c.rc, 4096)
	if mode == netx.TLSAuto {
		wait := min(t.Banner, netx.GreetingWait)
		if c.silentFor(ctx, wait) && netx.ProbeImplicitTLS(ctx, d, addr, o.ServerName, min(t.TLS, t.Banner)) {
			rec.Event("no greeting within %s and the port answered a ClientHello: implicit TLS", wait)
			if _, err := c.handshake(ctx, o.tlsConfig(), t.TLS); err != nil {
				raw.Close()
				return nil, err
			}
			c.detected = true
		}
	}
	return c, nil
}

// silentFor reports whether the server sent nothing within wait. It only
// peeks: a greeting, or an error other than the deadline, is left for
// the greeting stage to read and report.
func (c *lineConn) silentFor(ctx context.Context, wait time.Duration) bool {
	stop := c.deadline(ctx, wait)
	defer stop()
	_, err := c.br.Peek(1)
	return err != nil && ctx.Err() == nil && netx.Classify(err) == netx.KindTimeout
}

// handshake runs TLS over the raw connection and re-wraps it. It returns
// how many bytes were buffered (received in plaintext after the server's
// go-ahead and before the handshake) and discarded.
func (c *lineConn) handshake(ctx context.Context, cfg *tls.Config, timeout time.Duration) (int, error) {
	discarded := 0
	if c.br != nil {
		discarded = c.br.Buffered()
		c.rc.Pause()
	}
	_ = c.raw.SetDeadline(time.Now().Add(timeout))
	tc := tls.Client(c.raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return discarded, &opError{op: "tls handshake", err: err, waited: timeout}
	}
	_ = c.raw.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	c.tls = &st
	c.rec.Event("TLS established: %s, %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
	c.rc = c.rec.Wrap(tc, true)
	c.br = bufio.NewReaderSize(c.rc, 4096)
	return discarded, nil
}

// readLine reads one CRLF- (or LF-) terminated line within timeout.
func (c *lineConn) readLine(ctx context.Context, timeout time.Duration) (string, error) {
	stop := c.deadline(ctx, timeout)
	defer stop()
	var b strings.Builder
	for {
		frag, err := c.br.ReadSlice('\n')
		b.Write(frag)
		if b.Len() > MaxLine {
			return "", &opError{op: "read", err: errLineTooLong, partial: b.String()[:80]}
		}
		if err == nil {
			return c.rec.Scrub(strings.TrimRight(b.String(), "\r\n")), nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			c.rc.Flush()
			return "", &opError{op: "read", err: err, waited: timeout, partial: c.rec.Scrub(b.String())}
		}
	}
}

func (c *lineConn) write(ctx context.Context, timeout time.Duration, s string) error {
	stop := c.deadline(ctx, timeout)
	defer stop()
	if _, err := io.WriteString(c.rc, s); err != nil {
		return &opError{op: "write", err: err, waited: timeout}
	}
	return nil
}

// deadline applies timeout (and ctx) to the connection.
func (c *lineConn) deadline(ctx context.Context, timeout time.Duration) func() {
	dl := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	_ = c.raw.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = c.raw.SetDeadline(time.Unix(1, 0)) })
	return func() { stop() }
}

func (c *lineConn) close() {
	if c.rc != nil {
		c.rc.Flush()
	}
	c.raw.Close()
}

// opError is a failed network operation, described for a finding.
type opError struct {
	op      string
	err     error
	waited  time.Duration
	partial string
}

func (e *opError) Error() string {
	if errors.Is(e.err, errLineTooLong) {
		return fmt.Sprintf("%s: %v (began %q)", e.op, e.err, e.partial)
	}
	s := fmt.Sprintf("%s: %s", e.op, netx.Describe(e.err, e.waited))
	if e.partial != "" {
		s += fmt.Sprintf(" after a partial line %q", transcript.Printable(e.partial))
	}
	return s
}

func (e *opError) Unwrap() error { return e.err }

// kind sorts errors into the finding codes: timeout, closed, reset, tls,
// malformed, error.
func kindOf(err error) string {
	var oe *opError
	if errors.As(err, &oe) {
		if errors.Is(oe.err, errLineTooLong) {
			return "malformed"
		}
		if oe.op == "tls handshake" {
			return "tls"
		}
		switch netx.Classify(oe.err) {
		case netx.KindTimeout:
			return "timeout"
		case netx.KindClosed:
			return "closed"
		case netx.KindReset:
			return "reset"
		}
	}
	return "error"
}
