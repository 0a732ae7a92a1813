package cli

import (
	"context"
	"crypto/x509"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/smtpclient"
	"github.com/mailprobe/mailprobe/pkg/smtpprobe"
)

func newSMTPCmd(env *Env) *cobra.Command {
	c := group(&cobra.Command{
		Use:   "smtp",
		Short: "Check, script and talk to SMTP servers",
	})
	c.AddCommand(newSMTPCheckCmd(env), newSMTPSendCmd(env), newSMTPScriptCmd(env), newSMTPShellCmd(env))
	return c
}

// tlsFlags are the certificate flags shared by every command that speaks TLS.
type tlsFlags struct {
	ServerName string
	CAFile     string
	Insecure   bool
}

func addTLSFlags(c *cobra.Command, tf *tlsFlags) {
	f := c.Flags()
	f.StringVar(&tf.ServerName, "servername", "", "name to expect in the certificate and send as SNI (default: the host)")
	f.StringVar(&tf.CAFile, "ca-file", "", "PEM file of CA certificates to trust instead of the system roots")
	f.BoolVar(&tf.Insecure, "insecure", false, "do not require a trusted certificate (the report says so)")
}

// pool loads --ca-file.
func (tf *tlsFlags) pool() (*x509.CertPool, error) {
	if tf.CAFile == "" {
		return nil, nil
	}
	b, err := readBounded(tf.CAFile, 4<<20) // a CA bundle is a few hundred KiB
	if err != nil {
		return nil, usageErrorf("--ca-file: %v", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, usageErrorf("--ca-file %s: no PEM certificates in it", tf.CAFile)
	}
	return p, nil
}

type smtpCheckOptions struct {
	Global
	tlsFlags
	tlsModeFlags
	credFlags
	envelopeFlags
	Target             string
	AllowNoTLS         bool
	Role               string
	Helo               string
	AuthMech           string
	AllowPlaintextAuth bool
	ProbeVRFY          bool
	ProbeRelay         bool
	ProbeSmuggling     bool
	LocalAddr          string
	NoPTR              bool
	resolverFlags
	// oauthToken, when set, is the OAuth 2.0 access token that stands
	// for the password (smtp send's --oauth2-token-*).
	oauthToken string
	// checkOAuth are smtp check's --oauth2-token-* flags.
	checkOAuth oauthFlags
}

// smtpRoles are the --role values of smtp check and send.
var smtpRoles = []netx.Role{netx.RoleMX, netx.RoleSubmission}

func newSMTPCheckCmd(env *Env) *cobra.Command {
	o := &smtpCheckOptions{}
	c := &cobra.Command{
		Use:   "check HOST[:PORT]",
		Short: "Check an SMTP server stage by stage: connect, banner, EHLO, STARTTLS, certificate, AUTH, MAIL/RCPT",
		Long: `Check an SMTP server stage by stage and explain every problem found.

The port decides how strict the check is: 25 is an MX (TLS opportunistic),
587 is submission (STARTTLS required before AUTH), 465 is implicit TLS.
Credentials are sent only over a trusted TLS connection.`,
		Example: `  mailprobe smtp check mx.example.com
  mailprobe smtp check smtp.example.com:587 --user me@example.com --password-env SMTP_PASSWORD
  mailprobe smtp check smtp.example.com:465 --format json
  mailprobe smtp check mx.example.com --from probe@example.net --to someone@example.org
  mailprobe smtp check mx.example.com --probe-relay --to postmaster@example.com
  mailprobe smtp check mx.example.com --probe-smuggling --from me@example.org --to me@example.com
  mailprobe smtp check mail.example.com:2465 --tls implicit`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Target = args[0]
			tok, err := o.checkOAuth.token(cmd.Context(), env, o.User, o.PasswordEnv != "" || o.PasswordFile != "" || o.Password != "")
			if err != nil {
				return err
			}
			o.oauthToken = tok
			if tok != "" && o.checkOAuth.Mech != "" {
				o.AuthMech = o.checkOAuth.Mech
			}
			opts, err := o.engineOptions(env)
			if err != nil {
				return err
			}
			opts.Client.OAuth = tok != ""
			return runSMTPProbe(cmd.Context(), env, &o.Global, opts)
		},
	}
	addGlobalFlags(c, &o.Global)
	addTLSFlags(c, &o.tlsFlags)
	addCredFlags(c, &o.credFlags)
	addOAuthFlags(c, &o.checkOAuth, "", "AUTH")
	addTLSModeFlags(c, &o.tlsModeFlags, true)
	addEnvelopeFlags(c, &o.envelopeFlags,
		"probe MAIL FROM with this address (ended by RSET; never sends DATA)",
		"probe RCPT TO with this address (repeatable); a foreign domain tests relaying")
	addRoleFlag(c, &o.Role, smtpRoles...)
	f := c.Flags()
	f.BoolVar(&o.AllowNoTLS, "allow-no-tls", false, "a missing STARTTLS on submission is a warning, not a failure")
	f.StringVar(&o.Helo, "helo", "", "name to send in EHLO (default: this machine's name if it is fully qualified)")
	f.StringVar(&o.AuthMech, "auth-mech", "", "AUTH mechanism: "+strings.Join(smtpclient.Mechanisms, ", ")+" (default: the best offered)")
	f.BoolVar(&o.AllowPlaintextAuth, "allow-plaintext-auth", false, "allow sending credentials over an unencrypted connection")
	f.BoolVar(&o.ProbeVRFY, "probe-vrfy", false, "test whether VRFY and EXPN disclose addresses")
	f.BoolVar(&o.ProbeSmuggling, "probe-smuggling", false, "test SMTP smuggling: 8 end-of-data look-alikes (<LF>.<LF>, <CR>.<CR>, ...), each on its own connection, each delivering 1 or 2 test messages to the first --to (required)")
	f.BoolVar(&o.ProbeRelay, "probe-relay", false, "try relaying to a reserved foreign domain without AUTH, plainly and with the classic tricks (at most 12 RCPTs, RSET after each, never DATA)")
	f.StringVar(&o.LocalAddr, "local-addr", "", "source IP address to connect from")
	f.BoolVar(&o.NoPTR, "no-ptr", false, "skip the reverse DNS (PTR) check of the server's address")
	alias(c, env, "mail-from", "from")
	alias(c, env, "rcpt-to", "to")
	aliasBoolTo(c, env, "no-starttls", "tls", string(netx.TLSNone))
	addResolverFlags(c, &o.resolverFlags)
	return c
}

