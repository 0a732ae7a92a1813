//go:build integration

package integration

import (
	"encoding/json"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// `mailprobe audit` against the whole environment: Postfix's three ports
// and Dovecot's five (with ManageSieve), named with --port PORT/SERVICE
// (none is on its well-known number here), plus a port nothing listens
// on, from the remote-looking client address (Dovecot trusts 127.0.0.1).
//
// These tests are not parallel: an audit opens hundreds of connections
// (a TLS scan on every port), and beside the login and lockout tests on a
// loaded machine Dovecot's implicit-TLS listeners then stalled for 15 s
// and more. Sequential tests run before the parallel ones, alone.

func serverAuditArgs(t *testing.T, extra ...string) []string {
	t.Helper()
	ln, err := net.Listen("tcp", E.Host+":0")
	if err != nil {
		t.Fatal(err)
	}
	_, closed, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	args := []string{"audit", E.Host}
	for _, p := range []struct {
		port int
		svc  string
	}{
		{E.SMTPPort, "smtp"}, {E.SubmissionPort, "submission"}, {E.SubmissionsPort, "submissions"},
		{E.IMAPPort, "imap"}, {E.IMAPSPort, "imaps"}, {E.POP3Port, "pop3"}, {E.POP3SPort, "pop3s"},
		{E.SievePort, "sieve"},
	} {
		args = append(args, "--port", strconv.Itoa(p.port)+"/"+p.svc)
	}
	args = append(args, "--port", closed+"/submission")
	return append(append(append(args, E.TLSArgs()...), "--format", "json"), extra...)
}

type portRow struct {
	Port          int      `json:"port"`
	Service       string   `json:"service"`
	State         string   `json:"state"`
	TLS           string   `json:"tls"`
	AuthBeforeTLS string   `json:"auth_before_tls"`
	Versions      []string `json:"tls_versions"`
	Grade         string   `json:"grade"`
	Software      string   `json:"software"`
}

func portTable(t *testing.T, rep *Report) map[int]portRow {
	t.Helper()
	raw, ok := rep.Facts["ports"]
	if !ok {
		t.Fatal("no facts.ports")
	}
	var rows []portRow
	b, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatalf("facts.ports: %v\n%s", err, b)
	}
	out := map[int]portRow{}
	for _, r := range rows {
		out[r.Port] = r
	}
	return out
}

func TestServerAudit_wholeServer(t *testing.T) {
	r := RunWith(t, RunOptions{Timeout: 2 * time.Minute}, serverAuditArgs(t, "--local-addr", E.ClientAddr)...)
	rep := r.JSON(t)
	if rep.Command != "audit" || rep.Incomplete {
		t.Fatalf("command %q, incomplete %v\n%s", rep.Command, rep.Incomplete, r)
	}
	rows := portTable(t, rep)
	want := map[int]struct{ tls, auth string }{
		E.SMTPPort: {"starttls", "no"}, E.SubmissionPort: {"starttls", "no"}, E.SubmissionsPort: {"implicit", "no"},
		E.IMAPPort: {"starttls", "no"}, E.IMAPSPort: {"implicit", "no"}, E.POP3Port: {"starttls", "no"}, E.POP3SPort: {"implicit", "no"},
		E.SievePort: {"starttls", "no"},
	}
	for port, w := range want {
		row := rows[port]
		if row.State != "open" || row.TLS != w.tls || row.AuthBeforeTLS != w.auth || (port != E.SievePort && !slices.Contains(row.Versions, "TLS 1.3")) {
			t.Errorf("port %d (%s): %+v, want open, tls %s, auth before TLS %s, TLS 1.3 accepted", port, row.Service, row, w.tls, w.auth)
		}
	}
	closed := 0
	for _, row := range rows {
		if row.State == "closed" {
			closed++
		}
	}
	if closed != 1 || len(rows) != 9 {
		t.Errorf("%d rows, %d closed; want 9 and 1: %+v", len(rows), closed, rows)
	}
	// ManageSieve from a remote client: STARTTLS, the certificate
	// trusted, no password mechanism before TLS.
	sieve := "sieve:" + strconv.Itoa(E.SievePort)
	wantFindingAt(t, rep, "sieve.starttls.ok", "pass", sieve+"/starttls")
	wantFindingAt(t, rep, "cert.ok", "pass", sieve+"/certificate")
	wantFindingAt(t, rep, "sieve.banner.software", "info", sieve+"/greeting")
	rep.WantNoFinding(t, "audit.exposure.sieve-plaintext")
	// Exposure: POP3 answers (twice, info); Dovecot's STARTTLS ports are
	// open beside their implicit twins (info); nothing takes a password
	// in the clear.
	if n := len(findingsCoded(rep, "audit.exposure.pop3-enabled")); n != 2 {
		t.Errorf("%d pop3-enabled findings, want 2", n)
	}
	for _, p := range []int{E.IMAPPort, E.POP3Port} {
		label := map[int]string{E.IMAPPort: "imap", E.POP3Port: "pop3"}[p] + ":" + strconv.Itoa(p)
		wantFindingAt(t, rep, "audit.exposure.starttls-port-open", "info", label)
	}
	rep.WantNoFinding(t, "audit.exposure.plaintext-mailbox")
	rep.WantNoFinding(t, "audit.exposure.submission-no-tls")
	// The only failures are the ones `tls` reports for Postfix's
	// submission ports (tls_test.go): Debian's defaults accept anonymous
	// suites with a 1024-bit DH prime there, which a port carrying
	// passwords must not. Port 25 has them too, as information.
	r.WantExit(t, 1)
	var fails []string
	for _, f := range rep.Findings {
		if f.Severity == "fail" {
			fails = append(fails, f.Code+"@"+f.Stage)
		}
	}
	var wantFails []string
	for _, l := range []string{"submission:" + strconv.Itoa(E.SubmissionPort), "submissions:" + strconv.Itoa(E.SubmissionsPort)} {
		wantFails = append(wantFails, "tls.cipher.anon@"+l+"/tls", "tls.dh.weak@"+l+"/tls")
	}
	WantSameSet(t, "failures", fails, wantFails)
	wantFindingAt(t, rep, "tls.cipher.anon", "info", "smtp:"+strconv.Itoa(E.SMTPPort)+"/tls")

	// The audit's IMAP port agrees with `imap audit` of that port: the
	// same codes at the same stages (besides the version.* findings only
	// the audit makes). Dovecot hides its version: unknown, never guessed.
	one := audit(t, "imap", RunOptions{}, []int{E.IMAPPort}, nil, fromClientAddr()...).JSON(t)
	label := "imap:" + strconv.Itoa(E.IMAPPort) + "/"
	var got, exp []string
	for _, f := range rep.Findings {
		if rest, ok := strings.CutPrefix(f.Stage, label); ok && !strings.HasPrefix(f.Code, "version.") {
			got = append(got, f.Code+"@"+rest)
		}
	}
	for _, f := range one.Findings {
		exp = append(exp, f.Code+"@"+strings.TrimSuffix(f.Stage, ":"+strconv.Itoa(E.IMAPPort)))
	}
	WantSameSet(t, "imap findings of audit vs imap audit", got, exp)
	wantFindingAt(t, rep, "version.unknown", "info", label+"greeting")
	if row := rows[E.IMAPPort]; row.Software != "Dovecot" {
		t.Errorf("imap row software %q, want Dovecot", row.Software)
	}
}

