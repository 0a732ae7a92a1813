package smtpprobe_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/smtpprobe"
)

func smuggling(t *testing.T, srv testserver.SMTP) *report.Report {
	t.Helper()
	addr := testserver.Start(t, srv.Handler())
	return check(t, addr, func(o *smtpprobe.Options) {
		o.ProbeSmuggling = true
		o.MailFrom, o.RcptTo = "me@test.example", []string{"me@test.example"}
	})
}

func findingsOf(r *report.Report, code string) []report.Finding {
	var out []report.Finding
	for _, f := range r.Findings {
		if f.Code == code {
			out = append(out, f)
		}
	}
	return out
}

// testserver's DATA, like Postfix before smtpd_forbid_bare_newline, ends
// at any "." line whatever its line ending: the three look-alikes with a
// bare <LF> end the message, and the smuggled one is queued.
func TestProbeSmuggling_lenientServerIsVulnerable(t *testing.T) {
	var mu sync.Mutex
	ehlos := 0
	r := smuggling(t, testserver.SMTP{Banner: []string{"220 mail.test.example ESMTP Postfix"}, Hook: func(c *testserver.Conn, line string) bool {
		if strings.HasPrefix(strings.ToUpper(line), "EHLO") {
			mu.Lock()
			ehlos++
			mu.Unlock()
		}
		return false
	}})
	vuln := findingsOf(r, "smtp.smuggling.vulnerable")
	var names []string
	for _, f := range vuln {
		names = append(names, f.Detail[len("The server ended the message at "):strings.Index(f.Detail, " and ")])
		if f.Severity != report.Fail || !strings.Contains(f.Fix, "smtpd_forbid_bare_newline = yes") || !strings.Contains(f.Fix, "CVE-2023-51764") {
			t.Errorf("finding %s fix %q", f.Severity, f.Fix)
		}
		if !strings.Contains(f.Detail, "5 replies to one DATA (250, 250, 250, 354, 250)") || len(f.Evidence) != 5 {
			t.Errorf("detail %q evidence %d", f.Detail, len(f.Evidence))
		}
	}
	if strings.Join(names, " ") != "<LF>.<LF> <LF>.<CR><LF> <CR><LF>.<LF>" {
		t.Errorf("vulnerable to %q, want the three bare-LF look-alikes: %v", names, codesOf(r))
	}
	if f := finding(r, "smtp.smuggling.vulnerable"); f != nil {
		for _, ref := range []string{"CVE-2023-51764", "CVE-2023-51765", "CVE-2023-51766"} {
			if !strings.Contains(strings.Join(f.Refs, " "), ref) {
				t.Errorf("refs %v lack %s", f.Refs, ref)
			}
		}
	}
	if finding(r, "smtp.smuggling.safe") != nil || finding(r, "smtp.smuggling.untested") != nil {
		t.Errorf("findings %v", codesOf(r))
	}
	if got := stageStatus(r, "smuggling"); got != report.StatusFail {
		t.Errorf("smuggling stage %s", got)
	}
	if r.ExitCode(report.Fail) != report.ExitFindings {
		t.Errorf("exit %d", r.ExitCode(report.Fail))
	}
	mu.Lock()
	defer mu.Unlock()
	if ehlos != 1+8 { // the check's own connection, and one per look-alike
		t.Errorf("%d EHLO, want 9 (one connection per look-alike)", ehlos)
	}
}

// strictData is a DATA that ends only at <CR><LF>.<CR><LF>.
func strictData(c *testserver.Conn) {
	c.Send("354 End data with <CR><LF>.<CR><LF>")
	var got strings.Builder
	for !strings.HasSuffix(got.String(), "\r\n.\r\n") {
		s, err := c.R.ReadString('\n')
		got.WriteString(s)
		if err != nil {
			return
		}
	}
	c.Send("250 2.0.0 Ok: queued as 4SAFE")
}

