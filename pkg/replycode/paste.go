package replycode

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strings"

	"github.com/mailprobe/mailprobe/internal/lazyre"
)

// Pasted is one reply found in what a user pasted: a reply line, a DSN
// field, a Postfix or Exim log line, or a recipient of a bounce message.
type Pasted struct {
	Code     int    `json:"code,omitempty"`
	Enhanced string `json:"enhanced,omitempty"`
	Text     string `json:"text,omitempty"`
	// Source says what the reply was read from: "reply", "dsn",
	// "postfix-log", "exim-log" or "bounce".
	Source string `json:"source"`
	// Recipient, Action and RemoteMTA come from a DSN (RFC 3464) or a
	// log line when it names them.
	Recipient string `json:"recipient,omitempty"`
	Action    string `json:"action,omitempty"`
	RemoteMTA string `json:"remote_mta,omitempty"`
}

// MaxPaste bounds the text ParsePaste and ParseBounce read.
const MaxPaste = 10 << 20

var (
	// Postfix: "... said: 550 5.1.1 <x>: Recipient address rejected (in reply to RCPT TO command)"
	postfixSaid = lazyre.New(`(?i)(?:host\s+(\S+)\s+)?said:\s*([2-5][0-5][0-9][ -].*?)\s*(?:\(in reply to [^)]*\))?\)?\s*$`)
	postfixTo   = lazyre.New(`\bto=<([^>]*)>`)
	postfixStat = lazyre.New(`\bstatus=(\w+)`)
	postfixDSN  = lazyre.New(`\bdsn=([245]\.\d{1,3}\.\d{1,3})`)
	// Exim: "** bob@example.com R=dnslookup T=remote_smtp H=mx.example.com [192.0.2.1]: SMTP error from remote mail server after RCPT TO:<bob@example.com>: 550 5.1.1 ..."
	eximError = lazyre.New(`(?i)SMTP error from remote (?:mail server|mailer|server) after [^:]*(?::<[^>]*>)?(?:\s+\S+)*?:\s*([2-5][0-5][0-9][ -].*)$`)
	eximRcpt  = lazyre.New(`^(?:\S+\s+\S+\s+)?(?:\S+\s+)?(?:\*\*|==|->|=>)\s+(\S+@\S+)`)
	eximHost  = lazyre.New(`\bH=(\S+)`)
)

// ParsePaste finds the replies in pasted text: every line that is a DSN
// Diagnostic-Code or Status, a Postfix or Exim log line, else the text as
// one (possibly multi-line) reply. It returns none when nothing looks like
// an SMTP reply.
func ParsePaste(s string) []Pasted {
	if len(s) > MaxPaste {
		s = s[:MaxPaste]
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	if code, enh, text, ok := ParseReplyLine(strings.TrimSpace(s)); ok {
		return []Pasted{{Code: code, Enhanced: enh, Text: text, Source: "reply"}}
	}
	var out []Pasted
	var status string // a Status: line waiting for its Diagnostic-Code
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if p, ok := parseDSNField(line); ok {
			if p.Code == 0 && p.Enhanced != "" {
				status = p.Enhanced
				out = append(out, p)
				continue
			}
			// A Diagnostic-Code after its Status: one reply.
			if n := len(out); n > 0 && out[n-1].Code == 0 && out[n-1].Enhanced == status && status != "" {
				if p.Enhanced == "" {
					p.Enhanced = status
				}
				out[n-1] = p
				status = ""
				continue
			}
			out = append(out, p)
			continue
		}
		if p, ok := parsePostfixLog(line); ok {
			out = append(out, p)
			continue
		}
		if p, ok := parseEximLog(line); ok {
			out = append(out, p)
			continue
		}
		if code, enh, text, ok := ParseReplyLine(line); ok {
			out = append(out, Pasted{Code: code, Enhanced: enh, Text: text, Source: "reply"})
		}
	}
	return out
}

// parseDSNField reads "Diagnostic-Code: smtp; 550 5.1.1 ..." and
// "Status: 5.1.1" (RFC 3464 §2.3.4, §2.3.6).
func parseDSNField(line string) (Pasted, bool) {
	name, value, ok := strings.Cut(line, ":")
	if !ok {
		return Pasted{}, false
	}
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "diagnostic-code":
		typ, diag, ok := strings.Cut(value, ";")
		if !ok || !strings.EqualFold(strings.TrimSpace(typ), "smtp") {
			return Pasted{}, false
		}
		code, enh, text, ok := ParseReplyLine(strings.TrimSpace(diag))
		if !ok {
			// Some MTAs put only text there.
			enh, rest := EnhancedFromText(strings.TrimSpace(diag))
			return Pasted{Enhanced: enh, Text: rest, Source: "dsn"}, enh != "" || rest != ""
		}
		return Pasted{Code: code, Enhanced: enh, Text: text, Source: "dsn"}, true
	case "status":
		v := strings.Fields(value)
		if len(v) == 0 {
			return Pasted{}, false
		}
		if _, _, _, ok := ParseEnhanced(v[0]); ok {
			return Pasted{Enhanced: v[0], Source: "dsn"}, true
		}
	}
	return Pasted{}, false
}

