//go:build integration

package integration

import (
	"strings"
	"testing"
)

// dovecotMechs are the SASL mechanisms the environment's Dovecot offers,
// and Postfix's submission listeners with it (auth_mechanisms in
// env/templates/dovecot.conf).
var dovecotMechs = []string{"PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"}

// The challenge-response mechanisms smtp send speaks, through real Postfix
// and Dovecot SASL (auth_mechanisms in env/templates/dovecot.conf), not
// only against in-process servers: the login succeeds with the mechanism
// asked for, the report and the transcript say which, and the password
// appears nowhere, in JSON or in the text with the transcript; a wrong
// password is Postfix's 535 as smtp.auth.failed. Dovecot 2.3 has no
// channel binding, so the -PLUS variants are covered in process only
// (pkg/smtpclient TestAuth_scramPlusChannelBinding).
func TestSMTPSend_saslMechanismsThroughDovecot(t *testing.T) {
	wrong := writeFile(t, "wrong-password", "Not-Alices-Pw-7c1e\n")
	for _, mech := range []string{"CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"} {
		t.Run(mech, func(t *testing.T) {
			// Parallel: a failed login costs Dovecot's auth_failure_delay (2 s).
			t.Parallel()
			base := []string{"--tls", "starttls", "--require-tls", "--user", E.User1, "--auth-mech", mech,
				"--from", E.User1, "--to", E.User2, "--subject", "sasl " + mech, "--body", "sasl " + Unique(t) + "\n"}
			r := smtpSend(t, E.SubmissionPort, append(base, "--password-env", "MP_IT_PASS1", "--format", "json")...)
			r.WantExit(t, 0)
			rep := r.JSON(t)
			st := rep.WantStage(t, "auth", "ok")
			WantContains(t, "auth stage summary", st.Summary, mech, E.User1, "235")
			WantContains(t, "smtp.auth.ok", rep.WantFinding(t, "smtp.auth.ok", "pass").Detail, "AUTH "+mech)
			if !transcriptHas(rep, "C", "AUTH "+mech) || !transcriptHas(rep, "S", "235 2.7.0 Authentication successful") {
				t.Errorf("transcript lacks AUTH %s and its 235", mech)
			}
			wantQueued(t, rep)

			text := smtpSend(t, E.SubmissionPort, append(base, "--password-env", "MP_IT_PASS1", "-v")...)
			text.WantExit(t, 0)
			for _, out := range []*Result{r, text} {
				if strings.Contains(out.Stdout+out.Stderr, E.Pass1) {
					t.Fatalf("the password is in the output of %s", ShellJoin(out.Args))
				}
			}

			bad := smtpSend(t, E.SubmissionPort, append(base, "--password-file", wrong, "--format", "json")...)
			bad.WantExit(t, 1)
			brep := bad.JSON(t)
			brep.WantStage(t, "auth", "fail")
			f := brep.WantFinding(t, "smtp.auth.failed", "fail")
			WantContains(t, "smtp.auth.failed", f.Detail, "AUTH "+mech)
			if len(f.Evidence) == 0 || !strings.HasPrefix(f.Evidence[0].Text, "535 5.7.8 ") {
				t.Errorf("evidence %+v, want Postfix's 535 5.7.8", f.Evidence)
			}
			if strings.Contains(bad.Stdout+bad.Stderr, "Not-Alices-Pw-7c1e") {
				t.Fatalf("the wrong password is in the output")
			}
		})
	}
}

// The same challenge-response logins by swaks and by smtp send, through
// the same Postfix listener: the same commands, both messages delivered.
// (swaks has CRAM-MD5, CRAM-SHA1 and DIGEST-MD5; Dovecot offers the first
// and the last.)
func TestCompareSwaks_sendChallengeResponse(t *testing.T) {
	for _, mech := range []string{"CRAM-MD5", "DIGEST-MD5"} {
		t.Run(mech, func(t *testing.T) {
			rep, out := compareSend(t, "EHLO STARTTLS EHLO AUTH MAIL RCPT DATA QUIT",
				append(append([]string{E.Addr(E.SubmissionPort)}, E.TLSArgs()...), "--tls", "starttls", "--require-tls", "--helo", compareHelo,
					"--user", E.User1, "--password-env", "MP_IT_PASS1", "--auth-mech", mech, "--from", E.User1, "--to", E.User2),
				append(swaksBase(E.SubmissionPort), "--tls", "--auth", mech, "--auth-user", E.User1, "--auth-password", E.Pass1,
					"--from", E.User1, "--to", E.User2), E.User2)
			WantContains(t, "smtp.auth.ok", rep.WantFinding(t, "smtp.auth.ok", "pass").Detail, "AUTH "+mech)
			if !strings.Contains(out, "AUTH "+mech) {
				t.Errorf("swaks did not use %s:\n%s", mech, out)
			}
			wantQueued(t, rep)
			swaksQueued(t, out, rep)
		})
	}
}
