package smtpprobe

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/smtpclient"
)

// smugglingRefs are the references of every smuggling finding.
var smugglingRefs = []string{"RFC 5321 §4.1.1.4", "RFC 5321 §2.3.8", "CVE-2023-51764", "CVE-2023-51765", "CVE-2023-51766",
	"https://sec-consult.com/blog/detail/smtp-smuggling-spoofing-e-mails-worldwide/", "https://www.postfix.org/smtp-smuggling.html"}

const smugglingFix = "Accept only <CR><LF>.<CR><LF> as the end of a message. " +
	"Postfix: smtpd_forbid_bare_newline = yes (normalize; 3.5.23, 3.6.13, 3.7.9, 3.8.4 and later, the default from 3.9), " +
	"or on older versions smtpd_data_restrictions = reject_unauth_pipelining, which refuses the smuggled commands. " +
	"Exim: upgrade to 4.97.1 or later (CVE-2023-51766); until then, chunking_advertise_hosts = (empty) is the published workaround. " +
	"Sendmail: upgrade to 8.18.1 or later, which accepts only <CR><LF>.<CR><LF> unless srv_features 'O' relaxes it (CVE-2023-51765); " +
	"patched 8.17 builds need srv_features 'o'. " +
	"Other servers and gateways: reject bare <CR> and bare <LF> (RFC 5321 §2.3.8)."

func init() {
	report.Register(
		report.Code{Code: "smtp.smuggling.vulnerable", Severity: report.Fail, Title: "SMTP smuggling: the server accepts a message smuggled inside another",
			Fix: smugglingFix, Refs: smugglingRefs},
		report.Code{Code: "smtp.smuggling.early-end", Severity: report.Warn, Title: "SMTP smuggling: the server ends DATA at a look-alike of <CR><LF>.<CR><LF>",
			Fix: "The server ended the message early and took the rest as commands, but refused the smuggled message; close the hole itself. " + smugglingFix, Refs: smugglingRefs},
		report.Code{Code: "smtp.smuggling.safe", Severity: report.Pass, Title: "No end-of-data look-alike ended a message"},
		report.Code{Code: "smtp.smuggling.untested", Severity: report.Warn, Title: "SMTP smuggling could not be tested",
			Fix:  "See the detail: the probe needs a sender and a recipient (--to) the server accepts, and DATA; give --from (and --user for a submission port) so that it can send its test messages.",
			Refs: []string{"RFC 5321 §4.1.1.4"}},
	)
}

// smugglingVariants are the end-of-data look-alikes of the SMTP smuggling
// research (SEC Consult, December 2023) and its follow-ups: each is a
// "." line with a line ending other than <CR><LF> on one side or both.
var smugglingVariants = []struct{ name, seq string }{
	{"<LF>.<LF>", "\n.\n"},
	{"<LF>.<CR><LF>", "\n.\r\n"},
	{"<CR><LF>.<LF>", "\r\n.\n"},
	{"<CR>.<CR>", "\r.\r"},
	{"<CR>.<CR><LF>", "\r.\r\n"},
	{"<CR><LF>.<CR>", "\r\n.\r"},
	{"<CR>.<LF>", "\r.\n"},
	{"<LF>.<CR>", "\n.\r"},
}

// smugglingDeadline bounds one variant: connect, greeting, EHLO, TLS,
// AUTH, the transaction and every reply.
const smugglingDeadline = 20 * time.Second

// smuggleResult is what one variant got back.
type smuggleResult struct {
	name    string
	replies []smtpclient.Reply // every reply after the message, before QUIT's
	err     error              // the variant could not be run
	why     string             // why it could not be run, for the finding
}

