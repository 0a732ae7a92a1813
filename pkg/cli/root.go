// Package cli is mailprobe's command line: cobra commands, one file per
// noun, each turning flags into an engine's Options and the engine's Report
// into output. It is the only package that prints reports or decides exit
// codes (ARCHITECTURE.md, habit 1): see Main.
package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailprobe/mailprobe/pkg/imapaudit"
	"github.com/mailprobe/mailprobe/pkg/iostreams"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/render"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
	"github.com/mailprobe/mailprobe/pkg/termsafe"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// Version is set at build time with -ldflags "-X .../pkg/cli.Version=v1.2.3".
var Version = "dev"

// Env is what every command gets besides its flags: streams, clock and
// dialer. Tests build one with iostreams.Test and a loopback dialer.
type Env struct {
	IO   *iostreams.IOStreams
	Now  func() time.Time
	Dial netx.DialFunc // nil = net.Dialer (with --local-addr where a command has it)
	// Signals delivers Ctrl-C and SIGTERM (nil: this process's own).
	// The first cancels the run, which still reports what it found; the
	// second exits at once.
	Signals <-chan os.Signal

	// collect, when set, receives the report instead of it being
	// rendered: `check -f` gathers its checks' reports this way.
	collect func(*report.Report)
	// secrets are the passwords this run was given, in every encoding
	// they could take; all output is scrubbed of them before it is
	// written (the last line of defence behind the transcript's own
	// redaction).
	secrets *secretSet
	// notices are the deprecation notices printed so far (flags.go).
	notices *noticeSet
	// inspect, when set, receives the engine's Options instead of the
	// engine being run: tests of flag parsing use it, so that every flag
	// is proven to reach the engine without a server (habit 2).
	inspect func(opts any)
	// exit ends the process on a second Ctrl-C (nil: os.Exit).
	exit func(int)
	// interrupted reports whether the user stopped the run; set by Main.
	interrupted func() bool
	// args and started are the command line and start time Main was
	// given, for SARIF's invocations.
	args    []string
	started time.Time
	// stdin records which flag read stdin ("-"), which only one may.
	stdin *stdinOnce
	// dnsShared, when set, is the DNS cache, sockets and pacing every
	// resolver of the run shares: batch sets it, so that its targets'
	// checks ask a shared name once.
	dnsShared *resolver.Shared
}

type secretSet struct {
	mu    sync.Mutex
	forms []string
}

func (e *Env) addSecret(user, password string) {
	if e.secrets == nil || len(password) < 3 {
		return
	}
	// Every form (raw, base64, SASL blobs, IMAP quoted, xtext, JSON, XML)
	// comes from the one list the transcript uses too.
	forms := transcript.CredentialForms(user, password)
	e.secrets.mu.Lock()
	e.secrets.forms = append(e.secrets.forms, forms...)
	// Longest first: scrubbing a short form inside a longer one would
	// leave the longer one's remains.
	sort.SliceStable(e.secrets.forms, func(i, j int) bool { return len(e.secrets.forms[i]) > len(e.secrets.forms[j]) })
	e.secrets.mu.Unlock()
}

// scrub replaces every registered secret form in b.
func (e *Env) scrub(b []byte) []byte {
	if e.secrets == nil {
		return b
	}
	e.secrets.mu.Lock()
	defer e.secrets.mu.Unlock()
	for _, f := range e.secrets.forms {
		if f != "" && bytes.Contains(b, []byte(f)) {
			b = bytes.ReplaceAll(b, []byte(f), []byte(transcript.Redacted))
		}
	}
	return b
}

// Global holds the flags shared by every check command.
type Global struct {
	Format     string
	FailOn     string
	Timeout    time.Duration
	Transcript bool
	NoColor    bool
	// SARIFBaseline is a previous run's SARIF: results get a
	// baselineState (new, unchanged, updated) against it.
	SARIFBaseline string

	failOn   report.Severity
	format   render.Format
	baseline *render.Baseline
}

