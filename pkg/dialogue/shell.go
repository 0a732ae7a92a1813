package dialogue

// The interactive shell: a telnet for SMTP that explains every reply.
//
// The user types SMTP lines, which are sent as typed (with CRLF); every
// reply comes back with its explanation from the reply-code knowledge
// base. Lines starting with "." are meta-commands (.starttls, .auth, .help
// ...): no SMTP command starts with a dot, and inside a DATA body, where a
// line may, meta-commands are off and the body is sent exactly as typed
// (the user dot-stuffs, as with telnet) until the line ".".
//
// The shell works the same on a pipe as on a terminal, which is what
// makes it testable: on a pipe there is no prompt and each sent line is
// echoed ("C: ...") so that the output reads as a transcript.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/certcheck"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/replycode"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/smtpclient"
	"github.com/mailprobe/mailprobe/pkg/termsafe"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// ShellOptions configure an interactive session.
type ShellOptions struct {
	Host        string
	Port        int  // default 25
	ImplicitTLS bool // TLS before the greeting (port 465)
	// TLSMode is PRODUCT.md's --tls ("" = auto), as in smtp check:
	// implicit (or auto on port 465) connects with TLS; auto on a port
	// netx.MailPorts does not know reads the greeting with implicit-TLS
	// detection (smtpclient.AwaitGreeting) and says in one line when it
	// went on over TLS; starttls says the port wants implicit TLS; none
	// never probes.
	TLSMode netx.TLSMode

	ServerName string
	RootCAs    *x509.CertPool
	Insecure   bool

	// User is the default user of .auth. Password returns the password
	// for a user: from the command's flags, or a prompt without echo. It
	// is called only when .auth runs; nil makes .auth unavailable.
	User               string
	Password           func(user string) (string, error)
	AllowPlaintextAuth bool

	ReplyTimeout time.Duration // how long to wait for each reply; default 30s
	Dial         netx.DialFunc
	Now          func() time.Time

	In  io.Reader
	Out io.Writer
	// Interactive is true on a terminal: a prompt is shown and typed
	// lines are not echoed back.
	Interactive bool
	Style       ShellStyle
	// Scrub removes the run's secrets from a line before it is printed
	// (the CLI's registered passwords); nil: only the session's own
	// recorder's secrets are removed.
	Scrub func(string) string
	// WriteFile saves a session with .save; nil = os.WriteFile.
	WriteFile func(name string, data []byte) error
}

// ShellStyle colours the shell's output; nil functions leave text plain.
type ShellStyle struct {
	Reply  func(code int, s string) string // a server line, by reply code
	Client func(string) string             // an echoed client line
	Note   func(string) string             // explanations and events
	Error  func(string) string             // problems
	Bold   func(string) string
}

func orPlain(f func(string) string) func(string) string {
	if f == nil {
		return func(s string) string { return s }
	}
	return f
}

// ErrShellConnect is returned (wrapped) when the shell could not make its
// first connection: the CLI maps it to exit code 3.
var ErrShellConnect = errors.New("could not connect")

type shell struct {
	o     ShellOptions
	w     io.Writer
	st    ShellStyle
	rec   *transcript.Recorder
	sess  *smtpclient.Session
	tlsOK bool // TLS up and the certificate trusted
	last  *smtpclient.Reply
	lines *lineReader

	// The session as a script, for .save.
	script []string
	inSASL bool // a hand-typed AUTH exchange is going on
}

