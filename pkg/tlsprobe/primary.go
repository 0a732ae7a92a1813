package tlsprobe

// The first connection of a scan: the plaintext dialogue, the upgrade
// with the injection probe, a full crypto/tls handshake for the
// certificate, and the verdicts that need a real TLS session.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/certcheck"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/smtpclient"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// primary runs the first connection: connect, greeting, capabilities,
// STARTTLS with the injection probe, a full crypto/tls handshake for
// the certificate, and the injection verdict. It returns false when no
// TLS could be reached at all.
func (sc *scanner) primary(ctx context.Context) bool {
	o := sc.o
	st := sc.begin("connect")
	s, err := dialSession(ctx, o.Dial, hostPort(o.Host, o.Port), sc.rec, sc.t)
	if err != nil {
		oe := &netx.OpError{Op: "connect", Err: err}
		errors.As(err, &oe)
		st.End(report.StatusError, "%s", netx.Describe(oe.Err, oe.Waited))
		f := report.Newf("tls.connect.failed", "connect", "Could not connect to %s: %s.", hostPort(o.Host, o.Port), netx.Describe(oe.Err, sc.t.Connect))
		if oe.Kind() == netx.KindTimeout {
			f = report.Newf("tls.conn.timeout", "connect", "No TCP connection to %s at stage connect: %s.", hostPort(o.Host, o.Port), netx.Describe(oe.Err, oe.Waited))
		}
		sc.add(f)
		sc.skipAfter("connect", "no connection")
		return false
	}
	sc.addr = s.c.RemoteAddr().String()
	st.End(report.StatusOK, "%s", sc.addr)
	s.helo = o.Helo

	// Which protocol: the flag, else the port, else the greeting.
	sc.proto = o.StartTLS
	sniff := false
	if sc.proto == ProtoAuto {
		if p, ok := protoForPort(o.Port); ok && p == ProtoNone {
			sc.proto = ProtoNone
		} else if !ok {
			sniff = true
		}
	}
	if sc.proto != ProtoNone {
		st = sc.begin("banner")
		g, implicit, err := sc.awaitGreeting(ctx, s, sniff)
		switch {
		case implicit:
			st.End(report.StatusInfo, "no greeting within %s; the port answered a ClientHello: implicit TLS", min(sc.t.Banner, netx.GreetingWait))
			sc.add(report.Newf("tls.implicit-detected", "banner", "Port %d sent no greeting within %s and answered a ClientHello: it speaks implicit TLS (RFC 8314 §3), so the scan goes on over TLS.", o.Port, min(sc.t.Banner, netx.GreetingWait)))
			sc.proto = ProtoNone
		case err != nil:
			st.End(statusOf(err), "%v", err)
			sc.add(sc.stageFinding(err))
			sc.skipAfter("banner", "no greeting")
			s.close()
			return false
		default:
			sc.proto, sc.greet = g.Proto, g
			st.End(report.StatusOK, "%s (%s)", firstLine(g.Banner), g.Proto)
		}
	}
	if sc.role = o.Role; sc.role == RoleAuto {
		sc.role = roleFor(o.Port, sc.proto)
	}
	sc.rep.SetFact("starttls", string(sc.proto))
	sc.rep.SetFact("role", string(sc.role))

	if sc.proto == ProtoNone {
		sc.skip("implicit TLS", "capabilities", "starttls")
		sc.res.Injection = "not-applicable"
		return sc.handshake(ctx, s, false)
	}

	st = sc.begin("capabilities")
	if err := s.capabilities(ctx, sc.greet); err != nil {
		st.End(statusOf(err), "%v", err)
		sc.add(sc.stageFinding(err))
		sc.skipAfter("capabilities", "capabilities failed")
		s.close()
		return false
	}
	st.End(report.StatusOK, "%s", strings.Join(sc.greet.Caps, " "))
	sc.rep.SetFact("capabilities", sc.greet.Caps)
	sc.checkEnforcement()

	st = sc.begin("starttls")
	reply, err := s.starttls(ctx, true)
	if err != nil {
		st.End(statusOf(err), "%v", err)
		sc.add(sc.stageFinding(err))
		sc.skipAfter("starttls", "no TLS")
		s.close()
		return false
	}
	st.End(report.StatusOK, "%s", firstLine(reply))
	sc.injectRaw = true
	return sc.handshake(ctx, s, true)
}

