package tlsprobe

import (
	"fmt"
	"strings"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// protocolAudited are the finding areas a protocol check (smtp check,
// imap and pop3 audit) judges itself: the certificate, STARTTLS and its
// injection test, the connection and the greeting. Every other tls.*
// finding is one only the scan knows. Listing what to leave out, not
// what to keep, means a new kind of scan finding (a vulnerability check)
// reaches the audits without a change here: a list of areas to keep once
// missed tls.vuln.*, so Heartbleed never showed in imap audit.
var protocolAudited = []string{"tls.starttls.", "tls.conn.", "tls.connect.", "tls.handshake.", "tls.banner.", "tls.server."}

// ScanOnly reports whether a finding of Scan is one a protocol check does
// not make itself, and so belongs in its report beside its own.
func ScanOnly(code string) bool {
	if !strings.HasPrefix(code, "tls.") {
		return false
	}
	for _, p := range protocolAudited {
		if strings.HasPrefix(code, p) {
			return false
		}
	}
	return true
}

// Merge adds a scan run beside a protocol check to the check's report
// dst: a stage named stage summarising the versions accepted, the scan's
// Result as the fact of the same name, and the findings only the scan
// makes (ScanOnly), staged there. The scan's transcript (hundreds of
// handshakes, none a dialogue a reader follows) is not carried, so the
// findings' evidence loses its seq references into it.
func Merge(dst, scan *report.Report, stage string) {
	res := ResultOf(scan)
	var protos []string
	if res != nil {
		for _, v := range res.Versions {
			if v.Supported {
				protos = append(protos, fmt.Sprintf("%s (%d suites)", v.Version, len(v.Suites)))
			}
		}
	}
	summary := strings.Join(protos, ", ")
	if summary == "" {
		summary = "no TLS version accepted, or the scan could not run (see the findings)"
	}
	status := report.StatusOK
	if scan.Incomplete {
		status = report.StatusInfo
	}
	dst.AddStage(report.Stage{Name: stage, Status: status, Start: scan.StartedAt.Sub(dst.StartedAt), Duration: scan.Duration, Summary: summary})
	if res != nil {
		dst.SetFact(stage, res)
	}
	for _, f := range scan.Findings {
		if !ScanOnly(f.Code) {
			continue
		}
		f.Stage = stage
		ev := make([]report.Evidence, len(f.Evidence))
		for i, e := range f.Evidence {
			e.Seq = nil
			ev[i] = e
		}
		f.Evidence = ev
		dst.Add(f)
	}
}
