package maillog

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/pkg/report"
)

var fixedNow = func() time.Time { return time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC) }

func TestParse_realLines(t *testing.T) {
	cases := []struct {
		line           string
		kind           Kind
		server, source string
		user, mech     string
		count          int
		when           string
	}{
		// Postfix 3.7.11 (Debian 12), from testdata/postfix-burst.log.
		{"Dec 04 21:39:20 mail postfix/submission/smtpd[4000]: warning: unknown[127.0.0.2]: SASL PLAIN authentication failed: (reason unavailable), sasl_username=alice@test.local",
			AuthFail, "postfix", "127.0.0.2", "alice@test.local", "PLAIN", 1, "2026-12-04 21:39:20"},
		{"Dec 04 21:39:22 mail postfix/submission/smtpd[4564]: warning: unknown[127.0.0.2]: SASL LOGIN authentication failed: (reason unavailable), sasl_username=alice@test.local",
			AuthFail, "postfix", "127.0.0.2", "alice@test.local", "LOGIN", 1, "2026-12-04 21:39:22"},
		{"Dec 04 21:39:46 mail postfix/submission/smtpd[4562]: disconnect from unknown[127.0.0.2] ehlo=2 starttls=1 auth=1 quit=1 commands=5",
			AuthOK, "postfix", "127.0.0.2", "", "", 1, "2026-12-04 21:39:46"},
		// Older Postfix: no sasl_username, the base64 challenge as reason.
		{"Jan  7 03:12:44 mx postfix/smtpd[1234]: warning: unknown[203.0.113.5]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
			AuthFail, "postfix", "203.0.113.5", "", "LOGIN", 1, "2026-01-07 03:12:44"},
		{"2026-12-04T10:00:00.123456+01:00 mx postfix/smtpd[99]: 4F2B81C0A: client=host.example.net[2001:db8::1], sasl_method=PLAIN, sasl_username=bob@example.org",
			AuthOK, "postfix", "2001:db8::1", "bob@example.org", "PLAIN", 1, "2026-12-04 10:00:00"},
		// Dovecot 2.3.19.1, from testdata/dovecot-burst.log.
		{"Dec 04 21:39:15 imap-login: Info: Disconnected: Connection closed (auth failed, 3 attempts in 6 secs): user=<alice@test.local>, method=PLAIN, rip=127.0.0.2, lip=127.0.0.1, TLS: Connection closed, session=<TT/QtNVht9x/AAAC>",
			AuthFail, "dovecot", "127.0.0.2", "alice@test.local", "PLAIN", 3, "2026-12-04 21:39:15"},
		{"Dec 04 21:39:46 imap-login: Info: Login: user=<alice@test.local>, method=PLAIN, rip=127.0.0.2, lip=127.0.0.1, mpid=4956, TLS, session=<av8Ft9VhLcB/AAAC>",
			AuthOK, "dovecot", "127.0.0.2", "alice@test.local", "PLAIN", 1, "2026-12-04 21:39:46"},
		// Dovecot 2.2 and syslog form.
		{"Mar  3 11:00:01 mail dovecot: pop3-login: Aborted login (auth failed, 1 attempts in 2 secs): user=<bob>, method=PLAIN, rip=::ffff:198.51.100.3, lip=192.0.2.1, session=<x>",
			AuthFail, "dovecot", "198.51.100.3", "bob", "PLAIN", 1, "2026-03-03 11:00:01"},
		// Exim mainlog.
		{"2026-12-04 10:16:02 plain authenticator failed for (User) [203.0.113.9]:40212 I=[192.0.2.1]:587: 535 Incorrect authentication data (set_id=admin@example.org)",
			AuthFail, "exim", "203.0.113.9", "admin@example.org", "plain", 1, "2026-12-04 10:16:02"},
		{"2026-12-04 10:15:01 1rAbCd-000123-EF <= alice@example.org H=(laptop) [198.51.100.7]:51234 I=[192.0.2.1]:587 P=esmtpsa X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no A=plain:alice@example.org S=1234",
			AuthOK, "exim", "198.51.100.7", "alice@example.org", "plain", 1, "2026-12-04 10:15:01"},
		// Exim 4.95+ with H= and the connection id.
		{"2026-12-04 10:16:09 dovecot_login authenticator failed for H=(User) [203.0.113.9]:40218 I=[192.0.2.1]:587 Ci=4242: 535 Incorrect authentication data (set_id=root)",
			AuthFail, "exim", "203.0.113.9", "root", "dovecot_login", 1, "2026-12-04 10:16:09"},
		// Exim through syslog/journal: the journal's prefix, no own time.
		{"2026-12-04T10:16:04+0000 mx exim[777]: login authenticator failed for (User) [203.0.113.9]:40214: 535 Incorrect authentication data (set_id=info@example.org)",
			AuthFail, "exim", "203.0.113.9", "info@example.org", "login", 1, "2026-12-04 10:16:04"},
	}
	for _, c := range cases {
		p := Parser{Now: fixedNow}
		ev, ok := p.Parse(c.line)
		if !ok {
			t.Errorf("not parsed: %s", c.line)
			continue
		}
		if ev.Kind != c.kind || ev.Server != c.server || ev.Source.String() != c.source || ev.User != c.user || ev.Mechanism != c.mech || ev.Count != c.count {
			t.Errorf("%s\n got %v %s %s user=%q mech=%q count=%d", c.line, ev.Kind, ev.Server, ev.Source, ev.User, ev.Mechanism, ev.Count)
		}
		if got := ev.Time.Format(time.DateTime); got != c.when {
			t.Errorf("%s\n time %s, want %s", c.line, got, c.when)
		}
	}
	for _, line := range []string{
		"Dec 04 21:39:15 mail postfix/submission/smtpd[4000]: connect from unknown[127.0.0.2]",
		"Dec 04 21:39:30 mail postfix/submission/smtpd[4565]: disconnect from unknown[127.0.0.2] ehlo=2 starttls=1 auth=0/6 quit=1 commands=4/10",
		"Dec 04 21:39:00 imap-login: Info: Disconnected: Connection closed (no auth attempts in 0 secs): user=<>, rip=127.0.0.1, lip=127.0.0.1, secured, session=<r3lCtNVh2JB/AAAB>",
		"Dec 04 21:49:48 imap(alice@test.local)<4956><av8Ft9VhLcB/AAAC>: Info: Disconnected: Connection closed (No commands sent) in=0 out=404",
		"-- Logs begin at Fri 2026-12-04 21:00:00 UTC, end at Fri 2026-12-04 22:00:00 UTC. --",
		"2026-12-04 10:17:00 1rAbCf-000125-EF => bob@example.org R=local_user T=mail_spool",
		"Dec 04 21:39:20 mail postfix/submission/smtpd[4000]: warning: unknown[not-an-ip]: SASL PLAIN authentication failed: x",
		"", "auth", "Login: ",
	} {
		p := Parser{Now: fixedNow}
		if ev, ok := p.Parse(line); ok {
			t.Errorf("parsed %q as %+v", line, ev)
		}
	}
}

