package resetmail

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
	"github.com/mailprobe/mailprobe/pkg/smtpprobe"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

func init() {
	report.Register(
		report.Code{Code: "reset.compose.ok", Severity: report.Pass, Title: "Reset email composed"},
		report.Code{Code: "reset.mx.lookup-failed", Severity: report.Fail, Title: "Recipient domain has no usable MX",
			Fix: "The recipient's domain must publish MX records (or an A record) for mail to reach it.", Refs: []string{"RFC 5321 §5.1"}},
		report.Code{Code: "reset.imap.connect-failed", Severity: report.Fail, Title: "Cannot reach the recipient's IMAP server",
			Fix: "Check --imap HOST:PORT (993 for implicit TLS, 143 for STARTTLS) and the certificate (--imap-ca-file, --imap-servername).", Refs: []string{"RFC 9051", "RFC 8314"}},
		report.Code{Code: "reset.imap.implicit-detected", Severity: report.Info, Title: "The IMAP port speaks implicit TLS",
			Fix: "Nothing to fix on the server: the port sent no greeting and answered a ClientHello, so mailprobe went on over TLS. Say it to skip the detection: --imap-tls implicit.", Refs: []string{"RFC 8314 §3"}},
		report.Code{Code: "reset.imap.login-failed", Severity: report.Fail, Title: "IMAP login failed",
			Fix: "Check the mailbox user and password (--imap-user, --imap-password-env); some providers need an app password for IMAP.", Refs: []string{"RFC 9051 §6.2.3"}},
		report.Code{Code: "reset.imap.failed", Severity: report.Fail, Title: "The IMAP server failed",
			Fix: "The mailbox server broke off (closed the connection, refused a command or stopped answering) after login: check its log. Whether the message arrived is unknown; run again, or look in the mailbox.", Refs: []string{"RFC 9051"}},
		report.Code{Code: "reset.wait.timeout", Severity: report.Fail, Title: "The email never arrived",
			Fix: "The server accepted the message but it did not reach the mailbox in time: look for it in the provider's quarantine, check the server's log for the queue id, and run `mailprobe dns` on the sender's domain (SPF, DKIM, DMARC failures often make providers drop mail silently).", Refs: nil},
		report.Code{Code: "reset.delivery.inbox", Severity: report.Pass, Title: "Delivered to the inbox"},
		report.Code{Code: "reset.delivery.junk", Severity: report.Fail, Title: "Delivered to the junk folder",
			Fix: "Users will not see it. Fix the authentication results below first (SPF, DKIM and DMARC must pass and align with the From domain), then content: a plain text part, no URL shorteners, a From address people recognise.", Refs: []string{"RFC 7489"}},
		report.Code{Code: "reset.delivery.latency", Severity: report.Info, Title: "Delivery latency"},
		report.Code{Code: "reset.delivery.slow", Severity: report.Warn, Title: "Delivery was slow",
			Fix: "Reset links are used within a minute; slow delivery means greylisting, a queue backlog or retries at the sending server. Check its log for the queue id.", Refs: nil},
		report.Code{Code: "reset.authres.pass", Severity: report.Pass, Title: "Authentication checks passed at the receiver"},
		report.Code{Code: "reset.authres.spf", Severity: report.Fail, Title: "SPF did not pass at the receiver",
			Fix: "Add the sending server's IP (or its provider's include) to the SPF record of the envelope sender's domain; run `mailprobe spf DOMAIN --ip IP`.", Refs: []string{"RFC 7208"}},
		report.Code{Code: "reset.authres.dkim", Severity: report.Fail, Title: "DKIM did not pass at the receiver",
			Fix: "Sign outgoing mail with a key published at SELECTOR._domainkey.DOMAIN (`mailprobe dkim check DOMAIN --selector S`).", Refs: []string{"RFC 6376"}},
		report.Code{Code: "reset.authres.dmarc", Severity: report.Fail, Title: "DMARC did not pass at the receiver",
			Fix: "DMARC needs SPF or DKIM to pass for a domain aligned with the From header; sign with d= your From domain.", Refs: []string{"RFC 7489 §3.1"}},
		report.Code{Code: "reset.authres.missing", Severity: report.Info, Title: "No authentication results in the received message",
			Fix: "The receiving server added no Authentication-Results header, so mailprobe cannot tell whether SPF, DKIM and DMARC passed.", Refs: []string{"RFC 8601"}},
		report.Code{Code: "reset.token.intact", Severity: report.Pass, Title: "Reset token arrived intact"},
		report.Code{Code: "reset.token.changed", Severity: report.Fail, Title: "Reset token did not arrive intact",
			Fix: "Something between sender and inbox changed the message body: a link tracker, a security gateway rewriting URLs, or broken quoted-printable handling. Users would get an invalid link.", Refs: []string{"RFC 2045 §6.7"}},
		report.Code{Code: "reset.cleanup.ok", Severity: report.Pass, Title: "Test message deleted"},
		report.Code{Code: "reset.cleanup.failed", Severity: report.Warn, Title: "Test message could not be deleted",
			Fix: "Delete it by hand; see the detail for the server's answer.", Refs: nil},
	)
}

