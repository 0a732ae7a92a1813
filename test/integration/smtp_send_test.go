//go:build integration

package integration

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/miekg/dns"
)

// smtpSend runs `smtp send` with TLS verified against this run's CA.
func smtpSend(t *testing.T, port int, extra ...string) *Result {
	t.Helper()
	args := append([]string{"smtp", "send", E.Addr(port)}, E.TLSArgs()...)
	return Run(t, append(args, extra...)...)
}

// wantQueued asserts a send went through every stage and returns the queue
// id Postfix gave the message.
func wantQueued(t *testing.T, rep *Report) string {
	t.Helper()
	for _, s := range []string{"connect", "banner", "ehlo", "certificate", "mail", "rcpt", "data", "queued", "quit"} {
		rep.WantStage(t, s, "ok")
	}
	rep.WantFinding(t, "smtp.data.queued", "pass")
	rep.WantNoSeverity(t, "fail")
	id, _ := rep.Fact("queue_id").(string)
	if id == "" {
		t.Fatalf("no facts.queue_id; findings %v", rep.Codes())
	}
	return id
}

// A message sent through submission (STARTTLS, AUTH as alice) is delivered
// by Postfix over LMTP into bob's Dovecot mailbox, intact: the path `reset
// send` takes.
func TestSMTPSend_submissionDeliversToDovecot(t *testing.T) {
	token := Unique(t)
	subject := "integration " + token
	r := smtpSend(t, E.SubmissionPort, "--tls", "starttls", "--require-tls", "--user", E.User1, "--password-env", "MP_IT_PASS1",
		"--from", E.User1, "--to", E.User2, "--subject", subject, "--body", "body line for "+token+"\n",
		"--header", "X-Mailprobe-Test: "+token, "--format", "json")
	r.WantExit(t, 0)
	rep := r.JSON(t)
	if rep.Command != "smtp send" {
		t.Errorf("command = %q", rep.Command)
	}
	rep.WantStage(t, "starttls", "ok")
	rep.WantStage(t, "auth", "ok")
	rep.WantFinding(t, "smtp.auth.ok", "pass")
	queueID := wantQueued(t, rep)

	msg := WaitForMessage(t, E.User2, E.Pass2, "X-Mailprobe-Test", token, 20*time.Second)
	if got := msg.Header("Subject"); got != subject {
		t.Errorf("Subject = %q, want %q", got, subject)
	}
	WantContains(t, "From", msg.Header("From"), E.User1)
	WantContains(t, "To", msg.Header("To"), E.User2)
	if !bytes.Contains(msg.Raw, []byte("body line for "+token)) {
		t.Errorf("body not delivered intact:\n%s", msg.Raw)
	}
	// Postfix's Received header proves the route: authenticated TLS
	// submission (ESMTPSA) under the queue id mailprobe reported.
	received := string(msg.Raw)
	WantContains(t, "Received header", received, "ESMTPSA", "id "+queueID)
	if got := msg.Header("Delivered-To"); got != E.User2 {
		t.Errorf("Delivered-To = %q (LMTP into Dovecot), want %s", got, E.User2)
	}
}

// Implicit TLS (the 465 role), an attachment and a DKIM signature with this
// run's key; the signature verifies against the key NSD publishes.
func TestSMTPSend_submissionsImplicitTLSWithDKIM(t *testing.T) {
	token := Unique(t)
	attach := writeFile(t, "report.txt", "attachment for "+token+"\n")
	r := smtpSend(t, E.SubmissionsPort, "--tls", "implicit", "--require-tls", "--user", E.User1, "--password-env", "MP_IT_PASS1",
		"--from", E.User1, "--to", E.User1, "--subject", "dkim "+token, "--header", "X-Mailprobe-Test: "+token,
		"--attach", attach, "--dkim-key", E.DKIMKey, "--dkim-selector", E.DKIMSelector, "--format", "json")
	r.WantExit(t, 0)
	rep := r.JSON(t)
	rep.WantFinding(t, "smtp.tls.implicit", "pass")
	wantQueued(t, rep)

	msg := WaitForMessage(t, E.User1, E.Pass1, "X-Mailprobe-Test", token, 20*time.Second)
	WantContains(t, "message", string(msg.Raw), "report.txt", "multipart/mixed")
	sig := msg.Header("DKIM-Signature")
	WantContains(t, "DKIM-Signature", sig, "d="+E.Domain, "s="+E.DKIMSelector)

	verifications, err := dkim.VerifyWithOptions(bytes.NewReader(msg.Raw), &dkim.VerifyOptions{LookupTXT: lookupTXT})
	if err != nil {
		t.Fatalf("DKIM verify: %v", err)
	}
	if len(verifications) != 1 || verifications[0].Err != nil || verifications[0].Domain != E.Domain {
		for _, v := range verifications {
			t.Errorf("DKIM d=%s: %v", v.Domain, v.Err)
		}
		t.Fatalf("want one passing signature for %s, got %d", E.Domain, len(verifications))
	}
}

