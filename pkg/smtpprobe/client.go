package smtpprobe

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/smtpclient"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// ClientOptions are the knobs of `smtp send` (and, where they make sense,
// `smtp check`) beyond the defaults: what swaks lets a sysadmin change.
// The zero value is the default behaviour.
type ClientOptions struct {
	// QuitAfter ends the run politely (QUIT) after the named stage:
	// connect, banner, ehlo, starttls, auth, mail, rcpt or data (after
	// the 354, where QUIT is impossible, so the connection is closed).
	// DropAfter closes the connection abruptly instead; "data" there
	// means after the message's final dot, without reading the reply.
	QuitAfter, DropAfter string

	// Protocol is "esmtp" (default: EHLO, HELO when refused), "smtp"
	// (HELO only, RFC 821 style: no extensions) or "lmtp" (LHLO, and one
	// reply per recipient after the message, RFC 2033).
	Protocol string

	// Socket connects to a UNIX socket instead of Host:Port; Pipe runs a
	// program and speaks SMTP to its stdin and stdout.
	Socket, Pipe string
	// Proxy, when set, sends a PROXY protocol header first.
	Proxy *smtpclient.ProxyHeader
	// XClient are Postfix XCLIENT attributes (NAME=VALUE), sent after
	// the EHLO that precedes AUTH; only when the server offers XCLIENT
	// unless XClientForce.
	XClient      []string
	XClientForce bool

	// TLS: a client certificate, the versions and cipher suites offered
	// (zero: Go's defaults), the SNI name when it differs from the name
	// the certificate is checked against, SHA-256 fingerprints of the
	// leaf certificate that make it trusted (pinning; any other leaf is
	// refused even when its chain verifies), and PeerChain to report
	// the negotiated details with the whole chain, PEM included.
	ClientCert             *tls.Certificate
	MinVersion, MaxVersion uint16
	CipherSuites           []uint16
	SNI                    string
	Fingerprints           []string // lower-case hex, no separators
	PeerChain              bool

	// AuthOptional goes on without authentication when AUTH fails or is
	// not offered (swaks' --auth-optional): the failure is a warning.
	AuthOptional bool
	// OAuth says the password is an OAuth 2.0 access token: the
	// mechanism is OAUTHBEARER when offered, else XOAUTH2.
	OAuth bool

	// Envelope extensions. Each is sent only when the server offers its
	// keyword; otherwise a finding says it was left out (REQUIRETLS: the
	// message is not sent at all, RFC 8689 §4.1).
	DSNRet, DSNEnvID, DSNNotify string
	DSNORcpt                    bool
	Body                        string // "", "7BIT", "8BITMIME" or "BINARYMIME" (which needs CHUNKING: BDAT)
	SMTPUTF8                    bool   // send SMTPUTF8 even for ASCII addresses
	RequireTLS                  bool   // the REQUIRETLS MAIL parameter (RFC 8689)
	Chunking                    bool   // BDAT instead of DATA when CHUNKING is offered

	// Pipeline is "" (when offered), "on" (required: a finding and no
	// message when PIPELINING is not offered), "force" (even when not
	// offered) or "off".
	Pipeline string
}

// StopStages are the stage names --quit-after and --drop-after take.
var StopStages = []string{"connect", "banner", "ehlo", "starttls", "auth", "mail", "rcpt", "data"}

