package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// SARIF 2.1.0 (OASIS, https://docs.oasis-open.org/sarif/sarif/v2.1.0/),
// shaped for GitHub code scanning, the main consumer
// (https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/sarif-support-for-code-scanning):
//
//   - one run per invocation, with invocations[0] saying how it was run
//     (command line with secrets removed, start and end, exit code) and
//     executionSuccessful false when a stage could not run, so an
//     unreachable server does not read as a clean bill of health;
//   - one rule per finding code with a result, worded from the registry
//     (title, fix and references, a help URI to the code's row in
//     docs/findings.md, the default level, tags; security rules carry a
//     security-severity so GitHub ranks them);
//   - one result per info/warn/fail finding (a pass is nothing to look
//     at), with a logical location (the target and the stage) and a
//     physical one, which GitHub needs to show an alert at all: the suite
//     file's line for check -f, otherwise a stable per-target artifact
//     path (mailprobe/smtp-check/mail.example.com_587);
//   - partialFingerprints from the code, target, stage and check name
//     only, never from text that changes between runs (a banner, a
//     latency), so GitHub matches the same problem across runs;
//   - baselineState new/unchanged/updated when the previous run's SARIF
//     is given (--sarif-baseline).

const (
	sarifSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
	sarifVersion = "2.1.0"
	toolURI      = "https://github.com/mailprobe/mailprobe"
	findingsDoc  = "https://github.com/mailprobe/mailprobe/blob/main/docs/findings.md"
	// FingerprintKey names mailprobe's partial fingerprint; the /v1
	// changes only if the recipe below ever has to.
	FingerprintKey = "mailprobe/v1"
	// sarifTextMax is GitHub's limit on a rule's short and full
	// descriptions (1024 characters).
	sarifTextMax = 1024
)

// Invocation is how the run was started, for SARIF's invocations: the
// caller (pkg/cli) removes secrets from the command line before it gets
// here.
type Invocation struct {
	CommandLine string
	Args        []string
	Start, End  time.Time
	// ExitCode is the process's exit code; ExitCodeKnown false means
	// "compute it from the reports and FailOn".
	ExitCode      int
	ExitCodeKnown bool
}

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool              sarifTool         `json:"tool"`
	Invocations       []sarifInvocation `json:"invocations"`
	AutomationDetails sarifAutomation   `json:"automationDetails"`
	ColumnKind        string            `json:"columnKind"`
	Results           []sarifResult     `json:"results"`
}

type sarifAutomation struct {
	ID string `json:"id"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	SemanticVer    string      `json:"semanticVersion,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifHelp struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifRule struct {
	ID                   string             `json:"id"`
	Name                 string             `json:"name"`
	ShortDescription     sarifText          `json:"shortDescription"`
	FullDescription      sarifText          `json:"fullDescription"`
	Help                 sarifHelp          `json:"help"`
	HelpURI              string             `json:"helpUri"`
	DefaultConfiguration sarifConfiguration `json:"defaultConfiguration"`
	Properties           sarifRuleProps     `json:"properties"`
}

type sarifConfiguration struct {
	Level string `json:"level"`
}

type sarifRuleProps struct {
	Tags             []string `json:"tags"`
	Precision        string   `json:"precision"`
	SecuritySeverity string   `json:"security-severity,omitempty"`
}

type sarifInvocation struct {
	CommandLine         string              `json:"commandLine,omitempty"`
	Arguments           []string            `json:"arguments,omitempty"`
	StartTimeUTC        string              `json:"startTimeUtc,omitempty"`
	EndTimeUTC          string              `json:"endTimeUtc,omitempty"`
	ExitCode            int                 `json:"exitCode"`
	ExecutionSuccessful bool                `json:"executionSuccessful"`
	Notifications       []sarifNotification `json:"toolExecutionNotifications"`
}

