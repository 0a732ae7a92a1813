package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/capture"
	"github.com/mailprobe/mailprobe/pkg/iostreams"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

var update = flag.Bool("update", false, "rewrite docs/findings.md from the registry")

type result struct {
	code        int
	out, errOut string
}

// run runs mailprobe in-process with the given environment variables.
func run(t *testing.T, vars map[string]string, args ...string) result {
	t.Helper()
	return runInput(t, vars, "", args...)
}

// runStdin runs mailprobe in-process with stdin as its standard input.
func runStdin(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return runInput(t, nil, stdin, args...)
}

func runInput(t *testing.T, vars map[string]string, stdin string, args ...string) result {
	t.Helper()
	io, in, out, errOut := iostreams.Test()
	in.WriteString(stdin)
	io.Getenv = func(k string) string { return vars[k] }
	code := Main(args, &Env{IO: io})
	return result{code, out.String(), errOut.String()}
}

func TestFindingsDoc(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "findings.md")
	want := report.FindingsDoc()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run: go test ./pkg/cli -run TestFindingsDoc -update)", err)
	}
	if string(got) != want {
		t.Fatal("docs/findings.md is out of date with the finding registry; run: go test ./pkg/cli -run TestFindingsDoc -update")
	}
}

func TestEveryCodeHasTitleAndFailuresHaveFixes(t *testing.T) {
	for _, c := range report.Codes() {
		if c.Title == "" {
			t.Errorf("%s has no title", c.Code)
		}
		if c.Severity >= report.Warn && c.Fix == "" {
			t.Errorf("%s (%v) has no fix", c.Code, c.Severity)
		}
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"no-such-command"},
		{"smtp", "check"},
		{"smtp", "check", "host", "--format", "yaml"},
		{"smtp", "check", "host", "--fail-on", "pass"},
		{"smtp", "check", "host", "--no-such-flag"},
		{"smtp", "check", "host", "--password-env", "X"}, // a password without --user
		{"smtp", "check", "host", "--user", "u", "--password-env", "UNSET"},
		{"smtp", "check", "host", "--user", "u", "--password-file", "/nonexistent/pw"},
		{"capture", "--reject-rcpt", "250"},
		{"capture", "--smtp", "nonsense"},
		{"explain"},
		{"smtp", "chek", "mx.example.com"},
		{"reset", "sned"},
		{"imap", "audti", "x"},
		{"-v", "smtp", "check", "x"},
	} {
		r := run(t, nil, args...)
		if r.code != report.ExitUsage {
			t.Errorf("%v: exit %d, want 2\nstderr: %s", args, r.code, r.errOut)
		}
		if !strings.Contains(r.errOut, "mailprobe:") {
			t.Errorf("%v: no error message on stderr: %q", args, r.errOut)
		}
	}
}

func TestResetEmbeddedPassesInEveryFormat(t *testing.T) {
	for _, format := range []string{"text", "json", "junit", "sarif"} {
		r := run(t, nil, "reset", "send", "--embedded", "--format", format)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", format, r.code, r.out, r.errOut)
		}
		switch format {
		case "json":
			var doc struct {
				SchemaVersion int `json:"schema_version"`
				Command       string
				Stages        []struct{ Name, Status string }
				Findings      []struct{ Code, Severity string }
			}
			if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
				t.Fatalf("json: %v\n%s", err, r.out)
			}
			if doc.SchemaVersion != 1 || len(doc.Stages) < 15 {
				t.Errorf("json: schema %d, %d stages", doc.SchemaVersion, len(doc.Stages))
			}
			for _, s := range doc.Stages {
				if s.Status != "ok" {
					t.Errorf("json: stage %s is %s", s.Name, s.Status)
				}
			}
		case "junit", "sarif":
			if format == "junit" {
				var v any
				if err := xml.Unmarshal([]byte(r.out), &v); err != nil {
					t.Errorf("junit is not XML: %v", err)
				}
			} else if !json.Valid([]byte(r.out)) {
				t.Error("sarif is not JSON")
			}
		case "text":
			for _, want := range []string{"queued", "imap-login", "reset.token.intact", "exit 0"} {
				if !strings.Contains(r.out, want) {
					t.Errorf("text output lacks %q", want)
				}
			}
		}
	}
}

