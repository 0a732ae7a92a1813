package imapaudit

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/capture"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

func audit(t *testing.T, proto Protocol, addr string, mod func(*Options)) *report.Report {
	t.Helper()
	host, port, err := netx.SplitHostPort(addr, 0)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Protocol: proto, Host: host, Ports: []int{port}, ServerName: "mail.test.example",
		Timeouts: netx.Timeouts{Banner: 1500 * time.Millisecond, Command: 1500 * time.Millisecond, TLS: 2 * time.Second, Connect: 2 * time.Second}}
	if mod != nil {
		mod(&o)
	}
	start := time.Now()
	r, err := Audit(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("audit took %v", d)
	}
	return r
}

func codes(r *report.Report) map[string]report.Finding {
	m := map[string]report.Finding{}
	for _, f := range r.Findings {
		m[f.Code] = f
	}
	return m
}

func list(r *report.Report) []string {
	var s []string
	for _, f := range r.Findings {
		s = append(s, f.Code+"@"+f.Stage)
	}
	return s
}

func requireCodes(t *testing.T, r *report.Report, want ...string) {
	t.Helper()
	got := codes(r)
	for _, w := range want {
		if _, ok := got[w]; !ok {
			t.Errorf("no %s; got %v", w, list(r))
		}
	}
}

func forbidCodes(t *testing.T, r *report.Report, not ...string) {
	t.Helper()
	got := codes(r)
	for _, w := range not {
		if _, ok := got[w]; ok {
			t.Errorf("unexpected %s; got %v", w, list(r))
		}
	}
}

// go-imap's server (in the capture pair) as the well-behaved peer, in its
// two configurations: LOGIN allowed before TLS, and refused until TLS.
func TestIMAP_goIMAPServer(t *testing.T) {
	for _, needsTLS := range []bool{false, true} {
		srv, err := capture.Start(context.Background(), capture.Options{Hostname: "mail.test.example", Users: map[string]string{"alice": "s3cret"}, AuthNeedsTLS: needsTLS})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		r := audit(t, IMAP, srv.IMAPAddr(), func(o *Options) {
			o.RootCAs = srv.CertPool()
			o.User, o.Password = "alice", "s3cret"
		})
		requireCodes(t, r, "imap.starttls.ok", "cert.ok", "imap.login.ok")
		forbidCodes(t, r, "imap.starttls.injection", "imap.starttls.unsolicited")
		// The TLS scan ran beside the audit: Go's server speaks TLS 1.2
		// and 1.3 with forward-secret AEAD suites only.
		var scanned bool
		for _, s := range r.Stages {
			if strings.HasPrefix(s.Name, "tls:") {
				scanned = s.Status == report.StatusOK && strings.Contains(s.Summary, "TLS 1.3")
			}
		}
		if !scanned {
			t.Errorf("no successful tls: stage: %+v", r.Stages)
		}
		forbidCodes(t, r, "tls.protocol.tls10", "tls.cipher.no-fs", "tls.cipher.cbc-only")
		if needsTLS {
			forbidCodes(t, r, "imap.logindisabled.missing", "imap.plaintext-login.checked", "imap.auth.plaintext")
			requireCodes(t, r, "imap.plaintext-login.refused")
			if code := r.ExitCode(report.Fail); code != 0 {
				t.Errorf("needsTLS: exit %d: %v", code, list(r))
			}
		} else {
			requireCodes(t, r, "imap.logindisabled.missing", "imap.plaintext-login.checked")
			if code := r.ExitCode(report.Fail); code != report.ExitFindings {
				t.Errorf("plaintext allowed: exit %d", code)
			}
		}
		for _, e := range r.Transcript {
			if strings.Contains(e.Line, "s3cret") {
				t.Fatalf("password in transcript: %q", e.Line)
			}
		}
	}
}

