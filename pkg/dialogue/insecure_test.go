package dialogue

import (
	"context"
	"testing"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// --insecure is the script runner's to report (cert.verify-skipped), once,
// whoever runs the script (smtp script, a suite); never without it. A
// run without a script is our own error, not a panic.
func TestRunScript_insecureIsReportedByTheEngine(t *testing.T) {
	addr, _ := startGoSMTP(t, smtpOpts{STARTTLS: true, InsecureAuth: true})
	src := "connect\nexpect 220\nehlo\nstarttls\nehlo\nauth PLAIN\nquit\n"
	noCA := func(o *RunOptions) { o.RootCAs = x509EmptyPool() }
	rep := run(t, addr, src, withAuth, noCA, func(o *RunOptions) { o.Insecure = true })
	n := 0
	for _, f := range rep.Findings {
		if f.Code == "cert.verify-skipped" {
			n++
			if f.Detail != "--insecure: a certificate was not required to be trusted before AUTH." {
				t.Errorf("detail %q", f.Detail)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d cert.verify-skipped:\n%s", n, problems(rep))
	}
	if f := requireFinding(t, rep, "cert.untrusted", "line 4: starttls"); f.Severity != report.Warn {
		t.Errorf("cert.untrusted under --insecure is %v, want a warning as in every engine", f.Severity)
	}

	rep = run(t, addr, src, withAuth, noCA)
	if f := requireFinding(t, rep, "cert.untrusted", "line 4: starttls"); f.Severity != report.Fail {
		t.Errorf("cert.untrusted without --insecure is %v", f.Severity)
	}
	if rep.Has("cert.verify-skipped") {
		t.Fatalf("reported without --insecure:\n%s", problems(rep))
	}

	if _, err := RunScript(context.Background(), RunOptions{Host: "127.0.0.1"}); err == nil {
		t.Fatal("a run without a script did not fail")
	}
}
