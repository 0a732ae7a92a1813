package dialogue

import (
	"fmt"
	"github.com/mailprobe/mailprobe/pkg/smtpclient"
	"regexp"
	"strconv"
	"strings"

	"github.com/mailprobe/mailprobe/pkg/replycode"
)

// Expectation is what an expect step (or a compound step such as ehlo)
// accepts as the server's answer. The answer is an Outcome: a reply, no
// reply within the step's deadline ("none"), or the connection closed or
// reset by the server ("close"). An expectation matches when any of its
// alternatives matches, and then, for a reply, when its enhanced status
// code and text match the optional patterns too.
type Expectation struct {
	// Codes are three-character reply code patterns: digits, or "x" for
	// any digit ("250", "25x", "5xx").
	Codes []string
	Any   bool // any well-formed reply
	None  bool // no reply within the deadline
	Close bool // the server closed or reset the connection

	// Enhanced is an RFC 3463 status code pattern, "x" or "*" for a
	// whole sub-code ("5.7.1", "5.7.x", "2.*.*"); "" = not checked.
	Enhanced string
	// Spec is the alternatives as written ("none|close|5xx"), for messages.
	Spec string
	// Regex is matched against the reply text, one line per reply line
	// (without codes), joined by "\n"; nil = not checked.
	Regex    *regexp.Regexp
	RegexSrc string // as written, with slashes and flags
}

// OutcomeKind says what came back when a step waited for the server.
type OutcomeKind string

const (
	OutcomeReply OutcomeKind = "reply"
	OutcomeNone  OutcomeKind = "none"  // nothing within the deadline
	OutcomeClose OutcomeKind = "close" // closed or reset by the server
)

// Outcome is the server's answer to a step.
type Outcome struct {
	Kind  OutcomeKind
	Reply smtpclient.Reply // for OutcomeReply
}

func (o Outcome) String() string {
	switch o.Kind {
	case OutcomeNone:
		return "no reply"
	case OutcomeClose:
		return "the connection closed"
	case "":
		return "nothing yet"
	}
	return o.Reply.Short()
}

// classWords are the readable names of reply classes (RFC 5321 §4.2.1).
var classWords = map[string][]string{
	"success":      {"2xx"},
	"intermediate": {"3xx"},
	"positive":     {"2xx", "3xx"},
	"temporary":    {"4xx"},
	"transient":    {"4xx"},
	"permanent":    {"5xx"},
	"negative":     {"4xx", "5xx"},
	"failure":      {"4xx", "5xx"},
}

// parseOutcomeSpec reads the alternatives of an expectation: "250",
// "2xx|3xx", "none|close|5xx", "success".
func parseOutcomeSpec(spec string, e *Expectation) error {
	if spec == "" {
		return fmt.Errorf("missing reply code")
	}
	e.Spec = spec
	for _, alt := range strings.Split(spec, "|") {
		a := strings.ToLower(alt)
		switch {
		case a == "":
			return fmt.Errorf("empty alternative in %q (write 250|251, without spaces)", spec)
		case a == "any":
			e.Any = true
		case a == "none":
			e.None = true
		case a == "close" || a == "closed":
			e.Close = true
		case classWords[a] != nil:
			e.Codes = append(e.Codes, classWords[a]...)
		case isCodePattern(a):
			e.Codes = append(e.Codes, a)
		default:
			return fmt.Errorf("%q is not a reply code: write a code (250), a class (2xx, 25x, success, permanent, negative...), any, none or close", alt)
		}
	}
	return nil
}

// isCodePattern accepts three characters, digits or x, with a first digit
// of 2 to 5 (RFC 5321 §4.2: the only reply classes) and no digit after an x.
func isCodePattern(s string) bool {
	if len(s) != 3 || s[0] < '2' || s[0] > '5' {
		return false
	}
	wild := false
	for i := 1; i < 3; i++ {
		switch c := s[i]; {
		case c == 'x':
			wild = true
		case c >= '0' && c <= '9' && !wild:
		default:
			return false
		}
	}
	return true
}

