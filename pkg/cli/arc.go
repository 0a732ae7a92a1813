package cli

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailprobe/mailprobe/pkg/arc"
	"github.com/mailprobe/mailprobe/pkg/dnsauth"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

func newARCCmd(env *Env) *cobra.Command {
	c := group(&cobra.Command{
		Use:   "arc",
		Short: "Authenticated Received Chain (RFC 8617): verify the seals forwarders added",
	})
	c.AddCommand(newARCVerifyCmd(env))
	return c
}

func newARCVerifyCmd(env *Env) *cobra.Command {
	o := &messageVerifyOptions{}
	c := &cobra.Command{
		Use:   "verify FILE.eml",
		Short: "Verify a message's ARC chain: status, every instance, the oldest passing hop, what broke it",
		Long: `Verify the ARC chain of a message (RFC 8617): the ARC-Seal,
ARC-Message-Signature and ARC-Authentication-Results that mailing lists and
forwarders add. A forwarder that changes the message breaks DKIM; if it
sealed ARC, receivers can still trust what it saw (its
ARC-Authentication-Results). The report gives the chain status (cv=none,
pass or fail), each instance with its sealer and the results it recorded,
the oldest instance whose message signature still validates, and, for a
broken chain, which instance broke it and why.

FILE may be "-" for standard input. Keys are fetched with --resolver.
--at judges the signatures at another time than now.

dkim verify and dmarc --message report the ARC chain too.`,
		Example: `  mailprobe arc verify forwarded.eml
  mailprobe arc verify - < message.eml --format json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMessageVerify(cmd, env, o, args[0], func(ctx context.Context, r *resolver.Resolver, msg []byte, at time.Time) (*report.Report, error) {
				rep, err := dnsauth.ARCReport(ctx, dnsauth.ARCOptions{Resolver: r, Name: args[0], Message: msg, At: at, Now: env.Now})
				if err == nil {
					addARCTable(rep)
				}
				return rep, err
			})
		},
	}
	addMessageVerifyFlags(c, o)
	return c
}

// addARCTable puts the per-instance table in the report's details (the
// "arc" fact is a structure, which text output leaves to JSON): one
// "arc_instances.i=NN" row per instance, in every format.
func addARCTable(rep *report.Report) {
	if res, ok := rep.Facts["arc"].(*arc.Result); ok {
		if tab := res.Table(); tab != nil {
			rep.SetFact("arc_instances", tab)
		}
	}
}
