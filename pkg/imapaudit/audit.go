// Package imapaudit answers "is my IMAP (or POP3) server safe to expose?":
// for each port it reads the greeting and capabilities before and after
// TLS, checks that passwords cannot travel in the clear (LOGINDISABLED,
// AUTH= mechanisms, a login probe with a made-up account), tests STARTTLS
// for command injection, judges the certificate, and optionally tests a
// real login and how the server reacts to repeated wrong passwords.
package imapaudit

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/internal/lazyre"
	"github.com/mailprobe/mailprobe/pkg/certcheck"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// Protocol is what is audited.
type Protocol string

const (
	IMAP Protocol = "imap"
	POP3 Protocol = "pop3"
)

// netx is the protocol in netx's port table.
func (p Protocol) netx() netx.Proto {
	if p == POP3 {
		return netx.ProtoPOP3
	}
	return netx.ProtoIMAP
}

// role is the protocol's role in netx's port table.
func (p Protocol) role() netx.Role {
	if p == POP3 {
		return netx.RolePOP3
	}
	return netx.RoleIMAP
}

// MaxLockoutAttempts bounds --lockout-test: enough to see a delay or a
// block, never enough to be an attack.
const MaxLockoutAttempts = 20

// Options of an audit.
type Options struct {
	Protocol Protocol
	Host     string
	// Ports to audit; default 143 and 993 (IMAP), 110 and 995 (POP3).
	// 993 and 995 use implicit TLS, others STARTTLS/STLS, unless
	// ImplicitTLS lists the port.
	Ports       []int
	ImplicitTLS []int
	// TLSMode applies to every port not in the table of well-known ports
	// (netx.MailPorts) and not in ImplicitTLS: "" and auto find out
	// (a port that answers a ClientHello but sends no greeting is implicit
	// TLS); starttls, implicit and none say it.
	TLSMode netx.TLSMode

	ServerName string
	RootCAs    *x509.CertPool
	Insecure   bool

	// User and Password, when set, test a real login over TLS.
	User, Password string
	// OAuth says Password is an OAuth 2.0 access token: the login test
	// uses AUTHENTICATE (IMAP) or AUTH (POP3) with OAuthMech, XOAUTH2 or
	// OAUTHBEARER ("" = OAUTHBEARER when advertised, else XOAUTH2).
	OAuth     bool
	OAuthMech string
	// AllowPlaintextAuth also tries the real login before TLS on the
	// plaintext port, to prove whether the server accepts it.
	AllowPlaintextAuth bool
	// LockoutTest sends this many wrong passwords for User (≤ 20) over
	// TLS and reports whether the server slows down or blocks.
	LockoutTest int
	// DefaultCredentials are tried over TLS on the first port with
	// trusted TLS (≤ MaxDefaultCredentials), stopping at the first sign
	// of rate limiting; a pair that logs in is login.default-credentials.
	DefaultCredentials []Credential
	// NoTLSScan skips the protocol and cipher-suite enumeration of each
	// port (tlsprobe), which runs beside the audit by default.
	NoTLSScan bool
	// Progress, when set, is told each stage as it begins ("greeting:143"):
	// the CLI shows it on a terminal, where an audit can take 30 s.
	Progress func(stage string)

	Dial     netx.DialFunc
	Timeouts netx.Timeouts
	Now      func() time.Time
	// MaxResponse bounds the bytes of one response, literals included
	// (0 = MaxResponseBytes); tests lower it.
	MaxResponse int
}

func (o *Options) maxResponse() int {
	if o.MaxResponse <= 0 {
		return MaxResponseBytes
	}
	return o.MaxResponse
}

func (o *Options) tlsConfig() *tls.Config {
	// Verified after the handshake by certcheck, so that a bad
	// certificate is a finding with everything else about it; no password
	// is sent unless the certificate is trusted or --insecure was given.
	return &tls.Config{ServerName: o.ServerName, InsecureSkipVerify: true, MinVersion: tls.VersionTLS10} //nolint:gosec // verified by certcheck
}

// tlsModeFor is how port gets TLS: implicit when ImplicitTLS lists it,
// what netx.MailPorts says for a well-known port (993 and 995 implicit,
// RFC 8314 §3.3; 143 and 110 STARTTLS/STLS), else Options.TLSMode, where
// auto (or "") leaves it to the server: see dial.
func (o *Options) tlsModeFor(port int) netx.TLSMode {
	if slices.Contains(o.ImplicitTLS, port) {
		return netx.TLSImplicit
	}
	if p, ok := netx.PortInfo(port); ok {
		if p.Implicit {
			return netx.TLSImplicit
		}
		return netx.TLSStartTLS
	}
	if o.TLSMode == "" {
		return netx.TLSAuto
	}
	return o.TLSMode
}

