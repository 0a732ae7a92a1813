//go:build integration

package integration

import (
	"encoding/json"
	"encoding/xml"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/internal/formatcheck"
)

// smtpCheck runs `smtp check` against a Postfix listener with TLS verified
// against this run's CA, plus extra flags.
func smtpCheck(t *testing.T, port int, extra ...string) *Result {
	t.Helper()
	args := append([]string{"smtp", "check", E.Addr(port)}, E.TLSArgs()...)
	return Run(t, append(args, extra...)...)
}

// wantVerifiedCertificate asserts the certificate stage verified this run's
// server certificate for mail.test.local.
func wantVerifiedCertificate(t *testing.T, rep *Report) {
	t.Helper()
	rep.WantStage(t, "certificate", "ok")
	f := rep.WantFinding(t, "cert.ok", "pass")
	WantContains(t, "cert.ok detail", f.Detail, E.ServerName, "mailprobe integration test CA")
	if v, _ := rep.Fact("certificate", "verified").(bool); !v {
		t.Errorf("facts.certificate.verified = %v, want true", rep.Fact("certificate", "verified"))
	}
	if names := rep.FactStrings("certificate", "dns_names"); len(names) != 1 || names[0] != E.ServerName {
		t.Errorf("facts.certificate.dns_names = %v, want [%s]", names, E.ServerName)
	}
	for _, code := range []string{"cert.untrusted", "cert.name-mismatch", "cert.self-signed", "cert.expired", "cert.verify-skipped"} {
		rep.WantNoFinding(t, code)
	}
}

// The port-25 role listener: STARTTLS offered (opportunistic), a certificate
// that verifies, and no AUTH before or after TLS.
func TestSMTPCheck_mxListener(t *testing.T) {
	r := smtpCheck(t, E.SMTPPort, "--role", "mx", "--format", "json").WantExit(t, 0)
	rep := r.JSON(t)
	if rep.Command != "smtp check" || rep.Target != E.Addr(E.SMTPPort) {
		t.Errorf("command/target = %q/%q", rep.Command, rep.Target)
	}
	if rep.Incomplete {
		t.Errorf("incomplete = true")
	}
	for _, s := range []string{"resolve", "connect", "banner", "ehlo", "starttls", "certificate", "ehlo-tls", "quit"} {
		rep.WantStage(t, s, "ok")
	}
	rep.WantStage(t, "auth", "skipped")
	if got := rep.Fact("banner"); got != "220 "+E.ServerName+" ESMTP Postfix" {
		t.Errorf("facts.banner = %v", got)
	}
	if kw := rep.FactStrings("capabilities", "keywords"); !contains(kw, "STARTTLS") {
		t.Errorf("STARTTLS not in the first EHLO's keywords %v", kw)
	}
	rep.WantFinding(t, "smtp.starttls.ok", "pass")
	rep.WantNoFinding(t, "smtp.starttls.missing")
	wantVerifiedCertificate(t, rep)
	// No AUTH anywhere on the MX listener (smtpd_sasl_auth_enable = no).
	if m := rep.FactStrings("auth_mechanisms_plaintext"); len(m) != 0 {
		t.Errorf("auth_mechanisms_plaintext = %v, want none", m)
	}
	if m := rep.FactStrings("auth_mechanisms_tls"); len(m) != 0 {
		t.Errorf("auth_mechanisms_tls = %v, want none", m)
	}
	for _, code := range []string{"smtp.auth.plaintext", "smtp.auth.before-tls", "smtp.auth.not-offered"} {
		rep.WantNoFinding(t, code)
	}
	rep.WantNoSeverity(t, "fail")
	// Every stage that ran carries its timing.
	for _, s := range rep.Stages {
		if s.Status != "skipped" && (s.DurationMS < 0 || s.StartMS < 0) {
			t.Errorf("stage %s: start_ms %v duration_ms %v", s.Name, s.StartMS, s.DurationMS)
		}
	}
	if rep.DurationMS <= 0 {
		t.Errorf("duration_ms = %v", rep.DurationMS)
	}
}