func (o *smtpCheckOptions) engineOptions(env *Env) (smtpprobe.Options, error) {
	var opts smtpprobe.Options
	if err := o.Global.validate(); err != nil {
		return opts, err
	}
	host, port, err := netx.SplitHostPort(o.Target, 25)
	if err != nil {
		return opts, usageErrorf("%v", err)
	}
	mode, err := o.tlsModeFlags.mode()
	if err != nil {
		return opts, err
	}
	role, err := smtpRole(o.Role, mode)
	if err != nil {
		return opts, err
	}
	if m := strings.ToUpper(o.AuthMech); m == "" || smtpclient.IsMechanism(m) {
		o.AuthMech = m
	} else {
		return opts, usageErrorf("--auth-mech must be one of %s, not %q", strings.Join(smtpclient.Mechanisms, ", "), o.AuthMech)
	}
	pool, err := o.tlsFlags.pool()
	if err != nil {
		return opts, err
	}
	password := o.oauthToken
	if password == "" {
		if password, err = o.credFlags.resolve(env); err != nil {
			return opts, err
		}
	}
	// The target's name, and with --resolver every other, is resolved
	// through the run's one resolver.
	n, err := o.resolverFlags.network(env, &o.Global, o.LocalAddr)
	if err != nil {
		return opts, err
	}
	timeouts := netx.Timeouts{Total: o.Global.Timeout}
	opts = smtpprobe.Options{
		Host: host, Port: port, Role: role,
		TLSMode: mode, ImplicitTLS: mode == netx.TLSImplicit, NoSTARTTLS: mode == netx.TLSNone,
		RequireTLS: o.RequireTLS, AllowNoTLS: o.AllowNoTLS,
		ServerName: o.ServerName, RootCAs: pool, Insecure: o.Insecure,
		Helo: heloName(o.Helo),
		User: o.User, Password: password, AuthMech: o.AuthMech, AllowPlaintextAuth: o.AllowPlaintextAuth,
		MailFrom: o.From, RcptTo: o.To, ProbeVRFY: o.ProbeVRFY, ProbeRelay: o.ProbeRelay, ProbeSmuggling: o.ProbeSmuggling,
		Dial: n.Dial, LookupIP: n.lookupIP(), Timeouts: timeouts, Now: env.Now,
	}
	if o.From != "" && len(o.To) == 0 {
		return opts, usageErrorf("--from needs at least one --to")
	}
	if o.ProbeSmuggling && len(o.To) == 0 {
		return opts, usageErrorf("--probe-smuggling needs --to: a recipient of yours, to which it delivers its test messages")
	}
	if !o.NoPTR && n.Resolver != nil {
		opts.Resolver, opts.PTRPrivate = n.Resolver, true
	} else if !o.NoPTR {
		res, err := o.resolverFlags.resolver(env, &o.Global)
		switch {
		case err == nil:
			opts.Resolver, opts.PTRPrivate = res, o.Resolver != ""
		case o.Resolver != "":
			return opts, err
		default:
			warnf(env, "no DNS resolver (%v): the reverse DNS check is skipped", err)
		}
	}
	// Whether a recipient accepted without authentication is local
	// delivery or relaying is decided by its domain's MX records, asked
	// of the run's resolver (--no-ptr turns off only the PTR check).
	switch {
	case len(o.To) == 0:
	case n.Resolver != nil:
		opts.DomainResolver = n.Resolver
	case opts.Resolver != nil:
		opts.DomainResolver = opts.Resolver
	default:
		if res, err := o.resolverFlags.resolver(env, &o.Global); err == nil {
			opts.DomainResolver = res
		}
	}
	return opts, nil
}

