package dialogue

import (
	"fmt"
	"strings"

	"github.com/mailprobe/mailprobe/pkg/netx"
)

// Variables and escapes.
//
// A template is text from a script with ${NAME} references. "$$" is a
// literal dollar sign; a "$" followed by anything else is literal too.
// Variable values are inserted verbatim, never re-expanded and never
// unescaped: a value given with --var cannot smuggle a CR LF into a
// command line, only an escape written in the script itself can.
//
// In send and sendraw lines (and only there), backslash escapes put bytes
// on the wire that a text file cannot hold or an editor would mangle:
// \r \n \t \\ and \xHH. An unknown escape is a syntax error rather than a
// guess, because these lines exist to send exact bytes.

// validVarName reports whether s is a variable name: a letter or
// underscore, then letters, digits and underscores.
func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// expandTemplate renders tmpl. lookup returns a variable's value; a
// reference to an unknown variable is an error naming it. With escapes,
// backslash sequences are decoded.
func expandTemplate(tmpl string, escapes bool, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	b.Grow(len(tmpl))
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		switch {
		case c == '$' && i+1 < len(tmpl) && tmpl[i+1] == '$':
			b.WriteByte('$')
			i++
		case c == '$' && i+1 < len(tmpl) && tmpl[i+1] == '{':
			end := strings.IndexByte(tmpl[i+2:], '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated variable reference %q (write ${NAME}, or $$ for a dollar sign)", netx.Clip(tmpl[i:]))
			}
			name := tmpl[i+2 : i+2+end]
			if !validVarName(name) {
				return "", fmt.Errorf("%q is not a variable name (letters, digits and _, not starting with a digit)", name)
			}
			if lookup != nil {
				v, ok := lookup(name)
				if !ok {
					return "", &undefinedVarError{name}
				}
				b.WriteString(v)
			}
			i += 2 + end
		case c == '\\' && escapes:
			if i+1 >= len(tmpl) {
				return "", fmt.Errorf(`a line cannot end with a single backslash (write \\ for a backslash)`)
			}
			i++
			switch tmpl[i] {
			case 'r':
				b.WriteByte('\r')
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case '\\':
				b.WriteByte('\\')
			case 'x':
				if i+2 >= len(tmpl) || unhex(tmpl[i+1]) < 0 || unhex(tmpl[i+2]) < 0 {
					return "", fmt.Errorf(`\x needs two hex digits (\x00 to \xff)`)
				}
				b.WriteByte(byte(unhex(tmpl[i+1])<<4 | unhex(tmpl[i+2])))
				i += 2
			default:
				return "", fmt.Errorf(`unknown escape \%c (known: \r \n \t \\ \xHH)`, tmpl[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

type undefinedVarError struct{ name string }

func (e *undefinedVarError) Error() string {
	return fmt.Sprintf("${%s} is not set: pass --var %s=VALUE, or add \"default %s VALUE\" to the script", e.name, e.name, e.name)
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// checkTemplate checks a template's syntax without values.
func checkTemplate(tmpl string, escapes bool) error {
	_, err := expandTemplate(tmpl, escapes, nil)
	return err
}

// quoteSend writes b as the argument of a send line: the inverse of
// expandTemplate with escapes, used when the shell saves a session as a
// script.
func quoteSend(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '$':
			b.WriteString("$$")
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	out := b.String()
	// Leading and trailing blanks would be trimmed by the parser.
	if strings.HasPrefix(out, " ") {
		out = `\x20` + out[1:]
	}
	if strings.HasSuffix(out, " ") {
		out = out[:len(out)-1] + `\x20`
	}
	return out
}

// quoteBody escapes a body line's dollar signs.
func quoteBody(s string) string { return strings.ReplaceAll(s, "$", "$$") }