// probeSmuggling is --probe-smuggling: for each look-alike, on its own
// connection set up like the checked one (TLS, AUTH), a message to
// RcptTo[0] whose body ends with the look-alike, followed by a second,
// smuggled transaction to the same recipient, the real end of data and
// QUIT. A server that ends DATA only at <CR><LF>.<CR><LF> answers once
// (one message holding the smuggled text) and then 221; one that ends
// it at the look-alike answers the smuggled MAIL, RCPT and DATA too.
// Reading up to QUIT's 221 makes the verdict independent of timing.
func (c *checker) probeSmuggling(ctx context.Context) {
	r := c.r
	st := r.begin("smuggling")
	if len(c.o.RcptTo) == 0 {
		st.End(report.StatusSkipped, "no --to recipient")
		r.rep.Add(report.New("smtp.smuggling.untested", "smuggling", "--probe-smuggling needs a recipient (--to) that the server accepts: it delivers its test messages there."))
		return
	}
	to, from := c.o.RcptTo[0], c.o.MailFrom
	token := strconv.FormatInt(r.now().UnixNano(), 36)
	var results []smuggleResult
	for i, v := range smugglingVariants {
		res := c.smuggleOne(ctx, i+1, v.name, v.seq, from, to, token)
		results = append(results, res)
		if f, ok := netx.Interrupted("smuggling", res.err); ok {
			st.End(report.StatusInterrupted, "interrupted")
			r.rep.Add(f)
			return
		}
	}
	software := strings.ToLower(softwareRe.FindString(c.bannerText()))
	var vulnerable, early, safe, untested []string
	type variantFact struct {
		Variant string `json:"variant"`
		Replies []int  `json:"replies"`
		Verdict string `json:"verdict"`
	}
	facts := []variantFact{}
	defer func() {
		r.rep.SetFact("smuggling", map[string]any{"recipient": to, "token": token, "variants": facts})
	}()
	incomplete := false
	for _, res := range results {
		fact := variantFact{Variant: res.name, Replies: []int{}}
		for _, rp := range res.replies {
			fact.Replies = append(fact.Replies, rp.Code)
		}
		switch {
		case res.err != nil || res.why != "":
			untested = append(untested, res.name)
			fact.Verdict = "untested"
			why := res.why
			if res.err != nil {
				why = unwrap(res.err).Error()
				incomplete = true
			}
			r.rep.Add(report.Newf("smtp.smuggling.untested", "smuggling", "The look-alike %s could not be tested: %s.", res.name, why))
		case len(res.replies) <= 1:
			safe = append(safe, res.name)
			fact.Verdict = "safe"
		default:
			f := report.Newf("smtp.smuggling.early-end", "smuggling", "The server ended the message at %s and answered the smuggled commands (%s), but refused the smuggled message.", res.name, shortReplies(res.replies))
			if smuggledAccepted(res.replies[1:]) {
				vulnerable = append(vulnerable, res.name)
				fact.Verdict = "vulnerable"
				f = report.Newf("smtp.smuggling.vulnerable", "smuggling", "The server ended the message at %s and accepted the smuggled second message: %d replies to one DATA (%s). Two messages were delivered to %s; an attacker relaying through a server that passes %s on unchanged can deliver forged mail this way.", res.name, len(res.replies), shortReplies(res.replies), to, res.name)
				if fix := smugglingFixFor(software); fix != "" {
					f = f.WithFix(fix)
				}
			} else {
				early = append(early, res.name)
				fact.Verdict = "early-end"
				if fix := smugglingFixFor(software); fix != "" {
					f = f.WithFix("The server ended the message early and took the rest as commands, but refused the smuggled message; close the hole itself. " + fix)
				}
			}
			for _, rp := range res.replies[:min(len(res.replies), 6)] {
				f = f.With("reply", rp.String(), rp.Seq...)
			}
			r.rep.Add(f)
		}
		facts = append(facts, fact)
	}
	n := len(results)
	summary := fmt.Sprintf("%d look-alikes: %d ended the message", n, len(vulnerable)+len(early))
	if len(vulnerable)+len(early) > 0 {
		summary += " (" + strings.Join(append(append([]string{}, vulnerable...), early...), ", ") + ")"
	}
	if len(untested) > 0 {
		summary += fmt.Sprintf(", %d not tested", len(untested))
	}
	switch {
	case incomplete && len(vulnerable)+len(early) == 0:
		st.End(report.StatusError, "%s", summary)
	case len(vulnerable) > 0:
		st.End(report.StatusFail, "%s", summary)
	case len(early) > 0 || len(untested) > 0:
		st.End(report.StatusInfo, "%s", summary)
	default:
		st.End(report.StatusOK, "%s", summary)
	}
	if len(safe) == n {
		r.rep.Add(report.Newf("smtp.smuggling.safe", "smuggling", "None of the %d end-of-data look-alikes (%s) ended the message: each test went to %s as one message.", n, strings.Join(safe, ", "), to))
	}
}

