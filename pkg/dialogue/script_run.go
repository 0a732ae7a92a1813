package dialogue

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/certcheck"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/replycode"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/smtpclient"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// How a script runs.
//
// Steps run in order on one Session at a time (a script may connect more
// than once). Each step gets its own deadline: a context derived from the
// run's, so that the run's --timeout and Ctrl-C interrupt any step, while
// the Session's own timeouts are set out of the way (sessionTimeouts).
//
// A step that waits for the server turns what happened into an Outcome:
// a reply, silence until the deadline ("none") or a closed connection
// ("close"). Silence and a close are answers like any other, because
// probes need them: a server that stays silent after "<LF>.<LF>" is
// telling us it did not take that as the end of the message. Only what no
// expectation can describe (garbage, half a reply, a failed write, the
// run's own deadline) is an error that ends the script.
//
// A failed expectation stops the script unless the step says "else
// LEVEL". After a stop, the steps that did not run are still listed as
// skipped stages, so the report shows the whole script.

// RunOptions configure a script run: the engine's Options (ARCHITECTURE.md,
// one entry shape for every engine).
type RunOptions struct {
	// Script is the parsed script to run (ParseScript); required.
	Script *Script

	Host string // default target of connect
	Port int    // default 25
	// Vars are the --var values; they override the built-in variables
	// and win over the script's default lines.
	Vars map[string]string
	Helo string // ${HELO}; default "mailprobe.invalid"

	// User is ${USER} and the default AUTH user. Password is never a
	// variable: auth steps take it from here, and it is registered with the
	// transcript so that no line can carry it.
	User, Password     string
	AllowPlaintextAuth bool // AUTH on a connection without TLS

	ServerName string         // expected certificate name; default: the host connected to
	RootCAs    *x509.CertPool // nil = system roots
	Insecure   bool           // AUTH over TLS even when the certificate is not trusted

	// TLSMode is how a plain connect step gets TLS (PRODUCT.md's --tls;
	// "" = auto), as in smtp check: implicit makes it connect tls; auto
	// does so on a port known for implicit TLS (465), and on a port
	// netx.MailPorts does not know, a first expect that meets silence
	// probes for implicit TLS (smtpclient.AwaitGreeting) and goes on over
	// it; starttls reports such a port instead; none never probes. A
	// connect tls step is implicit TLS whatever the mode.
	TLSMode netx.TLSMode

	// StepTimeout is every step's deadline until a timeout line changes
	// it; 0 = DefaultStepTimeout.
	StepTimeout time.Duration
	Dial        netx.DialFunc
	Now         func() time.Time
}

func (o RunOptions) port() int {
	if o.Port == 0 {
		return 25
	}
	return o.Port
}