// smtpRole maps --role onto smtpprobe's roles: submission with implicit
// TLS is submissions (RFC 8314 §3.3).
func smtpRole(flag string, mode netx.TLSMode) (smtpprobe.Role, error) {
	r, err := parseRoleFlag(flag, smtpRoles...)
	switch {
	case err != nil:
		return "", err
	case r == netx.RoleMX:
		return smtpprobe.RoleMX, nil
	case r == netx.RoleSubmission && mode == netx.TLSImplicit:
		return smtpprobe.RoleSubmissions, nil
	case r == netx.RoleSubmission:
		return smtpprobe.RoleSubmission, nil
	}
	return smtpprobe.RoleAuto, nil
}

// heloName picks the EHLO name: the flag, else this machine's name when it
// is fully qualified (servers check it, RFC 5321 §4.1.4), else a name that
// is clearly not real.
func heloName(flag string) string {
	if flag != "" {
		return flag
	}
	if h, err := os.Hostname(); err == nil && strings.Contains(h, ".") && !strings.HasSuffix(h, ".local") {
		return h
	}
	return "mailprobe.invalid"
}

// runSMTPProbe runs smtpprobe for smtp check and smtp send: the run's
// deadline, the stage shown on a terminal, the report rendered.
func runSMTPProbe(ctx context.Context, env *Env, g *Global, opts smtpprobe.Options) error {
	if env.inspected(opts) {
		return nil
	}
	ctx, cancel := g.context(ctx)
	defer cancel()
	p := newProgress(env, g.format)
	opts.Progress = p.Stage(opts.Host)
	rep, err := smtpprobe.Check(ctx, opts)
	p.Done()
	if err != nil {
		return &exitError{code: report.ExitIncomplete, err: err}
	}
	return g.emit(env, rep)
}