func init() {
	report.Register(
		report.Code{Code: "smtp.send.stopped", Severity: report.Info, Title: "Stopped early as asked (--quit-after, --drop-after)",
			Fix: "Nothing to fix: the run ended after the stage named, and the stages after it were not attempted."},
		report.Code{Code: "smtp.lmtp.delivered", Severity: report.Pass, Title: "LMTP delivered to the recipient", Refs: []string{"RFC 2033 §4.2"}},
		report.Code{Code: "smtp.lmtp.rejected", Severity: report.Fail, Title: "LMTP refused delivery to a recipient",
			Fix: "After the message an LMTP server answers once per recipient: this recipient's delivery failed (see the explanation); the others may have succeeded.", Refs: []string{"RFC 2033 §4.2"}},
		report.Code{Code: "smtp.xclient.not-offered", Severity: report.Fail, Title: "XCLIENT asked for but not offered",
			Fix: "The server does not offer XCLIENT to this client: in Postfix, list the client's address in smtpd_authorized_xclient_hosts, or use --xclient-force to send it anyway.", Refs: []string{"Postfix XCLIENT_README"}},
		report.Code{Code: "smtp.xclient.rejected", Severity: report.Fail, Title: "XCLIENT refused",
			Fix: "See the explanation: the attribute names or values were refused, or the client is not authorized to use XCLIENT.", Refs: []string{"Postfix XCLIENT_README"}},
		report.Code{Code: "smtp.tls.fingerprint-match", Severity: report.Pass, Title: "Certificate matches the pinned fingerprint"},
		report.Code{Code: "smtp.tls.fingerprint-mismatch", Severity: report.Fail, Title: "Certificate does not match the pinned fingerprint",
			Fix: "The server presented another certificate than the one pinned with --tls-fingerprint: it was renewed (pin the new one), or someone is in the middle. Nothing was sent."},
		report.Code{Code: "smtp.tls.peer-chain", Severity: report.Info, Title: "Negotiated TLS details and the peer's certificate chain"},
		report.Code{Code: "smtp.auth.oauth-error", Severity: report.Fail, Title: "The server refused the OAuth 2.0 token",
			Fix: "The server's JSON error says why (decoded in the detail): an expired token needs refreshing, a 403 a token with the scope the service names.", Refs: []string{"RFC 7628 §3.2.2"}},
		report.Code{Code: "smtp.send.extension-not-offered", Severity: report.Warn, Title: "An extension asked for is not offered",
			Fix: "The server did not advertise the extension the option needs, so the parameter was left out (or, for REQUIRETLS, the message was not sent). Use a server that offers it, or drop the option."},
		report.Code{Code: "smtp.pipelining.not-offered", Severity: report.Fail, Title: "--pipeline asked for, but PIPELINING is not offered",
			Fix: "The server does not advertise PIPELINING (RFC 2920), so the message was not sent pipelined. Drop --pipeline, or use --pipeline force to send the group anyway and see how the server copes."},
	)
}

// stopAfter ends the run after stage when --quit-after or --drop-after
// names it: the stages after it are skipped, and the session either
// says QUIT or is closed. It reports whether the run stopped.
func (c *checker) stopAfter(ctx context.Context, stage string) bool {
	cl := c.o.Client
	drop := false
	switch stage {
	case cl.QuitAfter:
	case cl.DropAfter:
		drop = true
	default:
		return false
	}
	c.stopped = true
	if drop {
		c.r.rec.Event("closing the connection without QUIT (--drop-after %s)", stage)
		c.s.Close()
		c.r.rep.Add(report.Newf("smtp.send.stopped", stage, "Stopped after %s and closed the connection without QUIT, as --drop-after asked.", stage))
		c.skipRest(stage, "--drop-after "+stage)
		return true
	}
	c.r.rep.Add(report.Newf("smtp.send.stopped", stage, "Stopped after %s and said QUIT, as --quit-after asked.", stage))
	c.skipRestExcept(stage, "--quit-after "+stage, "quit")
	st := c.r.begin("quit")
	if rp, err := c.s.Quit(ctx); err != nil {
		st.End(report.StatusInfo, "%v", err)
	} else {
		st.End(report.StatusOK, "%s", rp.Short())
	}
	return true
}

// localTransport names the transport that replaces host:port ("" for TCP).
func (o ClientOptions) localTransport() string {
	switch {
	case o.Socket != "":
		return "unix:" + o.Socket
	case o.Pipe != "":
		return "pipe: " + o.Pipe
	}
	return ""
}

// dialer is the run's dial function with the transport options applied.
func (o Options) dialer(rec *transcript.Recorder) netx.DialFunc {
	d := o.Dial
	switch {
	case o.Client.Socket != "":
		d = smtpclient.UnixDialer(o.Client.Socket)
	case o.Client.Pipe != "":
		d = smtpclient.PipeDialer(o.Client.Pipe, 2*time.Second)
	}
	if o.Client.Proxy != nil {
		d = smtpclient.ProxyDialer(d, *o.Client.Proxy, func(s string) { rec.Event("%s", s) })
	}
	return d
}

// helloVerb is the greeting command of the protocol.
func (o ClientOptions) helloVerb() string {
	switch o.Protocol {
	case "smtp":
		return "HELO"
	case "lmtp":
		return "LHLO"
	}
	return "EHLO"
}

// xclient sends XCLIENT (Postfix) with the attributes asked for, then
// greets again: after XCLIENT's 220 the session starts over (XCLIENT_README).
func (c *checker) xclient(ctx context.Context) bool {
	r := c.r
	if !c.caps.Has("XCLIENT") && !c.o.Client.XClientForce {
		r.skip("xclient", "not offered")
		r.rep.Add(report.Newf("smtp.xclient.not-offered", "xclient", "%s does not offer XCLIENT to this client, so the attributes %s were not sent.", c.o.Host, strings.Join(c.o.Client.XClient, " ")))
		c.skipRest("xclient", "XCLIENT not offered")
		return false
	}
	st := r.begin("xclient")
	rp, err := c.s.Cmd(ctx, "XCLIENT "+strings.Join(c.o.Client.XClient, " "))
	if err != nil {
		st.failed(err)
		c.skipRest("xclient", "XCLIENT failed")
		return false
	}
	if rp.Code != 220 && rp.Code != 250 {
		st.End(statusFor(rp), "%s", rp.Short())
		r.rep.Add(refusal("smtp.xclient.rejected", "xclient", rp))
		_, _ = c.s.Quit(ctx)
		c.skipRest("xclient", "XCLIENT refused")
		return false
	}
	st.End(report.StatusOK, "%s", rp.Short())
	return c.ehlo(ctx, "ehlo-xclient")
}

