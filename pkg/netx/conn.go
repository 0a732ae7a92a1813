package netx

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// DefaultMaxLine bounds one protocol line when the protocol sets no limit
// of its own: no sane greeting, reply or capability line comes near
// 64 KiB, and a server sending an endless line must not make mailprobe
// buffer forever. Protocols with a tighter rule (SMTP replies) lower it
// with SetMaxLine.
const DefaultMaxLine = 64 << 10

// ProtocolError is a violation of the protocol by the peer (garbage where
// a reply belongs, a line without end): Classify reports it as
// KindProtocol, distinct from network failures. It is a string type so
// that sentinel values compare with errors.Is.
type ProtocolError string

func (e ProtocolError) Error() string { return string(e) }

// ErrLineTooLong is the one error for a line that exceeds the reader's
// limit without a line ending.
var ErrLineTooLong error = ProtocolError("line too long")

// Line is one line read from the peer.
type Line struct {
	Text   string // without CRLF (or LF); scrubbed of registered secrets
	BareLF bool   // ended in LF without CR (RFC 5321 §2.3.8 forbids it in SMTP)
	// Seq is the transcript entry that recorded this line (0 when it was
	// not recorded): the line's own number, however many lines the same
	// read brought in.
	Seq int
}

// LineReader is the one bounded line reader: it never holds more than
// max bytes of a line, however long the peer's line is.
type LineReader struct {
	br  *bufio.Reader
	max int
	// partial is the start of the line the last failed Next left
	// unfinished (at most max bytes), for Partial.
	partial []byte
	// scrub, when set, removes secrets from server text quoted in an
	// error, before it is clipped (a clipped secret no longer matches).
	scrub func(string) string
}

// NewLineReader reads lines of at most max bytes (<= 0: DefaultMaxLine)
// from r.
func NewLineReader(r io.Reader, max int) *LineReader {
	if max <= 0 {
		max = DefaultMaxLine
	}
	return &LineReader{br: bufio.NewReaderSize(r, 4096), max: max}
}

// Buffered is the number of bytes read from the peer but not yet returned.
func (lr *LineReader) Buffered() int { return lr.br.Buffered() }