// RunShell runs the shell until the input ends, .quit, or ctx is done.
func RunShell(ctx context.Context, o ShellOptions) error {
	if o.Port == 0 {
		o.Port = 25
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ReplyTimeout <= 0 {
		o.ReplyTimeout = DefaultStepTimeout
	}
	if o.WriteFile == nil {
		o.WriteFile = func(name string, b []byte) error { return os.WriteFile(name, b, 0o644) }
	}
	st := o.Style
	st.Client, st.Note, st.Error, st.Bold = orPlain(st.Client), orPlain(st.Note), orPlain(st.Error), orPlain(st.Bold)
	if st.Reply == nil {
		st.Reply = func(_ int, s string) string { return s }
	}
	sh := &shell{o: o, w: o.Out, st: st, rec: transcript.New(o.Now)}
	sh.lines = newLineReader(o.In)
	defer sh.lines.close()
	sh.printf("%s\n", st.Note("mailprobe smtp shell: type SMTP commands; .help lists the shell's own commands, .quit ends."))
	if err := sh.connect(ctx, o.ImplicitTLS); err != nil {
		return err
	}
	defer func() {
		if sh.sess != nil {
			sh.sess.Close()
		}
	}()
	for {
		if o.Interactive {
			sh.printf("%s", st.Bold("> "))
		}
		line, ok, interrupted := sh.lines.next(ctx)
		if interrupted {
			sh.printf("\n%s\n", st.Note("* interrupted"))
			return nil
		}
		if !ok {
			// End of input: leave politely, as a user typing QUIT would.
			if sh.sess != nil {
				sh.quit(ctx)
			}
			return nil
		}
		if strings.HasPrefix(line, ".") {
			if done := sh.meta(ctx, line); done {
				return nil
			}
			continue
		}
		sh.send(ctx, line)
	}
}

// lineReader reads input lines on demand, in a goroutine so that an
// interrupt does not wait for a line a terminal may never send. It never
// reads ahead: while .auth prompts for a password, no read of the shell's
// is pending on the terminal to swallow what the user types.
type lineReader struct {
	req  chan struct{}
	resp chan lineResult
	done chan struct{}
}

type lineResult struct {
	line string
	ok   bool
}

func newLineReader(in io.Reader) *lineReader {
	lr := &lineReader{req: make(chan struct{}), resp: make(chan lineResult), done: make(chan struct{})}
	go func() {
		br := bufio.NewReader(in)
		eof := false
		for {
			select {
			case <-lr.req:
			case <-lr.done:
				return
			}
			var r lineResult
			if !eof {
				l, err := br.ReadString('\n')
				eof = err != nil
				if l != "" || !eof {
					r = lineResult{strings.TrimRight(l, "\r\n"), true}
				}
			}
			select {
			case lr.resp <- r:
			case <-lr.done:
				return
			}
		}
	}()
	return lr
}

// close lets the reader's goroutine end (at once when it is idle, after
// the read it is blocked in otherwise).
func (lr *lineReader) close() { close(lr.done) }

// next returns the next line; ok is false at the end of the input, and
// interrupted when ctx ended first.
func (lr *lineReader) next(ctx context.Context) (line string, ok, interrupted bool) {
	select {
	case lr.req <- struct{}{}:
	case <-ctx.Done():
		return "", false, true
	}
	select {
	case r := <-lr.resp:
		return r.line, r.ok, false
	case <-ctx.Done():
		return "", false, true
	}
}

// printf is the one way the shell prints: whatever it prints is scrubbed
// of every secret the session's recorder and the command know (a hostile
// server can put the credentials it was sent into any reply or error).
// What a server or the user supplied is made terminal-safe before it is
// styled (safe), since styling adds escapes of its own.
func (sh *shell) printf(format string, args ...any) {
	_, _ = io.WriteString(sh.w, sh.scrub(fmt.Sprintf(format, args...)))
}

func (sh *shell) scrub(s string) string {
	s = sh.rec.Scrub(s)
	if sh.o.Scrub != nil {
		s = sh.o.Scrub(s)
	}
	return s
}

// safe prepares one line of server- or user-supplied text for the
// terminal: secrets removed first (an escaped secret would no longer
// match), then every control, C1 and bidi character escaped.
func (sh *shell) safe(s string) string { return termsafe.Line(sh.scrub(s)) }

func (sh *shell) event(format string, args ...any) {
	sh.printf("%s\n", sh.st.Note("* "+sh.safe(fmt.Sprintf(format, args...))))
}

func (sh *shell) problem(format string, args ...any) {
	sh.printf("%s\n", sh.st.Error("! "+sh.safe(fmt.Sprintf(format, args...))))
}

func (sh *shell) addr() string { return net.JoinHostPort(sh.o.Host, strconv.Itoa(sh.o.Port)) }

func (sh *shell) serverName() string {
	if sh.o.ServerName != "" {
		return sh.o.ServerName
	}
	return strings.TrimSuffix(sh.o.Host, ".")
}

func (sh *shell) tlsConfig() *tls.Config {
	return &tls.Config{ServerName: sh.serverName(), InsecureSkipVerify: true, MinVersion: tls.VersionTLS10} //nolint:gosec // verified by certcheck
}

func (sh *shell) timeouts() netx.Timeouts {
	t := sh.o.ReplyTimeout
	return netx.Timeouts{Connect: t, Banner: t, Command: t, TLS: t, Data: t}
}

// connect opens a connection (implicit TLS when asked, or when the mode
// says so for the port) and shows the greeting.
func (sh *shell) connect(ctx context.Context, implicit bool) error {
	implicit = implicit || sh.o.TLSMode.Resolve(sh.o.Port) == netx.TLSImplicit
	o := smtpclient.DialOptions{Dial: sh.o.Dial, Timeouts: sh.timeouts()}
	if implicit {
		o.ImplicitTLS = sh.tlsConfig()
	}
	s, err := smtpclient.Dial(ctx, sh.addr(), sh.rec, o)
	if err != nil {
		sh.problem("%s: %v", sh.addr(), err)
		return fmt.Errorf("%w to %s: %v", ErrShellConnect, sh.addr(), unwrapOp(err))
	}
	sh.sess, sh.tlsOK, sh.inSASL = s, false, false
	sh.event("connected to %s", s.RemoteAddr())
	if implicit {
		sh.script = append(sh.script, "connect tls")
		sh.showTLS(0)
		sh.readReply(ctx)
		return nil
	}
	g, err := smtpclient.AwaitGreeting(ctx, s, smtpclient.GreetingOptions{Mode: sh.o.TLSMode, Port: sh.o.Port, Wait: sh.o.ReplyTimeout,
		TLS: sh.tlsConfig(), Dial: sh.o.Dial, Timeouts: sh.timeouts()})
	switch {
	case g.Expected:
		// --tls starttls, but the server waits for a ClientHello: nothing
		// typed could ever be answered on this connection.
		sh.problem("%s", g.Notice())
		sh.sess.Close()
		sh.sess = nil
		return fmt.Errorf("%w to %s: %s", ErrShellConnect, sh.addr(), g.Notice())
	case g.Implicit && g.Session == nil:
		sh.sess = nil // AwaitGreeting closed it
		sh.event("%s", g.Notice())
		sh.problem("implicit TLS with %s: %v", sh.addr(), err)
		return fmt.Errorf("%w to %s: implicit TLS: %v", ErrShellConnect, sh.addr(), unwrapOp(err))
	case g.Implicit:
		sh.sess = g.Session
		sh.event("%s", g.Notice())
		sh.script = append(sh.script, "connect tls")
		sh.showTLS(0)
	default:
		sh.script = append(sh.script, "connect")
	}
	sh.showReply(ctx, g.Reply, err)
	return nil
}

// send writes one typed line and shows the reply; after a DATA that got
// 354 it sends the typed body. Every line gets exactly one reply read for
// it: the shell is synchronous, like the protocol (RFC 5321 §4.3), so a
// reply is always shown under the line that caused it. A line typed by
// hand inside an AUTH exchange is never saved into a script: the recorder
// redacts it in the transcript, and inSASL keeps it out of .save.
func (sh *shell) send(ctx context.Context, line string) {
	if sh.sess == nil {
		sh.problem("not connected: .connect opens a new connection, .quit ends the shell")
		return
	}
	first := sh.rec.Seq() + 1
	if err := sh.sess.Send(ctx, line); err != nil {
		sh.echo(first)
		sh.lost(err)
		return
	}
	sh.echo(first)
	word := strings.ToUpper(strings.Fields(line + " x")[0])
	switch {
	case word == "AUTH":
		sh.inSASL = true
		sh.script = append(sh.script, "# A hand-typed AUTH exchange was left out: it carries credentials. Use auth MECH instead.")
	case sh.inSASL:
	default:
		sh.script = append(sh.script, "send "+quoteSend(line))
	}
	rp, ok := sh.readReply(ctx)
	if sh.inSASL && (!ok || rp.Code != 334) {
		sh.inSASL = false
	}
	if ok && word == "DATA" && rp.Code == 354 {
		sh.body(ctx)
	}
}

// echo shows the client lines recorded from seq on (redacted as the
// transcript is), when the input is not a terminal.
func (sh *shell) echo(from int) {
	if sh.o.Interactive {
		return
	}
	for _, e := range sh.rec.Entries() {
		if e.Seq >= from && e.Dir == transcript.Client {
			sh.printf("%s\n", sh.st.Client("C: "+sh.safe(e.Line)))
		}
	}
}

// body sends typed lines as the message until the line ".".
func (sh *shell) body(ctx context.Context) {
	if sh.o.Interactive {
		sh.event("enter the message; end it with a line holding only \".\" (lines starting with a dot: type two dots)")
	}
	var saved []string
	for {
		line, ok, interrupted := sh.lines.next(ctx)
		if interrupted {
			return
		}
		if !ok {
			line = "." // end of input ends the message too
		}
		first := sh.rec.Seq() + 1
		if err := sh.sess.Send(ctx, line); err != nil {
			sh.lost(err)
			return
		}
		if line == "." {
			sh.echo(first)
			break
		}
		if !sh.o.Interactive && len(saved) < 3 {
			sh.echo(first)
		}
		// The typed line is dot-stuffed (RFC 5321 §4.5.2); the
		// script's body step stuffs by itself, so save the line as the
		// recipient will see it.
		saved = append(saved, quoteBody(strings.TrimPrefix(line, ".")))
	}
	if !sh.o.Interactive && len(saved) > 3 {
		sh.printf("%s\n", sh.st.Note(fmt.Sprintf("   (%d more body lines)", len(saved)-3)))
	}
	// A body holding a line "." needs another terminator.
	term := "."
	for _, l := range saved {
		if strings.TrimSpace(l) == "." {
			term = "END_OF_BODY"
		}
	}
	if term == "." {
		sh.script = append(sh.script, "body")
	} else {
		sh.script = append(sh.script, "body <<"+term)
	}
	sh.script = append(sh.script, saved...)
	sh.script = append(sh.script, term)
	sh.readReply(ctx)
}

// readReply waits for one reply and prints it with its explanation.
func (sh *shell) readReply(ctx context.Context) (smtpclient.Reply, bool) {
	rp, err := sh.sess.ReadReply(ctx, sh.o.ReplyTimeout)
	return sh.showReply(ctx, rp, err)
}

// showReply prints a reply read (or the failure to read one) and notes it
// for .save.
func (sh *shell) showReply(ctx context.Context, rp smtpclient.Reply, err error) (smtpclient.Reply, bool) {
	if err != nil {
		var oe *netx.OpError
		if errors.As(err, &oe) && oe.Kind() == netx.KindTimeout && oe.Partial == nil && ctx.Err() == nil {
			sh.event("no reply within %s (.timeout DURATION waits longer)", sh.o.ReplyTimeout)
			sh.script = append(sh.script, "expect none")
			return smtpclient.Reply{}, false
		}
		if oe != nil && oe.Partial != nil {
			sh.printReply(rp) // the reply read before the error
		}
		sh.lost(err)
		return smtpclient.Reply{}, false
	}
	sh.printReply(rp)
	sh.last = &rp
	if !sh.inSASL {
		// A hand-typed AUTH exchange is left out of a saved script (it
		// carries credentials), and so are the replies to it: replayed
		// without their commands they could never match.
		sh.script = append(sh.script, fmt.Sprintf("expect %03d", rp.Code))
	}
	return rp, true
}

// lost reports a connection that can no longer be used.
func (sh *shell) lost(err error) {
	var oe *netx.OpError
	switch {
	case errors.As(err, &oe) && (oe.Kind() == netx.KindClosed || oe.Kind() == netx.KindReset):
		sh.event("%s", netx.Describe(oe.Err, oe.Waited))
		sh.script = append(sh.script, "expect close")
	default:
		sh.problem("%v", err)
	}
	if sh.sess != nil {
		sh.sess.Close()
		sh.sess = nil
	}
	sh.event("disconnected: .connect opens a new connection, .quit ends the shell")
}

func (sh *shell) printReply(rp smtpclient.Reply) {
	for _, l := range strings.Split(rp.String(), "\n") {
		sh.printf("%s\n", sh.st.Reply(rp.Code, "S: "+sh.safe(l)))
	}
	ex := rp.Explain()
	sh.printf("%s\n", sh.st.Note("   = "+sh.safe(ex.Summary)))
	if rp.Class() >= 4 {
		if ex.Cause != "" {
			sh.printf("%s\n", sh.st.Note("   cause: "+sh.safe(ex.Cause)))
		}
		if ex.Fix != "" {
			sh.printf("%s\n", sh.st.Note("   fix:   "+sh.safe(ex.Fix)))
		}
	}
	for _, p := range rp.Problems {
		sh.problem("reply: %s", p)
	}
}

// ---- meta-commands ----

const shellHelp = `Type SMTP commands (EHLO, MAIL FROM:<...>, RCPT TO:<...>, DATA, RSET, QUIT...);
each reply is shown with its explanation. After DATA and a 354 reply, type the
message and end it with a line holding only ".".

  .starttls              upgrade to TLS and check the certificate; send EHLO again after it
  .auth MECH [USER]      log in with PLAIN, LOGIN, CRAM-MD5 or XOAUTH2; the password is
                         prompted for without echo (or taken from --password-env/-file)
  .explain [CODE [X.Y.Z] [TEXT]]
                         explain the last reply in full, or the reply given
  .transcript            show the session so far (credentials redacted)
  .save FILE             save the session as a script for mailprobe smtp script
  .timeout DURATION      how long to wait for each reply (now %s)
  .connect [tls]         connect again after the server closed the connection
  .help                  this text
  .quit                  send QUIT and leave (end of input does the same)
`

// meta runs a meta-command; it returns true when the shell should end.
func (sh *shell) meta(ctx context.Context, line string) bool {
	f := strings.Fields(line)
	cmd, args := strings.ToLower(f[0]), f[1:]
	switch cmd {
	case ".help", ".h", ".?":
		sh.printf(shellHelp, sh.o.ReplyTimeout)
	case ".quit", ".exit", ".q":
		if sh.sess != nil {
			sh.quit(ctx)
		}
		return true
	case ".starttls":
		sh.starttls(ctx)
	case ".auth":
		sh.auth(ctx, args)
	case ".explain":
		sh.explain(args)
	case ".transcript":
		sh.transcript()
	case ".save":
		if len(args) != 1 {
			sh.problem(".save FILE")
			break
		}
		if err := sh.o.WriteFile(args[0], []byte(sh.saved())); err != nil {
			sh.problem("%v", err)
			break
		}
		sh.event("saved the session as a script in %s (run it with mailprobe smtp script %s %s)", args[0], args[0], sh.addr())
	case ".timeout":
		d, err := time.ParseDuration(strings.Join(args, ""))
		if err != nil || d < MinTimeout || d > MaxTimeout {
			sh.problem(".timeout DURATION: between %s and %s, such as 5s or 2m", MinTimeout, MaxTimeout)
			break
		}
		sh.o.ReplyTimeout = d
		sh.event("replies are now awaited for %s", d)
	case ".connect":
		if sh.sess != nil {
			sh.sess.Close()
			sh.sess = nil
		}
		_ = sh.connect(ctx, len(args) > 0 && strings.EqualFold(args[0], "tls"))
	default:
		sh.problem("unknown shell command %s: .help lists them (SMTP commands are typed without a dot)", f[0])
	}
	return false
}

func (sh *shell) quit(ctx context.Context) {
	first := sh.rec.Seq() + 1
	if err := sh.sess.Send(ctx, "QUIT"); err != nil {
		sh.lost(err)
		return
	}
	sh.echo(first)
	sh.script = append(sh.script, "quit")
	if rp, err := sh.sess.ReadReply(ctx, 5*time.Second); err == nil {
		sh.printReply(rp)
	}
	sh.sess.Close()
	sh.sess = nil
	sh.event("connection closed")
}

func (sh *shell) starttls(ctx context.Context) {
	if sh.sess == nil {
		sh.problem("not connected")
		return
	}
	if sh.sess.TLS() != nil {
		sh.problem("the connection already uses TLS")
		return
	}
	first := sh.rec.Seq() + 1
	if err := sh.sess.Send(ctx, "STARTTLS"); err != nil {
		sh.lost(err)
		return
	}
	sh.echo(first)
	n := len(sh.script)
	rp, ok := sh.readReply(ctx)
	if !ok || rp.Code != 220 {
		sh.script = append(sh.script[:n], "send STARTTLS")
		if ok {
			sh.script = append(sh.script, fmt.Sprintf("expect %03d", rp.Code))
		}
		return
	}
	sh.script = append(sh.script[:n], "starttls")
	discarded, err := sh.sess.StartTLS(ctx, sh.tlsConfig())
	if err != nil {
		sh.lost(err)
		return
	}
	sh.showTLS(discarded)
	sh.event("send EHLO again: the server forgets what was said before TLS (RFC 3207 §4.2)")
}

// showTLS prints the TLS parameters and the certificate's judgement.
func (sh *shell) showTLS(discarded int) {
	ts := sh.sess.TLS()
	sh.event("TLS: %s, %s", tls.VersionName(ts.Version), tls.CipherSuiteName(ts.CipherSuite))
	if discarded > 0 {
		sh.problem("the server sent %d bytes after 220 and before the handshake; they were discarded (RFC 3207 §4.2, CVE-2011-0411)", discarded)
	}
	res := certcheck.Stage(*ts, certcheck.StageOptions{
		Options:  certcheck.Options{ServerName: sh.serverName(), Roots: sh.o.RootCAs, Now: sh.o.Now()},
		Insecure: sh.o.Insecure, SkipReported: true, // the shell says so when it sends AUTH
	})
	if len(ts.PeerCertificates) > 0 {
		sh.event("certificate: %s, issued by %s, expires %s", res.Facts.Subject, res.Facts.Issuer, res.Facts.NotAfter.Format("2006-01-02"))
	}
	for _, f := range res.Findings {
		if f.Severity > report.Info {
			sh.problem("%s: %s", f.Title, f.Detail)
		}
	}
	sh.tlsOK = res.Trusted
	if res.Trusted {
		sh.event("certificate trusted for %s", sh.serverName())
	}
}

func (sh *shell) auth(ctx context.Context, args []string) {
	if sh.sess == nil {
		sh.problem("not connected")
		return
	}
	if len(args) == 0 || len(args) > 2 {
		sh.problem(".auth MECH [USER]: MECH is PLAIN, LOGIN, CRAM-MD5 or XOAUTH2")
		return
	}
	mech := strings.ToUpper(args[0])
	switch mech {
	case "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2":
	default:
		sh.problem("unknown mechanism %s: PLAIN, LOGIN, CRAM-MD5 or XOAUTH2", args[0])
		return
	}
	user := sh.o.User
	if len(args) == 2 {
		user = args[1]
	}
	switch {
	case user == "":
		sh.problem(".auth %s USER: no user name (give one, or start the shell with --user)", mech)
		return
	case sh.sess.TLS() == nil && !sh.o.AllowPlaintextAuth:
		sh.problem("the connection is not encrypted: run .starttls first (or start the shell with --allow-plaintext-auth)")
		return
	case sh.sess.TLS() != nil && !sh.tlsOK && !sh.o.Insecure:
		sh.problem("the certificate is not trusted, so the password could be read in the middle: fix it, pass --ca-file, or start the shell with --insecure")
		return
	case sh.o.Password == nil:
		sh.problem("no way to read a password here")
		return
	}
	pw, err := sh.o.Password(user)
	if err != nil {
		sh.problem("%v", err)
		return
	}
	first := sh.rec.Seq() + 1
	rp, err := sh.sess.Auth(ctx, mech, user, pw)
	final := sh.rec.Seq() + 1
	if len(rp.Seq) > 0 {
		final = rp.Seq[0]
	}
	sh.echoExchange(first, final)
	if err != nil {
		var oe *netx.OpError
		if errors.As(err, &oe) {
			sh.lost(err)
			return
		}
		sh.problem("%v", err)
		return
	}
	sh.printReply(rp)
	sh.last = &rp
	line := "auth " + mech
	if user != sh.o.User {
		line += " as " + quoteBody(user)
	}
	if rp.Code != 235 {
		line += " else fail"
	}
	sh.script = append(sh.script, line)
}

// echoExchange shows a whole SASL exchange from the transcript (client and
// intermediate server lines, redacted), when the input is not a terminal.
// The final reply (from seq final on) is printed by the caller.
func (sh *shell) echoExchange(from, final int) {
	if sh.o.Interactive {
		return
	}
	for _, e := range sh.rec.Entries() {
		if e.Seq < from || e.Seq >= final {
			continue
		}
		switch e.Dir {
		case transcript.Client:
			sh.printf("%s\n", sh.st.Client("C: "+sh.safe(e.Line)))
		case transcript.Server:
			sh.printf("%s\n", sh.st.Reply(334, "S: "+sh.safe(e.Line)))
		}
	}
}

func (sh *shell) explain(args []string) {
	var ex replycode.Explanation
	switch {
	case len(args) == 0 && sh.last == nil:
		sh.problem("no reply yet: .explain CODE [X.Y.Z] [TEXT] explains any reply")
		return
	case len(args) == 0:
		ex = sh.last.Explain()
	default:
		code, err := strconv.Atoi(args[0])
		if err != nil {
			sh.problem(".explain CODE [X.Y.Z] [TEXT]: %q is not a reply code", args[0])
			return
		}
		enh, text := "", strings.Join(args[1:], " ")
		if len(args) > 1 {
			if _, _, _, ok := replycode.ParseEnhanced(args[1]); ok {
				enh, text = args[1], strings.Join(args[2:], " ")
			}
		}
		ex = replycode.Explain(code, enh, text)
	}
	row := func(k, v string) {
		if v != "" {
			sh.printf("  %-10s %s\n", k+":", sh.safe(v))
		}
	}
	head := strconv.Itoa(ex.Code)
	if ex.Enhanced != "" {
		head += " " + ex.Enhanced
	}
	sh.printf("%s\n", sh.st.Bold(sh.safe(head+" ("+ex.Class+")")))
	row("meaning", ex.Meaning)
	if ex.EnhancedMeaning != "" {
		row("enhanced", ex.EnhancedSubject+": "+ex.EnhancedMeaning)
	}
	row("provider", ex.Provider)
	row("summary", ex.Summary)
	row("cause", ex.Cause)
	row("fix", ex.Fix)
	row("see", strings.Join(ex.Refs, "; "))
	for _, n := range ex.Notes {
		row("note", n)
	}
}

func (sh *shell) transcript() {
	for _, e := range sh.rec.Entries() {
		line := fmt.Sprintf("  #%-4d %8.1fms  %s: %s", e.Seq, float64(e.T.Microseconds())/1000, e.Dir, sh.safe(e.Line))
		if e.EOL != "" {
			line += "  [" + e.EOL + "]"
		}
		if e.TLS {
			line += "  [tls]"
		}
		sh.printf("%s\n", line)
	}
}

// saved renders the session as a script.
func (sh *shell) saved() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Saved by mailprobe smtp shell on %s from a session with %s.\n", sh.o.Now().UTC().Format(time.RFC3339), sh.addr())
	b.WriteString("# Run it again with: mailprobe smtp script FILE HOST[:PORT]\n")
	if sh.o.User != "" {
		b.WriteString("# It logs in: give --user and --password-env (or answer the prompt).\n")
	}
	b.WriteString("\n")
	for _, l := range sh.script {
		b.WriteString(l + "\n")
	}
	return b.String()
}
