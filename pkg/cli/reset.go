package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailprobe/mailprobe/pkg/capture"
	"github.com/mailprobe/mailprobe/pkg/dkimkey"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resetmail"
	"github.com/mailprobe/mailprobe/pkg/resolver"
	"github.com/mailprobe/mailprobe/pkg/smtpprobe"
)

func newResetCmd(env *Env) *cobra.Command {
	c := group(&cobra.Command{
		Use:   "reset",
		Short: "Send a realistic password-reset email and follow it to the inbox",
	})
	c.AddCommand(newResetSendCmd(env))
	return c
}

type resetSendOptions struct {
	Global
	tlsFlags
	credFlags
	resolverFlags
	Embedded bool

	SMTP string
	tlsModeFlags
	AllowPlaintextAuth bool
	Helo               string
	LocalAddr          string

	From, To, ReplyTo, AppName, LinkBase, TemplateDir string
	Code                                              bool
	Expiry                                            time.Duration
	DKIMKey, DKIMSelector, DKIMDomain                 string

	IMAP                   string
	IMAPUser               string
	IMAPPasswordEnv        string
	IMAPPasswordFile       string
	imapOAuth              oauthFlags
	IMAPTLS                string
	IMAPServerName         string
	IMAPCAFile             string
	IMAPAllowPlaintextAuth bool
	Wait                   time.Duration
	Cleanup                bool
}