// Audit runs the audit. The error is only for bad options.
func Audit(ctx context.Context, o Options) (*report.Report, error) {
	if o.Host == "" {
		return nil, fmt.Errorf("no host given")
	}
	if o.Protocol == "" {
		o.Protocol = IMAP
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.Ports) == 0 {
		// The protocol's STARTTLS and implicit-TLS ports, from the one
		// port table.
		o.Ports = []int{netx.DefaultPort(o.Protocol.netx(), false), netx.DefaultPort(o.Protocol.netx(), true)}
	}
	if o.ServerName == "" {
		o.ServerName = strings.TrimSuffix(o.Host, ".")
	}
	if o.LockoutTest > MaxLockoutAttempts {
		return nil, fmt.Errorf("--lockout-test %d: at most %d attempts", o.LockoutTest, MaxLockoutAttempts)
	}
	if o.LockoutTest > 0 && o.User == "" {
		return nil, fmt.Errorf("--lockout-test needs --user: the account to send wrong passwords for")
	}
	if len(o.DefaultCredentials) > MaxDefaultCredentials {
		return nil, fmt.Errorf("%d default credentials: at most %d", len(o.DefaultCredentials), MaxDefaultCredentials)
	}
	rec := transcript.New(o.Now)
	rec.AddCredential(o.User, o.Password)
	target := o.Host
	if len(o.Ports) == 1 {
		target = net.JoinHostPort(o.Host, strconv.Itoa(o.Ports[0]))
	}
	rep := report.NewReport(string(o.Protocol)+" audit", target, rec.Start())
	a := &auditor{o: o, rep: rep, rec: rec, prefix: string(o.Protocol), detected: map[int]bool{},
		stages: report.NewStages(rep, o.Now, rec, o.Progress)}
	scans := a.startTLSScans(ctx)
	var tlsPort int
	for _, port := range o.Ports {
		if a.port(ctx, port) && tlsPort == 0 {
			tlsPort = port
		}
	}
	if o.LockoutTest > 0 {
		if tlsPort == 0 {
			a.stages.Skip("no port with trusted TLS to test over", "lockout")
		} else {
			a.lockout(ctx, tlsPort)
		}
	}
	if len(o.DefaultCredentials) > 0 {
		if tlsPort == 0 {
			a.stages.Skip("no port with trusted TLS to try them over", "default-credentials")
		} else {
			a.defaultCredentials(ctx, tlsPort)
		}
	}
	a.mergeTLSScans(scans)
	rep.Transcript = rec.Entries()
	rep.Duration = o.Now().Sub(rep.StartedAt)
	rep.SortFindings()
	return rep, nil
}

type auditor struct {
	o      Options
	rep    *report.Report
	rec    *transcript.Recorder
	prefix string
	tagN   int
	stages *report.Stages
	// detected lists the ports found to speak implicit TLS (dial), so
	// that reconnections and the lockout test need not ask again.
	detected map[int]bool
	// localNoted is set once the client.local note was added.
	localNoted bool
}

// noteLocalClient adds {imap,pop3}.client.local, once per audit, when
// the audit runs on the server's own machine (netx.LocalPeer, the rule
// smtp check's smtp.client.local follows): what the server offers a
// local client is often not what it offers the world.
func (a *auditor) noteLocalClient(nc *netx.Conn, stage string) {
	if a.localNoted {
		return
	}
	ip, why, ok := netx.LocalPeer(nc.RemoteAddr(), nc.LocalAddr())
	if !ok {
		return
	}
	a.localNoted = true
	a.add("client.local", stage, "Connected to %s %s: the server may treat this client as local and secured, so capabilities, LOGINDISABLED and login results may differ for remote clients.", ip, why)
}

// implicit reports whether port speaks TLS from the first byte: by
// configuration or because the server showed it.
func (a *auditor) implicit(port int) bool {
	return a.detected[port] || a.o.tlsModeFor(port) == netx.TLSImplicit
}

// connectMode is the mode to dial port with: a port already found to be
// implicit TLS is not probed again.
func (a *auditor) connectMode(port int) netx.TLSMode {
	if a.detected[port] {
		return netx.TLSImplicit
	}
	return a.o.tlsModeFor(port)
}

func (a *auditor) tag() string {
	a.tagN++
	return "a" + strconv.Itoa(a.tagN)
}

func (a *auditor) code(c string) string { return a.prefix + "." + c }

// stage is one stage of one port, timed by the one stage timer
// (report.Stages): the audit's clock and transcript seq range.
type stage struct {
	*report.StageTimer
	a *auditor
}

func (a *auditor) begin(name string, port int) *stage {
	return &stage{StageTimer: a.stages.Begin(fmt.Sprintf("%s:%d", name, port)), a: a}
}

func (s *stage) end(status report.Status, format string, args ...any) { s.End(status, format, args...) }