// Next reads up to LF and returns the line without CRLF/LF. A line longer
// than the limit is an ErrLineTooLong after the limit, without reading
// the rest; an error after part of a line names the part, and keeps the
// cause (EOF, timeout) for Classify.
func (lr *LineReader) Next() (Line, error) {
	var buf []byte
	lr.partial = nil
	for {
		frag, err := lr.br.ReadSlice('\n')
		if len(buf)+len(frag) > lr.max+2 {
			lr.partial = append(buf, frag[:min(len(frag), max(0, lr.max-len(buf)))]...)
			return Line{}, fmt.Errorf("%w: more than %d bytes without a line ending", ErrLineTooLong, lr.max)
		}
		buf = append(buf, frag...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(buf) > 0 {
			lr.partial = buf
			text := string(buf)
			if lr.scrub != nil {
				text = lr.scrub(text)
			}
			return Line{}, fmt.Errorf("%w (after a partial line %q)", err, Clip(text))
		}
		return Line{}, err
	}
	buf = buf[:len(buf)-1]
	l := Line{}
	if len(buf) > 0 && buf[len(buf)-1] == '\r' {
		buf = buf[:len(buf)-1]
	} else {
		l.BareLF = true
	}
	l.Text = string(buf)
	return l, nil
}

// Partial is the start of the line that the last Next left unfinished
// when it failed (a greeting cut off by a close or a deadline, the first
// max bytes of an endless line), or nil. The caller quotes it as what the
// server said; it is raw bytes, not yet made printable.
func (lr *LineReader) Partial() []byte { return lr.partial }

func (lr *LineReader) discard() []byte {
	n := lr.br.Buffered()
	if n == 0 {
		return nil
	}
	b, _ := lr.br.Peek(n)
	out := append([]byte(nil), b...)
	_, _ = lr.br.Discard(n)
	return out
}

// Clip shortens s to 80 bytes for an error message or a finding: a
// peer's line may be as long as the reader's limit, and one line of
// evidence is enough to recognise it. Every protocol package uses it.
// The cut falls on a character boundary: half a UTF-8 sequence would
// show as garbage (and make JSON output carry a replacement character).
func Clip(s string) string {
	if len(s) <= 80 {
		return s
	}
	cut := 80
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Partial is what arrived before an operation failed: evidence for the
// finding (an SMTP reply's first lines, a half greeting) and the
// transcript entries that hold it.
type Partial struct {
	Text string
	Seq  []int
}

// OpError is the one error of a failed wire operation, for every
// protocol: which operation, how long it waited, the cause (a net error, a
// ProtocolError, a TLS error) and what had arrived. Engines turn it into a
// finding that names the stage, by its Kind.
type OpError struct {
	Op      string // "connect", "read", "read reply", "write", "tls handshake"
	Waited  time.Duration
	Err     error
	Partial *Partial
}

func (e *OpError) Error() string {
	return fmt.Sprintf("%s: %s", e.Op, Describe(e.Err, e.Waited))
}

func (e *OpError) Unwrap() error { return e.Err }

// Kind classifies the cause (Classify of the wrapped error).
func (e *OpError) Kind() ErrKind { return Classify(e.Err) }

// ConnOptions configure Dial.
type ConnOptions struct {
	Dial        DialFunc // nil = net.Dialer
	Timeouts    Timeouts
	ImplicitTLS *tls.Config // non-nil: TLS before the greeting (RFC 8314 §3.3)
	MaxLine     int         // 0 = DefaultMaxLine
}

// Conn is the one connection type of every protocol engine: dialed with
// the injected DialFunc, every byte recorded into a transcript, one
// bounded line reader, a deadline on every operation (the earlier of the
// stage timeout and the context's deadline, and a cancelled context
// interrupts a blocked read at once), one STARTTLS upgrade.
//
// A Conn is used by one goroutine at a time; Close may be called from
// another.
type Conn struct {
	rec      *transcript.Recorder
	raw      net.Conn         // the TCP connection; deadlines go here
	rc       *transcript.Conn // what is read and written: raw or TLS, recorded
	lr       *LineReader
	max      int
	tlsState *tls.ConnectionState
	timeouts Timeouts

	mu      sync.Mutex
	seqs    []int // seqs of recorded complete server lines not yet returned
	partial []int // seqs of partial server lines recorded by a flush
	closed  bool
}

// Dial connects to addr ("host:port") and records into rec. With
// o.ImplicitTLS it completes the TLS handshake before returning. It does
// not read the greeting, so the caller can time it as its own stage.
func Dial(ctx context.Context, addr string, rec *transcript.Recorder, o ConnOptions) (*Conn, error) {
	t := o.Timeouts.WithDefaults()
	dial := o.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, t.Connect)
	raw, err := dial(cctx, "tcp", addr)
	cancel()
	if err != nil {
		rec.Event("connect to %s failed: %s", addr, Describe(err, t.Connect))
		return nil, &OpError{Op: "connect", Waited: time.Since(start), Err: ctxCause(ctx, err)}
	}
	rec.Event("connected to %s from %s", raw.RemoteAddr(), raw.LocalAddr())
	c := NewConn(raw, rec, t, o.MaxLine)
	if o.ImplicitTLS != nil {
		if err := c.handshake(ctx, o.ImplicitTLS); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// NewConn records an already connected raw into rec. Timeouts get their
// defaults; maxLine <= 0 is DefaultMaxLine.
func NewConn(raw net.Conn, rec *transcript.Recorder, t Timeouts, maxLine int) *Conn {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	c := &Conn{rec: rec, raw: raw, timeouts: t.WithDefaults(), max: maxLine}
	c.wrap(raw, false)
	return c
}

// wrap records nc (raw, or the TLS connection over it) and starts a new
// line reader on it. Lines read before are gone: after a handshake
// nothing sent in plaintext may be trusted (RFC 3207 §4.2).
func (c *Conn) wrap(nc net.Conn, inTLS bool) {
	rc := c.rec.Wrap(nc, inTLS)
	rc.OnServerLine(c.noteServerLine)
	c.mu.Lock()
	c.seqs, c.partial = nil, nil
	c.mu.Unlock()
	c.rc = rc
	c.lr = NewLineReader(rc, c.max)
	c.lr.scrub = c.rec.Scrub
}

func (c *Conn) noteServerLine(seq int, complete bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if complete {
		c.seqs = append(c.seqs, seq)
	} else {
		c.partial = append(c.partial, seq)
	}
}

// popSeq returns the seq of the oldest complete line not yet returned.
func (c *Conn) popSeq() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seqs) == 0 {
		return 0
	}
	s := c.seqs[0]
	c.seqs = c.seqs[1:]
	return s
}

// SetMaxLine sets the line limit for the protocol spoken (SMTP replies:
// 8 KiB); it applies from the next line read.
func (c *Conn) SetMaxLine(n int) {
	if n <= 0 {
		n = DefaultMaxLine
	}
	c.max = n
	c.lr.max = n
}

// Recorder returns the connection's recorder.
func (c *Conn) Recorder() *transcript.Recorder { return c.rec }

// Timeouts are the effective per-stage deadlines.
func (c *Conn) Timeouts() Timeouts { return c.timeouts }

// TLS returns the connection state after STARTTLS or implicit TLS, or nil.
func (c *Conn) TLS() *tls.ConnectionState { return c.tlsState }

// RemoteAddr is the server's address.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// LocalAddr is our address.
func (c *Conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// Buffered reports bytes the server sent that were not yet read as lines.
func (c *Conn) Buffered() int { return c.lr.Buffered() }

// SetData marks what the client writes as message text (SMTP DATA) until
// SetData(false): keywords in it do not trigger transcript redaction.
func (c *Conn) SetData(on bool) { c.rc.SetData(on) }

// Arm sets the deadline for one operation that may take several reads or
// writes (a multi-line reply): the earlier of now+d (0 = the command
// timeout) and ctx's deadline. Cancelling ctx interrupts a blocked read
// or write at once. Call the returned function when the operation ends.
func (c *Conn) Arm(ctx context.Context, d time.Duration) (disarm func()) {
	if d <= 0 {
		d = c.timeouts.Command
	}
	dl := time.Now().Add(d)
	if cd, ok := ctx.Deadline(); ok && cd.Before(dl) {
		dl = cd
	}
	_ = c.raw.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = c.raw.SetDeadline(time.Unix(1, 0)) })
	return func() { stop() }
}

