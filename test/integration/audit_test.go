//go:build integration

package integration

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// `imap audit` and `pop3 audit` against Dovecot: the STARTTLS/STLS port
// and the implicit-TLS port, certificates verified against this run's CA.
//
// Dovecot treats a client from its own address (127.0.0.1) as secure: no
// LOGINDISABLED, PLAIN/LOGIN offered, passwords checked before TLS. From
// MP_IT_CLIENT_ADDR (127.0.0.2) it behaves as it does for the Internet.
// Both are asserted: the realistic case must pass, and the local one must
// be reported as exactly what Dovecot does there.
//
// Every failed login costs Dovecot's auth_failure_delay (2 s, its default;
// env.sh leaves it alone), so those tests run in parallel. The full TLS
// scan (protocols, suites, groups) runs in the two remote-client tests,
// where the whole audit must come out clean; the tests of login behaviour
// skip it (--no-tls-scan).

const wrongPasswordEnv = "MP_IT_WRONG_PASSWORD"

// audit runs `PROTO audit HOST` with the given ports (implicit-TLS ports
// named with --tls-port, since none is 993/995 here), TLS verified.
func audit(t *testing.T, proto string, o RunOptions, ports, tlsPorts []int, extra ...string) *Result {
	t.Helper()
	args := []string{proto, "audit", E.Host}
	for _, p := range ports {
		args = append(args, "--port", strconv.Itoa(p))
	}
	for _, p := range tlsPorts {
		args = append(args, "--tls-port", strconv.Itoa(p))
	}
	args = append(append(append(args, E.TLSArgs()...), "--format", "json"), extra...)
	return RunWith(t, o, args...)
}

// remote makes mailprobe connect from MP_IT_CLIENT_ADDR.
func fromClientAddr() []string { return []string{"--local-addr", E.ClientAddr} }

// findingsCoded returns every finding with code (a code may appear once
// per port).
func findingsCoded(rep *Report, code string) []Finding {
	var out []Finding
	for _, f := range rep.Findings {
		if f.Code == code {
			out = append(out, f)
		}
	}
	return out
}

// wantFindingAt asserts a finding with code and severity at stage.
func wantFindingAt(t *testing.T, rep *Report, code, severity, stage string) *Finding {
	t.Helper()
	for _, f := range findingsCoded(rep, code) {
		if f.Stage == stage {
			if f.Severity != severity {
				t.Errorf("finding %s at %s: severity %q, want %q (%s)", code, stage, f.Severity, severity, f.Detail)
			}
			return &f
		}
	}
	var at []string
	for _, f := range rep.Findings {
		at = append(at, f.Code+"@"+f.Stage)
	}
	t.Errorf("no finding %s at stage %s; findings: %v", code, stage, at)
	return nil
}

// wantNoStage asserts a stage did not run.
func wantNoStage(t *testing.T, rep *Report, name string) {
	t.Helper()
	for _, s := range rep.Stages {
		if s.Name == name {
			t.Errorf("unexpected stage %s=%s (%s)", s.Name, s.Status, s.Summary)
		}
	}
}

// wantPasswordHidden asserts the password is in no output of the run.
func wantPasswordHidden(t *testing.T, r *Result, pass string) {
	t.Helper()
	if strings.Contains(r.Stdout, pass) || strings.Contains(r.Stderr, pass) {
		t.Errorf("the password appears in the output")
	}
}

func stageAt(stage string, port int) string { return fmt.Sprintf("%s:%d", stage, port) }

// ---------------------------------------------------------------- IMAP

