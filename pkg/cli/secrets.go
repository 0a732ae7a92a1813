package cli

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/mailprobe/mailprobe/internal/lazyre"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/suite"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// scrubString is scrub for one string.
func (e *Env) scrubString(s string) string {
	if e.secrets == nil || s == "" {
		return s
	}
	e.secrets.mu.Lock()
	defer e.secrets.mu.Unlock()
	for _, f := range e.secrets.forms {
		if f != "" && strings.Contains(s, f) {
			s = strings.ReplaceAll(s, f, transcript.Redacted)
		}
	}
	return s
}

// hasSecrets reports whether any secret was registered.
func (e *Env) hasSecrets() bool {
	if e.secrets == nil {
		return false
	}
	e.secrets.mu.Lock()
	defer e.secrets.mu.Unlock()
	return len(e.secrets.forms) > 0
}

// scrubReport replaces every registered secret in every string of r
// before it is rendered. The final scrub of the rendered bytes cannot do
// this alone: the text renderer wraps long lines, and a secret split
// across two lines (or clipped with an ellipsis) no longer matches.
func (e *Env) scrubReport(r *report.Report) {
	if r == nil || !e.hasSecrets() {
		return
	}
	r.Command = e.scrubString(r.Command)
	r.Target = e.scrubString(r.Target)
	for i := range r.Stages {
		r.Stages[i].Name = e.scrubString(r.Stages[i].Name)
		r.Stages[i].Summary = e.scrubString(r.Stages[i].Summary)
	}
	for i := range r.Findings {
		f := &r.Findings[i]
		f.Title = e.scrubString(f.Title)
		f.Detail = e.scrubString(f.Detail)
		f.Fix = e.scrubString(f.Fix)
		if f.Evidence != nil {
			ev := make([]report.Evidence, len(f.Evidence))
			copy(ev, f.Evidence)
			for j := range ev {
				ev[j].Text = e.scrubString(ev[j].Text)
			}
			f.Evidence = ev
		}
	}
	for i := range r.Transcript {
		if s := e.scrubString(r.Transcript[i].Line); s != r.Transcript[i].Line {
			r.Transcript[i].Line = s
			r.Transcript[i].Redacted = true
		}
	}
	// Facts are typed values of many shapes: each one that holds a
	// secret in any form (seen in its JSON) is replaced by its scrubbed
	// JSON, decoded as plain data.
	for k, v := range r.Facts {
		b, err := json.Marshal(v)
		if err != nil {
			continue
		}
		clean := e.scrub(bytes.Clone(b))
		if bytes.Equal(clean, b) {
			continue
		}
		var plain any
		if json.Unmarshal(clean, &plain) != nil {
			plain = transcript.Redacted
		}
		r.Facts[k] = plain
	}
}

// registerLineSecrets registers every secret-bearing value of a command
// line before the line is validated or run, so that an error about the
// line (a typo, a missing flag) cannot print it: the value of any flag
// named password or ending in -password (--password X, --password=X), the
// values of the ${VAR}s written inside such a value in the unexpanded
// line, and the password of any URL's userinfo.
func (e *Env) registerLineSecrets(raw string, args []string, getenv func(string) string) {
	user := ""
	for i, a := range args {
		if (a == "--user" || a == "-u") && i+1 < len(args) {
			user = args[i+1]
		} else if v, ok := strings.CutPrefix(a, "--user="); ok {
			user = v
		}
	}
	for _, v := range secretValues(args) {
		e.addSecret(user, v)
	}
	// The unexpanded line: the ${VAR}s inside a secret value.
	rawArgs, err := suite.SplitArgs(raw)
	if err != nil {
		rawArgs = strings.Fields(raw)
	}
	for _, v := range secretValues(rawArgs) {
		for _, m := range bracedVarRef.FindAllStringSubmatch(v, -1) {
			e.addSecret(user, getenv(m[1]))
		}
	}
}

var bracedVarRef = lazyre.New(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// secretValues returns the secret-bearing values in args.
func secretValues(args []string) []string {
	var out []string
	for i, a := range args {
		if name, val, ok := strings.Cut(a, "="); ok && isSecretFlag(name) {
			out = append(out, val)
		} else if isSecretFlag(a) && i+1 < len(args) {
			out = append(out, args[i+1])
		}
		if pw := urlPassword(a); pw != "" {
			out = append(out, pw)
		}
	}
	return out
}

// isSecretFlag: --password, --imap-password, and any other flag whose
// name looks like it holds a password, a token or a secret, misspelt too
// (-password=X or --pasword X fail to parse, and the error quotes them);
// but not --password-env or --password-file, whose values are a
// variable's or a file's name.
func isSecretFlag(a string) bool {
	if !strings.HasPrefix(a, "-") {
		return false
	}
	name := strings.ToLower(strings.TrimLeft(a, "-"))
	if strings.HasSuffix(name, "-env") || strings.HasSuffix(name, "-file") {
		return false
	}
	for _, w := range []string{"pass", "pasw", "pasword", "pwd", "pw", "secret", "token"} {
		if name == w || strings.Contains(name, w) && len(w) >= 4 {
			return true
		}
	}
	return false
}

// urlPassword is the password of a URL's userinfo (smtp://u:pw@host) in
// s, or "".
func urlPassword(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return ""
	}
	u, err := url.Parse(s[max(0, strings.LastIndexAny(s[:i], " =")+1):])
	if err != nil || u.User == nil {
		// A URL that does not parse may still hold "user:pw@".
		rest := s[i+3:]
		at := strings.LastIndex(rest, "@")
		if at < 0 {
			return ""
		}
		if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
			return pw
		}
		return ""
	}
	pw, _ := u.User.Password()
	return pw
}

// redactedArgs is the command line Main was given with every
// secret-bearing value (a --password, a URL's password, any registered
// secret) replaced by <redacted>, for SARIF's invocation.
func (e *Env) redactedArgs() []string {
	out := make([]string, len(e.args))
	for i, a := range e.args {
		switch {
		case i > 0 && isSecretFlag(e.args[i-1]) && !strings.Contains(e.args[i-1], "="):
			a = transcript.Redacted
		case strings.Contains(a, "=") && isSecretFlag(a[:strings.IndexByte(a, '=')]):
			a = a[:strings.IndexByte(a, '=')+1] + transcript.Redacted
		}
		if pw := urlPassword(a); pw != "" {
			a = strings.ReplaceAll(a, pw, transcript.Redacted)
		}
		out[i] = e.scrubString(a)
	}
	return out
}

// commandLine is redactedArgs as one shell-quoted line after "mailprobe".
func (e *Env) commandLine() string {
	words := []string{"mailprobe"}
	for _, a := range e.redactedArgs() {
		words = append(words, shellQuote(a))
	}
	return strings.Join(words, " ")
}

// shellQuote quotes a word for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
