// Package smtpprobe checks SMTP servers stage by stage: resolve, connect,
// banner, EHLO, STARTTLS (RFC 3207) or implicit TLS (RFC 8314),
// certificate, EHLO again, AUTH (RFC 4954), an optional MAIL/RCPT probe
// ended by RSET, and QUIT. Every stage is timed and every reply explained
// (pkg/replycode); a server that fails, stalls or talks garbage becomes a
// finding naming the stage, never a Go error.
package smtpprobe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/internal/lazyre"
	"github.com/mailprobe/mailprobe/pkg/certcheck"
	"github.com/mailprobe/mailprobe/pkg/dnsauth"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
	"github.com/mailprobe/mailprobe/pkg/smtpclient"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// Role is what a port is for; it decides how strict the TLS and AUTH
// findings are. An MX (port 25) must accept plaintext from the world
// (RFC 7435 opportunistic TLS); submission (587, 465) carries passwords.
type Role string

const (
	RoleAuto        Role = ""
	RoleMX          Role = "mx"
	RoleSubmission  Role = "submission"  // 587: STARTTLS required (RFC 6409, RFC 8314 §3.3)
	RoleSubmissions Role = "submissions" // 465: implicit TLS (RFC 8314 §3.3)
)

// RoleForPort guesses the role from the port number.
func RoleForPort(port int) Role {
	switch port {
	case 25:
		return RoleMX
	case 465:
		return RoleSubmissions
	default:
		return RoleSubmission
	}
}

// Options of a check. Zero values are usable defaults.
type Options struct {
	Host string
	Port int // default 25
	Role Role

	// TLSMode is how TLS is set up (PRODUCT.md's --tls). "" and auto:
	// from the port, then from what the server does (a port that answers a
	// ClientHello but sends no greeting is implicit TLS). Any other value
	// overrides ImplicitTLS and NoSTARTTLS.
	TLSMode     netx.TLSMode
	ImplicitTLS bool // TLS before the greeting; implied by port 465
	NoSTARTTLS  bool // do not upgrade even when offered
	AllowNoTLS  bool // STARTTLS missing on submission is a warning, not a failure

	ServerName string         // for SNI and certificate name checks; default Host
	RootCAs    *x509.CertPool // nil = system roots
	Insecure   bool           // do not require a trusted certificate before AUTH

	Helo string // EHLO name; default "mailprobe.invalid"

	User, Password     string
	AuthMech           string // "" = best offered
	AllowPlaintextAuth bool

	MailFrom  string
	RcptTo    []string
	ProbeVRFY bool
	// ProbeRelay (--probe-relay) tries relaying to a reserved foreign
	// domain without authentication, plainly and with the classic tricks
	// (percent hack, bang path, quoted local part, source route...): at
	// most 12 transactions, each ended by RSET, never DATA. It runs
	// before AUTH, on the unauthenticated session.
	ProbeRelay bool
	// ProbeSmuggling (--probe-smuggling) tests SMTP smuggling: for each
	// end-of-data look-alike (<LF>.<LF>, <CR>.<CR>, ...) one connection
	// sends a message to RcptTo[0] whose body holds the look-alike and a
	// second, smuggled transaction; a server answering the smuggled
	// commands ended DATA early. It delivers test messages to RcptTo[0]
	// only, which is why it is opt-in.
	ProbeSmuggling bool
	// Message, when set, is sent with DATA after MAIL and RCPT instead of
	// ending the probe with RSET: this is `smtp send` and `reset send`.
	Message []byte
	// RequireTLS refuses to send anything when TLS could not be set up.
	RequireTLS bool

	// Resolver, when set, checks the reverse DNS (FCrDNS) of the address
	// connected to and whether the greeting's host name matches it.
	Resolver resolver.Interface
	// PTRPrivate checks reverse DNS for loopback and private addresses
	// too (when the user named a resolver that knows them).
	PTRPrivate bool
	// DomainResolver looks up the MX (or address) records of each RcptTo
	// domain, to tell local delivery (the domain's mail comes to this
	// server) from a relay test; nil: Resolver. Without either, an
	// accepted recipient is reported as a possible relay.
	DomainResolver resolver.Interface

	// Progress, when set, is told each stage as it starts (the CLI shows
	// it on a terminal's stderr: a slow server can take 30 s a stage).
	Progress func(stage string)

	// Client holds swaks' knobs: stop points, protocol, transport, TLS
	// control, AUTH and envelope extensions (client.go).
	Client ClientOptions

	Dial netx.DialFunc
	// LookupIP resolves Host (the --resolver's, so that nothing else is
	// asked); nil: the operating system's resolver, which also reads the
	// hosts file ("localhost").
	LookupIP netx.LookupFunc
	Timeouts netx.Timeouts
	Now      func() time.Time
}