// RCPT to a foreign domain without authentication on the MX listener is
// refused by Postfix (reject_unauth_destination): relay denied, a pass.
func TestSMTPCheck_mxRelayDenied(t *testing.T) {
	r := smtpCheck(t, E.SMTPPort, "--role", "mx", "--from", "probe@example.net",
		"--to", "victim@example.org", "--resolver", E.DNS, "--format", "json").WantExit(t, 0)
	rep := r.JSON(t)
	rep.WantStage(t, "mail", "ok")
	rep.WantStage(t, "rcpt", "ok")
	f := rep.WantFinding(t, "smtp.relay.denied", "pass")
	WantContains(t, "smtp.relay.denied detail", f.Detail, "victim@example.org")
	if len(f.Evidence) == 0 || !strings.HasPrefix(f.Evidence[0].Text, "554 5.7.1 <victim@example.org>: Relay access denied") {
		t.Errorf("relay evidence = %+v, want Postfix's 554 5.7.1 reply", f.Evidence)
	}
	rep.WantNoFinding(t, "smtp.relay.accepted")
	// The probe ends with RSET and never sends DATA.
	for _, e := range rep.Transcript {
		if e.Dir == "C" && (strings.HasPrefix(strings.ToUpper(e.Line), "DATA") || strings.HasPrefix(strings.ToUpper(e.Line), "BDAT")) {
			t.Errorf("the relay probe sent %q", e.Line)
		}
	}
	if !transcriptHas(rep, "C", "RSET") {
		t.Errorf("the probe did not end with RSET")
	}
}

// A local recipient is accepted without authentication: test.local's MX
// (mail.test.local, asked of NSD) is this server, so it is local delivery,
// a pass (smtp.rcpt.local), not a relay warning; --fail-on warn keeps exit 0.
func TestSMTPCheck_mxLocalRecipientFailOn(t *testing.T) {
	args := []string{"--role", "mx", "--to", E.User1, "--resolver", E.DNS, "--format", "json"}
	rep := smtpCheck(t, E.SMTPPort, args...).WantExit(t, 0).JSON(t)
	f := rep.WantFinding(t, "smtp.rcpt.local", "pass")
	WantContains(t, "smtp.rcpt.local detail", f.Detail, E.User1, "test.local's MX mail.test.local")
	rep.WantNoFinding(t, "smtp.relay.accepted")
	smtpCheck(t, E.SMTPPort, append(args, "--fail-on", "warn")...).WantExit(t, 0)
}

// Submission: STARTTLS required by Postfix; AUTH is advertised only inside
// TLS (smtpd_tls_auth_only), which is what a safe submission port does.
func TestSMTPCheck_submissionAuthOnlyAfterTLS(t *testing.T) {
	rep := smtpCheck(t, E.SubmissionPort, "--role", "submission", "--format", "json").WantExit(t, 0).JSON(t)
	for _, s := range []string{"banner", "ehlo", "starttls", "certificate", "ehlo-tls"} {
		rep.WantStage(t, s, "ok")
	}
	rep.WantStage(t, "auth", "skipped")
	if kw := rep.FactStrings("capabilities", "keywords"); !contains(kw, "STARTTLS") || contains(kw, "AUTH") {
		t.Errorf("plaintext EHLO keywords %v: want STARTTLS and no AUTH", kw)
	}
	if m := rep.FactStrings("auth_mechanisms_plaintext"); len(m) != 0 {
		t.Errorf("auth_mechanisms_plaintext = %v, want none", m)
	}
	WantSameSet(t, "auth_mechanisms_tls", rep.FactStrings("auth_mechanisms_tls"), dovecotMechs)
	for _, code := range []string{"smtp.auth.plaintext", "smtp.auth.before-tls", "smtp.auth.not-offered", "smtp.starttls.missing"} {
		rep.WantNoFinding(t, code)
	}
	rep.WantFinding(t, "smtp.starttls.ok", "pass")
	wantVerifiedCertificate(t, rep)

	// The transcript agrees: no AUTH line before the handshake, the
	// AUTH capability inside TLS.
	tlsStarted := false
	sawAuthInTLS := false
	for _, e := range rep.Transcript {
		if e.TLS {
			tlsStarted = true
		}
		if e.Dir == "S" && strings.Contains(e.Line, "AUTH") {
			if !tlsStarted || !e.TLS {
				t.Errorf("AUTH advertised outside TLS: #%d %q", e.Seq, e.Line)
			}
			if strings.HasPrefix(e.Line, "250-AUTH PLAIN LOGIN") || strings.HasPrefix(e.Line, "250 AUTH PLAIN LOGIN") {
				sawAuthInTLS = true
			}
		}
	}
	if !tlsStarted || !sawAuthInTLS {
		t.Errorf("transcript: TLS %v, 250-AUTH PLAIN LOGIN inside TLS %v", tlsStarted, sawAuthInTLS)
	}
}

