package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailprobe/mailprobe/pkg/imapaudit"
	"github.com/mailprobe/mailprobe/pkg/netx"
)

type auditOptions struct {
	Global
	tlsFlags
	credFlags
	oauth oauthFlags
	tlsModeFlags
	resolverFlags
	Ports              []int
	ImplicitPorts      []int
	AllowPlaintextAuth bool
	LockoutTest        int
	LocalAddr          string
	NoTLSScan          bool
}

func newMailboxCmd(env *Env, proto imapaudit.Protocol) *cobra.Command {
	name := strings.ToUpper(string(proto))
	c := group(&cobra.Command{Use: string(proto), Short: "Audit " + name + " servers: TLS, plaintext login, capabilities, lockout"})
	c.AddCommand(newAuditCmd(env, proto))
	return c
}

func newAuditCmd(env *Env, proto imapaudit.Protocol) *cobra.Command {
	o := &auditOptions{}
	name := strings.ToUpper(string(proto))
	plain, implicit, stls, logindisabled := 143, 993, "STARTTLS", "LOGINDISABLED"
	if proto == imapaudit.POP3 {
		plain, implicit, stls, logindisabled = 110, 995, "STLS", "USER"
	}
	c := &cobra.Command{
		Use:   "audit HOST",
		Short: fmt.Sprintf("Is this %s server safe to expose? Ports %d and %d, TLS, plaintext login, %s", name, plain, implicit, stls),
		Long: fmt.Sprintf(`Audit the %[1]s ports of HOST (%[2]d with %[3]s and %[4]d with implicit TLS, or
--port): the greeting and capabilities before and after TLS, whether
passwords can be sent in the clear (%[5]s, AUTH mechanisms, and a login
probe with a made-up account — never a real password unless
--allow-plaintext-auth), %[3]s command injection (CVE-2011-0411), the
certificate, version disclosure, and with --user a real login over TLS.

--lockout-test N (at most 20) sends N wrong passwords for --user over TLS
and reports whether the server slows down, blocks, or lets them through.
Only run it against an account you own.

Beside it, every port gets the TLS audit of mailprobe tls: the protocol
versions, cipher suites and key exchange groups it accepts, graded for a
port where passwords travel (--no-tls-scan skips it).`, name, plain, stls, implicit, logindisabled),
		Example: fmt.Sprintf(`  mailprobe %[1]s audit mail.example.com
  mailprobe %[1]s audit mail.example.com --port %[2]d --user me@example.com --password-env MAIL_PASSWORD
  mailprobe %[1]s audit mail.example.com --port %[3]d --user test@example.com --lockout-test 5`, proto, implicit, plain),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := o.options(env, proto, args[0])
			if err != nil {
				return err
			}
			if env.inspected(opts) {
				return nil
			}
			ctx, cancel := o.Global.context(cmd.Context())
			defer cancel()
			// The stage the audit is in, and for how long the run has
			// taken (the TLS scans run beside it and report no stages).
			p := newProgress(env, o.Global.format)
			opts.Progress = p.Ticking(fmt.Sprintf("%s audit %s", proto, opts.Host), "connecting")
			rep, err := imapaudit.Audit(ctx, opts)
			p.Done()
			if err != nil {
				return usageErrorf("%v", err)
			}
			return o.Global.emit(env, rep)
		},
	}
	addGlobalFlags(c, &o.Global)
	addTLSFlags(c, &o.tlsFlags)
	addCredFlags(c, &o.credFlags)
	addOAuthFlags(c, &o.oauth, "", "the login test")
	addTLSModeFlags(c, &o.tlsModeFlags, false)
	addResolverFlags(c, &o.resolverFlags)
	f := c.Flags()
	f.IntSliceVarP(&o.Ports, "port", "p", nil, fmt.Sprintf("port to audit (repeatable; default %d and %d)", plain, implicit))
	f.IntSliceVar(&o.ImplicitPorts, "tls-port", nil, fmt.Sprintf("port that speaks implicit TLS besides %d (repeatable)", implicit))
	f.BoolVar(&o.AllowPlaintextAuth, "allow-plaintext-auth", false, "also try the real login before TLS, to prove whether the server accepts it (sends the password in the clear)")
	f.IntVar(&o.LockoutTest, "lockout-test", 0, "send this many wrong passwords (at most 20) for --user over TLS and report how the server reacts")
	f.StringVar(&o.LocalAddr, "local-addr", "", "source IP address to connect from")
	f.BoolVar(&o.NoTLSScan, "no-tls-scan", false, "skip the enumeration of TLS versions and cipher suites on each port")
	return c
}

func (o *auditOptions) options(env *Env, proto imapaudit.Protocol, target string) (imapaudit.Options, error) {
	var opts imapaudit.Options
	if err := o.Global.validate(); err != nil {
		return opts, err
	}
	host, port, err := netx.SplitHostPort(target, 0)
	if err != nil {
		return opts, usageErrorf("%v", err)
	}
	ports := o.Ports
	if port != 0 {
		ports = append([]int{port}, ports...)
	}
	for _, p := range append(append([]int{}, ports...), o.ImplicitPorts...) {
		if p < 1 || p > 65535 {
			return opts, usageErrorf("--port %s: not a port number", strconv.Itoa(p))
		}
	}
	if o.LockoutTest < 0 || o.LockoutTest > imapaudit.MaxLockoutAttempts {
		return opts, usageErrorf("--lockout-test must be between 1 and %d", imapaudit.MaxLockoutAttempts)
	}
	if o.LockoutTest > 0 && o.User == "" {
		return opts, usageErrorf("--lockout-test needs --user: the account (yours) to send wrong passwords for")
	}
	mode, err := o.tlsModeFlags.mode()
	if err != nil {
		return opts, err
	}
	pool, err := o.tlsFlags.pool()
	if err != nil {
		return opts, err
	}
	token, err := o.oauth.token(context.Background(), env, o.User, o.PasswordEnv != "" || o.PasswordFile != "" || o.Password != "")
	if err != nil {
		return opts, err
	}
	password := token
	if token == "" && (o.LockoutTest == 0 || o.PasswordEnv != "" || o.PasswordFile != "" || o.Password != "") {
		// The lockout test needs only the account name.
		if password, err = o.credFlags.resolve(env); err != nil {
			return opts, err
		}
	}
	n, err := o.resolverFlags.network(env, &o.Global, o.LocalAddr)
	if err != nil {
		return opts, err
	}
	return imapaudit.Options{
		Protocol: proto, Host: host, Ports: ports, ImplicitTLS: o.ImplicitPorts, TLSMode: mode,
		ServerName: o.ServerName, RootCAs: pool, Insecure: o.Insecure,
		User: o.User, Password: password, OAuth: token != "", OAuthMech: o.oauth.Mech, AllowPlaintextAuth: o.AllowPlaintextAuth, LockoutTest: o.LockoutTest, NoTLSScan: o.NoTLSScan,
		Dial: n.Dial, Timeouts: netx.Timeouts{Total: o.Global.Timeout}, Now: env.Now,
	}, nil
}
