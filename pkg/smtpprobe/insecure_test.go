package smtpprobe_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/smtpprobe"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

func countCode(r *report.Report, code string) int {
	n := 0
	for _, f := range r.Findings {
		if f.Code == code {
			n++
		}
	}
	return n
}

// --insecure is the engine's to report (cert.verify-skipped), not each
// command's: smtp check, smtp send and reset send all get it from here,
// once per report even when a larger flow runs several checks into one
// report (reset send trying MX after MX), and never without --insecure.
func TestCheck_insecureIsReportedByTheEngine(t *testing.T) {
	self := testserver.NewCert(t, testserver.CertOptions{SelfSign: true})
	addr := testserver.Start(t, testserver.SMTP{Cert: &self}.Handler())
	host, port, _ := netx.SplitHostPort(addr, 25)
	o := smtpprobe.Options{Host: host, Port: port, Role: smtpprobe.RoleSubmission, ServerName: "mail.test.example", Insecure: true, AllowNoTLS: true}

	r, err := smtpprobe.Check(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if n := countCode(r, "cert.verify-skipped"); n != 1 {
		t.Fatalf("%d cert.verify-skipped; findings %v", n, codesOf(r))
	}
	f := finding(r, "cert.verify-skipped")
	if f.Stage != "certificate" || f.Severity != report.Warn || f.Detail != "--insecure: the certificate was not required to be trusted." {
		t.Errorf("finding %+v", f)
	}
	// The certificate is still judged, as a warning that names --insecure:
	// the same verdict as tls and imap audit give (certcheck.Stage).
	if f := finding(r, "cert.self-signed"); f == nil || f.Severity != report.Warn || !strings.Contains(f.Detail, "--insecure") {
		t.Errorf("cert.self-signed under --insecure: %+v; findings %v", f, codesOf(r))
	}

	rec := transcript.New(time.Now)
	rep := report.NewReport("reset send", addr, rec.Start())
	smtpprobe.Run(context.Background(), o, rep, rec)
	smtpprobe.Run(context.Background(), o, rep, rec)
	if n := countCode(rep, "cert.verify-skipped"); n != 1 {
		t.Fatalf("two runs into one report: %d cert.verify-skipped", n)
	}

	o.Insecure = false
	r, err = smtpprobe.Check(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if finding(r, "cert.verify-skipped") != nil {
		t.Fatalf("reported without --insecure: %v", codesOf(r))
	}
	if f := finding(r, "cert.self-signed"); f == nil || f.Severity != report.Fail {
		t.Errorf("cert.self-signed without --insecure: %+v", f)
	}
}
