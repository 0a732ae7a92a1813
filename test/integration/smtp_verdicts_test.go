//go:build integration

package integration

import (
	"os"
	"strconv"
	"strings"
	"testing"
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
