// Package report is mailprobe's result model: every engine returns a
// *Report, every renderer reads one, and only pkg/cli turns one into an exit
// code. A Report holds the stages that ran (with their timings), the
// findings they produced and the protocol transcript.
//
// The model follows one discipline (see ARCHITECTURE.md, habit 4): a finding
// has a stable, registered code and a generic title; everything specific to
// the target goes into Detail and Evidence. That keeps JSON consumers and
// SARIF rules stable while the text stays precise.
package report

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// SchemaVersion is the version of the JSON document. Bump it only for
// incompatible changes; adding fields is compatible.
const SchemaVersion = 1

// Severity orders findings. The zero value is Pass so that a forgotten
// severity never fails a build by accident; registered codes always set one.
type Severity int

const (
	Pass Severity = iota
	Info
	Warn
	Fail
)

var severityNames = [...]string{"pass", "info", "warn", "fail"}

func (s Severity) String() string {
	if s < Pass || s > Fail {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity reads "pass", "info", "warn" (or "warning") and "fail".
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "pass":
		return Pass, nil
	case "info":
		return Info, nil
	case "warn", "warning":
		return Warn, nil
	case "fail", "error":
		return Fail, nil
	}
	return Pass, fmt.Errorf("unknown severity %q (want pass, info, warn or fail)", s)
}

func (s Severity) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

func (s *Severity) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return err
	}
	v, err := ParseSeverity(str)
	*s = v
	return err
}

// Evidence is one piece of proof behind a finding: a server reply, a DNS
// record, a certificate field. Seq points into the report's transcript.
type Evidence struct {
	Kind string `json:"kind"` // reply, record, certificate, transcript, note
	Text string `json:"text"`
	Seq  []int  `json:"seq,omitempty"`
}

// Finding is one observation about the target.
type Finding struct {
	Code     string     `json:"code"`
	Severity Severity   `json:"severity"`
	Stage    string     `json:"stage"`
	Title    string     `json:"title"`
	Detail   string     `json:"detail,omitempty"`
	Evidence []Evidence `json:"evidence,omitempty"`
	Fix      string     `json:"fix,omitempty"`
	Refs     []string   `json:"refs,omitempty"`
}

// New makes a finding from a registered code: severity, title, fix and refs
// come from the registry so that every command words the same problem the
// same way. An unregistered code still yields a usable finding (severity
// fail, so the mistake is visible); TestRegistry in each package and the
// docs generator catch it before release.
func New(code, stage, detail string) Finding {
	f := Finding{Code: code, Stage: stage, Detail: detail}
	if c, ok := Lookup(code); ok {
		f.Severity, f.Title, f.Fix, f.Refs = c.Severity, c.Title, c.Fix, c.Refs
	} else {
		f.Severity, f.Title = Fail, "unregistered finding "+code
	}
	return f
}

// Newf is New with a formatted detail.
func Newf(code, stage, format string, args ...any) Finding {
	return New(code, stage, fmt.Sprintf(format, args...))
}

// With returns f with evidence appended.
func (f Finding) With(kind, text string, seq ...int) Finding {
	f.Evidence = append(f.Evidence, Evidence{Kind: kind, Text: text, Seq: seq})
	return f
}

// MaxRecordEvidence is the most bytes of a DNS record (or fetched
// policy) kept as evidence: a 60 KB TXT record is a finding of its own,
// not 60 KB in every report format.
const MaxRecordEvidence = 1024

// WithRecord adds a DNS record (or policy text) as evidence, clipped to
// MaxRecordEvidence bytes with the full size noted. Only for public data:
// clipping never meets a secret there (secrets are scrubbed whole, before
// any clipping, everywhere else).
func (f Finding) WithRecord(text string) Finding {
	return f.With("record", Clip(text, MaxRecordEvidence))
}

// Clip is the one cap of long evidence and echoed values (a DNS record,
// a policy file, a header a server sent): at most n bytes of s, cut on a
// character boundary (half a UTF-8 sequence would show as garbage),
// followed by "… (N bytes)" with the full size. netx.Clip is its short
// form for one line of an error message (it imports this package, so the
// helper lives here).
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := max(n, 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:cut], len(s))
}

// WithSeverity overrides the registered severity, for the few checks whose
// weight depends on context (a TLS weakness on port 25 versus on submission).
func (f Finding) WithSeverity(s Severity) Finding { f.Severity = s; return f }