// Port 25 role: an MTA-style send without AUTH to a local recipient is
// accepted and delivered (opportunistic STARTTLS). The listener is not on
// port 25, so the role is given as for `smtp check` (--role mx); without
// it the port would be judged as submission, where missing AUTH fails.
func TestSMTPSend_mxDeliversLocalRecipient(t *testing.T) {
	token := Unique(t)
	r := smtpSend(t, E.SMTPPort, "--role", "mx", "--from", "sender@example.net", "--to", E.User2,
		"--subject", "mx "+token, "--header", "X-Mailprobe-Test: "+token, "--format", "json")
	r.WantExit(t, 0)
	rep := r.JSON(t)
	rep.WantStage(t, "starttls", "ok")
	rep.WantStage(t, "auth", "skipped")
	queueID := wantQueued(t, rep)
	msg := WaitForMessage(t, E.User2, E.Pass2, "X-Mailprobe-Test", token, 20*time.Second)
	// ESMTPS: TLS but no AUTH.
	WantContains(t, "Received header", string(msg.Raw), "with ESMTPS id "+queueID)
}

// Submission refuses an unauthenticated client: the refusal is a finding
// with Postfix's reply, exit 1, and nothing is delivered.
func TestSMTPSend_submissionRefusesUnauthenticated(t *testing.T) {
	token := Unique(t)
	r := smtpSend(t, E.SubmissionPort, "--tls", "starttls", "--require-tls", "--from", E.User1, "--to", E.User2,
		"--header", "X-Mailprobe-Test: "+token, "--format", "json")
	r.WantExit(t, 1)
	rep := r.JSON(t)
	var refusal *Finding
	for _, code := range []string{"smtp.mail.rejected", "smtp.rcpt.rejected"} {
		if f := rep.Finding(code); f != nil {
			refusal = f
		}
	}
	if refusal == nil {
		t.Fatalf("no smtp.mail.rejected or smtp.rcpt.rejected finding; findings %v", rep.Codes())
	}
	if len(refusal.Evidence) == 0 || !strings.HasPrefix(refusal.Evidence[0].Text, "554 5.7.1") {
		t.Errorf("refusal evidence %+v, want Postfix's 554 5.7.1", refusal.Evidence)
	}
	rep.WantStage(t, "data", "skipped")
	rep.WantNoFinding(t, "smtp.data.queued")
	// Give a wrongly accepted message time to arrive before looking.
	time.Sleep(500 * time.Millisecond)
	if msgs := FindMessages(t, DialIMAP(t, E.User2, E.Pass2), "X-Mailprobe-Test", token); len(msgs) != 0 {
		t.Errorf("an unauthenticated submission was delivered")
	}
}

// lookupTXT asks this run's NSD, so that DKIM keys come from the zone the
// environment serves, not from a hard-coded copy.
func lookupTXT(name string) ([]string, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeTXT)
	m.SetEdns0(4096, false)
	c := &dns.Client{Timeout: 5 * time.Second}
	in, _, err := c.Exchange(m, E.DNS)
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.Exchange(m, E.DNS)
	}
	if err != nil {
		return nil, err
	}
	if in.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("%s TXT: %s", name, dns.RcodeToString[in.Rcode])
	}
	var out []string
	for _, rr := range in.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(txt.Txt, ""))
		}
	}
	return out, nil
}
