package dialogue

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// Session is one SMTP client connection whose every byte is recorded and
// whose every operation has a deadline. It is deliberately lower level
// than net/smtp or go-smtp's client: a diagnostic tool must be able to send
// what a well-behaved client never would (bare LF, pipelined commands,
// AUTH without advertisement) and to see exactly what came back.
type Session struct {
	rec      *transcript.Recorder
	raw      net.Conn         // the TCP connection
	conn     *transcript.Conn // what we read and write: raw or TLS, recorded
	br       *bufio.Reader
	tlsState *tls.ConnectionState
	timeouts netx.Timeouts
	addr     string
}

// OpError is a failed session operation: which operation, how long it
// waited, and the cause (a net error, ErrMalformed, ErrLineTooLong...).
// Engines turn it into a finding that names the stage.
type OpError struct {
	Op     string // "connect", "read reply", "write", "tls handshake"
	Waited time.Duration
	Err    error
	// Partial is what was parsed before the error, if anything.
	Partial *Reply
}

func (e *OpError) Error() string {
	return fmt.Sprintf("%s: %s", e.Op, netx.Describe(e.Err, e.Waited))
}

func (e *OpError) Unwrap() error { return e.Err }

// Kind classifies the cause for findings: a protocol error (garbage, line
// too long) is distinct from the network kinds.
func (e *OpError) Kind() string {
	switch {
	case errors.Is(e.Err, ErrMalformed), errors.Is(e.Err, ErrLineTooLong), errors.Is(e.Err, ErrTooManyLines):
		return "protocol"
	}
	return string(netx.Classify(e.Err))
}

// DialOptions configure Dial.
type DialOptions struct {
	Dial        netx.DialFunc // nil = net.Dialer
	Timeouts    netx.Timeouts
	ImplicitTLS *tls.Config // non-nil: TLS before the greeting (port 465, RFC 8314)
}

// Dial connects to addr ("ip:port") and records into rec. It does not
// read the greeting: call ReadReply for that, so the caller can time it.
func Dial(ctx context.Context, addr string, rec *transcript.Recorder, o DialOptions) (*Session, error) {
	t := o.Timeouts.WithDefaults()
	dial := o.Dial
	if dial == nil {
		d := &net.Dialer{}
		dial = d.DialContext
	}
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, t.Connect)
	defer cancel()
	raw, err := dial(cctx, "tcp", addr)
	if err != nil {
		rec.Event("connect to %s failed: %s", addr, netx.Describe(err, t.Connect))
		return nil, &OpError{Op: "connect", Waited: time.Since(start), Err: err}
	}
	rec.Event("connected to %s from %s", raw.RemoteAddr(), raw.LocalAddr())
	s := &Session{rec: rec, raw: raw, timeouts: t, addr: addr}
	s.conn = rec.Wrap(raw, false)
	s.br = bufio.NewReaderSize(s.conn, 4096)
	if o.ImplicitTLS != nil {
		if _, err := s.handshake(ctx, o.ImplicitTLS); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Recorder returns the session's recorder.
func (s *Session) Recorder() *transcript.Recorder { return s.rec }

// TLS returns the connection state after STARTTLS or implicit TLS, or nil.
func (s *Session) TLS() *tls.ConnectionState { return s.tlsState }

// RemoteAddr is the server's address.
func (s *Session) RemoteAddr() net.Addr { return s.raw.RemoteAddr() }

// LocalAddr is our address.
func (s *Session) LocalAddr() net.Addr { return s.raw.LocalAddr() }

// Timeouts are the effective per-stage deadlines.
func (s *Session) Timeouts() netx.Timeouts { return s.timeouts }

// deadline arms the connection for one operation: the earlier of the
// stage timeout and the context's deadline. Cancelling ctx interrupts a
// blocked read at once.
func (s *Session) deadline(ctx context.Context, d time.Duration) func() {
	dl := time.Now().Add(d)
	if cd, ok := ctx.Deadline(); ok && cd.Before(dl) {
		dl = cd
	}
	_ = s.raw.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = s.raw.SetDeadline(time.Unix(1, 0)) })
	return func() { stop() }
}