// exitError carries an exit code through cobra's error return.
type exitError struct {
	code int
	err  error // printed when non-nil
	// oneLine leaves out the "Run --help" hint of a usage error whose
	// message already says what to write.
	oneLine bool
}

func (e *exitError) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("exit %d", e.code)
}

// usageErrorf reports bad flags or arguments: exit 2.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: report.ExitUsage, err: fmt.Errorf(format, args...)}
}

// Main runs mailprobe with args (without the program name) and returns the
// process exit code. It is the single place where results, usage errors and
// our own failures become 0/1/2/3 (PRODUCT.md, "Exit codes").
func Main(args []string, env *Env) int {
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.secrets == nil {
		env.secrets = &secretSet{}
	}
	if env.notices == nil {
		env.notices = &noticeSet{seen: map[string]bool{}}
	}
	sigs := env.Signals
	if sigs == nil {
		ch, release := processSignals()
		defer release()
		sigs = ch
	}
	exit := env.exit
	if exit == nil {
		exit = os.Exit
	}
	ctx, stop := interruptible(context.Background(), sigs, exit)
	defer stop()
	env.interrupted = func() bool { return wasInterrupted(ctx) }
	env.args, env.started = args, env.Now()
	code := execute(ctx, args, env)
	if wasInterrupted(ctx) && code == report.ExitIncomplete {
		// An engine gave up with an error when its context was
		// cancelled: that is the user's Ctrl-C, not a broken target.
		code = ExitInterrupted
	}
	return code
}

// execute runs the command tree and maps its result to an exit code.
func execute(ctx context.Context, args []string, env *Env) int {
	root := newRootCmd(env, wantsCompletion(args), plainCommand(args))
	root.SetArgs(legacyArgs(env, args))
	root.SetIn(env.IO.In)
	root.SetOut(env.IO.Out)
	root.SetErr(env.IO.ErrOut)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return report.ExitOK
	}
	help := "Run 'mailprobe --help' for usage."
	if cmd != nil && cmd != root {
		help = fmt.Sprintf("Run '%s --help' for usage.", cmd.CommandPath())
		// Cobra's "accepts 1 arg(s), received 0" says nothing about what
		// is missing; the command's usage line does.
		if strings.Contains(err.Error(), " arg(s), received ") {
			if _, want, ok := strings.Cut(cmd.Use, " "); ok {
				err = fmt.Errorf("usage: %s %s", cmd.CommandPath(), want)
			}
		}
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(env.IO.ErrOut, "mailprobe: %s\n", errorText(env, ee.err))
			if ee.code == report.ExitUsage && !ee.oneLine {
				fmt.Fprintln(env.IO.ErrOut, help)
			}
		}
		return ee.code
	}
	// Anything cobra returns itself is a usage problem: unknown command,
	// unknown flag, wrong number of arguments, a flag value of the wrong
	// type.
	fmt.Fprintf(env.IO.ErrOut, "mailprobe: %s\n%s\n", errorText(env, err), help)
	return report.ExitUsage
}

// errorText is an error as printed on stderr: scrubbed of every secret,
// then escaped for the terminal (an error may quote a server's reply or
// an argument: ESC, C1 and bidi controls are shown, not obeyed). Newlines
// stay: a script's errors are one per line.
func errorText(env *Env, err error) string {
	return termsafe.String(env.scrubString(err.Error()))
}

// wantsCompletion reports whether this run is the shell asking for
// completions (or writing the completion script): only then are the
// completions of flag values registered, a walk over every flag of the
// tree that every other run would pay at start-up.
func wantsCompletion(args []string) bool {
	return len(args) > 0 && (strings.HasPrefix(args[0], "__complete") || args[0] == "completion")
}