// Options of a reset-email run.
type Options struct {
	Compose ComposeOptions
	// SMTP is the sending server and how to talk to it; Host "mx" means
	// deliver straight to the recipient domain's MX hosts in preference
	// order, like a mail server would.
	SMTP smtpprobe.Options
	// IMAP, when Host is set, is where the recipient's mailbox is read.
	IMAP    IMAPOptions
	Wait    time.Duration // how long to wait for the message; default 60s
	Cleanup bool
	// SlowAfter turns the latency info into a warning; default 30s.
	SlowAfter time.Duration
	// Resolver asks the recipient domain's MX records when SMTP.Host is
	// "mx" (nothing else is asked for them: with --resolver, that server
	// only). Required for "mx".
	Resolver resolver.Interface
	Now      func() time.Time
	// Progress, when set, is told what the run is waiting for (the CLI
	// shows it on a terminal's stderr).
	Progress func(msg string)
}

// Run composes, sends and (with IMAP) awaits the reset email.
func Run(ctx context.Context, o Options) (*report.Report, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Wait <= 0 {
		o.Wait = 60 * time.Second
	}
	if o.SlowAfter <= 0 {
		o.SlowAfter = 30 * time.Second
	}
	o.Compose.Now = o.Now
	o.SMTP.Now = o.Now
	rec := transcript.New(o.Now)
	target := o.SMTP.Host
	if o.SMTP.Port != 0 {
		target = net.JoinHostPort(o.SMTP.Host, strconv.Itoa(o.SMTP.Port))
	}
	rep := report.NewReport("reset send", target, rec.Start())
	defer func() {
		rep.Transcript = rec.Entries()
		rep.Duration = o.Now().Sub(rep.StartedAt)
		rep.SortFindings()
	}()

	// compose
	st := report.NewStages(rep, o.Now, rec, nil).Begin("compose")
	msg, err := Compose(o.Compose)
	if err != nil {
		return nil, err // bad From/To/template: the user's input, reported as usage
	}
	st.End(report.StatusOK, "%q to %s, %d bytes, Message-ID <%s>", msg.Subject, msg.To, len(msg.Data), msg.MessageID)
	rep.SetFact("message_id", msg.MessageID)
	rep.SetFact("subject", msg.Subject)
	if msg.Link != "" {
		rep.SetFact("reset_link", msg.Link)
	} else {
		rep.SetFact("reset_code", msg.Code)
	}
	rep.Add(report.Newf("reset.compose.ok", "compose", "multipart/alternative (text and HTML), %d bytes.", len(msg.Data)))
	rep.Add(composedFindings(msg)...)

	// send
	so := o.SMTP
	so.Message = msg.Data
	so.RcptTo = []string{msg.To}
	if so.MailFrom == "" {
		so.MailFrom = msg.From
	}
	// The mailbox is opened, and watched, before the message goes out.
	var watch *mailWatch
	if o.IMAP.Host != "" {
		if watch = openMailbox(ctx, o, rep, rec); watch != nil {
			defer watch.mb.Close()
		}
	}
	sent := false
	sendStart := o.Now()
	if strings.EqualFold(so.Host, "mx") {
		sent = sendViaMX(ctx, o, so, msg.To, rep, rec)
	} else {
		sent = smtpprobe.Run(ctx, so, rep, rec)
	}
	if !sent || watch == nil {
		return rep, nil
	}
	awaitMessage(ctx, o, watch, msg, dataAccepted(rep, sendStart), rep, rec)
	return rep, nil
}

