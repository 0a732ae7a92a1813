//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
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

// ---------------------------------------------------------------- smtp send against swaks

// The same message sent by `smtp send` and by swaks through the same
// Postfix (or Dovecot LMTP) listener: the two transcripts agree command
// for command, both are accepted with the same reply code, and both
// messages are delivered. docs/smtp-send.md cites these tests.

// sendVerbs are the SMTP commands in a transcript, in order.
var sendVerbs = map[string]bool{"EHLO": true, "HELO": true, "LHLO": true, "STARTTLS": true, "AUTH": true, "XCLIENT": true,
	"MAIL": true, "RCPT": true, "DATA": true, "BDAT": true, "RSET": true, "QUIT": true}

// mailprobeVerbs reads the client's commands from mailprobe's transcript
// (message lines, between DATA and ".", left out).
func mailprobeVerbs(rep *Report) []string {
	var out []string
	inData := false
	for _, e := range rep.Transcript {
		if e.Dir != "C" {
			continue
		}
		if inData {
			inData = e.Line != "."
			continue
		}
		if f := strings.Fields(e.Line); len(f) > 0 && sendVerbs[strings.ToUpper(f[0])] {
			out = append(out, strings.ToUpper(f[0]))
			inData = strings.EqualFold(f[0], "DATA")
		}
	}
	return out
}

// swaksVerbs reads the client's commands from swaks's transcript (" -> "
// before TLS, " ~> " inside; run with --suppress-data).
func swaksVerbs(out string) []string {
	var verbs []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, "\r")
		var rest string
		switch {
		case strings.HasPrefix(line, " -> "):
			rest = line[4:]
		case strings.HasPrefix(line, " ~> "):
			rest = line[4:]
		default:
			continue
		}
		if f := strings.Fields(rest); len(f) > 0 && sendVerbs[strings.ToUpper(f[0])] {
			verbs = append(verbs, strings.ToUpper(f[0]))
		}
	}
	return verbs
}

// compareSend runs both tools, each with its own token in X-Mailprobe-Test,
// and asserts the same commands, the same final reply code, and (when
// mailbox is set) delivery of both messages.
func compareSend(t *testing.T, wantVerbs string, mpArgs, swArgs []string, mailbox string) (*Report, string) {
	t.Helper()
	mpToken, swToken := Unique(t)+"-mp", Unique(t)+"-sw"
	r := Run(t, append(append([]string{"smtp", "send"}, mpArgs...), "--header", "X-Mailprobe-Test: "+mpToken, "--format", "json", "--no-ptr")...)
	r.WantExit(t, 0)
	rep := r.JSON(t)
	out, code := Swaks(t, append(swArgs, "--suppress-data", "--header", "X-Mailprobe-Test: "+swToken)...)
	if code != 0 {
		t.Fatalf("swaks exit %d:\n%s", code, out)
	}
	mp, sw := strings.Join(mailprobeVerbs(rep), " "), strings.Join(swaksVerbs(out), " ")
	if mp != sw {
		t.Errorf("commands differ:\n  mailprobe %s\n  swaks     %s\nswaks's transcript:\n%s", mp, sw, out)
	}
	if mp != wantVerbs {
		t.Errorf("mailprobe sent %s, want %s", mp, wantVerbs)
	}
	if mailbox != "" {
		pass := map[string]string{E.User1: E.Pass1, E.User2: E.Pass2}[mailbox]
		WaitForMessage(t, mailbox, pass, "X-Mailprobe-Test", mpToken, 20*time.Second)
		WaitForMessage(t, mailbox, pass, "X-Mailprobe-Test", swToken, 20*time.Second)
	}
	return rep, out
}

var swaksQueuedRe = regexp.MustCompile(`(?m)^<[-~] +250 2\.0\.0 Ok: queued as [0-9A-F]+`)

// swaksQueued asserts swaks saw Postfix queue its message, with the reply
// mailprobe saw for its own (same code and text up to the queue id).
func swaksQueued(t *testing.T, out string, rep *Report) {
	t.Helper()
	if !swaksQueuedRe.MatchString(out) {
		t.Errorf("swaks's message was not queued:\n%s", out)
	}
	f := rep.WantFinding(t, "smtp.data.queued", "pass")
	if !strings.HasPrefix(evidence(t, f), "250 2.0.0 Ok: queued as ") {
		t.Errorf("mailprobe's final reply %q", evidence(t, f))
	}
}

// sendQueued asserts every stage of a send without TLS went through.
func sendQueued(t *testing.T, rep *Report) {
	t.Helper()
	for _, s := range []string{"connect", "banner", "ehlo", "mail", "rcpt", "data", "queued", "quit"} {
		rep.WantStage(t, s, "ok")
	}
	rep.WantNoSeverity(t, "fail")
}

