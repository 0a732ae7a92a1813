package cli

import (
	"fmt"
	"net/mail"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailprobe/mailprobe/pkg/dkimkey"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/smtpclient"
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
	Cc, Bcc    []string
	AddHeaders []string
	BodySize   int
	client     sendClientFlags
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
      --from me@example.com --to you@example.org --attach report.pdf
  mailprobe smtp send mx.example.org --from me@example.com --to you@example.org --quit-after rcpt
  mailprobe smtp send --socket /run/dovecot/lmtp --protocol lmtp --from me@example.com --to you@example.org
  mailprobe smtp send smtp.gmail.com:587 --user me@gmail.com --oauth2-token-cmd "gcloud auth print-access-token" \
      --from me@gmail.com --to you@example.org
  (swaks options and their mailprobe flags: docs/smtp-send.md)`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			local := o.client.Socket != "" || o.client.Pipe != ""
			switch {
			case len(args) == 1:
				o.Target = args[0]
			case local:
				// A socket or a program has no host: name the server
				// "localhost" for EHLO's sake and certificate checks.
				o.Target = "localhost"
			default:
				return usageErrorf("name the server, HOST[:PORT] (or give --socket PATH or --pipe COMMAND)")
			}
			if o.client.Protocol == "lmtp" && len(args) == 1 && !strings.Contains(strings.TrimPrefix(o.Target, "["), ":") {
				o.Target += ":24" // LMTP's port (RFC 2033 §4, swaks' default)
			}
			if len(o.To) == 0 || o.From == "" {
				return usageErrorf("--from and --to are required")
			}
			// The envelope takes bare addresses; display names stay in
			// the headers ("Alice <alice@example.com>"). Bcc is
			// envelope only.
			var rcpts []string
			for _, list := range []struct {
				flag  string
				addrs []string
			}{{"--to", o.To}, {"--cc", o.Cc}, {"--bcc", o.Bcc}} {
				for _, t := range list.addrs {
					a, err := mail.ParseAddress(t)
					if err != nil {
						return usageErrorf("%s %q: %v", list.flag, t, err)
					}
					rcpts = append(rcpts, a.Address)
				}
			}
			client, err := o.client.clientOptions(env, cmd.Context())
			if err != nil {
				return err
			}
			if o.PrintOnly || o.client.Dump {
				// Nothing is sent: no password, no token, no connection.
				o.User, o.PasswordEnv, o.PasswordFile, o.Password = "", "", "", ""
				o.client.OAuthTokenEnv, o.client.OAuthTokenFile, o.client.OAuthTokenCmd = "", "", ""
			}
			token, err := o.client.oauthToken(cmd.Context(), env, o.User)
			if err != nil {
				return err
			}
			if token != "" {
				if o.User == "" {
					return usageErrorf("an OAuth 2.0 token needs --user, the account it was issued for")
				}
				if o.PasswordEnv != "" || o.PasswordFile != "" || o.Password != "" {
					return usageErrorf("give a password or an OAuth 2.0 token, not both")
				}
				if o.AuthMech != "" && !smtpclient.IsOAuth(o.AuthMech) {
					return usageErrorf("an OAuth 2.0 token goes with --auth-mech XOAUTH2 or OAUTHBEARER, not %s", o.AuthMech)
				}
				client.OAuth = true
				o.oauthToken = token
			}
			if client.Protocol == "lmtp" && o.Role == "" {
				o.Role = "mx" // LMTP delivers; nobody logs in to it
			}
			opts, err := o.smtpCheckOptions.engineOptions(env)
			if err != nil {
				return err
			}
			opts.Client = client
			from, err := mail.ParseAddress(o.From)
			if err != nil {
				return usageErrorf("--from %q: %v", o.From, err)
			}
			opts.MailFrom, opts.RcptTo = from.Address, rcpts
			if opts.Message, err = o.message(opts, env); err != nil {
				return err
			}
			if o.PrintOnly {
				_, err := env.IO.Out.Write(opts.Message)
				return err
			}
			if o.client.Dump {
				return dumpOptions(env.IO.Out, cmd, [][2]string{
					{"server", o.Target}, {"envelope from", opts.MailFrom}, {"envelope to", strings.Join(opts.RcptTo, ", ")},
					{"message bytes", fmt.Sprint(len(opts.Message))}, {"credentials", credSummary(opts.User, opts.Password != "", client.OAuth)}})
			}
			return o.run(cmd.Context(), env, opts)
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
	f.StringVar(&o.BodyFile, "body-file", "", "read the body from this file (\"-\": standard input)")
	f.StringArrayVar(&o.Headers, "header", nil, "header \"Name: value\", replacing the message's header of that name or added (repeatable); values may use %DATE%, %MESSAGEID%, %FROM_ADDRESS%, %TO_ADDRESS%")
	f.StringArrayVar(&o.Attach, "attach", nil, "attach this file (repeatable; \"-\": standard input)")
	f.StringVar(&o.EML, "eml", "", "send this raw RFC 5322 message file (\"-\": standard input) as is, tokens like %DATE% replaced")
	f.StringVar(&o.AuthMech, "auth-mech", "", "AUTH mechanism: "+strings.Join(smtpclient.Mechanisms, ", ")+" (default: the best offered; with an OAuth token OAUTHBEARER, else XOAUTH2)")
	f.StringSliceVar(&o.Cc, "cc", nil, "Cc recipient: in the Cc header and the envelope (repeatable)")
	f.StringSliceVar(&o.Bcc, "bcc", nil, "Bcc recipient: in the envelope only (repeatable)")
	f.StringArrayVar(&o.AddHeaders, "add-header", nil, "header \"Name: value\" added even when the message has one of that name (repeatable)")
	f.IntVar(&o.BodySize, "body-size", 0, "send a body of exactly this many bytes (a SIZE test) instead of --body")
	addSendClientFlags(c, &o.client)
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

func (o *smtpSendOptions) message(opts smtpprobe.Options, env *Env) ([]byte, error) {
	var msg []byte
	tok := newTokens(o.From, append(append([]string{}, o.To...), o.Cc...), opts.Helo, env)
	if o.EML != "" && o.BodySize > 0 {
		return nil, usageErrorf("--body-size makes its own body; it does not go with --eml")
	}
	if o.EML != "" {
		b, err := readInput(env, "--eml", o.EML, maxMessageSize)
		if err != nil {
			return nil, err
		}
		msg = []byte(tok.replace(string(b)))
	} else {
		body := o.Body
		if o.BodyFile != "" {
			b, err := readInput(env, "--body-file", o.BodyFile, maxMessageSize)
			if err != nil {
				return nil, err
			}
			body = string(b)
		}
		if o.BodySize < 0 || o.BodySize > 100<<20 {
			return nil, usageErrorf("--body-size must be between 0 and 104857600")
		} else if o.BodySize > 0 {
			body = sizedBody(o.BodySize)
		}
		var headers []string
		if len(o.Cc) > 0 {
			headers = append(headers, "Cc: "+strings.Join(o.Cc, ", "))
		}
		sm := smtpprobe.SimpleMessage{From: o.From, To: o.To, Subject: tok.replace(o.Subject), Body: tok.replace(body), Headers: headers, HeloDomain: opts.Helo, Date: tok.date, MessageID: tok.messageID}
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
	var err error
	if msg, err = editHeaders(msg, tok.replaceAll(o.Headers), tok.replaceAll(o.AddHeaders)); err != nil {
		return nil, err
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
