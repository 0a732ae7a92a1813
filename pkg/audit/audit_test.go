package audit_test

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/audit"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
)

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

func svc(t *testing.T, addr, name string) audit.Service {
	t.Helper()
	s, err := audit.ParseService(strconv.Itoa(portOf(t, addr)) + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func run(t *testing.T, o audit.Options) *report.Report {
	t.Helper()
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Timeouts == (netx.Timeouts{}) {
		o.Timeouts = netx.Timeouts{Connect: 2 * time.Second, Banner: 5 * time.Second, Command: 5 * time.Second, TLS: 5 * time.Second}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := audit.Audit(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func findings(r *report.Report) map[string][]report.Finding {
	m := map[string][]report.Finding{}
	for _, f := range r.Findings {
		m[f.Code] = append(m[f.Code], f)
	}
	return m
}

func rows(t *testing.T, r *report.Report) map[int]audit.PortResult {
	t.Helper()
	rs, ok := r.Facts["ports"].([]audit.PortResult)
	if !ok {
		t.Fatalf("no port table: %T", r.Facts["ports"])
	}
	m := map[int]audit.PortResult{}
	for _, x := range rs {
		m[x.Port] = x
	}
	return m
}

func TestParseService(t *testing.T) {
	for in, want := range map[string]string{
		"25": "smtp:25", "465": "submissions:465", "587": "submission:587", "993": "imaps:993",
		"110": "pop3:110", "4190": "sieve:4190", "2525": "submission:2525",
		"10025/smtp": "smtp:10025", "1465/smtps": "submissions:1465", "10143/IMAP": "imap:10143", " 12/managesieve ": "sieve:12",
	} {
		s, err := audit.ParseService(in)
		if err != nil || s.Label() != want {
			t.Errorf("%q: %v %v, want %s", in, s.Label(), err, want)
		}
	}
	if s, _ := audit.ParseService("995"); !s.Implicit || s.Proto != netx.ProtoPOP3 {
		t.Errorf("995: %+v", s)
	}
	for _, bad := range []string{"", "x", "0", "65536", "8080", "25/http", "25/", "/smtp"} {
		if _, err := audit.ParseService(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if n := len(audit.DefaultServices()); n != 8 {
		t.Errorf("%d default ports, want 8", n)
	}
}

// sieveServer is a ManageSieve server (RFC 5804) whose capabilities and
// TLS can be set.
type sieveServer struct {
	caps    []string // before TLS, without the final OK
	capsTLS []string
	cert    *testserver.Cert
}

func (s sieveServer) handler(c *testserver.Conn) {
	c.Send(append(append([]string{}, s.caps...), `OK "ready"`)...)
	for {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := c.Line()
		if err != nil {
			return
		}
		switch strings.ToUpper(line) {
		case "STARTTLS":
			if s.cert == nil {
				c.Send(`NO "no TLS here"`)
				continue
			}
			c.Send(`OK "Begin TLS negotiation now"`)
			if err := c.UpgradeTLS(s.cert.TLS); err != nil {
				return
			}
			c.Send(append(append([]string{}, s.capsTLS...), `OK "TLS negotiation successful"`)...)
		case "LOGOUT":
			c.Send(`OK "Logout complete"`)
			return
		default:
			c.Send(`NO "unknown command"`)
		}
	}
}

// A server with a plaintext IMAP port, a ManageSieve port offering PLAIN
// before TLS, a submission port with STARTTLS and a closed POP3 port:
// one report, one exit code, the exposure named per port.
func TestAudit_plaintextServer(t *testing.T) {
	cert := testserver.NewCert(t, testserver.CertOptions{Names: []string{"mail.test.example"}})
	smtp := testserver.Start(t, testserver.SMTP{Cert: &cert}.Handler())
	imap := testserver.Start(t, func(c *testserver.Conn) {
		c.Send("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] Dovecot ready.")
		for {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, err := c.Line()
			if err != nil {
				return
			}
			tag, rest, _ := strings.Cut(line, " ")
			switch cmd, _, _ := strings.Cut(rest, " "); strings.ToUpper(cmd) {
			case "CAPABILITY":
				c.Send("* CAPABILITY IMAP4rev1 AUTH=PLAIN", tag+" OK done")
			case "LOGIN":
				c.Send(tag + " NO [AUTHENTICATIONFAILED] Authentication failed.")
			case "LOGOUT":
				c.Send("* BYE", tag+" OK bye")
				return
			default:
				c.Send(tag + " BAD unknown")
			}
		}
	})
	sieve := testserver.Start(t, sieveServer{caps: []string{`"IMPLEMENTATION" "Dovecot Pigeonhole"`, `"SASL" "PLAIN LOGIN"`, `"SIEVE" "fileinto"`, `"VERSION" "1.0"`}}.handler)
	closed := testserver.ClosedPort(t)

	rep := run(t, audit.Options{
		Services:   []audit.Service{svc(t, smtp, "submission"), svc(t, imap, "imap"), svc(t, closed, "pop3"), svc(t, sieve, "sieve")},
		ServerName: "mail.test.example", RootCAs: cert.Pool, NoTLSScan: true,
	})
	fs := findings(rep)
	table := rows(t, rep)

	if st := table[portOf(t, closed)].State; st != audit.StateClosed {
		t.Errorf("pop3 port %s", st)
	}
	for _, a := range []string{smtp, imap, sieve} {
		if st := table[portOf(t, a)].State; st != audit.StateOpen {
			t.Errorf("%s %s", a, st)
		}
	}
	imapRow := table[portOf(t, imap)]
	if imapRow.TLS != "none" || imapRow.AuthBeforeTLS != "yes" {
		t.Errorf("imap row %+v", imapRow)
	}
	if r := table[portOf(t, smtp)]; r.TLS != "starttls" || r.AuthBeforeTLS != "no" {
		t.Errorf("submission row %+v", r)
	}
	if r := table[portOf(t, sieve)]; r.TLS != "none" || r.AuthBeforeTLS != "yes" || r.Software != "Dovecot" {
		t.Errorf("sieve row %+v", r)
	}
	// The exposure, each named by its port.
	imapLabel := "imap:" + strconv.Itoa(portOf(t, imap))
	if f := fs[audit.CodePlaintextMailbox]; len(f) != 1 || f[0].Stage != imapLabel {
		t.Errorf("plaintext mailbox: %+v", f)
	}
	if f := fs[audit.CodeSievePlaintext]; len(f) != 1 {
		t.Errorf("sieve plaintext: %+v", f)
	}
	for _, c := range []string{audit.CodeSieveStartTLSNone, audit.CodeSieveAuthPlaintext, "imap.starttls.missing"} {
		if len(fs[c]) == 0 {
			t.Errorf("no %s in %v", c, rep.Findings)
		}
	}
	if len(fs[audit.CodePOP3Enabled]) != 0 || len(fs[audit.CodeSubmissionNoTLS]) != 0 {
		t.Errorf("exposure of a closed or safe port: %v", rep.Findings)
	}
	// Port checks' findings keep their stage under the port's label.
	if f := fs["imap.starttls.missing"]; len(f) > 0 && !strings.HasPrefix(f[0].Stage, imapLabel+"/") {
		t.Errorf("stage %q", f[0].Stage)
	}
	// One stage per port, after the probe.
	if rep.Stages[0].Name != "ports" || len(rep.Stages) != 4 {
		t.Errorf("stages %+v", rep.Stages)
	}
	if got := rep.ExitCode(report.Fail); got != report.ExitFindings {
		t.Errorf("exit %d", got)
	}
	// The merged transcript is numbered once: seqs are unique and every
	// seq a finding cites is in it.
	seen := map[int]bool{}
	for _, e := range rep.Transcript {
		if seen[e.Seq] {
			t.Fatalf("seq %d twice", e.Seq)
		}
		seen[e.Seq] = true
	}
	for _, f := range rep.Findings {
		for _, ev := range f.Evidence {
			for _, s := range ev.Seq {
				if !seen[s] {
					t.Errorf("%s cites seq %d, not in the transcript", f.Code, s)
				}
			}
		}
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatal(err)
	}
}

// A ManageSieve port that enforces TLS: STARTTLS, a trusted certificate,
// PLAIN only after TLS — no exposure.
func TestAudit_sieveWithTLS(t *testing.T) {
	cert := testserver.NewCert(t, testserver.CertOptions{Names: []string{"mail.test.example"}})
	sieve := testserver.Start(t, sieveServer{cert: &cert,
		caps:    []string{`"IMPLEMENTATION" "Dovecot Pigeonhole"`, `"SASL" ""`, `"STARTTLS"`, `"VERSION" "1.0"`},
		capsTLS: []string{`"IMPLEMENTATION" "Dovecot Pigeonhole"`, `"SASL" "PLAIN LOGIN"`, `"VERSION" "1.0"`}}.handler)
	rep := run(t, audit.Options{Services: []audit.Service{svc(t, sieve, "sieve")}, ServerName: "mail.test.example", RootCAs: cert.Pool})
	fs := findings(rep)
	if len(fs[audit.CodeSieveStartTLSOK]) != 1 || len(fs[audit.CodeSievePlaintext]) != 0 || len(fs[audit.CodeSieveAuthPlaintext]) != 0 {
		t.Errorf("findings %v", rep.Findings)
	}
	if len(fs["cert.untrusted"]) != 0 {
		t.Errorf("trusted certificate reported: %v", fs["cert.untrusted"])
	}
	r := rows(t, rep)[portOf(t, sieve)]
	if r.TLS != "starttls" || r.AuthBeforeTLS != "no" {
		t.Errorf("row %+v", r)
	}
	if rep.ExitCode(report.Fail) != report.ExitOK {
		t.Errorf("exit %d: %v", rep.ExitCode(report.Fail), rep.Findings)
	}
}

// Something that is not ManageSieve on the sieve port is a finding of
// its own, never a hang or a pass.
func TestAudit_sieveGarbage(t *testing.T) {
	addr := testserver.Start(t, func(c *testserver.Conn) { c.Send("220 smtp.example ESMTP") })
	rep := run(t, audit.Options{Services: []audit.Service{svc(t, addr, "sieve")}})
	if !rep.Has(audit.CodeSieveGreetingBad) {
		t.Errorf("findings %v", rep.Findings)
	}
}

// An SMTP submission port with the TLS scan: the scan's stage and
// versions reach the port's row; a submission port without STARTTLS is
// the exposure finding.
func TestAudit_smtpWithScanAndNoTLS(t *testing.T) {
	cert := testserver.NewCert(t, testserver.CertOptions{Names: []string{"mail.test.example"}})
	good := testserver.Start(t, testserver.SMTP{Cert: &cert}.Handler())
	bare := testserver.Start(t, testserver.SMTP{}.Handler())
	rep := run(t, audit.Options{Services: []audit.Service{svc(t, good, "submission"), svc(t, bare, "submission")},
		ServerName: "mail.test.example", RootCAs: cert.Pool, NoVulns: true})
	table := rows(t, rep)
	g := table[portOf(t, good)]
	if len(g.Versions) == 0 || g.TLS != "starttls" {
		t.Errorf("row %+v", g)
	}
	hasTLSStage := false
	for _, s := range g.Stages {
		hasTLSStage = hasTLSStage || s.Name == "tls"
	}
	if !hasTLSStage {
		t.Errorf("no tls stage in %+v", g.Stages)
	}
	fs := findings(rep)
	if f := fs[audit.CodeSubmissionNoTLS]; len(f) != 1 || f[0].Stage != "submission:"+strconv.Itoa(portOf(t, bare)) {
		t.Errorf("no-TLS finding %+v", f)
	}
	if b := table[portOf(t, bare)]; b.TLS != "none" {
		t.Errorf("bare row %+v", b)
	}
}

// A port whose connection attempt is never answered is filtered; a host
// where nothing answers at all is incomplete (exit 3); all ports refused
// is one finding, not an incomplete run.
func TestAudit_filteredAndClosed(t *testing.T) {
	closed := testserver.ClosedPort(t)
	blackhole := func(ctx context.Context, network, addr string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	rep := run(t, audit.Options{Services: []audit.Service{svc(t, closed, "imaps")}, Dial: blackhole,
		Timeouts: netx.Timeouts{Connect: 100 * time.Millisecond}})
	if r := rows(t, rep)[portOf(t, closed)]; r.State != audit.StateFiltered {
		t.Errorf("row %+v", r)
	}
	if !rep.Has(audit.CodePortFiltered) || rep.ExitCode(report.Fail) != report.ExitIncomplete {
		t.Errorf("exit %d, findings %v", rep.ExitCode(report.Fail), rep.Findings)
	}
	rep = run(t, audit.Options{Services: []audit.Service{svc(t, closed, "imaps"), svc(t, testserver.ClosedPort(t), "pop3s")}})
	if !rep.Has(audit.CodeNoneOpen) || rep.Incomplete {
		t.Errorf("incomplete %v, findings %v", rep.Incomplete, rep.Findings)
	}
}

func TestAudit_badOptions(t *testing.T) {
	s, _ := audit.ParseService("25")
	if _, err := audit.Audit(context.Background(), audit.Options{Host: "h", Services: []audit.Service{s, s}}); err == nil {
		t.Error("a port given twice accepted")
	}
	if _, err := audit.Audit(context.Background(), audit.Options{}); err == nil {
		t.Error("no host accepted")
	}
}

// The software a greeting names is matched against the table of critical
// mail-server CVEs: Exim 4.91 is CVE-2019-10149 (and others), cited by
// the greeting's line; a greeting that hides the version is unknown.
func TestAudit_versionsAndKnownVulnerabilities(t *testing.T) {
	exim := testserver.Start(t, testserver.SMTP{Banner: []string{"220 mx.test.example ESMTP Exim 4.91 #2 Fri, 04 Dec 2026 10:00:00 +0000"}}.Handler())
	hidden := testserver.Start(t, testserver.SMTP{Banner: []string{"220 mx.test.example ESMTP"}}.Handler())
	rep := run(t, audit.Options{Services: []audit.Service{svc(t, exim, "smtp"), svc(t, hidden, "submission")}, NoTLSScan: true})
	table := rows(t, rep)
	if r := table[portOf(t, exim)]; r.Software != "Exim 4.91" || r.Version == nil || len(r.Version.Matches) == 0 {
		t.Fatalf("exim row %+v", r)
	}
	label := "smtp:" + strconv.Itoa(portOf(t, exim)) + "/banner"
	var wizard *report.Finding
	for i, f := range rep.Findings {
		if f.Code == "version.vulnerable" && strings.Contains(f.Detail, "CVE-2019-10149") {
			wizard = &rep.Findings[i]
		}
	}
	if wizard == nil || wizard.Stage != label || wizard.Severity != report.Fail {
		t.Fatalf("CVE-2019-10149: %+v; findings %v", wizard, rep.Findings)
	}
	seen := map[int]bool{}
	for _, e := range rep.Transcript {
		seen[e.Seq] = strings.Contains(e.Line, "Exim 4.91")
	}
	cited := false
	for _, ev := range wizard.Evidence {
		for _, s := range ev.Seq {
			cited = cited || seen[s]
		}
	}
	if !cited {
		t.Errorf("the finding does not cite the greeting's line: %+v", wizard.Evidence)
	}
	if r := table[portOf(t, hidden)]; r.Software != "" {
		t.Errorf("hidden version row %+v", r)
	}
	found := false
	for _, f := range rep.Findings {
		found = found || f.Code == "version.unknown" && strings.HasPrefix(f.Stage, "submission:")
	}
	if !found {
		t.Errorf("no version.unknown for the hidden greeting: %v", rep.Findings)
	}
}
