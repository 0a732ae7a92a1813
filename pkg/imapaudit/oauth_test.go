package imapaudit

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"

	"github.com/mailprobe/mailprobe/internal/testserver"
)

const oauthErrJSON = `{"status":"401","schemes":"bearer","scope":"https://mail.test.example/"}`

// checkOAuth reads an initial response as the server would: OAUTHBEARER
// through go-sasl's server, XOAUTH2 by its user=/auth=Bearer fields.
func checkOAuth(mech, ir, want string) bool {
	b, err := base64.StdEncoding.DecodeString(ir)
	if err != nil {
		return false
	}
	if strings.EqualFold(mech, "OAUTHBEARER") {
		ok := false
		srv := sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
			ok = o.Token == want && o.Username == "alice@test.example"
			return nil
		})
		_, _, _ = srv.Next(b)
		return ok
	}
	return string(b) == "user=alice@test.example\x01auth=Bearer "+want+"\x01\x01"
}

// authenticate is fakeIMAP's AUTHENTICATE: a token other than
// f.oauthToken gets the JSON error as a challenge, then NO.
func (f *fakeIMAP) authenticate(c *testserver.Conn, tag, rest string) {
	parts := strings.Fields(rest) // AUTHENTICATE MECH [IR]
	mech, ir := "", ""
	if len(parts) > 1 {
		mech = parts[1]
	}
	if len(parts) > 2 {
		ir = parts[2]
	} else {
		c.Send("+ ")
		ir, _ = c.Line()
	}
	f.authLines = append(f.authLines, mech)
	if checkOAuth(mech, ir, f.oauthToken) {
		c.Send(tag + " OK [CAPABILITY IMAP4rev1] Logged in")
		return
	}
	c.Send("+ " + base64.StdEncoding.EncodeToString([]byte(oauthErrJSON)))
	_, _ = c.Line()
	c.Send(tag + " NO [AUTHENTICATIONFAILED] Authentication failed.")
}

// auth is fakePOP3's AUTH with an initial response (RFC 5034).
func (f *fakePOP3) auth(c *testserver.Conn, line string) {
	parts := strings.Fields(line)
	if len(parts) != 3 {
		c.Send("-ERR want an initial response")
		return
	}
	if checkOAuth(parts[1], parts[2], f.oauthToken) {
		c.Send("+OK Logged in.")
		return
	}
	c.Send("+ " + base64.StdEncoding.EncodeToString([]byte(oauthErrJSON)))
	_, _ = c.Line()
	c.Send("-ERR [AUTH] Authentication failed.")
}

// The login test with an OAuth 2.0 token: AUTHENTICATE OAUTHBEARER
// (advertised, with SASL-IR) or XOAUTH2 (without SASL-IR: the initial
// response after "+"); a refused token's JSON error is decoded and
// explained; the token never reaches the transcript.
func TestIMAP_oauthLogin(t *testing.T) {
	cert := testserver.NewCert(t, testserver.CertOptions{})
	for _, tc := range []struct {
		caps, token, mech, want string
	}{
		{"IMAP4rev1 SASL-IR AUTH=OAUTHBEARER AUTH=XOAUTH2", "ya29.good", "", "imap.login.ok"},
		{"IMAP4rev1 AUTH=XOAUTH2", "ya29.good", "", "imap.login.ok"},
		{"IMAP4rev1 SASL-IR AUTH=OAUTHBEARER", "ya29.expired", "", "imap.login.failed"},
		{"IMAP4rev1 SASL-IR AUTH=OAUTHBEARER", "ya29.good", "XOAUTH2", "imap.login.ok"},
	} {
		f := &fakeIMAP{greeting: "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready", caps: "IMAP4rev1 STARTTLS LOGINDISABLED", capsTLS: tc.caps, cert: &cert, oauthToken: "ya29.good"}
		r := audit(t, IMAP, testserver.Start(t, f.handler), func(o *Options) {
			o.RootCAs = cert.Pool
			o.User, o.Password, o.OAuth, o.OAuthMech = "alice@test.example", tc.token, true, tc.mech
		})
		requireCodes(t, r, tc.want)
		if tc.want == "imap.login.failed" {
			if d := codes(r)["imap.login.failed"].Detail; !strings.Contains(d, "expired") || !strings.Contains(d, "https://mail.test.example/") {
				t.Errorf("detail %q", d)
			}
		}
		for _, e := range r.Transcript {
			if strings.Contains(e.Line, tc.token) || strings.Contains(e.Line, base64.StdEncoding.EncodeToString([]byte(tc.token))[:8]) {
				t.Fatalf("token in the transcript: %q", e.Line)
			}
		}
	}
}

func TestPOP3_oauthLogin(t *testing.T) {
	cert := testserver.NewCert(t, testserver.CertOptions{})
	for token, want := range map[string]string{"ya29.good": "pop3.login.ok", "ya29.bad": "pop3.login.failed"} {
		f := &fakePOP3{greeting: "+OK ready.", cert: &cert, capa: []string{"STLS", "SASL"}, capaTLS: []string{"SASL XOAUTH2 OAUTHBEARER"},
			userReply: "-ERR [AUTH] Plaintext authentication disallowed", oauthToken: "ya29.good"}
		r := audit(t, POP3, testserver.Start(t, f.handler), func(o *Options) {
			o.RootCAs = cert.Pool
			o.User, o.Password, o.OAuth = "alice@test.example", token, true
		})
		requireCodes(t, r, want)
		if want == "pop3.login.failed" && !strings.Contains(codes(r)[want].Detail, "expired") {
			t.Errorf("detail %q", codes(r)[want].Detail)
		}
	}
}
