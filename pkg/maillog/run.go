package maillog

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// Finding codes of `mailprobe logs`.
const (
	CodeNoEvents       = "logs.input.unrecognized"
	CodeTruncated      = "logs.input.truncated"
	CodeQuiet          = "logs.auth.no-failures"
	CodeSource         = "logs.source.brute-force"
	CodeAccount        = "logs.account.targeted"
	CodeAfterFailures  = "logs.login.after-failures"
	CodeWouldBan       = "logs.fail2ban.would-ban"
	CodeWouldNotBan    = "logs.fail2ban.no-ban"
	CodeMoreSources    = "logs.source.more"
	maxFindingAccounts = 5
)

func init() {
	report.Register(
		report.Code{Code: CodeNoEvents, Severity: report.Warn, Title: "No Postfix, Dovecot or Exim authentication line recognised",
			Fix: "Give the log the mail servers write to (/var/log/mail.log, the Dovecot log, Exim's mainlog) or journalctl output (journalctl -u postfix -u dovecot -o short-iso). Lines of other formats are ignored."},
		report.Code{Code: CodeTruncated, Severity: report.Warn, Title: "Part of the log was not analysed",
			Fix: "The detail says what was skipped: lines longer than --max-line-bytes, or events of sources and accounts beyond --max-sources/--max-accounts. Raise the bound, or split the log."},
		report.Code{Code: CodeQuiet, Severity: report.Pass, Title: "No authentication failures in the log"},
		report.Code{Code: CodeSource, Severity: report.Warn, Title: "An address failed to authenticate many times",
			Fix: "Block the address (fail2ban's postfix-sasl and dovecot jails, a firewall rule), and make sure the accounts it tried have strong passwords."},
		report.Code{Code: CodeAccount, Severity: report.Warn, Title: "An account is under password-guessing attack",
			Fix: "Check the account's password strength and recent successful logins; consider requiring app passwords or a second factor, and rate-limiting authentication."},
		report.Code{Code: CodeAfterFailures, Severity: report.Fail, Title: "A login succeeded from an address after many failures",
			Fix: "Treat the account as possibly compromised: change its password, end its sessions, and check what was sent or read from that address."},
		report.Code{Code: CodeWouldBan, Severity: report.Info, Title: "A fail2ban-style jail would have banned addresses",
			Fix: "If fail2ban runs, check these bans happened (fail2ban-client status postfix-sasl / dovecot); if it does not, enable a jail for the mail services."},
		report.Code{Code: CodeWouldNotBan, Severity: report.Pass, Title: "No address reached the ban threshold"},
		report.Code{Code: CodeMoreSources, Severity: report.Info, Title: "More addresses failed to authenticate than are listed",
			Fix: "The JSON output lists the top sources; raise --top to list more."},
	)
}

// Input is one log to read.
type Input struct {
	Name string
	R    io.Reader
}

