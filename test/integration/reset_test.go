//go:build integration

package integration

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// resetSendArgs sends alice's reset email to bob through Postfix
// submission, TLS verified against this run's CA.
func resetSendArgs(extra ...string) []string {
	args := append([]string{"reset", "send", "--smtp", E.Addr(E.SubmissionPort)}, E.TLSArgs()...)
	args = append(args, "--user", E.User1, "--password-env", "MP_IT_PASS1",
		"--from", "Example App <"+E.User1+">", "--to", E.User2)
	return append(args, extra...)
}

// wantSent asserts the compose and SMTP stages of a reset run passed.
func wantSent(t *testing.T, rep *Report) {
	t.Helper()
	for _, s := range []string{"compose", "connect", "banner", "ehlo", "starttls", "certificate", "ehlo-tls", "auth", "mail", "rcpt", "data", "queued", "quit"} {
		rep.WantStage(t, s, "ok")
	}
	for _, code := range []string{"reset.compose.ok", "smtp.starttls.ok", "cert.ok", "smtp.auth.ok", "smtp.data.queued", "reset.link.https", "reset.token.strong"} {
		rep.WantFinding(t, code, "pass")
	}
	if id, _ := rep.Fact("message_id").(string); id == "" {
		t.Errorf("no facts.message_id")
	}
	if link, _ := rep.Fact("reset_link").(string); !strings.HasPrefix(link, "https://") {
		t.Errorf("facts.reset_link = %q", link)
	}
}

// The whole flow against real servers: compose, send through Postfix
// submission (STARTTLS, AUTH), Postfix delivers over LMTP into Dovecot,
// mailprobe finds the message over IMAPS by its Message-ID, reports the
// latency and the folder, checks the token and deletes the message.
func TestResetSend_endToEnd(t *testing.T) {
	r := Run(t, resetSendArgs("--imap", E.Addr(E.IMAPSPort), "--imap-servername", E.ServerName, "--imap-password-env", "MP_IT_PASS2",
		"--wait", "30s", "--cleanup", "--format", "json")...)
	rep := r.JSON(t)
	if r.Code != 0 {
		t.Errorf("exit %d, want 0; stages %s; findings %v\nstderr: %s", r.Code, rep.StageList(), rep.Codes(), r.Stderr)
	}
	if rep.Command != "reset send" || rep.Incomplete {
		t.Errorf("command %q, incomplete %v", rep.Command, rep.Incomplete)
	}
	wantSent(t, rep)
	for _, s := range []string{"imap-connect", "imap-login", "wait", "analyze", "cleanup"} {
		rep.WantStage(t, s, "ok")
	}
	// Every stage passed: nothing failed or errored, nothing skipped but
	// what this flow does not do.
	for _, s := range rep.Stages {
		if s.Status != "ok" && !(s.Status == "skipped" && s.Name == "vrfy") {
			t.Errorf("stage %s: %s (%s)", s.Name, s.Status, s.Summary)
		}
	}
	rep.WantNoSeverity(t, "fail")
	rep.WantFinding(t, "reset.delivery.inbox", "pass")
	rep.WantFinding(t, "reset.token.intact", "pass")
	rep.WantFinding(t, "reset.cleanup.ok", "pass")
	lat := rep.WantFinding(t, "reset.delivery.latency", "info")
	WantContains(t, "latency detail", lat.Detail, "Arrived")
	ms, _ := rep.Fact("latency_ms").(float64)
	if ms <= 0 || ms > 30000 {
		t.Errorf("facts.latency_ms = %v, want between 0 and 30000", rep.Fact("latency_ms"))
	}
	if folder, _ := rep.Fact("folder").(string); folder != "INBOX" {
		t.Errorf("facts.folder = %q, want INBOX", folder)
	}
	// --cleanup deleted it: bob's INBOX no longer has it.
	if id, _ := rep.Fact("message_id").(string); id != "" {
		if msgs := FindMessages(t, DialIMAP(t, E.User2, E.Pass2), "Message-ID", id); len(msgs) != 0 {
			t.Errorf("message %s still in the mailbox after --cleanup", id)
		}
	}

	// The same flow in text: every stage listed, latency stated, exit 0.
	tr := Run(t, resetSendArgs("--imap", E.Addr(E.IMAPSPort), "--imap-servername", E.ServerName, "--imap-password-env", "MP_IT_PASS2", "--wait", "30s", "--cleanup")...)
	WantContains(t, "text output", tr.Stdout, "reset send", "imap-login", "wait", "found in INBOX", "reset.delivery.inbox", "exit 0")
	if tr.Code != 0 {
		t.Errorf("text run: exit %d, want 0", tr.Code)
	}
}