// ReadReply reads one reply within timeout (0 = the command timeout).
func (s *Session) ReadReply(ctx context.Context, timeout time.Duration) (Reply, error) {
	if timeout <= 0 {
		timeout = s.timeouts.Command
	}
	done := s.deadline(ctx, timeout)
	defer done()
	first := s.rec.Seq() + 1
	start := time.Now()
	r, err := ReadReply(s.br)
	// A hostile server can echo the credentials it was sent: what the
	// caller gets is scrubbed like the transcript.
	for i, l := range r.Lines {
		r.Lines[i] = s.rec.Scrub(l)
	}
	if err != nil {
		s.conn.Flush() // record the partial line the server left us with
		oe := &OpError{Op: "read reply", Waited: time.Since(start), Err: err}
		if r.Code != 0 || len(r.Lines) > 0 {
			r.Seq = seqRange(first, s.rec.Seq())
			oe.Partial = &r
		}
		if ctx.Err() != nil && netx.Classify(err) == netx.KindTimeout {
			oe.Err = ctx.Err()
		}
		return r, oe
	}
	r.Seq = seqRange(first, s.rec.Seq())
	return r, nil
}

// Send writes line followed by CRLF.
func (s *Session) Send(ctx context.Context, line string) error {
	return s.SendRaw(ctx, []byte(line+"\r\n"))
}

// SendRaw writes bytes exactly as given: the way to send bare LF, bare CR
// or several pipelined commands in one packet.
func (s *Session) SendRaw(ctx context.Context, b []byte) error {
	done := s.deadline(ctx, s.timeouts.Command)
	defer done()
	start := time.Now()
	if _, err := s.conn.Write(b); err != nil {
		return &OpError{Op: "write", Waited: time.Since(start), Err: err}
	}
	return nil
}

// Cmd sends one command and reads its reply.
func (s *Session) Cmd(ctx context.Context, line string) (Reply, error) {
	if err := s.Send(ctx, line); err != nil {
		return Reply{}, err
	}
	return s.ReadReply(ctx, 0)
}

// Buffered reports bytes the server sent that were not yet read. After a
// 220 to STARTTLS this must be zero: anything else was sent before the
// handshake and would be trusted as if it came over TLS (CVE-2011-0411's
// mirror image, RFC 3207 §4.1 "the client MUST discard any knowledge").
func (s *Session) Buffered() int { return s.br.Buffered() }

// StartTLS performs the TLS handshake after the server accepted STARTTLS
// (the caller sent the command and read the 220). Data the server sent
// before the handshake is discarded, as RFC 3207 §4.2 requires, and its
// size is returned so the caller can report it.
func (s *Session) StartTLS(ctx context.Context, cfg *tls.Config) (discarded int, err error) {
	discarded = s.br.Buffered()
	if discarded > 0 {
		_, _ = s.br.Discard(discarded)
	}
	_, err = s.handshake(ctx, cfg)
	return discarded, err
}

