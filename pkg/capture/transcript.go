package capture

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// The server side of an SMTP session, recorded line by line so the web
// view and the API can show what the app said and what it was answered.
// Credentials are redacted at recording time, as pkg/transcript does for
// mailprobe's own clients: the AUTH initial response and every client line
// of a SASL exchange (RFC 4954 §4) never reach memory. A message body is
// not repeated (the message itself is served): it is summarised in one
// line. Inside TLS the bytes on the wire are encrypted, so from the
// STARTTLS on the commands are recorded as the server understood them
// (marked parsed).

// Bounds of one connection's transcript.
const (
	maxTranscriptLines = 300
	maxTranscriptLine  = 512
)

// TranscriptLine is one line of an SMTP session, from the server's side.
type TranscriptLine struct {
	Seq int     `json:"seq"`
	TMS float64 `json:"t_ms"`
	// Dir is C (the app), S (capture) or * (an event such as connect or
	// the TLS handshake).
	Dir      string `json:"dir"`
	Line     string `json:"line"`
	TLS      bool   `json:"tls,omitempty"`
	Redacted bool   `json:"redacted,omitempty"`
	// Parsed marks a command recorded as the server understood it, not
	// the bytes on the wire (inside TLS).
	Parsed bool `json:"parsed,omitempty"`
}

// sessionLog is one connection's transcript.
type sessionLog struct {
	mu      sync.Mutex
	now     func() time.Time
	start   time.Time
	lines   []TranscriptLine
	seq     int
	dropped int

	in, out   bytes.Buffer // partial lines
	encrypted bool         // after STARTTLS: the wire is not text
	inAuth    bool         // inside a SASL exchange
	// pending are the verbs of commands sent and not yet answered, in
	// order: with PIPELINING (RFC 2920) the replies to MAIL and RCPT
	// come after the client has sent DATA.
	pending   []string
	inData    bool // message body lines
	bodyLines int
	bodyBytes int
	skip      int // BDAT payload bytes still to pass unrecorded
}

func newSessionLog(now func() time.Time, remote string) *sessionLog {
	l := &sessionLog{now: now, start: now()}
	l.add("*", "connect from "+remote, false, false)
	return l
}

func (l *sessionLog) add(dir, line string, redacted, parsed bool) {
	l.seq++
	if len(l.lines) >= maxTranscriptLines {
		l.dropped++
		return
	}
	if len(line) > maxTranscriptLine {
		line = line[:maxTranscriptLine] + "…"
	}
	l.lines = append(l.lines, TranscriptLine{Seq: l.seq, TMS: float64(l.now().Sub(l.start).Microseconds()) / 1000,
		Dir: dir, Line: transcript.Printable(line), TLS: l.encrypted, Redacted: redacted, Parsed: parsed})
}

// feedIn records bytes the app sent.
func (l *sessionLog) feedIn(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.encrypted {
		return
	}
	for len(p) > 0 {
		if l.skip > 0 {
			n := min(l.skip, len(p))
			l.skip -= n
			p = p[n:]
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if l.in.Len() < 4*maxTranscriptLine {
				l.in.Write(p)
			}
			return
		}
		if l.in.Len() < 4*maxTranscriptLine {
			l.in.Write(p[:i])
		}
		p = p[i+1:]
		line := strings.TrimSuffix(l.in.String(), "\r")
		l.in.Reset()
		l.client(line)
	}
}

// client records one line from the app, redacting credentials.
func (l *sessionLog) client(line string) {
	if l.inData {
		if line == "." {
			l.inData = false
			l.pending = append(l.pending, ".")
			l.add("*", fmt.Sprintf("message body: %d lines, %d bytes", l.bodyLines, l.bodyBytes), false, false)
			l.add("C", ".", false, false)
			return
		}
		l.bodyLines++
		l.bodyBytes += len(line) + 2
		return
	}
	if l.inAuth {
		if strings.TrimSpace(line) == "*" { // cancels the exchange (RFC 4954 §4)
			l.add("C", line, false, false)
			return
		}
		l.add("C", transcript.Redacted, true, false)
		return
	}
	words := strings.Fields(line)
	verb := ""
	if len(words) > 0 {
		verb = strings.ToUpper(words[0])
	}
	if len(l.pending) < 100 {
		l.pending = append(l.pending, verb)
	}
	switch verb {
	case "AUTH":
		l.inAuth = true
		if len(words) > 2 {
			l.add("C", words[0]+" "+words[1]+" "+transcript.Redacted, true, false)
			return
		}
	case "BDAT":
		// RFC 3030: the chunk follows the command line, without a dot.
		if len(words) > 1 {
			if n, err := strconv.Atoi(words[1]); err == nil && n > 0 {
				l.skip = n
				l.add("C", line, false, false)
				l.add("*", fmt.Sprintf("message chunk: %d bytes", n), false, false)
				return
			}
		}
	}
	l.add("C", line, false, false)
}

// feedOut records bytes capture sent.
func (l *sessionLog) feedOut(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.encrypted {
		return
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.out.Write(p)
			return
		}
		l.out.Write(p[:i])
		p = p[i+1:]
		line := strings.TrimSuffix(l.out.String(), "\r")
		l.out.Reset()
		l.server(line)
	}
}

func (l *sessionLog) server(line string) {
	l.add("S", line, false, false)
	if len(line) > 3 && line[3] == '-' {
		return // not the last line of the reply
	}
	if strings.HasPrefix(line, "334") {
		return // a SASL continuation: the exchange goes on
	}
	l.inAuth = false
	if len(l.pending) == 0 {
		return // the greeting, or a reply to a line not seen as a command
	}
	verb := l.pending[0]
	l.pending = l.pending[1:]
	switch {
	case verb == "DATA" && strings.HasPrefix(line, "354"):
		l.inData, l.bodyLines, l.bodyBytes = true, 0, 0
	case verb == "STARTTLS" && strings.HasPrefix(line, "220"):
		l.encrypted = true
		l.pending = nil
		l.add("*", "TLS handshake; the session goes on encrypted: commands below are as capture understood them", false, false)
	}
}

// parsed records a command understood inside TLS (nothing is recorded
// from the wire there).
func (l *sessionLog) parsed(dir, line string, redacted bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.encrypted {
		l.add(dir, line, redacted, true)
	}
}

// event records a line whatever the state.
func (l *sessionLog) event(dir, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.add(dir, line, false, false)
}

// snapshot copies the lines recorded so far.
func (l *sessionLog) snapshot() []TranscriptLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]TranscriptLine(nil), l.lines...)
	if l.dropped > 0 {
		out = append(out, TranscriptLine{Seq: l.seq, Dir: "*", Line: fmt.Sprintf("%d more lines not kept (limit %d)", l.dropped, maxTranscriptLines)})
	}
	return out
}

// recConn records an SMTP connection into its sessionLog.
type recConn struct {
	net.Conn
	log *sessionLog
}

func (c *recConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.log.feedIn(p[:n])
	}
	return n, err
}

func (c *recConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.log.feedOut(p[:n])
	}
	return n, err
}

// recordingListener wraps every accepted connection in a recConn.
type recordingListener struct {
	net.Listener
	now func() time.Time
}

func (l recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &recConn{Conn: c, log: newSessionLog(l.now, c.RemoteAddr().String())}, nil
}

// logOf finds the transcript of a go-smtp connection: its net.Conn is
// ours before STARTTLS and a *tls.Conn over ours after.
func logOf(c net.Conn) *sessionLog {
	for i := 0; i < 3 && c != nil; i++ {
		switch v := c.(type) {
		case *recConn:
			return v.log
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}
