//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// Every example under testdata/scripts/ played against the Postfix
// listener its header names, with the variables it asks for. Each case
// asserts what the script's header says Postfix does: the exit code, the
// stages, and the exact findings (none, or the documented warnings).

// scriptPath is the example's path in the module.
func scriptPath(name string) string {
	return filepath.Join(moduleRoot(), "testdata", "scripts", name)
}

// runScript runs `smtp script` on an example with --format json.
func runScript(t *testing.T, name string, port int, extra ...string) *Result {
	t.Helper()
	args := append([]string{"smtp", "script", scriptPath(name), E.Addr(port), "--format", "json"}, extra...)
	return Run(t, args...)
}

// stepStages returns the stages of a script step, in order: the stages
// named "line N: STEP" (the line as written, shortened with "..." when
// long), or "line N: STEP ARGS".
func stepStages(rep *Report, step string) []Stage {
	re := regexp.MustCompile(`^line \d+: (.*)$`)
	var out []Stage
	for _, s := range rep.Stages {
		m := re.FindStringSubmatch(s.Name)
		if m != nil && (m[1] == step || strings.HasPrefix(m[1], step+" ") || m[1] == step+"...") {
			out = append(out, s)
		}
	}
	return out
}

// wantStep asserts that the step ran exactly n times, every time with
// status, and returns its stages.
func wantStep(t *testing.T, rep *Report, step string, n int, status string) []Stage {
	t.Helper()
	st := stepStages(rep, step)
	if len(st) != n {
		t.Fatalf("step %q: %d stages, want %d; stages: %s", step, len(st), n, rep.StageList())
	}
	for _, s := range st {
		if s.Status != status {
			t.Errorf("stage %s: status %q (%s), want %q", s.Name, s.Status, s.Summary, status)
		}
	}
	return st
}

// wantClean asserts a script that passes: every stage ok or info (notes
// and branch decisions), no finding at warn or fail, the run complete.
func wantClean(t *testing.T, rep *Report) {
	t.Helper()
	for _, s := range rep.Stages {
		if s.Status != "ok" && s.Status != "info" {
			t.Errorf("stage %s: status %q (%s)", s.Name, s.Status, s.Summary)
		}
	}
	rep.WantNoSeverity(t, "fail")
	rep.WantNoSeverity(t, "warn")
	if rep.Incomplete {
		t.Errorf("report marked incomplete")
	}
}

var queuedRe = regexp.MustCompile(`queued as ([0-9A-F]+)`)

// queueIDs lists the Postfix queue ids in the stage summaries, in order.
func queueIDs(rep *Report) []string {
	var out []string
	for _, s := range rep.Stages {
		if m := queuedRe.FindStringSubmatch(s.Summary); m != nil {
			out = append(out, m[1])
		}
	}
	return out
}

// wantDelivered waits for the message Postfix queued under id (its
// Received header names it) in user's mailbox.
func wantDelivered(t *testing.T, rep *Report, user, pass string) Message {
	t.Helper()
	ids := queueIDs(rep)
	if len(ids) != 1 {
		t.Fatalf("want one \"queued as\" in the stage summaries, got %v; stages: %s", ids, rep.StageList())
	}
	return WaitForMessage(t, user, pass, "Received", "id "+ids[0], 20*time.Second)
}

