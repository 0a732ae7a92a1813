package capture

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

type rawClient struct {
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second)) // a hang fails the test, never blocks it
	return &rawClient{c: c, br: bufio.NewReader(c)}
}

func (r *rawClient) line(t *testing.T) string {
	t.Helper()
	l, err := r.br.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v (got %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

func (r *rawClient) send(t *testing.T, s string) {
	t.Helper()
	if _, err := r.c.Write([]byte(s + "\r\n")); err != nil {
		t.Fatal(err)
	}
}

// readsEOF reports whether the server closed after what was read.
func (r *rawClient) readsEOF() bool {
	_, err := r.br.ReadString('\n')
	return err != nil
}

// With --max-conns 2, the third SMTP (and IMAP) client gets the refusal
// and is closed; the ones within the limit are served.
func TestCapture_connectionLimit(t *testing.T) {
	s := start(t, Options{MaxConns: 2})
	for _, p := range []struct{ addr, greeting, refusal string }{
		{s.SMTPAddr(), "220 ", "421 4.7.0 "},
		{s.IMAPAddr(), "* OK", "* BYE too many connections"},
	} {
		a, b := dialRaw(t, p.addr), dialRaw(t, p.addr)
		if l := a.line(t); !strings.HasPrefix(l, p.greeting) {
			t.Fatalf("first: %q", l)
		}
		if l := b.line(t); !strings.HasPrefix(l, p.greeting) {
			t.Fatalf("second: %q", l)
		}
		c := dialRaw(t, p.addr)
		if l := c.line(t); !strings.HasPrefix(l, p.refusal) || !strings.Contains(l, "too many connections") {
			t.Fatalf("third: %q", l)
		}
		if !c.readsEOF() {
			t.Fatal("the refused connection was left open")
		}
	}
}

// A client that says nothing after the greeting is told 421 and closed
// after the idle timeout.
func TestCapture_idleTimeout(t *testing.T) {
	s := start(t, Options{IdleTimeout: 200 * time.Millisecond})
	c := dialRaw(t, s.SMTPAddr())
	if l := c.line(t); !strings.HasPrefix(l, "220 ") {
		t.Fatalf("greeting %q", l)
	}
	if l := c.line(t); !strings.HasPrefix(l, "421 4.4.2") {
		t.Fatalf("after idling: %q", l)
	}
	if !c.readsEOF() {
		t.Fatal("the idle connection was left open")
	}
}

// A client that drips its message without the final dot, each line well
// within the idle timeout, is cut off by the DATA-phase deadline: 421,
// closed, nothing stored.
func TestCapture_dataTimeout(t *testing.T) {
	s := start(t, Options{IdleTimeout: 10 * time.Second, DataTimeout: 300 * time.Millisecond})
	c := dialRaw(t, s.SMTPAddr())
	c.line(t)
	c.send(t, "HELO app.example")
	c.line(t)
	c.send(t, "MAIL FROM:<a@app.example>")
	c.line(t)
	c.send(t, "RCPT TO:<u@example.org>")
	c.line(t)
	c.send(t, "DATA")
	if l := c.line(t); !strings.HasPrefix(l, "354") {
		t.Fatalf("DATA: %q", l)
	}
	got := make(chan string, 1)
	go func() {
		l, _ := c.br.ReadString('\n')
		got <- strings.TrimRight(l, "\r\n")
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case l := <-got:
			if !strings.HasPrefix(l, "421 4.4.2") {
				t.Fatalf("during DATA: %q", l)
			}
			if len(s.Messages()) != 0 {
				t.Fatal("an unfinished message was stored")
			}
			return
		case <-tick.C:
			_, _ = c.c.Write([]byte("Subject: still typing\r\n"))
		}
	}
}
