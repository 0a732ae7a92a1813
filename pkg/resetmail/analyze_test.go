package resetmail

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/pkg/report"
)

func codes(fs []report.Finding) map[string]report.Severity {
	m := map[string]report.Severity{}
	for _, f := range fs {
		m[f.Code] = f.Severity
	}
	return m
}

func fixedNow() time.Time { return time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) }

func TestAnalyze_composedDefaultPassesEveryPractice(t *testing.T) {
	for _, code := range []bool{false, true} {
		msg, err := Compose(ComposeOptions{From: "App <no-reply@app.example>", To: "u@example.org", Code: code, Now: fixedNow})
		if err != nil {
			t.Fatal(err)
		}
		a := Analyze(msg.Data)
		if !a.HasText || !a.HasHTML || !a.ExpiryStated || a.Password {
			t.Errorf("code=%v: %+v", code, a)
		}
		if code {
			if a.Code != msg.Code {
				t.Errorf("code found %q, sent %q", a.Code, msg.Code)
			}
		} else if a.ResetLink != msg.Link || a.Token != msg.Token || a.TokenBits < 250 {
			t.Errorf("link %q token %q bits %v; sent %q", a.ResetLink, a.Token, a.TokenBits, msg.Link)
		}
		got := codes(a.Findings("compose"))
		for c, sev := range got {
			if sev >= report.Warn {
				t.Errorf("code=%v: default email has %s (%v)", code, c, sev)
			}
		}
	}
}

func TestAnalyze_badPractices(t *testing.T) {
	cases := []struct {
		name string
		body string
		want map[string]report.Severity
	}{
		{"http link, short token, no expiry", "Content-Type: text/plain\r\n\r\nReset: http://app.example/reset/abcdef0123456789\r\n",
			map[string]report.Severity{"reset.link.insecure": report.Fail, "reset.token.weak": report.Warn, "reset.expiry.missing": report.Warn, "reset.dkim.unsigned": report.Info}},
		{"guessable token", "Content-Type: text/plain\r\n\r\nhttps://app.example/reset?token=12345678901234567 expires in 1 hour\r\n",
			map[string]report.Severity{"reset.token.weak": report.Fail}},
		{"password in body", "Content-Type: text/plain\r\n\r\nYour new password is: Summer2026!\r\nIt expires in 1 day.\r\n",
			map[string]report.Severity{"reset.password.in-body": report.Fail, "reset.link.missing": report.Fail}},
		{"html only", "Content-Type: text/html\r\n\r\n<a href=\"https://app.example/r?t=Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eA\">reset</a> expires soon",
			map[string]report.Severity{"reset.text.missing": report.Warn, "reset.link.https": report.Pass}},
		{"unaligned DKIM", "DKIM-Signature: v=1; a=rsa-sha256; d=esp.example; s=s1; h=from; bh=x; b=y\r\nContent-Type: text/plain\r\n\r\nCode: 7KQ2M9XP, expires in 10 minutes\r\n",
			map[string]report.Severity{"reset.dkim.unaligned": report.Warn, "reset.code.found": report.Info}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := "From: App <no-reply@app.example>\r\nTo: u@example.org\r\nSubject: Reset\r\n" + tc.body
			got := codes(Analyze([]byte(raw)).Findings("capture"))
			for c, sev := range tc.want {
				if g, ok := got[c]; !ok || g != sev {
					t.Errorf("%s: got %v (present %v), want %v; all: %v", c, g, ok, sev, got)
				}
			}
		})
	}
}

func TestAnalyze_notAPasswordSentence(t *testing.T) {
	for _, body := range []string{
		"If you did not ask, ignore this: your password will not change. Link expires in 1 hour.",
		"Click the link below to reset your password:\r\nhttps://app.example/reset?token=abc\r\nIt expires in 1 hour.",
		"To reset your password: https://app.example/r/abcdefabcdefabcdef",
		"Your password has been changed.",
	} {
		if Analyze([]byte("Content-Type: text/plain\r\n\r\n" + body + "\r\n")).Password {
			t.Errorf("%q taken for a password", body)
		}
	}
	for _, body := range []string{"Your new password is: Summer2026!", "Temporary password = hunter22", "your password is Xy7#kk92"} {
		if !Analyze([]byte("Content-Type: text/plain\r\n\r\n" + body + "\r\n")).Password {
			t.Errorf("%q not taken for a password", body)
		}
	}
}

