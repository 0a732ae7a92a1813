package audit_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/audit"
	"github.com/mailprobe/mailprobe/pkg/report"
)

func TestDefaultCredentials_onlyAllowedAccounts(t *testing.T) {
	if n := len(audit.DefaultPairs); n > 10 {
		t.Errorf("%d default pairs: the list is meant to stay at 10 or fewer", n)
	}
	creds, err := audit.DefaultCredentials(nil, "example.org")
	if err != nil || len(creds) != 0 {
		t.Errorf("no pattern: %v %v", creds, err)
	}
	creds, _ = audit.DefaultCredentials([]string{"test@example.org"}, "example.org")
	if len(creds) != 2 || creds[0].User != "test@example.org" || creds[1].Password != "123456" {
		t.Errorf("test@: %+v", creds)
	}
	creds, _ = audit.DefaultCredentials([]string{"*@EXAMPLE.org"}, "example.org")
	if len(creds) != len(audit.DefaultPairs) {
		t.Errorf("*@: %d", len(creds))
	}
	creds, _ = audit.DefaultCredentials([]string{"admin"}, "")
	if len(creds) != 2 || creds[0].User != "admin" {
		t.Errorf("bare admin: %+v", creds)
	}
	if _, err := audit.DefaultCredentials([]string{"[x"}, ""); err == nil {
		t.Error("a malformed glob accepted")
	}
}

// credIMAP is an implicit-TLS IMAP server with one account, which can
// start refusing after a number of failed logins.
type credIMAP struct {
	cert        *testserver.Cert
	user, pass  string
	blockAfter  int
	failures    atomic.Int32
	hangupAfter bool // hang up after every failed login, as some servers do
}

func (s *credIMAP) handler(c *testserver.Conn) {
	if err := c.UpgradeTLS(s.cert.TLS); err != nil {
		return
	}
	c.Send("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready")
	for {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := c.Line()
		if err != nil {
			return
		}
		tag, rest, _ := strings.Cut(line, " ")
		cmd, args, _ := strings.Cut(rest, " ")
		switch strings.ToUpper(cmd) {
		case "CAPABILITY":
			c.Send("* CAPABILITY IMAP4rev1 AUTH=PLAIN", tag+" OK done")
		case "LOGIN":
			f := strings.Fields(args)
			if len(f) == 2 && strings.Trim(f[0], `"`) == s.user && strings.Trim(f[1], `"`) == s.pass {
				c.Send(tag + " OK Logged in")
				continue
			}
			n := s.failures.Add(1)
			if s.blockAfter > 0 && int(n) > s.blockAfter {
				c.Send(tag + " NO [UNAVAILABLE] Too many login failures, try again later")
				continue
			}
			c.Send(tag + " NO [AUTHENTICATIONFAILED] Authentication failed.")
			if s.hangupAfter {
				return
			}
		case "LOGOUT":
			c.Send("* BYE", tag+" OK bye")
			return
		default:
			c.Send(tag + " BAD unknown")
		}
	}
}

func TestAudit_defaultCredentialsFound(t *testing.T) {
	cert := testserver.NewCert(t, testserver.CertOptions{Names: []string{"mail.test.example"}})
	srv := &credIMAP{cert: &cert, user: "demo@test.example", pass: "demo", hangupAfter: true}
	addr := testserver.Start(t, srv.handler)
	creds, _ := audit.DefaultCredentials([]string{"*@test.example"}, "test.example")
	rep := run(t, audit.Options{Services: []audit.Service{svc(t, addr, "imaps")}, ServerName: "mail.test.example",
		RootCAs: cert.Pool, NoTLSScan: true, DefaultCredentials: creds})
	label := "imaps:" + strconv.Itoa(portOf(t, addr))
	fs := findings(rep)
	f := fs["imap.login.default-credentials"]
	if len(f) != 1 || f[0].Stage != label+"/default-credentials" || !strings.Contains(f[0].Detail, "demo@test.example") {
		t.Fatalf("finding %+v; all %v", f, rep.Findings)
	}
	st, _ := rep.Facts["ports"].([]audit.PortResult)
	var summary string
	for _, s := range st[0].Stages {
		if s.Name == "default-credentials:"+strconv.Itoa(portOf(t, addr)) {
			summary = s.Summary
		}
	}
	if !strings.Contains(summary, "10 of 10 pairs tried") {
		t.Errorf("stage summary %q", summary)
	}
	if rep.ExitCode(report.Fail) != report.ExitFindings {
		t.Errorf("exit %d", rep.ExitCode(report.Fail))
	}
	// No password tried appears in the transcript: every LOGIN line is
	// redacted, its last word never a tried password.
	logins := 0
	for _, e := range rep.Transcript {
		if !strings.Contains(e.Line, "LOGIN ") || e.Dir != "C" {
			continue
		}
		logins++
		f := strings.Fields(e.Line)
		last := strings.Trim(f[len(f)-1], `"`)
		for _, p := range audit.DefaultPairs {
			if last == p.Password {
				t.Errorf("password %q in %q", p.Password, e.Line)
			}
		}
		if !e.Redacted {
			t.Errorf("LOGIN line not marked redacted: %+v", e)
		}
	}
	// At least one LOGIN per pair (a pair sent on a connection the server
	// had already hung up is sent again on a new one).
	if logins < len(audit.DefaultPairs) {
		t.Errorf("%d LOGIN lines in the transcript, want at least %d", logins, len(audit.DefaultPairs))
	}
	b, _ := json.Marshal(rep)
	if strings.Contains(string(b), `demo@test.example demo`) || strings.Contains(string(b), `"demo"`) {
		t.Error("the working password is in the report")
	}
}

// The check stops at the first sign of rate limiting and says so.
func TestAudit_defaultCredentialsStopAtRateLimit(t *testing.T) {
	cert := testserver.NewCert(t, testserver.CertOptions{Names: []string{"mail.test.example"}})
	srv := &credIMAP{cert: &cert, user: "nobody", pass: "x", blockAfter: 2}
	addr := testserver.Start(t, srv.handler)
	creds, _ := audit.DefaultCredentials([]string{"*"}, "")
	rep := run(t, audit.Options{Services: []audit.Service{svc(t, addr, "imaps")}, ServerName: "mail.test.example",
		RootCAs: cert.Pool, NoTLSScan: true, DefaultCredentials: creds})
	fs := findings(rep)
	if f := fs["imap.default-credentials.stopped"]; len(f) != 1 || !strings.Contains(f[0].Detail, "after 3 attempts") {
		t.Errorf("stopped: %+v; all %v", f, rep.Findings)
	}
	if len(fs["imap.login.default-credentials"]) != 0 {
		t.Errorf("a login reported: %v", fs["imap.login.default-credentials"])
	}
}
