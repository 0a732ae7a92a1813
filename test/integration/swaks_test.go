//go:build integration

package integration

import (
	"strings"
	"testing"
)

// Comparison with swaks, the SMTP tool sysadmins trust: against the same
// Postfix listener, `smtp check` and swaks must see the same banner, the
// same EHLO capabilities before and inside TLS, the same AUTH mechanisms
// and the same outcome (same reply to the same command).

const compareHelo = "compare.mailprobe.invalid"

// swaksBase is what both tools are told: server, EHLO name.
func swaksBase(port int) []string {
	return []string{"--server", E.Addr(port), "--ehlo", compareHelo}
}

// wantSameCapabilities compares what the two tools saw.
func wantSameCapabilities(t *testing.T, rep *Report, sw SwaksSession, implicit bool) {
	t.Helper()
	if got := rep.Fact("banner"); got != sw.Banner {
		t.Errorf("banner: mailprobe %q, swaks %q", got, sw.Banner)
	}
	if implicit {
		if !sw.TLSOnStart {
			t.Errorf("swaks did not start with TLS")
		}
		// On the implicit-TLS port the first EHLO is already inside TLS.
		WantSameSet(t, "EHLO keywords (implicit TLS)", rep.FactStrings("capabilities", "keywords"), sw.EHLOTLS)
	} else {
		WantSameSet(t, "EHLO keywords before TLS", rep.FactStrings("capabilities", "keywords"), sw.EHLO)
		if sw.TLSStarted {
			WantSameSet(t, "EHLO keywords inside TLS", rep.FactStrings("capabilities_tls", "keywords"), sw.EHLOTLS)
		}
	}
	if len(sw.AuthMechs) > 0 || len(rep.FactStrings("auth_mechanisms_tls")) > 0 {
		WantSameSet(t, "AUTH mechanisms inside TLS", rep.FactStrings("auth_mechanisms_tls"), sw.AuthMechs)
	}
}

// wantSameReply asserts swaks received the reply line want.
func wantSameReply(t *testing.T, want string, sw SwaksSession) {
	t.Helper()
	if want == "" {
		t.Fatalf("no reply to compare")
	}
	for _, line := range sw.Replies {
		if line == want {
			return
		}
	}
	t.Errorf("swaks never received %q; its replies:\n%s", want, strings.Join(sw.Replies, "\n"))
}

// evidence is the first evidence line of a finding.
func evidence(t *testing.T, f *Finding) string {
	t.Helper()
	if f == nil || len(f.Evidence) == 0 {
		t.Fatalf("finding without evidence: %+v", f)
	}
	return f.Evidence[0].Text
}

// authReply is the server's final answer to AUTH in mailprobe's
// transcript: the first server line after the AUTH command that is not a
// 334 continuation.
func authReply(rep *Report) string {
	sent := false
	for _, e := range rep.Transcript {
		switch {
		case e.Dir == "C" && strings.HasPrefix(strings.ToUpper(e.Line), "AUTH "):
			sent = true
		case sent && e.Dir == "S" && !strings.HasPrefix(e.Line, "334"):
			return e.Line
		}
	}
	return ""
}

func TestCompareSwaks_submissionAuth(t *testing.T) {
	rep := smtpCheck(t, E.SubmissionPort, "--role", "submission", "--helo", compareHelo,
		"--user", E.User1, "--password-env", "MP_IT_PASS1", "--format", "json").WantExit(t, 0).JSON(t)
	out, code := Swaks(t, append(swaksBase(E.SubmissionPort), "--tls", "--quit-after", "AUTH",
		"--auth", "PLAIN", "--auth-user", E.User1, "--auth-password", E.Pass1)...)
	if code != 0 {
		t.Fatalf("swaks exit %d:\n%s", code, out)
	}
	sw := ParseSwaks(out)
	if !sw.TLSStarted || len(sw.EHLO) == 0 || len(sw.EHLOTLS) == 0 {
		t.Fatalf("could not parse swaks's session:\n%s", out)
	}
	wantSameCapabilities(t, rep, sw, false)
	// Outcome: both logged in with the same reply.
	rep.WantFinding(t, "smtp.auth.ok", "pass")
	wantSameReply(t, authReply(rep), sw)
}

func TestCompareSwaks_submissionWrongPassword(t *testing.T) {
	// Parallel: a failed login costs 2 s of Dovecot's auth_failure_delay.
	t.Parallel()
	const wrong = "Cmp-Wrong-51e2"
	pw := writeFile(t, "pw", wrong+"\n")
	rep := smtpCheck(t, E.SubmissionPort, "--role", "submission", "--helo", compareHelo,
		"--user", E.User1, "--password-file", pw, "--format", "json").WantExit(t, 1).JSON(t)
	out, code := Swaks(t, append(swaksBase(E.SubmissionPort), "--tls", "--quit-after", "AUTH",
		"--auth", "PLAIN", "--auth-user", E.User1, "--auth-password", wrong)...)
	// swaks exits 28 when authentication fails.
	if code != 28 {
		t.Errorf("swaks exit %d, want 28 (auth failure):\n%s", code, out)
	}
	sw := ParseSwaks(out)
	wantSameCapabilities(t, rep, sw, false)
	wantSameReply(t, evidence(t, rep.WantFinding(t, "smtp.auth.failed", "fail")), sw)
	if got := authReply(rep); !strings.HasPrefix(got, "535 ") {
		t.Errorf("mailprobe's AUTH reply %q, want 535", got)
	}
}

func TestCompareSwaks_submissionsImplicitTLS(t *testing.T) {
	rep := smtpCheck(t, E.SubmissionsPort, "--tls", "implicit", "--role", "submission", "--helo", compareHelo,
		"--user", E.User1, "--password-env", "MP_IT_PASS1", "--format", "json").WantExit(t, 0).JSON(t)
	out, code := Swaks(t, append(swaksBase(E.SubmissionsPort), "--tls-on-connect", "--quit-after", "AUTH",
		"--auth", "LOGIN", "--auth-user", E.User1, "--auth-password", E.Pass1)...)
	if code != 0 {
		t.Fatalf("swaks exit %d:\n%s", code, out)
	}
	sw := ParseSwaks(out)
	wantSameCapabilities(t, rep, sw, true)
	rep.WantFinding(t, "smtp.auth.ok", "pass")
	wantSameReply(t, authReply(rep), sw)
}

func TestCompareSwaks_mxRelayDenied(t *testing.T) {
	const from, to = "probe@example.net", "victim@example.org"
	rep := smtpCheck(t, E.SMTPPort, "--role", "mx", "--helo", compareHelo, "--from", from, "--to", to,
		"--format", "json").WantExit(t, 0).JSON(t)
	out, code := Swaks(t, append(swaksBase(E.SMTPPort), "--tls", "--quit-after", "RCPT", "--from", from, "--to", to)...)
	// swaks exits 24 when RCPT is refused.
	if code != 24 {
		t.Errorf("swaks exit %d, want 24 (RCPT refused):\n%s", code, out)
	}
	sw := ParseSwaks(out)
	wantSameCapabilities(t, rep, sw, false)
	if len(sw.AuthMechs) != 0 {
		t.Errorf("swaks saw AUTH %v on the MX listener", sw.AuthMechs)
	}
	relay := evidence(t, rep.WantFinding(t, "smtp.relay.denied", "pass"))
	wantSameReply(t, relay, sw)
	if len(sw.ErrorLines) != 1 || sw.ErrorLines[0] != relay {
		t.Errorf("swaks's error replies %v, want exactly the relay refusal", sw.ErrorLines)
	}
}
