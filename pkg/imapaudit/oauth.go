package imapaudit

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/smtpclient"
)

// OAuth 2.0 logins (XOAUTH2 and OAUTHBEARER, RFC 7628) for the login
// test: Microsoft 365 and Gmail take IMAP and POP3 logins only this way.
// The token stands where the password does (Options.Password), and is
// registered as a secret the same way; a refused token comes back as a
// base64 JSON challenge, which the login finding decodes and explains.

// oauthMech is the mechanism to use: the one asked for, else OAUTHBEARER
// when the server advertises it, else XOAUTH2.
func (a *auditor) oauthMech(offered func(string) bool) string {
	if m := strings.ToUpper(a.o.OAuthMech); m != "" {
		return m
	}
	if offered("OAUTHBEARER") {
		return "OAUTHBEARER"
	}
	return "XOAUTH2"
}

func (a *auditor) oauthIR(mech, host string, port int) string {
	enc := base64.StdEncoding.EncodeToString(smtpclient.OAuthInitialResponse(mech, a.o.User, a.o.Password, host, port))
	a.rec.AddSecret(enc)
	return enc
}

// oauthExplained is the decoded error challenge, explained ("" for none).
func oauthExplained(challenge string) string {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(challenge))
	if err != nil || len(raw) == 0 {
		return ""
	}
	if _, why, ok := smtpclient.ExplainOAuthError(string(raw)); ok {
		return " The server's OAuth error: " + why
	}
	return fmt.Sprintf(" The server's challenge: %q.", netx.Clip(string(raw)))
}

// imapOAuthLogin runs AUTHENTICATE with the token (RFC 3501 §6.2.2; the
// initial response on the command line with SASL-IR, RFC 4959).
func (a *auditor) imapOAuthLogin(ctx context.Context, c *lineConn, st *stage, caps map[string]bool) {
	t := a.o.Timeouts.WithDefaults()
	mech := a.oauthMech(func(m string) bool { return caps["AUTH="+m] })
	ir := a.oauthIR(mech, a.o.ServerName, 0)
	tag := a.tag()
	cmd := tag + " AUTHENTICATE " + mech
	if caps["SASL-IR"] {
		cmd += " " + ir
	}
	if err := c.write(ctx, t.Command, cmd+"\r\n"); err != nil {
		st.fail(err)
		return
	}
	sentIR, explained := caps["SASL-IR"], ""
	for i := 0; i < 20; i++ {
		line, err := c.readLine(ctx, t.Command)
		if err != nil {
			st.fail(err)
			return
		}
		switch {
		case strings.HasPrefix(line, "+"):
			resp := ""
			if !sentIR {
				resp, sentIR = ir, true
			} else {
				// An error challenge: answer so the server ends the exchange.
				explained = oauthExplained(strings.TrimPrefix(line, "+"))
				resp = base64.StdEncoding.EncodeToString(smtpclient.OAuthErrorResponse(mech))
			}
			if err := c.write(ctx, t.Command, resp+"\r\n"); err != nil {
				st.fail(err)
				return
			}
		case strings.HasPrefix(line, tag+" "):
			if imapStatus(line) == "OK" {
				st.end(report.StatusOK, "as %s (%s)", a.o.User, mech)
				a.add("login.ok", st.Name, "AUTHENTICATE %s as %s over %s.", mech, a.o.User, tlsSummary(c.tls))
				return
			}
			st.end(report.StatusFail, "%s", line)
			a.rep.Add(report.Newf(a.code("login.failed"), st.Name, "AUTHENTICATE %s as %s: %q.%s", mech, a.o.User, line, explained).With("reply", line))
			return
		}
	}
	st.end(report.StatusError, "AUTHENTICATE never ended")
	a.rep.Add(report.Newf(a.code("login.failed"), st.Name, "AUTHENTICATE %s as %s: the server kept sending without a tagged answer.", mech, a.o.User))
}

// pop3OAuthLogin runs AUTH with the token (RFC 5034, initial response on
// the command line).
func (a *auditor) pop3OAuthLogin(ctx context.Context, c *lineConn, st *stage) {
	t := a.o.Timeouts.WithDefaults()
	mech := a.oauthMech(func(string) bool { return false })
	if err := c.write(ctx, t.Command, "AUTH "+mech+" "+a.oauthIR(mech, a.o.ServerName, 0)+"\r\n"); err != nil {
		st.fail(err)
		return
	}
	explained := ""
	for i := 0; i < 4; i++ {
		line, err := c.readLine(ctx, t.Command)
		if err != nil {
			st.fail(err)
			return
		}
		switch {
		case strings.HasPrefix(line, "+OK"):
			st.end(report.StatusOK, "as %s (%s)", a.o.User, mech)
			a.add("login.ok", st.Name, "AUTH %s as %s over %s.", mech, a.o.User, tlsSummary(c.tls))
			return
		case strings.HasPrefix(line, "-ERR"):
			st.end(report.StatusFail, "%s", line)
			a.rep.Add(report.Newf(a.code("login.failed"), st.Name, "AUTH %s as %s: %q.%s", mech, a.o.User, line, explained).With("reply", line))
			return
		case strings.HasPrefix(line, "+"):
			explained = oauthExplained(strings.TrimPrefix(line, "+"))
			if err := c.write(ctx, t.Command, base64.StdEncoding.EncodeToString(smtpclient.OAuthErrorResponse(mech))+"\r\n"); err != nil {
				st.fail(err)
				return
			}
		}
	}
	st.end(report.StatusError, "AUTH never ended")
	a.rep.Add(report.Newf(a.code("login.failed"), st.Name, "AUTH %s as %s: no final answer.", mech, a.o.User))
}
