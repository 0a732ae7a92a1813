package imapaudit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/netx"
)

// Bounds of one response: everything the server sends in answer to one
// command (IMAP: every untagged line with its literals and their
// continuations, up to the tagged line's final CRLF; POP3: the status
// line, or a multi-line body up to its "."). The whole answer is read
// under one deadline (the command timeout, armed once), so a server that
// drips one line every few seconds cannot stretch a stage to lines ×
// timeout; and within one byte budget, so a server whose every literal
// ends in another literal cannot grow memory without end.
const (
	// MaxResponseBytes bounds one response, literals included: far more
	// than any CAPABILITY, ID or LOGIN answer, far less than memory.
	MaxResponseBytes = 1 << 20
	// maxResponseLines bounds the lines of one response (literal lines
	// included).
	maxResponseLines = 1000
)

// ErrResponseTooLarge is the error of a response that exceeds
// MaxResponseBytes or maxResponseLines; like every violation of the
// protocol it is a netx.ProtocolError.
var ErrResponseTooLarge error = netx.ProtocolError("response too large")

// lineSource gives the lines of a response: a netx.Conn (under a
// deadline armed once for the whole response) or a netx.LineReader.
type lineSource interface {
	Next() (netx.Line, error)
}

// budget counts what one response has used of its bounds.
type budget struct {
	src          lineSource
	bytes, lines int
	maxBytes     int
}

func newBudget(src lineSource, maxBytes int) *budget {
	if maxBytes <= 0 {
		maxBytes = MaxResponseBytes
	}
	return &budget{src: src, maxBytes: maxBytes}
}

func (b *budget) tooLarge() error {
	return fmt.Errorf("%w: more than %d bytes or %d lines in one response", ErrResponseTooLarge, b.maxBytes, maxResponseLines)
}

// next reads one line and charges it (with its line ending) to the budget.
func (b *budget) next() (netx.Line, error) {
	if b.lines >= maxResponseLines {
		return netx.Line{}, b.tooLarge()
	}
	l, err := b.src.Next()
	if err != nil {
		return l, err
	}
	b.lines++
	b.bytes += len(l.Text) + 2
	if b.bytes > b.maxBytes {
		return l, b.tooLarge()
	}
	return l, nil
}

var errLiteralTooLarge = errors.New("literal too large")

// readIMAPResponse reads untagged lines until the line tagged tag, from
// src, within maxBytes (<= 0: MaxResponseBytes) for all of it. A literal
// ({n} or {n+} at a line's end, RFC 9051 §4.3) is read, quoted and
// folded into its line, with the rest of the line after it, as often as
// the server chains them; a literal larger than what is left of the
// budget is refused before a byte of it is read. It reads nothing past
// the tagged line.
func readIMAPResponse(src lineSource, tag string, maxBytes int) (untagged []string, tagged string, err error) {
	b := newBudget(src, maxBytes)
	for {
		l, err := b.next()
		if err != nil {
			return untagged, "", err
		}
		line := l.Text
		for m := literalRe.FindStringSubmatch(line); m != nil; m = literalRe.FindStringSubmatch(line) {
			n, _ := strconv.Atoi(m[1])
			if n > b.maxBytes-b.bytes {
				return untagged, "", fmt.Errorf("%w: a literal of %d bytes (%d of %d left)", ErrResponseTooLarge, n, max(0, b.maxBytes-b.bytes), b.maxBytes)
			}
			literal, rest, err := readLiteral(b, n)
			if err != nil {
				return untagged, "", err
			}
			line = line[:len(line)-len(m[0])] + strconv.Quote(literal) + rest
			if len(line) > b.maxBytes {
				// The folded line (quoting may double a literal) is
				// charged too.
				return untagged, "", b.tooLarge()
			}
		}
		if strings.HasPrefix(line, tag+" ") {
			return untagged, line, nil
		}
		untagged = append(untagged, line)
	}
}

// readLiteral reads the n bytes of a literal and the rest of the
// response line after them. The bytes are read as bounded lines: the
// literal ends somewhere in the last one, and when it ends exactly at a
// line end, the response line goes on in the next line.
func readLiteral(b *budget, n int) (literal, rest string, err error) {
	var sb strings.Builder
	for sb.Len() < n { // each line adds at least its line ending
		l, err := b.next()
		if err != nil {
			return "", "", err
		}
		sb.WriteString(l.Text)
		if l.BareLF {
			sb.WriteString("\n")
		} else {
			sb.WriteString("\r\n")
		}
	}
	s := sb.String()
	if len(s) == n {
		l, err := b.next()
		return s, l.Text, err
	}
	return s[:n], strings.TrimSuffix(strings.TrimSuffix(s[n:], "\n"), "\r"), nil
}

// readPOP3Multi reads a multi-line POP3 body after its +OK line, up to
// the terminating "." (RFC 1939 §3), dot-unstuffed, within maxBytes.
func readPOP3Multi(src lineSource, maxBytes int) ([]string, error) {
	b := newBudget(src, maxBytes)
	var lines []string
	for {
		l, err := b.next()
		if err != nil {
			return lines, err
		}
		if l.Text == "." {
			return lines, nil
		}
		lines = append(lines, strings.TrimPrefix(l.Text, "."))
	}
}

// response reads one whole response with read under one deadline (the
// command timeout) armed once: the deadline bounds the response, not
// each of its lines. Errors are *netx.OpError naming op.
func (c *lineConn) response(ctx context.Context, timeout time.Duration, op string, read func(lineSource) error) error {
	disarm := c.nc.Arm(ctx, timeout)
	defer disarm()
	start := time.Now()
	if err := read(c.nc); err != nil {
		var oe *netx.OpError
		if errors.As(err, &oe) {
			return err
		}
		return c.nc.ReadError(ctx, op, start, err)
	}
	return nil
}
