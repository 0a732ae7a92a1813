package smtpprobe

import (
	"context"
	"fmt"
	"strings"

	"github.com/mailprobe/mailprobe/internal/lazyre"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/smtpclient"
)

func init() {
	report.Register(
		report.Code{Code: "smtp.send.tls-untrusted", Severity: report.Fail, Title: "Message not sent: the server's certificate is not trusted",
			Fix: "Fix the certificate (see the certificate findings), trust a private CA with --ca-file, or accept the risk with --insecure.", Refs: []string{"RFC 8314 §4.1", "RFC 3207 §4.1"}},
		report.Code{Code: "smtp.send.tls-required", Severity: report.Fail, Title: "TLS required but not available",
			Fix: "The server offers no working STARTTLS; fix its TLS setup, or allow plaintext (smtp send: --tls-mode starttls; reset send: drop --require-tls).", Refs: []string{"RFC 3207", "RFC 8314"}},
		report.Code{Code: "smtp.data.rejected", Severity: report.Fail, Title: "Message rejected after DATA",
			Fix: "See the explanation: content, authentication (SPF/DKIM/DMARC) or size policy refused the message.", Refs: []string{"RFC 5321 §4.1.1.4"}},
		report.Code{Code: "smtp.data.queued", Severity: report.Pass, Title: "Message accepted for delivery"},
		report.Code{Code: "smtp.rcpt.none-accepted", Severity: report.Fail, Title: "No recipient accepted",
			Fix: "Every RCPT was refused, so no message was sent; see the recipient findings.", Refs: []string{"RFC 5321 §3.3"}},
	)
}

// queueIDRe extracts a queue or message id from a 250 reply to the final
// dot, in the forms of the common servers:
//
//	Postfix   250 2.0.0 Ok: queued as 4ZxY1234abc
//	Exim      250 OK id=1tAbCd-000123-4X
//	Sendmail  250 2.0.0 4AOA0Bx1012345 Message accepted for delivery
//	Gmail     250 2.0.0 OK  1732442400 a1b2c3d4e5f6.123 - gsmtp
//	M365      250 2.6.0 <id@host> [InternalId=123, Hostname=...] Queued mail for delivery
var queueIDRe = []*lazyre.Regexp{
	lazyre.New(`(?i)queued as ([A-Za-z0-9]+)`),
	lazyre.New(`(?i)\bid=([A-Za-z0-9-]+)`),
	lazyre.New(`(?i)InternalId=(\d+)`),
	lazyre.New(`(?i)OK\s+\d+\s+(\S+)\s+-\s+gsmtp`),
	lazyre.New(`^(?:\d\.\d\.\d+\s+)?([A-Za-z0-9]{10,})\s+(?i:message accepted)`),
	lazyre.New(`(?i)\bok\s*:?\s*<?([A-Za-z0-9._@-]{8,})>?\s*$`),
}

// QueueID returns the server's id for the accepted message, or "".
func QueueID(text string) string {
	for _, re := range queueIDRe {
		if m := re.FindStringSubmatch(text); m != nil {
			return m[1]
		}
	}
	return ""
}