// Bind computes the variables of a run: built-ins, then --var, then the
// script's default lines, then the derived FROM_DOMAIN and TO_DOMAIN. It
// then expands every template of the script once, so that an unknown
// variable or a bad duration is reported (as ScriptErrors, with lines)
// before anything is sent.
func (sc *Script) Bind(o RunOptions) (map[string]string, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	helo := o.Helo
	if helo == "" {
		helo = "mailprobe.invalid"
	}
	random := randomHex(8)
	vars := map[string]string{
		"HOST":   o.Host,
		"PORT":   strconv.Itoa(o.port()),
		"HELO":   helo,
		"DATE":   now().Format(time.RFC1123Z), // the RFC 5322 §3.3 date-time form
		"RANDOM": random,
		"ITER":   "1",
	}
	if o.User != "" {
		vars["USER"] = o.User
	}
	for k, v := range o.Vars {
		vars[k] = v
	}
	if _, ok := vars["MSGID"]; !ok {
		vars["MSGID"] = "mailprobe." + random + "@" + vars["HELO"]
	}
	var errs ScriptErrors
	fail := func(line int, err error) {
		if len(errs) < maxErrors {
			errs = append(errs, &SyntaxError{File: sc.File, Line: line, Msg: err.Error()})
		}
	}
	lookup := func(name string) (string, bool) {
		if v, ok := vars[name]; ok {
			return v, true
		}
		// FROM_DOMAIN and TO_DOMAIN follow FROM and TO wherever those
		// come from, so a default line may use them.
		if base, ok := strings.CutSuffix(name, "_DOMAIN"); ok && (base == "FROM" || base == "TO") {
			if a, ok := vars[base]; ok {
				if i := strings.LastIndexByte(a, '@'); i >= 0 {
					return strings.Trim(a[i+1:], "<> "), true
				}
			}
		}
		return "", false
	}
	for _, s := range sc.Vars {
		v, err := expandTemplate(s.Text, false, lookup)
		if err != nil {
			fail(s.Line, err)
			continue
		}
		if _, given := vars[s.Name]; !given {
			vars[s.Name] = v
		}
	}
	for _, k := range []string{"FROM_DOMAIN", "TO_DOMAIN"} {
		if v, ok := lookup(k); ok {
			vars[k] = v
		}
	}
	sc.Walk(func(s *Step) {
		escapes := s.Kind == KindSend || s.Kind == KindSendRaw
		v, err := expandTemplate(s.Text, escapes, lookup)
		if err != nil {
			fail(s.Line, err)
			return
		}
		switch s.Kind {
		case KindPause, KindTimeout:
			if _, err := parseStepDuration(s.Kind, v); err != nil {
				fail(s.Line, err)
			}
		case KindAuth:
			if s.Text == "" && vars["USER"] == "" {
				fail(s.Line, fmt.Errorf("auth %s needs a user name: give --user, or write auth %s as NAME", s.Name, s.Name))
			}
		case KindConnect:
			if v == "" && o.Host == "" {
				fail(s.Line, fmt.Errorf("connect needs a target: give HOST[:PORT] on the command line or connect HOST:PORT"))
			}
		}
		for i, l := range s.Body {
			if _, err := expandTemplate(l, false, lookup); err != nil {
				fail(s.Line+1+i, err)
			}
		}
	})
	if len(errs) > 0 {
		return nil, errs
	}
	return vars, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ReplyFact is one reply the script received, with its analysis: what the
// JSON report carries for every reply (the text report shows the short form
// in the step's stage).
type ReplyFact struct {
	Line        int                   `json:"line"`
	Stage       string                `json:"stage"`
	Reply       smtpclient.Reply      `json:"reply"`
	Explanation replycode.Explanation `json:"explanation"`
}

// RunScript runs o.Script against o.Host and returns its report: one
// stage per step, findings for every failed expectation and every problem
// the server showed, the transcript and the analysed replies. The error is
// non-nil only when the script cannot run at all (no script, or
// ScriptErrors from Bind); everything about the server is in the report.
func RunScript(ctx context.Context, o RunOptions) (*report.Report, error) {
	sc := o.Script
	if sc == nil {
		return nil, errors.New("no script to run")
	}
	vars, err := sc.Bind(o)
	if err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.StepTimeout <= 0 {
		o.StepTimeout = DefaultStepTimeout
	}
	rec := transcript.New(o.Now)
	rec.AddCredential(o.User, o.Password)
	target := net.JoinHostPort(o.Host, strconv.Itoa(o.port()))
	rep := report.NewReport("smtp script", target, rec.Start())
	r := &runner{o: o, sc: sc, rep: rep, rec: rec, stages: report.NewStages(rep, o.Now, rec, nil), vars: vars, timeout: o.StepTimeout, replies: []ReplyFact{}}
	if o.Insecure {
		// The engine owns what its options mean: --insecure weakens every
		// certificate verdict of the run, so the report says so itself,
		// whichever command or suite ran it.
		rep.Add(report.New("cert.verify-skipped", "", "--insecure: a certificate was not required to be trusted before AUTH."))
	}
	r.steps(ctx, sc.Steps)
	if r.stopped {
		r.skipAfter(r.stopLine)
	}
	if r.sess != nil {
		r.drop()
	}
	rep.SetFact("script", sc.File)
	rep.SetFact("replies", r.replies)
	rep.Transcript = rec.Entries()
	rep.Duration = o.Now().Sub(rep.StartedAt)
	rep.SortFindings()
	return rep, nil
}

// runner is the state of one run.
type runner struct {
	o       RunOptions
	sc      *Script
	rep     *report.Report
	rec     *transcript.Recorder
	stages  *report.Stages
	vars    map[string]string
	timeout time.Duration

	sess       *smtpclient.Session
	serverName string
	// greet is set on a plain connection until the first read or write:
	// a first expect reads the greeting with implicit-TLS detection
	// (nil = no detection). A script that writes first is probing how
	// the server treats a client that talks before the greeting, and
	// gets exactly that.
	greet    *smtpclient.GreetingOptions
	tlsOn    bool
	trusted  bool
	caps     *smtpclient.Capabilities // from the last EHLO on this connection and TLS layer; nil = none
	last     Outcome                  // the last answer an expecting step saw, for if-reply
	lastLine int
	// closedAt says why there is no session: the line where the server
	// closed it or the script did; 0 = never connected.
	closedAt   int
	closedBy   string
	iterLabels []string

	stopped  bool
	stopLine int
	replies  []ReplyFact
}

// stageRun times one step with the run's stage timer (report.Stages).
type stageRun struct {
	*report.StageTimer
}

func (r *runner) begin(s *Step) *stageRun {
	return &stageRun{r.stages.Begin(r.stageName(s))}
}

// stageName is "line 7: expect 250", with the iteration inside repeat
// blocks ("line 9: send NOOP [2/5]").
func (r *runner) stageName(s *Step) string {
	// The name is the step as written, without what only matters when
	// it fails (else LEVEL "message": the finding carries those), short
	// enough for a column of the text report.
	src := s.Source
	switch s.Kind {
	case KindData, KindBody, KindNote:
		src = s.Kind
	case KindSend, KindSendRaw:
		// A hand-written AUTH line carries credentials: the stage name
		// shows the mechanism only, as the transcript does.
		if f := strings.Fields(src); len(f) > 3 && strings.EqualFold(f[1], "AUTH") {
			src = strings.Join(f[:3], " ") + " " + transcript.Redacted
		}
	default:
		if s.Message != "" {
			if i := strings.LastIndex(src, ` "`); i > 0 {
				src = src[:i]
			}
		}
		if s.Else != nil {
			if i := strings.LastIndex(src, " else "); i > 0 {
				src = src[:i]
			}
		}
	}
	const max = 36
	if len(src) > max {
		src = src[:max-3] + "..."
	}
	name := fmt.Sprintf("line %d: %s", s.Line, transcript.Printable(src))
	if len(r.iterLabels) > 0 {
		name += " [" + strings.Join(r.iterLabels, ",") + "]"
	}
	return name
}

// end ends the step's stage (once). The summary may quote what the
// server sent: it is made printable, as the transcript is.
func (st *stageRun) end(status report.Status, format string, args ...any) {
	summary := format
	if len(args) > 0 {
		summary = fmt.Sprintf(format, args...)
	}
	st.End(status, "%s", transcript.Printable(summary))
}

func (r *runner) add(fs ...report.Finding) { r.rep.Add(fs...) }

func (r *runner) stop(line int) {
	if !r.stopped {
		r.stopped, r.stopLine = true, line
	}
}

// skipAfter lists the steps after the one that stopped the script, so the
// report shows what did not run.
func (r *runner) skipAfter(line int) {
	r.iterLabels = nil
	r.sc.Walk(func(s *Step) {
		if s.Line <= line || s.Kind == KindTimeout || s.Kind == KindRepeat {
			return
		}
		r.stages.Skip(fmt.Sprintf("not run: the script stopped at line %d", line), r.stageName(s))
	})
}

func (r *runner) steps(ctx context.Context, steps []*Step) {
	for _, s := range steps {
		if r.stopped {
			return
		}
		if expired(ctx) {
			st := r.begin(s)
			r.interrupted(ctx, st, s)
			return
		}
		r.step(ctx, s)
	}
}

func (r *runner) expand(s *Step, tmpl string) string {
	escapes := s.Kind == KindSend || s.Kind == KindSendRaw
	v, err := expandTemplate(tmpl, escapes, func(n string) (string, bool) { v, ok := r.vars[n]; return v, ok })
	if err != nil {
		// Bind expanded every template already; only ITER changes.
		return tmpl
	}
	return v
}

// stepContext is the step's deadline within the run's.
func (r *runner) stepContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.timeout)
}