// WithFix replaces the registered fix with a more specific one.
func (f Finding) WithFix(fix string) Finding { f.Fix = fix; return f }

// Status is the outcome of a stage.
type Status string

const (
	StatusOK      Status = "ok"      // the stage ran and the server did what was asked
	StatusFail    Status = "fail"    // the stage ran and the server refused or misbehaved
	StatusError   Status = "error"   // the stage could not be run: unreachable, timeout, broken protocol
	StatusSkipped Status = "skipped" // not attempted (not offered, not asked, or an earlier stage failed)
	StatusInfo    Status = "info"    // informational stage with no pass/fail meaning
	// StatusInterrupted is a stage cut short by the user (Ctrl-C): neither
	// the server's fault nor a finished check.
	StatusInterrupted Status = "interrupted"
)

// CodeInterrupted is the one finding of an interrupted run: it names the
// stage that was running when the user stopped it.
const CodeInterrupted = "run.interrupted"

func init() {
	Register(Code{
		Code:     CodeInterrupted,
		Severity: Info,
		Title:    "run interrupted",
		Fix:      "The run was stopped before this stage finished (Ctrl-C); run it again to complete the check.",
	})
}

// Interrupted is the finding for a stage the user interrupted.
func Interrupted(stage string) Finding {
	return Newf(CodeInterrupted, stage, "interrupted during the %s stage; the stages before it are reported as they ran", stage)
}

// Stage is one step of a check: "connect", "banner", "ehlo", "starttls"...
// Start is the offset from the report's start, Duration how long it took.
type Stage struct {
	Name     string        `json:"name"`
	Status   Status        `json:"status"`
	Start    time.Duration `json:"-"`
	Duration time.Duration `json:"-"`
	Summary  string        `json:"summary,omitempty"`
	// Seq is the transcript range [first, last] the stage covers, when known.
	Seq []int `json:"seq,omitempty"`
}

// MarshalJSON writes durations as milliseconds, which is what people and
// dashboards read; Go's nanosecond integers are not.
func (s Stage) MarshalJSON() ([]byte, error) {
	type plain Stage
	return json.Marshal(struct {
		plain
		StartMS    float64 `json:"start_ms"`
		DurationMS float64 `json:"duration_ms"`
	}{plain(s), Millis(s.Start), Millis(s.Duration)})
}