// AUTH as alice through Postfix, checked by Dovecot SASL: both mechanisms.
func TestSMTPCheck_submissionAuthSucceeds(t *testing.T) {
	for _, mech := range []string{"", "PLAIN", "LOGIN"} {
		t.Run("mech="+mech, func(t *testing.T) {
			args := []string{"--role", "submission", "--user", E.User1, "--password-env", "MP_IT_PASS1", "--format", "json"}
			if mech != "" {
				args = append(args, "--auth-mech", mech)
			}
			rep := smtpCheck(t, E.SubmissionPort, args...).WantExit(t, 0).JSON(t)
			st := rep.WantStage(t, "auth", "ok")
			WantContains(t, "auth stage summary", st.Summary, E.User1, "235")
			if mech != "" {
				WantContains(t, "auth stage summary", st.Summary, mech)
			}
			f := rep.WantFinding(t, "smtp.auth.ok", "pass")
			WantContains(t, "smtp.auth.ok detail", f.Detail, E.User1)
			rep.WantNoSeverity(t, "fail")
			if !transcriptHas(rep, "S", "235 2.7.0 Authentication successful") {
				t.Errorf("no 235 reply in the transcript")
			}
		})
	}
}

// A wrong password: Postfix answers 535 5.7.8; the finding carries the reply
// as evidence and the same explanation `mailprobe explain` gives for it.
func TestSMTPCheck_submissionWrongPassword(t *testing.T) {
	// Parallel: a failed login costs 2 s of Dovecot's auth_failure_delay.
	t.Parallel()
	pwfile := writeFile(t, "wrong-password", "Wr0ng-Pw-4e1d\n")
	r := smtpCheck(t, E.SubmissionPort, "--role", "submission", "--user", E.User1, "--password-file", pwfile, "--format", "json")
	r.WantExit(t, 1)
	rep := r.JSON(t)
	rep.WantStage(t, "auth", "fail")
	f := rep.WantFinding(t, "smtp.auth.failed", "fail")
	if f.Stage != "auth" {
		t.Errorf("smtp.auth.failed stage = %q", f.Stage)
	}
	if len(f.Evidence) == 0 || !strings.HasPrefix(f.Evidence[0].Text, "535 5.7.8 ") {
		t.Fatalf("evidence = %+v, want the 535 5.7.8 reply", f.Evidence)
	}
	reply := f.Evidence[0].Text
	if len(f.Evidence[0].Seq) == 0 {
		t.Errorf("the evidence cites no transcript seq")
	}
	WantContains(t, "smtp.auth.failed detail", f.Detail, E.User1)
	rep.WantNoFinding(t, "smtp.auth.ok")

	// The explanation is the knowledge base's for this exact reply.
	er := Run(t, "explain", "--format", "json", reply).WantExit(t, 0)
	var ex struct {
		Code     int    `json:"code"`
		Enhanced string `json:"enhanced"`
		Summary  string `json:"summary"`
		Cause    string `json:"cause"`
		Fix      string `json:"fix"`
		Provider string `json:"provider"`
	}
	if err := json.Unmarshal([]byte(er.Stdout), &ex); err != nil {
		t.Fatalf("explain --format json: %v\n%s", err, er)
	}
	if ex.Code != 535 || ex.Enhanced != "5.7.8" || ex.Summary == "" {
		t.Fatalf("explain %q = %+v", reply, ex)
	}
	WantContains(t, "smtp.auth.failed detail", f.Detail, ex.Summary)
	if ex.Cause != "" {
		WantContains(t, "smtp.auth.failed detail", f.Detail, ex.Cause)
	}
	if ex.Fix != "" && f.Fix != ex.Fix {
		t.Errorf("finding fix %q, want explain's fix %q", f.Fix, ex.Fix)
	}

	// Text output names the code, the reply and the explanation too.
	tr := smtpCheck(t, E.SubmissionPort, "--role", "submission", "--user", E.User1, "--password-file", pwfile)
	tr.WantExit(t, 1)
	WantContains(t, "text output", tr.Stdout, "smtp.auth.failed", "535 5.7.8", ex.Summary, "exit 1")
}

