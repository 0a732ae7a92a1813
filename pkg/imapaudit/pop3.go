package imapaudit

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
)

// pop3Multi reads a multi-line POP3 response body after its +OK line, up
// to the terminating ".", under one deadline and one byte budget.
func (c *lineConn) pop3Multi(ctx context.Context, a *auditor) (lines []string, err error) {
	t := a.o.Timeouts.WithDefaults()
	err = c.response(ctx, t.Command, "read response", func(src lineSource) error {
		var err error
		lines, err = readPOP3Multi(src, a.o.maxResponse())
		return err
	})
	return lines, err
}

// pop3Cmd sends a command and reads its status line.
func (c *lineConn) pop3Cmd(ctx context.Context, a *auditor, cmd string) (string, error) {
	t := a.o.Timeouts.WithDefaults()
	if err := c.write(ctx, t.Command, cmd+"\r\n"); err != nil {
		return "", err
	}
	return c.readLine(ctx, t.Command)
}

// pop3Caps parses a CAPA body (RFC 2449): keyword, arguments.
func pop3Caps(lines []string) map[string]string {
	caps := map[string]string{}
	for _, l := range lines {
		k, v, _ := strings.Cut(strings.TrimSpace(l), " ")
		if k != "" {
			caps[strings.ToUpper(k)] = v
		}
	}
	return caps
}