// smuggledAccepted reports a 354 followed by a 250 among the replies
// after the first message's: the smuggled DATA was taken and its message
// queued.
func smuggledAccepted(rest []smtpclient.Reply) bool {
	data := false
	for _, rp := range rest {
		switch {
		case rp.Code == 354:
			data = true
		case data && rp.Code == 250:
			return true
		}
	}
	return false
}

func shortReplies(rps []smtpclient.Reply) string {
	var parts []string
	for _, rp := range rps {
		parts = append(parts, strconv.Itoa(rp.Code))
	}
	return strings.Join(parts, ", ")
}

// smuggleOne runs variant n on a connection of its own.
func (c *checker) smuggleOne(ctx context.Context, n int, name, seq, from, to, token string) smuggleResult {
	res := smuggleResult{name: name}
	t := c.o.Timeouts.WithDefaults()
	d := min(smugglingDeadline, t.Data)
	vctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	c.r.rec.Event("smuggling probe %d: %s, on a new connection", n, name)
	s, why, err := c.reconnect(vctx)
	if err != nil || why != "" {
		res.err, res.why = err, why
		return res
	}
	defer s.Close()
	for _, cmd := range []struct{ line, want string }{
		{"MAIL FROM:<" + from + ">", "250"}, {"RCPT TO:<" + to + ">", "25"}, {"DATA", "354"},
	} {
		rp, err := s.Cmd(vctx, cmd.line)
		if err != nil {
			res.err = err
			return res
		}
		if !strings.HasPrefix(strconv.Itoa(rp.Code), cmd.want) {
			res.why = fmt.Sprintf("%s answered %s", strings.SplitN(cmd.line, ":", 2)[0], rp.Short())
			_, _ = s.Quit(vctx)
			return res
		}
	}
	id := fmt.Sprintf("%s-%d", token, n)
	msg := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nDate: %s\r\nMessage-ID: <%s@mailprobe.invalid>\r\nSubject: mailprobe smuggling probe %d: %s\r\nX-Mailprobe-Smuggling: %s\r\n\r\n"+
		"mailprobe tests whether this server ends a message at %s (SMTP smuggling).\r\nThe next line ends with that sequence, then a second transaction follows.",
		from, to, c.r.now().Format(time.RFC1123Z), id, n, name, id, name)
	smuggled := fmt.Sprintf("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\nFrom: <%s>\r\nTo: <%s>\r\nSubject: mailprobe smuggling probe %d: smuggled after %s\r\nX-Mailprobe-Smuggling: %s-smuggled\r\n\r\n"+
		"If this arrived as a message of its own, the server ended the previous one at %s.\r\n.\r\n",
		from, to, from, to, n, name, id, name)
	if err := s.SendRaw(vctx, []byte(msg+seq+smuggled+"QUIT\r\n")); err != nil {
		res.err = err
		return res
	}
	for len(res.replies) < 16 {
		rp, err := s.ReadReply(vctx, 0)
		if err != nil {
			if len(res.replies) == 0 {
				res.err = err
			}
			break
		}
		if rp.Code == 221 {
			break
		}
		res.replies = append(res.replies, rp)
	}
	return res
}

