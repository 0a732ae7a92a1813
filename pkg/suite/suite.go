// Package suite reads mailprobe.yaml: a list of checks written as the
// command lines a user would type, so every flag of every command works
// in a suite and a suite line can be pasted into a terminal to debug it.
// The runner (`mailprobe check -f`) lives in pkg/cli; this package only
// parses and validates the file.
package suite

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mailprobe/mailprobe/internal/lazyre"
)

// Suite is a mailprobe.yaml file:
//
//	timeout: 60s        # per check, unless the line has its own --timeout
//	parallel: 4
//	checks:
//	  - name: submission
//	    run: smtp check smtp.example.com:587 --user ci@example.com --password-env SMTP_PASSWORD
//	  - dns example.com
type Suite struct {
	Timeout  string  `yaml:"timeout"`
	Parallel int     `yaml:"parallel"`
	Checks   []Check `yaml:"checks"`
}

// Check is one line of a suite: a string, or {name, run} (Load reads
// the YAML nodes itself, to report every problem with its line).
type Check struct {
	Name string `yaml:"name"`
	Run  string `yaml:"run"`
	// Line is the check's line in the file (1-based).
	Line int `yaml:"-"`
}

// Commands are the commands that produce a report and may appear in a
// suite: not capture, shell, explain or check itself.
var Commands = map[string]bool{
	"smtp check": true, "smtp send": true, "smtp script": true, "reset send": true,
	"imap audit": true, "pop3 audit": true, "tls": true, "dns": true, "spf": true,
	"dkim check": true, "dkim verify": true, "dmarc": true, "arc verify": true,
	"audit": true,
}

// Run is one check ready to run: its name and its arguments (without the
// leading "mailprobe").
type Run struct {
	Name string
	Args []string
	// Raw is the line as written, before ${VAR} expansion: the runner
	// finds the variables inside secret-bearing values in it.
	Raw string
	// Named is true when the file gave the name; otherwise Name is the
	// command words and the target, never the rest of the line.
	Named bool
	// Line is the check's line in the suite file (0 for a batch line).
	Line int
	// Target is the command's first argument, once the runner has
	// parsed the line.
	Target string
	// Number is the check's 1-based position in the file.
	Number int
}

// Bounds of a suite file: a suite is a handful of command lines, and a
// file or line far beyond these is a mistake (or an attack) that must not
// cost memory or fill a report.
const (
	MaxFileSize = 1 << 20  // bytes of a suite file
	MaxLineSize = 16 << 10 // bytes of one check's run line, before and after ${VAR} expansion
	MaxNameSize = 200      // bytes of a check's name
)

