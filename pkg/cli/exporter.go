package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailprobe/mailprobe/pkg/exporter"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/suite"
)

// DefaultExporterAddr is where `mailprobe exporter` listens by default:
// loopback, so that exposing it is a decision.
const DefaultExporterAddr = "127.0.0.1:9425"

func newExporterCmd(env *Env) *cobra.Command {
	var (
		configPath, listen string
		grace              time.Duration
	)
	c := &cobra.Command{
		Use:   "exporter -f FILE",
		Short: "Serve checks as Prometheus metrics (/probe?module=…&target=…, like blackbox_exporter)",
		Long: `Run a Prometheus probe exporter: each GET /probe?module=NAME&target=HOST[:PORT]
runs the module's mailprobe command line against the target and answers with
the report as metrics (mailprobe_probe_success, mailprobe_stage_ok,
mailprobe_findings, mailprobe_cert_not_after_seconds, …). /metrics has the
exporter's own metrics, /-/healthy answers when it is up.

Modules, the allow list of targets and the limits come from a YAML file
(docs/monitoring.md). Passwords only through --password-env/--password-file
in a module's command line.`,
		Example: `  mailprobe exporter -f exporter.yaml
  curl '127.0.0.1:9425/probe?module=submission&target=mail.example.com:587'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if configPath == "" {
				return usageErrorf("exporter needs -f FILE (docs/monitoring.md has an example)")
			}
			f, err := os.Open(configPath)
			if err != nil {
				return usageErrorf("-f: %v", err)
			}
			b, err := io.ReadAll(io.LimitReader(f, 2<<20))
			f.Close()
			if err != nil {
				return usageErrorf("-f: %v", err)
			}
			cfg, err := exporter.ParseConfig(b, func(args []string) error { return validateLine(env, args) })
			if err != nil {
				return usageErrorf("%s: %v", configPath, err)
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return &exitError{code: report.ExitIncomplete, err: fmt.Errorf("listen %s: %w", listen, err)}
			}
			srv := exporter.NewServer(cfg, func(ctx context.Context, args []string) *report.Report {
				return runLine(ctx, env, suite.Run{Args: args})
			})
			fmt.Fprintf(env.IO.ErrOut, "mailprobe exporter: listening on http://%s/ (%d modules); Ctrl-C stops it\n", ln.Addr(), len(cfg.Modules))
			if err := srv.Serve(cmd.Context(), ln, grace); err != nil {
				return &exitError{code: report.ExitIncomplete, err: err}
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVarP(&configPath, "file", "f", "", "the exporter's YAML file: modules, allow list, limits")
	f.StringVar(&listen, "listen", DefaultExporterAddr, "address to serve HTTP on (loopback by default)")
	f.DurationVar(&grace, "shutdown-grace", 30*time.Second, "on Ctrl-C/SIGTERM, how long probes in flight may finish")
	// -f like check -f: --config is every command's file of flag defaults.
	return c
}