func TestIMAP_wrongPassword(t *testing.T) {
	srv, err := capture.Start(context.Background(), capture.Options{Hostname: "mail.test.example", Users: map[string]string{"alice": "s3cret"}, AuthNeedsTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	r := audit(t, IMAP, srv.IMAPAddr(), func(o *Options) {
		o.RootCAs = srv.CertPool()
		o.User, o.Password = "alice", "wrong"
	})
	requireCodes(t, r, "imap.login.failed")
}

func TestIMAP_noPasswordOverUntrustedTLS(t *testing.T) {
	srv, err := capture.Start(context.Background(), capture.Options{Hostname: "mail.test.example", Users: map[string]string{"alice": "s3cret"}, AuthNeedsTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	r := audit(t, IMAP, srv.IMAPAddr(), func(o *Options) {
		o.RootCAs = x509.NewCertPool() // trusts nothing
		o.User, o.Password = "alice", "s3cret"
	})
	requireCodes(t, r, "cert.untrusted")
	forbidCodes(t, r, "imap.login.ok", "imap.login.failed")
}

// fakeIMAP is a scripted IMAP server for behaviour go-imap never shows.
type fakeIMAP struct {
	greeting      string
	caps          string // before TLS
	capsTLS       string
	cert          *testserver.Cert
	injectable    bool
	loginReply    string // to LOGIN before TLS
	silentOnCapa  bool
	idReply       string
	failureDelay  time.Duration
	blockAfter    int
	loginAttempts int
	implicit      bool   // TLS from the first byte (RFC 8314 §3)
	oauthToken    string // AUTHENTICATE OAUTHBEARER/XOAUTH2 accepts this token (oauth_test.go)
	authLines     []string
}

func (f *fakeIMAP) handler(c *testserver.Conn) {
	inTLS := false
	if f.implicit {
		if err := c.UpgradeTLS(f.cert.TLS); err != nil {
			return
		}
		inTLS = true
	}
	c.Send(f.greeting)
	for {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := c.Line()
		if err != nil {
			return
		}
		tag, rest, _ := strings.Cut(line, " ")
		cmd, _, _ := strings.Cut(rest, " ")
		switch strings.ToUpper(cmd) {
		case "CAPABILITY":
			if f.silentOnCapa {
				continue
			}
			caps := f.caps
			if inTLS {
				caps = f.capsTLS
			}
			c.Send("* CAPABILITY "+caps, tag+" OK done")
		case "STARTTLS":
			var pending []string
			if f.injectable {
				for c.R.Buffered() > 0 {
					l, _ := c.Line()
					pending = append(pending, l)
				}
			}
			c.Send(tag + " OK Begin TLS")
			if err := c.UpgradeTLS(f.cert.TLS); err != nil {
				return
			}
			inTLS = true
			for _, p := range pending {
				pt, _, _ := strings.Cut(p, " ")
				c.Send(pt + " OK NOOP completed")
			}
		case "LOGIN":
			f.loginAttempts++
			if f.blockAfter > 0 && f.loginAttempts > f.blockAfter {
				c.Send("* BYE Too many invalid login attempts", tag+" NO [UNAVAILABLE] Too many login failures, try again later")
				return
			}
			time.Sleep(f.failureDelay)
			if !inTLS && f.loginReply != "" {
				c.Send(tag + " " + f.loginReply)
			} else {
				c.Send(tag + " NO [AUTHENTICATIONFAILED] Authentication failed.")
			}
		case "AUTHENTICATE":
			f.authenticate(c, tag, rest)
		case "ID":
			c.Send(f.idReply, tag+" OK ID completed")
		case "LOGOUT":
			c.Send("* BYE Logging out", tag+" OK Logout completed")
			return
		default:
			c.Send(tag + " BAD unknown")
		}
	}
}

func TestIMAP_scriptedServers(t *testing.T) {
	cert := testserver.NewCert(t, testserver.CertOptions{})
	dovecotLike := func() *fakeIMAP {
		return &fakeIMAP{greeting: "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] Dovecot (Debian) ready.",
			caps: "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED", capsTLS: "IMAP4rev1 SASL-IR ID IDLE AUTH=PLAIN AUTH=LOGIN",
			cert: &cert, idReply: `* ID ("name" "Dovecot" "version" "2.3.19.1")`}
	}
	t.Run("dovecot-like", func(t *testing.T) {
		r := audit(t, IMAP, testserver.Start(t, dovecotLike().handler), func(o *Options) { o.RootCAs = cert.Pool })
		requireCodes(t, r, "imap.starttls.ok", "imap.plaintext-login.refused", "imap.banner.software", "imap.id.version", "cert.ok")
		forbidCodes(t, r, "imap.starttls.injection", "imap.logindisabled.missing")
		if r.ExitCode(report.Fail) != 0 {
			t.Errorf("exit %d: %v", r.ExitCode(report.Fail), list(r))
		}
	})
	t.Run("injection", func(t *testing.T) {
		f := dovecotLike()
		f.injectable = true
		r := audit(t, IMAP, testserver.Start(t, f.handler), func(o *Options) { o.RootCAs = cert.Pool })
		requireCodes(t, r, "imap.starttls.injection")
	})
	t.Run("plaintext auth offered and checked", func(t *testing.T) {
		f := dovecotLike()
		f.caps = "IMAP4rev1 STARTTLS AUTH=PLAIN AUTH=LOGIN"
		f.loginReply = "NO [AUTHENTICATIONFAILED] Authentication failed."
		r := audit(t, IMAP, testserver.Start(t, f.handler), func(o *Options) { o.RootCAs = cert.Pool })
		requireCodes(t, r, "imap.auth.plaintext", "imap.logindisabled.missing", "imap.plaintext-login.checked")
	})
	t.Run("plaintext refused with PRIVACYREQUIRED", func(t *testing.T) {
		f := dovecotLike()
		f.caps = "IMAP4rev1 STARTTLS"
		f.loginReply = "NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
		r := audit(t, IMAP, testserver.Start(t, f.handler), func(o *Options) { o.RootCAs = cert.Pool })
		requireCodes(t, r, "imap.logindisabled.missing", "imap.plaintext-login.refused")
		forbidCodes(t, r, "imap.plaintext-login.checked")
	})
	t.Run("no STARTTLS", func(t *testing.T) {
		f := dovecotLike()
		f.caps = "IMAP4rev1 AUTH=PLAIN"
		f.loginReply = "NO [AUTHENTICATIONFAILED] nope"
		r := audit(t, IMAP, testserver.Start(t, f.handler), nil)
		requireCodes(t, r, "imap.starttls.missing", "imap.auth.plaintext")
	})
	t.Run("BYE on connect", func(t *testing.T) {
		f := &fakeIMAP{greeting: "* BYE Too many connections from your IP"}
		r := audit(t, IMAP, testserver.Start(t, f.handler), nil)
		requireCodes(t, r, "imap.greeting.refused")
		if r.ExitCode(report.Fail) != report.ExitFindings {
			t.Errorf("exit %d", r.ExitCode(report.Fail))
		}
	})
	t.Run("no tagged response", func(t *testing.T) {
		f := dovecotLike()
		f.silentOnCapa = true
		r := audit(t, IMAP, testserver.Start(t, f.handler), nil)
		if got := codes(r)["imap.conn.timeout"]; got.Stage != "capability:"+portOf(r) {
			t.Errorf("timeout finding %+v; all %v", got, list(r))
		}
		if r.ExitCode(report.Fail) != report.ExitIncomplete {
			t.Errorf("exit %d", r.ExitCode(report.Fail))
		}
	})
	t.Run("slow drip", func(t *testing.T) {
		r := audit(t, IMAP, testserver.Start(t, testserver.SlowDrip(100*time.Millisecond)), nil)
		requireCodes(t, r, "imap.conn.timeout")
	})
	t.Run("endless line", func(t *testing.T) {
		r := audit(t, IMAP, testserver.Start(t, testserver.EndlessLine), nil)
		requireCodes(t, r, "imap.greeting.malformed")
	})
	t.Run("not IMAP", func(t *testing.T) {
		r := audit(t, IMAP, testserver.Start(t, testserver.SMTP{}.Handler()), nil)
		requireCodes(t, r, "imap.greeting.malformed")
	})
	t.Run("lockout: delayed", func(t *testing.T) {
		f := dovecotLike()
		f.failureDelay = 600 * time.Millisecond
		r := audit(t, IMAP, testserver.Start(t, f.handler), func(o *Options) {
			o.RootCAs = cert.Pool
			o.User, o.LockoutTest = "alice", 3
			o.Timeouts.Command = 2 * time.Second
		})
		requireCodes(t, r, "imap.lockout.delayed")
	})
	t.Run("lockout: none", func(t *testing.T) {
		r := audit(t, IMAP, testserver.Start(t, dovecotLike().handler), func(o *Options) {
			o.RootCAs = cert.Pool
			o.User, o.LockoutTest = "alice", 5
		})
		requireCodes(t, r, "imap.lockout.none")
	})
	t.Run("lockout: blocked", func(t *testing.T) {
		f := dovecotLike()
		f.blockAfter = 3
		r := audit(t, IMAP, testserver.Start(t, f.handler), func(o *Options) {
			o.RootCAs = cert.Pool
			o.User, o.LockoutTest = "alice", 6
		})
		requireCodes(t, r, "imap.lockout.blocked")
	})
}

func TestLockout_anyPasswordAccepted(t *testing.T) {
	srv, err := capture.Start(context.Background(), capture.Options{Hostname: "mail.test.example"}) // any credentials
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	r := audit(t, IMAP, srv.IMAPAddr(), func(o *Options) {
		o.RootCAs = srv.CertPool()
		o.User, o.LockoutTest = "alice", 3
	})
	requireCodes(t, r, "imap.login.any-password")
	if code := r.ExitCode(report.Fail); code != report.ExitFindings {
		t.Errorf("exit %d, want 1", code)
	}
}

func TestBlockedWording(t *testing.T) {
	for s, want := range map[string]bool{
		"a3 no [unavailable] too many login failures":         true,
		"-err [auth] account temporarily locked":              true,
		"a2 no [authenticationfailed] authentication failed.": false,
		"a2 no could not generate a separate accurate reply":  false,
		"a2 no mailbox unlocked":                              false,
	} {
		if got := blockedRe.MatchString(s); got != want {
			t.Errorf("%q: %v", s, got)
		}
	}
}

func portOf(r *report.Report) string {
	_, p, _ := strings.Cut(r.Target, ":")
	if i := strings.LastIndexByte(r.Target, ':'); i >= 0 {
		p = r.Target[i+1:]
	}
	return p
}

func TestLockout_bounded(t *testing.T) {
	if _, err := Audit(context.Background(), Options{Host: "x", LockoutTest: 21, User: "u"}); err == nil {
		t.Error("21 lockout attempts accepted")
	}
	if _, err := Audit(context.Background(), Options{Host: "x", LockoutTest: 3}); err == nil {
		t.Error("lockout test without a user accepted")
	}
}

type fakePOP3 struct {
	greeting   string
	capa       []string
	capaTLS    []string
	cert       *testserver.Cert
	injectable bool
	userReply  string
	// feedPipelined hands bytes pipelined after STLS to the TLS
	// handshake, as Dovecot does: the handshake then fails.
	feedPipelined bool
	implicit      bool // TLS from the first byte (RFC 8314 §3)
	oauthToken    string
}

type prefixed struct {
	net.Conn
	r io.Reader
}

func (p prefixed) Read(b []byte) (int, error) { return p.r.Read(b) }

func (f *fakePOP3) handler(c *testserver.Conn) {
	inTLS := false
	if f.implicit {
		if err := c.UpgradeTLS(f.cert.TLS); err != nil {
			return
		}
		inTLS = true
	}
	c.Send(f.greeting)
	for {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := c.Line()
		if err != nil {
			return
		}
		cmd, _, _ := strings.Cut(line, " ")
		switch strings.ToUpper(cmd) {
		case "CAPA":
			caps := f.capa
			if inTLS {
				caps = f.capaTLS
			}
			c.Send("+OK")
			c.Send(caps...)
			c.Send(".")
		case "STLS":
			if f.feedPipelined && c.R.Buffered() > 0 {
				pre, _ := c.R.Peek(c.R.Buffered())
				pre = append([]byte(nil), pre...)
				c.Send("+OK Begin TLS negotiation now.")
				tc := tls.Server(prefixed{c.Conn, io.MultiReader(bytes.NewReader(pre), c.Conn)}, &tls.Config{Certificates: []tls.Certificate{f.cert.TLS}})
				_ = tc.Handshake() // fails: "NOOP" is not a TLS record
				return
			}
			var pending int
			if f.injectable {
				for c.R.Buffered() > 0 {
					_, _ = c.Line()
					pending++
				}
			}
			c.Send("+OK Begin TLS negotiation now.")
			if err := c.UpgradeTLS(f.cert.TLS); err != nil {
				return
			}
			inTLS = true
			for ; pending > 0; pending-- {
				c.Send("-ERR Unknown command.")
			}
		case "USER":
			if !inTLS && f.userReply != "" {
				c.Send(f.userReply)
			} else {
				c.Send("+OK")
			}
		case "PASS":
			c.Send("-ERR [AUTH] Authentication failed.")
		case "AUTH":
			f.auth(c, line)
		case "QUIT":
			c.Send("+OK Logging out.")
			return
		default:
			c.Send("-ERR Unknown command.")
		}
	}
}

func TestPOP3_scriptedServers(t *testing.T) {
	cert := testserver.NewCert(t, testserver.CertOptions{})
	good := func() *fakePOP3 {
		return &fakePOP3{greeting: "+OK Dovecot (Debian) ready.", cert: &cert,
			capa: []string{"CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "STLS", "SASL"}, capaTLS: []string{"CAPA", "TOP", "UIDL", "USER", "SASL PLAIN LOGIN"},
			userReply: "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."}
	}
	t.Run("dovecot-like", func(t *testing.T) {
		r := audit(t, POP3, testserver.Start(t, good().handler), func(o *Options) { o.RootCAs = cert.Pool })
		requireCodes(t, r, "pop3.starttls.ok", "pop3.plaintext-login.refused", "cert.ok", "pop3.banner.software")
		forbidCodes(t, r, "pop3.starttls.injection", "pop3.logindisabled.missing", "pop3.auth.plaintext")
		if r.ExitCode(report.Fail) != 0 {
			t.Errorf("exit %d: %v", r.ExitCode(report.Fail), list(r))
		}
	})
	t.Run("plaintext USER and SASL PLAIN", func(t *testing.T) {
		f := good()
		f.capa = []string{"USER", "SASL PLAIN LOGIN", "STLS"}
		f.userReply = ""
		r := audit(t, POP3, testserver.Start(t, f.handler), func(o *Options) { o.RootCAs = cert.Pool })
		requireCodes(t, r, "pop3.logindisabled.missing", "pop3.auth.plaintext", "pop3.plaintext-login.checked")
	})
	t.Run("injection", func(t *testing.T) {
		f := good()
		f.injectable = true
		r := audit(t, POP3, testserver.Start(t, f.handler), func(o *Options) { o.RootCAs = cert.Pool })
		requireCodes(t, r, "pop3.starttls.injection")
	})
	t.Run("pipelined bytes fed to the handshake (Dovecot)", func(t *testing.T) {
		f := good()
		f.feedPipelined = true
		r := audit(t, POP3, testserver.Start(t, f.handler), func(o *Options) { o.RootCAs = cert.Pool })
		requireCodes(t, r, "pop3.starttls.ok", "cert.ok")
		forbidCodes(t, r, "pop3.starttls.failed", "pop3.starttls.injection")
	})
	t.Run("-ERR on connect", func(t *testing.T) {
		r := audit(t, POP3, testserver.Start(t, (&fakePOP3{greeting: "-ERR [SYS/TEMP] Too many connections"}).handler), nil)
		requireCodes(t, r, "pop3.greeting.refused")
	})
	t.Run("no STLS", func(t *testing.T) {
		f := good()
		f.capa = []string{"USER", "TOP"}
		f.userReply = ""
		r := audit(t, POP3, testserver.Start(t, f.handler), nil)
		requireCodes(t, r, "pop3.starttls.missing", "pop3.logindisabled.missing")
	})
	t.Run("silent", func(t *testing.T) {
		r := audit(t, POP3, testserver.Start(t, testserver.Silent), nil)
		requireCodes(t, r, "pop3.conn.timeout")
	})
}

// An implicit-TLS IMAP port outside netx.MailPorts, audited with no TLS
// mode and the default 30 s greeting deadline: the silence and a second
// connection that answers a ClientHello find it (one info finding that
// names --tls implicit), and the audit goes on over TLS: certificate,
// capabilities, and a login that is only ever sent over trusted TLS.
// audit() fails the test past 8 s, far below the greeting deadline.
func TestIMAP_implicitTLSOnAnUnknownPort(t *testing.T) {
	cert := testserver.NewCert(t, testserver.CertOptions{})
	f := &fakeIMAP{greeting: "* OK ready", caps: "IMAP4rev1 AUTH=PLAIN", capsTLS: "IMAP4rev1 AUTH=PLAIN", cert: &cert, implicit: true}
	addr := testserver.Start(t, f.handler)
	r := audit(t, IMAP, addr, func(o *Options) {
		o.RootCAs = cert.Pool
		o.User, o.Password = "alice", "wrong"
		o.Timeouts = netx.Timeouts{}
	})
	port := portOf(r)
	got, ok := codes(r)["imap.tls.implicit-detected"]
	if !ok || got.Stage != "connect:"+port || got.Severity != report.Info {
		t.Fatalf("no info imap.tls.implicit-detected at connect:%s; got %v", port, list(r))
	}
	if code, _ := report.Lookup(got.Code); !strings.Contains(code.Fix, "--tls implicit") {
		t.Errorf("the fix does not name --tls implicit: %q", code.Fix)
	}
	requireCodes(t, r, "cert.ok", "imap.login.failed")
	forbidCodes(t, r, "imap.conn.timeout", "imap.starttls.missing", "imap.auth.plaintext", "imap.logindisabled.missing")
	scanned := false
	for _, s := range r.Stages {
		if s.Name == "connect:"+port && !strings.Contains(s.Summary, "implicit TLS") {
			t.Errorf("connect stage %q does not say implicit TLS", s.Summary)
		}
		if s.Name == "tls:"+port {
			scanned = s.Status == report.StatusOK && strings.Contains(s.Summary, "TLS 1.3")
		}
	}
	if !scanned {
		t.Errorf("the TLS scan of the port did not run over implicit TLS: %+v", r.Stages)
	}
}

func TestPOP3_implicitTLSOnAnUnknownPort(t *testing.T) {
	cert := testserver.NewCert(t, testserver.CertOptions{})
	f := &fakePOP3{greeting: "+OK ready", capa: []string{"USER"}, capaTLS: []string{"USER", "SASL PLAIN"}, cert: &cert, implicit: true}
	r := audit(t, POP3, testserver.Start(t, f.handler), func(o *Options) {
		o.RootCAs = cert.Pool
		o.User, o.Password = "alice", "wrong"
		o.Timeouts = netx.Timeouts{}
		o.NoTLSScan = true
	})
	got, ok := codes(r)["pop3.tls.implicit-detected"]
	if !ok || got.Severity != report.Info {
		t.Fatalf("no info pop3.tls.implicit-detected; got %v", list(r))
	}
	requireCodes(t, r, "cert.ok", "pop3.login.failed")
	forbidCodes(t, r, "pop3.conn.timeout", "pop3.starttls.missing", "pop3.logindisabled.missing")
}

// The TLS mode, when given, is obeyed on a port of unknown mode: implicit
// needs no detection, none leaves a STARTTLS port in plaintext.
func TestIMAP_explicitTLSMode(t *testing.T) {
	cert := testserver.NewCert(t, testserver.CertOptions{})
	implicit := &fakeIMAP{greeting: "* OK ready", caps: "IMAP4rev1", capsTLS: "IMAP4rev1", cert: &cert, implicit: true}
	r := audit(t, IMAP, testserver.Start(t, implicit.handler), func(o *Options) {
		o.RootCAs = cert.Pool
		o.TLSMode = netx.TLSImplicit
		o.NoTLSScan = true
	})
	requireCodes(t, r, "cert.ok")
	forbidCodes(t, r, "imap.tls.implicit-detected", "imap.conn.timeout")

	plain := &fakeIMAP{greeting: "* OK ready", caps: "IMAP4rev1 STARTTLS LOGINDISABLED", cert: &cert}
	r = audit(t, IMAP, testserver.Start(t, plain.handler), func(o *Options) {
		o.TLSMode = netx.TLSNone
		o.NoTLSScan = true
	})
	requireCodes(t, r, "imap.plaintext-login.refused")
	forbidCodes(t, r, "imap.starttls.ok", "imap.tls.implicit-detected", "cert.ok")
	var skipped bool
	for _, s := range r.Stages {
		skipped = skipped || (strings.HasPrefix(s.Name, "starttls:") && s.Status == report.StatusSkipped)
	}
	if !skipped {
		t.Errorf("--tls none: no skipped starttls stage in %+v", r.Stages)
	}
}

func FuzzIMAPCaps(f *testing.F) {
	f.Add("* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED AUTH=PLAIN")
	f.Add("* OK [CAPABILITY IMAP4rev1 SASL-IR] Dovecot ready.")
	f.Add("* OK [CAPABILITY")
	f.Fuzz(func(t *testing.T, s string) {
		for k := range imapCaps(s) {
			if k == "" || strings.ContainsAny(k, " ]") {
				t.Fatalf("bad capability %q from %q", k, s)
			}
		}
	})
}

func FuzzPOP3Caps(f *testing.F) {
	f.Add("STLS\nSASL PLAIN LOGIN\nUSER\nIMPLEMENTATION Dovecot 2.3")
	f.Fuzz(func(t *testing.T, s string) {
		for k := range pop3Caps(strings.Split(s, "\n")) {
			if k == "" || strings.Contains(k, " ") {
				t.Fatalf("bad capability %q", k)
			}
		}
	})
}

// The TLS mode of a port comes from the one port table (netx.MailPorts)
// for well-known ports, from ImplicitTLS, and from Options.TLSMode for
// the rest.
func TestTLSModeFor(t *testing.T) {
	o := Options{ImplicitTLS: []int{10993}, TLSMode: netx.TLSNone}
	for port, want := range map[int]netx.TLSMode{143: netx.TLSStartTLS, 993: netx.TLSImplicit, 110: netx.TLSStartTLS, 995: netx.TLSImplicit, 10993: netx.TLSImplicit, 1143: netx.TLSNone} {
		if got := o.tlsModeFor(port); got != want {
			t.Errorf("port %d: %s, want %s", port, got, want)
		}
	}
	if got := (&Options{}).tlsModeFor(1993); got != netx.TLSAuto {
		t.Errorf("no TLSMode: %s, want auto", got)
	}
	if p := (Options{Protocol: POP3}).Protocol; netx.DefaultPort(p.netx(), false) != 110 || netx.DefaultPort(p.netx(), true) != 995 {
		t.Errorf("POP3 default ports from the table: %d, %d", netx.DefaultPort(p.netx(), false), netx.DefaultPort(p.netx(), true))
	}
	if netx.DefaultPort(IMAP.netx(), false) != 143 || netx.DefaultPort(IMAP.netx(), true) != 993 {
		t.Error("IMAP default ports from the table")
	}
}

// Literals (RFC 9051 §4.3) are folded into their response line, whether
// the literal ends inside a line or exactly at a line end.
func TestIMAPResponse_literals(t *testing.T) {
	addr := testserver.Start(t, func(c *testserver.Conn) {
		_, _ = c.Write([]byte("* ID (\"name\" {5}\r\nhello \"os\" {4}\r\nab\r\n)\r\n* 1 FETCH (BODY[] {0}\r\n)\r\na1 OK done\r\n"))
		_, _ = c.Line()
	})
	a := &auditor{o: Options{Timeouts: netx.Timeouts{Command: 5 * time.Second}}}
	c, err := dial(context.Background(), &a.o, addr, netx.TLSStartTLS, transcript.New(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	untagged, tagged, err := c.imapResponse(context.Background(), "a1", a)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`* ID ("name" "hello" "os" "ab\r\n")`, `* 1 FETCH (BODY[] "")`}
	if tagged != "a1 OK done" || len(untagged) != 2 || untagged[0] != want[0] || untagged[1] != want[1] {
		t.Errorf("got %q / %q, want %q", untagged, tagged, want)
	}
}

// Progress hears every stage the report records, as it begins, in order.
func TestAudit_progressNamesEachStage(t *testing.T) {
	srv, err := capture.Start(context.Background(), capture.Options{Hostname: "mail.test.example", Users: map[string]string{"alice": "s3cret"}, AuthNeedsTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var mu sync.Mutex
	var heard []string
	r := audit(t, IMAP, srv.IMAPAddr(), func(o *Options) {
		o.RootCAs = srv.CertPool()
		o.NoTLSScan = true
		o.Progress = func(stage string) { mu.Lock(); heard = append(heard, stage); mu.Unlock() }
	})
	mu.Lock()
	defer mu.Unlock()
	var ran []string
	for _, s := range r.Stages {
		if s.Status != report.StatusSkipped {
			ran = append(ran, s.Name)
		}
	}
	if len(heard) == 0 || strings.Join(heard, " ") != strings.Join(ran, " ") {
		t.Errorf("progress heard %q, the report ran %q", heard, ran)
	}
}