// The realistic case: a remote client sees LOGINDISABLED before STARTTLS,
// a verified certificate on both ports, and alice's login succeeds on both.
func TestIMAPAudit_remoteClient(t *testing.T) {
	t.Parallel()
	p, ps := E.IMAPPort, E.IMAPSPort
	r := audit(t, "imap", RunOptions{}, []int{p, ps}, []int{ps},
		append(fromClientAddr(), "--user", E.User1, "--password-env", "MP_IT_PASS1")...)
	r.WantExit(t, 0)
	rep := r.JSON(t)
	if rep.Command != "imap audit" || rep.Incomplete {
		t.Errorf("command %q, incomplete %v", rep.Command, rep.Incomplete)
	}
	rep.WantNoSeverity(t, "fail")
	rep.WantNoSeverity(t, "warn")

	// STARTTLS port.
	for _, s := range []string{"connect", "greeting", "capability", "starttls", "certificate", "capability-tls", "login"} {
		rep.WantStage(t, stageAt(s, p), "ok")
	}
	wantNoStage(t, rep, stageAt("login-probe", p)) // LOGINDISABLED: no probe needed
	f := wantFindingAt(t, rep, "imap.plaintext-login.refused", "pass", stageAt("capability", p))
	if f != nil {
		WantContains(t, "plaintext-login.refused", f.Detail, "LOGINDISABLED is advertised before TLS")
	}
	wantFindingAt(t, rep, "imap.starttls.ok", "pass", stageAt("starttls", p))
	wantFindingAt(t, rep, "cert.ok", "pass", stageAt("certificate", p))
	wantFindingAt(t, rep, "imap.login.ok", "pass", stageAt("login", p))
	rep.WantNoFinding(t, "imap.starttls.injection")
	rep.WantNoFinding(t, "imap.logindisabled.missing")
	rep.WantNoFinding(t, "imap.auth.plaintext")
	before, _ := rep.Fact(stageAt("capabilities", p)).(string)
	after, _ := rep.Fact(stageAt("capabilities-tls", p)).(string)
	for _, c := range []string{"LOGINDISABLED", "STARTTLS"} {
		if !contains(strings.Fields(before), c) {
			t.Errorf("capabilities before TLS %q lack %s", before, c)
		}
	}
	if contains(strings.Fields(before), "AUTH=PLAIN") || !contains(strings.Fields(after), "AUTH=PLAIN") || contains(strings.Fields(after), "LOGINDISABLED") {
		t.Errorf("capabilities %q / after TLS %q: want AUTH=PLAIN only after TLS, LOGINDISABLED only before", before, after)
	}

	// Implicit-TLS port.
	for _, s := range []string{"connect", "certificate", "greeting", "capability", "login"} {
		rep.WantStage(t, stageAt(s, ps), "ok")
	}
	WantContains(t, "connect stage", rep.Stage(t, stageAt("connect", ps)).Summary, "implicit TLS")
	wantNoStage(t, rep, stageAt("starttls", ps))
	wantFindingAt(t, rep, "cert.ok", "pass", stageAt("certificate", ps))
	wantFindingAt(t, rep, "imap.login.ok", "pass", stageAt("login", ps))

	// The greeting names Dovecot without a version: info, not a warning.
	if n := len(findingsCoded(rep, "imap.banner.software")); n != 2 {
		t.Errorf("%d imap.banner.software findings, want one per port", n)
	}
	rep.WantNoFinding(t, "imap.banner.version")
	for _, e := range rep.Transcript {
		if strings.Contains(e.Line, "LOGIN ") && e.Dir == "C" && (!e.Redacted || !e.TLS) {
			t.Errorf("LOGIN line %+v: want redacted and inside TLS", e)
		}
	}
	wantPasswordHidden(t, r, E.Pass1)
}