func (r *runner) step(ctx context.Context, s *Step) {
	switch s.Kind {
	case KindTimeout:
		d, _ := parseStepDuration(KindTimeout, r.expand(s, s.Text))
		if d > 0 {
			r.timeout = d
		}
	case KindNote:
		st := r.begin(s)
		st.end(report.StatusInfo, "%s", r.expand(s, s.Text))
	case KindPause:
		r.pause(ctx, s)
	case KindConnect:
		r.connect(ctx, s)
	case KindSend, KindSendRaw:
		r.send(ctx, s)
	case KindExpect, KindExpectClose:
		r.expect(ctx, s)
	case KindEHLO:
		r.ehlo(ctx, s)
	case KindSTARTTLS:
		r.starttls(ctx, s)
	case KindAuth:
		r.auth(ctx, s)
	case KindData:
		r.data(ctx, s)
	case KindBody:
		r.body(ctx, s)
	case KindQuit:
		r.quit(ctx, s)
	case KindClose:
		st := r.begin(s)
		if r.sess == nil {
			st.end(report.StatusOK, "not connected")
			return
		}
		r.drop()
		r.closedAt, r.closedBy = s.Line, "the script"
		st.end(report.StatusOK, "closed without QUIT")
	case KindRequireCap:
		r.requireCap(s)
	case KindIfCap, KindIfReply:
		r.branch(ctx, s)
	case KindRepeat:
		for i := 1; i <= s.Count && !r.stopped; i++ {
			r.vars["ITER"] = strconv.Itoa(i)
			r.iterLabels = append(r.iterLabels, fmt.Sprintf("%d/%d", i, s.Count))
			r.steps(ctx, s.Then)
			r.iterLabels = r.iterLabels[:len(r.iterLabels)-1]
		}
		r.vars["ITER"] = "1"
	case KindPipeline:
		r.pipeline(ctx, s)
	}
}

// ---- connection state ----

// drop closes the session, whatever its state. Everything learned on it
// goes with it: capabilities and TLS state belong to one connection.
func (r *runner) drop() {
	if r.sess != nil {
		_ = r.sess.Close()
	}
	r.sess, r.caps, r.tlsOn, r.trusted, r.greet = nil, nil, false, false, nil
}

// need checks that a step has a connection to talk on; when not, the
// step's stage ends with a finding and the script stops.
func (r *runner) need(st *stageRun, s *Step) bool {
	if r.sess != nil {
		return true
	}
	detail := fmt.Sprintf("Line %d (%s) needs a connection, but there is none", s.Line, s.Kind)
	code := "script.step.invalid"
	if r.closedAt > 0 {
		detail += fmt.Sprintf(": %s closed it at line %d", r.closedBy, r.closedAt)
		if r.closedBy == "the server" {
			code = "script.connection-closed"
		}
	}
	r.add(report.New(code, st.Name, detail+"."))
	st.end(report.StatusError, "not connected")
	r.stop(s.Line)
	return false
}

// sessionTimeouts are the Session's per-operation limits. The Session
// arms each read and write with the earlier of its own limit and the
// context's deadline, so with these set to the maximum a step allows, the
// step's context alone decides.
func (r *runner) sessionTimeouts() netx.Timeouts {
	// The step's context carries the deadline that counts; the session's
	// own timeouts are only an upper bound.
	return netx.Timeouts{Connect: MaxTimeout, Banner: MaxTimeout, Command: MaxTimeout, TLS: MaxTimeout, Data: MaxTimeout}
}

func (r *runner) tlsConfig() *tls.Config {
	// Verification is done after the handshake (certcheck), so that a bad
	// certificate is described in full instead of ending the dialogue;
	// credentials are never sent unless it passed.
	return &tls.Config{ServerName: r.serverName, InsecureSkipVerify: true, MinVersion: tls.VersionTLS10} //nolint:gosec // verified by certcheck
}

// ---- outcomes and verdicts ----

// read waits for one reply within the step's deadline and turns the usual
// endings of a wait (silence, a closed connection) into outcomes that an
// expectation can accept. Other failures are errors.
func (r *runner) read(ctx, sctx context.Context) (Outcome, error) {
	rp, err := r.sess.ReadReply(sctx, 0)
	if err == nil {
		return Outcome{Kind: OutcomeReply, Reply: rp}, nil
	}
	return r.failure(ctx, err)
}

// failure classifies a failed read or write. A timeout with nothing read
// is silence; an EOF or reset with nothing read is a close. Half a reply
// before either is neither: the server said something and did not finish
// it, which no expectation describes, so it stays an error.
func (r *runner) failure(ctx context.Context, err error) (Outcome, error) {
	var oe *netx.OpError
	if expired(ctx) || !errors.As(err, &oe) {
		return Outcome{}, err
	}
	partial := oe.Partial != nil || strings.Contains(oe.Err.Error(), "partial line")
	switch oe.Kind() {
	case netx.KindTimeout:
		if !partial {
			return Outcome{Kind: OutcomeNone}, nil
		}
	case netx.KindClosed, netx.KindReset:
		if !partial {
			return Outcome{Kind: OutcomeClose, Reply: smtpclient.Reply{Problems: []string{string(oe.Kind())}}}, nil
		}
	}
	return Outcome{}, err
}