// fail ends the stage with the finding for a network error.
func (s *stage) fail(err error) {
	k := kindOf(err)
	status := report.StatusError
	code := map[string]string{"timeout": "conn.timeout", "closed": "conn.closed", "reset": "conn.reset", "malformed": "greeting.malformed", "tls": "starttls.failed", "too-large": "response.too-large"}[k]
	if code == "" {
		code = "conn.error"
	}
	// A handshake that failed is a stage that could not complete, as a
	// timeout is: exit 3, the one rule of smtp, imap, pop3 and tls.
	s.end(status, "%v", err)
	s.a.rep.Add(report.Newf(s.a.code(code), s.Name, "%s: %v.", s.Name, err))
	if status == report.StatusError {
		s.a.rep.Incomplete = true
	}
}

func (a *auditor) add(code, stage, format string, args ...any) {
	a.rep.Add(report.Newf(a.code(code), stage, format, args...))
}

// port audits one port and returns true when TLS was established with a
// trusted certificate (a port the login and lockout tests may use).
func (a *auditor) port(ctx context.Context, port int) bool {
	addr := net.JoinHostPort(a.o.Host, strconv.Itoa(port))
	st := a.begin("connect", port)
	c, err := dial(ctx, &a.o, addr, a.connectMode(port), a.rec)
	if err != nil {
		if oe, ok := err.(*netx.OpError); ok && oe.Op == "connect" {
			st.end(report.StatusError, "%s", netx.Describe(oe.Err, oe.Waited))
			a.add("connect.failed", st.Name, "%s: %s.", addr, netx.Describe(oe.Err, oe.Waited))
			a.rep.Incomplete = true
			return false
		}
		st.fail(err)
		return false
	}
	defer c.close()
	a.noteLocalClient(c.nc, st.Name)
	if c.detected {
		a.detected[port] = true
		a.add("tls.implicit-detected", st.Name, "Port %d sent no greeting within %s and answered a ClientHello: it speaks implicit TLS (RFC 8314 §3), so the audit goes on over TLS.", port, a.greetingWait())
	}
	implicit := a.implicit(port)
	summary := addr
	if implicit {
		summary += ", implicit TLS " + tlsSummary(c.tls)
	}
	st.end(report.StatusOK, "%s", summary)
	trusted := false
	if implicit {
		trusted = a.certificate(c, port)
	}
	if a.o.Protocol == POP3 {
		return a.pop3(ctx, c, port, trusted)
	}
	return a.imap(ctx, c, port, trusted)
}

// tlsRefused reports whether the user asked for no TLS on port (--tls
// none): the upgrade is then not tried, and the stage says why.
func (a *auditor) tlsRefused(port int) bool {
	if a.o.tlsModeFor(port) != netx.TLSNone {
		return false
	}
	a.rep.AddStage(report.Stage{Name: fmt.Sprintf("starttls:%d", port), Status: report.StatusSkipped, Summary: "--tls none: the upgrade was not tried"})
	return true
}

// greetingWait is how long a greeting is awaited on a port of unknown TLS
// mode before implicit TLS is suspected.
func (a *auditor) greetingWait() time.Duration {
	return min(a.o.Timeouts.WithDefaults().Banner, netx.GreetingWait)
}

func tlsSummary(st *tls.ConnectionState) string {
	if st == nil {
		return ""
	}
	return tls.VersionName(st.Version) + ", " + tls.CipherSuiteName(st.CipherSuite)
}

// certificate judges the TLS session's certificate with certcheck.
func (a *auditor) certificate(c *lineConn, port int) bool {
	st := a.begin("certificate", port)
	res := certcheck.Stage(*c.tls, certcheck.StageOptions{
		Options:  certcheck.Options{ServerName: a.o.ServerName, Roots: a.o.RootCAs, Now: a.o.Now(), Stage: st.Name},
		Insecure: a.o.Insecure})
	a.rep.Add(res.Findings...)
	st.end(res.Status, "%s", res.Summary)
	return res.Usable(a.o.Insecure)
}

var (
	softwareRe = lazyre.New(`(?i)\b(dovecot|courier|cyrus|zimbra|microsoft exchange|exchange|uw imap|hmailserver|mdaemon|kerio|icewarp|qpopper|stalker|communigate|axigen|surgemail|gmail|gimap|yandex|zoho|imapfront)\b`)
	versionRe  = lazyre.New(`\b\d+\.\d+(\.\d+)*\b`)
)

// banner reports software and version disclosure in a greeting.
func (a *auditor) banner(stage, text string) {
	m := softwareRe.FindString(text)
	if m == "" {
		return
	}
	if versionRe.MatchString(text) {
		a.add("banner.version", stage, "The greeting names %q with a version: %q.", m, text)
	} else {
		a.add("banner.software", stage, "The greeting names %q: %q.", m, text)
	}
}

// probeUser is an account that cannot exist, for the plaintext-login
// probe: no real credential is ever sent before TLS without the user's
// explicit --allow-plaintext-auth.
func probeUser() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return "mailprobe-probe-" + hex.EncodeToString(b)
}
