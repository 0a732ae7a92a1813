package imapaudit

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/mailprobe/mailprobe/internal/lazyre"
	"github.com/mailprobe/mailprobe/pkg/report"
)

var literalRe = lazyre.New(`\{(\d{1,9})\+?\}$`)

// imapResponse reads the answer to the command tagged tag: untagged
// lines until the tagged one, literals folded in, under one deadline and
// one byte budget for all of it (readIMAPResponse, response).
func (c *lineConn) imapResponse(ctx context.Context, tag string, a *auditor) (untagged []string, tagged string, err error) {
	t := a.o.Timeouts.WithDefaults()
	err = c.response(ctx, t.Command, "read response", func(src lineSource) error {
		var err error
		untagged, tagged, err = readIMAPResponse(src, tag, a.o.maxResponse())
		return err
	})
	return untagged, tagged, err
}

// imapCaps parses "* CAPABILITY ..." or "[CAPABILITY ...]".
func imapCaps(s string) map[string]bool {
	caps := map[string]bool{}
	// ASCII-only upper-casing keeps byte offsets: strings.ToUpper turns an
	// invalid byte into a 3-byte U+FFFD and the index would point elsewhere.
	up := asciiUpper(s)
	i := strings.Index(up, "CAPABILITY ")
	if i < 0 {
		return nil
	}
	rest := s[i+len("CAPABILITY "):]
	if j := strings.IndexByte(rest, ']'); j >= 0 {
		rest = rest[:j]
	}
	for _, f := range strings.Fields(rest) {
		caps[strings.ToUpper(f)] = true
	}
	return caps
}