// Plain SMTP to the MX listener, no TLS on either side.
func TestCompareSwaks_sendPlainMX(t *testing.T) {
	from := "sender@example.net"
	rep, out := compareSend(t, "EHLO MAIL RCPT DATA QUIT",
		[]string{E.Addr(E.SMTPPort), "--role", "mx", "--tls", "none", "--helo", compareHelo, "--from", from, "--to", E.User2},
		append(swaksBase(E.SMTPPort), "--from", from, "--to", E.User2), E.User2)
	sendQueued(t, rep)
	swaksQueued(t, out, rep)
}

// STARTTLS and AUTH PLAIN on the submission listener.
func TestCompareSwaks_sendStartTLSAuth(t *testing.T) {
	rep, out := compareSend(t, "EHLO STARTTLS EHLO AUTH MAIL RCPT DATA QUIT",
		append(append([]string{E.Addr(E.SubmissionPort)}, E.TLSArgs()...), "--tls", "starttls", "--require-tls", "--helo", compareHelo,
			"--user", E.User1, "--password-env", "MP_IT_PASS1", "--auth-mech", "PLAIN", "--from", E.User1, "--to", E.User2),
		append(swaksBase(E.SubmissionPort), "--tls", "--auth", "PLAIN", "--auth-user", E.User1, "--auth-password", E.Pass1,
			"--from", E.User1, "--to", E.User2), E.User2)
	rep.WantFinding(t, "smtp.auth.ok", "pass")
	wantQueued(t, rep)
	swaksQueued(t, out, rep)
}

// Implicit TLS and AUTH LOGIN on the submissions listener.
func TestCompareSwaks_sendImplicitTLS(t *testing.T) {
	rep, out := compareSend(t, "EHLO AUTH MAIL RCPT DATA QUIT",
		append(append([]string{E.Addr(E.SubmissionsPort)}, E.TLSArgs()...), "--tls", "implicit", "--helo", compareHelo,
			"--user", E.User1, "--password-env", "MP_IT_PASS1", "--auth-mech", "LOGIN", "--from", E.User1, "--to", E.User1),
		append(swaksBase(E.SubmissionsPort), "--tls-on-connect", "--auth", "LOGIN", "--auth-user", E.User1, "--auth-password", E.Pass1,
			"--from", E.User1, "--to", E.User1), E.User1)
	rep.WantFinding(t, "smtp.tls.implicit", "pass")
	wantQueued(t, rep)
	swaksQueued(t, out, rep)
}

// LMTP straight into Dovecot through its UNIX socket (the one Postfix
// delivers through): LHLO, a per-recipient reply, the message in the
// mailbox.
func TestCompareSwaks_sendLMTPSocket(t *testing.T) {
	sock := filepath.Join(E.Dir, "dovecot", "run", "lmtp")
	rep, out := compareSend(t, "LHLO MAIL RCPT DATA QUIT",
		[]string{"--socket", sock, "--protocol", "lmtp", "--tls", "none", "--helo", compareHelo, "--from", "lmtp@example.net", "--to", E.User2},
		[]string{"--socket", sock, "--protocol", "LMTP", "--ehlo", compareHelo, "--from", "lmtp@example.net", "--to", E.User2}, E.User2)
	f := rep.WantFinding(t, "smtp.lmtp.delivered", "pass")
	want := "250 2.0.0 <" + E.User2 + ">"
	if !regexp.MustCompile(`(?m)^<- +`+regexp.QuoteMeta(want)).MatchString(out) || !strings.HasPrefix(evidence(t, f), want) {
		t.Errorf("LMTP delivery replies: mailprobe %q; swaks's transcript:\n%s", evidence(t, f), out)
	}
}

// PIPELINING required on both sides (swaks --pipeline, smtp send
// --pipeline): the same commands, sent as one group.
func TestCompareSwaks_sendPipelining(t *testing.T) {
	from := "sender@example.net"
	rep, out := compareSend(t, "EHLO MAIL RCPT DATA QUIT",
		[]string{E.Addr(E.SMTPPort), "--role", "mx", "--tls", "none", "--pipeline", "--helo", compareHelo, "--from", from, "--to", E.User2},
		append(swaksBase(E.SMTPPort), "--pipeline", "--from", from, "--to", E.User2), E.User2)
	sendQueued(t, rep)
	swaksQueued(t, out, rep)
	// The group went in one write: MAIL, RCPT and DATA share a send time
	// in mailprobe's transcript, before any reply to them.
	var afterMail []string
	seen := false
	for _, e := range rep.Transcript {
		if e.Dir == "C" && strings.HasPrefix(e.Line, "MAIL FROM:") {
			seen = true
		}
		if seen && len(afterMail) < 3 {
			afterMail = append(afterMail, e.Dir+" "+strings.Fields(e.Line)[0])
		}
	}
	if strings.Join(afterMail, ",") != "C MAIL,C RCPT,C DATA" {
		t.Errorf("not pipelined: %v", afterMail)
	}
}