// sendViaMX tries each MX of the recipient's domain in preference order
// (RFC 5321 §5.1) until one completes the dialogue or refuses the message
// for good.
func sendViaMX(ctx context.Context, o Options, so smtpprobe.Options, to string, rep *report.Report, rec *transcript.Recorder) bool {
	domain := to[strings.LastIndexByte(to, '@')+1:]
	st := report.NewStages(rep, o.Now, rec, nil).Begin("mx")
	if o.Resolver == nil {
		err := errors.New("no resolver to ask for MX records")
		st.End(report.StatusError, "%s", err.Error())
		rep.Add(report.Newf("reset.mx.lookup-failed", "mx", "MX lookup for %s: %v.", domain, err))
		return false
	}
	lctx, cancel := context.WithTimeout(ctx, so.Timeouts.WithDefaults().DNS)
	mxs, _, err := o.Resolver.LookupMX(lctx, domain)
	cancel()
	if err != nil || len(mxs) == 0 {
		if err == nil {
			err = errors.New("no MX records")
		}
		st.End(report.StatusError, "%s", err.Error())
		rep.Add(report.Newf("reset.mx.lookup-failed", "mx", "MX lookup for %s: %v.", domain, err))
		return false
	}
	// LookupMX sorts by preference (RFC 5321 §5.1) and drops the
	// trailing dots; the null MX (RFC 7505) is the empty host.
	var names []string
	for _, mx := range mxs {
		names = append(names, fmt.Sprintf("%d %s", mx.Pref, mx.Host))
	}
	st.End(report.StatusOK, "%s", strings.Join(names, ", "))
	for i, mx := range mxs {
		host := mx.Host
		if host == "" {
			// Null MX (RFC 7505): the domain accepts no mail.
			rep.Add(report.Newf("reset.mx.lookup-failed", "mx", "%s publishes a null MX: it accepts no mail (RFC 7505).", domain))
			return false
		}
		so.Host, so.Port, so.ServerName = host, 25, host
		before := len(rep.Stages)
		if smtpprobe.Run(ctx, so, rep, rec) {
			return true
		}
		// Try the next MX only when this one could not be reached; a
		// server that answered and refused has spoken for the domain.
		if !connectFailed(rep.Stages[before:]) || i == len(mxs)-1 {
			return false
		}
		rec.Event("MX %s unreachable; trying the next one", host)
	}
	return false
}

func connectFailed(stages []report.Stage) bool {
	for _, s := range stages {
		if (s.Name == "connect" || s.Name == "resolve") && s.Status == report.StatusError {
			return true
		}
	}
	return false
}

// mailWatch is the recipient's mailbox, logged in and watching before the
// message is sent.
type mailWatch struct {
	mb      *Mailbox
	folders []string
}