type sarifNotification struct {
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations,omitempty"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	BaselineState       string            `json:"baselineState,omitempty"`
	Properties          sarifResultProps  `json:"properties"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical         `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogicalLocation `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           sarifRegion   `json:"region"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifLogicalLocation struct {
	Name               string `json:"name"`
	FullyQualifiedName string `json:"fullyQualifiedName,omitempty"`
	Kind               string `json:"kind"`
}

type sarifResultProps struct {
	Name     string            `json:"name,omitempty"`
	Command  string            `json:"command,omitempty"`
	Target   string            `json:"target"`
	Stage    string            `json:"stage,omitempty"`
	Severity string            `json:"severity"`
	Evidence []report.Evidence `json:"evidence,omitempty"`
}

// sarifLevel maps severities to SARIF levels (§3.27.10); pass has none.
func sarifLevel(s report.Severity) string {
	switch s {
	case report.Fail:
		return "error"
	case report.Warn:
		return "warning"
	case report.Info:
		return "note"
	}
	return ""
}

func writeSARIF(buf *bytes.Buffer, rs []*report.Report, o Options) error {
	version := o.Version
	// Rules first: one per code, sorted, so that ruleIndex is stable
	// whatever order the engines found things in.
	first := map[string]report.Finding{}
	for _, r := range rs {
		if version == "" {
			version = r.Version
		}
		for _, f := range r.Findings {
			if _, seen := first[f.Code]; !seen && sarifLevel(f.Severity) != "" {
				first[f.Code] = f
			}
		}
	}
	codes := make([]string, 0, len(first))
	for c := range first {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	index := map[string]int{}
	rules := make([]sarifRule, 0, len(codes))
	for i, c := range codes {
		index[c] = i
		rules = append(rules, sarifRuleOf(first[c]))
	}

	results := []sarifResult{}
	for _, r := range rs {
		seen := map[string]int{}
		for _, f := range r.Findings { // already worst first
			level := sarifLevel(f.Severity)
			if level == "" {
				continue
			}
			msg := f.Title
			if f.Detail != "" {
				if msg != "" {
					msg += ": "
				}
				msg += f.Detail
			}
			if msg == "" {
				msg = f.Code // SARIF and GitHub require a non-empty message
			}
			fp := Fingerprint(r, f)
			// The same code at the same stage twice (two MX hosts
			// with the same problem) must stay two alerts: the
			// second gets /2, in the findings' stable order.
			seen[fp]++
			if n := seen[fp]; n > 1 {
				fp += fmt.Sprintf("/%d", n)
			}
			res := sarifResult{
				RuleID:              f.Code,
				RuleIndex:           index[f.Code],
				Level:               level,
				Message:             sarifText{msg},
				Locations:           []sarifLocation{sarifLocationOf(r, f.Stage)},
				PartialFingerprints: map[string]string{FingerprintKey: fp},
				Properties: sarifResultProps{
					Name: r.Name, Command: r.Command, Target: r.Target, Stage: f.Stage,
					Severity: f.Severity.String(), Evidence: f.Evidence,
				},
			}
			if o.Baseline != nil {
				res.BaselineState = o.Baseline.state(fp, level, msg)
			}
			results = append(results, res)
		}
	}

	doc := sarifLog{
		Schema:  sarifSchema,
		Version: sarifVersion,
		Runs: []sarifRun{{
			Tool: sarifTool{Driver: sarifDriver{
				Name: "mailprobe", Version: version, SemanticVer: semver(version), InformationURI: toolURI, Rules: rules,
			}},
			Invocations:       []sarifInvocation{sarifInvocationOf(rs, o)},
			AutomationDetails: sarifAutomation{ID: automationID(rs)},
			ColumnKind:        "unicodeCodePoints",
			Results:           results,
		}},
	}
	// No HTML escaping: "<redacted>" should read as itself in a viewer
	// that shows the raw file, and SARIF is never embedded in HTML as is.
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// Fingerprint is the stable identity of a finding across runs: a hash
// of the code, the check's name, command and target, and the stage.
// Nothing that varies between two runs of the same check (timings,
// banner text, addresses in a detail) goes in.
func Fingerprint(r *report.Report, f report.Finding) string {
	h := sha256.New()
	for _, s := range []string{f.Code, r.Name, r.Command, r.Target, f.Stage} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// sarifLocationOf places a result. GitHub shows an alert only with a
// physical location: the suite line that ran the check, or else a path
// that names the check and its target, stable across runs, relative (as
// GitHub recommends) and free of characters a path cannot hold.
func sarifLocationOf(r *report.Report, stage string) sarifLocation {
	phys := &sarifPhysical{Region: sarifRegion{StartLine: 1}}
	if r.Source != nil && r.Source.File != "" {
		phys.ArtifactLocation.URI = fileURI(r.Source.File)
		phys.Region.StartLine = max(1, r.Source.Line)
	} else {
		phys.ArtifactLocation.URI = targetURI(r)
	}
	loc := sarifLocation{PhysicalLocation: phys}
	target := r.Target
	if target == "" {
		target = r.Command
	}
	if target != "" {
		loc.LogicalLocations = append(loc.LogicalLocations, sarifLogicalLocation{Name: target, FullyQualifiedName: target, Kind: "resource"})
	}
	if stage != "" {
		fq := stage
		if target != "" {
			fq = target + "/" + stage
		}
		loc.LogicalLocations = append(loc.LogicalLocations, sarifLogicalLocation{Name: stage, FullyQualifiedName: fq, Kind: "module"})
	}
	return loc
}

// fileURI is a suite file as a relative URI with forward slashes (GitHub
// joins it to the repository root). An absolute path stays absolute, as
// a file: URI.
func fileURI(name string) string {
	p := filepath.ToSlash(filepath.Clean(name))
	if filepath.IsAbs(name) {
		return "file://" + escapePath(p)
	}
	return escapePath(strings.TrimPrefix(p, "./"))
}

func escapePath(p string) string {
	var b strings.Builder
	for _, c := range []byte(p) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// targetURI is mailprobe/<command>/<target>, each part reduced to
// lower-case letters, digits, '.', '-' and '_'.
func targetURI(r *report.Report) string {
	parts := []string{"mailprobe", slug(r.Command, "run")}
	if r.Name != "" {
		parts = append(parts, slug(r.Name, "check"))
	}
	parts = append(parts, slug(r.Target, "target"))
	return path.Join(parts...)
}

func slug(s, empty string) string {
	var b strings.Builder
	under := false
	for _, c := range strings.ToLower(s) {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-'
		if !ok {
			if !under && b.Len() > 0 {
				b.WriteByte('_')
			}
			under = true
			continue
		}
		if c == '.' && b.Len() == 0 {
			c = '_' // never "." or ".." as a path segment
		}
		b.WriteRune(c)
		under = false
		if b.Len() >= 100 {
			break
		}
	}
	out := strings.Trim(b.String(), "_")
	if out == "" || strings.Trim(out, ".") == "" {
		return empty
	}
	return out
}

// automationID is the run's category for GitHub (the part before the
// last "/"): uploads with the same category replace each other's alerts,
// so two different checks uploaded from one workflow must differ.
func automationID(rs []*report.Report) string {
	if len(rs) == 1 {
		return path.Join("mailprobe", slug(rs[0].Command, "run"), slug(rs[0].Target, "target")) + "/"
	}
	for _, r := range rs {
		if r.Source != nil && r.Source.File != "" {
			return path.Join("mailprobe", "check", slug(filepath.ToSlash(filepath.Clean(r.Source.File)), "suite")) + "/"
		}
	}
	return "mailprobe/many/"
}

// sarifInvocationOf says how the run went: its command line and times
// when the caller knows them, its exit code, and whether it completed.
// Each stage that could not run is a tool notification, which GitHub
// lists on the tool's status page.
func sarifInvocationOf(rs []*report.Report, o Options) sarifInvocation {
	inv := sarifInvocation{ExecutionSuccessful: true, Notifications: []sarifNotification{}}
	incomplete := false
	var start, end time.Time
	for _, r := range rs {
		if r.Incomplete || r.Interrupted {
			incomplete = true
		}
		if !r.StartedAt.IsZero() {
			if start.IsZero() || r.StartedAt.Before(start) {
				start = r.StartedAt
			}
			if e := r.StartedAt.Add(r.Duration); e.After(end) {
				end = e
			}
		}
		for _, s := range r.Stages {
			if s.Status != report.StatusError && s.Status != report.StatusInterrupted {
				continue
			}
			what := "could not run"
			if s.Status == report.StatusInterrupted {
				what = "was interrupted"
			}
			msg := fmt.Sprintf("%s %s: stage %s %s", r.Command, r.Target, s.Name, what)
			if s.Summary != "" {
				msg += ": " + s.Summary
			}
			loc := sarifLocationOf(r, s.Name)
			inv.Notifications = append(inv.Notifications, sarifNotification{Level: "error", Message: sarifText{strings.TrimSpace(msg)}, Locations: []sarifLocation{loc}})
		}
	}
	inv.ExecutionSuccessful = !incomplete
	inv.ExitCode = report.MergeExit(rs, o.failOn())
	if iv := o.Invocation; iv != nil {
		inv.CommandLine = iv.CommandLine
		inv.Arguments = iv.Args
		if !iv.Start.IsZero() {
			start = iv.Start
		}
		if !iv.End.IsZero() {
			end = iv.End
		}
		if iv.ExitCodeKnown {
			inv.ExitCode = iv.ExitCode
		}
	}
	if !start.IsZero() {
		inv.StartTimeUTC = start.UTC().Format(time.RFC3339Nano)
	}
	if !end.IsZero() {
		inv.EndTimeUTC = end.UTC().Format(time.RFC3339Nano)
	}
	return inv
}

// semver is the version without a leading v when it is one
// (semanticVersion must not carry the v); "" for dev builds.
func semver(v string) string {
	v = strings.TrimPrefix(v, "v")
	if v == "" || v[0] < '0' || v[0] > '9' || strings.Count(strings.SplitN(strings.SplitN(v, "-", 2)[0], "+", 2)[0], ".") != 2 {
		return ""
	}
	return v
}

// securityAreas are the finding areas about confidentiality, integrity
// and authenticity of mail (TLS, authentication, spoofing), as opposed
// to deliverability and hygiene: their rules carry GitHub's "security"
// tag and a security-severity.
var securityAreas = map[string]bool{
	"tls": true, "cert": true, "dane": true, "mtasts": true, "tlsrpt": true, "spf": true, "dkim": true,
	"dmarc": true, "arc": true, "dnssec": true, "imap": true, "pop3": true,
}

// securityWords mark a security code in the other areas (smtp.auth.plaintext,
// smtp.starttls.missing, smtp.relay.open).
var securityWords = []string{"auth", "starttls", "tls", "relay", "vrfy", "expn", "cert", "plaintext", "password", "smuggl", "injection", "link", "token"}

func isSecurityCode(code string) bool {
	if securityAreas[area(code)] {
		return true
	}
	for _, w := range securityWords {
		if strings.Contains(code[len(area(code)):], w) {
			return true
		}
	}
	return false
}

// sarifRuleOf describes a code. The registry's wording wins over the
// finding's: a rule is the generic problem, while a finding may carry a
// fix specialised for one server (WithFix).
func sarifRuleOf(f report.Finding) sarifRule {
	title, fix, refs, sev := f.Title, f.Fix, f.Refs, f.Severity
	if c, ok := report.Lookup(f.Code); ok {
		title, fix, refs, sev = c.Title, c.Fix, c.Refs, c.Severity
	}
	if title == "" {
		title = f.Code
	}
	level := sarifLevel(sev)
	if level == "" {
		// A code registered as pass but reported with a raised severity.
		level, sev = sarifLevel(f.Severity), f.Severity
	}
	tags := []string{"mailprobe", area(f.Code)}
	props := sarifRuleProps{Precision: "high"}
	if isSecurityCode(f.Code) {
		tags = append(tags, "security")
		props.SecuritySeverity = map[report.Severity]string{report.Fail: "7.5", report.Warn: "5.0", report.Info: "2.0"}[sev]
	}
	props.Tags = tags
	full := title
	if fix != "" {
		full += ". " + fix
	}
	help := title + "\n"
	md := "**" + title + "**\n"
	if fix != "" {
		help += "\nFix: " + fix + "\n"
		md += "\n" + fix + "\n"
	}
	if len(refs) > 0 {
		help += "\nSee: " + strings.Join(refs, "; ") + "\n"
		md += "\nSee: " + strings.Join(refs, "; ") + "\n"
	}
	help += "\nAll codes: " + FindingURL(f.Code) + "\n"
	md += "\n[`" + f.Code + "` in the finding catalogue](" + FindingURL(f.Code) + ")\n"
	return sarifRule{
		ID:                   f.Code,
		Name:                 ruleName(f.Code),
		ShortDescription:     sarifText{clipRunes(title, sarifTextMax)},
		FullDescription:      sarifText{clipRunes(full, sarifTextMax)},
		Help:                 sarifHelp{Text: help, Markdown: md},
		HelpURI:              FindingURL(f.Code),
		DefaultConfiguration: sarifConfiguration{Level: level},
		Properties:           props,
	}
}

// FindingURL is the code's row in docs/findings.md (each row carries an
// anchor named after its code).
func FindingURL(code string) string { return findingsDoc + "#" + code }

// ruleName is the code in PascalCase (smtp.starttls.missing →
// SmtpStarttlsMissing), SARIF's readable rule name.
func ruleName(code string) string {
	var b strings.Builder
	up := true
	for _, c := range code {
		if c == '.' || c == '-' || c == '_' {
			up = true
			continue
		}
		if up && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		up = false
		b.WriteRune(c)
	}
	return b.String()
}

func clipRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Baseline is a previous run's SARIF, read for --sarif-baseline: its
// results by mailprobe fingerprint.
type Baseline struct {
	results map[string]baselineResult
}

type baselineResult struct{ level, message string }

// MaxBaselineSize caps a baseline file: GitHub refuses SARIF over 10 MB
// compressed; 64 MiB of JSON is far beyond any mailprobe run.
const MaxBaselineSize = 64 << 20

// ParseBaseline reads a SARIF log written by mailprobe (results without
// a mailprobe fingerprint, from another tool, are ignored).
func ParseBaseline(b []byte) (*Baseline, error) {
	var doc struct {
		Version string `json:"version"`
		Runs    []struct {
			Results []struct {
				Level               string            `json:"level"`
				Message             sarifText         `json:"message"`
				PartialFingerprints map[string]string `json:"partialFingerprints"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("not a SARIF file: %v", err)
	}
	if doc.Version != sarifVersion {
		return nil, fmt.Errorf("SARIF version %q, want %s", doc.Version, sarifVersion)
	}
	bl := &Baseline{results: map[string]baselineResult{}}
	for _, run := range doc.Runs {
		for _, res := range run.Results {
			if fp := res.PartialFingerprints[FingerprintKey]; fp != "" {
				bl.results[fp] = baselineResult{res.Level, res.Message.Text}
			}
		}
	}
	return bl, nil
}

// state is SARIF's baselineState (§3.27.24): new when the baseline did
// not have the result, unchanged when it had it with the same level and
// message, updated when either changed. Results the baseline had and
// this run does not are left out rather than written as "absent": GitHub
// closes an alert when its result disappears, and would open one for an
// absent result.
func (b *Baseline) state(fp, level, msg string) string {
	old, ok := b.results[fp]
	switch {
	case !ok:
		return "new"
	case old.level == level && old.message == msg:
		return "unchanged"
	}
	return "updated"
}
