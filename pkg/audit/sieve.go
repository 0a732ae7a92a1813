package audit

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/mailprobe/mailprobe/pkg/certcheck"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// ManageSieve (RFC 5804) lets mail users upload filter scripts, with the
// same password as their mailbox: a port that takes it before TLS is a
// plaintext login like IMAP's. The check reads the greeting (capability
// lines ending in OK), upgrades with STARTTLS, judges the certificate and
// reads the capabilities the server must re-issue after TLS (§2.2).

// The ManageSieve finding codes.
const (
	CodeSieveConnError      = "sieve.conn.error"
	CodeSieveGreetingBad    = "sieve.greeting.malformed"
	CodeSieveGreetingNo     = "sieve.greeting.refused"
	CodeSieveImplementation = "sieve.banner.software"
	CodeSieveAuthPlaintext  = "sieve.auth.plaintext"
	CodeSieveStartTLSOK     = "sieve.starttls.ok"
	CodeSieveStartTLSNone   = "sieve.starttls.missing"
	CodeSieveStartTLSFailed = "sieve.starttls.failed"
	CodeSieveUnsolicited    = "sieve.starttls.unsolicited"
)

func init() {
	ref := "RFC 5804 §1.7"
	report.Register(
		report.Code{Code: CodeSieveConnError, Severity: report.Fail, Title: "ManageSieve connection failed",
			Fix: "The server accepted the connection but the dialogue failed (see the detail): check the service behind the port and its logs."},
		report.Code{Code: CodeSieveGreetingBad, Severity: report.Fail, Title: "ManageSieve greeting is not valid",
			Fix: "The port does not speak ManageSieve, or something in front of it answers instead: check the port and the service behind it.", Refs: []string{ref}},
		report.Code{Code: CodeSieveGreetingNo, Severity: report.Fail, Title: "ManageSieve server refused the connection",
			Fix: "The greeting ended in NO or BYE: the server is overloaded, rate-limiting this address, or refusing it. The text says which.", Refs: []string{ref}},
		report.Code{Code: CodeSieveImplementation, Severity: report.Info, Title: "ManageSieve greeting names the server software",
			Fix: "Harmless on its own, but it tells attackers what to look up. Dovecot Pigeonhole: managesieve_implementation_string.", Refs: []string{"RFC 5804 §1.7"}},
		report.Code{Code: CodeSieveAuthPlaintext, Severity: report.Fail, Title: "ManageSieve offers PLAIN or LOGIN before TLS",
			Fix: "Only advertise password mechanisms after TLS: Dovecot disable_plaintext_auth = yes (2.3) / auth_allow_cleartext = no (2.4).", Refs: []string{"RFC 5804 §2.1", "RFC 8314 §3"}},
		report.Code{Code: CodeSieveStartTLSOK, Severity: report.Pass, Title: "ManageSieve STARTTLS works", Refs: []string{"RFC 5804 §2.2"}},
		report.Code{Code: CodeSieveStartTLSNone, Severity: report.Fail, Title: "ManageSieve port does not offer STARTTLS",
			Fix: "Enable TLS for ManageSieve (Dovecot: ssl = required with ssl_cert/ssl_key), or close port 4190 to the world.", Refs: []string{"RFC 5804 §2.2", "RFC 8314 §3"}},
		report.Code{Code: CodeSieveStartTLSFailed, Severity: report.Fail, Title: "ManageSieve STARTTLS failed",
			Fix: "The server offered STARTTLS but the upgrade failed (see the detail): check its certificate and TLS settings.", Refs: []string{"RFC 5804 §2.2"}},
		report.Code{Code: CodeSieveUnsolicited, Severity: report.Fail, Title: "ManageSieve server sent data before the TLS handshake",
			Fix: "Bytes after the STARTTLS go-ahead and before the handshake are the mark of a STARTTLS command-injection bug (CVE-2011-0411 class): update the server.", Refs: []string{"RFC 5804 §2.2", "CVE-2011-0411"}},
	)
}