func newResetSendCmd(env *Env) *cobra.Command {
	o := &resetSendOptions{}
	c := &cobra.Command{
		Use:   "send",
		Short: "Send a password-reset email stage by stage; with --imap, find it in the mailbox",
		Long: `Compose a realistic password-reset email (text and HTML parts, a unique
reset link with a random token or an 8-character code, Message-ID, Date,
optional DKIM signature), send it through an SMTP server and report every
stage. With --imap and the recipient's credentials, wait for the message,
report the delivery latency, the folder it landed in, the SPF/DKIM/DMARC
results the receiving server recorded, and whether the link arrived intact.

--embedded runs the whole flow against an in-process SMTP server that
delivers into an in-process IMAP mailbox: no setup at all.`,
		Example: `  mailprobe reset send --embedded
  mailprobe reset send --smtp smtp.example.com:587 --user app@example.com --password-env SMTP_PASSWORD \
      --from "Example <no-reply@example.com>" --to me@example.org
  mailprobe reset send --smtp smtp.example.com:587 --user app@example.com --password-env SMTP_PASSWORD \
      --from no-reply@example.com --to me@example.org \
      --imap imap.example.org:993 --imap-user me@example.org --imap-password-env IMAP_PASSWORD --cleanup
  mailprobe reset send --smtp mx --from no-reply@example.com --to me@example.org`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := o.Global.context(cmd.Context())
			defer cancel()
			ro, stop, err := o.options(ctx, env)
			if err != nil {
				return err
			}
			defer stop()
			if env.inspected(ro) {
				return nil
			}
			p := newProgress(env, o.Global.format)
			if p != nil {
				ro.Progress = p.Set
			}
			rep, err := resetmail.Run(ctx, ro)
			p.Done()
			if err != nil {
				return usageErrorf("%v", err)
			}
			if o.Embedded {
				rep.Target = "embedded SMTP " + ro.SMTP.Host + ":" + fmt.Sprint(ro.SMTP.Port) + " → IMAP " + ro.IMAP.Host + ":" + fmt.Sprint(ro.IMAP.Port)
			}
			return o.Global.emit(env, rep)
		},
	}
	addGlobalFlags(c, &o.Global)
	addTLSFlags(c, &o.tlsFlags)
	addCredFlags(c, &o.credFlags)
	f := c.Flags()
	f.BoolVar(&o.Embedded, "embedded", false, "run against an in-process SMTP server and IMAP mailbox (no setup)")
	f.StringVar(&o.SMTP, "smtp", "", "SMTP server HOST[:PORT] to send through (587 default), or \"mx\" to deliver to the recipient's MX")
	addTLSModeFlags(c, &o.tlsModeFlags, true)
	addResolverFlags(c, &o.resolverFlags)
	f.BoolVar(&o.AllowPlaintextAuth, "allow-plaintext-auth", false, "allow SMTP AUTH over an unencrypted connection")
	f.StringVar(&o.Helo, "helo", "", "name to send in EHLO")
	f.StringVar(&o.LocalAddr, "local-addr", "", "source IP address to connect from")
	f.StringVar(&o.From, "from", "", "From address, e.g. \"Example <no-reply@example.com>\" (also the envelope sender)")
	f.StringVar(&o.To, "to", "", "recipient address")
	f.StringVar(&o.ReplyTo, "reply-to", "", "Reply-To address")
	f.StringVar(&o.AppName, "app-name", "Example App", "application name used in the email")
	f.StringVar(&o.LinkBase, "link-base", "https://app.example/reset?token=", "reset URL the random token is appended to")
	f.BoolVar(&o.Code, "code", false, "send an 8-character recovery code instead of a link")
	f.DurationVar(&o.Expiry, "expiry", 30*time.Minute, "expiry stated in the email")
	f.StringVar(&o.TemplateDir, "template", "", "directory with subject.tmpl, text.tmpl and html.tmpl to use instead of the built-in template")
	f.StringVar(&o.DKIMKey, "dkim-key", "", "PEM private key to DKIM-sign the email with")
	f.StringVar(&o.DKIMSelector, "dkim-selector", "", "DKIM selector (s=)")
	f.StringVar(&o.DKIMDomain, "dkim-domain", "", "DKIM signing domain (d=; default: the From domain)")
	f.StringVar(&o.IMAP, "imap", "", "recipient's IMAP server HOST[:PORT] (993 default) to find the message in")
	f.StringVar(&o.IMAPUser, "imap-user", "", "IMAP user (default: the --to address)")
	f.StringVar(&o.IMAPPasswordEnv, "imap-password-env", "", "read the IMAP password from this environment variable")
	f.StringVar(&o.IMAPPasswordFile, "imap-password-file", "", "read the IMAP password from the first line of this file")
	addOAuthFlags(c, &o.imapOAuth, "imap-", "the IMAP mailbox (Microsoft 365, Gmail)")
	f.StringVar(&o.IMAPServerName, "imap-servername", "", "name to expect in the IMAP server's certificate (default: the --imap host)")
	f.StringVar(&o.IMAPCAFile, "imap-ca-file", "", "PEM CA certificates for the IMAP server (default: --ca-file, else the system roots)")
	f.StringVar(&o.IMAPTLS, "imap-tls", string(netx.TLSAuto), "how the IMAP connection gets TLS: auto (from the port), starttls, implicit or none")
	completeValues(c, "imap-tls", netx.TLSModes...)
	f.BoolVar(&o.IMAPAllowPlaintextAuth, "imap-allow-plaintext-auth", false, "allow the IMAP password over an unencrypted connection")
	f.DurationVar(&o.Wait, "wait", 60*time.Second, "how long to wait for the message to arrive")
	f.BoolVar(&o.Cleanup, "cleanup", false, "delete the test message from the mailbox afterwards")
	return c
}