// plainCommand is the top-level command a run names first ("smtp" in
// `mailprobe smtp send …`), or "" when the line starts with a flag. The
// tree is then built with that command alone: building the other
// eighteen, with their hundreds of flags, was a tenth of the start-up of
// a `smtp send` (issue 16). A name that is not a command ("help", a
// typo) builds the whole tree, so help and suggestions see everything;
// the config file is checked against the whole tree (fullTree).
func plainCommand(args []string) string {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return ""
	}
	return args[0]
}

// NewRootCmd builds the command tree.
func NewRootCmd(env *Env) *cobra.Command { return newRootCmd(env, true, "") }

// newRootCmd builds the command tree; with completion, the shell
// completions of flag values are registered too. Cobra keeps those in a
// process-wide map keyed by flag that is never emptied, so a tree built
// to run one line of batch, check -f or the exporter (thousands in a
// run, forever in a service) is built without them: else every tree
// would stay in memory for good. only, when it names a top-level
// command, builds that command alone.
func newRootCmd(env *Env, completion bool, only string) *cobra.Command {
	root := &cobra.Command{
		Use:   "mailprobe",
		Short: "Tell exactly why mail does not arrive, or is not safe",
		Long: `mailprobe diagnoses mail: SMTP dialogues, DNS mail authentication, TLS and
login audits of SMTP/IMAP/POP3 ports, and an end-to-end password-reset email test.

Try it with no setup:  mailprobe reset send --embedded

Exit codes: 0 no finding at or above --fail-on, 1 findings, 2 usage error,
3 incomplete (a stage could not be run).`,
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// --version only: -v is --transcript on every check command.
	root.Flags().Bool("version", false, "print the version")
	// Flag defaults from MAILPROBE_<FLAG> and the config file (config.go).
	root.PersistentFlags().String("config", "", "config file of flag defaults (default $XDG_CONFIG_HOME/mailprobe/config.yaml)")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error { return applyDefaults(cmd, env) }
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: report.ExitUsage, err: err}
	})
	// The whole tree, in one place: a command exists when it is listed
	// here, and nowhere else (no init-time registration).
	commands := []struct {
		name string
		make func() *cobra.Command
	}{
		{"reset", func() *cobra.Command { return newResetCmd(env) }},
		{"capture", func() *cobra.Command { return newCaptureCmd(env) }},
		{"smtp", func() *cobra.Command { return newSMTPCmd(env) }},
		{"imap", func() *cobra.Command { return newMailboxCmd(env, imapaudit.IMAP) }},
		{"pop3", func() *cobra.Command { return newMailboxCmd(env, imapaudit.POP3) }},
		{"tls", func() *cobra.Command { return newTLSCmd(env) }},
		{"audit", func() *cobra.Command { return newServerAuditCmd(env) }},
		{"logs", func() *cobra.Command { return newLogsCmd(env) }},
		{"dns", func() *cobra.Command { return newDNSCmd(env) }},
		{"spf", func() *cobra.Command { return newSPFCmd(env) }},
		{"dkim", func() *cobra.Command { return newDKIMCmd(env) }},
		{"dmarc", func() *cobra.Command { return newDMARCCmd(env) }},
		{"arc", func() *cobra.Command { return newARCCmd(env) }},
		{"check", func() *cobra.Command { return newCheckCmd(env) }},
		{"batch", func() *cobra.Command { return newBatchCmd(env) }},
		{"exporter", func() *cobra.Command { return newExporterCmd(env) }},
		{"explain", func() *cobra.Command { return newExplainCmd(env) }},
		{"version", func() *cobra.Command { return newVersionCmd(env) }},
	}
	// A tree built to run one line holds only that line's command when
	// it is named plainly (batch builds one per target: the rest of the
	// tree would be most of its work). Anything else gets the whole tree.
	named := false
	for _, c := range commands {
		named = named || c.name == only
	}
	for _, c := range commands {
		if !named || c.name == only {
			root.AddCommand(c.make())
		}
	}
	if named {
		root.Annotations = map[string]string{partialTree: only}
	}
	groups := []struct{ id, title string }{
		{"reset", "Password-reset email:"}, {"servers", "Mail servers:"}, {"dns", "Domains (DNS):"},
		{"ci", "CI:"}, {"ref", "Reference:"},
	}
	for _, g := range groups {
		root.AddGroup(&cobra.Group{ID: g.id, Title: g.title})
	}
	groupOf := map[string]string{"reset": "reset", "capture": "reset", "smtp": "servers", "imap": "servers", "pop3": "servers",
		"tls": "servers", "audit": "servers", "logs": "servers", "dns": "dns", "spf": "dns", "dkim": "dns", "dmarc": "dns", "arc": "dns", "check": "ci", "batch": "ci", "exporter": "ci", "explain": "ref", "version": "ref"}
	for _, c := range root.Commands() {
		c.GroupID = groupOf[c.Name()]
	}
	if completion {
		completeFlagValues(root)
	}
	return root
}