// Implicit TLS (the 465 role): TLS before the greeting, AUTH inside it.
func TestSMTPCheck_submissionsImplicitTLS(t *testing.T) {
	rep := smtpCheck(t, E.SubmissionsPort, "--tls", "implicit", "--role", "submission", "--user", E.User1,
		"--password-env", "MP_IT_PASS1", "--format", "json").WantExit(t, 0).JSON(t)
	for _, s := range []string{"connect", "banner", "ehlo", "certificate", "auth"} {
		rep.WantStage(t, s, "ok")
	}
	rep.WantStage(t, "ehlo-tls", "skipped")
	rep.WantFinding(t, "smtp.tls.implicit", "pass")
	rep.WantFinding(t, "smtp.auth.ok", "pass")
	rep.WantNoFinding(t, "smtp.starttls.missing")
	wantVerifiedCertificate(t, rep)
	if implicit, _ := rep.Fact("tls", "implicit").(bool); !implicit {
		t.Errorf("facts.tls.implicit = %v", rep.Fact("tls", "implicit"))
	}
	WantSameSet(t, "auth_mechanisms_tls", rep.FactStrings("auth_mechanisms_tls"), dovecotMechs)
	for _, e := range rep.Transcript {
		if (e.Dir == "C" || e.Dir == "S") && !e.TLS {
			t.Errorf("line outside TLS on the implicit-TLS port: #%d %s %q", e.Seq, e.Dir, e.Line)
		}
	}
}

// Without --servername the certificate (issued for mail.test.local, no IP
// SAN) does not match 127.0.0.1, and without --ca-file it is not trusted:
// either way the password is not sent.
func TestSMTPCheck_untrustedCertificateWithholdsPassword(t *testing.T) {
	cases := []struct {
		name, code string
		args       []string
	}{
		{"name-mismatch", "cert.name-mismatch", []string{"--ca-file", E.CA}},
		{"unknown-ca", "cert.untrusted", []string{"--servername", E.ServerName}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"smtp", "check", E.Addr(E.SubmissionPort), "--role", "submission",
				"--user", E.User1, "--password-env", "MP_IT_PASS1", "--format", "json"}, c.args...)
			rep := Run(t, args...).WantExit(t, 1).JSON(t)
			rep.WantFinding(t, c.code, "fail")
			rep.WantStage(t, "certificate", "fail")
			rep.WantStage(t, "auth", "skipped")
			rep.WantFinding(t, "smtp.auth.not-attempted", "warn")
			for _, e := range rep.Transcript {
				if e.Dir == "C" && strings.HasPrefix(strings.ToUpper(e.Line), "AUTH") {
					t.Errorf("AUTH sent over an untrusted connection: %q", e.Line)
				}
			}
		})
	}
}

// --local-addr: the check can come from 127.0.0.2, and Postfix sees it so.
func TestSMTPCheck_localAddr(t *testing.T) {
	rep := smtpCheck(t, E.SMTPPort, "--role", "mx", "--local-addr", E.ClientAddr, "--helo", "client.test.local", "--format", "json").WantExit(t, 0).JSON(t)
	var first string
	for _, e := range rep.Transcript {
		if e.Dir == "*" {
			first = e.Line
			break
		}
	}
	WantContains(t, "connect event", first, "from "+E.ClientAddr+":")
	if !transcriptHas(rep, "C", "EHLO client.test.local") {
		t.Errorf("EHLO did not use --helo")
	}
}

// A closed port: the check could not run, exit 3, and says where.
func TestSMTPCheck_unreachable(t *testing.T) {
	l, err := net.Listen("tcp", E.Host+":0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	r := Run(t, "smtp", "check", E.Addr(port), "--format", "json").WantExit(t, 3)
	rep := r.JSON(t)
	if !rep.Incomplete {
		t.Errorf("incomplete = false")
	}
	rep.WantStage(t, "connect", "error")
	f := rep.WantFinding(t, "smtp.connect.failed", "fail")
	WantContains(t, "smtp.connect.failed detail", f.Detail, strconv.Itoa(port))
	tr := Run(t, "smtp", "check", E.Addr(port)).WantExit(t, 3)
	WantContains(t, "text output", tr.Stdout, "smtp.connect.failed", "exit 3")
}

// Usage errors exit 2 and say so on stderr, with nothing on stdout.
func TestSMTPCheck_usageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"smtp", "check"},
		{"smtp", "check", E.Addr(E.SMTPPort), "--no-such-flag"},
		{"smtp", "check", E.Addr(E.SMTPPort), "--format", "yaml"},
		{"smtp", "check", E.Addr(E.SMTPPort), "--fail-on", "sometimes"},
		{"smtp", "check", E.Addr(E.SMTPPort), "--ca-file", "/nonexistent/ca.pem"},
		{"smtp", "check", E.Addr(E.SubmissionPort), "--user", E.User1, "--password-env", "MP_IT_NO_SUCH_VARIABLE"},
	} {
		r := Run(t, args...)
		r.WantExit(t, 2)
		if r.Stdout != "" {
			t.Errorf("usage error printed on stdout:\n%s", r)
		}
		WantContains(t, "stderr", r.Stderr, "mailprobe: ")
	}
}