// Problem is one thing wrong in a suite file: where (the line, and the
// check's number when it is inside a check) and what. It never quotes a
// check's line: the line may hold a password.
type Problem struct {
	Line  int // 1-based; 0 when unknown
	Check int // 1-based; 0 for the file itself
	Msg   string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Check > 0 {
		fmt.Fprintf(&b, "check %d: ", p.Check)
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every problem of a file, in file order: a user fixes them
// all in one go instead of one run at a time.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Load reads and validates a suite file into command lines. ${VAR} is
// replaced by getenv(VAR) inside each word once the line is split (only
// the braced form: "$5" in a line is text); a ${VAR} that is not set (or
// empty) is a problem. The error, when not nil, is Problems listing
// every problem found; the runs returned are the checks without one, so
// the caller can add its own problems (a bad flag) to the list.
func Load(b []byte, getenv func(string) string) ([]Run, Suite, error) {
	var s Suite
	if len(b) > MaxFileSize {
		return nil, s, Problems{{Msg: fmt.Sprintf("the file is larger than %d bytes (%d KiB); a suite is a list of command lines", MaxFileSize, MaxFileSize>>10)}}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		// yaml's syntax errors say "yaml: line N: ..."; keep the line,
		// drop the package name.
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		return nil, s, Problems{{Msg: msg}}
	}
	var ps Problems
	if len(root.Content) == 0 {
		return nil, s, Problems{{Msg: "no checks: the file needs a \"checks:\" list"}}
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, s, Problems{{Line: doc.Line, Msg: "the file must be a mapping with a \"checks:\" list (and optional timeout:, parallel:)"}}
	}
	var checks *yaml.Node
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k, v := doc.Content[i], doc.Content[i+1]
		switch k.Value {
		case "timeout":
			if d, err := time.ParseDuration(v.Value); v.Kind != yaml.ScalarNode || err != nil || d <= 0 {
				ps = append(ps, Problem{Line: v.Line, Msg: fmt.Sprintf("timeout %q: want a duration such as 60s", v.Value)})
			} else {
				s.Timeout = v.Value
			}
		case "parallel":
			n, err := strconv.Atoi(v.Value)
			if v.Kind != yaml.ScalarNode || err != nil || n < 1 || n > 64 {
				ps = append(ps, Problem{Line: v.Line, Msg: fmt.Sprintf("parallel %q: want a number from 1 to 64", v.Value)})
			} else {
				s.Parallel = n
			}
		case "checks":
			if v.Kind != yaml.SequenceNode {
				ps = append(ps, Problem{Line: v.Line, Msg: "checks: want a list of command lines"})
			} else {
				checks = v
			}
		default:
			ps = append(ps, Problem{Line: k.Line, Msg: unknownKey(k.Value, "timeout", "parallel", "checks")})
		}
	}
	if checks == nil || len(checks.Content) == 0 {
		if checks != nil || len(ps) == 0 {
			ps = append(ps, Problem{Line: doc.Line, Msg: "no checks: the file needs a \"checks:\" list"})
		}
		return nil, s, ps
	}
	var runs []Run
	for i, n := range checks.Content {
		num := i + 1
		c, cps := check(n, num)
		ps = append(ps, cps...)
		if c.Run == "" {
			continue
		}
		s.Checks = append(s.Checks, c)
		bad := func(format string, args ...any) {
			ps = append(ps, Problem{Line: c.Line, Check: num, Msg: fmt.Sprintf(format, args...)})
		}
		if len(c.Run) > MaxLineSize {
			bad("the line is %d bytes, more than the %d a check line may have", len(c.Run), MaxLineSize)
			continue
		}
		if len(c.Name) > MaxNameSize {
			bad("the name is %d bytes, more than the %d a name may have", len(c.Name), MaxNameSize)
			continue
		}
		// Problems name the check by number, never by its text: the
		// line may hold a password given with --password.
		args, err := SplitArgs(c.Run)
		if err != nil {
			bad("%v", err)
			continue
		}
		// ${VAR}s are replaced inside each word, after the split: a
		// value with spaces or quotes (a password) stays one argument
		// and cannot add flags to the line.
		var unset []string
		lookup := func(k string) string {
			v := getenv(k)
			if v == "" && !slices.Contains(unset, k) {
				unset = append(unset, k)
			}
			return v
		}
		size := 0
		for j, a := range args {
			args[j] = ExpandBraced(a, lookup)
			size += len(args[j]) + 1
		}
		for _, k := range unset {
			bad("${%s} is not set", k)
		}
		if len(unset) > 0 {
			continue
		}
		if size > MaxLineSize {
			bad("the line is %d bytes once ${VAR}s are replaced, more than the %d a check line may have", size, MaxLineSize)
			continue
		}
		if len(args) > 0 && args[0] == "mailprobe" {
			args = args[1:]
		}
		if len(args) == 0 {
			bad("empty command")
			continue
		}
		if s.Timeout != "" && !HasFlag(args, "--timeout") {
			args = append(args, "--timeout", s.Timeout)
		}
		name, named := c.Name, c.Name != ""
		if !named {
			name = DefaultName(args)
		}
		runs = append(runs, Run{Name: name, Args: args, Raw: c.Run, Named: named, Line: c.Line, Number: num})
	}
	if len(ps) > 0 {
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
		return runs, s, ps
	}
	return runs, s, nil
}

// check reads one item of checks: a command line, or {name, run}.
func check(n *yaml.Node, num int) (Check, Problems) {
	c := Check{Line: n.Line}
	switch n.Kind {
	case yaml.ScalarNode:
		c.Run = n.Value
		if strings.TrimSpace(c.Run) == "" {
			return c, Problems{{Line: n.Line, Check: num, Msg: "empty command"}}
		}
		return c, nil
	case yaml.MappingNode:
	default:
		return c, Problems{{Line: n.Line, Check: num, Msg: "want a command line, or name: and run:"}}
	}
	var ps Problems
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value != "name" && k.Value != "run" {
			ps = append(ps, Problem{Line: k.Line, Check: num, Msg: unknownKey(k.Value, "name", "run")})
			continue
		}
		if v.Kind != yaml.ScalarNode {
			ps = append(ps, Problem{Line: v.Line, Check: num, Msg: k.Value + ": want text"})
			continue
		}
		if k.Value == "name" {
			c.Name = v.Value
		} else {
			c.Run, c.Line = v.Value, v.Line
		}
	}
	if c.Run == "" {
		ps = append(ps, Problem{Line: n.Line, Check: num, Msg: "no run: (the command line to run)"})
	}
	return c, ps
}

// unknownKey says a key is not one of known, suggesting the closest.
func unknownKey(key string, known ...string) string {
	msg := fmt.Sprintf("unknown key %q", key)
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return msg + fmt.Sprintf(" (did you mean %q)", best)
	}
	return msg + " (known: " + strings.Join(known, ", ") + ")"
}

// editDistance is the Levenshtein distance, with a transposition
// counting as one edit ("chekcs" is one from "checks").
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 99
	}
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// DefaultName names a check that has no name of its own: the words before
// the first flag (the command and its target), at most three, each clipped.
// The rest of the line (flags, values, perhaps a password) is never part
// of a name.
func DefaultName(args []string) string {
	var words []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") || len(words) == 3 {
			break
		}
		if len(a) > 80 {
			a = a[:80] + "…"
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}

// HasFlag reports whether args set flag (as "--flag" or "--flag=v").
func HasFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == flag || strings.HasPrefix(a, flag+"=") {
			return true
		}
	}
	return false
}

// SplitArgs splits a command line like a POSIX shell does for words:
// whitespace separates, single quotes keep everything, double quotes keep
// everything but \" and \\, a backslash outside quotes escapes the next
// character. No globbing, no variables (done before), no operators.
func SplitArgs(s string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated single quote")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, errors.New("unterminated double quote")
			}
			inWord = true
		case ch == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f':
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		case ch == '|' || ch == ';' || ch == '&' || ch == '>' || ch == '<' || ch == '`':
			return nil, fmt.Errorf("%q: a check is one mailprobe command, not a shell pipeline", string(ch))
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args, nil
}

var bracedVar = lazyre.New(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// ExpandBraced replaces ${VAR} only: "$5" or "$HOME" in a check line is
// text, as the suite documentation promises.
func ExpandBraced(s string, getenv func(string) string) string {
	return bracedVar.ReplaceAllStringFunc(s, func(m string) string { return getenv(m[2 : len(m)-1]) })
}
