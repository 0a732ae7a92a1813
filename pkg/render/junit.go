package render

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// JUnit XML has no standard; this follows the de-facto schema that Jenkins,
// GitLab, GitHub test reporters and Azure DevOps read (the Ant JUnit task's
// format): <testsuites> holding one <testsuite> per report, whose counts
// are tests/failures/errors/skipped and whose times are in seconds.
//
// Mapping: every stage is a testcase (a stage that could not run is an
// error, not a failure, the same distinction the exit codes make between 3
// and 1); every warn or fail finding is a testcase too, so a CI page lists
// "smtp.starttls.missing" by name. Warnings pass, with their text in
// system-out: a build breaks on --fail-on, not on the JUnit report.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  *junitText      `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut *junitText    `xml:"system-out,omitempty"`
}

// junitText is multi-line text kept readable in the file: CDATA keeps
// newlines as newlines (chardata would turn each into &#xA;).
type junitText struct {
	Text string `xml:",cdata"`
}

func textElem(s string) *junitText {
	if s == "" {
		return nil
	}
	return &junitText{xmlSafe(s)}
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Body    string `xml:",cdata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr,omitempty"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

func writeJUnit(buf *bytes.Buffer, rs []*report.Report) error {
	doc := junitSuites{Name: "mailprobe"}
	var total time.Duration
	for _, r := range rs {
		s := junitSuiteOf(r)
		doc.Suites = append(doc.Suites, s)
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
		total += r.Duration
	}
	doc.Time = seconds(total)
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(buf)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	buf.WriteByte('\n')
	return nil
}

func junitSuiteOf(r *report.Report) junitSuite {
	name := strings.TrimSpace(strings.Join([]string{r.Tool, r.Command, r.Target}, " "))
	// classname groups testcases in CI pages; dots are the package
	// separator there, so "smtp check" becomes mailprobe.smtp.check.
	class := "mailprobe"
	if r.Command != "" {
		class += "." + strings.Join(strings.Fields(r.Command), ".")
	}
	s := junitSuite{
		Name: xmlSafe(name),
		Time: seconds(r.Duration),
		Properties: []junitProperty{
			{"command", xmlSafe(r.Command)},
			{"target", xmlSafe(r.Target)},
			{"mailprobe.version", xmlSafe(r.Version)},
			{"incomplete", fmt.Sprint(r.Incomplete)},
		},
	}
	if !r.StartedAt.IsZero() {
		// The schema's timestamp has no zone; UTC by convention.
		s.Timestamp = r.StartedAt.UTC().Format("2006-01-02T15:04:05")
	}
	for _, st := range r.Stages {
		c := junitCase{Name: xmlSafe("stage " + st.Name), Classname: xmlSafe(class), Time: seconds(st.Duration)}
		msg := st.Summary
		switch st.Status {
		case report.StatusFail:
			if msg == "" {
				msg = "stage " + st.Name + " failed"
			}
			c.Failure = &junitProblem{Message: xmlSafe(msg), Type: "fail", Body: xmlSafe(stageFindings(r, st.Name))}
			s.Failures++
		case report.StatusError:
			if msg == "" {
				msg = "stage " + st.Name + " could not run"
			}
			c.Error = &junitProblem{Message: xmlSafe(msg), Type: "error", Body: xmlSafe(stageFindings(r, st.Name))}
			s.Errors++
		case report.StatusSkipped:
			c.Skipped = &junitSkipped{Message: xmlSafe(msg)}
			s.Skipped++
		case report.StatusInterrupted:
			// Not a verdict on the server: the user stopped the run
			// (Ctrl-C), so the check was not completed.
			if !strings.HasPrefix(msg, "interrupted") {
				msg = strings.TrimSuffix("interrupted: "+msg, ": ")
			}
			c.Skipped = &junitSkipped{Message: xmlSafe(msg)}
			s.Skipped++
		default:
			c.SystemOut = textElem(msg)
		}
		s.Cases = append(s.Cases, c)
	}
	for _, f := range r.Findings {
		if f.Severity < report.Warn {
			continue // info and pass are not checks a build can fail
		}
		c := junitCase{Name: xmlSafe(f.Code), Classname: xmlSafe(class), Time: seconds(0)}
		if f.Severity == report.Fail {
			c.Failure = &junitProblem{Message: xmlSafe(f.Title), Type: xmlSafe(f.Code), Body: xmlSafe(findingBody(f))}
			s.Failures++
		} else {
			c.SystemOut = textElem("WARN " + f.Title + "\n" + findingBody(f))
		}
		s.Cases = append(s.Cases, c)
	}
	s.Tests = len(s.Cases)
	if len(r.Transcript) > 0 {
		s.SystemOut = textElem(plainTranscript(r.Transcript))
	}
	return s
}

// stageFindings lists the problems reported at a stage, for the body of
// the stage's failure: the reader of a CI page sees why without opening
// the finding testcases.
func stageFindings(r *report.Report, stage string) string {
	var b strings.Builder
	for _, f := range r.Findings {
		if f.Stage == stage && f.Severity > report.Info {
			fmt.Fprintf(&b, "%s %s: %s\n", severityLabel(f.Severity), f.Code, f.Title)
		}
	}
	return b.String()
}

// findingBody is the plain text of a finding for a failure body: what a
// developer needs in a CI log without rerunning the check.
func findingBody(f report.Finding) string {
	var b strings.Builder
	if f.Stage != "" {
		fmt.Fprintf(&b, "stage: %s\n", f.Stage)
	}
	if f.Detail != "" {
		b.WriteString(f.Detail + "\n")
	}
	for _, ev := range f.Evidence {
		text := evidenceText(ev)
		if seq := seqList(ev.Seq); seq != "" {
			text += "  (" + seq + ")"
		}
		b.WriteString("evidence: " + strings.ReplaceAll(text, "\n", "\n          ") + "\n")
	}
	if f.Fix != "" {
		b.WriteString("fix: " + f.Fix + "\n")
	}
	if len(f.Refs) > 0 {
		b.WriteString("see: " + strings.Join(f.Refs, "; ") + "\n")
	}
	return b.String()
}

// xmlSafe replaces what XML 1.0 cannot carry at all (most C0 controls,
// U+FFFE/U+FFFF, invalid UTF-8), even escaped, with U+FFFD. encoding/xml
// does this for attributes and character data, but not inside CDATA
// sections, which write their text verbatim. See XML 1.0 §2.2, [2] Char.
func xmlSafe(s string) string {
	ok := true
	for _, r := range s {
		if !xmlChar(r) {
			ok = false
			break
		}
	}
	if ok && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if !xmlChar(r) || r == utf8.RuneError {
			r = '\uFFFD'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