// From 127.0.0.1 Dovecot offers plaintext login before TLS: the audit's
// exposure findings say which mailbox ports take passwords in the clear.
func TestServerAudit_localClientExposure(t *testing.T) {
	args := []string{"audit", E.Host, "--port", strconv.Itoa(E.IMAPPort) + "/imap", "--port", strconv.Itoa(E.POP3Port) + "/pop3",
		"--port", strconv.Itoa(E.IMAPSPort) + "/imaps", "--port", strconv.Itoa(E.SievePort) + "/sieve", "--no-tls-scan", "--format", "json"}
	r := RunWith(t, RunOptions{Timeout: 2 * time.Minute}, append(args, E.TLSArgs()...)...)
	r.WantExit(t, 1)
	rep := r.JSON(t)
	for _, p := range []int{E.IMAPPort, E.POP3Port} {
		label := map[int]string{E.IMAPPort: "imap", E.POP3Port: "pop3"}[p] + ":" + strconv.Itoa(p)
		wantFindingAt(t, rep, "audit.exposure.plaintext-mailbox", "fail", label)
	}
	if n := len(findingsCoded(rep, "audit.exposure.plaintext-mailbox")); n != 2 {
		t.Errorf("%d plaintext-mailbox findings, want 2 (not the implicit-TLS port)", n)
	}
	// Dovecot offers PLAIN before TLS to a local ManageSieve client too.
	wantFindingAt(t, rep, "audit.exposure.sieve-plaintext", "fail", "sieve:"+strconv.Itoa(E.SievePort))
	rows := portTable(t, rep)
	if row := rows[E.IMAPPort]; row.TLS != "starttls-optional" || row.AuthBeforeTLS != "yes" {
		t.Errorf("imap row %+v", row)
	}
}

// A Dovecot account with a default-looking password (test@test.local,
// 123456) is found only when asked, only for the accounts allowed, and
// its password is never printed.
func TestServerAudit_defaultCredentials(t *testing.T) {
	base := []string{"audit", E.Host, "--port", strconv.Itoa(E.IMAPSPort) + "/imaps", "--no-tls-scan", "--local-addr", E.ClientAddr}
	base = append(base, E.TLSArgs()...)
	r := RunWith(t, RunOptions{Timeout: 2 * time.Minute}, append(base, "--format", "json")...)
	r.WantExit(t, 0)
	r.JSON(t).WantNoFinding(t, "imap.login.default-credentials")

	args := append(append([]string{}, base...), "--default-credentials", "--accounts", "test@*", "--domain", E.Domain)
	r = RunWith(t, RunOptions{Timeout: 2 * time.Minute}, append(args, "--format", "json")...)
	r.WantExit(t, 1)
	rep := r.JSON(t)
	label := "imaps:" + strconv.Itoa(E.IMAPSPort) + "/default-credentials"
	if f := wantFindingAt(t, rep, "imap.login.default-credentials", "fail", label); f != nil {
		WantContains(t, "default-credentials", f.Detail, "test@"+E.Domain)
	}
	for _, f := range rep.Findings {
		if f.Code == "imap.login.default-credentials" && !strings.Contains(f.Detail, "test@") {
			t.Errorf("another account logged in: %s", f.Detail)
		}
	}
	if strings.Contains(r.Stdout, "123456") || strings.Contains(r.Stderr, "123456") {
		t.Error("the working password is in the output")
	}
	// Text output too.
	r = RunWith(t, RunOptions{Timeout: 2 * time.Minute}, args...)
	if strings.Contains(r.Stdout, "123456") || !strings.Contains(r.Stdout, "default password") {
		t.Errorf("text output:\n%s", r.Stdout)
	}
	// Without --accounts, nothing is tried.
	RunWith(t, RunOptions{}, append(append([]string{}, base...), "--default-credentials")...).WantExit(t, 2)
}
