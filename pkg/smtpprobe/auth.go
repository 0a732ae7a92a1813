package smtpprobe

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/smtpclient"
)

// checkSize judges the SIZE extension (RFC 1870).
func (c *checker) checkSize() {
	limit, ok := c.caps.Size()
	switch {
	case !ok:
		c.r.rep.Add(report.Newf("smtp.size.missing", "ehlo", "%s does not advertise SIZE; a client learns the size limit only when DATA fails.", c.o.Host))
	case limit > 0 && limit < 10*1000*1000:
		c.r.rep.Add(report.Newf("smtp.size.small", "ehlo", "SIZE %d: messages over %.1f MB are refused.", limit, float64(limit)/1e6))
	}
	if ok {
		c.r.rep.SetFact("size_limit", limit)
	}
}

// preferredMechs is the order in which mechanisms are chosen when the user
// does not name one: over TLS, PLAIN is the simplest and most widely
// implemented; CRAM-MD5 needs the server to store plaintext passwords and
// is deprecated (RFC 8314 §5.1 leaves it no role over TLS), so it comes last.
var preferredMechs = []string{"PLAIN", "LOGIN", "CRAM-MD5"}

// auth runs the AUTH stage. It returns false when the session is unusable.
func (c *checker) auth(ctx context.Context, secure, trusted bool) bool {
	o, r := c.o, c.r
	mechs := c.caps.AuthMechanisms()
	if secure {
		r.rep.SetFact("auth_mechanisms_tls", mechs)
	}
	if secure && len(mechs) == 0 && o.Role != RoleMX {
		r.rep.Add(report.Newf("smtp.auth.not-offered", "auth", "%s does not offer AUTH after TLS; a mail client cannot log in to send.", c.o.Host))
	}
	if o.User == "" {
		r.skip("auth", "no credentials given (--user)")
		return true
	}
	switch {
	case !secure && !o.AllowPlaintextAuth:
		r.skip("auth", "refused: the connection is not encrypted")
		r.rep.Add(report.Newf("smtp.auth.not-attempted", "auth", "The connection to %s is not encrypted, so the password was not sent.", o.Host))
		return true
	case secure && !trusted:
		r.skip("auth", "refused: the certificate is not trusted")
		r.rep.Add(report.Newf("smtp.auth.not-attempted", "auth", "The certificate of %s is not trusted, so the password was not sent: anyone in the middle could read it.", o.Host))
		return true
	case len(mechs) == 0:
		r.skip("auth", "AUTH not offered")
		if o.Role == RoleMX {
			r.rep.Add(report.Newf("smtp.auth.not-offered", "auth", "%s does not offer AUTH: port 25 is for server-to-server mail; use the submission port (587 or 465) to log in.", o.Host))
		}
		return true
	}
	mech := strings.ToUpper(o.AuthMech)
	if mech == "" && o.Client.OAuth {
		mech = c.oauthMech(mechs)
	}
	if mech == "" {
		for _, m := range preferredMechs {
			if contains(mechs, m) {
				mech = m
				break
			}
		}
		if mech == "" {
			r.skip("auth", "no supported mechanism offered: "+strings.Join(mechs, " "))
			return true
		}
	}
	st := r.begin("auth")
	rp, err := c.s.Auth(ctx, mech, o.User, o.Password)
	c.oauthFinding()
	var unfinished *smtpclient.AuthUnfinishedError
	if errors.As(err, &unfinished) {
		// Neither accepted nor refused: the verdict on the credentials
		// is unknown, so the stage could not be run.
		st.End(report.StatusError, "%s: the server kept asking after the last step", mech)
		f := report.Newf("smtp.auth.unfinished", "auth", "AUTH %s: after the last step of the exchange the server sent another challenge (%s), so the credentials were neither accepted nor refused; mailprobe cancelled the exchange with \"*\" (RFC 4954 §4).", mech, unfinished.Challenge.Short()).
			With("reply", unfinished.Challenge.Excerpt(12), unfinished.Challenge.Seq...)
		if unfinished.Cancel.Code != 0 {
			f = f.With("reply", unfinished.Cancel.Excerpt(12), unfinished.Cancel.Seq...)
		}
		r.rep.Add(f)
		if !unfinished.Usable {
			c.skipRest("auth", "the AUTH exchange could not be cancelled")
			return false
		}
		return true
	}
	if err != nil {
		if _, ok := err.(*netx.OpError); ok {
			st.failed(err)
			c.skipRest("auth", "AUTH failed")
			return false
		}
		st.End(report.StatusFail, "%v", err)
		r.rep.Add(report.Newf("smtp.auth.failed", "auth", "AUTH %s: %v.", mech, err))
		return true
	}
	if rp.Code == 235 {
		c.authed = true
		st.End(report.StatusOK, "%s as %s: %s", mech, o.User, rp.Short())
		r.rep.Add(report.Newf("smtp.auth.ok", "auth", "AUTH %s as %s accepted.", mech, o.User))
		return true
	}
	if rp.Class() == 4 {
		st.End(report.StatusError, "%s", rp.Short())
		r.rep.Add(replyFinding("smtp.reply.temporary", "auth", rp))
		return true
	}
	st.End(report.StatusFail, "%s", rp.Short())
	f := replyFinding("smtp.auth.failed", "auth", rp)
	f.Detail = fmt.Sprintf("AUTH %s as %s refused. %s", mech, o.User, f.Detail)
	if o.Client.AuthOptional {
		f = f.WithSeverity(report.Warn)
		f.Detail += " (--auth-optional: going on without authentication.)"
	}
	r.rep.Add(f)
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// vrfy probes VRFY and EXPN with postmaster, which RFC 5321 §4.5.1 requires
// to exist, so a 250 proves the command discloses addresses.
func (c *checker) vrfy(ctx context.Context) {
	r := c.r
	st := r.begin("vrfy")
	disclosed := false
	cmd := func(line string) (smtpclient.Reply, bool) {
		rp, err := c.s.Cmd(ctx, line)
		if err != nil {
			st.failed(err)
			return rp, false
		}
		return rp, true
	}
	// VRFY: 250/251 confirms an address. 252 means "cannot verify", but
	// Postfix answers 252 for existing addresses and 550 5.1.1 for others,
	// so an address that cannot exist is asked too: different answers
	// disclose which addresses exist.
	known, ok := cmd("VRFY postmaster")
	if !ok {
		return
	}
	if known.Code == 250 || known.Code == 251 {
		disclosed = true
		r.rep.Add(report.Newf("smtp.vrfy.enabled", "vrfy", "VRFY postmaster answered %s.", known.Short()).With("reply", known.String(), known.Seq...))
	} else if known.Class() == 2 {
		unknown, ok := cmd("VRFY mailprobe-no-such-user-" + strconv.FormatInt(c.r.now().UnixNano()%1e6, 36))
		if !ok {
			return
		}
		if unknown.Class() == 5 && unknown.Code != 502 {
			disclosed = true
			r.rep.Add(report.Newf("smtp.vrfy.enabled", "vrfy", "VRFY postmaster answered %s, VRFY of an address that cannot exist answered %s: the difference tells which addresses exist.", known.Short(), unknown.Short()).
				With("reply", known.String(), known.Seq...).With("reply", unknown.String(), unknown.Seq...))
		}
	}
	expn, ok := cmd("EXPN postmaster")
	if !ok {
		return
	}
	if expn.Code == 250 || expn.Code == 251 {
		disclosed = true
		r.rep.Add(report.Newf("smtp.expn.enabled", "vrfy", "EXPN postmaster answered %s.", expn.Short()).With("reply", expn.String(), expn.Seq...))
	}
	if disclosed {
		st.End(report.StatusFail, "addresses disclosed")
		return
	}
	st.End(report.StatusOK, "not disclosed")
	r.rep.Add(report.Newf("smtp.vrfy.disabled", "vrfy", "VRFY and EXPN postmaster did not confirm the address."))
}

// relayWords recognise relay refusals in reply text from Postfix, Exim,
// Sendmail and Exchange ("Relay access denied", "relay not permitted",
// "Relaying denied", "Unable to relay").
var relayWords = []string{"relay", "relaying"}

// pipelining reports whether commands may be grouped (RFC 2920).
// rcptReplies judges each RCPT reply of a transaction (RFC 5321 §4.1.1.3)
// and returns the rcpt stage's status, a summary per recipient and how
// many were accepted. In a relay test (a probe without authentication) a
// relay refusal is the expected answer, not a rejection; a recipient
// accepted there is judged by the caller (checker.judgeAccepted: local
// delivery or relaying), never here.
func (c *checker) rcptReplies(rcpts []string, replies []smtpclient.Reply, relayTest bool) (report.Status, []string, int) {
	status, accepted := report.StatusOK, 0
	var sums []string
	for i, rp := range replies {
		to := rcpts[i]
		sums = append(sums, to+": "+rp.Short())
		switch {
		case rp.Code == 250 || rp.Code == 251:
			accepted++
			c.r.rep.Add(report.Newf("smtp.rcpt.accepted", "rcpt", "RCPT TO:<%s> accepted.", to).With("reply", rp.String(), rp.Seq...))
		case relayTest && isRelayDenied(rp):
			c.r.rep.Add(report.Newf("smtp.relay.denied", "rcpt", "RCPT TO:<%s> refused without authentication: %s.", to, rp.Short()).With("reply", rp.String(), rp.Seq...))
		default:
			status = statusFor(rp)
			f := refusal("smtp.rcpt.rejected", "rcpt", rp)
			f.Detail = fmt.Sprintf("RCPT TO:<%s>: %s", to, f.Detail)
			c.r.rep.Add(f)
		}
	}
	return status, sums, accepted
}

func (c *checker) pipelining() bool {
	switch c.o.Client.Pipeline {
	case "off":
		return false
	case "force":
		return true
	}
	return c.caps.Has("PIPELINING")
}

func statusFor(rp smtpclient.Reply) report.Status {
	if rp.Class() == 4 {
		return report.StatusError
	}
	return report.StatusFail
}

func isRelayDenied(rp smtpclient.Reply) bool {
	if rp.Class() != 5 {
		return false
	}
	t := strings.ToLower(rp.Text())
	for _, w := range relayWords {
		if strings.Contains(t, w) {
			return true
		}
	}
	// 5.7.1 with no text is the generic "delivery not authorized".
	return rp.Enhanced == "5.7.1" && rp.Code == 554
}

func init() {
	report.Register(report.Code{Code: "smtp.auth.unfinished", Severity: report.Fail, Title: "Server kept asking after the last AUTH step",
		Fix: "The server sent another 334 challenge after the client had sent everything the mechanism has: its SASL setup is broken (a misconfigured authentication backend or a proxy that mangles the exchange). Check the server's log; the credentials were not judged.", Refs: []string{"RFC 4954 §4"}})
}

// progress notes the stage that begins, so that findings the session
// raises on its own (observe) name it, and passes it on.
func (c *checker) progress(stage string) {
	c.stage = stage
	if c.o.Progress != nil {
		c.o.Progress(stage)
	}
}

// observe sees every reply of the session: a reply whose lines carry
// different codes is a protocol violation whatever command it answered
// (the session acted on the last line's code).
func (c *checker) observe(verb string, rp smtpclient.Reply) {
	stage := c.stage
	switch verb {
	case "MAIL":
		stage = "mail"
	case "RCPT":
		stage = "rcpt"
	case "DATA", ".":
		if c.o.Message != nil {
			stage = "data"
		}
	}
	if f, ok := smtpclient.MismatchFinding(stage, rp); ok {
		c.r.rep.Add(f)
	}
}