// Next reads one line under the deadline set by Arm. Its errors are the
// LineReader's, unwrapped: use ReadLine for a single line with its own
// deadline and an OpError.
func (c *Conn) Next() (Line, error) {
	l, err := c.lr.Next()
	if err != nil {
		return l, err
	}
	l.Seq = c.popSeq()
	// A hostile server can echo the credentials it was sent: what the
	// caller gets is scrubbed like the transcript.
	l.Text = c.rec.Scrub(l.Text)
	return l, nil
}

// ReadLine reads one line within d (0 = the command timeout).
func (c *Conn) ReadLine(ctx context.Context, d time.Duration) (Line, error) {
	disarm := c.Arm(ctx, d)
	defer disarm()
	start := time.Now()
	l, err := c.Next()
	if err != nil {
		return l, c.ReadError(ctx, "read", start, err)
	}
	return l, nil
}

// ReadError turns a failed read of op begun at start into an OpError:
// the partial line the server left is recorded (and cited), and a
// deadline hit because ctx was cancelled or expired reports ctx's error,
// so a Ctrl-C is KindCanceled, not a timeout.
func (c *Conn) ReadError(ctx context.Context, op string, start time.Time, err error) *OpError {
	c.rc.Flush()
	oe := &OpError{Op: op, Waited: time.Since(start), Err: ctxCause(ctx, err)}
	c.mu.Lock()
	if len(c.partial) > 0 {
		oe.Partial = &Partial{Seq: c.partial}
		if e, ok := c.rec.Entry(c.partial[len(c.partial)-1]); ok {
			oe.Partial.Text = e.Line
		}
		c.partial = nil
	}
	c.mu.Unlock()
	// The transcript is the first source (its entry is redacted and
	// cited by seq), but it may hold nothing: the recorder full
	// (transcript.MaxEntries), or the bytes recorded by an earlier flush.
	// The line reader still has the part it consumed, so the finding can
	// quote the server either way.
	if p := c.lr.Partial(); len(p) > 0 && (oe.Partial == nil || oe.Partial.Text == "") {
		if oe.Partial == nil {
			oe.Partial = &Partial{}
		}
		oe.Partial.Text = transcript.Printable(c.rec.Scrub(strings.TrimSuffix(string(p), "\r")))
	}
	return oe
}