// fail ends a step whose operation failed in a way no expectation covers:
// garbage from the server, a partial line, a write to a dead connection,
// the run's deadline. The connection is dropped and the script stops.
func (r *runner) fail(ctx context.Context, st *stageRun, s *Step, err error) {
	if expired(ctx) {
		r.interrupted(ctx, st, s)
		return
	}
	var f report.Finding
	var oe *netx.OpError
	if !errors.As(err, &oe) {
		f = report.Newf("script.network.error", st.Name, "Line %d (%s): %v.", s.Line, s.Kind, err)
	} else {
		switch oe.Kind() {
		case netx.KindProtocol:
			f = report.Newf("script.reply.malformed", st.Name, "Line %d (%s): the server's answer is not an SMTP reply: %v.", s.Line, s.Kind, oe.Err)
		case netx.KindTimeout:
			f = report.Newf("script.timeout", st.Name, "Line %d (%s): the server started a reply but did not finish it: %s.", s.Line, s.Kind, netx.Describe(oe.Err, oe.Waited))
		case netx.KindClosed:
			f = report.Newf("script.connection-closed", st.Name, "Line %d (%s): the server closed the connection (%s failed).", s.Line, s.Kind, oe.Op)
			r.closedAt, r.closedBy = s.Line, "the server"
		case netx.KindReset:
			f = report.Newf("script.connection-reset", st.Name, "Line %d (%s): the connection was reset (%s failed).", s.Line, s.Kind, oe.Op)
			r.closedAt, r.closedBy = s.Line, "the server"
		default:
			f = report.Newf("script.network.error", st.Name, "Line %d (%s): %v.", s.Line, s.Kind, oe)
		}
		if oe.Partial != nil {
			f = f.With("reply", oe.Partial.Text, oe.Partial.Seq...)
		}
		if msg := oe.Err.Error(); strings.Contains(msg, "partial line") {
			f = f.With("note", msg)
		}
	}
	r.add(f)
	st.end(report.StatusError, "%v", err)
	r.drop()
	r.stop(s.Line)
}

// expired reports whether the run's own context is over. Its deadline
// may have passed a moment before ctx.Err() says so: the read that failed
// on it can return first.
func expired(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

func (r *runner) interrupted(ctx context.Context, st *stageRun, s *Step) {
	if f, ok := netx.Interrupted(st.Name, ctx.Err()); ok {
		// The user's Ctrl-C: the step is interrupted, not failed.
		r.add(f)
		st.end(report.StatusInterrupted, "line %d (%s) interrupted", s.Line, s.Kind)
		r.drop()
		r.stop(s.Line)
		return
	}
	why := "the overall --timeout expired"
	r.add(report.Newf("script.interrupted", st.Name, "Line %d (%s) did not finish: %s.", s.Line, s.Kind, why))
	st.end(report.StatusError, "%s", why)
	r.drop()
	r.stop(s.Line)
}

// noteReply records a reply's analysis and reports syntax problems.
func (r *runner) noteReply(st *stageRun, s *Step, rp smtpclient.Reply) {
	r.replies = append(r.replies, ReplyFact{Line: s.Line, Stage: st.Name, Reply: rp, Explanation: rp.Explain()})
	if len(rp.Problems) > 0 {
		r.add(report.Newf("script.reply.nonconforming", st.Name, "%s.", strings.Join(rp.Problems, "; ")).With("reply", rp.String(), rp.Seq...))
	}
}

// judge compares an outcome with a step's expectation. On a match it
// returns true and a summary; on a mismatch it adds the finding (code for
// a wrong reply, normally script.expect.mismatch) and returns the stage
// status, stopping the script unless the step says else LEVEL.
func (r *runner) judge(st *stageRun, s *Step, exp *Expectation, out Outcome, code string) (bool, report.Status, string) {
	r.last, r.lastLine = out, s.Line
	summary := describeOutcome(out, r.timeout)
	if exp.Match(out) {
		return true, report.StatusOK, summary
	}
	want := exp.String()
	var f report.Finding
	switch out.Kind {
	case OutcomeNone:
		f = report.Newf("script.timeout", st.Name, "Line %d (%s): no reply within %s; the script expected %s.", s.Line, s.Kind, r.timeout, want)
	case OutcomeClose:
		c := "script.connection-closed"
		if len(out.Reply.Problems) > 0 && out.Reply.Problems[0] == string(netx.KindReset) {
			c = "script.connection-reset"
		}
		f = report.Newf(c, st.Name, "Line %d (%s): the server closed the connection; the script expected %s.", s.Line, s.Kind, want)
	default:
		f = smtpclient.ReplyFinding(code, st.Name, out.Reply)
		f.Detail = fmt.Sprintf("Line %d (%s): expected %s, got %s. %s", s.Line, s.Kind, want, out.Reply.Short(), f.Detail)
	}
	if s.Message != "" {
		f.Detail = sentence(s.Message) + " " + f.Detail
	}
	sev := s.mismatchSeverity()
	f = f.WithSeverity(sev)
	r.add(f)
	summary = fmt.Sprintf("expected %s, got %s", want, summary)
	if s.stopsOnMismatch() {
		r.stop(s.Line)
		if out.Kind == OutcomeReply {
			return false, report.StatusFail, summary
		}
		return false, report.StatusError, summary
	}
	// The script goes on: the stage shows a failure only when the finding
	// is one; a warning or a note is the outcome the script allowed for.
	if sev == report.Fail {
		return false, report.StatusFail, summary
	}
	return false, report.StatusInfo, summary
}

// sentence makes a script's message the first sentence of a detail.
func sentence(m string) string {
	m = strings.TrimSpace(m)
	if m == "" {
		return m
	}
	if c := m[0]; c >= 'a' && c <= 'z' {
		m = string(c-'a'+'A') + m[1:]
	}
	if !strings.HasSuffix(m, ".") && !strings.HasSuffix(m, "!") && !strings.HasSuffix(m, "?") {
		m += "."
	}
	return m
}

// describeOutcome is the one-line form for a stage summary. Refusals carry
// the explanation's summary: the reason a user reads the stage at all.
func describeOutcome(out Outcome, timeout time.Duration) string {
	switch out.Kind {
	case OutcomeNone:
		return fmt.Sprintf("no reply within %s", timeout)
	case OutcomeClose:
		if len(out.Reply.Problems) > 0 && out.Reply.Problems[0] == string(netx.KindReset) {
			return "the server reset the connection"
		}
		return "the server closed the connection"
	}
	s := out.Reply.Short()
	if out.Reply.Class() >= 4 || out.Reply.Class() < 2 {
		s += " — " + out.Reply.Explain().Summary
	}
	return s
}

// ---- steps ----

func (r *runner) pause(ctx context.Context, s *Step) {
	st := r.begin(s)
	d, _ := parseStepDuration(KindPause, r.expand(s, s.Text))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		st.end(report.StatusOK, "waited %s", d)
	case <-ctx.Done():
		r.interrupted(ctx, st, s)
	}
}

