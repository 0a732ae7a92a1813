package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/mailprobe/mailprobe/pkg/dnsauth"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// spf: RFC 7208 evaluation with the include tree (pkg/dnsauth).

type spfOptions struct {
	Global
	resolverFlags
	Domain string
	IP     string
	Sender string
	Helo   string
}

func newSPFCmd(env *Env) *cobra.Command {
	o := &spfOptions{}
	c := &cobra.Command{
		Use:   "spf DOMAIN",
		Short: "Check an SPF policy: the include tree and its lookups, or evaluate it for an IP",
		Long: `Check the SPF record of DOMAIN the way a receiver evaluates it (RFC 7208):
every include and redirect is followed, the DNS lookups are counted per branch,
and the term that makes the 11th lookup (a permerror at every receiver) is
named. Also reported: +all, ?all or no all, the deprecated ptr mechanism, void
lookups, include loops, records that are missing or duplicated.

With --ip, check_host() itself runs for that address: the result (pass, fail,
softfail, neutral, none, permerror, temperror), the term that decided and the
explanation. The identity is --from (default postmaster@DOMAIN); --helo
feeds the %{h} macro.`,
		Example: `  mailprobe spf example.com
  mailprobe spf example.com --ip 203.0.113.7
  mailprobe spf example.com --ip 2001:db8::25 --from bounce@example.com --helo mail.example.com
  mailprobe spf example.com --format json | jq .facts.spf.tree`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Domain = args[0]
			if err := o.Global.validate(); err != nil {
				return err
			}
			domain, err := domainArg(o.Domain)
			if err != nil {
				return err
			}
			ip, err := ipFlag(o.IP, "--ip")
			if err != nil {
				return err
			}
			if (o.Sender != "" || o.Helo != "") && !ip.IsValid() {
				return usageErrorf("--from and --helo need --ip")
			}
			so := dnsauth.SPFOptions{Domain: domain, IP: ip, Sender: o.Sender, Helo: o.Helo, Now: env.Now}
			if env.inspected(so) {
				return nil
			}
			return runDNS(cmd.Context(), env, &o.Global, &o.resolverFlags, domain, func(ctx context.Context, r *resolver.Resolver) (*report.Report, error) {
				so.Resolver = r
				return dnsauth.SPFReport(ctx, so)
			})
		},
	}
	addGlobalFlags(c, &o.Global)
	addResolverFlags(c, &o.resolverFlags)
	f := c.Flags()
	f.StringVar(&o.IP, "ip", "", "evaluate check_host() for this client IP")
	f.StringVar(&o.Sender, "from", "", "MAIL FROM address (default postmaster@DOMAIN)")
	alias(c, env, "sender", "from")
	f.StringVar(&o.Helo, "helo", "", "HELO/EHLO name (for the %{h} macro)")
	return c
}
