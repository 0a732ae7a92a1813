package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/mailprobe/mailprobe/pkg/dnsauth"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// dmarc: policy discovery and evaluation for a message (RFC 9989, RFC 7489).

type dmarcOptions struct {
	Global
	resolverFlags
	Message  string
	IP       string
	MailFrom string
	Helo     string
	At       string
}

func newDMARCCmd(env *Env) *cobra.Command {
	o := &dmarcOptions{}
	c := &cobra.Command{
		Use:   "dmarc [DOMAIN]",
		Short: "Check a DMARC policy, or evaluate DMARC for a message",
		Long: `Discover the DMARC policy of DOMAIN (RFC 9989's DNS tree walk, which
replaced RFC 7489's public suffix list; the PSL answer is compared) and check
every tag, the policy's strength (p=none without reports is a warning),
sp/np, t=y, pct, alignment modes, and that external report addresses
authorize the domain (RFC 7489 §7.1).

With --message, the message's DKIM signatures are verified and DMARC is
evaluated for its From domain (DOMAIN may then be omitted): aligned or not,
and what the policy asks the receiver to do. Add --ip (and --from) to
include SPF in the evaluation, and --at to judge the DKIM signatures at
another time than now (x= expiry of an archived message).

The policy applied is p= for the domain's own record; for a subdomain
inheriting its parent's record, np= when the subdomain does not exist (no
A, AAAA or MX record) and sp= otherwise (RFC 9989). A From field with
authors in several domains is exempt from DMARC (a finding, not an error).`,
		Example: `  mailprobe dmarc example.com
  mailprobe dmarc --message received.eml
  mailprobe dmarc --message received.eml --ip 203.0.113.7 --from bounce@example.com`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Global.validate(); err != nil {
				return err
			}
			domain := ""
			if len(args) == 1 {
				d, err := domainArg(args[0])
				if err != nil {
					return err
				}
				domain = d
			} else if o.Message == "" {
				return usageErrorf("give a DOMAIN, or --message FILE")
			}
			ip, err := ipFlag(o.IP, "--ip")
			if err != nil {
				return err
			}
			if (ip.IsValid() || o.MailFrom != "" || o.Helo != "") && o.Message == "" {
				return usageErrorf("--ip, --from and --helo go with --message")
			}
			if o.MailFrom != "" && !ip.IsValid() {
				return usageErrorf("--from needs --ip")
			}
			if ip.IsValid() && o.MailFrom == "" && o.Helo == "" {
				return usageErrorf("--ip needs --from (or --helo for a bounce) to know which SPF policy to evaluate")
			}
			at, err := atFlag(o.At)
			if err != nil {
				return err
			}
			if !at.IsZero() && o.Message == "" {
				return usageErrorf("--at goes with --message")
			}
			dopts := dnsauth.DMARCOptions{IP: ip, MailFrom: o.MailFrom, Helo: o.Helo, Now: env.Now, At: at}
			if o.Message != "" {
				if dopts.Message, err = readMessage(env, o.Message); err != nil {
					return err
				}
			}
			if env.inspected(dopts) {
				return nil
			}
			return runDNS(cmd.Context(), env, &o.Global, &o.resolverFlags, "", func(ctx context.Context, r *resolver.Resolver) (*report.Report, error) {
				dopts.Resolver, dopts.Domain = r, domain
				rep, err := dnsauth.DMARCReport(ctx, dopts)
				if err != nil {
					return nil, usageErrorf("%s: %v", o.Message, err)
				}
				return rep, nil
			})
		},
	}
	addGlobalFlags(c, &o.Global)
	addResolverFlags(c, &o.resolverFlags)
	f := c.Flags()
	f.StringVar(&o.Message, "message", "", "evaluate DMARC for this message (FILE.eml, or - for stdin)")
	f.StringVar(&o.IP, "ip", "", "with --message: the IP the message came from, to evaluate SPF")
	f.StringVar(&o.MailFrom, "from", "", "with --ip: the MAIL FROM address (default: the HELO identity)")
	alias(c, env, "mail-from", "from")
	f.StringVar(&o.Helo, "helo", "", "with --ip: the HELO name")
	f.StringVar(&o.At, "at", "", "with --message: judge DKIM signatures at this time (RFC 3339 or seconds since 1970) instead of now")
	return c
}