// openMailbox connects and logs in to the recipient's mailbox, lists the
// folders to search and starts IDLE on INBOX — all before the message is
// sent, so that the delivery time measured is the server's, not mailprobe's
// own connect and login. nil when the mailbox cannot be used (the findings
// say why).
func openMailbox(ctx context.Context, o Options, rep *report.Report, rec *transcript.Recorder) *mailWatch {
	t := o.IMAP.Timeouts.WithDefaults()
	stages := report.NewStages(rep, o.Now, rec, nil)
	st := stages.Begin("imap-connect")
	mb, err := DialMailbox(ctx, o.IMAP, rec)
	if err != nil {
		status := report.StatusError
		if errors.Is(err, ErrPlaintextRefused) {
			status = report.StatusSkipped
		}
		st.End(status, "%s", err.Error())
		rep.Add(report.Newf("reset.imap.connect-failed", "imap-connect", "%s.", strings.TrimSuffix(err.Error(), ".")))
		return nil
	}
	if o.IMAP.Insecure && mb.TLS() != nil && !rep.Has("cert.verify-skipped") {
		// The engine owns this finding (the SMTP leg adds it for its own
		// certificate); here it is the mailbox's that went unchecked.
		rep.Add(report.New("cert.verify-skipped", "imap-connect", "--insecure: the IMAP server's certificate was not required to be trusted."))
	}
	if d := mb.DetectedImplicitTLS(); d > 0 {
		rep.Add(report.Newf("reset.imap.implicit-detected", "imap-connect", "Port %d sent no greeting within %s and answered a ClientHello: it speaks implicit TLS (RFC 8314 §3), so the run went on over TLS (--imap-tls implicit skips the wait).", o.IMAP.Port, d))
	}
	summary := net.JoinHostPort(o.IMAP.Host, strconv.Itoa(o.IMAP.Port))
	if st := mb.TLS(); st != nil {
		summary += ", TLS"
	}
	st.End(report.StatusOK, "%s", summary)

	st = stages.Begin("imap-login")
	login, verb := func() error { return mb.Login(ctx, o.IMAP.User, o.IMAP.Password, t.Command) }, "LOGIN"
	if o.IMAP.OAuth {
		login = func() error {
			return mb.LoginOAuth(ctx, o.IMAP.User, o.IMAP.Password, o.IMAP.OAuthMech, o.IMAP.ServerName, t.Command)
		}
		verb = "AUTHENTICATE"
	}
	if err := login(); err != nil {
		st.End(report.StatusFail, "%s", err.Error())
		rep.Add(report.Newf("reset.imap.login-failed", "imap-login", "%s as %s: %s.", verb, o.IMAP.User, strings.TrimSuffix(err.Error(), ".")))
		mb.Close()
		return nil
	}
	folders, err := mb.Folders(ctx, t.Command)
	if err == nil {
		err = mb.StartIdle(ctx, t.Command)
	}
	if err != nil {
		st.End(report.StatusError, "logged in as %s, then: %s", o.IMAP.User, err.Error())
		rep.Add(report.Newf("reset.imap.failed", "imap-login", "After LOGIN as %s the IMAP server failed: %s.", o.IMAP.User, strings.TrimSuffix(err.Error(), ".")))
		mb.Close()
		return nil
	}
	how := "polling"
	if mb.Idling() {
		how = "IDLE on INBOX"
	}
	st.End(report.StatusOK, "as %s; watching %s (%s)", o.IMAP.User, strings.Join(folders, ", "), how)
	return &mailWatch{mb: mb, folders: folders}
}

// dataAccepted is when the server's final 250 to DATA arrived: the end of
// the "data" stage. Without one (a run that did not get that far) it is
// fallback.
func dataAccepted(rep *report.Report, fallback time.Time) time.Time {
	for i := len(rep.Stages) - 1; i >= 0; i-- {
		if s := rep.Stages[i]; s.Name == "data" && s.Status == report.StatusOK {
			return rep.StartedAt.Add(s.Start + s.Duration)
		}
	}
	return fallback
}

