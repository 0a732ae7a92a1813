package smtpprobe_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/smtpprobe"
)

// relayServer answers RCPT with accept(to) (250 when true, a relay
// refusal otherwise) and records every command line.
func relayServer(t *testing.T, banner string, accept func(to string) bool) (string, func() []string) {
	var mu sync.Mutex
	var lines []string
	srv := testserver.SMTP{Banner: []string{banner}, Hook: func(c *testserver.Conn, line string) bool {
		mu.Lock()
		lines = append(lines, line)
		mu.Unlock()
		verb, arg, _ := strings.Cut(line, " ")
		if strings.EqualFold(verb, "RCPT") && accept != nil {
			to := strings.TrimSuffix(strings.TrimPrefix(arg, "TO:<"), ">")
			if accept(to) {
				c.Send("250 2.1.5 Ok")
			} else {
				c.Send("554 5.7.1 <" + to + ">: Relay access denied")
			}
			return true
		}
		return false
	}}
	addr := testserver.Start(t, srv.Handler())
	return addr, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), lines...)
	}
}

func countPrefix(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(strings.ToUpper(l), prefix) {
			n++
		}
	}
	return n
}

// A server refusing every relay attempt passes with the count; each
// attempt is its own transaction ended by RSET, and no DATA is sent.
func TestProbeRelay_closed(t *testing.T) {
	addr, seen := relayServer(t, "220 mail.test.example ESMTP", func(string) bool { return false })
	r := check(t, addr, func(o *smtpprobe.Options) { o.ProbeRelay = true })
	f := finding(r, "smtp.relay.closed")
	if f == nil || f.Severity != report.Pass || !strings.Contains(f.Detail, "All 11 relay attempts") {
		t.Fatalf("want smtp.relay.closed for 11 attempts: %v %+v", codesOf(r), f)
	}
	if got := stageStatus(r, "relay"); got != report.StatusOK {
		t.Errorf("relay stage %s", got)
	}
	lines := seen()
	if n := countPrefix(lines, "RCPT"); n != 11 {
		t.Errorf("%d RCPT commands, want 11", n)
	}
	if n, m := countPrefix(lines, "RSET"), countPrefix(lines, "MAIL"); n != m || n != 11 {
		t.Errorf("%d RSET for %d MAIL", n, m)
	}
	if countPrefix(lines, "DATA") != 0 || countPrefix(lines, "BDAT") != 0 {
		t.Errorf("the relay probe sent DATA: %q", lines)
	}
	for _, want := range []string{
		"RCPT TO:<mailprobe-relay-test@example.net>",
		"RCPT TO:<mailprobe-relay-test%example.net@mail.test.example>",
		"RCPT TO:<mailprobe-relay-test%example.net@[127.0.0.1]>",
		`RCPT TO:<"mailprobe-relay-test@example.net"@mail.test.example>`,
		"RCPT TO:<@mail.test.example:mailprobe-relay-test@example.net>",
		"RCPT TO:<example.net!mailprobe-relay-test@mail.test.example>",
		"MAIL FROM:<>",
		"MAIL FROM:<postmaster@mail.test.example>",
	} {
		if countPrefix(lines, strings.ToUpper(want)) == 0 {
			t.Errorf("no %q among %q", want, lines)
		}
	}
}

