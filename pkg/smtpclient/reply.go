package smtpclient

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/replycode"
)

// Reply is one SMTP reply, possibly multi-line (RFC 5321 §4.2.1).
type Reply struct {
	Code     int      `json:"code"`
	Enhanced string   `json:"enhanced,omitempty"`
	Lines    []string `json:"lines"` // text of each line, without code and separator
	// Problems lists RFC violations that did not prevent parsing: a line
	// whose code differs from the first, a missing separator, a bare LF.
	// A lenient parse plus a list of problems serves diagnosis better than
	// refusing the reply.
	Problems []string `json:"problems,omitempty"`
	// Seq lists the transcript entries of the reply's lines (as finding
	// evidence does: renderers print a run as "#4-13").
	Seq []int `json:"seq,omitempty"`
	// Raw holds each line exactly as the server sent it (code and
	// separator included, without CRLF; registered secrets scrubbed):
	// evidence quotes the server byte for byte, even when its lines
	// disagree on the code.
	Raw []string `json:"raw,omitempty"`
	// CodeMismatch is set when the lines of a multi-line reply carry
	// different codes. RFC 5321 §4.2.1 requires the same code on every
	// line; Code is the last line's, the one that ends the reply, but a
	// client that reads the first line would understand something else.
	CodeMismatch bool `json:"code_mismatch,omitempty"`
	// mismatch are the entries of Problems that say the codes differ.
	mismatch []string
}

// ProblemsBesidesMismatch is Problems without the entries about lines
// with different codes: for an engine that reports those as their own
// finding (MismatchFinding), so a reply is not faulted twice for one
// violation.
func (r Reply) ProblemsBesidesMismatch() []string {
	var out []string
	for _, p := range r.Problems {
		if !slices.Contains(r.mismatch, p) {
			out = append(out, p)
		}
	}
	return out
}

// Text joins the reply's lines with spaces.
func (r Reply) Text() string { return strings.Join(r.Lines, " ") }

// String renders the reply as the server sent it (code, separators, lines).
// Excerpt is String cut to its first max lines, with a note of how many
// more there were: evidence for a finding, where a hostile server's
// thousand-line reply must not become a thousand-line report.
func (r Reply) Excerpt(max int) string {
	if len(r.Lines) <= max {
		return r.String()
	}
	short := r
	short.Lines = r.Lines[:max]
	if len(r.Raw) > max {
		short.Raw = r.Raw[:max]
	}
	return short.String() + fmt.Sprintf("\n… %d more lines (see the transcript)", len(r.Lines)-max)
}

