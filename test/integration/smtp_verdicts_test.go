//go:build integration

package integration

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// envPort reads a port of the environment that env.sh exports for these
// tests (MP_IT_OPENRELAY_PORT, MP_IT_STRICT_PORT).
func envPort(t *testing.T, name string) int {
	t.Helper()
	p, err := strconv.Atoi(os.Getenv(name))
	if err != nil || p <= 0 {
		t.Fatalf("%s=%q: run through make integration (env.sh exports it)", name, os.Getenv(name))
	}
	return p
}

// wantNoData asserts the client never sent DATA or BDAT.
func wantNoData(t *testing.T, rep *Report) {
	t.Helper()
	for _, e := range rep.Transcript {
		if e.Dir == "C" && (strings.HasPrefix(strings.ToUpper(e.Line), "DATA") || strings.HasPrefix(strings.ToUpper(e.Line), "BDAT")) {
			t.Errorf("the relay probe sent %q", e.Line)
		}
	}
}

func countClient(rep *Report, prefix string) int {
	n := 0
	for _, e := range rep.Transcript {
		if e.Dir == "C" && strings.HasPrefix(strings.ToUpper(e.Line), prefix) {
			n++
		}
	}
	return n
}

// Postfix with reject_unauth_destination and loopback outside mynetworks
// (127.0.0.254/32) refuses every relay trick: a pass with the count.
func TestSMTPCheck_probeRelayClosed(t *testing.T) {
	r := smtpCheck(t, E.SMTPPort, "--role", "mx", "--probe-relay", "--to", E.User1, "--resolver", E.DNS, "--format", "json")
	rep := r.WantExit(t, 0).JSON(t)
	rep.WantStage(t, "relay", "ok")
	f := rep.WantFinding(t, "smtp.relay.closed", "pass")
	WantContains(t, "smtp.relay.closed detail", f.Detail, "All 11 relay attempts")
	rep.WantNoFinding(t, "smtp.relay.open")
	rep.WantNoFinding(t, "smtp.relay.inconclusive")
	wantNoData(t, rep)
	// 11 tricks plus the --to probe, each its own transaction ended by RSET.
	if m, s := countClient(rep, "MAIL FROM:"), countClient(rep, "RSET"); m != 12 || s != 12 {
		t.Errorf("%d MAIL and %d RSET, want 12 each", m, s)
	}
	if !transcriptHas(rep, "C", "RCPT TO:<mailprobe-relay-test%example.net@"+E.Domain+">") ||
		!transcriptHas(rep, "S", "554 5.7.1 <mailprobe-relay-test@example.net>: Relay access denied") {
		t.Errorf("percent hack or plain refusal not in the transcript")
	}
	// The local recipient is local delivery, and the loopback client is noted.
	rep.WantFinding(t, "smtp.rcpt.local", "pass")
	rep.WantFinding(t, "smtp.client.local", "info")
}

// An smtpd with smtpd_relay_restrictions = permit relays for anyone: a
// fail naming the trick and Postfix's setting; still no DATA.
func TestSMTPCheck_probeRelayOpen(t *testing.T) {
	port := envPort(t, "MP_IT_OPENRELAY_PORT")
	r := smtpCheck(t, port, "--role", "mx", "--probe-relay", "--to", E.User1, "--resolver", E.DNS, "--format", "json")
	rep := r.WantExit(t, 1).JSON(t)
	rep.WantStage(t, "relay", "fail")
	var tricks []string
	for _, f := range rep.Findings {
		if f.Code != "smtp.relay.open" {
			continue
		}
		if f.Severity != "fail" || !strings.HasPrefix(f.Fix, "Postfix: smtpd_relay_restrictions") {
			t.Errorf("smtp.relay.open %s fix %q", f.Severity, f.Fix)
		}
		if len(f.Evidence) == 0 || !strings.HasPrefix(f.Evidence[0].Text, "250 2.1.5 Ok") {
			t.Errorf("evidence %+v, want Postfix's 250", f.Evidence)
		}
		tricks = append(tricks, f.Detail[:strings.Index(f.Detail, ":")])
	}
	if len(tricks) == 0 || tricks[0] != "plain foreign recipient" {
		t.Fatalf("open relay tricks %q, want the plain foreign recipient first; findings %v", tricks, rep.Codes())
	}
	t.Logf("accepted tricks: %q", tricks)
	rep.WantNoFinding(t, "smtp.relay.closed")
	wantNoData(t, rep)
	if countClient(rep, "MAIL FROM:") > 13 {
		t.Errorf("more than 12 relay attempts")
	}
}

