package arc

import (
	"bytes"
	"strings"
)

// field is one header field of the message as it was: Raw keeps the name,
// the colon, the value and every fold, without the final CRLF.
type field struct {
	Name string // as written
	Raw  string
}

func (f field) value() string {
	_, v, _ := strings.Cut(f.Raw, ":")
	return v
}

// maxHeaderFields bounds the header fields read from one message.
const maxHeaderFields = 2000

// splitMessage separates the header fields from the body. Line ends are
// made CRLF first (messages from files and test suites often carry bare
// LF; on the wire they are CRLF, which is what signatures cover).
func splitMessage(msg []byte) (fields []field, body []byte, err error) {
	msg = toCRLF(msg)
	for len(msg) > 0 {
		if bytes.HasPrefix(msg, []byte("\r\n")) {
			return fields, msg[2:], nil
		}
		// A field runs to the CRLF not followed by WSP.
		end := 0
		for {
			i := bytes.Index(msg[end:], []byte("\r\n"))
			if i < 0 {
				end = len(msg)
				break
			}
			end += i + 2
			if end >= len(msg) || (msg[end] != ' ' && msg[end] != '\t') {
				break
			}
		}
		raw := strings.TrimSuffix(string(msg[:end]), "\r\n")
		name, _, ok := strings.Cut(raw, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, nil, errMalformed("a header line without a field name: %.60q", raw)
		}
		if len(fields) == maxHeaderFields {
			return nil, nil, errMalformed("more than %d header fields", maxHeaderFields)
		}
		fields = append(fields, field{Name: name, Raw: raw})
		msg = msg[end:]
	}
	return fields, nil, nil
}

func toCRLF(b []byte) []byte {
	if !bytes.Contains(b, []byte("\n")) {
		return b
	}
	out := make([]byte, 0, len(b)+bytes.Count(b, []byte("\n")))
	for i := 0; i < len(b); i++ {
		if b[i] == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, b[i])
	}
	return out
}

// canonHeader canonicalizes one field (RFC 6376 §3.4.1, §3.4.2) and
// returns it with its CRLF.
func canonHeader(raw string, relaxed bool) string {
	if !relaxed {
		return raw + "\r\n"
	}
	name, value, _ := strings.Cut(raw, ":")
	name = strings.ToLower(strings.TrimRight(name, " \t"))
	value = strings.ReplaceAll(value, "\r\n", "")
	value = collapseWSP(value)
	return name + ":" + strings.TrimSpace(value) + "\r\n"
}

// collapseWSP turns every run of spaces and tabs into one space.
func collapseWSP(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	wsp := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' {
			wsp = true
			continue
		}
		if wsp {
			b.WriteByte(' ')
			wsp = false
		}
		b.WriteByte(c)
	}
	if wsp {
		b.WriteByte(' ')
	}
	return b.String()
}

// canonBody canonicalizes the body (RFC 6376 §3.4.3, §3.4.4).
func canonBody(body []byte, relaxed bool) []byte {
	lines := bytes.SplitAfter(body, []byte("\r\n"))
	var out bytes.Buffer
	out.Grow(len(body) + 2)
	for _, l := range lines {
		if len(l) == 0 {
			continue
		}
		if relaxed {
			content := bytes.TrimSuffix(l, []byte("\r\n"))
			content = []byte(strings.TrimRight(collapseWSP(string(content)), " "))
			out.Write(content)
			if bytes.HasSuffix(l, []byte("\r\n")) {
				out.WriteString("\r\n")
			}
			continue
		}
		out.Write(l)
	}
	b := out.Bytes()
	// A last line without CRLF gets one, then trailing empty lines go.
	if len(b) > 0 && !bytes.HasSuffix(b, []byte("\r\n")) {
		b = append(b, '\r', '\n')
	}
	for bytes.HasSuffix(b, []byte("\r\n\r\n")) {
		b = b[:len(b)-2]
	}
	if len(b) == 0 && !relaxed {
		return []byte("\r\n")
	}
	if bytes.Equal(b, []byte("\r\n")) && relaxed {
		return nil
	}
	return b
}