func TestFailOn(t *testing.T) {
	// The 554 banner is a fail; the banner naming software alone is info.
	fail := testserver.Start(t, testserver.SMTP{Banner: []string{"554 5.7.1 No SMTP service here"}}.Handler())
	if r := run(t, nil, "smtp", "check", fail, "--role", "mx"); r.code != report.ExitFindings {
		t.Errorf("554 banner: exit %d\n%s", r.code, r.out)
	}
	info := testserver.Start(t, testserver.SMTP{Banner: []string{"220 mx.test.example ESMTP Postfix"}, Caps: []string{"SIZE 10240000", "PIPELINING"}}.Handler())
	if r := run(t, nil, "smtp", "check", info, "--role", "mx", "--fail-on", "fail"); r.code != report.ExitOK {
		t.Errorf("--fail-on fail: exit %d\n%s", r.code, r.out)
	}
	if r := run(t, nil, "smtp", "check", info, "--role", "mx", "--fail-on", "info"); r.code != report.ExitFindings {
		t.Errorf("--fail-on info: exit %d\n%s", r.code, r.out)
	}
	silent := testserver.Start(t, testserver.Silent)
	if r := run(t, nil, "smtp", "check", silent, "--timeout", "500ms"); r.code != report.ExitIncomplete {
		t.Errorf("silent server: exit %d\n%s", r.code, r.out)
	}
}