// send runs MAIL, RCPT (each), DATA and reads the final reply. Unlike the
// probe, a refusal at any step ends the run: nothing is sent to a
// partial recipient list silently.
func (c *checker) send(ctx context.Context) bool {
	o, r := c.o, c.r
	params, chunking, ok := c.mailParams()
	pipeline, pok := c.pipelineMode()
	if !ok || !pok {
		r.skip("mail", "not sent")
		c.skipRest("mail", "not sent")
		_, _ = c.s.Quit(ctx)
		return false
	}
	st := r.begin("mail")
	msg := o.Message
	if msg == nil {
		msg = []byte{}
	}
	tx := smtpclient.Transaction{From: o.MailFrom, MailParams: strings.Join(params, " "), To: o.RcptTo, RcptParams: c.rcptParams(),
		Message: msg, Pipeline: pipeline, LMTP: o.Client.Protocol == "lmtp", Chunking: chunking}
	for _, stop := range []string{"mail", "rcpt", "data"} {
		if o.Client.QuitAfter == stop || o.Client.DropAfter == stop {
			tx.StopAfter = stop
		}
	}
	if o.Client.DropAfter == "data" {
		tx.StopAfter, tx.DropAfterSend = "", true
	}
	// With PIPELINING the replies come back together; each stage is
	// ended as its replies are judged.
	res, err := c.s.Transact(ctx, tx)
	if err != nil && res.Stage == "mail" {
		st.failed(err)
		c.skipRest("mail", "MAIL failed")
		return false
	}
	rp := res.Mail
	if rp.Code != 250 {
		st.End(statusFor(rp), "%s", rp.Short())
		r.rep.Add(refusal("smtp.mail.rejected", "mail", rp))
		c.skipRest("mail", "sender refused")
		c.quit(ctx, res)
		return false
	}
	st.End(report.StatusOK, "%s", rp.Short())
	if res.Stopped && tx.StopAfter == "mail" {
		return !c.stopAfter(ctx, "mail")
	}

	st = r.begin("rcpt")
	// A send is never a relay test: the recipients are the user's own.
	status, sums, accepted := c.rcptReplies(o.RcptTo, res.Rcpt, false)
	if err != nil && res.Stage == "rcpt" {
		st.failed(err)
		c.skipRest("rcpt", "RCPT failed")
		return false
	}
	if accepted == 0 {
		st.End(status, "%s", strings.Join(sums, "; "))
		c.skipRest("rcpt", "no recipient accepted")
		c.quit(ctx, res)
		return false
	}
	if accepted < len(o.RcptTo) {
		// Sending to the accepted subset would hide the failure; stop.
		st.End(status, "%s", strings.Join(sums, "; "))
		c.skipRest("rcpt", "a recipient was refused")
		c.quit(ctx, res)
		return false
	}
	st.End(report.StatusOK, "%s", strings.Join(sums, "; "))
	if res.Stopped && tx.StopAfter == "rcpt" {
		return !c.stopAfter(ctx, "rcpt")
	}

	st = r.begin("data")
	first, final := res.Data, res.Final
	if err != nil {
		st.failed(err)
		c.skipRest("data", "DATA failed")
		return false
	}
	if res.Stopped {
		return c.stoppedInData(ctx, st, tx, res)
	}
	if tx.Chunking {
		first = final // BDAT has no 354: its one reply is the verdict
	}
	if first.Code != 354 && !tx.Chunking {
		st.End(statusFor(first), "%s", first.Short())
		r.rep.Add(refusal("smtp.data.rejected", "data", first))
		c.skipRest("data", "DATA refused")
		c.quit(ctx, res)
		return false
	}
	if tx.LMTP {
		return c.lmtpResults(ctx, st, res)
	}
	if final.Code != 250 {
		st.End(statusFor(final), "%s", final.Short())
		r.rep.Add(refusal("smtp.data.rejected", "data", final))
		c.skipRest("data", "message refused")
		c.quit(ctx, res)
		return false
	}
	st.End(report.StatusOK, "%d bytes sent", len(o.Message))
	st = r.begin("queued")
	id := QueueID(final.Text())
	if id != "" {
		r.rep.SetFact("queue_id", id)
		st.End(report.StatusOK, "queued as %s", id)
	} else {
		st.End(report.StatusOK, "%s", final.Short())
	}
	r.rep.Add(report.Newf("smtp.data.queued", "queued", "%s", final.Short()).With("reply", final.String(), final.Seq...))
	return true
}

// stoppedInData ends the data stage of a run that --quit-after data or
// --drop-after data stopped there.
func (c *checker) stoppedInData(ctx context.Context, st *stageRun, tx smtpclient.Transaction, res smtpclient.TxResult) bool {
	r := c.r
	c.stopped = true
	switch {
	case tx.DropAfterSend:
		st.End(report.StatusOK, "%d bytes sent; closed without reading the reply", len(c.o.Message))
		r.rep.Add(report.Newf("smtp.send.stopped", "data", "Sent the message and its final dot, then closed the connection without reading the reply, as --drop-after data asked: whether the server queued it is unknown here (look in its log)."))
		c.skipRest("data", "--drop-after data")
	case res.Dropped:
		st.End(report.StatusOK, "%s; closed without sending the message", res.Data.Short())
		r.rep.Add(report.Newf("smtp.send.stopped", "data", "Stopped after DATA's %d, as --quit-after data asked. Nothing but the message may follow a 354, not even QUIT, so the connection was closed; the server discards the unfinished transaction.", res.Data.Code))
		c.skipRest("data", "--quit-after data")
	default: // BDAT: stopped before the chunk, QUIT still possible
		st.End(report.StatusOK, "stopped before the BDAT chunk")
		c.o.Client.QuitAfter = "data"
		c.stopAfter(ctx, "data")
	}
	return true
}

// lmtpResults judges LMTP's reply per recipient (RFC 2033 §4.2): the
// message is delivered to those whose reply is 2xx and to no other.
func (c *checker) lmtpResults(ctx context.Context, st *stageRun, res smtpclient.TxResult) bool {
	r := c.r
	delivered := 0
	var sums []string
	for i, rp := range res.LMTP {
		to := ""
		if i < len(c.o.RcptTo) {
			to = c.o.RcptTo[i]
		}
		sums = append(sums, to+": "+rp.Short())
		if rp.Class() == 2 {
			delivered++
			r.rep.Add(report.Newf("smtp.lmtp.delivered", "data", "Delivered to <%s>: %s.", to, rp.Short()).With("reply", rp.String(), rp.Seq...))
			continue
		}
		f := refusal("smtp.lmtp.rejected", "data", rp)
		f.Detail = fmt.Sprintf("<%s>: %s", to, f.Detail)
		r.rep.Add(f)
	}
	if delivered < len(res.LMTP) {
		st.End(report.StatusFail, "%s", strings.Join(sums, "; "))
		c.skipRest("data", "a recipient was refused")
		c.quit(ctx, res)
		return false
	}
	st.End(report.StatusOK, "%d bytes delivered to %d recipient(s)", len(c.o.Message), delivered)
	r.skip("queued", "LMTP delivers at once: no queue")
	return true
}

// quit ends a transaction that stopped short, unless it already hung up
// (a pipelined DATA accepted for an envelope that was not).
func (c *checker) quit(ctx context.Context, res smtpclient.TxResult) {
	if !res.Aborted {
		_, _ = c.s.Quit(ctx)
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
