package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/render"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/suite"
	"github.com/mailprobe/mailprobe/pkg/termsafe"
)

type checkOptions struct {
	Global
	File     string
	Parallel int
	Resolver string
	DryRun   bool
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
  mailprobe check -f mailprobe.yaml --format junit > mailprobe-junit.xml
  mailprobe check -f mailprobe.yaml --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context(), env) },
	}
	addGlobalFlags(c, &o.Global)
	c.Flags().StringVarP(&o.File, "file", "f", "mailprobe.yaml", "the suite file (- for stdin)")
	c.Flags().IntVar(&o.Parallel, "parallel", 0, "checks run at once (default: the file's parallel, else 4)")
	c.Flags().BoolVar(&o.DryRun, "dry-run", false, "print the suite as it would run (${VAR}s replaced, secrets masked) and every problem in it; run nothing")
	addLineResolverFlag(c, &o.Resolver)
	return c
}

func (o *checkOptions) run(ctx context.Context, env *Env) error {
	if err := o.Global.validate(); err != nil {
		return err
	}
	if err := checkLineResolver(o.Resolver); err != nil {
		return err
	}
	b, err := readInput(env, "-f", o.File, suite.MaxFileSize)
	if err != nil {
		return err
	}
	runs, file, err := suite.Load(b, env.IO.Getenv)
	var problems suite.Problems
	if err != nil && !errors.As(err, &problems) {
		return usageErrorf("%s: %v", o.File, err)
	}
	// Every secret-bearing value is registered before anything can print
	// a line: a typo in a line that holds --password=${MPW} must not
	// show the password in the error below.
	for _, r := range runs {
		env.registerLineSecrets(r.Raw, r.Args, env.IO.Getenv)
	}
	for i := range runs {
		runs[i].Args = withResolver(runs[i].Args, o.Resolver)
	}
	// Validate every line before running any: a typo in line 9 must not
	// surface after eight checks have run, and every problem of the file
	// is listed at once.
	for i, r := range runs {
		path, target, err := parseLine(env, r.Args)
		if err != nil {
			problems = append(problems, suite.Problem{Line: r.Line, Check: r.Number, Msg: err.Error()})
			continue
		}
		runs[i].Target = target
		if !r.Named {
			// The command's own words and its target, never the flags.
			runs[i].Name = strings.TrimSpace(path + " " + netx.Clip(target))
		}
	}
	if o.DryRun {
		return o.dryRun(env, runs, file, problems)
	}
	if len(problems) > 0 {
		return &exitError{code: report.ExitUsage, err: problemsError(o.File, problems), oneLine: true}
	}
	parallel := o.Parallel
	if parallel <= 0 {
		parallel = file.Parallel
	}
	if parallel <= 0 {
		parallel = 4
	}
	ctx, cancel := o.Global.context(ctx)
	defer cancel()

	// The suite file as SARIF and JSON name it: relative to the working
	// directory (the repository root in CI), which is what GitHub joins
	// to the repository.
	sourceFile := o.File
	if filepath.IsAbs(sourceFile) {
		if wd, err := os.Getwd(); err == nil {
			if rel, err := filepath.Rel(wd, sourceFile); err == nil && !strings.HasPrefix(rel, "..") {
				sourceFile = rel
			}
		}
	}
	reports := make([]*report.Report, len(runs))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	var progressMu sync.Mutex
	done := 0
	p := newProgress(env, o.format)
	for i, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			reports[i] = runLine(ctx, env, r)
			reports[i].Source = &report.Source{File: sourceFile, Line: r.Line}
			progressMu.Lock()
			done++
			p.Set(fmt.Sprintf("mailprobe check: %d/%d done (%s)", done, len(runs), termsafe.Line(env.scrubString(r.Name))))
			progressMu.Unlock()
		}()
	}
	wg.Wait()
	p.Done()

	ro := o.Global.renderOptions(env, report.MergeExit(reports, o.failOn))
	for _, r := range reports {
		env.scrubReport(r)
	}
	var buf bytes.Buffer
	err = render.RenderMany(&buf, reports, ro)
	if err == nil {
		_, err = env.IO.Out.Write(env.scrub(buf.Bytes()))
	}
	if err != nil {
		return &exitError{code: report.ExitIncomplete, err: fmt.Errorf("writing output: %w", err)}
	}
	if code := report.MergeExit(reports, o.failOn); code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// problemsError is every problem of a suite file, one per line under
// the file's name.
func problemsError(file string, ps suite.Problems) error {
	var b strings.Builder
	noun := "problem"
	if len(ps) > 1 {
		noun = "problems"
	}
	ps = slices.Clone(ps)
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
	fmt.Fprintf(&b, "%s: %d %s:", file, len(ps), noun)
	for _, p := range ps {
		b.WriteString("\n  " + p.String())
	}
	return errors.New(b.String())
}