// options validates flags and, with --embedded, starts the in-process
// pair. stop shuts it down.
func (o *resetSendOptions) options(ctx context.Context, env *Env) (resetmail.Options, func(), error) {
	var ro resetmail.Options
	stop := func() {}
	if err := o.Global.validate(); err != nil {
		return ro, stop, err
	}
	if o.Embedded {
		if o.SMTP != "" || o.IMAP != "" {
			return ro, stop, usageErrorf("--embedded starts its own servers: drop --smtp and --imap")
		}
		return o.embedded(ctx, env)
	}
	if o.SMTP == "" {
		return ro, stop, usageErrorf("give --smtp HOST[:PORT] (or \"mx\"), or --embedded to try it with no setup")
	}
	if o.From == "" || o.To == "" {
		return ro, stop, usageErrorf("--from and --to are required")
	}
	mode, err := o.tlsModeFlags.mode()
	if err != nil {
		return ro, stop, err
	}
	imapMode, err := parseTLSModeFlag("--imap-tls", o.IMAPTLS)
	if err != nil {
		return ro, stop, err
	}
	pool, err := o.tlsFlags.pool()
	if err != nil {
		return ro, stop, err
	}
	password, err := o.credFlags.resolve(env)
	if err != nil {
		return ro, stop, err
	}
	n, err := o.resolverFlags.network(env, &o.Global, o.LocalAddr)
	if err != nil {
		return ro, stop, err
	}
	dial := n.Dial
	timeouts := netx.Timeouts{Total: o.Global.Timeout}
	so := smtpprobe.Options{
		TLSMode: mode, ImplicitTLS: mode == netx.TLSImplicit, NoSTARTTLS: mode == netx.TLSNone, RequireTLS: o.RequireTLS,
		ServerName: o.ServerName, RootCAs: pool, Insecure: o.Insecure,
		Helo: heloName(o.Helo), User: o.User, Password: password, AllowPlaintextAuth: o.AllowPlaintextAuth,
		Dial: dial, LookupIP: n.lookupIP(), Timeouts: timeouts,
	}
	var mxResolver resolver.Interface
	if strings.EqualFold(o.SMTP, "mx") {
		so.Host = "mx"
		// The recipient's MX records, asked through the --resolver
		// server, else mailprobe's resolver of the operating system's
		// nameservers.
		r, err := o.resolverFlags.resolver(env, &o.Global)
		if err != nil {
			return ro, stop, err
		}
		mxResolver = r
	} else {
		if so.Host, so.Port, err = netx.SplitHostPort(o.SMTP, 587); err != nil {
			return ro, stop, usageErrorf("--smtp: %v", err)
		}
	}
	ro = resetmail.Options{SMTP: so, Resolver: mxResolver, Wait: o.Wait, Cleanup: o.Cleanup, Now: env.Now}
	if ro.Compose, err = o.compose(); err != nil {
		return ro, stop, err
	}
	if o.IMAP != "" {
		imapPool := pool
		if o.IMAPCAFile != "" {
			if imapPool, err = (&tlsFlags{CAFile: o.IMAPCAFile}).pool(); err != nil {
				return ro, stop, err
			}
		}
		io := resetmail.IMAPOptions{TLS: imapTLS(imapMode), ServerName: o.IMAPServerName, RootCAs: imapPool, Insecure: o.Insecure,
			AllowPlaintextAuth: o.IMAPAllowPlaintextAuth, Dial: dial, Timeouts: timeouts, User: o.IMAPUser}
		if io.Host, io.Port, err = netx.SplitHostPort(o.IMAP, 993); err != nil {
			return ro, stop, usageErrorf("--imap: %v", err)
		}
		if io.User == "" {
			io.User = addrOnly(o.To)
		}
		tok, err := o.imapOAuth.token(context.Background(), env, io.User, o.IMAPPasswordEnv != "" || o.IMAPPasswordFile != "")
		if err != nil {
			return ro, stop, err
		}
		io.Password, io.OAuth, io.OAuthMech = tok, tok != "", o.imapOAuth.Mech
		cf := credFlags{User: io.User, PasswordEnv: o.IMAPPasswordEnv, PasswordFile: o.IMAPPasswordFile}
		if tok == "" {
			if io.Password, err = cf.resolve(env); err != nil {
				return ro, stop, err
			}
		}
		ro.IMAP = io
	}
	return ro, stop, nil
}

// imapTLS is resetmail's spelling of an --imap-tls mode: "" lets the
// port decide.
func imapTLS(m netx.TLSMode) string {
	if m == netx.TLSAuto {
		return ""
	}
	return string(m)
}

func addrOnly(s string) string {
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		return strings.TrimSuffix(s[i+1:], ">")
	}
	return strings.TrimSpace(s)
}