// Run reads every input line by line into one analysis and returns the
// report of `mailprobe logs`: one stage per input and an "analyse" stage,
// findings for brute-force sources, targeted accounts, successful logins
// after failures and the simulated fail2ban jail, and the summary as
// facts. A read error is a stage error (the report is incomplete); ctx
// cancels between lines.
func Run(ctx context.Context, inputs []Input, o Options, parser Parser, now func() time.Time) (*report.Report, error) {
	if now == nil {
		now = time.Now
	}
	names := make([]string, len(inputs))
	for i, in := range inputs {
		names[i] = in.Name
	}
	rep := report.NewReport("logs", strings.Join(names, " "), now())
	start := now()
	a := NewAnalyzer(o)
	a.Parser = parser
	if a.Parser.Now == nil {
		a.Parser.Now = now
	}
	for _, in := range inputs {
		t0 := now()
		before := a.Stats
		a.input = in.Name
		err := a.Read(ctx, in.R)
		st := report.Stage{Name: "read " + in.Name, Start: t0.Sub(start), Duration: now().Sub(t0), Status: report.StatusOK}
		lines, events := a.Stats.Lines-before.Lines, a.Stats.Events-before.Events
		st.Summary = fmt.Sprintf("%d lines, %d authentication events", lines, events)
		if err != nil {
			st.Status = report.StatusError
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				st.Status = report.StatusInterrupted
			}
			st.Summary += ": " + err.Error()
		}
		rep.AddStage(st)
		if err != nil {
			break
		}
	}
	t0 := now()
	sum := a.Summary()
	rep.Add(findings(sum)...)
	rep.AddStage(report.Stage{Name: "analyse", Status: report.StatusInfo, Start: t0.Sub(start), Duration: now().Sub(t0),
		Summary: fmt.Sprintf("%d failures, %d successes, %d source%s, %d account%s", sum.Stats.Failures, sum.Stats.Successes,
			sum.AllSources, plural(sum.AllSources, "s"), sum.AllAccounts, plural(sum.AllAccounts, "s"))})
	rep.SetFact("lines", sum.Stats.Lines)
	rep.SetFact("auth_failures", sum.Stats.Failures)
	rep.SetFact("auth_successes", sum.Stats.Successes)
	rep.SetFact("sources", sum.AllSources)
	rep.SetFact("accounts", sum.AllAccounts)
	rep.SetFact("fail2ban", map[string]any{"maxretry": a.o.MaxRetry, "findtime": fmtDur(a.o.FindTime), "bantime": fmtDur(a.o.BanTime), "would_ban": a.BannedCount()})
	rep.SetFact("summary", sum)
	rep.Duration = now().Sub(start)
	rep.SortFindings()
	return rep, nil
}