func capList(caps map[string]bool) string {
	var out []string
	for k := range caps {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// imapStatus is the status word of a tagged line: OK, NO or BAD.
func imapStatus(tagged string) string {
	f := strings.Fields(tagged)
	if len(f) < 2 {
		return ""
	}
	return strings.ToUpper(f[1])
}

// quote makes an IMAP quoted string (RFC 9051 §4.3).
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// imapGreeting reads an IMAP greeting (RFC 9051 §7.1): OK, PREAUTH (the
// connection is already logged in, which an exposed port should never
// be) or BYE (service refused).
func imapGreeting(line string) (greetingKind, string) {
	up := asciiUpper(line)
	switch {
	case strings.HasPrefix(up, "* OK"):
		return greetOK, ""
	case strings.HasPrefix(up, "* PREAUTH"):
		return greetPreauth, ""
	case strings.HasPrefix(up, "* BYE"):
		return greetRefused, ""
	}
	return greetMalformed, "* OK"
}

func (a *auditor) imap(ctx context.Context, c *lineConn, port int, trusted bool) bool {
	t := a.o.Timeouts.WithDefaults()
	// greeting
	if !a.greeting(ctx, c, port, t.Banner, imapGreeting) {
		return false
	}

	// capabilities (always asked: the greeting's may be partial)
	caps, ok := a.imapCapability(ctx, c, port, "capability")
	if !ok {
		return false
	}
	if c.tls == nil {
		if !a.imapPlaintextChecks(ctx, c, port, caps) {
			return false
		}
		if !caps["STARTTLS"] {
			a.add("starttls.missing", fmt.Sprintf("capability:%d", port), "Capabilities before TLS: %s.", capList(caps))
			return false
		}
		if a.tlsRefused(port) {
			return false
		}
		// STARTTLS with a pipelined NOOP (the CVE-2011-0411 test): a
		// correct server discards it; a vulnerable one answers it
		// inside TLS.
		st := a.begin("starttls", port)
		var injTag string
		if _, ok := a.upgrade(ctx, c, port, st, "STARTTLS", func(pipeline bool) (err error) {
			injTag, err = a.imapStartTLS(ctx, c, st, pipeline)
			return err
		}); !ok {
			return false
		}
		st.end(report.StatusOK, "%s", tlsSummary(c.tls))
		a.add("starttls.ok", st.Name, "%s.", tlsSummary(c.tls))
		trusted = a.certificate(c, port)
		capsTLS, ok := a.imapCapabilityInjected(ctx, c, port, injTag, "capability-tls")
		if !ok {
			return false
		}
		caps = capsTLS
	}
	if caps["ID"] {
		a.imapID(ctx, c, port)
	}
	if a.o.User != "" && a.o.Password != "" {
		a.imapLogin(ctx, c, port, trusted, caps)
	}
	lt := a.tag()
	if err := c.write(ctx, t.Command, lt+" LOGOUT\r\n"); err == nil {
		_, _, _ = c.imapResponse(ctx, lt, a)
	}
	return trusted
}

// imapCapability sends CAPABILITY and parses the answer.
func (a *auditor) imapCapability(ctx context.Context, c *lineConn, port int, name string) (map[string]bool, bool) {
	return a.imapCapabilityInjected(ctx, c, port, "", name)
}

// imapCapabilityInjected also watches for a reply tagged injTag: the
// answer to the NOOP pipelined with STARTTLS, arriving inside TLS.
func (a *auditor) imapCapabilityInjected(ctx context.Context, c *lineConn, port int, injTag, name string) (map[string]bool, bool) {
	t := a.o.Timeouts.WithDefaults()
	st := a.begin(name, port)
	tag := a.tag()
	if err := c.write(ctx, t.Command, tag+" CAPABILITY\r\n"); err != nil {
		st.fail(err)
		return nil, false
	}
	untagged, tagged, err := c.imapResponse(ctx, tag, a)
	if err != nil {
		st.fail(err)
		return nil, false
	}
	var caps map[string]bool
	for _, u := range untagged {
		if injTag != "" && strings.HasPrefix(u, injTag+" ") {
			a.rep.Add(report.Newf(a.code("starttls.injection"), st.Name, "The NOOP sent in the same packet as STARTTLS, before the handshake, was answered inside TLS: %q.", u).With("reply", u))
		}
		if strings.HasPrefix(asciiUpper(u), "* CAPABILITY") {
			caps = imapCaps(u)
		}
	}
	if imapStatus(tagged) != "OK" || caps == nil {
		st.end(report.StatusFail, "%s", tagged)
		a.add("greeting.malformed", st.Name, "CAPABILITY answered %q without a capability list.", tagged)
		return nil, false
	}
	st.end(report.StatusOK, "%s", capList(caps))
	a.rep.SetFact(strings.Replace(name, "capability", "capabilities", 1)+":"+strconv.Itoa(port), capList(caps))
	return caps, true
}

// imapPlaintextChecks judges what the server offers before TLS.
func (a *auditor) imapPlaintextChecks(ctx context.Context, c *lineConn, port int, caps map[string]bool) bool {
	t := a.o.Timeouts.WithDefaults()
	stageName := fmt.Sprintf("capability:%d", port)
	var mechs []string
	for k := range caps {
		if m, ok := strings.CutPrefix(k, "AUTH="); ok && (m == "PLAIN" || m == "LOGIN") {
			mechs = append(mechs, k)
		}
	}
	sort.Strings(mechs)
	if len(mechs) > 0 {
		a.add("auth.plaintext", stageName, "Before TLS the server offers %s.", strings.Join(mechs, " "))
	}
	if caps["LOGINDISABLED"] {
		a.add("plaintext-login.refused", stageName, "LOGINDISABLED is advertised before TLS.")
		return true
	}
	a.add("logindisabled.missing", stageName, "LOGINDISABLED is not advertised before TLS, so clients may send LOGIN in the clear.")

	// The probe: LOGIN before TLS, with a made-up account unless the user
	// explicitly allowed sending the real one.
	st := a.begin("login-probe", port)
	user, pass, real := probeUser(), "not-a-password", false
	if a.o.AllowPlaintextAuth && !a.o.OAuth && a.o.User != "" && a.o.Password != "" {
		user, pass, real = a.o.User, a.o.Password, true
	}
	tag := a.tag()
	if err := c.write(ctx, t.Command, tag+" LOGIN "+quote(user)+" "+quote(pass)+"\r\n"); err != nil {
		st.fail(err)
		return false
	}
	untagged, tagged, err := c.imapResponse(ctx, tag, a)
	if err != nil {
		st.fail(err)
		return false
	}
	text := strings.Join(append(untagged, tagged), " | ")
	lower := strings.ToLower(text)
	switch status := imapStatus(tagged); {
	case status == "OK":
		st.end(report.StatusFail, "%s", tagged)
		if real {
			a.add("plaintext-login.accepted", st.Name, "LOGIN as %s before TLS: %q.", user, tagged)
		} else {
			a.add("plaintext-login.checked", st.Name, "LOGIN with the made-up account %s before TLS was accepted: %q.", user, tagged)
		}
		// Logged in: STARTTLS is no longer allowed on this connection.
		if err := a.reconnect(ctx, c, port); err != nil {
			st.fail(err)
			return false
		}
	case strings.Contains(lower, "privacyrequired") || strings.Contains(lower, "plaintext") || strings.Contains(lower, "cleartext") ||
		strings.Contains(lower, "ssl") || strings.Contains(lower, "tls") || strings.Contains(lower, "starttls") || strings.Contains(lower, "encrypt"):
		st.end(report.StatusOK, "%s", tagged)
		a.add("plaintext-login.refused", st.Name, "LOGIN before TLS was refused without checking the password: %q.", text)
	default:
		st.end(report.StatusFail, "%s", tagged)
		a.add("plaintext-login.checked", st.Name, "LOGIN with the made-up account %s before TLS got %q: the password was checked, not refused for lack of TLS.", user, text)
	}
	return true
}

var idVersionRe = lazyre.New(`(?i)"(version|os|os-version)"\s+"([^"]+)"`)

func (a *auditor) imapID(ctx context.Context, c *lineConn, port int) {
	t := a.o.Timeouts.WithDefaults()
	st := a.begin("id", port)
	tag := a.tag()
	if err := c.write(ctx, t.Command, tag+` ID ("name" "mailprobe")`+"\r\n"); err != nil {
		st.fail(err)
		return
	}
	untagged, tagged, err := c.imapResponse(ctx, tag, a)
	if err != nil {
		st.fail(err)
		return
	}
	var id string
	for _, u := range untagged {
		if strings.HasPrefix(asciiUpper(u), "* ID ") {
			id = u[5:]
		}
	}
	st.end(report.StatusInfo, "%s", strings.TrimSpace(id+" "+tagged))
	if m := idVersionRe.FindAllStringSubmatch(id, -1); len(m) > 0 {
		var parts []string
		for _, kv := range m {
			parts = append(parts, kv[1]+"="+kv[2])
		}
		a.add("id.version", st.Name, "The server's ID answer discloses %s.", strings.Join(parts, ", "))
	}
}

func (a *auditor) imapLogin(ctx context.Context, c *lineConn, port int, trusted bool, caps map[string]bool) {
	t := a.o.Timeouts.WithDefaults()
	st := a.begin("login", port)
	if c.tls == nil || (!trusted && !a.o.Insecure) {
		st.end(report.StatusSkipped, "no trusted TLS: the password is not sent")
		return
	}
	if a.o.OAuth {
		a.imapOAuthLogin(ctx, c, st, caps)
		return
	}
	tag := a.tag()
	if err := c.write(ctx, t.Command, tag+" LOGIN "+quote(a.o.User)+" "+quote(a.o.Password)+"\r\n"); err != nil {
		st.fail(err)
		return
	}
	_, tagged, err := c.imapResponse(ctx, tag, a)
	if err != nil {
		st.fail(err)
		return
	}
	if imapStatus(tagged) == "OK" {
		st.end(report.StatusOK, "as %s", a.o.User)
		a.add("login.ok", st.Name, "LOGIN as %s over %s.", a.o.User, tlsSummary(c.tls))
		return
	}
	st.end(report.StatusFail, "%s", tagged)
	a.rep.Add(report.Newf(a.code("login.failed"), st.Name, "LOGIN as %s: %q.", a.o.User, tagged).With("reply", tagged))
}

// errReported means the finding was already added.
var errReported = errors.New("reported")

// imapStartTLS sends STARTTLS (with a NOOP in the same packet when
// pipeline is set) and runs the handshake. It returns the NOOP's tag.
func (a *auditor) imapStartTLS(ctx context.Context, c *lineConn, st *stage, pipeline bool) (string, error) {
	t := a.o.Timeouts.WithDefaults()
	stTag, injTag := a.tag(), ""
	cmd := stTag + " STARTTLS\r\n"
	if pipeline {
		injTag = a.tag()
		cmd += injTag + " NOOP\r\n"
	}
	if err := c.write(ctx, t.Command, cmd); err != nil {
		return "", err
	}
	untagged, tagged, err := c.imapResponse(ctx, stTag, a)
	if err != nil {
		return "", err
	}
	for _, u := range untagged {
		if injTag != "" && strings.HasPrefix(u, injTag+" ") {
			a.rec.Event("the pipelined NOOP was answered before TLS: %s", u)
		}
	}
	if imapStatus(tagged) != "OK" {
		st.end(report.StatusFail, "%s", tagged)
		a.add("starttls.refused", st.Name, "%q.", tagged)
		return "", errReported
	}
	discarded, err := c.handshake(ctx, a.o.tlsConfig())
	if discarded > 0 {
		a.add("starttls.unsolicited", st.Name, "%d bytes arrived after %q and before the handshake; mailprobe discarded them.", discarded, tagged)
	}
	return injTag, err
}

// upgrade runs try (STARTTLS or STLS and the handshake) first with a
// command pipelined behind it, the injection test. Some servers (go-imap's,
// Dovecot's POP3) feed those bytes into the handshake, which then fails:
// not injectable, but the upgrade is then tried alone on a new connection.
// It reports whether the pipelined attempt is the one that succeeded, and
// ends the stage with its finding when neither did.
func (a *auditor) upgrade(ctx context.Context, c *lineConn, port int, st *stage, cmd string, try func(pipeline bool) error) (pipelined, ok bool) {
	pipelined = true
	err := try(true)
	if err != nil && kindOf(err) == "tls" {
		a.rec.Event("the handshake failed after a command was pipelined with %s (%v); retrying %s alone on a new connection", cmd, err, cmd)
		pipelined = false
		if err = a.reconnect(ctx, c, port); err == nil {
			err = try(false)
		}
	}
	if err != nil {
		if err != errReported {
			st.fail(err)
		}
		return false, false
	}
	return pipelined, true
}

// reconnect replaces c with a new connection to port, greeted.
func (a *auditor) reconnect(ctx context.Context, c *lineConn, port int) error {
	t := a.o.Timeouts.WithDefaults()
	c.close()
	n, err := dial(ctx, &a.o, c.addr, a.connectMode(port), a.rec)
	if err != nil {
		return err
	}
	if _, err := n.readLine(ctx, t.Banner); err != nil {
		n.close()
		return err
	}
	*c = *n
	return nil
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
