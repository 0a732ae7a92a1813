package cli

import (
	"fmt"
	"net/mail"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailprobe/mailprobe/pkg/dkimkey"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/smtpprobe"
)

type smtpSendOptions struct {
	smtpCheckOptions
	Subject    string
	Body       string
	BodyFile   string
	Headers    []string
	Attach     []string
	EML        string
	DKIMKey    string
	DKIMSel    string
	DKIMDomain string
	PrintOnly  bool
}

func newSMTPSendCmd(env *Env) *cobra.Command {
	o := &smtpSendOptions{}
	c := &cobra.Command{
		Use:   "send HOST[:PORT]",
		Short: "Send a message stage by stage, like swaks, with every reply explained",
		Example: `  mailprobe smtp send smtp.example.com:587 --user me@example.com --password-env SMTP_PASSWORD \
      --from me@example.com --to you@example.org --subject "hello" --body "test"
  mailprobe smtp send mx.example.org --from me@example.com --to you@example.org --eml message.eml
  mailprobe smtp send smtp.example.com:465 --tls implicit --user me --password-file ~/.smtp-pass \
      --from me@example.com --to you@example.org --attach report.pdf`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Target = args[0]
			if len(o.To) == 0 || o.From == "" {
				return usageErrorf("--from and --to are required")
			}
			// The envelope takes bare addresses; display names stay in
			// the headers ("Alice <alice@example.com>").
			var rcpts []string
			for _, t := range o.To {
				a, err := mail.ParseAddress(t)
				if err != nil {
					return usageErrorf("--to %q: %v", t, err)
				}
				rcpts = append(rcpts, a.Address)
			}
			if o.PrintOnly {
				// Nothing is sent: no password, no connection.
				o.User, o.PasswordEnv, o.PasswordFile, o.Password = "", "", "", ""
			}
			opts, err := o.smtpCheckOptions.engineOptions(env)
			if err != nil {
				return err
			}
			from, err := mail.ParseAddress(o.From)
			if err != nil {
				return usageErrorf("--from %q: %v", o.From, err)
			}
			opts.MailFrom, opts.RcptTo = from.Address, rcpts
			if opts.Message, err = o.message(env, opts); err != nil {
				return err
			}
			if o.PrintOnly {
				_, err := env.IO.Out.Write(opts.Message)
				return err
			}
			return runSMTPProbe(cmd.Context(), env, &o.Global, opts)
		},
	}
	addGlobalFlags(c, &o.Global)
	addTLSFlags(c, &o.tlsFlags)
	addCredFlags(c, &o.credFlags)
	addTLSModeFlags(c, &o.tlsModeFlags, true)
	addEnvelopeFlags(c, &o.envelopeFlags, "sender address (header From and envelope MAIL FROM)", "recipient address (repeatable)")
	addRoleFlag(c, &o.Role, smtpRoles...)
	f := c.Flags()
	f.StringVar(&o.Subject, "subject", "mailprobe test", "subject")
	f.StringVar(&o.Body, "body", "This is a test message sent by mailprobe.\n", "message body text")
	f.StringVar(&o.BodyFile, "body-file", "", "read the body from this file (- for stdin)")
	f.StringArrayVar(&o.Headers, "header", nil, "extra header \"Name: value\" (repeatable)")
	f.StringArrayVar(&o.Attach, "attach", nil, "attach this file (repeatable; - for stdin)")
	f.StringVar(&o.EML, "eml", "", "send this raw RFC 5322 message file as is (headers and body; - for stdin)")
	f.StringVar(&o.AuthMech, "auth-mech", "", "AUTH mechanism: PLAIN, LOGIN, CRAM-MD5 or XOAUTH2 (default: the best offered)")
	f.BoolVar(&o.AllowPlaintextAuth, "allow-plaintext-auth", false, "allow sending credentials over an unencrypted connection")
	f.StringVar(&o.Helo, "helo", "", "name to send in EHLO")
	f.StringVar(&o.LocalAddr, "local-addr", "", "source IP address to connect from")
	f.StringVar(&o.DKIMKey, "dkim-key", "", "PEM private key to DKIM-sign the message with")
	f.StringVar(&o.DKIMSel, "dkim-selector", "", "DKIM selector (s=)")
	f.StringVar(&o.DKIMDomain, "dkim-domain", "", "DKIM signing domain (d=; default: the From domain)")
	f.BoolVar(&o.PrintOnly, "print", false, "print the message that would be sent and exit")
	f.BoolVar(&o.NoPTR, "no-ptr", false, "skip the reverse DNS (PTR) check of the server's address")
	deprecate(c, env, "tls-mode", "use --tls MODE, with --require-tls for \"required\"", false, o.setOldTLSMode)
	addResolverFlags(c, &o.resolverFlags)
	return c
}

// setOldTLSMode maps the old --tls-mode values onto --tls and
// --require-tls: "required" was STARTTLS or fail, and "implicit" also
// refused to send without TLS.
func (o *smtpSendOptions) setOldTLSMode(v string) error {
	switch v {
	case "none", "starttls":
		o.TLS = v
	case "required":
		o.TLS, o.RequireTLS = string(netx.TLSStartTLS), true
	case "implicit":
		o.TLS, o.RequireTLS = string(netx.TLSImplicit), true
	default:
		return fmt.Errorf("must be none, starttls, required or implicit, not %q", v)
	}
	return nil
}

func (o *smtpSendOptions) message(env *Env, opts smtpprobe.Options) ([]byte, error) {
	var msg []byte
	if o.EML != "" {
		b, err := readInput(env, "--eml", o.EML, maxMessageSize)
		if err != nil {
			return nil, err
		}
		msg = b
	} else {
		body := o.Body
		if o.BodyFile != "" {
			b, err := readInput(env, "--body-file", o.BodyFile, maxMessageSize)
			if err != nil {
				return nil, err
			}
			body = string(b)
		}
		sm := smtpprobe.SimpleMessage{From: o.From, To: o.To, Subject: o.Subject, Body: body, Headers: o.Headers, HeloDomain: opts.Helo}
		for _, p := range o.Attach {
			b, err := readInput(env, "--attach", p, maxMessageSize)
			if err != nil {
				return nil, err
			}
			sm.Attachments = append(sm.Attachments, smtpprobe.Attachment{Name: p, Data: b})
		}
		var err error
		if msg, err = smtpprobe.Compose(sm); err != nil {
			return nil, usageErrorf("%v", err)
		}
	}
	if o.DKIMKey != "" || o.DKIMSel != "" {
		if o.DKIMKey == "" || o.DKIMSel == "" {
			return nil, usageErrorf("--dkim-key and --dkim-selector go together")
		}
		signer, err := dkimkey.Load(o.DKIMKey)
		if err != nil {
			return nil, usageErrorf("--dkim-key: %v", err)
		}
		domain := o.DKIMDomain
		if domain == "" {
			a := addrOnly(o.From)
			domain = a[strings.LastIndexByte(a, '@')+1:]
		}
		if msg, err = dkimkey.Signer(domain, o.DKIMSel, signer)(msg); err != nil {
			return nil, usageErrorf("DKIM signing: %v", err)
		}
	}
	return msg, nil
}