// Acceptance of a trick is a fail naming it and the likely setting of the
// software the greeting names.
func TestProbeRelay_percentHackIsAFail(t *testing.T) {
	addr, seen := relayServer(t, "220 mx.test.example ESMTP Postfix", func(to string) bool { return strings.Contains(to, "%") })
	r := check(t, addr, func(o *smtpprobe.Options) {
		o.ProbeRelay = true
		o.RcptTo = []string{"bob@hosted.example"}
	})
	var open []report.Finding
	for _, f := range r.Findings {
		if f.Code == "smtp.relay.open" {
			open = append(open, f)
		}
	}
	if len(open) != 2 {
		t.Fatalf("want 2 smtp.relay.open (percent hack to the domain and to the literal): %v", codesOf(r))
	}
	f := open[0]
	if f.Severity != report.Fail || !strings.HasPrefix(f.Detail, "percent hack: ") || !strings.Contains(f.Detail, "mailprobe-relay-test%example.net@hosted.example") || !strings.Contains(f.Detail, "allow_percent_hack") {
		t.Errorf("detail %q", f.Detail)
	}
	if !strings.HasPrefix(f.Fix, "Postfix: smtpd_relay_restrictions") || len(f.Evidence) == 0 || !strings.HasPrefix(f.Evidence[0].Text, "250") {
		t.Errorf("fix %q evidence %+v", f.Fix, f.Evidence)
	}
	if got := stageStatus(r, "relay"); got != report.StatusFail {
		t.Errorf("relay stage %s", got)
	}
	if r.ExitCode(report.Fail) != report.ExitFindings {
		t.Errorf("exit %d", r.ExitCode(report.Fail))
	}
	// The control address was asked (a trick at the domain was accepted)
	// and refused: 12 attempts, the bound, besides the --to probe's one.
	if n := countPrefix(seen(), "MAIL"); n != 12+1 {
		t.Errorf("%d transactions, want 12 and the --to probe", n)
	}
	if countPrefix(seen(), "RCPT TO:<MAILPROBE-NO-SUCH-USER-") != 1 {
		t.Errorf("no control address: %q", seen())
	}
}

// A server accepting every address at its own domain cannot be judged on
// tricks addressed there (inconclusive), but a plain foreign recipient
// accepted is an open relay.
func TestProbeRelay_acceptsEverything(t *testing.T) {
	addr, seen := relayServer(t, "220 mail.test.example ESMTP", nil)
	r := check(t, addr, func(o *smtpprobe.Options) { o.ProbeRelay = true })
	counts := map[string]int{}
	for _, f := range r.Findings {
		counts[f.Code]++
	}
	// plain, null sender, local sender, source route: open; the seven
	// addressed to the server itself: inconclusive.
	if counts["smtp.relay.open"] != 4 || counts["smtp.relay.inconclusive"] != 7 || counts["smtp.relay.closed"] != 0 {
		t.Errorf("counts %v: %v", counts, codesOf(r))
	}
	if n := countPrefix(seen(), "MAIL"); n > 12 {
		t.Errorf("%d transactions, more than 12", n)
	}
}

// With credentials, the relay probe still runs unauthenticated: before
// AUTH, on the same session.
func TestProbeRelay_runsBeforeAuth(t *testing.T) {
	cert := testserver.NewCert(t, testserver.CertOptions{})
	var mu sync.Mutex
	var lines []string
	addr := testserver.Start(t, testserver.SMTP{Cert: &cert, Users: map[string]string{"a": "b"}, Hook: func(c *testserver.Conn, line string) bool {
		mu.Lock()
		lines = append(lines, line)
		mu.Unlock()
		return false
	}}.Handler())
	r := check(t, addr, func(o *smtpprobe.Options) {
		o.Role, o.RootCAs, o.User, o.Password = smtpprobe.RoleSubmission, cert.Pool, "a", "b"
		o.ProbeRelay = true
	})
	if finding(r, "smtp.auth.ok") == nil || finding(r, "smtp.relay.open") == nil {
		t.Fatalf("want AUTH ok and the (accept-all) server's open relay: %v", codesOf(r))
	}
	mu.Lock()
	defer mu.Unlock()
	auth := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "AUTH") {
			auth = i
		}
		if strings.HasPrefix(l, "RCPT") && auth >= 0 {
			t.Fatalf("RCPT %q after AUTH: %q", l, lines)
		}
	}
	if auth < 0 {
		t.Errorf("no AUTH: %q", lines)
	}
}