// Every output format for the same check: text with -v shows stages,
// findings and the transcript; JUnit and SARIF are well-formed and agree
// with the JSON verdict.
func TestSMTPCheck_formats(t *testing.T) {
	// Parallel: a failed login costs 2 s of Dovecot's auth_failure_delay.
	t.Parallel()
	base := []string{"--role", "submission", "--user", E.User1, "--password-env", "MP_IT_PASS1", "-v"}

	text := smtpCheck(t, E.SubmissionPort, base...).WantExit(t, 0).Stdout
	WantContains(t, "text output", text,
		"smtp check "+E.Addr(E.SubmissionPort), "STAGES", "starttls", "certificate", "auth",
		"FINDINGS", "smtp.auth.ok", "cert.ok", "TRANSCRIPT",
		"S: 220 "+E.ServerName+" ESMTP Postfix", "C: STARTTLS", "AUTH PLAIN <redacted>", "RESULT", "exit 0")
	if strings.Contains(text, "\x1b[") {
		t.Errorf("text output has ANSI escapes with NO_COLOR set")
	}

	junit := smtpCheck(t, E.SubmissionPort, append(base, "--format", "junit")...).WantExit(t, 0).Stdout
	// Against the Ant and Jenkins xunit XSDs (xmllint), as CI reads it.
	formatcheck.JUnit(t, []byte(junit))
	var suites struct {
		XMLName xml.Name `xml:"testsuites"`
		Suites  []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
			Errors   int    `xml:"errors,attr"`
			Cases    []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(junit), &suites); err != nil {
		t.Fatalf("junit output is not XML: %v\n%s", err, junit)
	}
	if len(suites.Suites) != 1 || suites.Suites[0].Tests == 0 || suites.Suites[0].Failures != 0 || suites.Suites[0].Errors != 0 {
		t.Errorf("junit: %+v", suites.Suites)
	}
	var names []string
	for _, s := range suites.Suites {
		for _, c := range s.Cases {
			names = append(names, c.Name)
		}
	}
	WantContains(t, "junit testcases", strings.Join(names, "\n"), "stage starttls", "stage auth")

	// A failing run in JUnit and SARIF: the wrong password.
	pwfile := writeFile(t, "wrong-password", "Wr0ng-Pw-77aa\n")
	bad := []string{"--role", "submission", "--user", E.User1, "--password-file", pwfile}
	junitBad := smtpCheck(t, E.SubmissionPort, append(bad, "--format", "junit")...).WantExit(t, 1).Stdout
	if !strings.Contains(junitBad, "<failure") || !strings.Contains(junitBad, "smtp.auth.failed") {
		t.Errorf("junit for a failed AUTH has no failure naming smtp.auth.failed:\n%s", junitBad)
	}
	formatcheck.JUnit(t, []byte(junitBad))
	sarif := smtpCheck(t, E.SubmissionPort, append(bad, "--format", "sarif")...).WantExit(t, 1).Stdout
	// Against the SARIF 2.1.0 schema and GitHub code scanning's rules.
	formatcheck.SARIF(t, []byte(sarif))
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Results []struct {
				RuleID string `json:"ruleId"`
				Level  string `json:"level"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(sarif), &log); err != nil {
		t.Fatalf("sarif output is not JSON: %v\n%s", err, sarif)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 {
		t.Fatalf("sarif version %q, %d runs", log.Version, len(log.Runs))
	}
	found := false
	for _, res := range log.Runs[0].Results {
		if res.RuleID == "smtp.auth.failed" {
			found = true
			if res.Level != "error" {
				t.Errorf("sarif smtp.auth.failed level %q, want error", res.Level)
			}
		}
	}
	if !found {
		t.Errorf("sarif has no smtp.auth.failed result:\n%s", sarif)
	}
}