// maxSieveLines bounds one ManageSieve response (a greeting has about ten
// capability lines).
const maxSieveLines = 100

// sieveCaps is what a capability response says.
type sieveCaps struct {
	implementation string
	sasl           []string
	starttls       bool
	seq            []int // the lines, for evidence
	lines          []string
}

// readSieveResponse reads capability lines up to the OK/NO/BYE that ends
// a response.
func readSieveResponse(ctx context.Context, c *netx.Conn) (caps sieveCaps, status, text string, err error) {
	for i := 0; i < maxSieveLines; i++ {
		l, err := c.ReadLine(ctx, 0)
		if err != nil {
			return caps, "", "", err
		}
		caps.seq = append(caps.seq, l.Seq)
		caps.lines = append(caps.lines, l.Text)
		word, rest, _ := strings.Cut(l.Text, " ")
		switch strings.ToUpper(word) {
		case "OK", "NO", "BYE":
			return caps, strings.ToUpper(word), rest, nil
		}
		name, value := sieveCapability(l.Text)
		switch name {
		case "":
			return caps, "", "", netx.ProtocolError(fmt.Sprintf("not a ManageSieve capability line: %q", netx.Clip(l.Text)))
		case "IMPLEMENTATION":
			caps.implementation = value
		case "SASL":
			caps.sasl = strings.Fields(strings.ToUpper(value))
		case "STARTTLS":
			caps.starttls = true
		}
	}
	return caps, "", "", netx.ProtocolError(fmt.Sprintf("more than %d lines in one response", maxSieveLines))
}

// sieveCapability parses `"NAME" "value"` or `"NAME"` (RFC 5804 §1.7);
// "" when the line is not one.
func sieveCapability(line string) (name, value string) {
	q := func(s string) (string, string, bool) {
		s = strings.TrimLeft(s, " ")
		if !strings.HasPrefix(s, `"`) {
			return "", s, false
		}
		end := strings.IndexByte(s[1:], '"')
		if end < 0 {
			return "", s, false
		}
		return s[1 : end+1], s[end+2:], true
	}
	n, rest, ok := q(line)
	if !ok || n == "" {
		return "", ""
	}
	v, _, _ := q(rest)
	return strings.ToUpper(n), v
}

func plaintextMechs(mechs []string) []string {
	var out []string
	for _, m := range mechs {
		if m == "PLAIN" || m == "LOGIN" {
			out = append(out, m)
		}
	}
	return out
}