// --quit-after rcpt against swaks's --quit-after RCPT: the same commands,
// nothing delivered by either.
func TestCompareSwaks_sendQuitAfterRcpt(t *testing.T) {
	from := "sender@example.net"
	r := Run(t, "smtp", "send", E.Addr(E.SMTPPort), "--role", "mx", "--tls", "none", "--helo", compareHelo, "--from", from, "--to", E.User2,
		"--quit-after", "rcpt", "--format", "json", "--no-ptr")
	r.WantExit(t, 0)
	rep := r.JSON(t)
	rep.WantFinding(t, "smtp.send.stopped", "info")
	out, code := Swaks(t, append(swaksBase(E.SMTPPort), "--quit-after", "RCPT", "--from", from, "--to", E.User2)...)
	if code != 0 {
		t.Fatalf("swaks exit %d:\n%s", code, out)
	}
	if mp, sw := strings.Join(mailprobeVerbs(rep), " "), strings.Join(swaksVerbs(out), " "); mp != sw || mp != "EHLO MAIL RCPT QUIT" {
		t.Errorf("mailprobe %s, swaks %s", mp, sw)
	}
}

// --pipe: Postfix's own `sendmail -bs` (SMTP on stdin/stdout, no
// network) takes the message from both tools with the same commands, and
// Postfix delivers both.
func TestCompareSwaks_sendPipeSendmail(t *testing.T) {
	conf := os.Getenv("MP_IT_POSTFIX_CONFIG")
	if conf == "" {
		t.Fatal("MP_IT_POSTFIX_CONFIG is not set")
	}
	pipe := "/usr/sbin/sendmail -bs -C " + conf
	from := "pipe@example.net"
	rep, out := compareSend(t, "EHLO MAIL RCPT DATA QUIT",
		[]string{"--pipe", pipe, "--tls", "none", "--role", "mx", "--helo", compareHelo, "--from", from, "--to", E.User2},
		[]string{"--pipe", pipe, "--ehlo", compareHelo, "--from", from, "--to", E.User2}, E.User2)
	rep.WantStage(t, "queued", "ok")
	if !strings.Contains(out, "<- ") {
		t.Errorf("swaks's transcript:\n%s", out)
	}
}

// A Postfix listener behind a load balancer (PROXY protocol required,
// XCLIENT allowed to the proxied client): both tools send a PROXY v2
// header naming a client in 192.0.2.0/24 and then XCLIENT, with the same
// commands; Postfix records the XCLIENT name and address in the
// delivered message's Received header, which only works when it parsed
// the PROXY header and authorized the proxied client.
func TestCompareSwaks_sendProxyXClient(t *testing.T) {
	port, err := strconv.Atoi(os.Getenv("MP_IT_PROXY_PORT"))
	if err != nil {
		t.Fatalf("MP_IT_PROXY_PORT: %v", err)
	}
	from := "proxied@example.net"
	rep, _ := compareSend(t, "EHLO XCLIENT EHLO MAIL RCPT DATA QUIT",
		[]string{E.Addr(port), "--role", "mx", "--tls", "none", "--helo", compareHelo, "--from", from, "--to", E.User2,
			"--proxy", "v2", "--proxy-source", "192.0.2.7:4242", "--proxy-dest", "127.0.0.1:25",
			"--xclient", "NAME=xclient.example", "--xclient", "ADDR=192.0.2.9"},
		append(swaksBase(port), "--from", from, "--to", E.User2, "--proxy-version", "2", "--proxy-family", "AF_INET", "--proxy-protocol", "STREAM", "--proxy-source", "192.0.2.7", "--proxy-source-port", "4242",
			"--proxy-dest", "127.0.0.1", "--proxy-dest-port", "25", "--xclient-name", "xclient.example", "--xclient-addr", "192.0.2.9"), "")
	sendQueued(t, rep)
	token := ""
	for _, e := range rep.Transcript {
		if v, ok := strings.CutPrefix(e.Line, "X-Mailprobe-Test: "); ok && e.Dir == "C" {
			token = v
		}
	}
	msg := WaitForMessage(t, E.User2, E.Pass2, "X-Mailprobe-Test", token, 20*time.Second)
	WantContains(t, "Received header", string(msg.Raw), "(xclient.example [192.0.2.9])")
}