// From 127.0.0.1 Dovecot considers the connection secure: it offers
// AUTH=PLAIN AUTH=LOGIN and no LOGINDISABLED before TLS, and answers a
// LOGIN with a made-up account by checking it (after its 2 s failure
// delay). mailprobe must say so; STARTTLS still works.
func TestIMAPAudit_localClientSeenAsSecure(t *testing.T) {
	t.Parallel()
	p := E.IMAPPort
	r := audit(t, "imap", RunOptions{}, []int{p}, nil, "--no-tls-scan")
	r.WantExit(t, 1)
	rep := r.JSON(t)
	if rep.Target != E.Addr(p) {
		t.Errorf("target %q, want %s", rep.Target, E.Addr(p))
	}
	f := wantFindingAt(t, rep, "imap.logindisabled.missing", "fail", stageAt("capability", p))
	if f != nil {
		WantContains(t, "logindisabled.missing", f.Detail, "LOGINDISABLED is not advertised before TLS")
	}
	if f := wantFindingAt(t, rep, "imap.auth.plaintext", "fail", stageAt("capability", p)); f != nil {
		WantContains(t, "auth.plaintext", f.Detail, "AUTH=LOGIN AUTH=PLAIN")
	}
	rep.WantStage(t, stageAt("login-probe", p), "fail")
	if f := wantFindingAt(t, rep, "imap.plaintext-login.checked", "fail", stageAt("login-probe", p)); f != nil {
		WantContains(t, "plaintext-login.checked", f.Detail, "mailprobe-probe-", "NO [AUTHENTICATIONFAILED] Authentication failed.")
	}
	rep.WantNoFinding(t, "imap.plaintext-login.refused")
	rep.WantNoFinding(t, "imap.plaintext-login.accepted")
	// TLS is still fine, and judged the same way.
	rep.WantStage(t, stageAt("starttls", p), "ok")
	wantFindingAt(t, rep, "imap.starttls.ok", "pass", stageAt("starttls", p))
	wantFindingAt(t, rep, "cert.ok", "pass", stageAt("certificate", p))
	rep.WantStage(t, stageAt("capability-tls", p), "ok")
	rep.WantNoFinding(t, "imap.starttls.injection")
	var fails []string
	for _, f := range rep.Findings {
		if f.Severity == "fail" {
			fails = append(fails, f.Code)
		}
	}
	WantSameSet(t, "fail findings", fails, []string{"imap.logindisabled.missing", "imap.auth.plaintext", "imap.plaintext-login.checked"})
}

// --allow-plaintext-auth from 127.0.0.1 proves it: Dovecot accepts alice's
// real password before TLS, and mailprobe reports that as a failure.
func TestIMAPAudit_localClientPlaintextLoginAccepted(t *testing.T) {
	t.Parallel()
	p := E.IMAPPort
	r := audit(t, "imap", RunOptions{}, []int{p}, nil, "--no-tls-scan", "--user", E.User1, "--password-env", "MP_IT_PASS1", "--allow-plaintext-auth")
	r.WantExit(t, 1)
	rep := r.JSON(t)
	rep.WantStage(t, stageAt("login-probe", p), "fail")
	if f := wantFindingAt(t, rep, "imap.plaintext-login.accepted", "fail", stageAt("login-probe", p)); f != nil {
		WantContains(t, "plaintext-login.accepted", f.Detail, "LOGIN as "+E.User1+" before TLS")
	}
	rep.WantNoFinding(t, "imap.plaintext-login.checked")
	// After the plaintext login mailprobe reconnects for STARTTLS, and the
	// real login over TLS works too.
	wantFindingAt(t, rep, "imap.starttls.ok", "pass", stageAt("starttls", p))
	wantFindingAt(t, rep, "imap.login.ok", "pass", stageAt("login", p))
	for _, e := range rep.Transcript {
		if e.Dir == "C" && strings.Contains(e.Line, "LOGIN ") && !e.Redacted {
			t.Errorf("LOGIN line not redacted: %+v", e)
		}
	}
	wantPasswordHidden(t, r, E.Pass1)
}

func TestIMAPAudit_wrongPassword(t *testing.T) {
	t.Parallel()
	ps := E.IMAPSPort
	wrong := "wrong-" + E.Pass1
	r := audit(t, "imap", RunOptions{Env: []string{wrongPasswordEnv + "=" + wrong}}, []int{ps}, []int{ps},
		append(fromClientAddr(), "--no-tls-scan", "--user", E.User1, "--password-env", wrongPasswordEnv)...)
	r.WantExit(t, 1)
	rep := r.JSON(t)
	rep.WantStage(t, stageAt("login", ps), "fail")
	f := wantFindingAt(t, rep, "imap.login.failed", "fail", stageAt("login", ps))
	if f != nil && (len(f.Evidence) == 0 || !strings.Contains(f.Evidence[0].Text, "NO [AUTHENTICATIONFAILED] Authentication failed.")) {
		t.Errorf("evidence %+v, want Dovecot's NO [AUTHENTICATIONFAILED]", f.Evidence)
	}
	rep.WantNoFinding(t, "imap.login.ok")
	wantFindingAt(t, rep, "cert.ok", "pass", stageAt("certificate", ps))
	wantPasswordHidden(t, r, wrong)
}