func (o *resetSendOptions) compose() (resetmail.ComposeOptions, error) {
	co := resetmail.ComposeOptions{From: o.From, To: o.To, ReplyTo: o.ReplyTo, AppName: o.AppName,
		LinkBase: o.LinkBase, Code: o.Code, Expiry: o.Expiry, TemplateDir: o.TemplateDir}
	if o.DKIMKey != "" || o.DKIMSelector != "" {
		if o.DKIMKey == "" || o.DKIMSelector == "" {
			return co, usageErrorf("--dkim-key and --dkim-selector go together")
		}
		signer, err := dkimkey.Load(o.DKIMKey)
		if err != nil {
			return co, usageErrorf("--dkim-key: %v", err)
		}
		domain := o.DKIMDomain
		if domain == "" {
			a := addrOnly(o.From)
			domain = a[strings.LastIndexByte(a, '@')+1:]
		}
		co.Sign = dkimkey.Signer(domain, o.DKIMSelector, signer)
	}
	return co, nil
}

// embedded starts the in-process pair with a fresh certificate, a fresh
// mailbox password and a fresh DKIM key whose public half the capture
// server's verifier is told about, so every stage runs for real.
func (o *resetSendOptions) embedded(ctx context.Context, env *Env) (resetmail.Options, func(), error) {
	var ro resetmail.Options
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return ro, func() {}, err
	}
	const domain, selector = "mailprobe.test", "demo"
	keyRecord := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	pwb := make([]byte, 18)
	_, _ = rand.Read(pwb)
	password := base64.RawURLEncoding.EncodeToString(pwb)
	user := "user@" + domain
	// The demo domain's DNS, served to the capture server's SPF, DKIM and
	// DMARC checks without any network: what a real sender domain should
	// publish.
	demoDNS, err := resolver.NewStatic(
		selector+"._domainkey."+domain+`. 300 IN TXT "`+keyRecord+`"`,
		domain+`. 300 IN TXT "v=spf1 ip4:127.0.0.0/8 ip6:::1 -all"`,
		"_dmarc."+domain+`. 300 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@`+domain+`"`,
	)
	if err != nil {
		return ro, func() {}, err
	}
	srv, err := capture.Start(ctx, capture.Options{
		Hostname:     "mail." + domain,
		Users:        map[string]string{user: password},
		AuthNeedsTLS: true,
		CheckSPF:     true,
		Resolver:     demoDNS,
		Now:          env.Now,
	})
	if err != nil {
		return ro, func() {}, &exitError{code: report.ExitIncomplete, err: fmt.Errorf("starting the embedded servers: %w", err)}
	}
	stop := func() { _ = srv.Close() }
	smtpHost, smtpPort, _ := netx.SplitHostPort(srv.SMTPAddr(), 0)
	imapHost, imapPort, _ := netx.SplitHostPort(srv.IMAPAddr(), 0)
	timeouts := netx.Timeouts{Total: o.Global.Timeout}
	ro = resetmail.Options{
		Compose: resetmail.ComposeOptions{
			From: "Example App <no-reply@" + domain + ">", To: user, AppName: o.AppName,
			LinkBase: o.LinkBase, Code: o.Code, Expiry: o.Expiry, TemplateDir: o.TemplateDir,
			Sign: dkimkey.Signer(domain, selector, priv),
		},
		SMTP: smtpprobe.Options{Host: smtpHost, Port: smtpPort, Role: smtpprobe.RoleSubmission, ServerName: "mail." + domain,
			RootCAs: srv.CertPool(), User: user, Password: password, RequireTLS: true, Helo: "app.mailprobe.test",
			Timeouts: timeouts},
		IMAP: resetmail.IMAPOptions{Host: imapHost, Port: imapPort, TLS: "starttls", ServerName: "mail." + domain,
			RootCAs: srv.CertPool(), User: user, Password: password, Timeouts: timeouts},
		Wait: 10 * time.Second, Cleanup: true, Now: env.Now,
	}
	return ro, stop, nil
}
