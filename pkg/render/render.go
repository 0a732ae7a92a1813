// Package render is the only code in mailprobe that prints a report. It
// turns a *report.Report into one of four formats:
//
//   - text: for people. Plain (stable, greppable, golden-tested) when the
//     caller says colour is off, styled with lipgloss when it is on.
//   - json: the report model as is (schema_version, stages with timings,
//     findings, transcript, facts), for scripts and dashboards.
//   - junit: one testcase per stage and per warn/fail finding, for CI
//     systems that already know how to show test results.
//   - sarif: SARIF 2.1.0 (OASIS), findings as results, for code-scanning
//     dashboards.
//
// The renderer never decides anything about the environment: whether to use
// colour, how wide the terminal is and what the exit code will be are the
// caller's (pkg/cli) decisions, passed in Options. That keeps every output
// reproducible in tests, byte for byte.
package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// Format is an output format, as named by --format.
type Format string

const (
	Text  Format = "text"
	JSON  Format = "json"
	JUnit Format = "junit"
	SARIF Format = "sarif"
)

// Formats lists the supported formats in the order the help text shows them.
var Formats = []Format{Text, JSON, JUnit, SARIF}

// ParseFormat reads a --format value. Case and surrounding blanks are
// forgiven; anything else is a usage error the caller reports.
func ParseFormat(s string) (Format, error) {
	f := Format(strings.ToLower(strings.TrimSpace(s)))
	for _, known := range Formats {
		if f == known {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown format %q (want text, json, junit or sarif)", s)
}

// noWrap is the width of output that is not on a terminal: piped text
// is never hard-wrapped (a CI log viewer or a pager wraps it to its own
// width, and grep sees one line per finding).
const noWrap = 1 << 20

// minWidth keeps wrapping sane on absurdly narrow terminals: below it the
// hanging indents would leave no room for text.
const minWidth = 40

// Options say how to render. The caller fills every field; render reads no
// environment variable and asks no terminal.
type Options struct {
	Format     Format
	Color      bool // styled output (the caller decided: TTY, NO_COLOR, CLICOLOR_FORCE, TERM=dumb)
	Width      int  // terminal width for wrapping; 0 = not a terminal: no wrapping
	Transcript bool // -v/--transcript: include the protocol transcript in text output (JSON always carries it)
	Version    string
	// FailOn is the --fail-on threshold, used only to print the exit code
	// on the text RESULT line so that it matches what the process returns.
	// The zero value (Pass, never a valid --fail-on) means the default, Fail.
	FailOn report.Severity
	// Invocation is how the run was started (SARIF's invocations);
	// nil leaves the command line out and takes the times from the
	// reports.
	Invocation *Invocation
	// Hostname is the machine the run happened on, for JUnit's
	// testsuite/@hostname; "" writes localhost.
	Hostname string
	// Baseline is the previous run's SARIF (--sarif-baseline): results
	// get a baselineState against it.
	Baseline *Baseline
}

func (o Options) width() int {
	switch {
	case o.Width <= 0:
		return noWrap
	case o.Width < minWidth:
		return minWidth
	}
	return o.Width
}

func (o Options) failOn() report.Severity {
	if o.FailOn <= report.Pass {
		return report.Fail
	}
	return o.FailOn
}

// Render writes one report in o.Format.
func Render(w io.Writer, r *report.Report, o Options) error {
	if r == nil {
		return errors.New("render: nil report")
	}
	return render(w, []*report.Report{r}, o, true)
}

// RenderMany writes several reports (a suite or a batch) as one document:
// text shows the reports one after another and a TOTAL line; json is
// {"schema_version":1,"reports":[...]}; junit has one testsuite per report;
// sarif has one run holding every result.
func RenderMany(w io.Writer, rs []*report.Report, o Options) error {
	return render(w, rs, o, false)
}

// render does both. isSingle marks where the two differ: a single JSON
// report is the report object itself, not a list of one, and a single text
// report has no TOTAL line.
func render(w io.Writer, rs []*report.Report, o Options, isSingle bool) error {
	prepared := make([]*report.Report, len(rs))
	for i, r := range rs {
		if r == nil {
			return fmt.Errorf("render: report %d is nil", i)
		}
		prepared[i] = prepare(r, o)
	}
	// Everything is rendered into memory first and written once: a reader
	// of a pipe never sees half a JSON document or half an XML file
	// because a later step failed, and there is one write error to check.
	var buf bytes.Buffer
	var err error
	switch o.Format {
	case Text, "":
		err = writeText(w, &buf, prepared, o, isSingle)
	case JSON:
		err = writeJSON(&buf, prepared, isSingle)
	case JUnit:
		err = writeJUnit(&buf, prepared, o)
	case SARIF:
		err = writeSARIF(&buf, prepared, o)
	default:
		return fmt.Errorf("render: unknown format %q", o.Format)
	}
	if err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// prepare returns a copy of r ready to print: findings worst first, nil
// slices made empty (JSON shows [] rather than null), identity fields
// defaulted for hand-built reports. The caller's report is not modified:
// it may still be used for the exit code or written twice.
func prepare(r *report.Report, o Options) *report.Report {
	c := *r
	c.Findings = append([]report.Finding{}, r.Findings...)
	c.Stages = append([]report.Stage{}, r.Stages...)
	c.SortFindings()
	if c.SchemaVersion == 0 {
		c.SchemaVersion = report.SchemaVersion
	}
	if c.Tool == "" {
		c.Tool = "mailprobe"
	}
	if c.Version == "" {
		c.Version = o.Version
	}
	return &c
}

// exitCode is the code the CLI will return for r, shown on RESULT lines.
func exitCode(r *report.Report, o Options) int { return r.ExitCode(o.failOn()) }

// errorStages names the stages that could not be run, which is what makes a
// report incomplete.
func errorStages(r *report.Report) []string {
	var names []string
	for _, s := range r.Stages {
		if s.Status == report.StatusError {
			names = append(names, s.Name)
		}
	}
	return names
}

// area is the first part of a finding code ("smtp" of smtp.starttls.missing),
// used as a tag in SARIF.
func area(code string) string {
	if i := strings.IndexByte(code, '.'); i > 0 {
		return code[:i]
	}
	return code
}