// --lockout-test 3: Dovecot answers every wrong password after
// auth_failure_delay (2 s); the anvil penalty (MP_IT_AUTH_PENALTY=1) would
// add more. It never blocks: mailprobe reports lockout.delayed.
func TestIMAPAudit_lockout(t *testing.T) {
	t.Parallel()
	ps := E.IMAPSPort
	r := audit(t, "imap", RunOptions{}, []int{ps}, []int{ps}, append(fromClientAddr(), "--no-tls-scan", "--user", E.User1, "--lockout-test", "3")...)
	r.WantExit(t, 0)
	wantLockoutDelayed(t, r.JSON(t), "imap", ps)
}

// wantLockoutDelayed asserts three wrong passwords, each answered after
// Dovecot's failure delay, judged lockout.delayed.
func wantLockoutDelayed(t *testing.T, rep *Report, proto string, port int) {
	t.Helper()
	t.Logf("MP_IT_AUTH_PENALTY=%s", os.Getenv("MP_IT_AUTH_PENALTY"))
	st := rep.WantStage(t, stageAt("lockout", port), "ok")
	WantContains(t, "lockout stage", st.Summary, "3 attempts, replies after")
	f := wantFindingAt(t, rep, proto+".lockout.delayed", "pass", stageAt("lockout", port))
	if f != nil {
		WantContains(t, "lockout.delayed", f.Detail, "Wrong passwords are answered after a delay")
	}
	for _, c := range []string{"lockout.none", "lockout.blocked", "login.any-password"} {
		rep.WantNoFinding(t, proto+"."+c)
	}
	ms := rep.FactStrings("lockout_reply_ms")
	if len(ms) != 3 {
		t.Fatalf("facts.lockout_reply_ms = %v, want 3 attempts", ms)
	}
	for i, s := range ms {
		n, err := strconv.Atoi(s)
		// auth_failure_delay is 2 s, but Dovecot compares whole seconds
		// and checks every 500 ms: a failure is answered after 1 to 2.5 s.
		if err != nil || n < 900 {
			t.Errorf("attempt %d answered after %q ms, want about 2000 (Dovecot's auth_failure_delay)", i+1, s)
		}
	}
	t.Logf("lockout: %s", st.Summary)
}

// ---------------------------------------------------------------- POP3

// The realistic case on POP3: no USER and no SASL PLAIN before STLS, USER
// with a made-up account refused for lack of TLS, STLS and the certificate
// fine, alice's login works on both ports.
func TestPOP3Audit_remoteClient(t *testing.T) {
	t.Parallel()
	p, ps := E.POP3Port, E.POP3SPort
	r := audit(t, "pop3", RunOptions{}, []int{p, ps}, []int{ps},
		append(fromClientAddr(), "--user", E.User1, "--password-env", "MP_IT_PASS1")...)
	rep := r.JSON(t)
	if rep.Command != "pop3 audit" {
		t.Errorf("command %q", rep.Command)
	}
	rep.WantNoSeverity(t, "fail")
	rep.WantNoSeverity(t, "warn")

	// STLS port.
	for _, s := range []string{"connect", "greeting", "capability", "login-probe", "starttls", "certificate", "capability-tls", "login"} {
		rep.WantStage(t, stageAt(s, p), "ok")
	}
	if f := wantFindingAt(t, rep, "pop3.plaintext-login.refused", "pass", stageAt("login-probe", p)); f != nil {
		WantContains(t, "plaintext-login.refused", f.Detail, "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.")
	}
	rep.WantNoFinding(t, "pop3.logindisabled.missing")
	rep.WantNoFinding(t, "pop3.auth.plaintext")
	wantFindingAt(t, rep, "pop3.starttls.ok", "pass", stageAt("starttls", p))
	wantFindingAt(t, rep, "cert.ok", "pass", stageAt("certificate", p))
	wantFindingAt(t, rep, "pop3.login.ok", "pass", stageAt("login", p))
	rep.WantNoFinding(t, "pop3.starttls.injection")
	before, _ := rep.Fact(stageAt("capabilities", p)).(string)
	if !strings.Contains(before, "STLS") || strings.Contains(before, "USER") || strings.Contains(before, "PLAIN") {
		t.Errorf("capabilities before STLS %q: want STLS, no USER, no SASL PLAIN", before)
	}

	// Implicit-TLS port.
	for _, s := range []string{"connect", "certificate", "greeting", "capability", "login"} {
		rep.WantStage(t, stageAt(s, ps), "ok")
	}
	wantFindingAt(t, rep, "cert.ok", "pass", stageAt("certificate", ps))
	wantFindingAt(t, rep, "pop3.login.ok", "pass", stageAt("login", ps))
	for _, e := range rep.Transcript {
		if e.Dir == "C" && strings.HasPrefix(e.Line, "PASS") && (!e.Redacted || !e.TLS) {
			t.Errorf("PASS line %+v: want redacted and inside TLS", e)
		}
	}
	wantPasswordHidden(t, r, E.Pass1)
	r.WantExit(t, 0)
}

