package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/mailprobe/mailprobe/pkg/render"
	"github.com/mailprobe/mailprobe/pkg/report"
)

func init() { register(newCheckCmd) }

// Suite is a mailprobe.yaml file: checks written as the command lines a
// user would type, so every flag of every command works in a suite and a
// suite line can be pasted into a terminal to debug it.
//
//	timeout: 60s        # per check, unless the line has its own --timeout
//	parallel: 4
//	checks:
//	  - name: submission
//	    run: smtp check smtp.example.com:587 --user ci@example.com --password-env SMTP_PASSWORD
//	  - dns example.com
type Suite struct {
	Timeout  string       `yaml:"timeout"`
	Parallel int          `yaml:"parallel"`
	Checks   []SuiteCheck `yaml:"checks"`
}

// SuiteCheck is one line of a suite: a string, or {name, run}.
type SuiteCheck struct {
	Name string `yaml:"name"`
	Run  string `yaml:"run"`
}

// UnmarshalYAML accepts the short form: a plain string is Run.
func (c *SuiteCheck) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		c.Run = n.Value
		return nil
	}
	type plain SuiteCheck
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*c = SuiteCheck(p)
	return nil
}

// suiteCommands are the commands that produce a report and may appear in
// a suite: not capture, shell, explain or check itself.
var suiteCommands = map[string]bool{
	"smtp check": true, "smtp send": true, "smtp script": true, "reset send": true,
	"imap audit": true, "pop3 audit": true, "tls": true, "dns": true, "spf": true,
	"dkim check": true, "dkim verify": true, "dmarc": true,
}

type checkOptions struct {
	Global
	File     string
	Parallel int
	Resolver string
}