// checkSieve runs the ManageSieve check of one port.
func checkSieve(ctx context.Context, o *Options, s Service, progress func(string)) (*report.Report, error) {
	rec := transcript.New(o.Now)
	rec.AddCredential(o.User, o.Password)
	addr := netx.HostPort(o.Host, s.Port)
	rep := report.NewReport("sieve check", addr, rec.Start())
	stages := report.NewStages(rep, o.Now, rec, progress)
	defer func() {
		rep.Transcript = rec.Entries()
		rep.Duration = o.Now().Sub(rep.StartedAt)
	}()
	cfg := &tls.Config{ServerName: o.ServerName, RootCAs: o.RootCAs, InsecureSkipVerify: true, MinVersion: tls.VersionTLS10}
	co := netx.ConnOptions{Dial: o.Dial, Timeouts: o.Timeouts}
	if s.Implicit {
		co.ImplicitTLS = cfg
	}
	connError := func(stage *report.StageTimer, err error) {
		stage.End(report.StatusError, "%v", err)
		if oe, ok := err.(*netx.OpError); ok && oe.Partial != nil {
			rep.Add(report.Newf(CodeSieveConnError, stage.Name, "%v", err).With("reply", oe.Partial.Text, oe.Partial.Seq...))
			return
		}
		rep.Add(report.Newf(CodeSieveConnError, stage.Name, "%v", err))
	}
	st := stages.Begin("connect")
	c, err := netx.Dial(ctx, addr, rec, co)
	if err != nil {
		connError(st, err)
		return rep, nil
	}
	defer c.Close()
	st.End(report.StatusOK, "connected to %s", c.RemoteAddr())

	st = stages.Begin("greeting")
	caps, status, text, err := readSieveResponse(ctx, c)
	switch {
	case err != nil && netx.Classify(err) == netx.KindProtocol:
		st.End(report.StatusFail, "not ManageSieve")
		rep.Add(report.Newf(CodeSieveGreetingBad, "greeting", "%v", err))
		return rep, nil
	case err != nil:
		connError(st, err)
		return rep, nil
	case status != "OK":
		st.End(report.StatusFail, "%s %s", status, text)
		rep.Add(report.Newf(CodeSieveGreetingNo, "greeting", "The greeting ended in %s %s.", status, netx.Clip(text)))
		return rep, nil
	}
	st.End(report.StatusOK, "%d capability lines", len(caps.lines)-1)
	if caps.implementation != "" {
		rep.Add(report.Newf(CodeSieveImplementation, "greeting", "IMPLEMENTATION %q.", caps.implementation).With("reply", caps.implementation, caps.seq...))
	}
	if !s.Implicit {
		if m := plaintextMechs(caps.sasl); len(m) > 0 {
			rep.Add(report.Newf(CodeSieveAuthPlaintext, "greeting", "Before TLS the server offers SASL %s.", strings.Join(m, " ")).With("reply", "SASL "+strings.Join(caps.sasl, " "), caps.seq...))
		}
	}

	if !s.Implicit {
		st = stages.Begin("starttls")
		if !caps.starttls {
			st.End(report.StatusFail, "not offered")
			rep.Add(report.New(CodeSieveStartTLSNone, "starttls", "The greeting's capabilities do not include STARTTLS."))
			return rep, nil
		}
		if err := c.WriteLine(ctx, 0, "STARTTLS"); err != nil {
			connError(st, err)
			return rep, nil
		}
		_, status, text, err := readSieveResponse(ctx, c)
		if err != nil {
			connError(st, err)
			return rep, nil
		}
		if status != "OK" {
			st.End(report.StatusFail, "%s %s", status, text)
			rep.Add(report.Newf(CodeSieveStartTLSFailed, "starttls", "STARTTLS answered %s %s.", status, netx.Clip(text)))
			return rep, nil
		}
		pre, err := c.StartTLS(ctx, cfg)
		if len(pre) > 0 {
			rep.Add(report.Newf(CodeSieveUnsolicited, "starttls", "%d bytes arrived after the go-ahead and before the handshake.", len(pre)).With("reply", transcript.Printable(netx.Clip(string(pre)))))
		}
		if err != nil {
			st.End(report.StatusFail, "%v", err)
			rep.Add(report.Newf(CodeSieveStartTLSFailed, "starttls", "%v", err))
			return rep, nil
		}
		st.End(report.StatusOK, "TLS %s", tls.VersionName(c.TLS().Version))
		rep.Add(report.New(CodeSieveStartTLSOK, "starttls", ""))
	}

	cs := certcheck.Stage(*c.TLS(), certcheck.StageOptions{Options: certcheck.Options{ServerName: o.ServerName, Roots: o.RootCAs, Now: o.Now()}, Insecure: o.Insecure})
	rep.AddStage(report.Stage{Name: "certificate", Status: cs.Status, Summary: cs.Summary, Start: o.Now().Sub(rep.StartedAt)})
	rep.Add(cs.Findings...)

	if !s.Implicit {
		// RFC 5804 §2.2: the server re-issues its capabilities after TLS.
		st = stages.Begin("capability")
		after, status, text, err := readSieveResponse(ctx, c)
		switch {
		case err != nil:
			connError(st, err)
			return rep, nil
		case status != "OK":
			st.End(report.StatusFail, "%s %s", status, text)
			return rep, nil
		}
		st.End(report.StatusOK, "SASL %s", strings.Join(after.sasl, " "))
	}
	_ = c.WriteLine(ctx, 0, "LOGOUT")
	return rep, nil
}