// group makes a command that only holds subcommands. Cobra prints help
// and exits 0 for `mailprobe smtp chek`; a typo in CI must fail instead.
func group(c *cobra.Command) *cobra.Command {
	c.Args = cobra.ArbitraryArgs
	c.SuggestionsMinimumDistance = 2
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		var subs []string
		for _, sc := range cmd.Commands() {
			if sc.IsAvailableCommand() {
				subs = append(subs, sc.Name())
			}
		}
		return usageErrorf("%s (commands: %s)", msg, strings.Join(subs, ", "))
	}
	return c
}

// validate parses the global flags; call it first in RunE.
func (g *Global) validate() error {
	f, err := render.ParseFormat(g.Format)
	if err != nil {
		return usageErrorf("--format: %v", err)
	}
	g.format = f
	s, err := report.ParseSeverity(g.FailOn)
	if err != nil || s == report.Pass {
		return usageErrorf("--fail-on must be info, warn or fail, not %q", g.FailOn)
	}
	g.failOn = s
	if g.Timeout < 0 {
		return usageErrorf("--timeout must not be negative")
	}
	if g.SARIFBaseline != "" {
		b, err := readBounded(g.SARIFBaseline, render.MaxBaselineSize)
		if err != nil {
			return usageErrorf("--sarif-baseline: %v", err)
		}
		if g.baseline, err = render.ParseBaseline(b); err != nil {
			return usageErrorf("--sarif-baseline %s: %v", g.SARIFBaseline, err)
		}
	}
	return nil
}

// renderOptions are the render options of a run whose verdict is
// exitCode: the global flags, the terminal, and the invocation (for
// SARIF), its command line without secrets.
func (g *Global) renderOptions(env *Env, exitCode int) render.Options {
	return render.Options{
		Format:     g.format,
		Color:      !g.NoColor && env.IO.ColorEnabled(),
		Width:      env.IO.Width,
		Transcript: g.Transcript,
		Version:    Version,
		FailOn:     g.failOn,
		Baseline:   g.baseline,
		Hostname:   hostname(),
		Invocation: &render.Invocation{
			CommandLine: env.commandLine(), Args: env.redactedArgs(),
			Start: env.started, End: env.Now(), ExitCode: exitCode, ExitCodeKnown: true,
		},
	}
}

// context applies --timeout to ctx.
func (g *Global) context(ctx context.Context) (context.Context, context.CancelFunc) {
	if g.Timeout > 0 {
		return context.WithTimeout(ctx, g.Timeout)
	}
	return context.WithCancel(ctx)
}