// awaitGreeting reads the greeting. With sniff (a port outside
// netx.MailPorts and no --tls mode) netx.Conn.DetectImplicitTLS decides
// first: when it says TLS, implicit is true and this connection, still
// untouched, carries the handshake. Otherwise the greeting is awaited
// for the rest of the banner deadline: a deliberate greeting delay
// (RFC 5321 §4.5.3.2) is not TLS.
func (sc *scanner) awaitGreeting(ctx context.Context, s *session, sniff bool) (g *greeting, implicit bool, err error) {
	wait := sc.t.Banner
	if sniff {
		start := time.Now()
		implicit, short, err := s.c.DetectImplicitTLS(ctx, sc.o.Dial, sc.addr, sc.sni)
		if err != nil {
			return nil, false, atStage("banner", err)
		}
		if implicit {
			return nil, true, nil
		}
		// The probe may have used up the wait while the greeting sat in
		// the socket buffer; one more short read still collects it.
		wait = max(wait-time.Since(start), short)
	}
	g, err = s.readGreeting(ctx, sc.proto, wait)
	return g, false, err
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func statusOf(err error) report.Status {
	if k := kindOf(err); k == kindRejected || k == kindRefused {
		return report.StatusFail
	}
	return report.StatusError
}

// tlsConfig is the crypto/tls client of the certificate handshake: every
// version from TLS 1.0 and every suite Go implements, including the
// insecure ones, so that an old server still yields its certificate.
// Verification is certcheck's job, which describes a bad certificate
// instead of ending the check.
func (sc *scanner) tlsConfig() *tls.Config {
	var suites []uint16
	for _, s := range tls.CipherSuites() {
		suites = append(suites, s.ID)
	}
	for _, s := range tls.InsecureCipherSuites() {
		suites = append(suites, s.ID)
	}
	return &tls.Config{
		ServerName:         sc.sni,
		InsecureSkipVerify: true, // certcheck verifies, and reports instead of aborting
		MinVersion:         tls.VersionTLS10,
		MaxVersion:         tls.VersionTLS13,
		CipherSuites:       suites,
	}
}

// handshake completes TLS on s with crypto/tls, analyses the certificate
// and, after a STARTTLS with a pipelined command, decides the injection
// test. It returns false when not even a TCP connection for TLS could be
// had; a failed handshake returns true, because the raw enumeration can
// still explain it.
func (sc *scanner) handshake(ctx context.Context, s *session, injected bool) bool {
	st := sc.begin("handshake")
	pre, state, err := sc.tlsHandshake(ctx, s)
	if injected {
		// What the server sent after its go-ahead to the pipelined
		// STARTTLS, before the handshake: netx.Conn.StartTLS reports and
		// drops it (RFC 3207 §4.2).
		sc.pipelined = pre
	}
	if err != nil && injected {
		// The server may have choked on the pipelined command (some
		// close the connection, some answer it in plaintext where the
		// ServerHello should be). Try again cleanly: the certificate is
		// still wanted, and the refusal is a good answer to the test.
		s.close()
		sc.rec.Event("handshake after pipelined STARTTLS failed (%v); retrying without the pipelined command", err)
		s2, err2 := sc.cleanUpgrade(ctx)
		if err2 != nil {
			st.End(statusOf(err2), "%v", err2)
			sc.add(sc.stageFinding(err2))
			sc.skipAfter("handshake", "no TLS")
			return false
		}
		s = s2
		firstErr := err
		_, state, err = sc.tlsHandshake(ctx, s)
		if err == nil {
			sc.injectRaw = false
			sc.res.Injection = "rejected"
			var rhe tls.RecordHeaderError
			if errors.As(firstErr, &rhe) {
				// Plaintext where the ServerHello should have been: the
				// reply to the NOOP, sent before TLS, too late to be
				// buffered with the go-ahead.
				sc.pipelined = append(sc.pipelined, rhe.RecordHeader[:]...)
				sc.res.Injection = "safe"
			}
		}
	}
	defer s.close()
	if err != nil {
		var rhe tls.RecordHeaderError
		switch {
		case errors.As(err, &rhe):
			// The port does not speak TLS: the audit could not be run
			// (exit 3, the one rule for every protocol), not a weakness.
			st.End(report.StatusError, "not TLS")
			sc.add(report.Newf("tls.handshake.not-tls", "handshake", "The server answered the ClientHello with %q.", transcript.Printable(string(rhe.RecordHeader[:]))))
			sc.rep.Incomplete = true
			sc.skipAfter("handshake", "no TLS")
			return false
		case kindOf(err) == string(netx.KindTimeout):
			// A server silent after the ClientHello would make every
			// probe wait as long; stop here.
			st.End(report.StatusError, "%v", err)
			sc.add(sc.stageFinding(err))
			sc.skipAfter("handshake", "no answer to the ClientHello")
			return false
		}
		st.End(report.StatusFail, "%v", err)
		sc.handshakeErr = err
		if sc.res.Injection == "" {
			sc.res.Injection = "not-tested"
		}
		sc.skip("no TLS session", "injection")
		// Not the end: the raw enumeration may show why (a server that
		// speaks only suites Go does not implement), and a raw probe can
		// still fetch the certificate of TLS 1.2 and older.
		return true
	}
	sc.state, sc.certState = state, state
	neg := &Negotiated{Version: tls.VersionName(state.Version)}
	suite, _ := LookupSuite(state.CipherSuite)
	neg.Suite, neg.OpenSSL = suite.Name, suite.OpenSSL
	if state.CurveID != 0 {
		g, _ := LookupGroup(uint16(state.CurveID))
		neg.Group = g.Name
	}
	sc.res.Negotiated = neg
	summary := fmt.Sprintf("%s, %s", neg.Version, suite.ShortName())
	if neg.Group != "" {
		summary += ", " + neg.Group
	}
	st.End(report.StatusOK, "%s", summary)
	detail := fmt.Sprintf("%s with %s", neg.Version, o2s(suite))
	if neg.Group != "" {
		detail += ", key exchange " + neg.Group
	}
	sc.add(report.New("tls.handshake.ok", "handshake", detail+"."))
	sc.rep.SetFact("negotiated", map[string]string{"version": neg.Version, "suite": suite.ShortName(), "group": neg.Group})

	sc.analyzeCert(*state, "")
	if sc.proto != ProtoNone {
		sc.injection(ctx, s)
	}
	return true
}

func o2s(s Suite) string {
	if s.OpenSSL != "" && s.OpenSSL != s.Name {
		return s.Name + " (" + s.OpenSSL + ")"
	}
	return s.Name
}

// cleanUpgrade opens a new connection and upgrades it without injection.
func (sc *scanner) cleanUpgrade(ctx context.Context) (*session, error) {
	s, err := dialSession(ctx, sc.o.Dial, sc.addr, sc.rec, sc.t)
	if err != nil {
		return nil, err
	}
	s.helo = sc.o.Helo
	g, err := s.readGreeting(ctx, sc.proto, sc.t.Banner)
	if err == nil && sc.proto == ProtoSMTP {
		err = s.capabilities(ctx, g)
	}
	if err == nil {
		_, err = s.starttls(ctx, false)
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// tlsHandshake completes TLS on s with crypto/tls (after the STARTTLS
// go-ahead, or at once on an implicit-TLS port) and returns the bytes the
// server sent in plaintext before it, which netx.Conn.StartTLS discards.
// From here s reads and writes inside TLS.
func (sc *scanner) tlsHandshake(ctx context.Context, s *session) (pre []byte, state *tls.ConnectionState, err error) {
	sc.primaryHandshakes++
	pre, err = s.c.StartTLS(ctx, sc.tlsConfig())
	if err != nil {
		return pre, nil, atStage("handshake", err)
	}
	return pre, s.c.TLS(), nil
}

// analyzeCert runs certcheck; note says where the certificates came from
// when not from a completed handshake.
func (sc *scanner) analyzeCert(state tls.ConnectionState, note string) {
	st := sc.begin("certificate")
	res := certcheck.Stage(state, certcheck.StageOptions{
		Options: certcheck.Options{ServerName: sc.o.ServerName, Roots: sc.o.RootCAs, Now: sc.o.Now(),
			WarnBefore: time.Duration(sc.o.CertWarnDays) * 24 * time.Hour},
		Insecure: sc.o.Insecure, Note: note})
	for _, f := range res.Findings {
		sc.add(f)
	}
	if len(state.PeerCertificates) > 0 && note == "" {
		// What testssl.sh reports as OCSP_stapling and
		// certificate_transparency: neither is required of a mail
		// server, so their absence is information.
		if !res.Facts.OCSPStapled && !res.Facts.MustStaple {
			sc.add(report.New("tls.ocsp.not-stapled", "certificate", "The server sent no OCSP response (status_request was offered): clients that check revocation must ask the CA themselves."))
		}
		if n := res.Facts.SCTsEmbedded + res.Facts.SCTsTLS; n == 0 {
			sc.add(report.New("tls.ct.none", "certificate", "No Certificate Transparency timestamps: none embedded in the certificate, none in the TLS extension (the certificate is not from a public CA, or predates CT)."))
		} else {
			sc.add(report.Newf("tls.ct.ok", "certificate", "%d Certificate Transparency timestamps (%d embedded in the certificate, %d in the TLS extension).", n, res.Facts.SCTsEmbedded, res.Facts.SCTsTLS))
		}
	}
	sc.rep.SetFact("certificate", res.Facts)
	facts := res.Facts
	sc.certFacts = &facts
	st.End(res.Status, "%s", res.Summary)
}

// injection decides the STARTTLS command injection test (CVE-2011-0411
// class). The first connection sent the upgrade command and a NOOP in one
// write; a correct server discards everything it read before the
// handshake (RFC 3207 §4.2, RFC 2595 §3.1), a vulnerable one runs the
// NOOP inside TLS. To see which without waiting for a timeout, the client
// now sends the protocol's goodbye inside TLS: its reply is recognisable
// (SMTP 221, IMAP tag "d", POP3 the last line before the close), so any
// reply before it answers the injected command.
func (sc *scanner) injection(ctx context.Context, s *session) {
	st := sc.begin("injection")
	if len(sc.pipelined) > 0 {
		sc.add(report.Newf("tls.starttls.pipelined-plaintext", "injection", "After its go-ahead to STARTTLS the server sent %d more bytes in plaintext before the handshake.", len(sc.pipelined)).
			With("reply", transcript.Printable(strings.TrimSpace(string(sc.pipelined)))))
	}
	if !sc.injectRaw {
		if sc.res.Injection == "safe" {
			st.End(report.StatusOK, "the server answered the pipelined command before TLS")
			sc.add(report.New("tls.starttls.injection-safe", "injection", "The server answered the command pipelined after STARTTLS in plaintext, where the ServerHello should have been; a clean upgrade works. Nothing injected reached the TLS session."))
			return
		}
		st.End(report.StatusOK, "the server refused the pipelined STARTTLS")
		sc.add(report.New("tls.starttls.injection-safe", "injection", "The server dropped the connection (or broke the handshake) when a command followed STARTTLS in the same packet; a clean upgrade works. Nothing injected reached the TLS session."))
		return
	}
	wait := min(sc.t.Command, 5*time.Second)
	disarm := s.c.Arm(ctx, wait)
	defer disarm()
	// s reads inside TLS now; the lines it consumes are cited.
	var seq []int
	var injected, final string
	var readErr error
	// next reads one line inside TLS and notes its seq for the evidence.
	next := func() (string, bool) {
		l, err := s.c.Next()
		if err != nil {
			readErr = err
			return "", false
		}
		seq = append(seq, l.Seq)
		return l.Text, true
	}
	switch sc.proto {
	case ProtoSMTP:
		readErr = s.c.Write(ctx, wait, []byte("QUIT\r\n"))
		for i := 0; i < 3 && readErr == nil; i++ {
			var rp smtpclient.Reply
			rp, readErr = smtpclient.ReadReply(s.c)
			seq = append(seq, rp.Seq...)
			if readErr != nil {
				break
			}
			if rp.Code == 221 {
				final = rp.Short()
				break
			}
			if injected == "" {
				injected = rp.Short()
			}
		}
	case ProtoIMAP:
		readErr = s.c.Write(ctx, wait, []byte("d LOGOUT\r\n"))
		for i := 0; i < 50 && readErr == nil; i++ {
			line, ok := next()
			if !ok {
				break
			}
			if strings.HasPrefix(line, "b ") && injected == "" {
				injected = line
			}
			if strings.HasPrefix(line, "d ") {
				final = line
				break
			}
		}
	case ProtoPOP3:
		readErr = s.c.Write(ctx, wait, []byte("QUIT\r\n"))
		var status []string
		rearm := func() {}
		defer func() { rearm() }()
		for i := 0; i < 10 && readErr == nil; i++ {
			line, ok := next()
			if !ok {
				break
			}
			if strings.HasPrefix(line, "+OK") || strings.HasPrefix(line, "-ERR") {
				status = append(status, line)
				// A POP3 server closes after QUIT (RFC 1939 §6); one
				// second is ample for a second status line to show.
				rearm()
				rearm = s.c.Arm(ctx, min(wait, time.Second))
			}
		}
		switch len(status) {
		case 0:
		case 1:
			final = status[0]
		default:
			injected, final = status[0], status[len(status)-1]
		}
	}
	s.c.Flush()
	cmd := map[Proto]string{ProtoSMTP: `STARTTLS\r\nNOOP\r\n`, ProtoIMAP: `a STARTTLS\r\nb NOOP\r\n`, ProtoPOP3: `STLS\r\nNOOP\r\n`}[sc.proto]
	switch {
	case injected != "":
		sc.res.Injection = "vulnerable"
		st.End(report.StatusFail, "vulnerable: %s", injected)
		f := report.Newf("tls.starttls.injection", "injection", "mailprobe sent \"%s\" in one packet; inside TLS the server answered the NOOP it had read before the handshake (%q). A man in the middle can inject commands into the encrypted session this way.", cmd, injected).
			With("reply", injected, seq...)
		if sc.role == RoleMX {
			f = f.WithSeverity(report.Warn)
			f.Detail += " On a port-25 MX, where TLS is opportunistic, an attacker able to do this could also strip STARTTLS, so the bug adds less risk; still upgrade."
		}
		sc.add(f)
	case final != "":
		sc.res.Injection = "safe"
		st.End(report.StatusOK, "not vulnerable")
		sc.add(report.Newf("tls.starttls.injection-safe", "injection", "mailprobe sent \"%s\" in one packet; the server discarded the NOOP at the upgrade, as %s requires.", cmd, map[bool]string{true: "RFC 3207 §4.2", false: "RFC 2595 §3.1"}[sc.proto == ProtoSMTP]).With("reply", final, seq...))
	default:
		sc.res.Injection = "inconclusive"
		why := "no reply inside TLS"
		if readErr != nil {
			why = netx.Describe(readErr, wait)
		}
		st.End(report.StatusInfo, "inconclusive: %s", why)
		sc.add(report.Newf("tls.starttls.injection-inconclusive", "injection", "After the handshake the server did not answer the goodbye command (%s), so the test cannot tell.", why))
	}
}

// checkEnforcement looks at the capabilities read before TLS: a server
// that takes passwords in plaintext makes the TLS audit moot for clients
// that do not insist on STARTTLS. The IMAP and SMTP auditors go further
// (trying a login); here only what was advertised counts.
func (sc *scanner) checkEnforcement() {
	g := sc.greet
	if !g.CapsSeen {
		return
	}
	if !starttlsAdvertised(sc.proto, g.Caps) {
		cmd := "STARTTLS"
		if sc.proto == ProtoPOP3 {
			cmd = "STLS"
		}
		f := report.Newf("tls.starttls.not-advertised", "capabilities", "The %s capability list before TLS does not offer %s; mailprobe tries the upgrade anyway.", strings.ToUpper(string(sc.proto)), cmd)
		if sc.role != RoleMX {
			f = f.WithSeverity(report.Fail)
		}
		sc.add(f.With("reply", strings.Join(g.Caps, " "), g.CapsSeq...))
	}
	if sc.role == RoleMX {
		return
	}
	has := func(c string) bool {
		for _, x := range g.Caps {
			if strings.EqualFold(x, c) {
				return true
			}
		}
		return false
	}
	var why string
	switch sc.proto {
	case ProtoSMTP:
		var clear []string
		if g.ehlo != nil {
			for _, m := range g.ehlo.AuthMechanisms() {
				if m == "PLAIN" || m == "LOGIN" {
					clear = append(clear, m)
				}
			}
		}
		if len(clear) > 0 {
			why = fmt.Sprintf("Before TLS the server offers AUTH %s, which sends the password readable to anyone on the path.", strings.Join(clear, " "))
		}
	case ProtoIMAP:
		if !has("LOGINDISABLED") {
			why = "Before TLS the IMAP capabilities lack LOGINDISABLED, so the server accepts LOGIN with a plaintext password (RFC 9051 §6.2.3)."
		}
	case ProtoPOP3:
		if has("USER") {
			why = "Before TLS the POP3 capabilities offer USER, so the server accepts USER/PASS with a plaintext password (RFC 2595 §4)."
		}
	}
	if why != "" {
		sc.add(report.New("tls.starttls.not-enforced", "capabilities", why).With("reply", strings.Join(g.Caps, " "), g.CapsSeq...))
	}
}

// stageFinding turns a stage error into a finding that names the stage.
func (sc *scanner) stageFinding(err error) report.Finding {
	var oe *netx.OpError
	if !errors.As(err, &oe) {
		return report.Newf("tls.conn.error", "connect", "%v", err)
	}
	stage := oe.Op
	var reply string
	var seq []int
	if oe.Partial != nil {
		reply, seq = oe.Partial.Text, oe.Partial.Seq
	}
	// why is the cause in words: a refusal's reason, or the wire error.
	var why error = oe.Err
	if r := (*refusal)(nil); errors.As(err, &r) {
		why = errors.New(r.why)
	}
	var f report.Finding
	switch kindOf(err) {
	case kindRefused:
		f = report.Newf("tls.server.refused", stage, "Server refused: %s", serverSays(reply))
		sc.rep.Incomplete = true
	case kindRejected:
		f = report.Newf("tls.starttls.rejected", stage, "The server refused the upgrade at stage %s: %s", stage, serverSays(reply))
		if sc.role == RoleMX {
			f = f.WithSeverity(report.Warn)
			f.Detail += " On a port-25 MX this leaves every sender in plaintext."
		}
	case kindProtocol:
		f = report.Newf("tls.banner.unexpected", stage, "At stage %s the server said %q: %v.", stage, netx.Clip(reply), why)
		sc.rep.Incomplete = true
	case string(netx.KindTimeout):
		f = report.Newf("tls.conn.timeout", stage, "No answer at stage %s: %s.", stage, netx.Describe(oe.Err, oe.Waited))
		sc.rep.Incomplete = true
	case string(netx.KindClosed):
		f = report.Newf("tls.conn.closed", stage, "The server closed the connection at stage %s.", stage)
		sc.rep.Incomplete = true
	case string(netx.KindReset):
		f = report.Newf("tls.conn.reset", stage, "The connection was reset at stage %s.", stage)
		sc.rep.Incomplete = true
	default:
		f = report.Newf("tls.conn.error", stage, "Stage %s failed: %v.", stage, oe)
		sc.rep.Incomplete = true
	}
	if reply != "" {
		f = f.With("reply", reply, seq...)
	}
	return f
}

// serverSays quotes a reply for a detail, or says there was none.
func serverSays(reply string) string {
	if reply == "" {
		return "(no reply text)."
	}
	return fmt.Sprintf("%q.", strings.ReplaceAll(reply, "\n", " / "))
}
