package dialogue

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/internal/testserver"
)

// shellRun feeds input to a shell connected to addr and returns what it
// printed and the files it saved.
func shellRun(t *testing.T, addr, input string, mod ...func(*ShellOptions)) (string, map[string]string, error) {
	t.Helper()
	host, port := hostPort(t, addr)
	var out bytes.Buffer
	saved := map[string]string{}
	var mu sync.Mutex
	o := ShellOptions{
		Host: host, Port: port, RootCAs: newTestCerts(t).pool,
		User:         testUser,
		Password:     func(string) (string, error) { return testPassword, nil },
		ReplyTimeout: 5 * time.Second,
		In:           strings.NewReader(input), Out: &out,
		WriteFile: func(name string, b []byte) error {
			mu.Lock()
			defer mu.Unlock()
			saved[name] = string(b)
			return nil
		},
	}
	for _, m := range mod {
		m(&o)
	}
	err := RunShell(context.Background(), o)
	return out.String(), saved, err
}

func mustContain(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

// A whole session typed into a pipe: STARTTLS, AUTH with the password from
// the prompt function, a message with a dot-stuffed line, the meta
// commands; then the saved script replays it.
func TestShell_PipedSession(t *testing.T) {
	addr, be := startGoSMTP(t, smtpOpts{STARTTLS: true})
	input := `EHLO client.example
.auth PLAIN
.starttls
EHLO client.example
.auth PLAIN
MAIL FROM:<bob@test.local>
RCPT TO:<alice@test.local>
DATA
Subject: typed in the shell
Cost: $5

..a line that starts with a dot
.
.explain
.explain 550 5.7.26 Unauthenticated email
.transcript
.bogus
.save session.script
.quit
`
	out, saved, err := shellRun(t, addr, input)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out,
		"* connected to 127.0.0.1:",
		"S: 220 mail.test.local ESMTP",
		"   = ", // every reply is explained
		"C: EHLO client.example",
		"S: 250-PIPELINING",
		"! the connection is not encrypted: run .starttls first",
		"C: STARTTLS",
		"* TLS: TLS 1.3",
		"* certificate trusted for 127.0.0.1",
		"send EHLO again",
		"C: AUTH PLAIN <redacted>",
		"S: 235 2.0.0 Authentication succeeded",
		"S: 354",
		"C: Subject: typed in the shell",
		"(1 more body lines)",
		"S: 250 2.0.0 OK: queued",
		"meaning:", "summary:",
		"550 5.7.26 (permanent negative)",
		"C: QUIT", "S: 221",
		"unknown shell command .bogus",
		"saved the session as a script in session.script",
	)
	if strings.Contains(out, testPassword) || strings.Contains(out, base64.StdEncoding.EncodeToString([]byte("\x00"+testUser+"\x00"+testPassword))) {
		t.Fatal("the password appears in the shell's output")
	}
	msgs := be.messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0].Data, "\r\n.a line that starts with a dot\r\n") {
		t.Fatalf("messages = %+v", msgs)
	}

	// The saved script is a script, and it does the same again.
	script := saved["session.script"]
	mustContain(t, script, "connect\nexpect 220\nsend EHLO client.example\nexpect 250\nstarttls\nsend EHLO client.example\nexpect 250\nauth PLAIN\n",
		"send DATA\nexpect 354\nbody\nSubject: typed in the shell\nCost: $$5\n\n.a line that starts with a dot\n.\nexpect 250\n")
	sc, err := ParseScript("session.script", []byte(script))
	if err != nil {
		t.Fatalf("saved script does not parse: %v\n%s", err, script)
	}
	rep := runParsed(t, addr, sc, withAuth)
	requireGreen(t, rep)
	if len(be.messages()) != 2 {
		t.Errorf("the replay did not deliver")
	}
}

func TestShell_ServerClosesAndTimeouts(t *testing.T) {
	addr := startRaw(t, func(c net.Conn, br *bufio.Reader) {
		io.WriteString(c, "220 raw.test ESMTP\r\n")
		srvLine(br) // NOOP: no answer
		srvLine(br) // RSET
		io.WriteString(c, "421 4.4.2 raw.test Error: timeout exceeded\r\n")
	})
	out, saved, err := shellRun(t, addr, ".timeout 200ms\nNOOP\nRSET\nEHLO x\nNOOP\n.save s\n")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out,
		"replies are now awaited for 200ms",
		"* no reply within 200ms",
		"S: 421 4.4.2",
		"cause:",
		"* disconnected", // closed or reset, depending on timing
		"! not connected",
	)
	// The 421 is usually followed by the close; either way the saved
	// script ends with what happened.
	mustContain(t, saved["s"], "send NOOP\nexpect none\nsend RSET\n")
}