// connect dials the target (or the step's address). It does not read the
// greeting: "expect 220" does, so that a greeting delay or a 421/554
// greeting is a step of its own, timed and explained (RFC 5321 §3.1).
func (r *runner) connect(ctx context.Context, s *Step) {
	st := r.begin(s)
	if r.sess != nil {
		r.drop()
	}
	addr := r.expand(s, s.Text)
	host := r.o.Host
	if addr == "" {
		addr = net.JoinHostPort(r.o.Host, strconv.Itoa(r.o.port()))
	} else {
		h, p, err := netx.SplitHostPort(addr, r.o.port())
		if err != nil {
			r.add(report.Newf("script.step.invalid", st.Name, "Line %d: connect %s: %v.", s.Line, addr, err))
			st.end(report.StatusError, "%v", err)
			r.stop(s.Line)
			return
		}
		host, addr = h, net.JoinHostPort(h, strconv.Itoa(p))
	}
	r.serverName = r.o.ServerName
	if r.serverName == "" {
		r.serverName = strings.TrimSuffix(host, ".")
	}
	port := r.o.port()
	if _, p, err := net.SplitHostPort(addr); err == nil {
		port, _ = strconv.Atoi(p)
	}
	mode := r.o.TLSMode
	implicit := s.TLS || mode.Resolve(port) == netx.TLSImplicit
	dopts := smtpclient.DialOptions{Dial: r.o.Dial, Timeouts: r.sessionTimeouts()}
	if implicit {
		dopts.ImplicitTLS = r.tlsConfig()
	}
	sctx, cancel := r.stepContext(ctx)
	defer cancel()
	sess, err := smtpclient.Dial(sctx, addr, r.rec, dopts)
	r.last, r.lastLine, r.caps = Outcome{}, s.Line, nil
	if err != nil {
		if expired(ctx) {
			r.interrupted(ctx, st, s)
			return
		}
		var oe *netx.OpError
		if errors.As(err, &oe) && oe.Op == "tls handshake" {
			r.add(report.Newf("script.tls.failed", st.Name, "Line %d: implicit TLS with %s failed: %s.", s.Line, addr, netx.Describe(oe.Err, oe.Waited)))
		} else {
			waited := r.timeout
			if oe != nil {
				waited = oe.Waited
			}
			r.add(report.Newf("script.connect.failed", st.Name, "Line %d: could not connect to %s: %s.", s.Line, addr, netx.Describe(unwrapOp(err), waited)))
		}
		st.end(report.StatusError, "%s: %v", addr, unwrapOp(err))
		r.stop(s.Line)
		return
	}
	r.sess, r.closedAt = sess, 0
	r.rep.SetFact("connected_to", sess.RemoteAddr().String())
	if !implicit {
		r.greet = &smtpclient.GreetingOptions{Mode: mode, Port: port, TLS: r.tlsConfig(), Dial: r.o.Dial, Timeouts: r.sessionTimeouts()}
	}
	if implicit {
		r.tlsOn = true
		summary := r.certificate(st, false, 0)
		st.end(r.tlsStatus(), "%s, %s", sess.RemoteAddr(), summary)
		return
	}
	st.end(report.StatusOK, "%s", sess.RemoteAddr())
}

func unwrapOp(err error) error {
	var oe *netx.OpError
	if errors.As(err, &oe) {
		return oe.Err
	}
	return err
}

func (r *runner) tlsStatus() report.Status {
	if r.trusted {
		return report.StatusOK
	}
	return report.StatusFail
}

// certificate records TLS facts and judges the certificate (certcheck) at
// the step's stage; it returns a summary.
func (r *runner) certificate(st *stageRun, starttls bool, discarded int) string {
	ts := r.sess.TLS()
	sum := tls.VersionName(ts.Version) + ", " + tls.CipherSuiteName(ts.CipherSuite)
	r.rep.SetFact("tls", map[string]any{"version": tls.VersionName(ts.Version), "cipher": tls.CipherSuiteName(ts.CipherSuite), "implicit": !starttls})
	if discarded > 0 {
		r.add(report.Newf("script.starttls.injection", st.Name, "The server sent %d bytes after its 220 reply to STARTTLS and before the TLS handshake; mailprobe discarded them.", discarded))
	}
	r.add(report.Newf("script.tls.ok", st.Name, "%s.", sum))
	res := certcheck.Stage(*ts, certcheck.StageOptions{
		Options:  certcheck.Options{ServerName: r.serverName, Roots: r.o.RootCAs, Now: r.o.Now(), Stage: st.Name},
		Insecure: r.o.Insecure, SkipReported: true, // RunScript reports it once
	})
	r.add(res.Findings...)
	r.rep.SetFact("certificate", res.Facts)
	r.trusted = res.Trusted
	if len(ts.PeerCertificates) > 0 {
		sum += fmt.Sprintf("; certificate %s, expires %s", res.Facts.Subject, res.Facts.NotAfter.Format("2006-01-02"))
	}
	if !res.Trusted {
		sum += " (not trusted)"
	}
	return sum
}