// applyTLS puts the TLS options into cfg.
func (o ClientOptions) applyTLS(cfg *tls.Config) {
	if o.ClientCert != nil {
		cfg.Certificates = []tls.Certificate{*o.ClientCert}
	}
	if o.MinVersion != 0 {
		cfg.MinVersion = o.MinVersion
	}
	if o.MaxVersion != 0 {
		cfg.MaxVersion = o.MaxVersion
	}
	if len(o.CipherSuites) > 0 {
		cfg.CipherSuites = o.CipherSuites
	}
	if o.SNI != "" {
		cfg.ServerName = o.SNI
	}
}

// Fingerprint is the SHA-256 fingerprint of a certificate's DER, lower
// case hex, as --tls-fingerprint takes it.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// tlsExtras judges the pinned fingerprint and reports the peer's chain.
// It returns false when the pin does not match: nothing may be sent.
func (c *checker) tlsExtras(stage string, ts *tls.ConnectionState) bool {
	cl, r := c.o.Client, c.r
	if cl.PeerChain {
		var certs []map[string]any
		orNone := func(s string) string {
			if s == "" {
				return "none"
			}
			return s
		}
		f := report.Newf("smtp.tls.peer-chain", stage, "%s, %s; SNI %s; ALPN %s; %d certificate(s) sent by the server.",
			tls.VersionName(ts.Version), tls.CipherSuiteName(ts.CipherSuite), orNone(ts.ServerName), orNone(ts.NegotiatedProtocol), len(ts.PeerCertificates))
		for i, cert := range ts.PeerCertificates {
			fp := Fingerprint(cert.Raw)
			f = f.With("certificate", fmt.Sprintf("#%d subject %s; issuer %s; not after %s; sha256:%s", i, cert.Subject, cert.Issuer, cert.NotAfter.UTC().Format(time.RFC3339), fp))
			pemText := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
			f = f.With("pem", strings.TrimSpace(pemText))
			certs = append(certs, map[string]any{"subject": cert.Subject.String(), "issuer": cert.Issuer.String(), "not_after": cert.NotAfter.UTC(), "sha256": fp, "pem": pemText})
		}
		r.rep.Add(f)
		r.rep.SetFact("peer_chain", certs)
	}
	if len(cl.Fingerprints) == 0 {
		return true
	}
	if len(ts.PeerCertificates) == 0 {
		c.trusted = false
		r.rep.Add(report.Newf("smtp.tls.fingerprint-mismatch", stage, "The server sent no certificate to compare with the pinned fingerprint."))
		return false
	}
	got := Fingerprint(ts.PeerCertificates[0].Raw)
	for _, want := range cl.Fingerprints {
		if want == got {
			// A pin is a trust decision of its own: a self-signed or
			// private certificate that matches it is the one expected.
			c.trusted, c.pinMatched = true, true
			r.rep.Add(report.Newf("smtp.tls.fingerprint-match", stage, "The certificate's SHA-256 fingerprint %s is the one pinned.", got))
			return true
		}
	}
	c.trusted = false
	r.rep.Add(report.Newf("smtp.tls.fingerprint-mismatch", stage, "The certificate's SHA-256 fingerprint is sha256:%s, not the one pinned (%s).", got, "sha256:"+strings.Join(cl.Fingerprints, ", sha256:")))
	return false
}

// authMech chooses the mechanism for an OAuth token: OAUTHBEARER (the
// standard, RFC 7628) when offered, else XOAUTH2 (Google's and
// Microsoft's older one).
func (c *checker) oauthMech(mechs []string) string {
	if contains(mechs, "OAUTHBEARER") {
		return "OAUTHBEARER"
	}
	return "XOAUTH2"
}

// oauthFinding reports the OAuth error the server sent as a challenge.
func (c *checker) oauthFinding() {
	raw := c.s.OAuthError()
	if raw == "" {
		return
	}
	_, why, ok := smtpclient.ExplainOAuthError(raw)
	if !ok {
		why = "the server sent a challenge that is not the JSON error RFC 7628 §3.2.2 describes."
	}
	c.r.rep.Add(report.Newf("smtp.auth.oauth-error", "auth", "The server refused the token: %s", why).With("oauth-error", transcript.Printable(netx.Clip(raw))))
}