func TestParser_year(t *testing.T) {
	// On 5 January, a December line is from last year; a log that runs
	// from December into January moves on a year.
	p := Parser{Now: func() time.Time { return time.Date(2027, 1, 5, 0, 0, 0, 0, time.UTC) }}
	a, _ := p.timestamp("Dec 31 23:59:59 x")
	b, _ := p.timestamp("Jan  1 00:00:01 x")
	if a.Year() != 2026 || b.Year() != 2027 {
		t.Errorf("years %d, %d; want 2026, 2027", a.Year(), b.Year())
	}
	p = Parser{Year: 2020}
	c, _ := p.timestamp("Feb 29 12:00:00 x")
	if c.Format(time.DateOnly) != "2020-02-29" {
		t.Errorf("--year 2020: %s", c)
	}
	// journalctl -o short-precise; malformed prefixes are not times.
	d, rest := p.timestamp("Mar  3 04:05:06.123456 host x")
	if d.Format(time.StampMicro) != "Mar  3 04:05:06.123456" || rest != "host x" {
		t.Errorf("short-precise: %s %q", d.Format(time.StampMicro), rest)
	}
	// journalctl -o short-full and -o short-unix.
	e, rest := p.timestamp("Fri 2026-12-04 21:39:20 UTC mail postfix/smtpd[1]: x")
	if e.Format(time.RFC3339) != "2026-12-04T21:39:20Z" || rest != "mail postfix/smtpd[1]: x" {
		t.Errorf("short-full: %s %q", e.Format(time.RFC3339), rest)
	}
	u, rest := p.timestamp("1796420360.500000 mail dovecot[2]: x")
	if u.UTC().Format(time.RFC3339Nano) != "2026-12-04T21:39:20.5Z" || rest != "mail dovecot[2]: x" {
		t.Errorf("short-unix: %s %q", u.UTC().Format(time.RFC3339Nano), rest)
	}
	for _, bad := range []string{"Dec 4 21:39 x", "Foo  4 21:39:20 x", "Dec 32 21:39:20 x", "Dec  4 25:39:20 x", "Dec  4 21:39:20.x y", "Dec  4 21:39:20"} {
		if tm, _ := p.timestamp(bad); !tm.IsZero() {
			t.Errorf("%q read as %s", bad, tm)
		}
	}
}