func newCheckCmd(env *Env) *cobra.Command {
	o := &checkOptions{}
	c := &cobra.Command{
		Use:   "check -f FILE",
		Short: "Run a suite of checks from a YAML file, for CI",
		Long: `Run the checks listed in a YAML file and report them as one document
(--format junit gives one testsuite per check). Each check is a mailprobe
command line, exactly as typed in a terminal:

  timeout: 60s        # per check, unless the line has its own --timeout
  parallel: 4         # checks run at once (default 4)
  checks:
    - name: submission
      run: smtp check smtp.example.com:587 --user ci@example.com --password-env SMTP_PASSWORD
    - name: reset email
      run: reset send --smtp smtp.example.com:587 --user ci@example.com --password-env SMTP_PASSWORD --from ci@example.com --to inbox@example.org
    - imap audit mail.example.com --port 993
    - dns example.com

${VAR} in a line is replaced by the environment variable VAR. Passwords
still go through --password-env: a suite file never holds a secret.
The exit code is the worst of the checks: 2 if any line is not a valid
command (nothing is run), else 3 if any check was incomplete, else 1 if
any has a finding at or above --fail-on, else 0.`,
		Example: `  mailprobe check -f mailprobe.yaml
  mailprobe check -f mailprobe.yaml --format junit > mailprobe-junit.xml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context(), env) },
	}
	addGlobalFlags(c, &o.Global)
	c.Flags().StringVarP(&o.File, "file", "f", "mailprobe.yaml", "the suite file")
	c.Flags().IntVar(&o.Parallel, "parallel", 0, "checks run at once (default: the file's parallel, else 4)")
	addLineResolverFlag(c, &o.Resolver)
	return c
}

type suiteRun struct {
	name string
	args []string
}

// LoadSuite reads and validates a suite file into command lines.
func LoadSuite(b []byte, getenv func(string) string) ([]suiteRun, Suite, error) {
	var s Suite
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
	var runs []suiteRun
	for i, c := range s.Checks {
		line := expandBraced(c.Run, getenv)
		args, err := splitArgs(line)
		if err != nil {
			return nil, s, fmt.Errorf("check %d (%s): %v", i+1, c.Run, err)
		}
		if len(args) > 0 && args[0] == "mailprobe" {
			args = args[1:]
		}
		if len(args) == 0 {
			return nil, s, fmt.Errorf("check %d: empty command", i+1)
		}
		if s.Timeout != "" && !hasFlag(args, "--timeout") {
			args = append(args, "--timeout", s.Timeout)
		}
		name := c.Name
		if name == "" {
			name = strings.Join(args[:min(3, len(args))], " ")
		}
		runs = append(runs, suiteRun{name: name, args: args})
	}
	return runs, s, nil
}

func hasFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == flag || strings.HasPrefix(a, flag+"=") {
			return true
		}
	}
	return false
}

// splitArgs splits a command line like a POSIX shell does for words:
// whitespace separates, single quotes keep everything, double quotes keep
// everything but \" and \\, a backslash outside quotes escapes the next
// character. No globbing, no variables (done before), no operators.
func splitArgs(s string) ([]string, error) {
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

func (o *checkOptions) run(ctx context.Context, env *Env) error {
	if err := o.Global.validate(); err != nil {
		return err
	}
	if err := checkLineResolver(o.Resolver); err != nil {
		return err
	}
	b, err := os.ReadFile(o.File)
	if err != nil {
		return usageErrorf("%v", err)
	}
	runs, suite, err := LoadSuite(b, env.IO.Getenv)
	if err != nil {
		return usageErrorf("%s: %v", o.File, err)
	}
	for i := range runs {
		runs[i].args = withResolver(runs[i].args, o.Resolver)
	}
	// Validate every line before running any: a typo in line 9 must not
	// surface after eight checks have run.
	for i, r := range runs {
		if err := validateLine(env, r.args); err != nil {
			return usageErrorf("%s: check %d (%s): %v", o.File, i+1, r.name, err)
		}
	}
	parallel := o.Parallel
	if parallel <= 0 {
		parallel = suite.Parallel
	}
	if parallel <= 0 {
		parallel = 4
	}
	ctx, cancel := o.Global.context(ctx)
	defer cancel()

	reports := make([]*report.Report, len(runs))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	var progressMu sync.Mutex
	done := 0
	for i, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			reports[i] = runLine(ctx, env, r)
			if env.IO.StderrTTY {
				progressMu.Lock()
				done++
				fmt.Fprintf(env.IO.ErrOut, "\r\033[Kmailprobe check: %d/%d done (%s)", done, len(runs), r.name)
				if done == len(runs) {
					fmt.Fprint(env.IO.ErrOut, "\r\033[K")
				}
				progressMu.Unlock()
			}
		}()
	}
	wg.Wait()

	ro := render.Options{Format: o.format, Color: !o.NoColor && env.IO.ColorEnabled(), Width: env.IO.Width,
		Transcript: o.Transcript, Version: Version, FailOn: o.failOn}
	var buf bytes.Buffer
	err = render.RenderMany(&buf, reports, ro)
	if err == nil {
		_, err = env.IO.Out.Write(env.scrub(buf.Bytes()))
	}
	if err != nil {
		return &exitError{code: report.ExitIncomplete, err: fmt.Errorf("writing output: %w", err)}
	}
	code := report.ExitOK
	for _, r := range reports {
		switch c := r.ExitCode(o.failOn); {
		case c == report.ExitIncomplete:
			code = report.ExitIncomplete
		case c == report.ExitFindings && code == report.ExitOK:
			code = report.ExitFindings
		}
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// validateLine parses a line's command and flags without running it.
func validateLine(env *Env, args []string) error {
	root := NewRootCmd(env)
	c, rest, err := root.Find(legacyArgs(env, args))
	if err != nil {
		return err
	}
	if !suiteCommands[strings.TrimPrefix(c.CommandPath(), "mailprobe ")] {
		return fmt.Errorf("%q is not a check (suites run: smtp check/send/script, reset send, imap/pop3 audit, tls, dns, spf, dkim check/verify, dmarc)", c.CommandPath())
	}
	if err := c.ParseFlags(rest); err != nil {
		return err
	}
	return c.ValidateArgs(c.Flags().Args())
}

// runLine runs one check with its output collected instead of printed.
func runLine(ctx context.Context, env *Env, r suiteRun) *report.Report {
	var got *report.Report
	sub := *env
	sub.collect = func(rep *report.Report) { got = rep }
	// A check's own stdout stays out of the suite's document; its
	// stderr (warnings) goes to the suite's stderr.
	io := *env.IO
	io.Out = discard{}
	sub.IO = &io
	root := NewRootCmd(&sub)
	root.SetArgs(legacyArgs(&sub, r.args))
	root.SetOut(discard{})
	root.SetErr(env.IO.ErrOut)
	err := root.ExecuteContext(ctx)
	if got == nil {
		got = report.NewReport(strings.Join(r.args[:min(2, len(r.args))], " "), r.name, time.Now())
		msg := "the check produced no report"
		if err != nil {
			var ee *exitError
			if errors.As(err, &ee) && ee.err != nil {
				msg = ee.err.Error()
			} else {
				msg = err.Error()
			}
		}
		got.AddStage(report.Stage{Name: "run", Status: report.StatusError, Summary: msg})
		got.Add(report.Newf("suite.check.error", "run", "%s: %s.", r.name, msg))
	}
	if r.name != "" && got.Target != r.name {
		got.Target = r.name + " (" + got.Target + ")"
	}
	return got
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func init() {
	report.Register(report.Code{Code: "suite.check.error", Severity: report.Fail, Title: "A suite check could not run",
		Fix: "Run the line on its own (mailprobe followed by the check's command line) to see the error."})
}

var bracedVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandBraced replaces ${VAR} only: "$5" or "$HOME" in a check line is
// text, as the suite documentation promises.
func expandBraced(s string, getenv func(string) string) string {
	return bracedVar.ReplaceAllStringFunc(s, func(m string) string { return getenv(m[2 : len(m)-1]) })
}