func TestShell_ConnectFailure(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	out, _, err := shellRun(t, addr, "EHLO x\n")
	if !errors.Is(err, ErrShellConnect) {
		t.Fatalf("err = %v", err)
	}
	mustContain(t, out, "refused")
}

// Typed credentials are redacted on the echo like in the transcript, and
// left out of a saved script.
func TestShell_HandTypedAuthIsRedacted(t *testing.T) {
	addr, _ := startGoSMTP(t, smtpOpts{InsecureAuth: true})
	user64 := base64.StdEncoding.EncodeToString([]byte(testUser))
	pass64 := base64.StdEncoding.EncodeToString([]byte(testPassword))
	out, saved, err := shellRun(t, addr, "EHLO x\nAUTH LOGIN\n"+user64+"\n"+pass64+"\nNOOP\n.save s\n")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, "S: 334 VXNlcm5hbWU6", "S: 235", "C: <redacted>", "C: NOOP")
	if strings.Contains(out, pass64) || strings.Contains(saved["s"], pass64) || strings.Contains(saved["s"], user64) {
		t.Fatalf("credentials leaked:\n%s\n%s", out, saved["s"])
	}
	mustContain(t, saved["s"], "# A hand-typed AUTH exchange was left out", "send NOOP")
}

func TestShell_ImplicitTLSAndInteractivePrompt(t *testing.T) {
	addr, _ := startGoSMTP(t, smtpOpts{Implicit: true})
	out, _, err := shellRun(t, addr, "EHLO x\n", func(o *ShellOptions) { o.ImplicitTLS, o.Interactive = true, true })
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, "* TLS: TLS 1.3", "> ", "S: 250-")
	if strings.Contains(out, "C: EHLO x") {
		t.Error("a terminal shows what the user typed; the shell must not echo it")
	}
}

// A server that answers .auth PLAIN with a malformed line holding the
// credentials (raw, PLAIN blob, IMAP-quoted, JSON-escaped), then a partial
// line with terminal escapes: nothing the shell prints holds the password
// in any form, or a raw ESC, C1 or bidi control (issue 15).
func TestShell_HostileAuthReplyScrubbedAndEscaped(t *testing.T) {
	const pw = `Zq9"Se\cr3t-Pw`
	blob := base64.StdEncoding.EncodeToString([]byte("\x00" + testUser + "\x00" + pw))
	for _, mode := range []string{"malformed", "partial", "valid"} {
		partial := mode == "partial"
		addr := testserver.Start(t, testserver.SMTP{Caps: []string{"AUTH PLAIN LOGIN"}, Hook: func(c *testserver.Conn, l string) bool {
			if !strings.HasPrefix(l, "AUTH ") {
				return false
			}
			f := strings.Fields(l)
			dec, _ := base64.StdEncoding.DecodeString(f[len(f)-1])
			evil := "\x1b]8;;http://x\x07link\x1b]8;;\x07 \u009b31m \u202eevil you sent " + f[len(f)-1] + " = " + string(dec) +
				" pw " + pw + ` quoted "Zq9\"Se\\cr3t-Pw"`
			switch mode {
			case "partial":
				_, _ = c.Write([]byte("535 5.7.8 " + evil))
				c.Close()
				return true
			case "valid":
				c.Send("535-5.7.8 "+evil, "535 5.7.8 again "+evil)
				return true
			}
			c.Send("XYZ " + evil)
			return true
		}}.Handler())
		out, _, err := shellRun(t, addr, "EHLO x\n.auth PLAIN\n", func(o *ShellOptions) {
			o.AllowPlaintextAuth = true
			o.Password = func(string) (string, error) { return pw, nil }
		})
		if err != nil {
			t.Fatal(err)
		}
		mustContain(t, out, "C: AUTH PLAIN <redacted>")
		for _, leak := range []string{pw, blob, `Zq9\"Se\\cr3t-Pw`, "cr3t", "\x1b", "\u009b", "\u202e", "\a"} {
			if strings.Contains(out, leak) {
				t.Errorf("%s: shell output holds %q:\n%s", mode, leak, out)
			}
		}
		if !partial && !strings.Contains(out, `\u202e`) {
			t.Errorf("%s: the escapes are not shown escaped:\n%s", mode, out)
		}
	}
}