func parsePostfixLog(line string) (Pasted, bool) {
	if !strings.Contains(line, "status=") && !strings.Contains(line, "said:") {
		return Pasted{}, false
	}
	p := Pasted{Source: "postfix-log"}
	if m := postfixTo.FindStringSubmatch(line); m != nil {
		p.Recipient = m[1]
	}
	if m := postfixStat.FindStringSubmatch(line); m != nil {
		p.Action = m[1]
	}
	if m := postfixSaid.FindStringSubmatch(line); m != nil {
		p.RemoteMTA = m[1]
		code, enh, text, ok := ParseReplyLine(m[2])
		if !ok {
			return Pasted{}, false
		}
		p.Code, p.Enhanced, p.Text = code, enh, text
		return p, true
	}
	// A local bounce without a remote reply: status=bounced (... ) dsn=5.1.1.
	if m := postfixDSN.FindStringSubmatch(line); m != nil && p.Action != "" {
		p.Enhanced = m[1]
		if i := strings.Index(line, "status="+p.Action); i >= 0 {
			if _, why, ok := strings.Cut(line[i:], "("); ok {
				p.Text = strings.TrimSuffix(strings.TrimSpace(why), ")")
			}
		}
		return p, true
	}
	return Pasted{}, false
}

func parseEximLog(line string) (Pasted, bool) {
	m := eximError.FindStringSubmatch(line)
	if m == nil {
		return Pasted{}, false
	}
	code, enh, text, ok := ParseReplyLine(m[1])
	if !ok {
		return Pasted{}, false
	}
	p := Pasted{Code: code, Enhanced: enh, Text: text, Source: "exim-log"}
	if r := eximRcpt.FindStringSubmatch(line); r != nil {
		p.Recipient = strings.TrimRight(r[1], ":")
	}
	if h := eximHost.FindStringSubmatch(line); h != nil {
		p.RemoteMTA = h[1]
	}
	return p, true
}

// ErrNotABounce is ParseBounce's error for a message without a
// message/delivery-status part.
var ErrNotABounce = errors.New("no message/delivery-status part (RFC 3464): not a bounce message")

// ParseBounce reads a bounce message (a multipart/report with a
// message/delivery-status part, RFC 6522 and RFC 3464) and returns one
// Pasted per recipient, with its Action, Status and Diagnostic-Code.
func ParseBounce(r io.Reader) ([]Pasted, error) {
	m, err := mail.ReadMessage(bufio.NewReader(io.LimitReader(r, MaxPaste)))
	if err != nil {
		return nil, err
	}
	var out []Pasted
	found := false
	var walk func(ct string, body io.Reader, depth int) error
	walk = func(ct string, body io.Reader, depth int) error {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil {
			return nil
		}
		switch {
		case strings.EqualFold(mt, "message/delivery-status"), strings.EqualFold(mt, "message/global-delivery-status"):
			found = true
			b, err := io.ReadAll(io.LimitReader(body, MaxPaste))
			if err != nil {
				return err
			}
			out = append(out, deliveryStatus(b)...)
		case strings.HasPrefix(strings.ToLower(mt), "multipart/") && depth < 8:
			mr := multipart.NewReader(body, params["boundary"])
			for i := 0; i < 100; i++ {
				part, err := mr.NextPart()
				if err != nil {
					break
				}
				pct := part.Header.Get("Content-Type")
				if pct == "" {
					pct = "text/plain"
				}
				if err := walk(pct, part, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	ct := m.Header.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	if err := walk(ct, m.Body, 0); err != nil {
		return nil, err
	}
	if !found {
		return nil, ErrNotABounce
	}
	return out, nil
}

// deliveryStatus reads the per-recipient field groups of a
// delivery-status body (RFC 3464 §2.1: per-message fields, then one group
// per recipient, groups separated by blank lines).
func deliveryStatus(b []byte) []Pasted {
	tr := textproto.NewReader(bufio.NewReader(bytes.NewReader(b)))
	var out []Pasted
	first := true
	for i := 0; i < 1000; i++ {
		h, err := tr.ReadMIMEHeader()
		if len(h) > 0 {
			if first && h.Get("Final-Recipient") == "" && h.Get("Original-Recipient") == "" {
				first = false // the per-message group
			} else {
				first = false
				p := Pasted{Source: "bounce", Action: strings.TrimSpace(h.Get("Action"))}
				p.Recipient = addrOf(h.Get("Final-Recipient"))
				if p.Recipient == "" {
					p.Recipient = addrOf(h.Get("Original-Recipient"))
				}
				if mta := h.Get("Remote-MTA"); mta != "" {
					p.RemoteMTA = addrOf(mta)
				}
				if d, ok := parseDSNField("Diagnostic-Code: " + h.Get("Diagnostic-Code")); ok && h.Get("Diagnostic-Code") != "" {
					p.Code, p.Enhanced, p.Text = d.Code, d.Enhanced, d.Text
				}
				if st := strings.Fields(h.Get("Status")); len(st) > 0 {
					if _, _, _, ok := ParseEnhanced(st[0]); ok && p.Enhanced == "" {
						p.Enhanced = st[0]
					}
				}
				if p.Code != 0 || p.Enhanced != "" {
					out = append(out, p)
				}
			}
		}
		if err != nil {
			break
		}
	}
	return out
}

// addrOf is the address of "rfc822; bob@example.com".
func addrOf(v string) string {
	if _, a, ok := strings.Cut(v, ";"); ok {
		return strings.TrimSpace(a)
	}
	return strings.TrimSpace(v)
}