// awaitMessage waits in the mailbox opened before sending for the message
// by its Message-ID, times its arrival and judges what arrived.
//
// The delivery time runs from the server's 250 to DATA to the IDLE
// announcement (EXISTS) of the message in INBOX; without IDLE, or for a
// message found in another folder, to the search that found it (the
// resolution is then the polling interval, reported). The receiving
// server's own Received: timestamp is read too, with its one-second
// resolution, as a cross-check.
func awaitMessage(ctx context.Context, o Options, w *mailWatch, msg *Composed, sentAt time.Time, rep *report.Report, rec *transcript.Recorder) {
	t := o.IMAP.Timeouts.WithDefaults()
	mb, folders := w.mb, w.folders
	stages := report.NewStages(rep, o.Now, rec, nil)
	st := stages.Begin("wait")
	deadline := sentAt.Add(o.Wait)
	op := func() time.Duration { return min(t.Command, time.Until(deadline)+2*time.Second) }
	var (
		found *Found
		err   error
	)
	// For the first seconds the mailbox is searched every fastPoll: most
	// deliveries take tens of milliseconds, and IDLE cannot time them
	// (Dovecot, for one, coalesces changes for half a second before it
	// announces them). After that, IDLE wakes the search, with a backoff.
	const fastPoll, fastFor = 25 * time.Millisecond, 3 * time.Second
	pause := 250 * time.Millisecond
	// The message arrived after prevCheck (the start of the search before
	// the one that finds it): the resolution of the arrival time.
	prevCheck, thisCheck := sentAt, sentAt
	for {
		wait := min(pause, time.Until(deadline))
		if time.Since(sentAt) < fastFor {
			wait = min(fastPoll, time.Until(deadline))
		}
		if wait > 0 {
			timer := time.NewTimer(wait)
			if mb.Idling() {
			idle:
				for {
					select {
					case <-ctx.Done():
					case <-timer.C:
					case <-mb.exists:
						if _, ok := mb.ExistsSince(sentAt); !ok {
							continue idle // announced before the message was sent
						}
					}
					break
				}
			} else {
				select {
				case <-ctx.Done():
				case <-timer.C:
				}
			}
			timer.Stop()
		}
		if err = mb.StopIdle(ctx, op()); err != nil {
			break
		}
		prevCheck, thisCheck = thisCheck, time.Now()
		found, err = mb.Find(ctx, folders, msg.MessageID, op())
		if err != nil || found != nil || time.Until(deadline) <= 0 || ctx.Err() != nil {
			break
		}
		if o.Progress != nil {
			o.Progress(fmt.Sprintf("waiting for the message in %s: %s of %s", strings.Join(folders, ", "), time.Since(sentAt).Round(time.Second), o.Wait))
		}
		if time.Since(sentAt) >= fastFor {
			if err = mb.StartIdle(ctx, op()); err != nil {
				break
			}
			pause = min(pause*2, 2*time.Second)
		}
	}
	switch {
	case err != nil && ctx.Err() != nil:
		st.End(report.StatusError, "stopped: %v", ctx.Err())
		rep.Add(report.Newf("reset.imap.failed", "wait", "Waiting in the mailbox was stopped: %v.", ctx.Err()))
		return
	case err != nil:
		// A mailbox server that breaks is the mailbox's failure, not a
		// verdict on delivery: the message may well be there.
		st.End(report.StatusError, "%s", err.Error())
		rep.Add(report.Newf("reset.imap.failed", "wait", "The IMAP server failed while mailprobe waited for the message: %s. Whether it arrived is unknown.", strings.TrimSuffix(err.Error(), ".")))
		return
	case found == nil:
		st.End(report.StatusFail, "not found in %s after %s", strings.Join(folders, ", "), o.Wait)
		rep.Add(report.Newf("reset.wait.timeout", "wait", "Message-ID <%s> was not in %s %s after the server accepted it.", msg.MessageID, strings.Join(folders, ", "), o.Wait))
		return
	}
	// Found by the search that started at thisCheck: it arrived between
	// prevCheck and the end of that search.
	arrived := time.Now()
	resolution := arrived.Sub(prevCheck)
	latency := max(arrived.Sub(sentAt), 0)
	lat := map[string]any{"measured_ms": report.Millis(latency), "resolution_ms": report.Millis(resolution),
		"from": "the server's 250 to DATA", "to": "the search that found it", "sent_at": sentAt.UTC().Format(time.RFC3339Nano)}
	detail := fmt.Sprintf("Arrived %s after the server accepted it (to within %s)", latency.Round(time.Millisecond), resolution.Round(time.Millisecond))
	if rt, ok := topReceivedTime(found.Raw); ok {
		hdr := rt.Sub(sentAt.Truncate(time.Second))
		lat["received_header"] = rt.UTC().Format(time.RFC3339)
		lat["received_header_latency_s"] = hdr.Seconds()
		lat["received_header_resolution_s"] = 1
		detail += fmt.Sprintf("; the receiving server's Received: header says %s (to the second)", hdr.Round(time.Second))
	}
	st.End(report.StatusOK, "found in %s after %s", found.Folder, latency.Round(time.Millisecond))
	rep.SetFact("folder", found.Folder)
	rep.SetFact("latency_ms", report.Millis(latency))
	rep.SetFact("latency", lat)
	if latency > o.SlowAfter {
		rep.Add(report.Newf("reset.delivery.slow", "wait", "%s.", detail))
	} else {
		rep.Add(report.Newf("reset.delivery.latency", "wait", "%s.", detail))
	}
	if IsJunkFolder(found.Folder) {
		rep.Add(report.Newf("reset.delivery.junk", "wait", "The message was delivered to %q.", found.Folder))
	} else {
		rep.Add(report.Newf("reset.delivery.inbox", "wait", "Delivered to %s.", found.Folder))
	}

	st = stages.Begin("analyze")
	fs := receivedFindings(found.Raw, msg, rep)
	fs = append(fs, arcFindings(ctx, o.Resolver, found.Raw, rep)...)
	rep.Add(fs...)
	worst := report.Pass
	for _, f := range fs {
		worst = max(worst, f.Severity)
	}
	status := report.StatusOK
	if worst == report.Fail {
		status = report.StatusFail
	}
	st.End(status, "%d bytes received", len(found.Raw))

	if o.Cleanup {
		st = stages.Begin("cleanup")
		if err := mb.Delete(ctx, found, t.Command); err != nil {
			st.End(report.StatusFail, "%s", err.Error())
			rep.Add(report.Newf("reset.cleanup.failed", "cleanup", "Deleting UID %d in %s: %v.", found.UID, found.Folder, err))
		} else {
			st.End(report.StatusOK, "deleted")
			rep.Add(report.Newf("reset.cleanup.ok", "cleanup", "UID %d deleted from %s.", found.UID, found.Folder))
		}
	}
}