// Check runs an SMTP check. The error is non-nil only for mailprobe's own
// failures (bad options); everything about the server is in the report.
func Check(ctx context.Context, o Options) (*report.Report, error) {
	if o.Host == "" {
		return nil, fmt.Errorf("no host given")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	port := o.Port
	if port == 0 {
		port = 25
	}
	rec := transcript.New(o.Now)
	command := "smtp check"
	if o.Message != nil {
		command = "smtp send"
	}
	target := net.JoinHostPort(o.Host, strconv.Itoa(port))
	if lt := o.Client.localTransport(); lt != "" {
		target = lt
	}
	rep := report.NewReport(command, target, rec.Start())
	Run(ctx, o, rep, rec)
	rep.Transcript = rec.Entries()
	rep.Duration = o.Now().Sub(rep.StartedAt)
	rep.SortFindings()
	return rep, nil
}

// Run performs the check (or the send, when o.Message is set) into an
// existing report and recorder, so that a larger flow (reset send) has one
// report and one transcript. It returns true when the whole dialogue
// completed: for a send, the message was queued.
func Run(ctx context.Context, o Options, rep *report.Report, rec *transcript.Recorder) bool {
	if o.Port == 0 {
		o.Port = 25
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Role == RoleAuto {
		o.Role = RoleForPort(o.Port)
	}
	if o.Role == RoleSubmissions {
		o.ImplicitTLS = true
	}
	// An explicit --tls mode overrides the older booleans and the port.
	switch o.TLSMode {
	case netx.TLSImplicit:
		o.ImplicitTLS, o.NoSTARTTLS = true, false
	case netx.TLSNone:
		o.ImplicitTLS, o.NoSTARTTLS = false, true
	case netx.TLSStartTLS:
		o.ImplicitTLS, o.NoSTARTTLS = false, false
	}
	if o.Helo == "" {
		o.Helo = "mailprobe.invalid"
	}
	if o.ServerName == "" {
		o.ServerName = strings.TrimSuffix(o.Host, ".")
	}
	rec.AddCredential(o.User, o.Password)
	o.Dial = o.dialer(rec)
	if o.Insecure && !rep.Has("cert.verify-skipped") {
		// The engine owns what its options mean: --insecure weakens the
		// certificate verdict (RFC 8314 §3 wants it verified before AUTH),
		// so the report says so itself, once even when a larger flow
		// (reset send trying MX after MX) runs several checks into it.
		rep.Add(report.New("cert.verify-skipped", "certificate", "--insecure: the certificate was not required to be trusted."))
	}
	c := &checker{o: o}
	c.r = newRun(rep, rec, o.Now, c.progress)
	before, stagesBefore := len(rep.Findings), len(rep.Stages)
	c.do(ctx)
	if o.Message != nil {
		// Sending, the question is "did it go through": the server's
		// posture (what it offers before TLS, its banner, VRFY) is worth a
		// warning, not a failed send. Opportunistic TLS to an MX (RFC
		// 7435) makes its certificate a warning too.
		for i := before; i < len(rep.Findings); i++ {
			f := &rep.Findings[i]
			if f.Severity > report.Warn && (postureCodes[f.Code] || ((o.Role == RoleMX || c.pinMatched) && strings.HasPrefix(f.Code, "cert."))) {
				f.Severity = report.Warn
			}
		}
	}
	agreeWithFindings(rep, stagesBefore, before)
	return c.completed
}

type checker struct {
	o    Options
	r    *run
	s    *smtpclient.Session
	caps smtpclient.Capabilities // latest EHLO
	// trusted is set after the certificate stage: the chain verified and
	// the name matched (or --insecure).
	trusted   bool
	authed    bool
	completed bool
	stopped   bool // --quit-after or --drop-after ended the run
	pinFailed bool // the certificate is not the pinned one
	// pinMatched: the certificate is the pinned one, which makes its
	// chain's verdict a warning when sending.
	pinMatched bool
	stage      string // the stage running, for findings the session raises (auth.go)
}

func (c *checker) certTrusted() bool { return c.trusted || c.o.Insecure }

// postureCodes are findings about how a server is set up rather than about
// whether a message could be sent.
var postureCodes = map[string]bool{
	"smtp.auth.before-tls": true, "smtp.auth.plaintext": true, "smtp.banner.version": true,
	"smtp.size.missing": true, "smtp.size.small": true, "smtp.vrfy.enabled": true, "smtp.expn.enabled": true,
	"smtp.auth.not-offered": true, "smtp.starttls.missing": true, "smtp.starttls.injection": true,
}

var remaining = []string{"connect", "banner", "ehlo", "starttls", "certificate", "ehlo-tls", "xclient", "relay", "auth", "mail", "rcpt", "data", "queued", "smuggling", "quit"}

// skipRest marks every stage after from as skipped with why.
func (c *checker) skipRest(from, why string) { c.skipRestExcept(from, why, "") }

// skipRestExcept is skipRest leaving out keep (the QUIT that follows a
// --quit-after stop).
func (c *checker) skipRestExcept(from, why, keep string) {
	after := false
	for _, s := range remaining {
		if s == keep {
			continue
		}
		if s == "xclient" && len(c.o.Client.XClient) == 0 {
			continue
		}
		if c.o.Message == nil && (s == "data" || s == "queued") {
			continue // a check never sends a message
		}
		if (s == "relay" && !c.o.ProbeRelay) || (s == "smuggling" && !c.o.ProbeSmuggling) {
			continue // probes that were not asked for
		}
		if after {
			c.r.skip(s, why)
		}
		if s == from {
			after = true
		}
	}
}

func (c *checker) do(ctx context.Context) {
	o, r := c.o, c.r
	t := o.Timeouts.WithDefaults()

	// resolve: every address, so the report shows what a sender would try.
	var ips []net.IP
	local := o.Client.localTransport()
	if local != "" {
		// A socket or a program: nothing to resolve, one "address".
		r.skip("resolve", local)
		ips = []net.IP{nil}
	} else {
		st := r.begin("resolve")
		var err error
		ips, err = c.resolve(ctx, t.DNS)
		if err != nil {
			st.End(report.StatusError, "%v", err)
			r.rep.Add(report.Newf("smtp.resolve.failed", "resolve", "%s: %v.", o.Host, err))
			c.skipRest("resolve", "host did not resolve")
			return
		}
		addrs := make([]string, len(ips))
		for i, ip := range ips {
			addrs[i] = ip.String()
		}
		r.rep.SetFact("addresses", addrs)
		st.End(report.StatusOK, "%s → %s", o.Host, strings.Join(addrs, ", "))
	}

	// connect: addresses in order, like an MTA; the first that answers.
	st := r.begin("connect")
	var dialErrs []string
	dopts := smtpclient.DialOptions{Dial: o.Dial, Timeouts: o.Timeouts}
	if o.ImplicitTLS {
		dopts.ImplicitTLS = c.tlsConfig()
	}
	for _, ip := range ips {
		addr := net.JoinHostPort(ip.String(), strconv.Itoa(o.Port))
		if ip == nil {
			addr = local
		}
		s, err := smtpclient.Dial(ctx, addr, r.rec, dopts)
		if err == nil {
			c.s = s
			break
		}
		if f, ok := netx.Interrupted("connect", err); ok {
			st.End(report.StatusInterrupted, "interrupted")
			r.rep.Add(f)
			c.skipRest("connect", "interrupted")
			return
		}
		oe, _ := err.(*netx.OpError)
		if oe != nil && oe.Op == "tls handshake" {
			// Connected, but implicit TLS failed: that is the TLS stage's
			// finding, not a connect failure.
			st.End(report.StatusOK, "%s", addr)
			tst := r.begin("tls")
			tst.End(report.StatusFail, "%v", unwrap(err))
			c.tlsFailed("tls", err)
			c.skipRest("certificate", "TLS failed")
			return
		}
		dialErrs = append(dialErrs, fmt.Sprintf("%s: %s", addr, netx.Describe(unwrap(err), t.Connect)))
	}
	if c.s == nil {
		st.End(report.StatusError, "%s", strings.Join(dialErrs, "; "))
		f := report.Newf("smtp.connect.failed", "connect", "Could not connect to %s on port %d: %s.", o.Host, o.Port, strings.Join(dialErrs, "; "))
		r.rep.Add(f)
		c.skipRest("connect", "no connection")
		return
	}
	// c.s may be replaced (implicit TLS detected): close the last one.
	defer func() { c.s.Close() }()
	c.s.Observe(c.observe)
	c.s.SetServerName(o.ServerName)
	r.rep.SetFact("connected_to", c.s.RemoteAddr().String())
	st.End(report.StatusOK, "%s", c.s.RemoteAddr())
	if o.Message == nil {
		c.noteLocalClient()
	}
	if o.ImplicitTLS {
		c.tlsEstablished("tls", false, 0)
	}
	if c.stopAfter(ctx, "connect") {
		return
	}

	if !c.banner(ctx, t) {
		return
	}
	if c.stopAfter(ctx, "banner") {
		return
	}
	o = c.o // the banner stage may have found implicit TLS
	if !c.ehlo(ctx, "ehlo") {
		return
	}
	if c.stopAfter(ctx, "ehlo") {
		return
	}
	if o.Resolver != nil {
		c.ptr(ctx)
	}
	plainCaps := c.caps
	r.rep.SetFact("capabilities", plainCaps)
	secure := o.ImplicitTLS
	trusted := o.ImplicitTLS && c.certTrusted()

	if !o.ImplicitTLS {
		c.checkPlainAuth(plainCaps)
		switch {
		case o.NoSTARTTLS:
			r.skip("starttls", "--no-starttls")
			r.skip("certificate", "no TLS")
			r.skip("ehlo-tls", "no TLS")
		case !plainCaps.Has("STARTTLS"):
			r.skip("starttls", "not offered")
			r.skip("certificate", "no TLS")
			r.skip("ehlo-tls", "no TLS")
			c.starttlsMissing()
		default:
			ok, fatal := c.starttls(ctx)
			if fatal {
				return
			}
			if ok {
				secure = true
				trusted = c.certTrusted()
				if c.pinFailed {
					c.skipRest("ehlo-tls", "the certificate is not the pinned one")
					return
				}
				if c.stopAfter(ctx, "starttls") {
					return
				}
				if !c.ehlo(ctx, "ehlo-tls") {
					return
				}
				r.rep.SetFact("capabilities_tls", c.caps)
			}
		}
	} else {
		r.skip("ehlo-tls", "implicit TLS: the first EHLO was already inside TLS")
	}
	if c.pinFailed {
		c.skipRest("ehlo-tls", "the certificate is not the pinned one")
		return
	}
	if c.stopAfter(ctx, "starttls") {
		return
	}
	if len(o.Client.XClient) > 0 && !c.xclient(ctx) {
		return
	}
	if o.Client.Protocol != "smtp" {
		c.checkSize()
	}
	if o.RequireTLS && !secure {
		c.r.rep.Add(report.Newf("smtp.send.tls-required", "starttls", "TLS could not be set up with %s, and sending without it was not allowed.", o.Host))
		c.skipRest("ehlo-tls", "TLS required")
		return
	}
	if o.Message != nil && secure && !trusted && (o.RequireTLS || o.Role != RoleMX) {
		// Opportunistic TLS to an MX may go to an unverified server (RFC
		// 7435); a message for a submission server, or one that asked for
		// TLS, must not go to a server that could be anyone.
		c.r.rep.Add(report.Newf("smtp.send.tls-untrusted", "certificate", "The certificate of %s is not trusted, so the message was not sent: anyone in the middle could read it (use --ca-file for a private CA, or --insecure to send anyway).", o.Host))
		c.skipRest("ehlo-tls", "certificate not trusted")
		return
	}
	if o.ProbeRelay && o.Message == nil && !c.probeRelay(ctx) {
		return
	}
	if !c.auth(ctx, secure, trusted) {
		return
	}
	if c.stopAfter(ctx, "auth") {
		return
	}
	if o.Message != nil && o.User != "" && !c.authed && !o.Client.AuthOptional {
		// Credentials were given for a reason: never fall back to
		// sending the message unauthenticated.
		c.skipRest("auth", "not authenticated, so the message was not sent")
		return
	}
	if o.ProbeVRFY {
		c.vrfy(ctx)
	}
	if o.Message != nil {
		if !c.send(ctx) || c.stopped {
			return
		}
	} else if !c.probeRcpt(ctx) {
		return
	}
	if o.ProbeSmuggling && o.Message == nil {
		c.probeSmuggling(ctx)
	}
	c.completed = true
	st = r.begin("quit")
	if rp, err := c.s.Quit(ctx); err != nil {
		st.End(report.StatusInfo, "%v", err)
		r.rep.Add(report.Newf("smtp.quit.failed", "quit", "QUIT: %v.", err))
	} else {
		st.End(report.StatusOK, "%s", rp.Short())
	}
}

func unwrap(err error) error {
	if oe, ok := err.(*netx.OpError); ok {
		return oe.Err
	}
	return err
}

func (c *checker) resolve(ctx context.Context, d time.Duration) ([]net.IP, error) {
	if ip := net.ParseIP(c.o.Host); ip != nil {
		return []net.IP{ip}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if c.o.LookupIP != nil {
		addrs, err := c.o.LookupIP(ctx, c.o.Host)
		ips := make([]net.IP, len(addrs))
		for i, a := range addrs {
			ips[i] = net.IP(a.Unmap().AsSlice())
		}
		return ips, err
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, c.o.Host)
	if err != nil {
		return nil, err
	}
	ips := make([]net.IP, len(addrs))
	for i, a := range addrs {
		ips[i] = a.IP
	}
	return ips, nil
}

func (c *checker) tlsConfig() *tls.Config {
	// Verification is done after the handshake (certTrusted), so that a
	// bad certificate is reported with everything else about it instead
	// of ending the check; credentials are never sent unless it passed.
	cfg := &tls.Config{ServerName: c.o.ServerName, InsecureSkipVerify: true, MinVersion: tls.VersionTLS10} //nolint:gosec // verified explicitly below
	c.o.Client.applyTLS(cfg)
	return cfg
}

// softwareRe finds product names in greetings; versionRe a version number
// next to one.
var (
	softwareRe = lazyre.New(`(?i)\b(postfix|exim|sendmail|microsoft esmtp|exchange|qmail|haraka|opensmtpd|zimbra|mdaemon|kerio|smartermail|hmailserver|courier|james|coremail|ironport|barracuda|mimecast|proofpoint|gmail|mx\.google\.com|chasquid|maddy|stalwart|mox)\b`)
	versionRe  = lazyre.New(`(?i)(\b(version|v)[: ]*\d+(\.\d+)+|\b\d+\.\d+(\.\d+)+\b|\bexim \d|\bsendmail \d)`)
)

// greetingOptions say how the banner stage reads the greeting: with
// implicit-TLS detection (smtpclient.AwaitGreeting, the same for every
// SMTP command) in auto mode on an unknown port and with an explicit
// starttls; the older booleans mean implicit (already TLS) and none.
func (c *checker) greetingOptions(t netx.Timeouts) smtpclient.GreetingOptions {
	mode := c.o.TLSMode
	switch {
	case c.o.ImplicitTLS:
		mode = netx.TLSImplicit
	case c.o.NoSTARTTLS:
		mode = netx.TLSNone
	}
	if c.o.Client.localTransport() != "" {
		// A socket or a program is asked nothing on a second connection
		// (for --pipe that would start the program again): no detection.
		mode = netx.TLSNone
	}
	return smtpclient.GreetingOptions{Mode: mode, Port: c.o.Port, Wait: t.Banner, TLS: c.tlsConfig(), Dial: c.o.Dial, Timeouts: c.o.Timeouts}
}

func (c *checker) banner(ctx context.Context, t netx.Timeouts) bool {
	r := c.r
	st := r.begin("banner")
	start := r.now()
	g, err := smtpclient.AwaitGreeting(ctx, c.s, c.greetingOptions(t))
	if f, ok := g.Finding("banner"); ok {
		r.rep.Add(f)
	}
	rp := g.Reply
	waited := r.now().Sub(start)
	switch {
	case g.Expected:
		// --tls starttls on a port that wants implicit TLS: say so now,
		// instead of waiting the whole banner timeout for a greeting.
		st.End(report.StatusFail, "no greeting: the port speaks implicit TLS")
		c.skipRest("banner", "the port speaks implicit TLS")
		return false
	case g.Implicit && g.Session == nil:
		if f, ok := netx.Interrupted("banner", err); ok {
			st.End(report.StatusInterrupted, "interrupted")
			r.rep.Add(f)
		} else {
			st.End(report.StatusError, "implicit TLS: %v", err)
			c.tlsFailed("tls", err)
		}
		c.skipRest("banner", "implicit TLS failed")
		return false
	case g.Implicit:
		// The check goes on over the new connection (check.go's do
		// closes whichever session c.s is last).
		c.s = g.Session
		c.o.ImplicitTLS = true
		c.tlsEstablished("tls", false, 0)
	}
	if err != nil {
		st.failed(err)
		c.skipRest("banner", "no greeting")
		return false
	}
	r.rep.SetFact("banner", rp.String())
	c.noteProblems("banner", rp)
	if f, bad := smtpclient.InvalidGreeting("banner", rp); bad {
		st.End(report.StatusError, "%s", rp.Short())
		r.rep.Add(f)
		c.skipRest("banner", "not an SMTP greeting")
		return false
	}
	switch {
	case rp.Code == 220:
	case rp.Class() == 4:
		st.End(report.StatusError, "%s", rp.Short())
		r.rep.Add(replyFinding("smtp.reply.temporary", "banner", rp))
		c.skipRest("banner", "server refused service")
		return false
	default:
		st.End(report.StatusFail, "%s", rp.Short())
		r.rep.Add(replyFinding("smtp.banner.rejected", "banner", rp))
		_, _ = c.s.Quit(ctx)
		c.skipRest("banner", "server refused service")
		return false
	}
	st.End(report.StatusOK, "%s", rp.Short())
	if waited >= 2*time.Second {
		r.rep.Add(report.Newf("smtp.banner.delay", "banner", "The greeting came after %s.", waited.Round(100*time.Millisecond)))
	}
	text := rp.Text()
	if m := softwareRe.FindString(text); m != "" {
		if versionRe.MatchString(text) {
			r.rep.Add(report.Newf("smtp.banner.version", "banner", "The greeting names %q with a version number.", m).With("reply", rp.String(), rp.Seq...))
		} else {
			r.rep.Add(report.Newf("smtp.banner.software", "banner", "The greeting names %q.", m).With("reply", rp.String(), rp.Seq...))
		}
	}
	return true
}

// noteProblems reports syntax violations a lenient parse tolerated; lines
// with different codes have their own finding (observe).
func (c *checker) noteProblems(stage string, rp smtpclient.Reply) {
	problems := rp.ProblemsBesidesMismatch()
	if len(problems) == 0 {
		return
	}
	f := report.Newf("smtp.reply.nonconforming", stage, "%s.", strings.Join(problems, "; "))
	c.r.rep.Add(f.With("reply", rp.String(), rp.Seq...))
}

// ehlo sends EHLO, falling back to HELO (RFC 5321 §3.2).
func (c *checker) ehlo(ctx context.Context, stage string) bool {
	r := c.r
	st := r.begin(stage)
	verb := c.o.Client.helloVerb()
	rp, err := c.s.Cmd(ctx, verb+" "+c.o.Helo)
	if err != nil {
		st.failed(err)
		c.skipRest(stage, "EHLO failed")
		return false
	}
	c.noteProblems(stage, rp)
	if rp.Code == 250 && verb == "HELO" {
		// --protocol smtp: HELO asked for, so no extensions (RFC 5321
		// §4.1.1.1) and nothing to judge about their absence.
		c.caps = smtpclient.Capabilities{Params: map[string][]string{}}
		st.End(report.StatusOK, "HELO: %s", rp.Short())
		return true
	}
	if rp.Code == 250 {
		c.caps = smtpclient.ParseEHLO(rp)
		st.End(report.StatusOK, "%s", strings.Join(c.caps.Keywords, " "))
		return true
	}
	if rp.Class() == 4 || verb != "EHLO" {
		st.End(report.StatusError, "%s", rp.Short())
		if rp.Class() == 4 {
			r.rep.Add(replyFinding("smtp.reply.temporary", stage, rp))
		} else {
			r.rep.Add(replyFinding("smtp.ehlo.rejected", stage, rp))
			_, _ = c.s.Quit(ctx)
		}
		c.skipRest(stage, "server refused service")
		return false
	}
	hr, err := c.s.Cmd(ctx, "HELO "+c.o.Helo)
	if err != nil {
		st.failed(err)
		c.skipRest(stage, "EHLO failed")
		return false
	}
	if hr.Code == 250 {
		c.caps = smtpclient.Capabilities{Params: map[string][]string{}}
		st.End(report.StatusFail, "EHLO refused (%s); HELO accepted", rp.Short())
		r.rep.Add(replyFinding("smtp.ehlo.helo-fallback", stage, rp))
		return true
	}
	st.End(report.StatusFail, "%s", hr.Short())
	r.rep.Add(replyFinding("smtp.ehlo.rejected", stage, hr))
	_, _ = c.s.Quit(ctx)
	c.skipRest(stage, "EHLO refused")
	return false
}

func (c *checker) starttlsMissing() {
	f := report.Newf("smtp.starttls.missing", "starttls", "%s did not advertise STARTTLS: mail to and from it travels in clear text.", c.o.Host)
	switch {
	case c.o.Role == RoleMX:
		f = f.WithSeverity(report.Warn)
		f.Detail += " On an MX this only allows opportunistic TLS to fail (RFC 7435), but every major provider expects STARTTLS today."
	case c.o.AllowNoTLS:
		f = f.WithSeverity(report.Warn)
		f.Detail += " (--allow-no-tls given.)"
	default:
		f.Detail += " On a submission port this exposes passwords and message contents."
	}
	c.r.rep.Add(f)
}

// checkPlainAuth judges AUTH advertised before TLS.
func (c *checker) checkPlainAuth(caps smtpclient.Capabilities) {
	mechs := caps.AuthMechanisms()
	c.r.rep.SetFact("auth_mechanisms_plaintext", mechs)
	if len(mechs) == 0 {
		return
	}
	var clear []string
	for _, m := range mechs {
		if m == "PLAIN" || m == "LOGIN" {
			clear = append(clear, m)
		}
	}
	ev := "250-AUTH " + strings.Join(mechs, " ")
	if len(clear) > 0 {
		c.r.rep.Add(report.Newf("smtp.auth.plaintext", "ehlo", "Before TLS the server offers %s, which send the password as readable base64.", strings.Join(clear, " and ")).With("reply", ev))
		return
	}
	c.r.rep.Add(report.Newf("smtp.auth.before-tls", "ehlo", "Before TLS the server offers AUTH %s.", strings.Join(mechs, " ")).With("reply", ev))
}

// starttls upgrades; ok reports a TLS connection, fatal that the session
// is unusable.
func (c *checker) starttls(ctx context.Context) (ok, fatal bool) {
	r := c.r
	st := r.begin("starttls")
	rp, err := c.s.Cmd(ctx, "STARTTLS")
	if err != nil {
		st.failed(err)
		c.skipRest("starttls", "STARTTLS failed")
		return false, true
	}
	if rp.Code != 220 {
		st.End(report.StatusFail, "%s", rp.Short())
		r.rep.Add(replyFinding("smtp.starttls.rejected", "starttls", rp))
		r.skip("certificate", "no TLS")
		r.skip("ehlo-tls", "no TLS")
		return false, false
	}
	discarded, err := c.s.StartTLS(ctx, c.tlsConfig())
	if err != nil {
		st.End(report.StatusFail, "%v", err)
		c.tlsFailed("starttls", err)
		c.skipRest("starttls", "TLS handshake failed")
		return false, true
	}
	st.End(report.StatusOK, "%s", tlsSummary(c.s.TLS()))
	c.tlsEstablished("starttls", true, discarded)
	return true, false
}

func (c *checker) tlsFailed(stage string, err error) {
	f := report.Newf("smtp.starttls.failed", stage, "TLS handshake with %s failed: %v.", c.o.Host, unwrap(err))
	if strings.Contains(err.Error(), "does not look like a TLS handshake") {
		f.Detail += " The server answered in plaintext: this port does not speak implicit TLS (drop --tls; STARTTLS is used when the server offers it)."
	}
	if k := netx.Classify(unwrap(err)); k == netx.KindTimeout || k == netx.KindClosed || k == netx.KindReset {
		f.Detail = fmt.Sprintf("TLS handshake with %s failed: %s.", c.o.Host, netx.Describe(unwrap(err), 0))
	}
	c.r.rep.Add(f)
	// A handshake that could not complete leaves the verdict open.
	c.r.rep.Incomplete = true
}

func tlsSummary(st *tls.ConnectionState) string {
	if st == nil {
		return ""
	}
	return tls.VersionName(st.Version) + ", " + tls.CipherSuiteName(st.CipherSuite)
}

// tlsEstablished records the TLS facts and the certificate stage.
func (c *checker) tlsEstablished(stage string, starttls bool, discarded int) {
	r := c.r
	ts := c.s.TLS()
	r.rep.SetFact("tls", map[string]any{"version": tls.VersionName(ts.Version), "cipher": tls.CipherSuiteName(ts.CipherSuite), "implicit": !starttls})
	if discarded > 0 {
		r.rep.Add(report.Newf("smtp.starttls.injection", stage, "The server sent %d bytes after its 220 reply to STARTTLS and before the TLS handshake; mailprobe discarded them.", discarded))
	}
	if starttls {
		r.rep.Add(report.Newf("smtp.starttls.ok", stage, "%s.", tlsSummary(ts)))
	} else {
		r.rep.Add(report.Newf("smtp.tls.implicit", stage, "%s.", tlsSummary(ts)))
	}
	st := r.begin("certificate")
	// The certificate stage every engine shares: under --insecure an
	// untrusted chain or a wrong name is a warning that says so, as in
	// tls and imap audit (Check reports cert.verify-skipped once).
	res := certcheck.Stage(*ts, certcheck.StageOptions{
		Options:  certcheck.Options{ServerName: c.o.ServerName, Roots: c.o.RootCAs, Now: r.now()},
		Insecure: c.o.Insecure, SkipReported: true,
	})
	r.rep.Add(res.Findings...)
	r.rep.SetFact("certificate", res.Facts)
	status, summary := res.Status, res.Summary
	c.trusted = res.Trusted
	if !c.tlsExtras("certificate", ts) {
		c.pinFailed = true
		status = report.StatusFail
	} else if c.trusted {
		status = report.StatusOK // a matching pin trusts a private certificate
	}
	st.End(status, "%s", summary)
}

// ptr checks forward-confirmed reverse DNS of the server's address and
// whether the name in its greeting is one of its PTR names: receivers
// judge a sending MTA by both (RFC 5321 §4.1.4 asks for a resolvable
// name; Gmail and Microsoft reject mail from addresses without FCrDNS).
func (c *checker) ptr(ctx context.Context) {
	r := c.r
	st := r.begin("ptr")
	ta, ok := c.s.RemoteAddr().(*net.TCPAddr)
	if !ok {
		r.skip("ptr", "not a TCP connection")
		return
	}
	ip, _ := netip.AddrFromSlice(ta.IP)
	ip = ip.Unmap()
	if !c.o.PTRPrivate && (ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast()) {
		r.skip("ptr", "private address: public reverse DNS does not apply (name a --resolver to check it anyway)")
		return
	}
	chk := dnsauth.CheckPTR(ctx, c.o.Resolver, []netip.Addr{ip}, []string{"the server's address"})
	r.rep.Add(chk.Findings()...)
	res := chk.Results[0]
	r.rep.SetFact("ptr", res)
	switch {
	case res.Error != "":
		st.End(report.StatusInfo, "%s: %s", ip, res.Error)
		return
	case len(res.Confirmed) == 0:
		st.End(report.StatusInfo, "%s → %s (not confirmed)", ip, strings.Join(res.Names, ", "))
	default:
		st.End(report.StatusOK, "%s → %s", ip, strings.Join(res.Confirmed, ", "))
	}
	banner, _ := r.rep.Facts["banner"].(string)
	name := ""
	if f := strings.Fields(strings.TrimPrefix(strings.TrimPrefix(banner, "220-"), "220 ")); len(f) > 0 {
		name = strings.TrimSuffix(strings.ToLower(f[0]), ".")
	}
	if name == "" || net.ParseIP(strings.Trim(name, "[]")) != nil {
		return
	}
	for _, n := range res.Names {
		if strings.EqualFold(strings.TrimSuffix(n, "."), name) {
			return
		}
	}
	r.rep.Add(report.Newf("smtp.banner.ptr-mismatch", "ptr", "The greeting names %s, but %s's reverse DNS is %s.", name, ip, strings.Join(res.Names, ", ")))
}