// scriptCases is one entry per example script; TestScript_examples fails
// when an example has no entry, so a new example needs a test here.
var scriptCases = map[string]func(t *testing.T){
	"plain-send.script": func(t *testing.T) {
		r := runScript(t, "plain-send.script", E.SMTPPort, "--var", "FROM=sender@example.org", "--var", "TO="+E.User1)
		r.WantExit(t, 0)
		rep := r.JSON(t)
		wantClean(t, rep)
		if len(rep.Findings) != 0 {
			t.Errorf("findings %v, want none (no TLS, no AUTH: nothing to judge)", rep.Codes())
		}
		wantStep(t, rep, "connect", 1, "ok")
		greet := wantStep(t, rep, "expect 220", 1, "ok")
		WantContains(t, "greeting stage", greet[0].Summary, "220 mail.test.local ESMTP Postfix")
		wantStep(t, rep, "ehlo", 1, "ok")
		data := wantStep(t, rep, "data", 1, "ok")
		WantContains(t, "data stage", data[0].Summary, "250 2.0.0 Ok: queued as")
		wantStep(t, rep, "quit", 1, "ok")
		if got := rep.FactStrings("capabilities"); !contains(got, "STARTTLS") || contains(got, "AUTH") {
			t.Errorf("facts.capabilities = %v, want STARTTLS and no AUTH (the MX listener)", got)
		}
		msg := wantDelivered(t, rep, E.User1, E.Pass1)
		if got := msg.Header("Subject"); got != "mailprobe plain-send.script" {
			t.Errorf("Subject = %q", got)
		}
		WantContains(t, "message", msg.Text(t), "without TLS", "and without AUTH.")
		// No TLS, no AUTH: Postfix says plain ESMTP.
		WantContains(t, "Received", string(msg.Raw), "with ESMTP id "+queueIDs(rep)[0])
	},

	"pipelining.script": func(t *testing.T) {
		r := runScript(t, "pipelining.script", E.SMTPPort, "--var", "FROM=sender@example.org", "--var", "TO="+E.User2)
		r.WantExit(t, 0)
		rep := r.JSON(t)
		wantClean(t, rep)
		wantStep(t, rep, "require-capability PIPELINING", 1, "ok")
		p := wantStep(t, rep, "pipeline", 1, "ok")
		WantContains(t, "pipeline stage", p[0].Summary, "3 commands in one write",
			"MAIL FROM:<sender@example.org>", "RCPT TO:<"+E.User2+">", "DATA")
		exp := stepStages(rep, "expect")
		var replies []string
		for _, s := range exp {
			replies = append(replies, s.Summary)
		}
		// greeting, MAIL, RCPT, DATA, end of data: read in order.
		if len(replies) != 5 || !strings.HasPrefix(replies[1], "250 2.1.0") || !strings.HasPrefix(replies[2], "250 2.1.5") ||
			!strings.HasPrefix(replies[3], "354 ") || !strings.HasPrefix(replies[4], "250 2.0.0 Ok: queued as") {
			t.Errorf("expect stages read %q, want 220, 250 2.1.0, 250 2.1.5, 354, 250 queued", replies)
		}
		wantStep(t, rep, "body", 1, "ok")
		msg := wantDelivered(t, rep, E.User2, E.Pass2)
		WantContains(t, "message", msg.Text(t), "travelled in a single TCP write")
	},

	"smtputf8.script": func(t *testing.T) {
		r := runScript(t, "smtputf8.script", E.SMTPPort, "--var", "FROM=sender@example.org", "--var", "TO="+E.User1)
		r.WantExit(t, 0)
		rep := r.JSON(t)
		wantClean(t, rep)
		wantStep(t, rep, "require-capability SMTPUTF8", 1, "ok")
		wantStep(t, rep, "require-capability 8BITMIME", 1, "ok")
		mail := wantStep(t, rep, "send MAIL FROM:<${FROM}> SMTPUTF8", 1, "ok")
		WantContains(t, "MAIL stage", mail[0].Summary, "SMTPUTF8 BODY=8BITMIME")
		data := wantStep(t, rep, "data", 1, "ok")
		WantContains(t, "data stage", data[0].Summary, "250 2.0.0 Ok: queued as")
		// The message body went out as raw UTF-8, headers included.
		if !transcriptHas(rep, "C", "Subject: mailprobe smtputf8.script: Grüße, привет, 你好, こんにちは") {
			t.Errorf("the UTF-8 Subject line is not in the transcript as sent")
		}
		// Not checked in the mailbox: Postfix accepts the message (what
		// the script tests) but Dovecot 2.3's LMTP does not offer
		// SMTPUTF8, so Postfix bounces it at delivery (dsn=5.6.7,
		// "SMTPUTF8 is required, but was not offered by host").
	},

	"relay-denied.script": func(t *testing.T) {
		r := runScript(t, "relay-denied.script", E.SMTPPort)
		r.WantExit(t, 0)
		rep := r.JSON(t)
		wantClean(t, rep)
		refusal := wantStep(t, rep, "expect 4xx|5xx", 1, "ok")
		WantContains(t, "RCPT reply", refusal[0].Summary, "554 5.7.1 <mailprobe-relay-test@example.invalid>: Relay access denied")
		branch := wantStep(t, rep, "if-reply 5xx enhanced 5.7.x", 1, "info")
		WantContains(t, "if-reply stage", branch[0].Summary, "running the block")
		note := wantStep(t, rep, "note", 1, "info")
		WantContains(t, "note", note[0].Summary, "relaying refused with a security/policy status (5.7.x)")
		wantStep(t, rep, "send RSET", 1, "ok")
		// The defaults: FROM mailprobe@${HELO}, RELAY_TO in .invalid; never DATA.
		if !transcriptHas(rep, "C", "RCPT TO:<mailprobe-relay-test@example.invalid>") || !transcriptHas(rep, "C", "MAIL FROM:<mailprobe@") {
			t.Errorf("transcript lacks the default MAIL/RCPT: %v", rep.Transcript)
		}
		if transcriptHas(rep, "C", "DATA") {
			t.Errorf("relay-denied.script sent DATA")
		}
	},

	"auth-without-advertisement.script": func(t *testing.T) {
		for _, c := range []struct {
			name  string
			port  int
			reply string
		}{
			{"mx", E.SMTPPort, "503 5.5.1 Error: authentication not enabled"},
			{"submission", E.SubmissionPort, "530 5.7.0 Must issue a STARTTLS command first"},
		} {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				r := runScript(t, "auth-without-advertisement.script", c.port)
				r.WantExit(t, 0)
				rep := r.JSON(t)
				wantClean(t, rep)
				if len(rep.Findings) != 0 {
					t.Errorf("findings %v, want none", rep.Codes())
				}
				decision := wantStep(t, rep, "if-capability AUTH", 1, "info")
				WantContains(t, "if-capability stage", decision[0].Summary, "AUTH not advertised: running the else branch")
				refusal := wantStep(t, rep, "expect 5xx", 1, "ok")
				WantContains(t, "AUTH reply", refusal[0].Summary, c.reply)
				skip := wantStep(t, rep, "if-reply 334", 1, "info")
				WantContains(t, "if-reply stage", skip[0].Summary, "skipping the block")
				// Not asked for a user name, the probe sent nothing more.
				if transcriptHas(rep, "S", "334") || transcriptHas(rep, "C", "*") {
					t.Errorf("the AUTH exchange went on: %v", rep.Transcript)
				}
				if len(stepStages(rep, "note")) != 0 {
					t.Errorf("the AUTH-advertised branch ran")
				}
			})
		}
	},

	"vrfy-probe.script": func(t *testing.T) {
		r := runScript(t, "vrfy-probe.script", E.SMTPPort, "--var", "TO="+E.User1)
		r.WantExit(t, 0) // a warning is below the default --fail-on fail
		rep := r.JSON(t)
		rep.WantNoSeverity(t, "fail")
		first := wantStep(t, rep, "expect 252|5xx", 1, "ok")
		WantContains(t, "first VRFY", first[0].Summary, "252 2.0.0 "+E.User1)
		wantStep(t, rep, "if-reply 252", 1, "info")
		second := wantStep(t, rep, "expect 252|502", 1, "info") // the script goes on after a warning
		WantContains(t, "second VRFY", second[0].Summary, "expected 252|502, got 550 5.1.1")
		if len(rep.Findings) != 1 {
			t.Fatalf("findings %v, want exactly one script.expect.mismatch", rep.Codes())
		}
		f := rep.WantFinding(t, "script.expect.mismatch", "warn")
		if f.Stage != second[0].Name {
			t.Errorf("finding stage %q, want %q", f.Stage, second[0].Name)
		}
		if !strings.HasPrefix(f.Detail, "VRFY answers 252 for a real mailbox but refuses an unknown one, which tells them apart.") {
			t.Errorf("detail does not start with the script's message: %s", f.Detail)
		}
		WantContains(t, "detail", f.Detail, "User unknown in virtual mailbox table")
		if len(f.Evidence) == 0 || !strings.HasPrefix(f.Evidence[0].Text, "550 5.1.1 <mailprobe-no-such-user-") {
			t.Errorf("evidence %+v, want Postfix's 550 5.1.1 for the made-up user", f.Evidence)
		}
		wantStep(t, rep, "quit", 1, "ok")

		// Documented: exit 1 with --fail-on warn.
		runScript(t, "vrfy-probe.script", E.SMTPPort, "--var", "TO="+E.User1, "--fail-on", "warn").WantExit(t, 1)
	},

	"starttls-auth-send.script": func(t *testing.T) {
		r := runScript(t, "starttls-auth-send.script", E.SubmissionPort, append(E.TLSArgs(),
			"--user", E.User1, "--password-env", "MP_IT_PASS1", "--var", "FROM="+E.User1, "--var", "TO="+E.User2)...)
		r.WantExit(t, 0)
		rep := r.JSON(t)
		wantClean(t, rep)
		WantSameSet(t, "findings", rep.Codes(), []string{"script.tls.ok", "cert.ok", "script.auth.ok"})
		rep.WantFinding(t, "script.tls.ok", "pass")
		rep.WantFinding(t, "cert.ok", "pass")
		auth := rep.WantFinding(t, "script.auth.ok", "pass")
		WantContains(t, "script.auth.ok", auth.Detail, "AUTH PLAIN as "+E.User1)
		st := wantStep(t, rep, "starttls", 1, "ok")
		WantContains(t, "starttls stage", st[0].Summary, "220 2.0.0 Ready to start TLS", "CN=mail.test.local")
		wantStep(t, rep, "ehlo", 2, "ok")
		wantStep(t, rep, "auth PLAIN", 1, "ok")
		if v, _ := rep.Fact("certificate", "verified").(bool); !v {
			t.Errorf("facts.certificate.verified = %v", rep.Fact("certificate", "verified"))
		}
		if before, after := rep.FactStrings("capabilities"), rep.FactStrings("capabilities_tls"); contains(before, "AUTH") || !contains(after, "AUTH") {
			t.Errorf("capabilities %v / capabilities_tls %v: want AUTH only after STARTTLS", before, after)
		}
		for _, e := range rep.Transcript {
			if strings.HasPrefix(e.Line, "AUTH PLAIN") && (!e.Redacted || !e.TLS || e.Line != "AUTH PLAIN <redacted>") {
				t.Errorf("AUTH line %+v: want redacted, inside TLS", e)
			}
			if strings.Contains(e.Line, E.Pass1) {
				t.Errorf("the password is in the transcript: %+v", e)
			}
		}
		msg := wantDelivered(t, rep, E.User2, E.Pass2)
		WantContains(t, "Received", string(msg.Raw), "with ESMTPSA id "+queueIDs(rep)[0])
		WantContains(t, "message", msg.Text(t), "after AUTH PLAIN as "+E.User1)
	},

	"implicit-tls-login.script": func(t *testing.T) {
		// FROM is left to its default, ${USER}.
		r := runScript(t, "implicit-tls-login.script", E.SubmissionsPort, append(E.TLSArgs(),
			"--user", E.User1, "--password-env", "MP_IT_PASS1")...)
		r.WantExit(t, 0)
		rep := r.JSON(t)
		wantClean(t, rep)
		WantSameSet(t, "findings", rep.Codes(), []string{"script.tls.ok", "cert.ok", "script.auth.ok"})
		conn := wantStep(t, rep, "connect tls", 1, "ok")
		WantContains(t, "connect tls stage", conn[0].Summary, "CN=mail.test.local")
		if v, _ := rep.Fact("tls", "implicit").(bool); !v {
			t.Errorf("facts.tls.implicit = %v, want true", rep.Fact("tls", "implicit"))
		}
		wantStep(t, rep, "require-capability AUTH LOGIN", 1, "ok")
		wantStep(t, rep, "auth LOGIN", 1, "ok")
		rep.WantFinding(t, "script.auth.ok", "pass")
		if !transcriptHas(rep, "C", "MAIL FROM:<"+E.User1+">") || !transcriptHas(rep, "C", "RSET") || transcriptHas(rep, "C", "DATA") {
			t.Errorf("want MAIL FROM:<%s> then RSET and no DATA; transcript %v", E.User1, rep.Transcript)
		}
		for _, e := range rep.Transcript {
			if e.Dir != "*" && !e.TLS {
				t.Errorf("line outside TLS on the implicit-TLS port: %+v", e)
			}
		}
	},

	"starttls-required.script": func(t *testing.T) {
		r := runScript(t, "starttls-required.script", E.SubmissionPort, E.TLSArgs()...)
		r.WantExit(t, 0)
		rep := r.JSON(t)
		wantClean(t, rep)
		WantSameSet(t, "findings", rep.Codes(), []string{"script.tls.ok", "cert.ok"})
		wantStep(t, rep, "require-capability STARTTLS", 1, "ok")
		wantStep(t, rep, "require-capability !AUTH", 1, "ok")
		refusal := wantStep(t, rep, "expect 530 enhanced 5.7.x", 1, "ok")
		WantContains(t, "MAIL before TLS", refusal[0].Summary, "530 5.7.0 Must issue a STARTTLS command first")
		skip := wantStep(t, rep, "if-reply 2xx", 1, "info")
		WantContains(t, "if-reply stage", skip[0].Summary, "skipping the block")
		wantStep(t, rep, "starttls", 1, "ok")
		wantStep(t, rep, "require-capability AUTH", 1, "ok")
		if transcriptHas(rep, "C", "RSET") {
			t.Errorf("RSET sent although MAIL was refused")
		}
	},

	"smuggling-probe.script": func(t *testing.T) {
		// PROBE_WAIT shortened from 5s: Postfix answers a look-alike it
		// takes as the end at once, and the safe probes only wait it out.
		r := runScript(t, "smuggling-probe.script", E.SMTPPort, "--var", "FROM=sender@example.org", "--var", "TO="+E.User1, "--var", "PROBE_WAIT=2s")
		r.WantExit(t, 0) // warnings only (exit 1 with --fail-on warn)
		rep := r.JSON(t)
		rep.WantNoSeverity(t, "fail")
		if rep.Incomplete {
			t.Errorf("report marked incomplete")
		}
		probes := stepStages(rep, "expect none|close|4xx|5xx")
		if len(probes) != 5 {
			t.Fatalf("%d probe expectations ran, want 5; stages: %s", len(probes), rep.StageList())
		}
		wantStep(t, rep, "connect", 5, "ok")
		wantStep(t, rep, "close", 5, "ok")
		// Postfix 3.7 with smtpd_forbid_bare_newline = no (Debian 12's
		// default) ends DATA at a bare-LF "." line: probes 1-3 warn.
		looks := []string{"<LF>.<LF>", "<LF>.<CR><LF>", "<CR><LF>.<LF>"}
		var warned []Finding
		for _, f := range rep.Findings {
			if f.Severity == "warn" {
				warned = append(warned, f)
			}
		}
		if len(rep.Findings) != 3 || len(warned) != 3 {
			t.Fatalf("findings %v, want exactly three script.expect.mismatch warnings", rep.Codes())
		}
		var smuggledIDs []string
		for i, look := range looks {
			f, st := warned[i], probes[i]
			if f.Code != "script.expect.mismatch" || f.Stage != st.Name {
				t.Errorf("probe %d: finding %s at %q, want script.expect.mismatch at %q", i+1, f.Code, f.Stage, st.Name)
			}
			if st.Status != "info" {
				t.Errorf("probe %d stage %s: status %q, want info (the script goes on)", i+1, st.Name, st.Status)
			}
			if !strings.HasPrefix(f.Detail, "The server ended the message at "+look+": SMTP smuggling (CVE-2023-51764/51765/51766); mailprobe smtp check --probe-smuggling") {
				t.Errorf("probe %d detail: %s", i+1, f.Detail)
			}
			if len(f.Evidence) == 0 || !strings.HasPrefix(f.Evidence[0].Text, "250 2.0.0 Ok: queued as ") {
				t.Errorf("probe %d evidence %+v, want Postfix's 250 queued", i+1, f.Evidence)
			} else {
				smuggledIDs = append(smuggledIDs, strings.TrimPrefix(f.Evidence[0].Text, "250 2.0.0 Ok: queued as "))
			}
		}
		// Probes 4 and 5 (<CR>.<CR><LF>, <CR>.<LF>): Postfix waits for more.
		for i, st := range probes[3:] {
			if st.Status != "ok" || !strings.Contains(st.Summary, "no reply within 2s") {
				t.Errorf("probe %d stage %s: %s %q, want ok, no reply within 2s", i+4, st.Name, st.Status, st.Summary)
			}
		}
		// What Postfix took for a whole message was delivered to TO only.
		if len(smuggledIDs) > 0 {
			msg := WaitForMessage(t, E.User1, E.Pass1, "Received", "id "+smuggledIDs[0], 20*time.Second)
			if got := msg.Header("Subject"); got != "mailprobe smuggling probe 1" {
				t.Errorf("smuggled message Subject = %q", got)
			}
		}
	},
}

func TestScript_examples(t *testing.T) {
	files, err := filepath.Glob(scriptPath("*.script"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example scripts under testdata/scripts (%v)", err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	for name := range scriptCases {
		if !slices.Contains(names, name) {
			t.Errorf("scriptCases has %s, which is not in testdata/scripts", name)
		}
	}
	for _, name := range names {
		run, ok := scriptCases[name]
		if !ok {
			t.Errorf("testdata/scripts/%s has no integration test: add it to scriptCases", name)
			continue
		}
		if _, err := os.Stat(scriptPath(name)); err != nil {
			t.Fatal(err)
		}
		t.Run(strings.TrimSuffix(name, ".script"), func(t *testing.T) {
			t.Parallel()
			run(t)
		})
	}
}
