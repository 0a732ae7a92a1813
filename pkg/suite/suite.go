// Package suite reads mailprobe.yaml: a list of checks written as the
// command lines a user would type, so every flag of every command works
// in a suite and a suite line can be pasted into a terminal to debug it.
// The runner (`mailprobe check -f`) lives in pkg/cli; this package only
// parses and validates the file.
package suite

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
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

// Check is one line of a suite: a string, or {name, run}.
type Check struct {
	Name string `yaml:"name"`
	Run  string `yaml:"run"`
	// Line is the check's line in the file (1-based).
	Line int `yaml:"-"`
}

// UnmarshalYAML accepts the short form: a plain string is Run.
func (c *Check) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		c.Run, c.Line = n.Value, n.Line
		return nil
	}
	type plain Check
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*c = Check(p)
	c.Line = n.Line
	return nil
}

// Commands are the commands that produce a report and may appear in a
// suite: not capture, shell, explain or check itself.
var Commands = map[string]bool{
	"smtp check": true, "smtp send": true, "smtp script": true, "reset send": true,
	"imap audit": true, "pop3 audit": true, "tls": true, "dns": true, "spf": true,
	"dkim check": true, "dkim verify": true, "dmarc": true, "arc verify": true,
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
}

// Bounds of a suite file: a suite is a handful of command lines, and a
// file or line far beyond these is a mistake (or an attack) that must not
// cost memory or fill a report.
const (
	MaxFileSize = 1 << 20  // bytes of a suite file
	MaxLineSize = 16 << 10 // bytes of one check's run line, before and after ${VAR} expansion
	MaxNameSize = 200      // bytes of a check's name
)

// Load reads and validates a suite file into command lines. ${VAR} is
// replaced by getenv(VAR) inside each word once the line is split (only
// the braced form: "$5" in a line is text).
func Load(b []byte, getenv func(string) string) ([]Run, Suite, error) {
	var s Suite
	if len(b) > MaxFileSize {
		return nil, s, fmt.Errorf("the file is larger than %d bytes (%d KiB); a suite is a list of command lines", MaxFileSize, MaxFileSize>>10)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, s, err
	}
	if len(s.Checks) == 0 {
		return nil, s, errors.New("no checks: the file needs a \"checks:\" list")
	}
	if s.Timeout != "" {
		if d, err := time.ParseDuration(s.Timeout); err != nil || d <= 0 {
			return nil, s, fmt.Errorf("timeout %q: want a duration such as 60s", s.Timeout)
		}
	}
	var runs []Run
	for i, c := range s.Checks {
		if len(c.Run) > MaxLineSize {
			return nil, s, fmt.Errorf("check %d: the line is %d bytes, more than the %d a check line may have", i+1, len(c.Run), MaxLineSize)
		}
		if len(c.Name) > MaxNameSize {
			return nil, s, fmt.Errorf("check %d: the name is %d bytes, more than the %d a name may have", i+1, len(c.Name), MaxNameSize)
		}
		// Errors name the check by number, never by its text: the line
		// may hold a password given with --password.
		args, err := SplitArgs(c.Run)
		if err != nil {
			return nil, s, fmt.Errorf("check %d: %v", i+1, err)
		}
		// ${VAR}s are replaced inside each word, after the split: a
		// value with spaces or quotes (a password) stays one argument
		// and cannot add flags to the line.
		size := 0
		for j, a := range args {
			args[j] = ExpandBraced(a, getenv)
			size += len(args[j]) + 1
		}
		if size > MaxLineSize {
			return nil, s, fmt.Errorf("check %d: the line is %d bytes once ${VAR}s are replaced, more than the %d a check line may have", i+1, size, MaxLineSize)
		}
		if len(args) > 0 && args[0] == "mailprobe" {
			args = args[1:]
		}
		if len(args) == 0 {
			return nil, s, fmt.Errorf("check %d: empty command", i+1)
		}
		if s.Timeout != "" && !HasFlag(args, "--timeout") {
			args = append(args, "--timeout", s.Timeout)
		}
		name, named := c.Name, c.Name != ""
		if !named {
			name = DefaultName(args)
		}
		runs = append(runs, Run{Name: name, Args: args, Raw: c.Run, Named: named, Line: c.Line})
	}
	return runs, s, nil
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

var bracedVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// ExpandBraced replaces ${VAR} only: "$5" or "$HOME" in a check line is
// text, as the suite documentation promises.
func ExpandBraced(s string, getenv func(string) string) string {
	return bracedVar.ReplaceAllStringFunc(s, func(m string) string { return getenv(m[2 : len(m)-1]) })
}