// ctxCause replaces a timeout caused by ctx (cancelled, or its deadline
// reached before the stage's) by ctx's own error.
func ctxCause(ctx context.Context, err error) error {
	if ctx.Err() != nil && Classify(err) == KindTimeout {
		return ctx.Err()
	}
	return err
}

// Write sends b exactly as given within d (0 = the command timeout): the
// way to send CRLF-terminated commands, bare LF or a pipelined group.
func (c *Conn) Write(ctx context.Context, d time.Duration, b []byte) error {
	disarm := c.Arm(ctx, d)
	defer disarm()
	start := time.Now()
	if _, err := c.rc.Write(b); err != nil {
		return &OpError{Op: "write", Waited: time.Since(start), Err: ctxCause(ctx, err)}
	}
	return nil
}

// WriteLine sends line followed by CRLF.
func (c *Conn) WriteLine(ctx context.Context, d time.Duration, line string) error {
	return c.Write(ctx, d, []byte(line+"\r\n"))
}

// StartTLS runs the TLS handshake after the server's go-ahead to STARTTLS
// (the caller sent the command and read the reply). Bytes the server sent
// after the go-ahead and before the handshake are returned and discarded:
// RFC 3207 §4.2 requires the client to discard them, and a server that
// sends any is open to command injection (CVE-2011-0411 class), so the
// caller reports them. Only bytes already received are seen; more still
// in flight make the handshake fail.
func (c *Conn) StartTLS(ctx context.Context, cfg *tls.Config) (preHandshake []byte, err error) {
	preHandshake = c.lr.discard()
	return preHandshake, c.handshake(ctx, cfg)
}

func (c *Conn) handshake(ctx context.Context, cfg *tls.Config) error {
	c.rc.Pause()
	disarm := c.Arm(ctx, c.timeouts.TLS)
	defer disarm()
	start := time.Now()
	c.rec.Event("TLS handshake (server name %q)", cfg.ServerName)
	tc := tls.Client(c.raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.rec.Event("TLS handshake failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
		return &OpError{Op: "tls handshake", Waited: time.Since(start), Err: ctxCause(ctx, err)}
	}
	st := tc.ConnectionState()
	c.tlsState = &st
	c.rec.Event("TLS established: %s, %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
	// From here on the raw connection carries ciphertext; record the
	// plaintext inside TLS instead. Deadlines still go to the raw conn,
	// which the TLS connection reads from.
	c.wrap(tc, true)
	return nil
}

// Detach hands the raw connection to a caller that speaks TLS itself:
// tlsprobe's hand-built ClientHellos, sent after the STARTTLS go-ahead
// or at once on an implicit-TLS port, whose records are not lines and
// whose answers crypto/tls cannot parse. Recording stops (the transcript
// keeps what came before), and the bytes the line reader had buffered
// are returned and dropped: the same pre-handshake bytes StartTLS
// reports, which RFC 3207 §4.2 says to discard. Arm and Close keep
// working on the raw connection; nothing may be read or written through
// c afterwards.
func (c *Conn) Detach() (raw net.Conn, preHandshake []byte) {
	preHandshake = c.lr.discard()
	c.rc.Pause()
	return c.raw, preHandshake
}

// NetConn returns the connection as a net.Conn for a protocol library
// (go-imap for the authenticated part): reads drain what the line reader
// already buffered first, and everything stays recorded. Do not mix it
// with ReadLine.
func (c *Conn) NetConn() net.Conn {
	return &bufferedConn{Conn: c.rc, r: io.MultiReader(bytes.NewReader(c.lr.discard()), c.rc)}
}

type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// Flush records partial lines in both directions.
func (c *Conn) Flush() { c.rc.Flush() }

// Close records any partial line, then closes the connection without a
// protocol goodbye. Closing twice is harmless.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.rc.Flush()
	err := c.raw.Close()
	c.rec.Event("connection closed")
	return err
}