// A server that ends DATA only at <CR><LF>.<CR><LF> passes: one reply to
// each test message.
func TestProbeSmuggling_strictServerPasses(t *testing.T) {
	r := smuggling(t, testserver.SMTP{Hook: func(c *testserver.Conn, line string) bool {
		if strings.EqualFold(line, "DATA") {
			strictData(c)
			return true
		}
		return false
	}})
	f := finding(r, "smtp.smuggling.safe")
	if f == nil || !strings.Contains(f.Detail, "None of the 8 end-of-data look-alikes") {
		t.Fatalf("want smtp.smuggling.safe: %v", codesOf(r))
	}
	if got := stageStatus(r, "smuggling"); got != report.StatusOK {
		t.Errorf("smuggling stage %s", got)
	}
}

// A server that ends DATA early but refuses the smuggled DATA (Postfix's
// reject_unauth_pipelining) warns: the hole is there, the message was not
// taken.
func TestProbeSmuggling_earlyEndButSmuggledRefused(t *testing.T) {
	var mu sync.Mutex
	datas := map[*testserver.Conn]int{}
	r := smuggling(t, testserver.SMTP{Hook: func(c *testserver.Conn, line string) bool {
		if !strings.EqualFold(line, "DATA") {
			return false
		}
		mu.Lock()
		datas[c]++
		n := datas[c]
		mu.Unlock()
		if n > 1 {
			c.Send("503 5.5.0 <DATA>: Data command rejected: Improper use of SMTP command pipelining")
			return true
		}
		return false
	}})
	early := findingsOf(r, "smtp.smuggling.early-end")
	if len(early) != 3 || finding(r, "smtp.smuggling.vulnerable") != nil {
		t.Fatalf("want 3 early-end and no vulnerable: %v", codesOf(r))
	}
	if early[0].Severity != report.Warn || stageStatus(r, "smuggling") != report.StatusInfo {
		t.Errorf("early-end %s, stage %s", early[0].Severity, stageStatus(r, "smuggling"))
	}
}

// Without a recipient the probe cannot run and says why.
func TestProbeSmuggling_refusedRecipientIsUntested(t *testing.T) {
	r := smuggling(t, testserver.SMTP{Reply: map[string][]string{"RCPT": {"550 5.1.1 <me@test.example>: Recipient address rejected"}}})
	if n := len(findingsOf(r, "smtp.smuggling.untested")); n != 8 {
		t.Errorf("%d untested findings, want 8: %v", n, codesOf(r))
	}
	if f := finding(r, "smtp.smuggling.untested"); f == nil || !strings.Contains(f.Detail, "RCPT TO answered 550 5.1.1") {
		t.Errorf("untested: %+v", f)
	}
}

// Each look-alike's connection is set up as the checked one: STARTTLS,
// then AUTH with the check's credentials (a submission port takes mail
// only from authenticated clients).
func TestProbeSmuggling_reconnectsWithTLSAndAuth(t *testing.T) {
	cert := testserver.NewCert(t, testserver.CertOptions{})
	var mu sync.Mutex
	counts := map[string]int{}
	addr := testserver.Start(t, testserver.SMTP{Cert: &cert, Users: map[string]string{"a": "b"}, Hook: func(c *testserver.Conn, line string) bool {
		verb, _, _ := strings.Cut(line, " ")
		mu.Lock()
		counts[strings.ToUpper(verb)]++
		mu.Unlock()
		return false
	}}.Handler())
	r := check(t, addr, func(o *smtpprobe.Options) {
		o.Role, o.RootCAs, o.User, o.Password = smtpprobe.RoleSubmission, cert.Pool, "a", "b"
		o.ProbeSmuggling, o.RcptTo = true, []string{"a@test.example"}
	})
	if n := len(findingsOf(r, "smtp.smuggling.vulnerable")); n != 3 || finding(r, "smtp.smuggling.untested") != nil {
		t.Errorf("%d vulnerable: %v", n, codesOf(r))
	}
	mu.Lock()
	defer mu.Unlock()
	if counts["STARTTLS"] != 9 || counts["AUTH"] != 9 {
		t.Errorf("STARTTLS %d, AUTH %d; want 9 each (the check and one per look-alike)", counts["STARTTLS"], counts["AUTH"])
	}
}