// emit renders r and returns the exit error for its verdict.
func (g *Global) emit(env *Env, r *report.Report) error {
	r.Version = Version
	if env.interrupted != nil && env.interrupted() {
		markInterrupted(r)
	}
	if env.collect != nil {
		env.collect(r)
		return nil
	}
	o := g.renderOptions(env, r.ExitCode(g.failOn))
	// Scrub before rendering: the text renderer wraps and clips, and a
	// secret split across lines would escape the final scrub below.
	env.scrubReport(r)
	var buf bytes.Buffer
	err := render.Render(&buf, r, o)
	if err == nil {
		_, err = env.IO.Out.Write(env.scrub(buf.Bytes()))
	}
	if err != nil {
		return &exitError{code: report.ExitIncomplete, err: fmt.Errorf("writing output: %w", err)}
	}
	if code := r.ExitCode(g.failOn); code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// hostname is this machine's name for JUnit's testsuite/@hostname.
func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	return h
}

// warnf prints a warning on stderr.
func warnf(env *Env, format string, args ...any) {
	fmt.Fprintf(env.IO.ErrOut, "mailprobe: warning: %s\n", termsafe.String(env.scrubString(fmt.Sprintf(format, args...))))
}

// Credentials are a user name and a password taken from an environment
// variable, a file or a prompt, never echoed or stored in any output.
type credFlags struct {
	User         string
	PasswordEnv  string
	PasswordFile string
	Password     string
}

func addCredFlags(c *cobra.Command, cf *credFlags) {
	f := c.Flags()
	f.StringVarP(&cf.User, "user", "u", "", "user name for AUTH/LOGIN (the password is prompted for unless --password-env or --password-file)")
	f.StringVar(&cf.PasswordEnv, "password-env", "", "read the password from this environment variable")
	f.StringVar(&cf.PasswordFile, "password-file", "", "read the password from the first line of this file")
	f.StringVar(&cf.Password, "password", "", "the password itself (visible to other users in ps; prefer --password-env)")
}

// resolve returns the password for cf.User, or "" when no user was given.
func (cf *credFlags) resolve(env *Env) (string, error) {
	n := 0
	for _, s := range []string{cf.PasswordEnv, cf.PasswordFile, cf.Password} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return "", usageErrorf("give only one of --password-env, --password-file and --password")
	}
	if cf.User == "" {
		if n > 0 {
			return "", usageErrorf("a password was given without --user")
		}
		return "", nil
	}
	pw, err := cf.read(env)
	if err == nil {
		env.addSecret(cf.User, pw)
	}
	return pw, err
}

func (cf *credFlags) read(env *Env) (string, error) {
	switch {
	case cf.PasswordEnv != "":
		v := env.IO.Getenv(cf.PasswordEnv)
		if v == "" {
			return "", usageErrorf("--password-env %s: the variable is empty or not set", cf.PasswordEnv)
		}
		return v, nil
	case cf.PasswordFile != "":
		b, err := os.ReadFile(cf.PasswordFile)
		if err != nil {
			// The error names the file, never its contents.
			return "", usageErrorf("--password-file: %v", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		line = strings.TrimRight(line, "\r")
		if line == "" {
			return "", usageErrorf("--password-file %s: the first line is empty", cf.PasswordFile)
		}
		return line, nil
	case cf.Password != "":
		warnf(env, "--password is visible in the process list and shell history; prefer --password-env or --password-file")
		return cf.Password, nil
	}
	if !env.IO.StdinTTY {
		return "", usageErrorf("--user %s needs a password: use --password-env VAR or --password-file FILE (no terminal to prompt on)", cf.User)
	}
	fmt.Fprintf(env.IO.ErrOut, "Password for %s: ", cf.User)
	b, err := env.IO.ReadPassword()
	fmt.Fprintln(env.IO.ErrOut)
	if err != nil {
		return "", usageErrorf("reading the password: %v", err)
	}
	return string(b), nil
}

// inspected hands opts to a test's inspect hook and reports whether it
// did; RunE returns right after, so nothing is dialed.
func (e *Env) inspected(opts any) bool {
	if e.inspect == nil {
		return false
	}
	e.inspect(opts)
	return true
}
