package cli

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailprobe/mailprobe/pkg/dialogue"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/render"
	"github.com/mailprobe/mailprobe/pkg/report"
)

type smtpScriptOptions struct {
	Global
	tlsFlags
	credFlags
	tlsModeFlags
	resolverFlags
	File               string
	Target             string
	Vars               []string
	StepTimeout        time.Duration
	AllowPlaintextAuth bool
	LocalAddr          string
}

func newSMTPScriptCmd(env *Env) *cobra.Command {
	o := &smtpScriptOptions{}
	c := &cobra.Command{
		Use:   "script FILE HOST[:PORT]",
		Short: "Run a scripted SMTP dialogue and report every step",
		Long: `Run a scripted SMTP dialogue: lines to send, replies to expect (code, class,
enhanced status code, regular expression), STARTTLS, AUTH, message bodies,
pauses, pipelined groups, conditions and bounded loops. Every step is a stage
of the report, every reply is explained, and every failed expectation is a
finding that names the script line. The language is described in
docs/script-language.md; examples are in testdata/scripts/.

Variables: ${HOST}, ${PORT}, ${HELO}, ${USER} (--user), ${DATE}, ${MSGID},
${RANDOM}, ${FROM_DOMAIN}/${TO_DOMAIN}, and anything given with --var K=V.
Passwords never appear in scripts: auth steps take them from --password-env,
--password-file or a prompt, and they are redacted from every output.

Exit codes: 0 every expectation met, 1 a finding at or above --fail-on,
2 usage error (including a script that does not parse), 3 a step could not
run (unreachable, timeout, connection closed).`,
		Example: `  mailprobe smtp script testdata/scripts/plain-send.script mx.example.com \
      --var FROM=me@example.org --var TO=you@example.com
  mailprobe smtp script testdata/scripts/starttls-auth-send.script smtp.example.com:587 \
      --user me@example.com --password-env SMTP_PASSWORD --var FROM=me@example.com --var TO=me@example.com
  mailprobe smtp script testdata/scripts/smuggling-probe.script mx.example.com \
      --var FROM=me@example.org --var TO=me@example.com --format json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.File, o.Target = args[0], args[1]
			sc, ropts, err := o.prepare(env)
			if err != nil {
				return err
			}
			ctx, cancel := o.Global.context(cmd.Context())
			defer cancel()
			ropts.Script = sc
			if env.inspected(ropts) {
				return nil
			}
			rep, err := dialogue.RunScript(ctx, ropts)
			if err != nil {
				return o.scriptErrors(env, err)
			}
			return o.Global.emit(env, rep)
		},
	}
	addGlobalFlags(c, &o.Global)
	addTLSFlags(c, &o.tlsFlags)
	addCredFlags(c, &o.credFlags)
	addTLSModeFlags(c, &o.tlsModeFlags, false)
	addResolverFlags(c, &o.resolverFlags)
	f := c.Flags()
	f.StringArrayVar(&o.Vars, "var", nil, "set a script variable, NAME=VALUE (repeatable)")
	f.DurationVar(&o.StepTimeout, "step-timeout", dialogue.DefaultStepTimeout, "deadline of each step until the script's own timeout line changes it")
	f.BoolVar(&o.AllowPlaintextAuth, "allow-plaintext-auth", false, "allow auth steps on a connection without TLS")
	f.StringVar(&o.LocalAddr, "local-addr", "", "source IP address to connect from")
	return c
}

// prepare validates everything before the network is touched: flags, the
// script's syntax, its variables, and the password when the script logs in.
func (o *smtpScriptOptions) prepare(env *Env) (*dialogue.Script, dialogue.RunOptions, error) {
	var ropts dialogue.RunOptions
	if err := o.Global.validate(); err != nil {
		return nil, ropts, err
	}
	if o.StepTimeout < dialogue.MinTimeout || o.StepTimeout > dialogue.MaxTimeout {
		return nil, ropts, usageErrorf("--step-timeout must be between %s and %s", dialogue.MinTimeout, dialogue.MaxTimeout)
	}
	src, err := readInput(env, "FILE", o.File, dialogue.MaxScriptBytes)
	if err != nil {
		return nil, ropts, err
	}
	sc, err := dialogue.ParseScript(o.File, src)
	if err != nil {
		return nil, ropts, o.scriptErrors(env, err)
	}
	host, port, err := netx.SplitHostPort(o.Target, 25)
	if err != nil {
		return nil, ropts, usageErrorf("%v", err)
	}
	mode, err := o.tlsModeFlags.mode()
	if err != nil {
		return nil, ropts, err
	}
	vars, err := parseVars(o.Vars)
	if err != nil {
		return nil, ropts, err
	}
	pool, err := o.tlsFlags.pool()
	if err != nil {
		return nil, ropts, err
	}
	n, err := o.resolverFlags.network(env, &o.Global, o.LocalAddr)
	if err != nil {
		return nil, ropts, err
	}
	user := o.User
	if user == "" {
		user = vars["USER"]
	}
	ropts = dialogue.RunOptions{
		Host: host, Port: port, Vars: vars, Helo: heloName(""),
		User: user, AllowPlaintextAuth: o.AllowPlaintextAuth,
		ServerName: o.ServerName, RootCAs: pool, Insecure: o.Insecure,
		StepTimeout: o.StepTimeout, Dial: n.Dial, Now: env.Now, TLSMode: mode,
	}
	if _, err := sc.Bind(ropts); err != nil {
		return nil, ropts, o.scriptErrors(env, err)
	}
	if a := sc.UsesAuth(); a != nil {
		cf := o.credFlags
		cf.User = user
		if cf.User == "" {
			// auth MECH as NAME without --user: the name is only for
			// the prompt.
			cf.User = a.Text
		}
		if ropts.Password, err = cf.resolve(env); err != nil {
			return nil, ropts, err
		}
	} else if o.PasswordEnv != "" || o.PasswordFile != "" || o.Password != "" {
		warnf(env, "%s has no auth step; the password is not used", o.File)
	}
	return sc, ropts, nil
}

// parseVars reads --var NAME=VALUE. Values may not hold CR or LF: line
// breaks on the wire are written in the script itself, as \r\n escapes,
// where a reader of the script sees them.
func parseVars(list []string) (map[string]string, error) {
	vars := map[string]string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageErrorf("--var %q: write NAME=VALUE", kv)
		}
		if !validVar(k) {
			return nil, usageErrorf("--var %s: a name is letters, digits and _, not starting with a digit", k)
		}
		if strings.ContainsAny(v, "\r\n") {
			return nil, usageErrorf("--var %s: the value holds a line break; write \\r\\n escapes in the script instead", k)
		}
		vars[k] = v
	}
	return vars, nil
}

func validVar(s string) bool {
	for i, c := range s {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' && i > 0) {
			return false
		}
	}
	return s != ""
}

// scriptErrors reports a script that cannot run: every problem with its
// file and line on stderr, and, for the machine formats, a report whose
// findings (script.syntax) say the same, so that CI shows why nothing ran.
// The exit code is 2 (usage).
func (o *smtpScriptOptions) scriptErrors(env *Env, err error) error {
	var errs dialogue.ScriptErrors
	if !errors.As(err, &errs) {
		return usageErrorf("%v", err)
	}
	if o.Global.format != render.Text && o.Global.format != "" {
		rep := report.NewReport("smtp script", o.Target, env.Now())
		for _, e := range errs {
			rep.Add(report.New("script.syntax", "", e.Error()))
		}
		rep.SetFact("script", o.File)
		rep.Version = Version
		env.scrubReport(rep)
		var buf bytes.Buffer
		if render.Render(&buf, rep, render.Options{Format: o.Global.format, Version: Version, FailOn: o.Global.failOn}) == nil {
			_, _ = env.IO.Out.Write(env.scrub(buf.Bytes()))
		}
	}
	msg := errs.Error()
	if len(errs) > 1 {
		msg = fmt.Sprintf("%d problems in the script:\n%s", len(errs), msg)
	}
	return &exitError{code: report.ExitUsage, err: errors.New(msg)}
}