// send writes a line (send) or exact bytes (sendraw) and reads nothing:
// pairing sends with expects is the script's business, which is what lets
// a script pipeline by hand or send a line no server will answer.
func (r *runner) send(ctx context.Context, s *Step) {
	st := r.begin(s)
	if !r.need(st, s) {
		return
	}
	b := r.expand(s, s.Text)
	if s.Kind == KindSend {
		b += "\r\n"
	}
	sctx, cancel := r.stepContext(ctx)
	defer cancel()
	if err := r.write(sctx, []byte(b)); err != nil {
		r.fail(ctx, st, s, err)
		return
	}
	st.end(report.StatusOK, "%s", r.sent(st))
}

// write sends bytes and makes sure the transcript shows them even when
// they do not end a line (sendraw "\r.\r"), so the stage can cite them.
func (r *runner) write(ctx context.Context, b []byte) error {
	r.greet = nil
	err := r.sess.SendRaw(ctx, b)
	if len(b) > 0 && b[len(b)-1] != '\n' {
		r.sess.Conn().Flush()
	}
	return err
}

// sent summarises the client lines of a stage from the transcript, so that
// the summary is redacted exactly like the transcript is.
func (r *runner) sent(st *stageRun) string {
	var lines []string
	for _, e := range r.rec.Entries() {
		if e.Seq >= st.FirstSeq && e.Dir == transcript.Client {
			l := "C: " + e.Line
			switch e.EOL {
			case "LF":
				l += `\n`
			case "none":
				l += " (no line ending)"
			}
			lines = append(lines, l)
		}
	}
	if len(lines) > 6 {
		lines = append(lines[:5], fmt.Sprintf("... %d more lines", len(lines)-5))
	}
	return strings.Join(lines, "; ")
}

func (r *runner) expect(ctx context.Context, s *Step) {
	st := r.begin(s)
	if r.sess == nil && r.closedBy == "the server" && s.Expect.Close {
		r.last, r.lastLine = Outcome{Kind: OutcomeClose}, s.Line
		st.end(report.StatusOK, "the server had already closed the connection (line %d)", r.closedAt)
		return
	}
	if !r.need(st, s) {
		return
	}
	sctx, cancel := r.stepContext(ctx)
	defer cancel()
	var out Outcome
	var err error
	extra := ""
	if r.greet != nil {
		var done bool
		if out, extra, done, err = r.greeting(ctx, sctx, st, s); done {
			return
		}
	} else {
		out, err = r.read(ctx, sctx)
	}
	if err != nil {
		r.fail(ctx, st, s, err)
		return
	}
	r.finish(st, s, s.Expect, out, "script.expect.mismatch", extra)
}

// greeting is the first read on a plain connection: the greeting, read by
// smtpclient.AwaitGreeting with implicit-TLS detection, as smtp check
// reads it. When the port turns out to speak implicit TLS, the script goes
// on over a new TLS connection (the certificate judged at this step) and
// the expectation is judged on the greeting read inside TLS; with
// --tls starttls the step fails saying which flag fits. done means the
// stage has ended; err is a read failure for fail.
func (r *runner) greeting(ctx, sctx context.Context, st *stageRun, s *Step) (out Outcome, extra string, done bool, err error) {
	o := *r.greet
	r.greet = nil
	o.Wait = r.timeout
	g, err := smtpclient.AwaitGreeting(sctx, r.sess, o)
	if f, ok := g.Finding(st.Name); ok {
		r.add(f)
	}
	switch {
	case g.Expected:
		st.end(report.StatusFail, "no greeting: the port speaks implicit TLS")
		r.drop()
		r.closedAt, r.closedBy = s.Line, "the script"
		r.stop(s.Line)
		return Outcome{}, "", true, nil
	case g.Implicit && g.Session == nil:
		r.sess = nil // AwaitGreeting closed it
		if expired(ctx) {
			r.interrupted(ctx, st, s)
			return Outcome{}, "", true, nil
		}
		r.add(report.Newf("script.tls.failed", st.Name, "Line %d: implicit TLS with %s failed: %s.", s.Line, g.Addr, netx.Describe(unwrapOp(err), r.timeout)))
		st.end(report.StatusError, "implicit TLS: %v", unwrapOp(err))
		r.drop()
		r.stop(s.Line)
		return Outcome{}, "", true, nil
	case g.Implicit:
		r.sess, r.tlsOn = g.Session, true
		extra = "implicit TLS detected: " + r.certificate(st, false, 0)
	}
	if err != nil {
		out, err = r.failure(ctx, err)
		return out, extra, false, err
	}
	return Outcome{Kind: OutcomeReply, Reply: g.Reply}, extra, false, nil
}

// finish judges an outcome and ends the stage; after a close it drops the
// session. It returns whether the expectation was met.
func (r *runner) finish(st *stageRun, s *Step, exp *Expectation, out Outcome, code, extra string) bool {
	if out.Kind == OutcomeReply {
		r.noteReply(st, s, out.Reply)
	}
	if out.Kind == OutcomeClose {
		r.drop()
		r.closedAt, r.closedBy = s.Line, "the server"
	}
	ok, status, summary := r.judge(st, s, exp, out, code)
	if extra != "" {
		summary += "; " + extra
	}
	st.end(status, "%s", summary)
	return ok
}

// command sends one line and reads the answer.
func (r *runner) command(ctx, sctx context.Context, line string) (Outcome, error) {
	if err := r.write(sctx, []byte(line+"\r\n")); err != nil {
		if out, ferr := r.failure(ctx, err); ferr == nil && out.Kind == OutcomeClose {
			return out, nil
		}
		return Outcome{}, err
	}
	return r.read(ctx, sctx)
}

