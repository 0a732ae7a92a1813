package transcript

import (
	"bytes"
	"fmt"
	"net"
	"sync"
)

// Conn is a net.Conn that records every line read and written. Lines are
// cut at LF; the CR before it is dropped, a bare LF is marked. A partial line
// is recorded when the connection is closed or Flush is called (a server
// that sends half a banner and then stalls must show what it sent).
type Conn struct {
	net.Conn
	rec *Recorder
	tls bool

	mu     sync.Mutex
	paused bool
	sasl   saslState
	in     lineBuf
	out    lineBuf
	// onServerLine is told the seq of every server line recorded, in
	// order, so a reader can cite the lines a reply actually consumed
	// instead of the recorder's position (which runs ahead when replies
	// are pipelined and several arrive in one read).
	onServerLine func(seq int, complete bool)
}

type lineBuf struct {
	buf  bytes.Buffer
	over int // bytes discarded from an over-long line
}

// Wrap returns c recording into r. inTLS marks the lines as travelling
// inside TLS (the wrapped conn is the *tls.Conn after a STARTTLS upgrade).
func (r *Recorder) Wrap(c net.Conn, inTLS bool) *Conn {
	return &Conn{Conn: c, rec: r, tls: inTLS}
}

// OnServerLine sets fn to be called with the seq of every server line c
// records: complete is true for a line that ended in LF, false for a
// partial line recorded by Flush or Close. fn runs with c's lock held and
// must not call back into c.
func (c *Conn) OnServerLine(fn func(seq int, complete bool)) {
	c.mu.Lock()
	c.onServerLine = fn
	c.mu.Unlock()
}

// Recorder returns the recorder behind c.
func (c *Conn) Recorder() *Recorder { return c.rec }

// Pause stops recording: used while a TLS handshake runs over the raw
// connection, whose bytes are not lines. Resume is rarely needed: after a
// handshake the *tls.Conn is wrapped anew.
func (c *Conn) Pause() {
	c.mu.Lock()
	c.paused = true
	c.mu.Unlock()
	c.Flush()
}

// SetData marks what the client writes as message text (SMTP DATA) until
// SetData(false): keywords in it do not trigger redaction.
func (c *Conn) SetData(on bool) {
	c.mu.Lock()
	c.sasl.data = on
	c.mu.Unlock()
}

// Resume starts recording again.
func (c *Conn) Resume() {
	c.mu.Lock()
	c.paused = false
	c.mu.Unlock()
}

func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.feed(&c.in, Server, p[:n])
	}
	return n, err
}

// Write records p before sending it, so that the transcript order is the
// order of events (a fast server's reply can otherwise be recorded before
// the command that caused it) and the SASL redaction state sees the
// command first. What could not be sent is still what was attempted.
func (c *Conn) Write(p []byte) (int, error) {
	c.feed(&c.out, Client, p)
	return c.Conn.Write(p)
}

// Close records any partial lines, then closes.
func (c *Conn) Close() error {
	c.Flush()
	return c.Conn.Close()
}

// Flush records partial lines in both directions as lines with EOL "none".
func (c *Conn) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flushLocked(&c.out, Client)
	c.flushLocked(&c.in, Server)
}

func (c *Conn) flushLocked(lb *lineBuf, dir Dir) {
	if lb.buf.Len() == 0 && lb.over == 0 {
		return
	}
	line := lb.buf.String()
	eol := "none"
	if lb.over > 0 {
		line += fmt.Sprintf(" … [%d more bytes]", lb.over)
		eol = "truncated"
	}
	lb.buf.Reset()
	lb.over = 0
	seq := c.rec.add(&c.sasl, dir, line, eol, c.tls)
	c.noteLocked(dir, seq, false)
}

func (c *Conn) noteLocked(dir Dir, seq int, complete bool) {
	if dir == Server && c.onServerLine != nil {
		c.onServerLine(seq, complete)
	}
}

func (c *Conn) feed(lb *lineBuf, dir Dir, p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.paused {
		return
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		// Keep at most MaxLine bytes of a line; count the rest.
		if room := MaxLine - lb.buf.Len(); room > 0 {
			if len(chunk) <= room {
				lb.buf.Write(chunk)
			} else {
				lb.buf.Write(chunk[:room])
				lb.over += len(chunk) - room
			}
		} else {
			lb.over += len(chunk)
		}
		if i < 0 {
			return
		}
		line := lb.buf.Bytes()
		eol := ""
		if len(line) > 0 && line[len(line)-1] == '\r' && lb.over == 0 {
			line = line[:len(line)-1]
		} else if lb.over == 0 {
			eol = "LF"
		}
		s := string(line)
		if lb.over > 0 {
			s += fmt.Sprintf(" … [%d more bytes]", lb.over)
			eol = "truncated"
		}
		lb.buf.Reset()
		lb.over = 0
		seq := c.rec.add(&c.sasl, dir, s, eol, c.tls)
		c.noteLocked(dir, seq, true)
		p = p[i+1:]
	}
}