// Millis converts a duration to milliseconds with microsecond precision.
func Millis(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

// Report is the result of one command against one target.
type Report struct {
	SchemaVersion int    `json:"schema_version"`
	Tool          string `json:"tool"`
	Version       string `json:"version"`
	// Name is the check's name in a suite (check -f) or batch: the
	// file's name: for it, or the command words and the target. Empty for
	// a single command.
	Name    string `json:"name,omitempty"`
	Command string `json:"command"`
	Target  string `json:"target"`
	// Source is where the check was written (the suite file and line of
	// check -f), for SARIF's physical locations and for the reader of
	// the JSON who wants to fix the line.
	Source     *Source            `json:"source,omitempty"`
	StartedAt  time.Time          `json:"started_at"`
	Duration   time.Duration      `json:"-"`
	Stages     []Stage            `json:"stages"`
	Findings   []Finding          `json:"findings"`
	Transcript []transcript.Entry `json:"transcript,omitempty"`
	// Facts carries command-specific structured results (capabilities,
	// certificate, SPF tree, cipher list...). Keys are stable snake_case.
	Facts map[string]any `json:"facts,omitempty"`
	// Incomplete is set when a stage could not be run; see ExitCode.
	Incomplete bool `json:"incomplete"`
	// Interrupted is set when the user stopped the run (exit code 130).
	Interrupted bool `json:"interrupted,omitempty"`
}

// Source is a place in a file: a suite file's line.
type Source struct {
	File string `json:"file"`
	Line int    `json:"line"`
}

// MarshalJSON adds duration_ms and writes every list as [] when empty,
// never null: stages, findings, and the lists inside facts (an engine's
// nil slice means "none").
func (r *Report) MarshalJSON() ([]byte, error) {
	type plain Report
	c := *r
	if c.Stages == nil {
		c.Stages = []Stage{}
	}
	if c.Findings == nil {
		c.Findings = []Finding{}
	}
	if c.Facts != nil {
		facts := make(map[string]any, len(c.Facts))
		for k, v := range c.Facts {
			facts[k] = emptyLists(v)
		}
		c.Facts = facts
	}
	return json.Marshal(struct {
		*plain
		DurationMS float64 `json:"duration_ms"`
	}{(*plain)(&c), Millis(c.Duration)})
}

// NewReport starts a report for command against target.
func NewReport(command, target string, started time.Time) *Report {
	return &Report{SchemaVersion: SchemaVersion, Tool: "mailprobe", Command: command, Target: target, StartedAt: started, Stages: []Stage{}, Findings: []Finding{}}
}

// Add appends findings.
func (r *Report) Add(fs ...Finding) { r.Findings = append(r.Findings, fs...) }

// AddStage appends a stage; a stage with StatusError marks the report
// incomplete.
func (r *Report) AddStage(s Stage) {
	switch s.Status {
	case StatusError:
		r.Incomplete = true
	case StatusInterrupted:
		r.Incomplete, r.Interrupted = true, true
	}
	r.Stages = append(r.Stages, s)
}

// SetFact records a structured fact.
func (r *Report) SetFact(key string, v any) {
	if r.Facts == nil {
		r.Facts = map[string]any{}
	}
	r.Facts[key] = v
}

// Worst is the highest severity among the findings (Pass when none).
func (r *Report) Worst() Severity {
	w := Pass
	for _, f := range r.Findings {
		if f.Severity > w {
			w = f.Severity
		}
	}
	return w
}

// Count returns how many findings have severity s.
func (r *Report) Count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// Has reports whether a finding with code is present.
func (r *Report) Has(code string) bool {
	_, ok := r.Find(code)
	return ok
}

// Find returns the first finding with code.
func (r *Report) Find(code string) (Finding, bool) {
	for _, f := range r.Findings {
		if f.Code == code {
			return f, true
		}
	}
	return Finding{}, false
}

// Stage returns the named stage.
func (r *Report) Stage(name string) (Stage, bool) {
	for _, s := range r.Stages {
		if s.Name == name {
			return s, true
		}
	}
	return Stage{}, false
}

// SortFindings orders findings worst first, then by stage order (a nested
// stage "a/b" where a is a stage in a's place), then code,
// so that the first line a user reads is the most important one. The sort
// is stable: findings of equal rank keep the order the engine found them.
func (r *Report) SortFindings() {
	order := map[string]int{}
	for i, s := range r.Stages {
		if _, ok := order[s.Name]; !ok {
			order[s.Name] = i
		}
	}
	rank := func(stage string) int {
		if i, ok := order[stage]; ok {
			return i
		}
		// A nested stage ("imap:143/capability" in mailprobe audit,
		// whose stages are its ports) ranks with its parent.
		if parent, _, ok := strings.Cut(stage, "/"); ok {
			if i, ok := order[parent]; ok {
				return i
			}
		}
		return len(order)
	}
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		return rank(a.Stage) < rank(b.Stage)
	})
}

// Exit codes, one contract for every command (PRODUCT.md).
const (
	ExitOK         = 0 // ran; no finding at or above --fail-on
	ExitFindings   = 1 // ran; at least one finding at or above --fail-on
	ExitUsage      = 2 // usage error
	ExitIncomplete = 3 // a stage could not be run; the report still says what was found
	// ExitInterrupted is a run the user stopped (Ctrl-C, SIGTERM): 128 +
	// SIGINT, what a shell reports for a process killed by Ctrl-C.
	ExitInterrupted = 130
)

// ExitCode applies the contract: an incomplete run is 3 whatever it found
// (the verdict is unknown, and CI should tell "broken" from "unreachable");
// otherwise 1 when any finding is at or above failOn, else 0.
func (r *Report) ExitCode(failOn Severity) int {
	if r.Interrupted {
		return ExitInterrupted
	}
	if r.Incomplete {
		return ExitIncomplete
	}
	for _, f := range r.Findings {
		if f.Severity >= failOn && f.Severity > Pass {
			return ExitFindings
		}
	}
	return ExitOK
}

// MergeExit is the exit code of several reports run as one command (check
// -f, batch): 130 when the user stopped any, else 3 when any was
// incomplete, else 1 when any has a finding at or above failOn, else 0.
func MergeExit(reports []*Report, failOn Severity) int {
	code := ExitOK
	for _, r := range reports {
		if r != nil && r.Interrupted {
			return ExitInterrupted
		}
	}
	for _, r := range reports {
		if r == nil {
			continue
		}
		switch r.ExitCode(failOn) {
		case ExitIncomplete:
			return ExitIncomplete
		case ExitFindings:
			code = ExitFindings
		}
	}
	return code
}