// Read feeds every line of r. Lines longer than MaxLineBytes are skipped
// whole and counted; a gzip stream (logrotate's .gz) is unpacked.
func (a *Analyzer) Read(ctx context.Context, r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	if head, err := br.Peek(2); err == nil && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 64<<10)
	}
	max := a.o.MaxLineBytes
	var long []byte // the start of a line longer than the buffer
	skipping := false
	for n := 0; ; n++ {
		if n&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if a.o.Progress != nil && n > 0 {
				a.o.Progress(a.input, a.Stats.Lines)
			}
		}
		chunk, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if !skipping && len(long)+len(chunk) <= max {
				long = append(long, chunk...)
			} else {
				skipping, long = true, long[:0]
			}
			continue
		}
		if len(chunk) > 0 || len(long) > 0 {
			line := chunk
			if len(long) > 0 {
				line = append(long, chunk...)
			}
			line = bytes.TrimRight(line, "\r\n")
			switch {
			case skipping || len(line) > max:
				a.Stats.Lines++
				a.Stats.Bytes += int64(len(line)) + 1
				a.Stats.LongLines++
			default:
				a.Line(string(line))
			}
			long, skipping = long[:0], false
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// findings turns the summary into the report's findings.
func findings(s Summary) []report.Finding {
	o := s.Options
	var fs []report.Finding
	if s.Stats.Events == 0 {
		fs = append(fs, report.Newf(CodeNoEvents, "analyse", "Read %d lines; none is a Postfix, Dovecot or Exim authentication line.", s.Stats.Lines))
	}
	var cut []string
	if s.Stats.LongLines > 0 {
		cut = append(cut, fmt.Sprintf("%d lines longer than %d bytes skipped", s.Stats.LongLines, o.MaxLineBytes))
	}
	if s.Stats.DroppedSources > 0 {
		cut = append(cut, fmt.Sprintf("%d events of sources beyond the first %d not tracked per source", s.Stats.DroppedSources, o.MaxSources))
	}
	if s.Stats.DroppedAccounts > 0 {
		cut = append(cut, fmt.Sprintf("%d events of accounts beyond the first %d not tracked per account", s.Stats.DroppedAccounts, o.MaxAccounts))
	}
	if len(cut) > 0 {
		fs = append(fs, report.New(CodeTruncated, "analyse", strings.Join(cut, "; ")+"."))
	}
	for _, al := range s.Alarms {
		who := "an account the log does not name"
		if al.Account != "" {
			who = al.Account
		}
		f := report.Newf(CodeAfterFailures, "analyse", "%s logged in as %s via %s%s after %d failed attempts from that address.", al.Addr, who, al.Server, at(al.Time), al.FailuresBefore)
		if al.Logins > 1 {
			f.Detail += fmt.Sprintf(" %d such logins in all (at least %d failures before each); the latest is shown.", al.Logins, o.AlarmAfter)
		}
		fs = append(fs, f)
	}
	listed := 0
	for _, src := range s.Sources {
		if src.Failures < o.MaxRetry {
			continue
		}
		listed++
		detail := fmt.Sprintf("%s: %d failed authentications%s", src.Addr, src.Failures, span(src.First, src.Last))
		if len(src.Accounts) > 0 {
			detail += fmt.Sprintf(" against %s", accountList(src.Accounts))
		}
		detail += fmt.Sprintf(" (%s)", strings.Join(src.Servers, ", "))
		detail += peak(src.Peak, src.Failures)
		if src.Successes > 0 {
			detail += fmt.Sprintf("; %d successful login%s from it too", src.Successes, plural(src.Successes, "s"))
		}
		fs = append(fs, report.New(CodeSource, "analyse", detail+"."))
	}
	if more := countAtLeast(s, o.MaxRetry) - listed; more > 0 {
		fs = append(fs, report.Newf(CodeMoreSources, "analyse", "%d more addresses failed %d or more times (--top %d lists the first %d).", more, o.MaxRetry, o.Top, o.Top))
	}
	for _, acct := range s.Accounts {
		if acct.Failures < o.MaxRetry {
			continue
		}
		n := fmt.Sprint(acct.Sources)
		if acct.SourcesCapped {
			n += " or more"
		}
		detail := fmt.Sprintf("%s: %d failed authentications from %s address%s%s", acct.Name, acct.Failures, n, plural(acct.Sources, "es"), span(acct.First, acct.Last))
		detail += peak(acct.Peak, acct.Failures)
		if acct.Successes > 0 {
			detail += fmt.Sprintf("; %d successful login%s", acct.Successes, plural(acct.Successes, "s"))
		}
		fs = append(fs, report.New(CodeAccount, "analyse", detail+"."))
	}
	switch {
	case s.Stats.Failures == 0 && s.Stats.Events > 0:
		fs = append(fs, report.Newf(CodeQuiet, "analyse", "%d successful logins, no failures.", s.Stats.Successes))
	case len(s.Banned) > 0:
		var parts []string
		for _, b := range s.Banned {
			parts = append(parts, fmt.Sprintf("%s%s (%d ban%s)", b.Addr, at(b.Banned), b.Bans, plural(b.Bans, "s")))
		}
		fs = append(fs, report.Newf(CodeWouldBan, "analyse", "With maxretry %d, findtime %s and bantime %s, a jail would have banned: %s.", o.MaxRetry, fmtDur(o.FindTime), fmtDur(o.BanTime), strings.Join(parts, "; ")))
	case s.Stats.Failures > 0:
		fs = append(fs, report.Newf(CodeWouldNotBan, "analyse", "No address failed %d times within %s.", o.MaxRetry, fmtDur(o.FindTime)))
	}
	return fs
}

func countAtLeast(s Summary, n int) int {
	c := 0
	for _, src := range s.Sources {
		if src.Failures >= n {
			c++
		}
	}
	return c + s.MoreSources
}

// peak says the busiest hour when the failures spread over more than one.
func peak(p Peak, total int) string {
	if p.Failures == 0 || p.Failures == total {
		return ""
	}
	return fmt.Sprintf("; busiest hour %s UTC with %d", p.Hour.Format("2006-01-02 15:04"), p.Failures)
}

func accountList(names []string) string {
	if len(names) > maxFindingAccounts {
		return strings.Join(names[:maxFindingAccounts], ", ") + fmt.Sprintf(" and others (%d or more accounts)", len(names))
	}
	return strings.Join(names, ", ")
}

func span(first, last time.Time) string {
	switch {
	case first.IsZero():
		return ""
	case first.Equal(last):
		return " at " + first.Format(time.DateTime)
	}
	return fmt.Sprintf(" between %s and %s", first.Format(time.DateTime), last.Format(time.DateTime))
}

func at(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " at " + t.Format(time.DateTime)
}

func plural(n int, suffix string) string {
	if n == 1 {
		return ""
	}
	return suffix
}

// fmtDur writes 10m, 1h, 1m30s (not Go's 10m0s, 1h0m0s).
func fmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
