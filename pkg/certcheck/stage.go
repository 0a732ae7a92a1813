package certcheck

import (
	"crypto/tls"
	"fmt"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// StageOptions add to Options what the certificate stage of an engine
// needs beyond the analysis.
type StageOptions struct {
	Options
	// Insecure is --insecure: trust is not required. Chain and name
	// problems are still reported, as warnings that say so, and the stage
	// adds cert.verify-skipped: the engine owns that finding.
	Insecure bool
	// SkipReported: the engine reports cert.verify-skipped itself, once
	// per run (smtp and script runs can complete several handshakes into
	// one report), so Stage does not add it.
	SkipReported bool
	// Note, when set, is added to every finding as evidence (where the
	// certificates came from when not from a completed handshake).
	Note string
}

// StageResult is the certificate stage of one connection: the analysis,
// its findings as the report should carry them, and the stage's status
// and one-line summary.
type StageResult struct {
	Result
	Status  report.Status
	Summary string
}

// Usable reports whether credentials may be sent over the connection: a
// trusted certificate, or --insecure.
func (r StageResult) Usable(insecure bool) bool { return r.Trusted || insecure }

// Stage is the one certificate stage of every TLS-speaking engine: it
// analyses the handshake's certificates, grades trust problems down to
// warnings under --insecure (and says so), and words the stage summary,
// so that a certificate reads the same in `tls`, `imap audit` and the
// others.
func Stage(state tls.ConnectionState, o StageOptions) StageResult {
	res := Analyze(state, o.Options)
	stage := o.Stage
	if stage == "" {
		stage = "certificate"
	}
	out := StageResult{Result: res, Status: report.StatusOK, Summary: "no certificate"}
	out.Findings = nil
	for _, f := range res.Findings {
		if o.Note != "" {
			f = f.With("note", o.Note)
		}
		if o.Insecure {
			switch f.Code {
			case "cert.untrusted", "cert.self-signed", "cert.name-mismatch":
				f = f.WithSeverity(report.Warn)
				f.Detail += " (--insecure: not required to be trusted)"
			}
		}
		out.Findings = append(out.Findings, f)
	}
	if o.Insecure && !o.SkipReported {
		out.Findings = append(out.Findings, report.New("cert.verify-skipped", stage, "--insecure: the certificate was not required to be trusted."))
	}
	if !res.Trusted {
		out.Status = report.StatusFail
	}
	if len(state.PeerCertificates) > 0 {
		out.Summary = fmt.Sprintf("%s, expires %s", res.Facts.Subject, res.Facts.NotAfter.Format("2006-01-02"))
	}
	return out
}
