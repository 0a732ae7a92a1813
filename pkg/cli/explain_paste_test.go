package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExplain_pastedLines(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"postfix log", []string{"Dec 4 10:00:01 mx postfix/smtp[1]: 4F1A: to=<bob@example.com>, relay=mx.example.com[192.0.2.1]:25, dsn=5.1.1, status=bounced (host mx.example.com[192.0.2.1] said: 550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command))"},
			[]string{"bob@example.com (bounced) from mx.example.com[192.0.2.1]", "provider: Postfix", "5.1.1: Addressing Status"}},
		{"exim log", []string{"2026-12-04 10:00:00 1rA2b3-000123-AB ** bob@example.com R=dnslookup T=remote_smtp H=mx.example.com [192.0.2.1]: SMTP error from remote mail server after RCPT TO:<bob@example.com>: 550 5.1.1 No such user here"},
			[]string{"bob@example.com", "exim-log", "550 5.1.1 No such user here"}},
		{"DSN field", []string{"Diagnostic-Code: smtp; 550 5.7.26 This mail has been blocked because the sender is unauthenticated."},
			[]string{"550 5.7.26", "Security or Policy Status"}},
		{"Postmark", []string{"550 5.7.1 You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: bob@example.org."},
			[]string{"provider: Postmark", "suppression list"}},
	}
	for _, c := range cases {
		r := run(t, nil, append([]string{"explain"}, c.args...)...)
		if r.code != 0 {
			t.Errorf("%s: exit %d: %s", c.name, r.code, r.errOut)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(r.out, w) {
				t.Errorf("%s: output lacks %q:\n%s", c.name, w, r.out)
			}
		}
	}
}

const cliBounce = "From: MAILER-DAEMON@mx.example.net\r\nSubject: Undelivered Mail\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n" +
	"--B\r\nContent-Type: text/plain\r\n\r\nCould not deliver.\r\n" +
	"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n" +
	"Final-Recipient: rfc822; bob@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n" +
	"Final-Recipient: rfc822; carol@gmail.com\r\nAction: failed\r\nStatus: 5.7.26\r\nDiagnostic-Code: smtp; 550-5.7.26 Unauthenticated email from example.com is not accepted due to domain's DMARC policy.\r\n\r\n" +
	"--B--\r\n"

// A whole bounce, from standard input or a file: one explanation per
// recipient, as a JSON array.
func TestExplain_bounce(t *testing.T) {
	r := runStdin(t, cliBounce, "explain", "-", "--format", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.errOut)
	}
	var got []struct {
		Recipient string
		Code      int
		Enhanced  string
		Provider  string
		Source    string
	}
	if err := json.Unmarshal([]byte(r.out), &got); err != nil {
		t.Fatalf("%v\n%s", err, r.out)
	}
	if len(got) != 2 || got[0].Recipient != "bob@example.org" || got[0].Enhanced != "5.1.1" ||
		got[1].Recipient != "carol@gmail.com" || got[1].Code != 550 || got[1].Provider != "Gmail" || got[1].Source != "bounce" {
		t.Errorf("bounce explained as %+v", got)
	}
	p := filepath.Join(t.TempDir(), "bounce.eml")
	if err := os.WriteFile(p, []byte(cliBounce), 0o600); err != nil {
		t.Fatal(err)
	}
	tr := run(t, nil, "explain", "--file", p)
	if tr.code != 0 || !strings.Contains(tr.out, "[1/2] bob@example.org (failed)") || !strings.Contains(tr.out, "[2/2] carol@gmail.com") {
		t.Errorf("text: exit %d\n%s", tr.code, tr.out)
	}
	if r := runStdin(t, "nothing to see here\n", "explain", "-"); r.code != 2 || !strings.Contains(r.errOut, "holds no SMTP reply") {
		t.Errorf("empty paste: exit %d %q", r.code, r.errOut)
	}
	if r := run(t, nil, "explain", "--file", "/nonexistent"); r.code != 2 {
		t.Errorf("missing file: exit %d", r.code)
	}
}

// What the user pasted is printed, never interpreted by the terminal.
func TestExplain_escapesPastedControls(t *testing.T) {
	r := runStdin(t, "550 5.7.1 \x1b]8;;http://evil\x07click\x1b]8;;\x07 \u009b31m red \u202e txt\n", "explain", "-")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.errOut)
	}
	for _, bad := range []string{"\x1b]", "\x07", "\u009b", "\u202e"} {
		if strings.Contains(r.out, bad) {
			t.Errorf("output carries %q raw:\n%q", bad, r.out)
		}
	}
	if !strings.Contains(r.out, `\e]8;;http://evil\x07click`) {
		t.Errorf("the paste is not shown escaped:\n%s", r.out)
	}
}

// capture's text lines quote clients: their controls are shown escaped.
func TestCapturePrintable(t *testing.T) {
	for in, want := range map[string]string{
		"Reset\x1b]0;owned\x07": `Reset\e]0;owned\x07`,
		"a\u202eb\nc":           `a\u202eb\nc`,
		"plain <x@y>":           "plain <x@y>",
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}
