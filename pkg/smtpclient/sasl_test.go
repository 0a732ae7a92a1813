package smtpclient

import (
	"strings"
	"testing"
)

// RFC 2831 §4's example: chris/secret at elwood.innosoft.com. The
// response and rspauth are the RFC's own (a known answer, not a value
// this code computed).
func TestDigestMD5Response_rfc2831Example(t *testing.T) {
	resp, rspauth := digestMD5Response("chris", "elwood.innosoft.com", "secret", "OA6MG9tEQGm2hh", "OA6MHXh6VqTrRk", "00000001", "imap/elwood.innosoft.com")
	if resp != "d388dad90d4bbd760a152321f2143af7" {
		t.Errorf("response %s", resp)
	}
	if rspauth != "ea40f60335c427b5527b84dbabcdfffd" {
		t.Errorf("rspauth %s", rspauth)
	}
}

// The client's whole first response for the RFC's challenge, and its
// refusal of a server that sends the wrong rspauth.
func TestDigestMD5Client_steps(t *testing.T) {
	c := &digestMD5Client{user: "chris", password: "secret", service: "imap", host: "elwood.innosoft.com", cnonce: "OA6MHXh6VqTrRk"}
	out, err := c.Next([]byte(`realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",qop="auth",algorithm=md5-sess,charset=utf-8`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`username="chris"`, `realm="elwood.innosoft.com"`, `nc=00000001`, `digest-uri="imap/elwood.innosoft.com"`, `response=d388dad90d4bbd760a152321f2143af7`, `qop=auth`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("response %q lacks %s", out, want)
		}
	}
	if _, err := c.Next([]byte("rspauth=00000000000000000000000000000000")); err == nil {
		t.Fatal("a wrong rspauth was accepted")
	}
	if c.verified() == nil {
		t.Fatal("verified without rspauth")
	}
	if _, err := c.Next([]byte("rspauth=ea40f60335c427b5527b84dbabcdfffd")); err != nil || c.verified() != nil {
		t.Fatalf("right rspauth: %v", err)
	}
}

// Malformed challenges are errors, never panics.
func FuzzParseDigestChallenge(f *testing.F) {
	f.Add(`realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",qop="auth",algorithm=md5-sess,charset=utf-8`)
	f.Add(`nonce="a\"b",realm=x`)
	f.Add(`=,,="`)
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseDigestChallenge(s)
		if err == nil && len(m) > 64 {
			t.Fatal("too many fields")
		}
	})
}

func TestExplainOAuthError(t *testing.T) {
	for raw, want := range map[string]string{
		`{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`: "expired",
		`{"status":"403","scope":"https://outlook.office.com/SMTP.Send"}`:        "outlook.office.com/SMTP.Send",
		`{"status":"400"}`: "invalid_request",
	} {
		_, why, ok := ExplainOAuthError(raw)
		if !ok || !strings.Contains(why, want) {
			t.Errorf("%s → %q", raw, why)
		}
	}
	if _, _, ok := ExplainOAuthError("not json"); ok {
		t.Error("garbage explained")
	}
}
