package resetmail

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// oauthIMAP is an IMAP server that takes AUTHENTICATE OAUTHBEARER (read
// by go-sasl's server) with SASL-IR, and answers a wrong token with the
// JSON error challenge, then NO (RFC 7628 §3.2.2).
func oauthIMAP(good string) testserver.Handler {
	return func(c *testserver.Conn) {
		c.Send("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=OAUTHBEARER AUTH=XOAUTH2 IDLE] ready")
		for {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, err := c.Line()
			if err != nil {
				return
			}
			f := strings.Fields(line)
			if len(f) < 2 {
				return
			}
			tag := f[0]
			switch strings.ToUpper(f[1]) {
			case "AUTHENTICATE":
				ok := false
				if len(f) == 4 && f[2] == "OAUTHBEARER" {
					b, _ := base64.StdEncoding.DecodeString(f[3])
					srv := sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
						ok = o.Token == good && o.Username == "bob@test.example"
						return nil
					})
					_, _, _ = srv.Next(b)
				}
				if ok {
					c.Send(tag + " OK [CAPABILITY IMAP4rev1 IDLE] Logged in")
					continue
				}
				c.Send("+ " + base64.StdEncoding.EncodeToString([]byte(`{"status":"400","schemes":"bearer"}`)))
				_, _ = c.Line()
				c.Send(tag + " NO [AUTHENTICATIONFAILED] Authentication failed.")
			case "LOGOUT":
				c.Send("* BYE", tag+" OK bye")
				return
			default:
				c.Send(tag + " BAD unknown")
			}
		}
	}
}

// reset send --imap with an OAuth token: AUTHENTICATE OAUTHBEARER (the
// server advertises it), accepted with the right token; a wrong one is
// an error that explains the server's JSON; the token is never recorded.
func TestMailbox_loginOAuth(t *testing.T) {
	addr := testserver.Start(t, oauthIMAP("ya29.mailbox-token"))
	host, port, _ := netx.SplitHostPort(addr, 0)
	for token, wantErr := range map[string]bool{"ya29.mailbox-token": false, "ya29.wrong-token": true} {
		rec := transcript.New(nil)
		mb, err := DialMailbox(context.Background(), IMAPOptions{Host: host, Port: port, TLS: "none", AllowPlaintextAuth: true}, rec)
		if err != nil {
			t.Fatal(err)
		}
		err = mb.LoginOAuth(context.Background(), "bob@test.example", token, "", host, 5*time.Second)
		mb.Close()
		if (err != nil) != wantErr {
			t.Fatalf("%s: %v", token, err)
		}
		if wantErr && !strings.Contains(err.Error(), "invalid_request") {
			t.Fatalf("error not explained: %v", err)
		}
		for _, e := range rec.Entries() {
			if strings.Contains(e.Line, token) {
				t.Fatalf("token recorded: %q", e.Line)
			}
		}
	}
}
