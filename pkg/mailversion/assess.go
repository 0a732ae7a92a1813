package mailversion

import (
	"fmt"
	"strings"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// Finding codes of version identification and vulnerability matching.
const (
	CodeDisclosed          = "version.disclosed"
	CodeUnknown            = "version.unknown"
	CodeVulnerable         = "version.vulnerable"
	CodePossiblyVulnerable = "version.possibly-vulnerable"
)

func init() {
	report.Register(
		report.Code{Code: CodeDisclosed, Severity: report.Info, Title: "The server discloses its software and version",
			Fix: "Attackers pick targets by version: remove it from greetings and ID responses (Postfix smtpd_banner = $myhostname ESMTP; Dovecot login_greeting, imap_id_send; Exim smtp_banner)."},
		report.Code{Code: CodeUnknown, Severity: report.Info, Title: "The software version is not disclosed",
			Fix: "Nothing to fix: a hidden version cannot be matched against known vulnerabilities, so check the installed package's version on the server itself."},
		report.Code{Code: CodeVulnerable, Severity: report.Fail, Title: "The disclosed version has a known critical vulnerability",
			Fix: "Upgrade to the fixed release named in the detail, or confirm that your distribution's package carries the fix (distributions backport fixes without changing the upstream version)."},
		report.Code{Code: CodePossiblyVulnerable, Severity: report.Warn, Title: "The disclosed version may have a known critical vulnerability",
			Fix: "The version shown lacks the patch level that decides it: check the installed patch on the server against the fixed release named in the detail."},
	)
}

// Input is one text the audit collected: a greeting, an EHLO reply, an
// IMAP ID response, a POP3 greeting.
type Input struct {
	// Stage is the report stage the text came from ("banner", "ehlo",
	// "imap/993 id"); findings carry it.
	Stage    string
	Protocol Protocol
	Text     string
	// Seq are the transcript sequence numbers of the text, cited as
	// evidence.
	Seq []int
}

// Assessment is what Assess concluded from a set of texts.
type Assessment struct {
	// Identified is false when no text named a product mailversion knows.
	Identified bool     `json:"identified"`
	Software   Software `json:"software"`
	// Stage is the stage of the text the software was named in.
	Stage   string  `json:"stage,omitempty"`
	Matches []Match `json:"vulnerabilities,omitempty"`
}

// Assess names the software the inputs reveal (a text with a version wins
// over one naming only the product; among equals the first wins), matches
// it against db (Default() when nil) and returns the findings:
//
//	version.disclosed            info   product and version named (evidence: the line)
//	version.unknown              info   product named without a version, or nothing named
//	version.vulnerable           table  one per CVE whose ranges hold the version
//	version.possibly-vulnerable  warn   one per CVE the version is too coarse to decide
//
// It is the function `mailprobe audit` calls for each port's texts.
func Assess(db *DB, inputs ...Input) (Assessment, []report.Finding, error) {
	if db == nil {
		var err error
		if db, err = Default(); err != nil {
			return Assessment{}, nil, err
		}
	}
	var a Assessment
	var from Input
	for _, in := range inputs {
		sw, ok := Identify(in.Protocol, in.Text)
		if !ok {
			continue
		}
		if !a.Identified || (sw.Known() && !a.Software.Known()) {
			a.Identified, a.Software, a.Stage, from = true, sw, in.Stage, in
		}
		if a.Software.Known() {
			break
		}
	}
	stage := "version"
	if len(inputs) > 0 {
		stage = inputs[0].Stage
	}
	if !a.Identified {
		return a, []report.Finding{report.New(CodeUnknown, stage, "The greetings and replies name no server software mailprobe knows, so no version can be checked.")}, nil
	}
	sw := a.Software
	name := sw.Product
	if sw.Detail != "" {
		name += " (" + sw.Detail + ")"
	}
	if !sw.Known() {
		f := report.Newf(CodeUnknown, a.Stage, "The server names itself %s but not its version; no vulnerability can be matched.", name)
		return a, []report.Finding{f.With("reply", sw.Evidence, from.Seq...)}, nil
	}
	fs := []report.Finding{report.Newf(CodeDisclosed, a.Stage, "%s %s", name, sw.Version).With("reply", sw.Evidence, from.Seq...)}
	a.Matches = db.Match(sw)
	for _, m := range a.Matches {
		fs = append(fs, matchFinding(a.Stage, sw, m, from.Seq))
	}
	return a, fs, nil
}

// matchFinding words one match: the CVE and its name, what an attacker
// gets, the range the version fell in, the fix and its condition.
func matchFinding(stage string, sw Software, m Match, seq []int) report.Finding {
	c := m.CVE
	id := c.ID
	if c.Name != "" {
		id += " (" + c.Name + ")"
	}
	var b strings.Builder
	switch m.Certainty {
	case Possible:
		fmt.Fprintf(&b, "%s %s may be affected by %s, depending on the patch level the version does not show: %s", sw.Product, sw.Version, id, c.Summary)
	default:
		fmt.Fprintf(&b, "%s %s is affected by %s: %s", sw.Product, sw.Version, id, c.Summary)
	}
	fmt.Fprintf(&b, " Affected: %s (severity %s). Fixed in %s.", m.Range, c.Severity, c.Fixed)
	if c.Condition != "" {
		fmt.Fprintf(&b, " Only when: %s", c.Condition)
	}
	if v, err := ParseVersion(sw.Version); err == nil && v.Build != "" {
		fmt.Fprintf(&b, " The version carries a build suffix (%q): a distribution package may include the fix.", v.Build)
	}
	code := CodeVulnerable
	sev := c.ReportSeverity()
	if m.Certainty == Possible {
		code = CodePossiblyVulnerable
		sev = min(sev, report.Warn)
	}
	f := report.New(code, stage, b.String()).WithSeverity(sev).With("reply", sw.Evidence, seq...)
	f.Refs = append([]string{c.ID, c.Source}, f.Refs...)
	return f
}