func TestTokenIntact_survivesSoftLineBreaks(t *testing.T) {
	msg, err := Compose(ComposeOptions{From: "a@app.example", To: "u@example.org", Now: fixedNow,
		LinkBase: "https://app.example/a/very/long/path/that/pushes/the/token/past/seventy-six/columns/reset?token="})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(msg.Data, []byte("=\r\n")) {
		t.Fatal("test needs a soft line break in the encoded link")
	}
	if ok, where := tokenIntact(msg.Data, msg.Token); !ok || where != "text part and HTML part" {
		t.Errorf("tokenIntact = %v, %q", ok, where)
	}
	// A broken re-encoder that drops the "=" of soft line breaks.
	mangled := bytes.ReplaceAll(msg.Data, []byte("=\r\n"), []byte("\r\n"))
	if ok, _ := tokenIntact(mangled, msg.Token); ok {
		t.Error("a broken soft line break still counts as intact")
	}
}

func TestReceivedAnalysis_linkTracker(t *testing.T) {
	msg, err := Compose(ComposeOptions{From: "a@app.example", To: "u@example.org", Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if fs := receivedAnalysis(msg.Data, msg); len(fs) != 0 {
		t.Errorf("unchanged message: %v", fs)
	}
	tracked := strings.ReplaceAll(string(msg.Data), "https://app.example/reset?token=", "https://click.tracker.example/ls/click?upn=")
	fs := receivedAnalysis([]byte(tracked), msg)
	if len(fs) != 1 || fs[0].Code != "reset.link.rewritten" || !strings.Contains(fs[0].Detail, "click.tracker.example") {
		t.Errorf("tracked message: %+v", fs)
	}
}

func TestReadAuthVerdict(t *testing.T) {
	raw := "Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=app.example;\r\n dkim=fail header.d=app.example; dmarc=fail header.from=app.example\r\n" +
		"Authentication-Results: relay.example; spf=fail smtp.mailfrom=evil.example\r\n" +
		"X-Spam-Status: No, score=-0.1\r\nSubject: x\r\n\r\nbody"
	v := ReadAuthVerdict([]byte(raw))
	if v.AuthServID != "mx.example.org" || v.SPF != "pass" || v.DKIM != "fail" || v.DMARC != "fail" || v.Spam["X-Spam-Status"] == "" {
		t.Errorf("%+v", v)
	}
	// A forged pass further down must not mask the receiver's fail.
	forged := "Authentication-Results: mx.example.org; dkim=fail header.d=app.example\r\n" +
		"Authentication-Results: mx.example.org.evil; dkim=pass header.d=app.example; spf=pass smtp.mailfrom=app.example\r\n\r\nbody"
	if v := ReadAuthVerdict([]byte(forged)); v.DKIM != "fail" || v.SPF != "" {
		t.Errorf("forged lower header used: %+v", v)
	}
}

func FuzzAnalyze(f *testing.F) {
	msg, _ := Compose(ComposeOptions{From: "a@app.example", To: "u@example.org", Now: fixedNow})
	f.Add(msg.Data)
	f.Add([]byte("Content-Type: multipart/alternative; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhttps://a.example/?t=AAAAAAAAAAAAAAAAAAAAAA\r\n--x--\r\n"))
	f.Add([]byte("Subject: =?utf-8?q?=E2=80?=\r\nFrom: <>\r\n\r\ncode: 123456"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		a := Analyze(raw)
		_ = a.Findings("fuzz")
		if a.Token != "" && !strings.Contains(a.ResetLink, a.Token) {
			t.Errorf("token %q not in link %q", a.Token, a.ResetLink)
		}
	})
}