// receivedFindings judges the message as it arrived: authentication
// results and whether the token survived.
func receivedFindings(raw []byte, msg *Composed, rep *report.Report) []report.Finding {
	var fs []report.Finding
	v := ReadAuthVerdict(raw)
	rep.SetFact("auth_results", v)
	if len(v.Headers) == 0 {
		fs = append(fs, report.New("reset.authres.missing", "analyze", "No Authentication-Results, ARC-Authentication-Results or Received-SPF header was found."))
	} else {
		ev := strings.Join(v.Headers, "\n")
		bad := false
		for _, c := range []struct{ code, name, val, who string }{
			{"reset.authres.spf", "SPF", v.SPF, v.SPFFrom},
			{"reset.authres.dkim", "DKIM", v.DKIM, v.DKIMDomain},
			{"reset.authres.dmarc", "DMARC", v.DMARC, v.DMARCFrom},
		} {
			if c.val != "" && c.val != "pass" {
				bad = true
				detail := fmt.Sprintf("%s=%s", c.name, c.val)
				if c.who != "" {
					detail += " for " + c.who
				}
				f := report.Newf(c.code, "analyze", "The receiving server (%s) recorded %s.", v.AuthServID, detail).With("header", ev)
				// "none" and "neutral" mean nothing was published or
				// asserted: a gap that costs inbox placement, not a
				// verdict against the message. temperror may pass on retry.
				switch c.val {
				case "none", "neutral", "temperror":
					f = f.WithSeverity(report.Warn)
				}
				fs = append(fs, f)
			}
		}
		if !bad {
			var parts []string
			for _, p := range []struct{ n, v string }{{"spf", v.SPF}, {"dkim", v.DKIM}, {"dmarc", v.DMARC}} {
				if p.v != "" {
					parts = append(parts, p.n+"="+p.v)
				}
			}
			fs = append(fs, report.Newf("reset.authres.pass", "analyze", "%s (%s).", strings.Join(parts, " "), v.AuthServID).With("header", ev))
		}
	}
	if intact, where := tokenIntact(raw, msg.Token); intact {
		fs = append(fs, report.Newf("reset.token.intact", "analyze", "The %s arrived unchanged in %s.", tokenWord(msg), where))
	} else {
		fs = append(fs, report.Newf("reset.token.changed", "analyze", "The %s %q is not in the decoded message as received.", tokenWord(msg), msg.Token))
	}
	fs = append(fs, receivedAnalysis(raw, msg)...)
	return fs
}

func tokenWord(msg *Composed) string {
	if msg.Code != "" {
		return "recovery code"
	}
	return "reset token"
}