// The password given to any command appears in no output format, no
// transcript and no error message, in plain, base64 or PLAIN-encoded form.
func TestSecretsNeverLeak(t *testing.T) {
	const user, secret = "alice@test.example", "Tr0ub4dor&3-unique-s3cret"
	forms := []string{
		secret,
		base64.StdEncoding.EncodeToString([]byte(secret)),
		base64.RawStdEncoding.EncodeToString([]byte(secret)),
		base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + secret)),
		base64.StdEncoding.EncodeToString([]byte(user + "\x00" + user + "\x00" + secret)),
	}
	vars := map[string]string{"MP_PW": secret}
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	cert := testserver.NewCert(t, testserver.CertOptions{Names: []string{"localhost"}})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	writeCA(t, caFile, cert)
	good := testserver.Start(t, testserver.SMTP{Cert: &cert, Users: map[string]string{user: secret}}.Handler())
	wrong := testserver.Start(t, testserver.SMTP{Cert: &cert, Users: map[string]string{user: "other"}}.Handler())
	plain := testserver.Start(t, testserver.SMTP{Caps: []string{"AUTH PLAIN LOGIN"}, Users: map[string]string{user: secret}}.Handler())
	// A hostile server that echoes whatever credentials it gets, decoded
	// and encoded, in its replies.
	echo := testserver.Start(t, testserver.SMTP{Cert: &cert, CapsTLS: []string{"AUTH PLAIN LOGIN XOAUTH2"}, Hook: func(c *testserver.Conn, l string) bool {
		if !strings.HasPrefix(strings.ToUpper(l), "AUTH ") {
			return false
		}
		f := strings.Fields(l)
		got := []string{}
		if len(f) > 2 {
			got = append(got, f[2])
		} else {
			for i := 0; i < 2 && strings.EqualFold(f[1], "LOGIN"); i++ {
				c.Send("334 VXNlcm5hbWU6")
				x, _ := c.Line()
				got = append(got, x)
			}
		}
		var dec []string
		for _, g := range got {
			b, _ := base64.StdEncoding.DecodeString(g)
			dec = append(dec, strings.NewReplacer("\x00", "|", "\x01", "|").Replace(string(b)))
		}
		c.Send("535-5.7.8 bad: "+strings.Join(got, " "), "535 5.7.8 decoded: "+strings.Join(dec, " "))
		return true
	}}.Handler())

	pair, err := capture.Start(context.Background(), capture.Options{Hostname: "localhost", Users: map[string]string{user: secret}})
	if err != nil {
		t.Fatal(err)
	}
	defer pair.Close()
	pairCA := filepath.Join(t.TempDir(), "pair.pem")
	if err := os.WriteFile(pairCA, pair.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}

	script := filepath.Join(t.TempDir(), "auth.script")
	if err := os.WriteFile(script, []byte("connect\nexpect 220\nehlo\nstarttls\nehlo\nauth PLAIN\nexpect 235 else warn\nquit\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	suite := filepath.Join(t.TempDir(), "suite.yaml")
	if err := os.WriteFile(suite, []byte("checks:\n  - smtp check "+echo+" --role submission --user "+user+" --password-env MP_PW --ca-file "+caFile+" --servername localhost\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	commands := [][]string{
		{"smtp", "script", script, echo, "--user", user, "--password-env", "MP_PW", "--ca-file", caFile, "--servername", "localhost"},
		{"check", "-f", suite},
		{"imap", "audit", pair.IMAPAddr(), "--user", user, "--password-env", "MP_PW", "--ca-file", pairCA, "--servername", "localhost", "--no-tls-scan"},
		{"imap", "audit", pair.IMAPAddr(), "--user", user, "--password-file", pwFile, "--ca-file", pairCA, "--servername", "localhost", "--allow-plaintext-auth", "--no-tls-scan"},
		{"smtp", "check", echo, "--role", "submission", "--user", user, "--password-env", "MP_PW", "--ca-file", caFile, "--servername", "localhost"},
		{"smtp", "check", echo, "--role", "submission", "--user", user, "--password-env", "MP_PW", "--auth-mech", "LOGIN", "--ca-file", caFile, "--servername", "localhost"},
		{"smtp", "check", echo, "--role", "submission", "--user", user, "--password-env", "MP_PW", "--auth-mech", "XOAUTH2", "--ca-file", caFile, "--servername", "localhost"},
		{"smtp", "send", echo, "--user", user, "--password-env", "MP_PW", "--ca-file", caFile, "--servername", "localhost", "--from", user, "--to", "bob@test.example"},
		{"smtp", "check", good, "--role", "submission", "--user", user, "--password-env", "MP_PW", "--ca-file", caFile, "--servername", "localhost"},
		{"smtp", "check", wrong, "--role", "submission", "--user", user, "--password-file", pwFile, "--ca-file", caFile, "--servername", "localhost"},
		{"smtp", "check", good, "--role", "submission", "--user", user, "--password-env", "MP_PW", "--auth-mech", "LOGIN", "--ca-file", caFile, "--servername", "localhost"},
		{"smtp", "check", plain, "--role", "submission", "--user", user, "--password-env", "MP_PW", "--allow-plaintext-auth"},
		{"smtp", "send", good, "--user", user, "--password-env", "MP_PW", "--ca-file", caFile, "--servername", "localhost", "--from", user, "--to", "bob@test.example"},
		{"reset", "send", "--smtp", pair.SMTPAddr(), "--user", user, "--password-env", "MP_PW", "--ca-file", pairCA, "--servername", "localhost",
			"--from", user, "--to", user, "--imap", pair.IMAPAddr(), "--imap-tls", "starttls", "--imap-password-env", "MP_PW", "--wait", "5s"},
	}
	for _, args := range commands {
		for _, format := range []string{"text", "json", "junit", "sarif"} {
			a := append(append([]string{}, args...), "--format", format, "-v")
			r := run(t, vars, a...)
			if r.code == report.ExitUsage {
				t.Errorf("%v: usage error: %s", a, r.errOut)
				continue
			}
			if format == "text" && !strings.Contains(r.out, "<redacted>") && !strings.Contains(r.out, "redacted") {
				t.Errorf("%v: the transcript shows no redaction marker; was AUTH sent?\n%s", args[:3], r.out)
			}
			for _, f := range forms {
				if strings.Contains(r.out, f) || strings.Contains(r.errOut, f) {
					t.Errorf("%v --format %s: output contains the password (form %q)", args[:3], format, f)
				}
			}
		}
	}
}

func writeCA(t *testing.T, path string, c testserver.Cert) {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("-----BEGIN CERTIFICATE-----\n")
	enc := base64.StdEncoding.EncodeToString(c.CA.Raw)
	for len(enc) > 64 {
		b.WriteString(enc[:64] + "\n")
		enc = enc[64:]
	}
	b.WriteString(enc + "\n-----END CERTIFICATE-----\n")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// hostileText is what a hostile server or user puts in a reply or an
// argument to take over a terminal: an OSC 8 hyperlink ended by BEL, an
// 8-bit CSI (U+009B) and a right-to-left override.
const hostileText = "\x1b]8;;http://x\x07click\x1b]8;;\x07 \u009b31m red \u202eevil"

func assertTerminalSafe(t *testing.T, what, s string) {
	t.Helper()
	for _, bad := range []string{"\x1b]", "\x07", "\u009b", "\u202e"} {
		if strings.Contains(s, bad) {
			t.Errorf("%s holds %q:\n%s", what, bad, s)
		}
	}
}

// Server- and user-supplied text reaches the terminal only through
// termsafe: the text report (banner, replies, transcript), error messages
// on stderr and the progress line. JSON keeps the text as sent (issue 15).
func TestTerminalInjectionEscaped(t *testing.T) {
	srv := testserver.Start(t, testserver.SMTP{Banner: []string{"220 mx.test " + hostileText},
		Reply: map[string][]string{"EHLO": {"250-mx.test " + hostileText, "250 SIZE 1000"}}}.Handler())
	r := run(t, nil, "smtp", "check", srv, "--role", "mx", "-v")
	assertTerminalSafe(t, "smtp check text", r.out+r.errOut)
	if !strings.Contains(r.out, `\u202eevil`) {
		t.Errorf("the hostile text is not shown escaped:\n%s", r.out)
	}
	r = run(t, nil, "smtp", "check", srv, "--role", "mx", "--format", "json")
	if !strings.Contains(r.out, "\u202eevil") {
		t.Errorf("JSON does not keep the server's text:\n%s", r.out)
	}

	// An error quoting an argument (a file name) on stderr.
	r = run(t, nil, "smtp", "check", srv, "--user", "u", "--password-file", "/nonexistent/"+hostileText)
	if r.code != report.ExitUsage {
		t.Fatalf("exit %d", r.code)
	}
	assertTerminalSafe(t, "stderr", r.errOut)

	// The progress line (stderr on a terminal) names each batch target.
	io, in, out, errOut := iostreams.Test()
	io.StderrTTY = true
	in.WriteString(srv + "\n127.0.0.1:1" + hostileText + "\n")
	Main([]string{"batch", "--", "smtp", "check", "{}", "--role", "mx"}, &Env{IO: io})
	assertTerminalSafe(t, "batch progress", errOut.String())
	if !strings.Contains(errOut.String(), "mailprobe batch: 2/2") {
		t.Errorf("no progress line:\n%q", errOut.String())
	}
	_ = out
}

// The secrets test of issue 15: a password with a double quote and a
// backslash reaches no output format and no stderr in any form (raw,
// base64, PLAIN blob, IMAP quoted string, xtext, JSON and XML escapes),
// however it comes back: echoed by a hostile SMTP or IMAP server in each
// protocol's quoting, inside a long malformed reply that the text format
// wraps at COLUMNS=80, through the shell's error lines, or in a suite
// line whose validation fails.
func TestSecretsNeverLeak_hostileForms(t *testing.T) {
	const user, pw = "alice@test.example", `Zq9"Se\cr3t-Pw`
	vars := map[string]string{"MPW": pw}
	forms := transcript.CredentialForms(user, pw)
	check := func(what string, r result) {
		t.Helper()
		for _, s := range []string{r.out, r.errOut} {
			if strings.Contains(s, "cr3t") {
				t.Errorf("%s: the password leaked:\n%s\n--- stderr:\n%s", what, r.out, r.errOut)
				return
			}
			for _, f := range forms {
				if strings.Contains(s, f) {
					t.Errorf("%s: form %q leaked:\n%s\n--- stderr:\n%s", what, f, r.out, r.errOut)
					return
				}
			}
		}
	}
	formats := []string{"text", "json", "junit", "sarif"}

	// An SMTP server that answers AUTH with every quoting of what it got.
	smtpEcho := testserver.Start(t, testserver.SMTP{Caps: []string{"AUTH PLAIN LOGIN"}, Hook: func(c *testserver.Conn, l string) bool {
		if !strings.HasPrefix(strings.ToUpper(l), "AUTH ") {
			return false
		}
		f := strings.Fields(l)
		dec, _ := base64.StdEncoding.DecodeString(f[len(f)-1])
		p := strings.Split(string(dec), "\x00")
		got := p[len(p)-1]
		c.Send("535-5.7.8 imap \""+transcript.IMAPQuoted(got)+"\"", "535-5.7.8 xtext AUTH="+transcript.XText(got),
			"535-5.7.8 login step "+base64.StdEncoding.EncodeToString([]byte(got))+" plain "+f[len(f)-1],
			`535-5.7.8 json {"pw":`+strconv.Quote(got)+`}`, "535 5.7.8 xml <pw>"+html.EscapeString(got)+"</pw>")
		return true
	}}.Handler())
	for _, format := range formats {
		check("smtp check echo "+format, run(t, vars, "smtp", "check", smtpEcho, "--role", "submission", "--user", user, "--password-env", "MPW",
			"--allow-plaintext-auth", "--format", format, "-v"))
	}

	// An IMAP server that echoes LOGIN's quoted string.
	imapEcho := testserver.Start(t, func(c *testserver.Conn) {
		c.Send("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready")
		for {
			l, err := c.Line()
			if err != nil {
				return
			}
			tag, rest, _ := strings.Cut(l, " ")
			switch verb, args, _ := strings.Cut(rest, " "); strings.ToUpper(verb) {
			case "CAPABILITY":
				c.Send("* CAPABILITY IMAP4rev1 AUTH=PLAIN", tag+" OK done")
			case "LOGIN":
				c.Send("* NO you said "+args, tag+" NO [AUTHENTICATIONFAILED] "+args+" is wrong")
			case "AUTHENTICATE":
				c.Send(tag + " NO [AUTHENTICATIONFAILED] \"" + transcript.IMAPQuoted(pw) + "\" is wrong")
			case "LOGOUT":
				c.Send("* BYE", tag+" OK bye")
				return
			default:
				c.Send(tag + " BAD what")
			}
		}
	})
	_, port, _ := strings.Cut(imapEcho, ":")
	for _, format := range formats {
		check("imap audit echo "+format, run(t, vars, "imap", "audit", "127.0.0.1", "--port", port, "--user", user, "--password-env", "MPW",
			"--allow-plaintext-auth", "--no-tls-scan", "--format", format, "-v", "--timeout", "5s"))
	}

	// A long malformed reply, cut off by the server, holding the password
	// at every offset around the wrap: the text format at 80 columns.
	for pad := 30; pad <= 75; pad += 3 {
		srv := testserver.Start(t, testserver.SMTP{Caps: []string{"AUTH PLAIN LOGIN"}, Hook: func(c *testserver.Conn, l string) bool {
			if !strings.HasPrefix(strings.ToUpper(l), "AUTH ") {
				return false
			}
			_, _ = c.Write([]byte("535 5.7.8 " + strings.Repeat("x", pad) + pw + strings.Repeat("y", 60)))
			c.Close()
			return true
		}}.Handler())
		io, _, out, errOut := iostreams.Test()
		io.Getenv = func(k string) string { return vars[k] }
		io.Width = 80
		code := Main([]string{"smtp", "check", srv, "--role", "submission", "--user", user, "--password-env", "MPW", "--allow-plaintext-auth", "-v"}, &Env{IO: io})
		check(fmt.Sprintf("wrapped at 80, pad %d", pad), result{code, out.String(), errOut.String()})
	}

	// The shell: .auth PLAIN answered by a malformed line holding the
	// credentials.
	shellEcho := testserver.Start(t, testserver.SMTP{Caps: []string{"AUTH PLAIN LOGIN"}, Hook: func(c *testserver.Conn, l string) bool {
		if !strings.HasPrefix(strings.ToUpper(l), "AUTH ") {
			return false
		}
		f := strings.Fields(l)
		dec, _ := base64.StdEncoding.DecodeString(f[len(f)-1])
		_, _ = c.Write([]byte("bad " + f[len(f)-1] + " " + string(dec) + " \"" + transcript.IMAPQuoted(pw) + "\""))
		c.Close()
		return true
	}}.Handler())
	{
		io, in, out, errOut := iostreams.Test()
		io.Getenv = func(k string) string { return vars[k] }
		in.WriteString("EHLO x\n.auth PLAIN\n")
		code := Main([]string{"smtp", "shell", shellEcho, "--user", user, "--password-env", "MPW", "--allow-plaintext-auth"}, &Env{IO: io})
		r := result{code, out.String(), errOut.String()}
		check("shell", r)
		if !strings.Contains(r.out, "AUTH PLAIN <redacted>") {
			t.Errorf("shell did not log in:\n%s", r.out)
		}
	}

	// Suite lines holding --password=${MPW}: a typo, a missing argument, a
	// bad flag (validation: stderr), and a missing required flag (the
	// check runs and fails: every report format).
	for _, line := range []string{
		"smtp chek " + smtpEcho + " --user " + user + " --password=${MPW}",
		"smtp check --user " + user + " --password=${MPW}",
		"smtp check " + smtpEcho + " --user " + user + " --password ${MPW} --no-such-flag",
		"smtp check " + smtpEcho + " --user " + user + " --password=\"${MPW}\" --timeout never",
		"smtp send " + smtpEcho + " --user " + user + " --password=${MPW}",
		"smtp check smtp://" + user + ":${MPW}@" + smtpEcho + " --bad",
		"smtp check " + smtpEcho + " --user " + user + " -password=${MPW}",
		"smtp check " + smtpEcho + " --user " + user + " -pasword ${MPW}",
		"smtp check --password=${MPW} --user " + user,
		"smtp send --password=${MPW} " + smtpEcho + " --user " + user,
	} {
		file := writeSuite(t, "checks:\n  - '"+strings.ReplaceAll(line, "'", "''")+"'\n")
		for _, format := range formats {
			r := run(t, vars, "check", "-f", file, "--format", format)
			if r.code == 0 {
				t.Errorf("%q: exit 0", line)
			}
			check("suite "+line+" "+format, r)
		}
	}
}