// ehlo sends EHLO and, on 250, keeps the capabilities (RFC 5321
// §4.1.1.1) for require-capability and if-capability. There is no HELO
// fallback: a script that wants one says so with send and expect.
func (r *runner) ehlo(ctx context.Context, s *Step) {
	st := r.begin(s)
	if !r.need(st, s) {
		return
	}
	name := r.expand(s, s.Text)
	if name == "" {
		name = r.vars["HELO"]
	}
	sctx, cancel := r.stepContext(ctx)
	defer cancel()
	out, err := r.command(ctx, sctx, "EHLO "+name)
	if err != nil {
		r.fail(ctx, st, s, err)
		return
	}
	extra := ""
	if out.Kind == OutcomeReply && out.Reply.Code == 250 {
		c := smtpclient.ParseEHLO(out.Reply)
		r.caps = &c
		key := "capabilities"
		if r.tlsOn {
			key = "capabilities_tls"
		}
		r.rep.SetFact(key, c.Keywords)
		extra = "capabilities: " + strings.Join(c.Keywords, " ")
	}
	r.finish(st, s, s.Expect, out, "script.expect.mismatch", extra)
}

// starttls upgrades the connection (RFC 3207) and judges the certificate
// with certcheck. An untrusted certificate fails the stage but not the
// dialogue: probing a server with a bad certificate is legitimate, and auth
// refuses to send a password over it anyway.
func (r *runner) starttls(ctx context.Context, s *Step) {
	st := r.begin(s)
	if !r.need(st, s) {
		return
	}
	if r.tlsOn {
		r.add(report.Newf("script.step.invalid", st.Name, "Line %d: the connection already uses TLS; to probe STARTTLS inside TLS, use send STARTTLS and expect.", s.Line))
		st.end(report.StatusError, "already TLS")
		r.stop(s.Line)
		return
	}
	sctx, cancel := r.stepContext(ctx)
	defer cancel()
	out, err := r.command(ctx, sctx, "STARTTLS")
	if err != nil {
		r.fail(ctx, st, s, err)
		return
	}
	if out.Kind != OutcomeReply || out.Reply.Code != 220 {
		r.finish(st, s, s.Expect, out, "script.expect.mismatch", "")
		return
	}
	r.noteReply(st, s, out.Reply)
	r.last, r.lastLine = out, s.Line
	discarded, err := r.sess.StartTLS(sctx, r.tlsConfig())
	if err != nil {
		if expired(ctx) {
			r.interrupted(ctx, st, s)
			return
		}
		r.add(report.Newf("script.tls.failed", st.Name, "Line %d: TLS handshake after STARTTLS failed: %s.", s.Line, netx.Describe(unwrapOp(err), r.timeout)))
		st.end(report.StatusError, "%v", unwrapOp(err))
		r.drop()
		r.closedAt, r.closedBy = s.Line, "the TLS handshake"
		r.stop(s.Line)
		return
	}
	// RFC 3207 §4.2: the client must discard what it learned before TLS
	// and issue EHLO again.
	r.tlsOn, r.caps = true, nil
	summary := r.certificate(st, true, discarded)
	st.end(r.tlsStatus(), "%s; %s", out.Reply.Short(), summary)
}

// auth logs in with the password from the command line, after checking
// that the connection deserves it (RFC 8314 §3: no cleartext passwords;
// RFC 4954 §4 leaves that to the client). The password was registered with
// the recorder when the run started, so neither the exchange nor a server
// echoing it can put it in the transcript.
func (r *runner) auth(ctx context.Context, s *Step) {
	st := r.begin(s)
	if !r.need(st, s) {
		return
	}
	user := r.expand(s, s.Text)
	if user == "" {
		user = r.vars["USER"]
	}
	why := ""
	switch {
	case r.o.Password == "":
		why = "no password was given (--password-env, --password-file or the prompt)"
	case !r.tlsOn && !r.o.AllowPlaintextAuth:
		why = "the connection is not encrypted (add a starttls step first, or pass --allow-plaintext-auth)"
	case r.tlsOn && !r.trusted && !r.o.Insecure:
		why = "the server's certificate is not trusted, so anyone in the middle could read the password (fix the certificate, pass --ca-file, or --insecure)"
	}
	if why != "" {
		r.add(report.Newf("script.auth.not-attempted", st.Name, "Line %d: AUTH %s as %s was not attempted: %s.", s.Line, s.Name, user, why))
		st.end(report.StatusSkipped, "not attempted: %s", why)
		r.rep.Incomplete = true
		r.stop(s.Line)
		return
	}
	sctx, cancel := r.stepContext(ctx)
	defer cancel()
	rp, err := r.sess.Auth(sctx, s.Name, user, r.o.Password)
	var out Outcome
	if err != nil {
		var oe *netx.OpError
		if !errors.As(err, &oe) {
			// Not a network failure: an unusable challenge (CRAM-MD5).
			r.add(report.Newf("script.auth.failed", st.Name, "Line %d: AUTH %s as %s: %v.", s.Line, s.Name, user, err))
			st.end(report.StatusFail, "%v", err)
			if s.stopsOnMismatch() {
				r.stop(s.Line)
			}
			return
		}
		var ferr error
		if out, ferr = r.failure(ctx, err); ferr != nil {
			r.fail(ctx, st, s, err)
			return
		}
	} else {
		out = Outcome{Kind: OutcomeReply, Reply: rp}
	}
	if r.finish(st, s, s.Expect, out, "script.auth.failed", fmt.Sprintf("AUTH %s as %s", s.Name, user)) {
		r.add(report.Newf("script.auth.ok", st.Name, "AUTH %s as %s accepted.", s.Name, user))
	}
}

// bodyBytes expands the here-document and dot-stuffs it (RFC 5321
// §4.5.2), with CRLF line endings and the terminating ".".
func (r *runner) bodyBytes(s *Step) []byte {
	lines := make([]string, len(s.Body))
	for i, l := range s.Body {
		lines[i] = r.expand(s, l)
	}
	msg := strings.Join(lines, "\r\n")
	if len(lines) > 0 {
		msg += "\r\n"
	}
	return smtpclient.DotStuff([]byte(msg))
}

