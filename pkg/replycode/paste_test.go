package replycode

import (
	"strings"
	"testing"
)

func TestParsePaste(t *testing.T) {
	cases := []struct {
		name, in string
		want     []Pasted
	}{
		{"reply line", "550 5.7.26 Unauthenticated email from example.com is not accepted",
			[]Pasted{{Code: 550, Enhanced: "5.7.26", Text: "Unauthenticated email from example.com is not accepted", Source: "reply"}}},
		{"multi-line reply", "550-5.7.1 [192.0.2.1] Our system has detected\n550-5.7.1 an unusual rate\n550 5.7.1 of mail. https://support.google.com/mail/?p=UnsolicitedRateLimitError",
			[]Pasted{{Code: 550, Enhanced: "5.7.1", Text: "[192.0.2.1] Our system has detected an unusual rate of mail. https://support.google.com/mail/?p=UnsolicitedRateLimitError", Source: "reply"}}},
		{"DSN diagnostic", "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown in virtual mailbox table",
			[]Pasted{{Code: 550, Enhanced: "5.1.1", Text: "<bob@example.com>: Recipient address rejected: User unknown in virtual mailbox table", Source: "dsn"}}},
		{"DSN status then diagnostic", "Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 User unknown",
			[]Pasted{{Code: 550, Enhanced: "5.1.1", Text: "User unknown", Source: "dsn"}}},
		{"DSN status alone", "Status: 4.4.1", []Pasted{{Enhanced: "4.4.1", Source: "dsn"}}},
		{"Postfix bounced", "Dec  4 10:00:01 mx postfix/smtp[123]: 4F1A2B3C4D: to=<bob@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=5.1.1, status=bounced (host mx.example.com[192.0.2.1] said: 550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown (in reply to RCPT TO command))",
			[]Pasted{{Code: 550, Enhanced: "5.1.1", Text: "<bob@example.com>: Recipient address rejected: User unknown", Source: "postfix-log", Recipient: "bob@example.com", Action: "bounced", RemoteMTA: "mx.example.com[192.0.2.1]"}}},
		{"Postfix deferred", "postfix/smtp[9]: ABC: to=<a@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.1.27]:25, dsn=4.7.28, status=deferred (host gmail-smtp-in.l.google.com[142.250.1.27] said: 421-4.7.28 Gmail has detected an unusual rate of unsolicited mail. (in reply to end of DATA command))",
			[]Pasted{{Code: 421, Enhanced: "4.7.28", Text: "Gmail has detected an unusual rate of unsolicited mail.", Source: "postfix-log", Recipient: "a@gmail.com", Action: "deferred", RemoteMTA: "gmail-smtp-in.l.google.com[142.250.1.27]"}}},
		{"Postfix local bounce", "postfix/local[7]: DEF: to=<x@host.example>, relay=local, dsn=5.1.1, status=bounced (unknown user: \"x\")",
			[]Pasted{{Enhanced: "5.1.1", Text: `unknown user: "x"`, Source: "postfix-log", Recipient: "x@host.example", Action: "bounced"}}},
		{"Exim", "2026-12-04 10:00:00 1rA2b3-000123-AB ** bob@example.com R=dnslookup T=remote_smtp H=mx.example.com [192.0.2.1]: SMTP error from remote mail server after RCPT TO:<bob@example.com>: 550 5.1.1 No such user here",
			[]Pasted{{Code: 550, Enhanced: "5.1.1", Text: "No such user here", Source: "exim-log", Recipient: "bob@example.com", RemoteMTA: "mx.example.com"}}},
		{"nothing", "hello world", nil},
	}
	for _, c := range cases {
		got := ParsePaste(c.in)
		if len(got) != len(c.want) {
			t.Errorf("%s: %d replies %+v, want %d", c.name, len(got), got, len(c.want))
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s:\n got %+v\nwant %+v", c.name, got[i], c.want[i])
			}
		}
	}
}

const bounce = "From: MAILER-DAEMON@mx.example.net\r\n" +
	"To: app@example.com\r\n" +
	"Subject: Undelivered Mail Returned to Sender\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B1\"\r\n" +
	"\r\n" +
	"--B1\r\n" +
	"Content-Type: text/plain\r\n" +
	"\r\n" +
	"I'm sorry to have to inform you that your message could not be delivered.\r\n" +
	"--B1\r\n" +
	"Content-Type: message/delivery-status\r\n" +
	"\r\n" +
	"Reporting-MTA: dns; mx.example.net\r\n" +
	"Arrival-Date: Fri, 4 Dec 2026 10:00:00 +0000\r\n" +
	"\r\n" +
	"Final-Recipient: rfc822; bob@example.org\r\n" +
	"Action: failed\r\n" +
	"Status: 5.1.1\r\n" +
	"Remote-MTA: dns; mx.example.org\r\n" +
	"Diagnostic-Code: smtp; 550 5.1.1 <bob@example.org>: Recipient address\r\n" +
	"    rejected: User unknown in local recipient table\r\n" +
	"\r\n" +
	"Final-Recipient: rfc822; carol@example.org\r\n" +
	"Action: delayed\r\n" +
	"Status: 4.7.1\r\n" +
	"Diagnostic-Code: smtp; 451 4.7.1 Greylisted, see http://postgrey.schweikert.ch/help/example.org.html\r\n" +
	"\r\n" +
	"--B1\r\n" +
	"Content-Type: message/rfc822\r\n" +
	"\r\n" +
	"Subject: Reset your password\r\n\r\nhi\r\n" +
	"--B1--\r\n"

func TestParseBounce(t *testing.T) {
	got, err := ParseBounce(strings.NewReader(bounce))
	if err != nil {
		t.Fatal(err)
	}
	want := []Pasted{
		{Code: 550, Enhanced: "5.1.1", Text: "<bob@example.org>: Recipient address rejected: User unknown in local recipient table", Source: "bounce", Recipient: "bob@example.org", Action: "failed", RemoteMTA: "mx.example.org"},
		{Code: 451, Enhanced: "4.7.1", Text: "Greylisted, see http://postgrey.schweikert.ch/help/example.org.html", Source: "bounce", Recipient: "carol@example.org", Action: "delayed"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d recipients: %+v", len(got), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("recipient %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if _, err := ParseBounce(strings.NewReader("Subject: hi\r\n\r\nnot a bounce\r\n")); err != ErrNotABounce {
		t.Errorf("plain message: %v", err)
	}
}

func FuzzParsePaste(f *testing.F) {
	for _, s := range []string{"550 5.1.1 x", "Diagnostic-Code: smtp; 550 x", "status=bounced (host h said: 550 x (in reply to RCPT TO command))", "SMTP error from remote mail server after RCPT TO:<a@b>: 550 x", "Status: 5.1.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range ParsePaste(s) {
			if p.Code != 0 && (p.Code < 200 || p.Code > 559) {
				t.Fatalf("code %d from %q", p.Code, s)
			}
			if p.Code == 0 && p.Enhanced == "" && p.Text == "" {
				t.Fatalf("empty reply from %q", s)
			}
		}
	})
}

func FuzzParseBounce(f *testing.F) {
	f.Add([]byte(bounce))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseBounce(strings.NewReader(string(b)))
	})
}