func (r Reply) String() string {
	if len(r.Raw) > 0 && len(r.Raw) == len(r.Lines) {
		return strings.Join(r.Raw, "\n")
	}
	if len(r.Lines) == 0 {
		return fmt.Sprintf("%03d", r.Code)
	}
	var b strings.Builder
	for i, l := range r.Lines {
		sep := "-"
		if i == len(r.Lines)-1 {
			sep = " "
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%03d%s%s", r.Code, sep, l)
	}
	return b.String()
}

// Short is the reply's code with its first line's text, for one-line
// summaries (the last line's code: the one that decides).
//
// When the lines carry different codes it is the last line as sent, the
// one that decides, with a note of the first.
func (r Reply) Short() string {
	if r.CodeMismatch && len(r.Raw) > 1 {
		return fmt.Sprintf("%s (after %q: the lines carry different codes) (+%d lines)", netx.Clip(r.Raw[len(r.Raw)-1]), netx.Clip(r.Raw[0]), len(r.Raw)-1)
	}
	s := fmt.Sprintf("%03d", r.Code)
	if len(r.Lines) > 0 && r.Lines[0] != "" {
		s += " " + r.Lines[0]
	}
	if len(r.Lines) > 1 {
		s += fmt.Sprintf(" (+%d lines)", len(r.Lines)-1)
	}
	return s
}

// Class is the first digit: 2 success, 3 intermediate, 4 transient, 5 permanent.
func (r Reply) Class() int { return r.Code / 100 }

// Positive reports a 2xx or 3xx reply.
func (r Reply) Positive() bool { return r.Code >= 200 && r.Code < 400 }

// Explain looks the reply up in the knowledge base.
func (r Reply) Explain() replycode.Explanation {
	return replycode.Explain(r.Code, r.Enhanced, r.Text())
}

// ErrMalformed is returned (wrapped) when a reply cannot be parsed at all:
// no three-digit code. The offending line is in the error text. Like the
// other reply errors it is a netx.ProtocolError (netx.KindProtocol).
var ErrMalformed error = netx.ProtocolError("malformed reply")

// ErrLineTooLong is returned when a reply line exceeds MaxReplyLine without
// a line ending: RFC 5321 §4.5.3.1.5 allows 512 octets; we accept far
// more, but never an unbounded line from a hostile server. It is the one
// line-length error of netx's reader.
var ErrLineTooLong = netx.ErrLineTooLong

// ErrTooManyLines is returned for a multi-line reply that never ends.
var ErrTooManyLines error = netx.ProtocolError("multi-line reply too long")

// Limits on what a reply may be.
const (
	MaxReplyLine  = 8192
	MaxReplyLines = 1000
)

// LineSource gives the lines a reply is read from: a netx.Conn (whose
// lines carry their transcript seq) or a netx.LineReader over any reader.
// Its line limit should be MaxReplyLine.
type LineSource interface {
	Next() (netx.Line, error)
}

// NewLineReader reads reply lines from r, bounded by MaxReplyLine. Given
// a *bufio.Reader of the default size it reads through it, so a caller
// can keep using the same buffer.
func NewLineReader(r io.Reader) *netx.LineReader { return netx.NewLineReader(r, MaxReplyLine) }

// ReadReply reads one reply. It never holds more than one line of the
// source's limit or MaxReplyLines lines, so a hostile server cannot
// exhaust memory, and it reports the reply read so far together with the
// error. Reply.Seq lists the seq of each line it consumed.
//
// The last line's code is the reply's code (RFC 5321 §4.2.1: the line
// without a hyphen ends the reply, and it is the one a client acts on);
// lines that disagree set CodeMismatch, and Raw keeps every line as sent.
func ReadReply(src LineSource) (Reply, error) {
	var r Reply
	for n := 0; ; n++ {
		if n >= MaxReplyLines {
			return r, fmt.Errorf("%w: more than %d lines", ErrTooManyLines, MaxReplyLines)
		}
		l, err := src.Next()
		if err != nil {
			return r, err
		}
		if l.Seq > 0 {
			r.Seq = append(r.Seq, l.Seq)
		}
		line, bareLF := l.Text, l.BareLF
		code, sep, text, perr := parseLine(line)
		if perr != nil {
			if n == 0 {
				return r, perr
			}
			// A garbage line inside a multi-line reply: keep what we have.
			r.Problems = append(r.Problems, fmt.Sprintf("line %d: %v", n+1, perr))
			return r, perr
		}
		if bareLF {
			r.Problems = appendOnce(r.Problems, "line ended with a bare LF instead of CRLF (RFC 5321 §2.3.8)")
		}
		if n > 0 && code != r.Code {
			// Kept among the problems too, for engines that list them
			// all (smtp script's nonconforming finding).
			r.CodeMismatch = true
			p := fmt.Sprintf("line %d has code %03d, line %d code %03d (RFC 5321 §4.2.1 requires the same code on every line; the last line's decides)", n+1, code, n, r.Code)
			r.Problems = append(r.Problems, p)
			r.mismatch = append(r.mismatch, p)
		}
		r.Code = code
		if hasControl(text) {
			r.Problems = appendOnce(r.Problems, "control characters in the reply text (RFC 5321 §4.2 allows only printable text)")
		}
		if sep == 0 && text != "" {
			r.Problems = append(r.Problems, fmt.Sprintf("line %d: no space or hyphen after the code", n+1))
		}
		r.Lines = append(r.Lines, text)
		r.Raw = append(r.Raw, line)
		if sep != '-' {
			break
		}
	}
	if r.Code < 200 || r.Code > 599 {
		r.Problems = append(r.Problems, fmt.Sprintf("reply code %03d is outside 200-599 (RFC 5321 §4.2)", r.Code))
	}
	// RFC 3463 §2/RFC 2034 §4: the enhanced code starts each line's text,
	// and its class must match the reply's.
	// When the lines disagree on the code, the first line's enhanced code
	// belongs to the wrong class; the last line's goes with Code.
	for _, i := range []int{0, len(r.Lines) - 1} {
		if i < 0 || r.Enhanced != "" {
			continue
		}
		if enh, _ := replycode.EnhancedFromText(r.Lines[i]); enh != "" && int(enh[0]-'0') == r.Code/100 {
			r.Enhanced = enh
		}
	}
	return r, nil
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}

func appendOnce(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// parseLine splits "250-text", "250 text" or "250". sep is '-', ' ' or 0.
func parseLine(line string) (code int, sep byte, text string, err error) {
	if len(line) < 3 {
		return 0, 0, "", fmt.Errorf("%w: %q", ErrMalformed, netx.Clip(line))
	}
	for i := 0; i < 3; i++ {
		c := line[i]
		if c < '0' || c > '9' {
			return 0, 0, "", fmt.Errorf("%w: %q does not start with a three-digit code", ErrMalformed, netx.Clip(line))
		}
		code = code*10 + int(c-'0')
	}
	if len(line) == 3 {
		return code, ' ', "", nil
	}
	switch line[3] {
	case ' ', '-':
		return code, line[3], line[4:], nil
	}
	if line[3] >= '0' && line[3] <= '9' {
		return 0, 0, "", fmt.Errorf("%w: %q has more than three digits in its code", ErrMalformed, netx.Clip(line))
	}
	return code, 0, line[3:], nil
}
