package cli

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailprobe/mailprobe/pkg/maillog"
	"github.com/mailprobe/mailprobe/pkg/netx"
)

// mailprobe logs: brute force seen from the mail servers' own logs.

type logsOptions struct {
	Global
	MaxRetry     int
	FindTime     time.Duration
	BanTime      time.Duration
	AlarmAfter   int
	Top          int
	Year         int
	MaxSources   int
	MaxAccounts  int
	MaxLineBytes int
}

// logsRun is what the engine gets; tests of flag parsing inspect it.
type logsRun struct {
	Files   []string
	Options maillog.Options
	Year    int
}

func newLogsCmd(env *Env) *cobra.Command {
	o := &logsOptions{}
	c := &cobra.Command{
		Use:   "logs FILE...",
		Short: "Find password guessing in Postfix, Dovecot and Exim logs",
		Long: `Read mail server logs and report authentication failures per source
address and per account, the top sources, the accounts under attack, a
successful login from an address after many failures (a fail finding: the
account may be compromised), and whether a fail2ban-style jail
(--maxretry failures within --findtime) would have banned each address.

Reads Postfix (smtpd "SASL ... authentication failed", sasl_username=),
Dovecot (imap-login/pop3-login "auth failed, N attempts", "Login:") and Exim
("authenticator failed", A= on reception lines) lines, as syslog files, the
servers' own log files, Exim's mainlog or journalctl output (-o short,
short-precise, short-iso, short-full or short-unix). FILE may be "-" for standard input; .gz files are unpacked.
Timestamps without a year (Dec  4 21:39:20) take the current year, or
--year; timestamps without a zone are local time.

The log is streamed: memory stays bounded however large it is
(--max-sources, --max-accounts and --max-line-bytes; what they cut is
reported). JSON output (--format json) carries the full summary for other
tools: top sources and accounts, bans, alarms and failures per hour.`,
		Example: `  mailprobe logs /var/log/mail.log
  mailprobe logs /var/log/mail.log.1 /var/log/mail.log.2.gz --maxretry 3 --findtime 1h
  journalctl -u postfix@- -u dovecot --since yesterday -o short-iso | mailprobe logs -
  mailprobe logs /var/log/exim4/mainlog --format json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Global.validate(); err != nil {
				return err
			}
			run, err := o.run(args)
			if err != nil {
				return err
			}
			if env.inspected(run) {
				return nil
			}
			var inputs []maillog.Input
			stdin := false
			for _, name := range run.Files {
				if name == "-" {
					if stdin {
						return usageErrorf("\"-\" (standard input) given twice")
					}
					stdin = true
					inputs = append(inputs, maillog.Input{Name: "-", R: env.IO.In})
					continue
				}
				f, err := os.Open(name)
				if err != nil {
					return usageErrorf("%v", err)
				}
				defer f.Close()
				if fi, err := f.Stat(); err == nil && fi.IsDir() {
					return usageErrorf("%s is a directory; give the log files in it", name)
				}
				inputs = append(inputs, maillog.Input{Name: name, R: f})
			}
			ctx, cancel := o.Global.context(cmd.Context())
			defer cancel()
			// A large log takes seconds: one progress line on a terminal.
			p := newProgress(env, o.Global.format)
			var name atomic.Value
			var lines atomic.Int64
			name.Store(run.Files[0])
			run.Options.Progress = func(in string, n int64) { name.Store(in); lines.Store(n) }
			start := time.Now()
			p.Tick(func() string {
				return fmt.Sprintf("logs: reading %s, %d lines, %s…", netx.Clip(name.Load().(string)), lines.Load(), elapsed(start))
			})
			rep, err := maillog.Run(ctx, inputs, run.Options, maillog.Parser{Year: run.Year, Location: time.Local, Now: env.Now}, env.Now)
			p.Done()
			if err != nil {
				return usageErrorf("%v", err)
			}
			return o.Global.emit(env, rep)
		},
	}
	addGlobalFlags(c, &o.Global)
	f := c.Flags()
	f.IntVar(&o.MaxRetry, "maxretry", maillog.DefaultMaxRetry, "failures from one address that make a ban (fail2ban's maxretry) and a brute-force finding")
	f.DurationVar(&o.FindTime, "findtime", maillog.DefaultFindTime, "window the --maxretry failures must fall in (fail2ban's findtime)")
	f.DurationVar(&o.BanTime, "bantime", maillog.DefaultBanTime, "how long a simulated ban lasts; failures during it do not count towards another")
	f.IntVar(&o.AlarmAfter, "alarm-after", 0, "failures from an address before a successful login from it is a fail finding (default: --maxretry)")
	f.IntVar(&o.Top, "top", maillog.DefaultTop, "how many sources and accounts to list")
	f.IntVar(&o.Year, "year", 0, "year of timestamps that have none (default: this year, or last year for a date in the future)")
	f.IntVar(&o.MaxSources, "max-sources", maillog.DefaultMaxSources, "most source addresses tracked (the rest are counted)")
	f.IntVar(&o.MaxAccounts, "max-accounts", maillog.DefaultMaxAccounts, "most accounts tracked (the rest are counted)")
	f.IntVar(&o.MaxLineBytes, "max-line-bytes", maillog.DefaultMaxLineBytes, "longest line read (longer lines are skipped and counted)")
	return c
}

// run checks the flags and builds what the engine gets.
func (o *logsOptions) run(files []string) (logsRun, error) {
	switch {
	case o.MaxRetry < 1 || o.MaxRetry > 10_000:
		return logsRun{}, usageErrorf("--maxretry must be between 1 and 10000, not %d", o.MaxRetry)
	case o.FindTime <= 0:
		return logsRun{}, usageErrorf("--findtime must be positive, not %s", o.FindTime)
	case o.BanTime <= 0:
		return logsRun{}, usageErrorf("--bantime must be positive, not %s", o.BanTime)
	case o.AlarmAfter < 0:
		return logsRun{}, usageErrorf("--alarm-after must not be negative")
	case o.Top < 1 || o.Top > 10_000:
		return logsRun{}, usageErrorf("--top must be between 1 and 10000, not %d", o.Top)
	case o.Year != 0 && (o.Year < 1970 || o.Year > 9999):
		return logsRun{}, usageErrorf("--year %d is not a year", o.Year)
	case o.MaxSources < 1 || o.MaxAccounts < 1:
		return logsRun{}, usageErrorf("--max-sources and --max-accounts must be at least 1")
	case o.MaxLineBytes < 256 || o.MaxLineBytes > 1<<20:
		return logsRun{}, usageErrorf("--max-line-bytes must be between 256 and %d, not %d", 1<<20, o.MaxLineBytes)
	}
	for _, f := range files {
		if f == "" {
			return logsRun{}, usageErrorf("an empty file name was given")
		}
	}
	return logsRun{Files: files, Year: o.Year, Options: maillog.Options{
		MaxRetry: o.MaxRetry, FindTime: o.FindTime, BanTime: o.BanTime, AlarmAfter: o.AlarmAfter, Top: o.Top,
		MaxSources: o.MaxSources, MaxAccounts: o.MaxAccounts, MaxLineBytes: o.MaxLineBytes,
	}}, nil
}