// dryRun prints the suite as it would run: each check's name, line and
// command line with ${VAR}s replaced and secret values masked, then the
// problems. Exit 0, or 2 when there are problems.
func (o *checkOptions) dryRun(env *Env, runs []suite.Run, file suite.Suite, problems suite.Problems) error {
	var b strings.Builder
	parallel := o.Parallel
	if parallel <= 0 {
		parallel = file.Parallel
	}
	if parallel <= 0 {
		parallel = 4
	}
	fmt.Fprintf(&b, "# %s: %d checks, %d at once", o.File, len(runs), parallel)
	if file.Timeout != "" {
		fmt.Fprintf(&b, ", timeout %s each", file.Timeout)
	}
	b.WriteString("\nchecks:\n")
	for _, r := range runs {
		words := []string{"mailprobe"}
		for _, a := range maskSecrets(r.Args) {
			words = append(words, shellQuote(a))
		}
		fmt.Fprintf(&b, "  - name: %s  # line %d\n    run: %s\n", yamlQuote(r.Name), r.Line, strings.Join(words, " "))
	}
	_, err := io.WriteString(env.IO.Out, termsafe.String(env.scrubString(b.String())))
	if err != nil {
		return &exitError{code: report.ExitIncomplete, err: fmt.Errorf("writing output: %w", err)}
	}
	if len(problems) > 0 {
		return &exitError{code: report.ExitUsage, err: problemsError(o.File, problems), oneLine: true}
	}
	return nil
}

// maskSecrets replaces the values of secret-bearing flags (and URL
// passwords) in args with <redacted>.
func maskSecrets(args []string) []string {
	e := &Env{args: args}
	return e.redactedArgs()
}

// yamlQuote quotes a name for the dry run's YAML when it needs it.
func yamlQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_. /") == "" && !strings.HasPrefix(s, " ") {
		return s
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// validateLine parses a line's command and flags without running it.
func validateLine(env *Env, args []string) error {
	_, _, err := parseLine(env, args)
	return err
}

// parseLine is validateLine returning the command's path (without
// "mailprobe") and its first argument, the target, for naming the check.
func parseLine(env *Env, args []string) (path, target string, err error) {
	args = legacyArgs(env, args)
	root := newRootCmd(env, false, plainCommand(args))
	c, rest, err := root.Find(args)
	if err != nil {
		return "", "", err
	}
	path = strings.TrimPrefix(c.CommandPath(), "mailprobe ")
	if !suite.Commands[path] {
		return "", "", fmt.Errorf("%q is not a check (suites run: smtp check/send/script, reset send, audit, imap/pop3 audit, tls, dns, spf, dkim check/verify, dmarc, arc verify)", c.CommandPath())
	}
	if err := c.ParseFlags(rest); err != nil {
		return "", "", err
	}
	pos := c.Flags().Args()
	if err := c.ValidateArgs(pos); err != nil {
		// Cobra's "accepts 1 arg(s), received 0" says nothing about
		// what is missing; the command's usage line does.
		if _, want, ok := strings.Cut(c.Use, " "); ok && strings.Contains(err.Error(), " arg(s), received ") {
			return "", "", fmt.Errorf("usage: %s %s", c.CommandPath(), want)
		}
		return "", "", err
	}
	if len(pos) > 0 {
		target = pos[0]
	}
	return path, target, nil
}

// readBounded reads at most limit bytes of name: a larger file is an
// error, not read in full.
func readBounded(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: the file is larger than %d bytes (%d KiB)", name, limit, limit>>10)
	}
	return b, nil
}

// runLine runs one check with its output collected instead of printed.
func runLine(ctx context.Context, env *Env, r suite.Run) *report.Report {
	var got *report.Report
	sub := *env
	sub.collect = func(rep *report.Report) { got = rep }
	// A check's own stdout stays out of the suite's document; its
	// stderr (warnings) goes to the suite's stderr.
	io := *env.IO
	io.Out = discard{}
	io.StderrTTY = false // the suite draws the one progress line
	sub.IO = &io
	args := legacyArgs(&sub, r.Args)
	root := newRootCmd(&sub, false, plainCommand(args))
	root.SetArgs(args)
	root.SetOut(discard{})
	root.SetErr(env.IO.ErrOut)
	err := root.ExecuteContext(ctx)
	if got == nil {
		got = report.NewReport(netx.Clip(suite.DefaultName(r.Args[:min(2, len(r.Args))])), netx.Clip(r.Target), time.Now())
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
		got.Add(report.Newf("suite.check.error", "run", "%s: %s.", netx.Clip(r.Name), msg))
		if wasInterrupted(ctx) {
			markInterrupted(got)
		}
	}
	// A name or target echoed into the report is clipped: a suite line
	// may name a 60 KB argument. The name, the command and the target
	// stay three fields.
	got.Name = netx.Clip(r.Name)
	got.Target = netx.Clip(got.Target)
	return got
}

// discard is an io.Writer that keeps nothing.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func init() {
	report.Register(report.Code{Code: "suite.check.error", Severity: report.Fail, Title: "A suite check could not run",
		Fix: "Run the line on its own (mailprobe followed by the check's command line) to see the error."})
}