func (s *Session) handshake(ctx context.Context, cfg *tls.Config) (*tls.ConnectionState, error) {
	s.conn.Pause()
	done := s.deadline(ctx, s.timeouts.TLS)
	defer done()
	start := time.Now()
	s.rec.Event("TLS handshake (server name %q)", cfg.ServerName)
	tc := tls.Client(s.raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		s.rec.Event("TLS handshake failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
		return nil, &OpError{Op: "tls handshake", Waited: time.Since(start), Err: err}
	}
	st := tc.ConnectionState()
	s.tlsState = &st
	s.rec.Event("TLS established: %s, %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
	// From here on the raw connection carries ciphertext; record the
	// plaintext inside TLS instead. Deadlines still go to the raw conn,
	// which tls.Conn reads from.
	s.conn = s.rec.Wrap(tc, true)
	s.br = bufio.NewReaderSize(s.conn, 4096)
	return &st, nil
}

// Close closes the connection without QUIT.
func (s *Session) Close() error {
	if s.conn == nil {
		return nil
	}
	s.conn.Flush()
	err := s.raw.Close()
	s.rec.Event("connection closed")
	s.conn = nil
	return err
}

// Quit sends QUIT, reads the reply (briefly) and closes.
func (s *Session) Quit(ctx context.Context) (Reply, error) {
	defer s.Close()
	if err := s.Send(ctx, "QUIT"); err != nil {
		return Reply{}, err
	}
	return s.ReadReply(ctx, 5*time.Second)
}

// Auth runs an SMTP AUTH exchange (RFC 4954) with mechanism mech (PLAIN,
// LOGIN, CRAM-MD5 or XOAUTH2; for XOAUTH2 the password is the token). The
// password and every encoded form of it are registered as secrets with the
// recorder before anything is sent, so they cannot reach the transcript.
func (s *Session) Auth(ctx context.Context, mech, user, password string) (Reply, error) {
	mech = strings.ToUpper(mech)
	s.rec.AddCredential(user, password)
	switch mech {
	case "PLAIN":
		// RFC 4616: authzid NUL authcid NUL passwd, sent as an initial
		// response (RFC 4954 §4) to save a round trip.
		ir := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
		s.rec.AddSecret(ir)
		return s.Cmd(ctx, "AUTH PLAIN "+ir)
	case "XOAUTH2":
		ir := base64.StdEncoding.EncodeToString([]byte("user=" + user + "\x01auth=Bearer " + password + "\x01\x01"))
		s.rec.AddSecret(ir)
		r, err := s.Cmd(ctx, "AUTH XOAUTH2 "+ir)
		if err == nil && r.Code == 334 {
			// Google sends a JSON error as a challenge; an empty response
			// ends the exchange with the real error code.
			return s.Cmd(ctx, "")
		}
		return r, err
	case "LOGIN":
		r, err := s.Cmd(ctx, "AUTH LOGIN")
		if err != nil || r.Code != 334 {
			return r, err
		}
		if r, err = s.Cmd(ctx, base64.StdEncoding.EncodeToString([]byte(user))); err != nil || r.Code != 334 {
			return r, err
		}
		return s.Cmd(ctx, base64.StdEncoding.EncodeToString([]byte(password)))
	case "CRAM-MD5":
		// RFC 2195: the response is user SP hex(HMAC-MD5(password, challenge)).
		r, err := s.Cmd(ctx, "AUTH CRAM-MD5")
		if err != nil || r.Code != 334 {
			return r, err
		}
		chal, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(r.Text()))
		if derr != nil {
			_ = s.Send(ctx, "*") // cancel the exchange (RFC 4954 §4)
			r2, _ := s.ReadReply(ctx, 0)
			return r2, fmt.Errorf("CRAM-MD5 challenge is not base64: %q", clip(r.Text()))
		}
		m := hmac.New(md5.New, []byte(password))
		m.Write(chal)
		resp := base64.StdEncoding.EncodeToString([]byte(user + " " + hex.EncodeToString(m.Sum(nil))))
		s.rec.AddSecret(resp)
		return s.Cmd(ctx, resp)
	}
	return Reply{}, fmt.Errorf("unsupported AUTH mechanism %q (supported: PLAIN, LOGIN, CRAM-MD5, XOAUTH2)", mech)
}

// Data sends DATA, the message with dot-stuffing (RFC 5321 §4.5.2) and
// normalised CRLF line endings, and the final dot; it returns the reply to
// DATA (354 expected) and the final reply.
func (s *Session) Data(ctx context.Context, msg []byte) (first, final Reply, err error) {
	first, err = s.Cmd(ctx, "DATA")
	if err != nil || first.Code != 354 {
		return first, Reply{}, err
	}
	done := s.deadline(ctx, s.timeouts.Data)
	start := time.Now()
	s.conn.SetData(true)
	body := DotStuff(msg)
	_, werr := s.conn.Write(body[:len(body)-3])
	s.conn.SetData(false)
	if werr == nil {
		_, werr = s.conn.Write(body[len(body)-3:]) // the final ".\r\n"
	}
	done()
	if werr != nil {
		return first, Reply{}, &OpError{Op: "write", Waited: time.Since(start), Err: werr}
	}
	final, err = s.ReadReply(ctx, s.timeouts.Data)
	return first, final, err
}

// DotStuff converts msg to CRLF line endings, doubles leading dots and
// appends the terminating "." line. Bare CR and bare LF are both turned
// into CRLF: a compliant client never sends them (RFC 5321 §2.3.8), and
// smuggling probes use SendRaw instead.
func DotStuff(msg []byte) []byte {
	var b strings.Builder
	b.Grow(len(msg) + len(msg)/40 + 8)
	lineStart := true
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if lineStart && c == '.' {
			b.WriteByte('.')
		}
		lineStart = false
		switch c {
		case '\r':
			if i+1 < len(msg) && msg[i+1] == '\n' {
				i++
			}
			b.WriteString("\r\n")
			lineStart = true
		case '\n':
			b.WriteString("\r\n")
			lineStart = true
		default:
			b.WriteByte(c)
		}
	}
	if !lineStart {
		b.WriteString("\r\n")
	}
	b.WriteString(".\r\n")
	return []byte(b.String())
}

// seqRange lists first..last.
func seqRange(first, last int) []int {
	if last < first {
		return nil
	}
	out := make([]int, 0, last-first+1)
	for i := first; i <= last; i++ {
		out = append(out, i)
	}
	return out
}