// Without --imap, reset send only sends; the message the report describes
// (its Message-ID, link and DKIM signature) is the one in bob's mailbox.
func TestResetSend_deliveredAsReported(t *testing.T) {
	r := Run(t, resetSendArgs("--dkim-key", E.DKIMKey, "--dkim-selector", E.DKIMSelector, "--format", "json")...)
	r.WantExit(t, 0)
	rep := r.JSON(t)
	wantSent(t, rep)
	rep.WantNoFinding(t, "reset.dkim.unsigned")
	id, _ := rep.Fact("message_id").(string)
	link, _ := rep.Fact("reset_link").(string)
	msg := WaitForMessage(t, E.User2, E.Pass2, "Message-ID", id, 20*time.Second)
	if got := msg.Header("Message-ID"); got != "<"+id+">" {
		t.Errorf("Message-ID %q, want <%s>", got, id)
	}
	WantContains(t, "DKIM-Signature", msg.Header("DKIM-Signature"), "d="+E.Domain, "s="+E.DKIMSelector)
	WantContains(t, "Content-Type", msg.Header("Content-Type"), "multipart/alternative")
	// The link arrived intact in the decoded text and HTML parts.
	text := msg.Text(t)
	if n := strings.Count(text, link); n < 2 {
		t.Errorf("reset link %s found %d times in the decoded message, want it in both parts:\n%s", link, n, text)
	}
}

// The delivery time reset send reports is the server's: the IDLE
// announcement timed from the final 250 to DATA, within 50 ms of the
// delay Postfix logs for the same message (queue id), run after run.
func TestResetSend_latencyMatchesPostfix(t *testing.T) {
	for i := 0; i < 3; i++ {
		r := Run(t, resetSendArgs("--imap", E.Addr(E.IMAPSPort), "--imap-servername", E.ServerName, "--imap-password-env", "MP_IT_PASS2",
			"--wait", "30s", "--cleanup", "--format", "json")...)
		rep := r.JSON(t)
		if r.Code != 0 {
			t.Fatalf("exit %d; findings %v", r.Code, rep.Codes())
		}
		qid, _ := rep.Fact("queue_id").(string)
		ms, _ := rep.Fact("latency_ms").(float64)
		res, _ := rep.Fact("latency", "resolution_ms").(float64)
		if qid == "" || res <= 0 || res > 100 {
			t.Fatalf("queue id %q, resolution %v ms: want a queue id and a resolution under 100 ms", qid, res)
		}
		if hdr, ok := rep.Fact("latency", "received_header_latency_s").(float64); !ok || hdr < -1 || hdr > 2 {
			t.Errorf("Received: header latency %v (%v)", rep.Fact("latency", "received_header_latency_s"), ok)
		}
		// Postfix writes the delivery line when LMTP answers; wait for it.
		// Its delay= runs from the message's arrival, during DATA, which a
		// loaded machine stretches; reset send times from the final 250.
		// The part of Postfix's delay after the 250 is delays=a/b/c/d
		// without a (the time before the queue manager): b+c+d.
		var delay float64 = -1
		deadline := time.Now().Add(10 * time.Second)
		for delay < 0 && time.Now().Before(deadline) {
			b, _ := os.ReadFile(E.PostfixLog)
			for _, l := range strings.Split(string(b), "\n") {
				if strings.Contains(l, qid+":") && strings.Contains(l, "status=sent") {
					if _, rest, ok := strings.Cut(l, " delays="); ok {
						parts := strings.Split(strings.TrimSuffix(strings.Fields(rest)[0], ","), "/")
						if len(parts) == 4 {
							delay = 0
							for _, p := range parts[1:] {
								v, _ := strconv.ParseFloat(p, 64)
								delay += v
							}
						}
					}
				}
			}
			if delay < 0 {
				time.Sleep(100 * time.Millisecond)
			}
		}
		if delay < 0 {
			t.Fatalf("no delivery line for %s in the Postfix log:\n%s", qid, tail(E.PostfixLog, 10))
		}
		// Postfix logs each delay with 10 ms resolution (two decimals,
		// three summed); the report states its own (the interval between
		// two searches). The two agree within 50 ms, or within what the
		// report says it can resolve when a loaded machine stretched the
		// searches.
		tol := max(0.05, res/1000+0.03)
		if diff := ms/1000 - delay; diff > tol || diff < -tol {
			t.Errorf("run %d: reset send reports %.1f ms, Postfix logged %.2f s after the queue manager took %s (off by %.0f ms)", i, ms, delay, qid, diff*1000)
		} else {
			t.Logf("run %d: reported %.1f ms, Postfix b+c+d %.2f s", i, ms, delay)
		}
	}
}