// Postfix 3.7 with Debian's default smtpd_forbid_bare_newline = no ends
// DATA at a "." line ended by a bare <LF>: the three bare-LF look-alikes
// are smuggling fails naming the parameter, and the smuggled message
// really arrives as a message of its own (to the test's own mailbox).
func TestSMTPCheck_probeSmugglingPostfix(t *testing.T) {
	r := smtpCheck(t, E.SMTPPort, "--role", "mx", "--probe-smuggling", "--from", "sender@example.org", "--to", E.User1,
		"--resolver", E.DNS, "--format", "json")
	rep := r.WantExit(t, 1).JSON(t)
	rep.WantStage(t, "smuggling", "fail")
	var looks []string
	for _, f := range rep.Findings {
		if f.Code != "smtp.smuggling.vulnerable" {
			continue
		}
		if f.Severity != "fail" || !strings.Contains(f.Fix, "smtpd_forbid_bare_newline = yes") || !strings.Contains(f.Fix, "CVE-2023-51764") {
			t.Errorf("%s fix %q", f.Severity, f.Fix)
		}
		if len(f.Evidence) != 5 || !strings.HasPrefix(f.Evidence[0].Text, "250 2.0.0 Ok: queued as ") || !strings.HasPrefix(f.Evidence[3].Text, "354 ") {
			t.Errorf("evidence %+v, want Postfix's 250 queued, 250, 250, 354, 250 queued", f.Evidence)
		}
		looks = append(looks, strings.TrimPrefix(f.Detail[:strings.Index(f.Detail, " and ")], "The server ended the message at "))
	}
	WantSameSet(t, "vulnerable look-alikes", looks, []string{"<LF>.<LF>", "<LF>.<CR><LF>", "<CR><LF>.<LF>"})
	rep.WantNoFinding(t, "smtp.smuggling.untested")
	rep.WantNoFinding(t, "smtp.smuggling.early-end")
	token, _ := rep.Fact("smuggling", "token").(string)
	if token == "" {
		t.Fatalf("no facts.smuggling.token")
	}
	// Probe 1 (<LF>.<LF>): its smuggled message was delivered on its own.
	msg := WaitForMessage(t, E.User1, E.Pass1, "X-Mailprobe-Smuggling", token+"-1-smuggled", 20*time.Second)
	if got := msg.Header("Subject"); got != "mailprobe smuggling probe 1: smuggled after <LF>.<LF>" {
		t.Errorf("smuggled message Subject = %q", got)
	}
}

// The listener with smtpd_forbid_bare_newline = yes ends DATA only at
// <CR><LF>.<CR><LF>: every look-alike passes.
func TestSMTPCheck_probeSmugglingStrict(t *testing.T) {
	port := envPort(t, "MP_IT_STRICT_PORT")
	r := smtpCheck(t, port, "--role", "mx", "--probe-smuggling", "--from", "sender@example.org", "--to", E.User1,
		"--resolver", E.DNS, "--format", "json")
	rep := r.WantExit(t, 0).JSON(t)
	rep.WantStage(t, "smuggling", "ok")
	f := rep.WantFinding(t, "smtp.smuggling.safe", "pass")
	WantContains(t, "smtp.smuggling.safe detail", f.Detail, "None of the 8 end-of-data look-alikes")
	rep.WantNoFinding(t, "smtp.smuggling.vulnerable")
	rep.WantNoFinding(t, "smtp.smuggling.early-end")
}
