package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailprobe/mailprobe/pkg/capture"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/render"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/smtpprobe"
	"github.com/mailprobe/mailprobe/pkg/termsafe"
)

type captureOptions struct {
	resolverFlags
	NoColor       bool
	SMTP, IMAP    string
	Hostname      string
	Auth          string
	PasswordEnv   string
	PasswordFile  string
	AuthNeedsTLS  bool
	Format        string
	RejectRcpt    string
	TempFail      string
	Delay         time.Duration
	DropAfterData bool
	Store         string
	MaxMessages   int
	Expect        string

	HTTP             string
	HTTPAuth         string
	HTTPPasswordEnv  string
	HTTPPasswordFile string

	ReleaseSMTP         string
	ReleaseTLS          string
	ReleaseCAFile       string
	ReleaseServerName   string
	ReleaseInsecure     bool
	ReleaseUser         string
	ReleasePasswordEnv  string
	ReleasePasswordFile string
	CAOut               string
	MaxSize             int64
	Count               int
	NoDNS               bool
	MaxConns            int
	IdleTimeout         time.Duration
	DataTimeout         time.Duration
}

func newCaptureCmd(env *Env) *cobra.Command {
	o := &captureOptions{}
	c := &cobra.Command{
		Use:   "capture",
		Short: "Run a local mail sink for apps in development: web view, HTTP API, reset-link extraction",
		Long: `Accept mail from an app in development on a local SMTP port (STARTTLS and
AUTH offered; any credentials unless --auth), print each message as it
arrives with its analysis (DKIM/SPF/DMARC, parts, links, headers; for a
reset email also the link or code, HTTPS, token strength and expiry), and
serve the messages over IMAP so the app's tests can read them (log in with
any user name and password, or with the --auth credentials).

--http 127.0.0.1:8025 adds a web view (http://127.0.0.1:8025/, updated
live) and a JSON API for end-to-end tests: GET /api/v1/messages/wait?to=…
&subject=…&timeout=30s answers the message with its reset link as soon as
it arrives (see docs/capture.md). A non-loopback --http needs --http-auth.

The reset-email checks apply to messages that look like one (subject or
text about a password reset or sign-in code), or to all with --expect
reset; every message gets the generic checks.

Fault injection tests how the app handles a server that says no:
--reject-rcpt 550:5.1.1 answers every RCPT with that reply, --tempfail
451:4.7.1 answers the end of DATA with it, --delay 5s waits before
answering DATA, --drop-after-data closes the connection without an answer.

The certificate is made fresh at start by a throw-away CA; --ca-out writes
that CA so the app can verify it. Stop with Ctrl-C: messages already
acknowledged are kept (--store DIR writes each as an .eml before the 250,
and a restart with the same --store serves them again). At most
--max-messages are kept; the oldest is dropped, and counted, for each new
one over.`,
		Example: `  mailprobe capture --http 127.0.0.1:8025
  mailprobe capture
  mailprobe capture --smtp 127.0.0.1:2525 --imap 127.0.0.1:2143 --format json > mail.jsonl
  mailprobe capture --auth app --password-env SINK_PASSWORD --store ./mail
  mailprobe capture --reject-rcpt 550:5.1.1 --delay 3s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd, env) },
	}
	f := c.Flags()
	f.StringVar(&o.SMTP, "smtp", "127.0.0.1:1025", "SMTP listen address")
	f.StringVar(&o.IMAP, "imap", "127.0.0.1:1143", "IMAP listen address")
	f.StringVar(&o.Hostname, "hostname", "localhost", "name in the banner, the certificate and Authentication-Results")
	f.StringVar(&o.Auth, "auth", "", "require these credentials for SMTP AUTH and IMAP LOGIN: USER (password from --password-env/--password-file) or USER:PASSWORD (throw-away development credentials only)")
	f.StringVar(&o.PasswordEnv, "password-env", "", "with --auth USER: read the password from this environment variable")
	f.StringVar(&o.PasswordFile, "password-file", "", "with --auth USER: read the password from the first line of this file")
	f.BoolVar(&o.AuthNeedsTLS, "auth-needs-tls", false, "refuse AUTH and LOGIN before STARTTLS, like a production server")
	f.StringVar(&o.Format, "format", "text", "how each message is printed: text, or json (one JSON object per line, for tests)")
	completeValues(c, "format", "text", "json")
	aliasBoolTo(c, env, "json", "format", "json")
	f.StringVar(&o.RejectRcpt, "reject-rcpt", "", "answer every RCPT with CODE[:ENHANCED[:TEXT]], e.g. 550:5.1.1")
	f.StringVar(&o.TempFail, "tempfail", "", "answer the end of DATA with CODE[:ENHANCED[:TEXT]], e.g. 451:4.7.1")
	f.DurationVar(&o.Delay, "delay", 0, "wait this long before answering the end of DATA")
	f.BoolVar(&o.DropAfterData, "drop-after-data", false, "read the message, then close the connection without answering")
	f.StringVar(&o.Store, "store", "", "write every accepted message to this directory as .eml")
	f.IntVar(&o.MaxMessages, "max-messages", capture.DefaultMaxMessages, "messages kept in memory, over IMAP and HTTP; the oldest is dropped (and counted) for each new one over")
	f.StringVar(&o.Expect, "expect", "", "judge every message as this kind: reset (a missing reset link is a failure); default: by the message's subject and text")
	completeValues(c, "expect", "reset")
	f.StringVar(&o.CAOut, "ca-out", "", "write the throw-away CA certificate (PEM) here, for clients that verify TLS")
	f.Int64Var(&o.MaxSize, "max-size", 25<<20, "largest message accepted, in bytes (SIZE)")
	f.IntVar(&o.MaxConns, "max-conns", capture.DefaultMaxConns, "connections open at once on each port; the next one gets 421 4.7.0 (IMAP: BYE) and is closed")
	f.DurationVar(&o.IdleTimeout, "idle-timeout", capture.DefaultIdleTimeout, "close an SMTP client (421 4.4.2) that sends no command for this long")
	f.DurationVar(&o.DataTimeout, "data-timeout", capture.DefaultDataTimeout, "close an SMTP client (421 4.4.2) that has not finished its message this long after DATA; nothing is stored")
	f.IntVar(&o.Count, "count", 0, "exit after this many messages (0: run until interrupted)")
	f.BoolVar(&o.NoDNS, "no-dns", false, "do not look up DKIM keys, SPF and DMARC records in DNS (results say not checked)")
	f.BoolVar(&o.NoColor, "no-color", false, "never colour the output")
	f.StringVar(&o.HTTP, "http", "", "serve the HTTP API and the web view on this address, e.g. 127.0.0.1:8025 (off by default)")
	f.StringVar(&o.HTTPAuth, "http-auth", "", "require this user name (HTTP Basic) on the API and the web view; the password from --http-password-env or --http-password-file. Required when --http is not loopback")
	f.StringVar(&o.HTTPPasswordEnv, "http-password-env", "", "with --http-auth: read the password from this environment variable")
	f.StringVar(&o.HTTPPasswordFile, "http-password-file", "", "with --http-auth: read the password from the first line of this file")
	f.StringVar(&o.ReleaseSMTP, "release-smtp", "", "the SMTP server HOST:PORT that POST /api/v1/messages/{id}/release sends a captured message to")
	f.StringVar(&o.ReleaseTLS, "release-tls", "auto", "TLS toward the release server: auto, starttls, implicit or none")
	completeValues(c, "release-tls", netx.TLSModes...)
	f.StringVar(&o.ReleaseCAFile, "release-ca-file", "", "PEM file of CA certificates to trust for the release server")
	f.StringVar(&o.ReleaseServerName, "release-servername", "", "name to expect in the release server's certificate and send as SNI (default: its host)")
	f.BoolVar(&o.ReleaseInsecure, "release-insecure", false, "do not require a trusted certificate from the release server")
	f.StringVar(&o.ReleaseUser, "release-user", "", "AUTH user name at the release server (password from --release-password-env or --release-password-file)")
	f.StringVar(&o.ReleasePasswordEnv, "release-password-env", "", "with --release-user: read the password from this environment variable")
	f.StringVar(&o.ReleasePasswordFile, "release-password-file", "", "with --release-user: read the password from the first line of this file")
	addResolverFlags(c, &o.resolverFlags)
	return c
}

// httpOptions checks the HTTP flags: a non-loopback address needs
// credentials, and the password never comes from a flag value.
func (o *captureOptions) httpOptions(env *Env) (capture.HTTPOptions, error) {
	ho := capture.HTTPOptions{Addr: o.HTTP, Version: Version}
	if o.HTTP == "" {
		if o.HTTPAuth != "" || o.HTTPPasswordEnv != "" || o.HTTPPasswordFile != "" || o.ReleaseSMTP != "" {
			return ho, usageErrorf("--http-auth, --http-password-env/-file and --release-smtp need --http ADDR")
		}
		return ho, nil
	}
	if _, _, err := net.SplitHostPort(o.HTTP); err != nil {
		return ho, usageErrorf("--http %q: want HOST:PORT, e.g. 127.0.0.1:8025", o.HTTP)
	}
	if o.HTTPAuth != "" {
		if strings.Contains(o.HTTPAuth, ":") {
			return ho, usageErrorf("--http-auth takes only the user name; the password comes from --http-password-env or --http-password-file")
		}
		if o.HTTPPasswordEnv == "" && o.HTTPPasswordFile == "" {
			return ho, usageErrorf("--http-auth %s: give the password with --http-password-env VAR or --http-password-file FILE", o.HTTPAuth)
		}
		cf := credFlags{User: o.HTTPAuth, PasswordEnv: o.HTTPPasswordEnv, PasswordFile: o.HTTPPasswordFile}
		pw, err := cf.resolve(env)
		if err != nil {
			return ho, err
		}
		if len(pw) < 8 {
			return ho, usageErrorf("--http-auth: the password is shorter than 8 characters")
		}
		ho.User, ho.Password = o.HTTPAuth, pw
	} else if o.HTTPPasswordEnv != "" || o.HTTPPasswordFile != "" {
		return ho, usageErrorf("--http-password-env/--http-password-file need --http-auth USER")
	}
	if !capture.IsLoopback(o.HTTP) && ho.User == "" {
		return ho, usageErrorf("--http %s is not a loopback address: captured mail holds live reset tokens, so add --http-auth USER with --http-password-env or --http-password-file", o.HTTP)
	}
	if o.ReleaseSMTP != "" {
		host, port, err := netx.SplitHostPort(o.ReleaseSMTP, 25)
		if err != nil {
			return ho, usageErrorf("--release-smtp %q: want HOST:PORT", o.ReleaseSMTP)
		}
		mode, err := netx.ParseTLSMode(o.ReleaseTLS)
		if err != nil {
			return ho, usageErrorf("--release-tls: %v", err)
		}
		tf := tlsFlags{CAFile: o.ReleaseCAFile, Insecure: o.ReleaseInsecure}
		pool, err := tf.pool()
		if err != nil {
			return ho, err
		}
		cf := credFlags{User: o.ReleaseUser, PasswordEnv: o.ReleasePasswordEnv, PasswordFile: o.ReleasePasswordFile}
		pw, err := cf.resolve(env)
		if err != nil {
			return ho, err
		}
		ho.ReleaseTarget = net.JoinHostPort(host, strconv.Itoa(port))
		ho.Release = func(ctx context.Context, raw []byte, from string, to []string) (*report.Report, error) {
			return smtpprobe.Check(ctx, smtpprobe.Options{Host: host, Port: port, TLSMode: mode, RootCAs: pool, Insecure: o.ReleaseInsecure, ServerName: o.ReleaseServerName,
				User: o.ReleaseUser, Password: pw, MailFrom: from, RcptTo: to, Message: raw, AllowNoTLS: true, Now: env.Now})
		}
	} else if o.ReleaseUser != "" || o.ReleaseCAFile != "" || o.ReleaseInsecure || o.ReleaseServerName != "" {
		return ho, usageErrorf("--release-user, --release-ca-file, --release-servername and --release-insecure need --release-smtp HOST:PORT")
	}
	return ho, nil
}

func (o *captureOptions) options(env *Env) (capture.Options, error) {
	if o.Format != "text" && o.Format != "json" {
		return capture.Options{}, usageErrorf("--format must be text or json for capture, not %q", o.Format)
	}
	co := capture.Options{Hostname: o.Hostname, SMTPAddr: o.SMTP, IMAPAddr: o.IMAP, AuthNeedsTLS: o.AuthNeedsTLS,
		Delay: o.Delay, DropAfterData: o.DropAfterData, StoreDir: o.Store, MaxMessageBytes: o.MaxSize, Now: env.Now,
		MaxConns: o.MaxConns, IdleTimeout: o.IdleTimeout, DataTimeout: o.DataTimeout, MaxMessages: o.MaxMessages, Expect: o.Expect}
	if o.Expect != "" && o.Expect != capture.ExpectReset {
		return co, usageErrorf("--expect must be reset (or left out), not %q", o.Expect)
	}
	if o.MaxMessages <= 0 {
		return co, usageErrorf("--max-messages must be positive")
	}
	for _, a := range []struct{ flag, v string }{{"--smtp", o.SMTP}, {"--imap", o.IMAP}} {
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			return co, usageErrorf("%s %q: want HOST:PORT, e.g. 127.0.0.1:1025", a.flag, a.v)
		}
	}
	var err error
	if o.RejectRcpt != "" {
		if co.RejectRcpt, err = capture.ParseFault(o.RejectRcpt); err != nil {
			return co, usageErrorf("--reject-rcpt %v", err)
		}
	}
	if o.TempFail != "" {
		if co.TempFail, err = capture.ParseFault(o.TempFail); err != nil {
			return co, usageErrorf("--tempfail %v", err)
		}
	}
	if o.Delay < 0 || o.MaxSize <= 0 || o.Count < 0 {
		return co, usageErrorf("--delay, --max-size and --count must not be negative")
	}
	if o.MaxConns <= 0 || o.IdleTimeout <= 0 || o.DataTimeout <= 0 {
		return co, usageErrorf("--max-conns, --idle-timeout and --data-timeout must be positive")
	}
	if o.Auth != "" {
		user, pass, hasPass := strings.Cut(o.Auth, ":")
		if user == "" {
			return co, usageErrorf("--auth: the user name is empty")
		}
		if !hasPass {
			cf := credFlags{User: user, PasswordEnv: o.PasswordEnv, PasswordFile: o.PasswordFile}
			if pass, err = cf.resolve(env); err != nil {
				return co, err
			}
		} else if o.PasswordEnv != "" || o.PasswordFile != "" {
			return co, usageErrorf("--auth USER:PASSWORD already has a password; drop --password-env/--password-file")
		}
		co.Users = map[string]string{user: pass}
	} else if o.PasswordEnv != "" || o.PasswordFile != "" {
		return co, usageErrorf("--password-env/--password-file need --auth USER")
	}
	if o.NoDNS && o.Resolver != "" {
		return co, usageErrorf("--no-dns asks no DNS server: drop --resolver or --no-dns")
	}
	if !o.NoDNS {
		// DKIM keys, SPF and DMARC records of the app's real domain, asked
		// through the --resolver server, else mailprobe's resolver of the
		// operating system's nameservers.
		r, err := o.resolverFlags.resolver(env, &Global{})
		if err != nil {
			var ee *exitError
			if errors.As(err, &ee) && ee.code == report.ExitIncomplete {
				ee.err = fmt.Errorf("%w; or run with --no-dns", ee.err)
			}
			return co, err
		}
		co.Resolver = r
	}
	return co, nil
}

func (o *captureOptions) run(cmd *cobra.Command, env *Env) error {
	co, err := o.options(env)
	if err != nil {
		return err
	}
	ho, err := o.httpOptions(env)
	if err != nil {
		return err
	}
	if env.inspected(o) {
		return nil
	}
	p := &capturePrinter{out: env.IO.Out, json: o.Format == "json", st: render.NewStyles(env.IO.Out, !o.NoColor && env.IO.ColorEnabled())}
	done := make(chan struct{})
	var once sync.Once
	var received atomic.Int64
	co.OnMessage = func(m capture.Message) {
		p.print(m)
		if n := received.Add(1); o.Count > 0 && n >= int64(o.Count) {
			once.Do(func() { close(done) })
		}
	}
	co.Logf = func(format string, args ...any) {
		if !strings.Contains(format, "use of closed network connection") {
			// The log line quotes clients (HELO names, addresses): escaped.
			fmt.Fprintf(env.IO.ErrOut, "mailprobe capture: %s\n", termsafe.Line(fmt.Sprintf(strings.TrimRight(format, "\n"), args...)))
		}
	}
	ctx := cmd.Context()
	co.CAOut = o.CAOut
	srv, err := capture.Start(ctx, co)
	if err != nil {
		return &exitError{code: report.ExitIncomplete, err: err}
	}
	defer srv.Close()
	auth := "any user and password"
	if co.Users != nil {
		auth = "only the --auth credentials"
	}
	tlsNote := "STARTTLS offered, AUTH allowed before it"
	if co.AuthNeedsTLS {
		tlsNote = "STARTTLS offered, AUTH only after it"
	}
	fmt.Fprintf(env.IO.ErrOut, "mailprobe capture: SMTP on %s (%s; %s), IMAP on %s (%s)\n",
		srv.SMTPAddr(), tlsNote, auth, srv.IMAPAddr(), auth)
	if st := srv.Stats(); st.Messages > 0 {
		fmt.Fprintf(env.IO.ErrOut, "mailprobe capture: %d message%s read back from %s\n", st.Messages, plural(st.Messages), o.Store)
	}
	if ho.Addr != "" {
		addr, err := srv.StartHTTP(ho)
		if err != nil {
			return &exitError{code: report.ExitIncomplete, err: err}
		}
		who := "no credentials: loopback only"
		if ho.User != "" {
			who = "HTTP Basic as " + ho.User
		}
		fmt.Fprintf(env.IO.ErrOut, "mailprobe capture: web view http://%s/ and API http://%s/api/v1/ (%s)\n", addr, addr, who)
		if ho.ReleaseTarget != "" {
			fmt.Fprintf(env.IO.ErrOut, "mailprobe capture: release sends to %s\n", ho.ReleaseTarget)
		}
	}
	if faults := o.faultSummary(); faults != "" {
		fmt.Fprintf(env.IO.ErrOut, "mailprobe capture: fault injection: %s\n", faults)
	}
	if o.CAOut != "" {
		fmt.Fprintf(env.IO.ErrOut, "mailprobe capture: CA certificate written to %s\n", o.CAOut)
	}
	fmt.Fprintln(env.IO.ErrOut, "mailprobe capture: waiting for mail; Ctrl-C to stop")
	select {
	case <-ctx.Done():
	case <-done:
	}
	srv.Close()
	st := srv.Stats()
	dropped := ""
	if st.Dropped > 0 {
		dropped = fmt.Sprintf(" (%d oldest dropped for --max-messages %d)", st.Dropped, st.MaxMessages)
	}
	fmt.Fprintf(env.IO.ErrOut, "mailprobe capture: stopped, %d message%s captured%s\n", st.Received, plural(st.Received), dropped)
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func (o *captureOptions) faultSummary() string {
	var f []string
	if o.RejectRcpt != "" {
		f = append(f, "RCPT rejected with "+o.RejectRcpt)
	}
	if o.TempFail != "" {
		f = append(f, "DATA answered with "+o.TempFail)
	}
	if o.Delay > 0 {
		f = append(f, "DATA answered after "+o.Delay.String())
	}
	if o.DropAfterData {
		f = append(f, "connection dropped after DATA")
	}
	return strings.Join(f, ", ")
}

// capturePrinter prints messages as they arrive; messages from concurrent
// connections never interleave.
type capturePrinter struct {
	mu   sync.Mutex
	out  io.Writer
	json bool
	st   render.Styles
}

func (p *capturePrinter) print(m capture.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		b, err := json.Marshal(m)
		if err == nil {
			fmt.Fprintf(p.out, "%s\n", b)
		}
		return
	}
	st := p.st
	a := m.Analysis
	var flags []string
	if m.TLS {
		flags = append(flags, "TLS")
	} else {
		flags = append(flags, "no TLS")
	}
	if m.AuthUser != "" {
		flags = append(flags, "AUTH "+m.AuthUser)
	}
	fmt.Fprintf(p.out, "%s  %s  from <%s> to <%s>  %s  %s\n", st.Bold(fmt.Sprintf("#%d", m.Seq)), m.Received.Format("15:04:05"),
		printable(m.MailFrom), printable(strings.Join(m.Rcpt, ">, <")), humanBytes(m.Size), printable(strings.Join(flags, ", ")))
	row := func(k, v string) { fmt.Fprintf(p.out, "    %-9s %s\n", st.Dim(k), v) }
	row("subject", printable(a.Subject))
	row("id", printable(m.ID))
	switch {
	case a.ResetLink != "":
		row("link", printable(a.ResetLink))
		row("token", fmt.Sprintf("%d characters, about %.0f bits", len(a.Token), a.TokenBits))
	case a.Code != "":
		row("code", fmt.Sprintf("%s (%d characters, about %.0f bits)", printable(a.Code), len(a.Code), a.TokenBits))
	case m.Kind == capture.KindReset:
		row("link", "none found")
	default:
		row("kind", "not a reset email (generic checks only; --expect reset to judge it as one)")
	}
	parts := []string{}
	if a.HasText {
		parts = append(parts, "text")
	}
	if a.HasHTML {
		parts = append(parts, "HTML")
	}
	if len(parts) == 0 {
		parts = append(parts, "none readable")
	}
	row("parts", strings.Join(parts, " and "))
	var auth []string
	for _, d := range m.Auth.DKIM {
		auth = append(auth, fmt.Sprintf("dkim=%s (d=%s)", d.Result, d.Domain))
	}
	if len(m.Auth.DKIM) == 0 {
		auth = append(auth, "dkim=none")
	}
	auth = append(auth, "spf="+m.Auth.SPF, "dmarc="+m.Auth.DMARC)
	if m.Auth.NotChecked != "" {
		auth = append(auth, "("+m.Auth.NotChecked+")")
	}
	row("auth", strings.Join(auth, " "))
	if m.StoredAs != "" {
		row("stored", m.StoredAs)
	}
	for _, f := range m.Findings {
		if f.Severity == report.Pass {
			continue
		}
		label := render.SeverityLabel(f.Severity)
		fmt.Fprintf(p.out, "    %s %s: %s\n", st.Severity(f.Severity, label), f.Title, f.Detail)
	}
	fmt.Fprintln(p.out)
}

// printable keeps header text from a stranger's message from moving the
// cursor or changing colours on the user's terminal.
// printable is client-supplied text (envelope, subject, link) made safe
// for a terminal: the one escaping function, on one line.
func printable(s string) string { return termsafe.Line(s) }

func humanBytes(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