// mailParams are the MAIL FROM parameters of a send, each only when the
// server offers its extension; ok is false when the message must not be
// sent (REQUIRETLS asked for but not offered).
func (c *checker) mailParams() (params []string, chunking, ok bool) {
	o, cl := c.o, c.o.Client
	notOffered := func(opt, ext string) {
		c.r.rep.Add(report.Newf("smtp.send.extension-not-offered", "mail", "%s needs %s, which %s did not offer; sent without it.", opt, ext, o.Host))
	}
	if limit, has := c.caps.Size(); has && limit >= 0 {
		// RFC 1870 §6: declaring the size lets the server refuse early.
		params = append(params, fmt.Sprintf("SIZE=%d", len(o.Message)))
	}
	switch strings.ToUpper(cl.Body) {
	case "":
	case "7BIT":
		params = append(params, "BODY=7BIT")
	case "8BITMIME":
		if c.caps.Has("8BITMIME") {
			params = append(params, "BODY=8BITMIME") // RFC 6152
		} else {
			notOffered("--body-type 8bitmime", "8BITMIME")
		}
	case "BINARYMIME":
		if c.caps.Has("BINARYMIME") && c.caps.Has("CHUNKING") {
			params = append(params, "BODY=BINARYMIME") // RFC 3030 §3
			chunking = true
		} else {
			notOffered("--body-type binarymime", "BINARYMIME and CHUNKING")
		}
	}
	if cl.Chunking {
		if c.caps.Has("CHUNKING") {
			chunking = true
		} else {
			notOffered("--bdat", "CHUNKING")
		}
	}
	if c.caps.Has("SMTPUTF8") && (cl.SMTPUTF8 || !isASCII(o.MailFrom+strings.Join(o.RcptTo, ""))) {
		params = append(params, "SMTPUTF8") // RFC 6531 §3.4
	} else if cl.SMTPUTF8 {
		notOffered("--smtputf8", "SMTPUTF8")
	}
	if cl.DSNRet != "" || cl.DSNEnvID != "" || cl.DSNNotify != "" || cl.DSNORcpt {
		if c.caps.Has("DSN") {
			if cl.DSNRet != "" {
				params = append(params, "RET="+strings.ToUpper(cl.DSNRet))
			}
			if cl.DSNEnvID != "" {
				params = append(params, "ENVID="+xtext(cl.DSNEnvID))
			}
		} else {
			notOffered("--dsn-*", "DSN")
		}
	}
	if cl.RequireTLS {
		if !c.caps.Has("REQUIRETLS") || c.s.TLS() == nil {
			// RFC 8689 §4.1: a message that requires TLS must not be
			// sent to a server that cannot promise it.
			f := report.Newf("smtp.send.extension-not-offered", "mail", "--requiretls needs REQUIRETLS over TLS, which %s did not offer, so the message was not sent (RFC 8689 §4.1).", o.Host).WithSeverity(report.Fail)
			c.r.rep.Add(f)
			return nil, false, false
		}
		params = append(params, "REQUIRETLS")
	}
	return params, chunking, true
}

// rcptParams are the RCPT parameters of each recipient (DSN, RFC 3461).
func (c *checker) rcptParams() []string {
	cl := c.o.Client
	if !c.caps.Has("DSN") || (cl.DSNNotify == "" && !cl.DSNORcpt) {
		return nil
	}
	out := make([]string, len(c.o.RcptTo))
	for i, to := range c.o.RcptTo {
		var p []string
		if cl.DSNNotify != "" {
			p = append(p, "NOTIFY="+strings.ToUpper(cl.DSNNotify))
		}
		if cl.DSNORcpt {
			p = append(p, "ORCPT=rfc822;"+xtext(to))
		}
		out[i] = strings.Join(p, " ")
	}
	return out
}

// xtext encodes s as RFC 3461 §4 xtext: "+" and "=", controls and
// non-ASCII as +XX.
func xtext(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch < 33 || ch > 126 || ch == '+' || ch == '=' {
			fmt.Fprintf(&b, "+%02X", ch)
			continue
		}
		b.WriteByte(ch)
	}
	return b.String()
}

// pipelineMode decides whether the transaction is pipelined; ok is false
// when --pipeline was required and PIPELINING is not offered.
func (c *checker) pipelineMode() (pipeline, ok bool) {
	switch c.o.Client.Pipeline {
	case "off":
		return false, true
	case "force":
		return true, true
	case "on":
		if !c.caps.Has("PIPELINING") {
			c.r.rep.Add(report.Newf("smtp.pipelining.not-offered", "mail", "%s does not advertise PIPELINING, so the transaction was not sent (--pipeline requires it; --pipeline force sends it anyway).", c.o.Host))
			return false, false
		}
		return true, true
	}
	return c.caps.Has("PIPELINING"), true
}