func analyzeFiles(t *testing.T, o Options, names ...string) Summary {
	t.Helper()
	a := NewAnalyzer(o)
	a.Parser.Now = fixedNow
	for _, n := range names {
		f, err := os.Open(filepath.Join("testdata", n))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Read(context.Background(), f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return a.Summary()
}

// The burst of the integration environment, read back.
func TestAnalyze_burst(t *testing.T) {
	for _, files := range [][]string{
		{"postfix-burst.log", "dovecot-burst.log"},
		{"journal-short-iso.log"},
		{"journal-short.log"},
	} {
		s := analyzeFiles(t, Options{}, files...)
		if len(s.Sources) == 0 || s.Sources[0].Addr != "127.0.0.2" {
			t.Fatalf("%v: top sources %+v", files, s.Sources)
		}
		src := s.Sources[0]
		// 30 IMAP (10 lines of 3 attempts) + 30 POP3 + 60 SASL (PLAIN and LOGIN per try).
		if src.Failures != 120 || s.Stats.ByServer["dovecot"] != 60 || s.Stats.ByServer["postfix"] != 60 {
			t.Errorf("%v: 127.0.0.2 failures %d, by server %v", files, src.Failures, s.Stats.ByServer)
		}
		if strings.Join(src.Accounts, ",") != "alice@test.local,bob@test.local" && strings.Join(src.Accounts, ",") != "bob@test.local,alice@test.local" {
			t.Errorf("%v: accounts %v", files, src.Accounts)
		}
		if len(s.Accounts) != 2 || s.Accounts[0].Name != "alice@test.local" || s.Accounts[0].Failures != 90 || s.Accounts[1].Failures != 30 {
			t.Errorf("%v: accounts %+v", files, s.Accounts)
		}
		if src.Bans == 0 || src.Banned.IsZero() || len(s.Banned) != 1 {
			t.Errorf("%v: no ban simulated: %+v", files, src)
		}
		// The two correct logins after the failures (submission, then IMAP).
		if len(s.Alarms) != 2 || s.Alarms[0].Addr != "127.0.0.2" || s.Alarms[0].Server != "postfix" || s.Alarms[1].Account != "alice@test.local" || s.Alarms[1].Server != "dovecot" {
			t.Errorf("%v: alarms %+v", files, s.Alarms)
		}
		if src.Successes != 2 {
			t.Errorf("%v: successes %d, want 2 (one per session)", files, src.Successes)
		}
	}
}

func TestAnalyze_exim(t *testing.T) {
	s := analyzeFiles(t, Options{MaxRetry: 3}, "exim-mainlog.log")
	if s.Stats.Failures != 6 || s.Stats.Successes != 2 {
		t.Errorf("stats %+v", s.Stats)
	}
	if s.Sources[0].Addr != "203.0.113.9" || s.Sources[0].Failures != 5 {
		t.Errorf("sources %+v", s.Sources)
	}
	if len(s.Alarms) != 1 || s.Alarms[0].Account != "admin@example.org" || s.Alarms[0].FailuresBefore != 5 || s.Alarms[0].Logins != 1 {
		t.Errorf("alarms %+v", s.Alarms)
	}
	// A later login after more failures updates the alarm, never hides.
	a := NewAnalyzer(Options{MaxRetry: 2})
	fail := "2026-12-04T10:00:00Z mx dovecot: imap-login: Disconnected: Connection closed (auth failed, 3 attempts in 6 secs): user=<x>, method=PLAIN, rip=192.0.2.1, lip=192.0.2.9"
	ok := "2026-12-04T10:01:00Z mx dovecot: imap-login: Login: user=<x>, method=PLAIN, rip=192.0.2.1, lip=192.0.2.9"
	for _, l := range []string{fail, ok, fail, fail, ok} {
		a.Line(l)
	}
	if al := a.Summary().Alarms; len(al) != 1 || al[0].Logins != 2 || al[0].FailuresBefore != 9 {
		t.Errorf("repeated alarm: %+v", al)
	}
}

// fail2ban's rule: maxretry failures within findtime, counted from each
// failure back; failures spread wider never ban.
func TestAnalyze_fail2ban(t *testing.T) {
	line := func(ts string) string {
		return ts + " mx postfix/smtpd[1]: warning: unknown[192.0.2.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6"
	}
	feed := func(o Options, times ...string) *Analyzer {
		a := NewAnalyzer(o)
		for _, ts := range times {
			a.Line(line(ts))
		}
		return a
	}
	// 5 failures 3 minutes apart: the 5th is 12 minutes after the 1st.
	a := feed(Options{}, "2026-12-04T10:00:00Z", "2026-12-04T10:03:00Z", "2026-12-04T10:06:00Z", "2026-12-04T10:09:00Z", "2026-12-04T10:12:00Z")
	if a.BannedCount() != 0 {
		t.Error("banned though no 5 failures fell within 10 minutes")
	}
	// The 6th falls within 10 minutes of the 2nd: ban.
	a.Line(line("2026-12-04T10:12:30Z"))
	if a.BannedCount() != 1 || a.Summary().Banned[0].Banned.Format(time.TimeOnly) != "10:12:30" {
		t.Errorf("not banned at 10:12:30: %+v", a.Summary().Banned)
	}
	// The busiest hour of the source.
	a.Line(line("2026-12-04T11:00:00Z"))
	if p := a.Summary().Sources[0].Peak; p.Failures != 6 || p.Hour.Format(time.TimeOnly) != "10:00:00" {
		t.Errorf("peak %+v", p)
	}
	if f, _ := find(findings(a.Summary()), CodeSource); !strings.Contains(f.Detail, "busiest hour 2026-12-04 10:00 UTC with 6") {
		t.Errorf("source detail: %s", f.Detail)
	}
	// Configurable: maxretry 3 in 1 minute.
	a = feed(Options{MaxRetry: 3, FindTime: time.Minute}, "2026-12-04T10:00:00Z", "2026-12-04T10:00:20Z", "2026-12-04T10:00:59Z")
	if a.BannedCount() != 1 {
		t.Error("maxretry 3 findtime 1m: no ban")
	}
	a = feed(Options{MaxRetry: 3, FindTime: time.Minute}, "2026-12-04T10:00:00Z", "2026-12-04T10:00:20Z", "2026-12-04T10:01:01Z")
	if a.BannedCount() != 0 {
		t.Error("maxretry 3 findtime 1m: banned over 61 s")
	}
}

// Bounded memory: sources beyond the cap are counted, not tracked; long
// lines are skipped whole, and the line after them is still read.
func TestAnalyze_bounds(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 50; i++ {
		b.WriteString("2026-12-04T10:00:00Z mx postfix/smtpd[1]: warning: unknown[10.0.0." + itoa(i) + "]: SASL LOGIN authentication failed: x, sasl_username=u" + itoa(i) + "\n")
	}
	b.WriteString(strings.Repeat("A", 200_000) + "auth\n")
	b.WriteString("2026-12-04T10:00:01Z mx postfix/smtpd[1]: warning: unknown[10.0.0.1]: SASL LOGIN authentication failed: x\n")
	b.WriteString(strings.Repeat("B", 100) + "\r\n")
	a := NewAnalyzer(Options{MaxSources: 10, MaxAccounts: 20, MaxLineBytes: 1000})
	if err := a.Read(context.Background(), strings.NewReader(b.String())); err != nil {
		t.Fatal(err)
	}
	s := a.Summary()
	if s.AllSources != 10 || s.Stats.DroppedSources != 40 || s.AllAccounts != 20 || s.Stats.DroppedAccounts != 30 {
		t.Errorf("caps: %d sources, dropped %d; %d accounts, dropped %d", s.AllSources, s.Stats.DroppedSources, s.AllAccounts, s.Stats.DroppedAccounts)
	}
	if s.Stats.LongLines != 1 || s.Stats.Lines != 53 || s.Stats.Failures != 51 {
		t.Errorf("stats %+v", s.Stats)
	}
	fs := findings(s)
	if f, ok := find(fs, CodeTruncated); !ok || !strings.Contains(f.Detail, "1 lines longer than 1000 bytes") || !strings.Contains(f.Detail, "40 events of sources") {
		t.Errorf("truncation finding: %+v", f)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func find(fs []report.Finding, code string) (report.Finding, bool) {
	for _, f := range fs {
		if f.Code == code {
			return f, true
		}
	}
	return report.Finding{}, false
}

func TestRun_report(t *testing.T) {
	pf, _ := os.ReadFile("testdata/postfix-burst.log")
	dc, _ := os.ReadFile("testdata/dovecot-burst.log")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(dc)
	zw.Close()
	rep, err := Run(context.Background(), []Input{{"maillog", bytes.NewReader(pf)}, {"dovecot.log.1.gz", &gz}}, Options{}, Parser{}, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Command != "logs" || rep.Target != "maillog dovecot.log.1.gz" || len(rep.Stages) != 3 || rep.Incomplete {
		t.Fatalf("report %+v", rep)
	}
	if rep.Findings[0].Code != CodeAfterFailures || rep.ExitCode(report.Fail) != report.ExitFindings {
		t.Errorf("first finding %s, exit %d", rep.Findings[0].Code, rep.ExitCode(report.Fail))
	}
	for _, want := range []string{CodeSource, CodeAccount, CodeWouldBan} {
		if f, ok := rep.Find(want); !ok {
			t.Errorf("no %s", want)
		} else if want == CodeSource && (!strings.Contains(f.Detail, "127.0.0.2: 120 failed") || !strings.Contains(f.Detail, "alice@test.local")) {
			t.Errorf("%s: %s", want, f.Detail)
		}
	}
	b, err := json.Marshal(rep)
	if err != nil || !bytes.Contains(b, []byte(`"top_sources":[{"address":"127.0.0.2","failures":120`)) {
		t.Errorf("json: %v %.400s", err, b)
	}
	// Nothing recognised: a warning, exit 0 at the default threshold.
	rep, _ = Run(context.Background(), []Input{{"-", strings.NewReader("hello\nworld\n")}}, Options{}, Parser{}, fixedNow)
	if len(rep.Findings) != 1 || rep.Findings[0].Code != CodeNoEvents || rep.ExitCode(report.Fail) != 0 {
		t.Errorf("unrecognised: %+v", rep.Findings)
	}
	// A read error is a stage error: incomplete, exit 3.
	rep, _ = Run(context.Background(), []Input{{"broken", errReader{}}}, Options{}, Parser{}, fixedNow)
	if !rep.Incomplete || rep.ExitCode(report.Fail) != report.ExitIncomplete {
		t.Errorf("read error: %+v", rep.Stages)
	}
	for _, c := range []string{CodeNoEvents, CodeTruncated, CodeQuiet, CodeSource, CodeAccount, CodeAfterFailures, CodeWouldBan, CodeWouldNotBan, CodeMoreSources} {
		if _, ok := report.Lookup(c); !ok {
			t.Errorf("%s not registered", c)
		}
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, os.ErrPermission }

func FuzzParse(f *testing.F) {
	for _, name := range []string{"postfix-burst.log", "dovecot-burst.log", "exim-mainlog.log", "journal-short-iso.log"} {
		b, _ := os.ReadFile(filepath.Join("testdata", name))
		for i, l := range strings.Split(string(b), "\n") {
			if i%7 == 0 {
				f.Add(l)
			}
		}
	}
	f.Fuzz(func(t *testing.T, line string) {
		p := Parser{Now: fixedNow}
		ev, ok := p.Parse(line)
		if ok && (!ev.Source.IsValid() || ev.Count < 1 || ev.Count > 1000 || (ev.Kind != AuthFail && ev.Kind != AuthOK)) {
			t.Fatalf("bad event %+v from %q", ev, line)
		}
		a := NewAnalyzer(Options{MaxSources: 4, MaxAccounts: 4, MaxLineBytes: 512})
		if err := a.Read(context.Background(), strings.NewReader(line+"\n"+line)); err != nil {
			t.Fatal(err)
		}
		_ = findings(a.Summary())
	})
}