func pop3CapList(caps map[string]string) string {
	var out []string
	for k, v := range caps {
		out = append(out, strings.TrimSpace(k+" "+v))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// pop3Greeting reads a POP3 greeting (RFC 1939 §4): +OK, or -ERR when
// the server refuses service.
func pop3Greeting(line string) (greetingKind, string) {
	switch {
	case strings.HasPrefix(line, "+OK"):
		return greetOK, ""
	case strings.HasPrefix(line, "-ERR"):
		return greetRefused, ""
	}
	return greetMalformed, "+OK"
}

func (a *auditor) pop3(ctx context.Context, c *lineConn, port int, trusted bool) bool {
	t := a.o.Timeouts.WithDefaults()
	if !a.greeting(ctx, c, port, t.Banner, pop3Greeting) {
		return false
	}

	caps, ok := a.pop3Capa(ctx, c, port, "capability")
	if !ok {
		return false
	}
	if c.tls == nil {
		if !a.pop3PlaintextChecks(ctx, c, port, caps) {
			return false
		}
		if _, ok := caps["STLS"]; !ok {
			a.add("starttls.missing", fmt.Sprintf("capability:%d", port), "Capabilities before TLS: %s.", pop3CapList(caps))
			return false
		}
		if a.tlsRefused(port) {
			return false
		}
		st := a.begin("starttls", port)
		pipelined, ok := a.upgrade(ctx, c, port, st, "STLS", func(pipeline bool) error {
			return a.pop3STLS(ctx, c, st, pipeline)
		})
		if !ok {
			return false
		}
		st.end(report.StatusOK, "%s", tlsSummary(c.tls))
		a.add("starttls.ok", st.Name, "%s.", tlsSummary(c.tls))
		// POP3 replies carry no tag: a vulnerable server answers the
		// pipelined NOOP unprompted right after the handshake. Wait
		// briefly for such an answer before sending anything.
		if pipelined {
			if line, err := c.readLine(ctx, 300*time.Millisecond); err == nil {
				a.rep.Add(report.Newf(a.code("starttls.injection"), st.Name, "The NOOP sent in the same packet as STLS, before the handshake, was answered inside TLS: %q.", line).With("reply", line))
			} else if netx.Classify(err) != netx.KindTimeout {
				st.fail(err)
				return false
			}
		}
		trusted = a.certificate(c, port)
		if caps, ok = a.pop3Capa(ctx, c, port, "capability-tls"); !ok {
			return false
		}
	}
	if impl := caps["IMPLEMENTATION"]; impl != "" && versionRe.MatchString(impl) {
		a.add("id.version", fmt.Sprintf("capability:%d", port), "CAPA IMPLEMENTATION discloses %q.", impl)
	}
	if a.o.User != "" && a.o.Password != "" {
		a.pop3Login(ctx, c, port, trusted)
	}
	_, _ = c.pop3Cmd(ctx, a, "QUIT")
	return trusted
}

func (a *auditor) pop3Capa(ctx context.Context, c *lineConn, port int, name string) (map[string]string, bool) {
	st := a.begin(name, port)
	reply, err := c.pop3Cmd(ctx, a, "CAPA")
	if err != nil {
		st.fail(err)
		return nil, false
	}
	if !strings.HasPrefix(reply, "+OK") {
		// CAPA is optional (RFC 2449); without it nothing is known.
		st.end(report.StatusInfo, "%s", reply)
		return map[string]string{}, true
	}
	lines, err := c.pop3Multi(ctx, a)
	if err != nil {
		st.fail(err)
		return nil, false
	}
	caps := pop3Caps(lines)
	st.end(report.StatusOK, "%s", pop3CapList(caps))
	a.rep.SetFact(strings.Replace(name, "capability", "capabilities", 1)+":"+strconv.Itoa(port), pop3CapList(caps))
	return caps, true
}

func (a *auditor) pop3PlaintextChecks(ctx context.Context, c *lineConn, port int, caps map[string]string) bool {
	stageName := fmt.Sprintf("capability:%d", port)
	if sasl, ok := caps["SASL"]; ok {
		var weak []string
		for _, m := range strings.Fields(strings.ToUpper(sasl)) {
			if m == "PLAIN" || m == "LOGIN" {
				weak = append(weak, m)
			}
		}
		if len(weak) > 0 {
			a.add("auth.plaintext", stageName, "Before TLS the server offers SASL %s.", strings.Join(weak, " "))
		}
	}
	if _, ok := caps["USER"]; ok {
		a.add("logindisabled.missing", stageName, "USER is advertised before TLS, so clients may send USER/PASS in the clear.")
	}
	st := a.begin("login-probe", port)
	user, pass, real := probeUser(), "not-a-password", false
	if a.o.AllowPlaintextAuth && !a.o.OAuth && a.o.User != "" && a.o.Password != "" {
		user, pass, real = a.o.User, a.o.Password, true
	}
	reply, err := c.pop3Cmd(ctx, a, "USER "+user)
	if err != nil {
		st.fail(err)
		return false
	}
	if strings.HasPrefix(reply, "+OK") {
		reply, err = c.pop3Cmd(ctx, a, "PASS "+pass)
		if err != nil {
			st.fail(err)
			return false
		}
	}
	lower := strings.ToLower(reply)
	switch {
	case strings.HasPrefix(reply, "+OK") && real:
		st.end(report.StatusFail, "%s", reply)
		a.add("plaintext-login.accepted", st.Name, "USER/PASS as %s before TLS: %q.", user, reply)
	case strings.HasPrefix(reply, "+OK"):
		st.end(report.StatusFail, "%s", reply)
		a.add("plaintext-login.checked", st.Name, "USER/PASS with the made-up account %s before TLS was accepted: %q.", user, reply)
	case strings.Contains(lower, "plaintext") || strings.Contains(lower, "cleartext") || strings.Contains(lower, "ssl") ||
		strings.Contains(lower, "tls") || strings.Contains(lower, "encrypt") || strings.Contains(lower, "secure"):
		st.end(report.StatusOK, "%s", reply)
		a.add("plaintext-login.refused", st.Name, "USER/PASS before TLS was refused without checking the password: %q.", reply)
	default:
		st.end(report.StatusFail, "%s", reply)
		a.add("plaintext-login.checked", st.Name, "USER/PASS with the made-up account %s before TLS got %q: the password was checked, not refused for lack of TLS.", user, reply)
	}
	return true
}

func (a *auditor) pop3Login(ctx context.Context, c *lineConn, port int, trusted bool) {
	st := a.begin("login", port)
	if c.tls == nil || (!trusted && !a.o.Insecure) {
		st.end(report.StatusSkipped, "no trusted TLS: the password is not sent")
		return
	}
	if a.o.OAuth {
		a.pop3OAuthLogin(ctx, c, st)
		return
	}
	reply, err := c.pop3Cmd(ctx, a, "USER "+a.o.User)
	if err == nil && strings.HasPrefix(reply, "+OK") {
		reply, err = c.pop3Cmd(ctx, a, "PASS "+a.o.Password)
	}
	if err != nil {
		st.fail(err)
		return
	}
	if strings.HasPrefix(reply, "+OK") {
		st.end(report.StatusOK, "as %s", a.o.User)
		a.add("login.ok", st.Name, "USER/PASS as %s over %s.", a.o.User, tlsSummary(c.tls))
		return
	}
	st.end(report.StatusFail, "%s", reply)
	a.rep.Add(report.Newf(a.code("login.failed"), st.Name, "USER/PASS as %s: %q.", a.o.User, reply).With("reply", reply))
}

// pop3STLS sends STLS (with a NOOP in the same packet when pipeline is
// set) and runs the handshake.
func (a *auditor) pop3STLS(ctx context.Context, c *lineConn, st *stage, pipeline bool) error {
	t := a.o.Timeouts.WithDefaults()
	cmd := "STLS\r\n"
	if pipeline {
		cmd += "NOOP\r\n"
	}
	if err := c.write(ctx, t.Command, cmd); err != nil {
		return err
	}
	reply, err := c.readLine(ctx, t.Command)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(reply, "+OK") {
		st.end(report.StatusFail, "%s", reply)
		a.add("starttls.refused", st.Name, "%q.", reply)
		return errReported
	}
	discarded, err := c.handshake(ctx, a.o.tlsConfig())
	if discarded > 0 {
		a.add("starttls.unsolicited", st.Name, "%d bytes arrived after %q and before the handshake; mailprobe discarded them.", discarded, reply)
	}
	return err
}
