package testserver

import (
	"strings"
	"time"
)

// IMAPLiteralChain greets like an IMAP server and answers every command
// with an untagged response whose literal of size bytes ends in the
// announcement of another literal, for ever (until the client hangs up):
// a response with no end, one bounded chunk at a time.
func IMAPLiteralChain(size int) Handler {
	return func(c *Conn) {
		c.Send("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready")
		if _, err := c.Line(); err != nil {
			return
		}
		// The literal is text in 80-byte lines, as a message would be;
		// its last line announces the next literal.
		body := strings.Repeat(strings.Repeat("x", 78)+"\r\n", size/80) + strings.Repeat("y", size%80)
		chunk := []byte(body + "{" + itoa(size) + "}\r\n")
		if _, err := c.Write([]byte("* CAPABILITY IMAP4rev1 {" + itoa(size) + "}\r\n")); err != nil {
			return
		}
		for {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}
}

// Drip greets with greeting and answers the first command with line,
// sent again every interval, for ever: each line arrives well within a
// per-line deadline, the response never ends.
func Drip(greeting, first, line string, interval time.Duration) Handler {
	return func(c *Conn) {
		c.Send(greeting)
		if _, err := c.Line(); err != nil {
			return
		}
		if first != "" {
			c.Send(first)
		}
		t := time.NewTicker(interval)
		defer t.Stop()
		for range t.C {
			if _, err := c.Write([]byte(line + "\r\n")); err != nil {
				return
			}
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
