package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailprobe/mailprobe/pkg/dialogue"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/render"
	"github.com/mailprobe/mailprobe/pkg/report"
)

type smtpShellOptions struct {
	tlsFlags
	credFlags
	tlsModeFlags
	resolverFlags
	Target             string
	AllowPlaintextAuth bool
	StepTimeout        time.Duration
	NoColor            bool
	LocalAddr          string
}

func newSMTPShellCmd(env *Env) *cobra.Command {
	o := &smtpShellOptions{}
	c := &cobra.Command{
		Use:   "shell HOST[:PORT]",
		Short: "Talk SMTP interactively, like telnet, with every reply explained",
		Long: `Talk SMTP interactively: type commands, see the server's replies coloured by
class and explained from mailprobe's reply knowledge base.

Lines starting with a dot are the shell's own commands:
  .starttls           upgrade to TLS and check the certificate
  .auth MECH [USER]   log in; the password is prompted for without echo (or
                      taken from --password-env / --password-file) and is
                      redacted everywhere
  .explain [CODE...]  explain the last reply in full, or any reply
  .transcript         the session so far
  .save FILE          the session as a script for 'mailprobe smtp script'
  .help, .quit

Standard input may be a pipe: the shell then echoes what it sends, so its
output reads as a transcript, and the end of the input sends QUIT.`,
		Example: `  mailprobe smtp shell mx.example.com
  mailprobe smtp shell smtp.example.com:587 --user me@example.com
  mailprobe smtp shell smtp.example.com:465 --tls implicit
  printf 'EHLO me.example\nQUIT\n' | mailprobe smtp shell mx.example.com`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Target = args[0]
			so, err := o.shellOptions(env)
			if err != nil {
				return err
			}
			if env.inspected(so) {
				return nil
			}
			// The only error is the first connection failing
			// (dialogue.ErrShellConnect): the target could not be
			// reached, exit 3. What happens later in the session is
			// shown as it happens and is the user's to judge.
			if err := dialogue.RunShell(cmd.Context(), so); err != nil {
				return &exitError{code: report.ExitIncomplete, err: err}
			}
			return nil
		},
	}
	addTLSFlags(c, &o.tlsFlags)
	addCredFlags(c, &o.credFlags)
	addTLSModeFlags(c, &o.tlsModeFlags, false)
	addResolverFlags(c, &o.resolverFlags)
	f := c.Flags()
	f.BoolVar(&o.AllowPlaintextAuth, "allow-plaintext-auth", false, "allow .auth on a connection without TLS")
	f.DurationVar(&o.StepTimeout, "step-timeout", dialogue.DefaultStepTimeout, "how long to wait for each reply (.timeout changes it)")
	f.BoolVar(&o.NoColor, "no-color", false, "never colour the output (NO_COLOR is honoured too)")
	f.StringVar(&o.LocalAddr, "local-addr", "", "source IP address to connect from")
	return c
}

func (o *smtpShellOptions) shellOptions(env *Env) (dialogue.ShellOptions, error) {
	var so dialogue.ShellOptions
	host, port, err := netx.SplitHostPort(o.Target, 25)
	if err != nil {
		return so, usageErrorf("%v", err)
	}
	if o.StepTimeout < dialogue.MinTimeout || o.StepTimeout > dialogue.MaxTimeout {
		return so, usageErrorf("--step-timeout must be between %s and %s", dialogue.MinTimeout, dialogue.MaxTimeout)
	}
	mode, err := o.tlsModeFlags.mode()
	if err != nil {
		return so, err
	}
	pool, err := o.tlsFlags.pool()
	if err != nil {
		return so, err
	}
	given := 0
	for _, s := range []string{o.PasswordEnv, o.PasswordFile, o.Password} {
		if s != "" {
			given++
		}
	}
	if given > 1 {
		return so, usageErrorf("give only one of --password-env, --password-file and --password")
	}
	n, err := o.resolverFlags.network(env, &Global{}, o.LocalAddr)
	if err != nil {
		return so, err
	}
	color := !o.NoColor && env.IO.ColorEnabled()
	st := render.NewStyles(env.IO.Out, color)
	so = dialogue.ShellOptions{
		Host: host, Port: port, TLSMode: mode, ImplicitTLS: mode.Resolve(port) == netx.TLSImplicit,
		ServerName: o.ServerName, RootCAs: pool, Insecure: o.Insecure,
		User: o.User, AllowPlaintextAuth: o.AllowPlaintextAuth,
		Password:     o.passwordFunc(env),
		ReplyTimeout: o.StepTimeout, Dial: n.Dial, Now: env.Now,
		In: env.IO.In, Out: env.IO.Out, Interactive: env.IO.StdinTTY,
		Scrub: env.scrubString,
		Style: dialogue.ShellStyle{
			Reply:  func(code int, s string) string { return st.Severity(replySeverity(code), s) },
			Client: st.Client,
			Note:   st.Dim,
			Error:  func(s string) string { return st.Severity(report.Fail, s) },
			Bold:   st.Bold,
		},
	}
	return so, nil
}

// passwordFunc gives .auth its password: from the flags when given (which
// is how a piped session logs in), else a prompt without echo.
func (o *smtpShellOptions) passwordFunc(env *Env) func(user string) (string, error) {
	return func(user string) (string, error) {
		cf := o.credFlags
		cf.User = user
		if cf.PasswordEnv == "" && cf.PasswordFile == "" && cf.Password == "" && !env.IO.StdinTTY {
			return "", fmt.Errorf("no terminal to prompt for the password on: start the shell with --password-env VAR or --password-file FILE")
		}
		pw, err := cf.resolve(env)
		if err != nil {
			var ee *exitError
			if errors.As(err, &ee) && ee.err != nil {
				return "", ee.err
			}
			return "", err
		}
		return pw, nil
	}
}

// replySeverity colours a reply by its class (RFC 5321 §4.2.1): success
// green, intermediate cyan, transient yellow, permanent red.
func replySeverity(code int) report.Severity {
	switch code / 100 {
	case 2:
		return report.Pass
	case 3:
		return report.Info
	case 4:
		return report.Warn
	}
	return report.Fail
}