// From 127.0.0.1 Dovecot offers USER and SASL PLAIN LOGIN before STLS and
// checks a made-up account's password; STLS itself still works.
func TestPOP3Audit_localClientSeenAsSecure(t *testing.T) {
	t.Parallel()
	p := E.POP3Port
	r := audit(t, "pop3", RunOptions{}, []int{p}, nil, "--no-tls-scan")
	r.WantExit(t, 1)
	rep := r.JSON(t)
	if f := wantFindingAt(t, rep, "pop3.logindisabled.missing", "fail", stageAt("capability", p)); f != nil {
		WantContains(t, "logindisabled.missing", f.Detail, "USER is advertised before TLS")
	}
	if f := wantFindingAt(t, rep, "pop3.auth.plaintext", "fail", stageAt("capability", p)); f != nil {
		WantContains(t, "auth.plaintext", f.Detail, "SASL PLAIN LOGIN")
	}
	rep.WantStage(t, stageAt("login-probe", p), "fail")
	if f := wantFindingAt(t, rep, "pop3.plaintext-login.checked", "fail", stageAt("login-probe", p)); f != nil {
		WantContains(t, "plaintext-login.checked", f.Detail, "-ERR [AUTH] Authentication failed.")
	}
	rep.WantStage(t, stageAt("starttls", p), "ok")
	wantFindingAt(t, rep, "pop3.starttls.ok", "pass", stageAt("starttls", p))
	wantFindingAt(t, rep, "cert.ok", "pass", stageAt("certificate", p))
	var fails []string
	for _, f := range rep.Findings {
		if f.Severity == "fail" {
			fails = append(fails, f.Code)
		}
	}
	WantSameSet(t, "fail findings", fails, []string{"pop3.logindisabled.missing", "pop3.auth.plaintext", "pop3.plaintext-login.checked"})
}

func TestPOP3Audit_wrongPassword(t *testing.T) {
	t.Parallel()
	ps := E.POP3SPort
	wrong := "wrong-" + E.Pass1
	r := audit(t, "pop3", RunOptions{Env: []string{wrongPasswordEnv + "=" + wrong}}, []int{ps}, []int{ps},
		append(fromClientAddr(), "--no-tls-scan", "--user", E.User1, "--password-env", wrongPasswordEnv)...)
	r.WantExit(t, 1)
	rep := r.JSON(t)
	rep.WantStage(t, stageAt("login", ps), "fail")
	f := wantFindingAt(t, rep, "pop3.login.failed", "fail", stageAt("login", ps))
	if f != nil && (len(f.Evidence) == 0 || !strings.HasPrefix(f.Evidence[0].Text, "-ERR [AUTH] Authentication failed.")) {
		t.Errorf("evidence %+v, want Dovecot's -ERR [AUTH] Authentication failed.", f.Evidence)
	}
	rep.WantNoFinding(t, "pop3.login.ok")
	wantPasswordHidden(t, r, wrong)
}

func TestPOP3Audit_lockout(t *testing.T) {
	t.Parallel()
	ps := E.POP3SPort
	r := audit(t, "pop3", RunOptions{}, []int{ps}, []int{ps}, append(fromClientAddr(), "--no-tls-scan", "--user", E.User1, "--lockout-test", "3")...)
	r.WantExit(t, 0)
	wantLockoutDelayed(t, r.JSON(t), "pop3", ps)
}