func (r *runner) data(ctx context.Context, s *Step) {
	st := r.begin(s)
	if !r.need(st, s) {
		return
	}
	sctx, cancel := r.stepContext(ctx)
	defer cancel()
	out, err := r.command(ctx, sctx, "DATA")
	if err != nil {
		r.fail(ctx, st, s, err)
		return
	}
	if out.Kind != OutcomeReply || out.Reply.Code != 354 {
		// RFC 5321 §4.1.1.4: without 354 the body must not be sent.
		r.finish(st, s, expectCode("354"), out, "script.expect.mismatch", "DATA refused; the body was not sent")
		return
	}
	r.noteReply(st, s, out.Reply)
	body := r.bodyBytes(s)
	if err := r.write(sctx, body); err != nil {
		r.fail(ctx, st, s, err)
		return
	}
	out, err = r.read(ctx, sctx)
	if err != nil {
		r.fail(ctx, st, s, err)
		return
	}
	r.finish(st, s, s.Expect, out, "script.expect.mismatch", fmt.Sprintf("%d body lines, %d bytes", len(s.Body), len(body)))
}

func (r *runner) body(ctx context.Context, s *Step) {
	st := r.begin(s)
	if !r.need(st, s) {
		return
	}
	sctx, cancel := r.stepContext(ctx)
	defer cancel()
	body := r.bodyBytes(s)
	if err := r.write(sctx, body); err != nil {
		r.fail(ctx, st, s, err)
		return
	}
	st.end(report.StatusOK, "%d body lines, %d bytes, ended with CRLF.CRLF", len(s.Body), len(body))
}

func (r *runner) quit(ctx context.Context, s *Step) {
	st := r.begin(s)
	if !r.need(st, s) {
		return
	}
	sctx, cancel := r.stepContext(ctx)
	defer cancel()
	out, err := r.command(ctx, sctx, "QUIT")
	if err != nil {
		out = Outcome{Kind: OutcomeClose}
	}
	r.finish(st, s, s.Expect, out, "script.expect.mismatch", "")
	r.drop()
	r.closedAt, r.closedBy = s.Line, "the script"
}

// hasCap evaluates a capability condition against the last EHLO.
func (r *runner) hasCap(s *Step) (bool, string) {
	if r.caps == nil {
		if r.tlsOn {
			return false, "no EHLO since TLS started (RFC 3207 §4.2 discards the earlier capabilities)"
		}
		return false, "no EHLO on this connection yet"
	}
	if !r.caps.Has(s.Name) {
		return false, s.Name + " not advertised"
	}
	if s.Param == "" {
		return true, s.Name + " advertised"
	}
	for _, p := range r.caps.Params[s.Name] {
		if strings.EqualFold(p, s.Param) {
			return true, s.Name + " " + s.Param + " advertised"
		}
	}
	return false, fmt.Sprintf("%s advertised without %s (%s)", s.Name, s.Param, strings.Join(r.caps.Params[s.Name], " "))
}

func (r *runner) requireCap(s *Step) {
	st := r.begin(s)
	ok, why := r.hasCap(s)
	if s.Negate && r.caps != nil {
		ok = !ok
	}
	if ok {
		st.end(report.StatusOK, "%s", why)
		return
	}
	want := s.Name
	if s.Param != "" {
		want += " " + s.Param
	}
	code, detail := "script.capability.missing", fmt.Sprintf("Line %d: the script requires %s: %s.", s.Line, want, why)
	if s.Negate && r.caps != nil {
		code, detail = "script.capability.unwanted", fmt.Sprintf("Line %d: the script requires that %s is not advertised, but it is.", s.Line, want)
	}
	f := report.New(code, st.Name, detail)
	if s.Message != "" {
		f.Detail = sentence(s.Message) + " " + f.Detail
	}
	if r.caps != nil {
		f = f.With("note", "advertised: "+strings.Join(r.caps.Keywords, " "))
	}
	sev := s.mismatchSeverity()
	r.add(f.WithSeverity(sev))
	switch {
	case s.stopsOnMismatch():
		r.stop(s.Line)
		st.end(report.StatusFail, "%s", why)
	case sev == report.Fail:
		st.end(report.StatusFail, "%s", why)
	default:
		st.end(report.StatusInfo, "%s", why)
	}
}

func (r *runner) branch(ctx context.Context, s *Step) {
	st := r.begin(s)
	var cond bool
	var why string
	if s.Kind == KindIfCap {
		cond, why = r.hasCap(s)
	} else {
		cond = s.Expect.Match(r.last)
		if r.lastLine > 0 {
			why = fmt.Sprintf("the answer at line %d was %s", r.lastLine, r.last)
		} else {
			why = "no answer yet"
		}
	}
	if s.Negate {
		cond = !cond
	}
	var run []*Step
	switch {
	case cond:
		run = s.Then
		why += ": running the block"
	case len(s.Otherwise) > 0:
		run = s.Otherwise
		why += ": running the else branch"
	default:
		why += ": skipping the block"
	}
	st.end(report.StatusInfo, "%s", why)
	r.steps(ctx, run)
}

// pipeline writes every send line of the block at once (RFC 2920 §3.1),
// then reads the replies with the block's expect lines, in order.
func (r *runner) pipeline(ctx context.Context, s *Step) {
	st := r.begin(s)
	if !r.need(st, s) {
		return
	}
	var buf []byte
	n := 0
	var expects []*Step
	for _, c := range s.Then {
		switch c.Kind {
		case KindSend:
			buf = append(buf, r.expand(c, c.Text)+"\r\n"...)
			n++
		case KindSendRaw:
			buf = append(buf, r.expand(c, c.Text)...)
			n++
		case KindExpect:
			expects = append(expects, c)
		}
	}
	sctx, cancel := r.stepContext(ctx)
	err := r.write(sctx, buf)
	cancel()
	if err != nil {
		r.fail(ctx, st, s, err)
		return
	}
	st.end(report.StatusOK, "%d commands in one write: %s", n, r.sent(st))
	for _, e := range expects {
		if r.stopped {
			return
		}
		r.expect(ctx, e)
	}
}