// parseEnhancedPattern checks an enhanced code pattern: class "." subject
// "." detail, where subject and detail are 1-3 digits (RFC 3463 §2) or a
// wildcard.
func parseEnhancedPattern(s string) (string, error) {
	p := strings.Split(strings.ToLower(s), ".")
	if len(p) != 3 {
		return "", fmt.Errorf("enhanced code %q is not class.subject.detail (5.7.1, 5.7.x)", s)
	}
	if p[0] != "2" && p[0] != "4" && p[0] != "5" && p[0] != "x" && p[0] != "*" {
		return "", fmt.Errorf("enhanced code %q: the class must be 2, 4 or 5 (RFC 3463 §3.1)", s)
	}
	for _, part := range p[1:] {
		if part == "x" || part == "*" {
			continue
		}
		if _, err := strconv.Atoi(part); err != nil || len(part) > 3 || part == "" || part[0] == '-' || part[0] == '+' {
			return "", fmt.Errorf("enhanced code %q: %q is not 1 to 3 digits or x", s, part)
		}
	}
	for i := range p {
		if p[i] == "*" {
			p[i] = "x"
		}
	}
	return strings.Join(p, "."), nil
}

// parseRegex reads /re/flags; flags are i (case-insensitive) and s (dot
// matches newline). The expression is RE2 (Go's regexp): linear time, so
// a script cannot make the runner hang on a hostile reply.
func parseRegex(tok string) (*regexp.Regexp, error) {
	end := strings.LastIndexByte(tok, '/')
	if len(tok) < 2 || tok[0] != '/' || end == 0 {
		return nil, fmt.Errorf("regular expression %q must be written /expr/ or /expr/i", tok)
	}
	expr, flags := tok[1:end], tok[end+1:]
	expr = strings.ReplaceAll(expr, `\/`, `/`)
	prefix := ""
	for _, f := range flags {
		switch f {
		case 'i', 's', 'm':
			if !strings.ContainsRune(prefix, f) {
				prefix += string(f)
			}
		default:
			return nil, fmt.Errorf("regular expression %s: unknown flag %q (i, s and m are known)", tok, f)
		}
	}
	if prefix != "" {
		expr = "(?" + prefix + ")" + expr
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("regular expression %s: %v", tok, err)
	}
	return re, nil
}

// Match reports whether the outcome satisfies the expectation.
func (e *Expectation) Match(o Outcome) bool {
	switch o.Kind {
	case OutcomeNone:
		return e.None
	case OutcomeClose:
		return e.Close
	case OutcomeReply:
	default:
		return false
	}
	ok := e.Any
	code := fmt.Sprintf("%03d", o.Reply.Code)
	for _, p := range e.Codes {
		if matchPattern(p, code) {
			ok = true
			break
		}
	}
	if !ok {
		return false
	}
	if e.Enhanced != "" {
		enh := o.Reply.Enhanced
		if enh == "" {
			// A reply whose enhanced code's class contradicts the basic
			// code has Enhanced empty (reply.go); look at the text, so
			// that the pattern can still say what the server wrote.
			enh, _ = replycode.EnhancedFromText(firstLine(o.Reply))
		}
		if enh == "" || !matchEnhanced(e.Enhanced, enh) {
			return false
		}
	}
	if e.Regex != nil && !e.Regex.MatchString(strings.Join(o.Reply.Lines, "\n")) {
		return false
	}
	return true
}

func firstLine(r smtpclient.Reply) string {
	if len(r.Lines) == 0 {
		return ""
	}
	return r.Lines[0]
}

func matchPattern(p, code string) bool {
	if len(p) != len(code) {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] != 'x' && p[i] != code[i] {
			return false
		}
	}
	return true
}

func matchEnhanced(pattern, enh string) bool {
	p, e := strings.Split(pattern, "."), strings.Split(enh, ".")
	if len(e) != 3 {
		return false
	}
	for i := range p {
		if p[i] != "x" && p[i] != e[i] {
			return false
		}
	}
	return true
}

// String writes the expectation the way a script would.
func (e *Expectation) String() string {
	var alts []string
	alts = append(alts, e.Codes...)
	if e.Any {
		alts = append(alts, "any")
	}
	if e.None {
		alts = append(alts, "none")
	}
	if e.Close {
		alts = append(alts, "close")
	}
	s := strings.Join(alts, "|")
	if e.Spec != "" {
		s = e.Spec
	}
	if e.Enhanced != "" {
		s += " enhanced " + e.Enhanced
	}
	if e.RegexSrc != "" {
		s += " " + e.RegexSrc
	}
	return s
}

// expectCode builds the built-in expectation of a compound step.
func expectCode(codes ...string) *Expectation { return &Expectation{Codes: codes} }