// reconnect opens a session to the checked address set up as the
// checked one was: implicit TLS or STARTTLS, and AUTH when the check
// authenticated. why is the server's refusal, err a failure to talk.
func (c *checker) reconnect(ctx context.Context) (*smtpclient.Session, string, error) {
	o := c.o
	t := o.Timeouts.WithDefaults()
	dopts := smtpclient.DialOptions{Dial: o.Dial, Timeouts: o.Timeouts}
	if o.ImplicitTLS {
		dopts.ImplicitTLS = c.tlsConfig()
	}
	s, err := smtpclient.Dial(ctx, c.s.RemoteAddr().String(), c.r.rec, dopts)
	if err != nil {
		return nil, "", err
	}
	fail := func(why string, err error) (*smtpclient.Session, string, error) {
		s.Close()
		return nil, why, err
	}
	rp, err := s.ReadReply(ctx, t.Banner)
	if err != nil {
		return fail("", err)
	}
	if rp.Code != 220 {
		return fail("the greeting was "+rp.Short(), nil)
	}
	ehlo := func() (smtpclient.Capabilities, string, error) {
		rp, err := s.Cmd(ctx, "EHLO "+o.Helo)
		if err != nil {
			return smtpclient.Capabilities{}, "", err
		}
		if rp.Code != 250 {
			return smtpclient.Capabilities{}, "EHLO answered " + rp.Short(), nil
		}
		return smtpclient.ParseEHLO(rp), "", nil
	}
	caps, why, err := ehlo()
	if err != nil || why != "" {
		return fail(why, err)
	}
	if !o.ImplicitTLS && c.s.TLS() != nil {
		rp, err := s.Cmd(ctx, "STARTTLS")
		if err != nil {
			return fail("", err)
		}
		if rp.Code != 220 {
			return fail("STARTTLS answered "+rp.Short(), nil)
		}
		if _, err := s.StartTLS(ctx, c.tlsConfig()); err != nil {
			return fail("", err)
		}
		if caps, why, err = ehlo(); err != nil || why != "" {
			return fail(why, err)
		}
	}
	if c.authed {
		mech := strings.ToUpper(o.AuthMech)
		if mech == "" {
			for _, m := range preferredMechs {
				if contains(caps.AuthMechanisms(), m) {
					mech = m
					break
				}
			}
		}
		rp, err := s.Auth(ctx, mech, o.User, o.Password)
		if err != nil {
			return fail("", err)
		}
		if rp.Code != 235 {
			return fail("AUTH answered "+rp.Short(), nil)
		}
	}
	return s, "", nil
}

// smugglingFixFor narrows the fix to the software the greeting names; ""
// keeps the registered fix, which names them all.
func smugglingFixFor(software string) string {
	switch software {
	case "postfix":
		return "Postfix: smtpd_forbid_bare_newline = yes (normalize; Postfix 3.5.23, 3.6.13, 3.7.9, 3.8.4 and later, the default from 3.9; check with postconf -d smtpd_forbid_bare_newline, and that smtpd_forbid_bare_newline_exclusions, $mynetworks by default, lists only trusted hosts). On older versions: smtpd_data_restrictions = reject_unauth_pipelining. See https://www.postfix.org/smtp-smuggling.html (CVE-2023-51764)."
	case "exim":
		return "Exim: upgrade to 4.97.1 or later (CVE-2023-51766); until then, chunking_advertise_hosts = (empty) is the published workaround."
	case "sendmail":
		return "Sendmail: upgrade to 8.18.1 or later, which accepts only <CR><LF>.<CR><LF> unless srv_features 'O' (or 'U'/'G' for bare CR/LF) relaxes it; patched 8.17 builds need srv_features 'o' (CVE-2023-51765)."
	}
	return ""
}
