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

// JUnit XML has no standard; this writes the intersection of the two
// schemas CI systems validate against, so that Jenkins (xunit plugin,
// junit-10.xsd), GitLab, GitHub test reporters and Azure DevOps all read
// it: the Apache Ant JUnit task's XSD (windyroad/JUnit-Schema) and the
// Jenkins xunit plugin's. Both are in testdata/schema and every format
// test validates against them. What the intersection means:
//
//   - <testsuites> carries no attributes (Ant allows none, Jenkins no
//     "skipped"); the totals are on each <testsuite>;
//   - each <testsuite> has package, id, name, timestamp (no zone),
//     hostname, tests, failures, errors, skipped, time, a <properties>
//     element, and <system-out> and <system-err> (always, maybe empty);
//   - a <testcase> holds at most one of <skipped>, <error>, <failure> and
//     no <system-out> of its own (the Ant XSD has none there).
//
// Mapping: every stage is a testcase, and every info/warn/fail finding is
// one too (so a CI page lists "smtp.starttls.missing" by name). A finding
// at or above --fail-on is a <failure>; one below it passes, its text in
// the suite's <system-out>, because a build breaks on --fail-on and the
// report must agree with the exit code. A stage that could not run is an
// <error> (exit 3); a stage that failed is a <failure> only when one of
// its findings is at or above --fail-on; skipped and interrupted stages
// are <skipped/>.

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Package    string          `xml:"package,attr"`
	ID         int             `xml:"id,attr"`
	Name       string          `xml:"name,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Hostname   string          `xml:"hostname,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  junitText       `xml:"system-out"`
	SystemErr  junitText       `xml:"system-err"`
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
}

// junitText is multi-line text kept readable in the file: CDATA keeps
// newlines as newlines (chardata would turn each into &#xA;).
type junitText struct {
	Text string `xml:",cdata"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",cdata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr,omitempty"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

func writeJUnit(buf *bytes.Buffer, rs []*report.Report, o Options) error {
	doc := junitSuites{Suites: []junitSuite{}}
	for i, r := range rs {
		doc.Suites = append(doc.Suites, junitSuiteOf(r, i, o))
	}
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(buf)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	buf.WriteByte('\n')
	return nil
}

// token is s as an xs:token the schemas accept: no control characters,
// single spaces, never empty.
func token(s, empty string) string {
	s = strings.Join(strings.Fields(xmlSafe(s)), " ")
	if s == "" {
		return empty
	}
	return s
}

func junitSuiteOf(r *report.Report, id int, o Options) junitSuite {
	name := strings.TrimSpace(strings.Join([]string{r.Tool, r.Command, r.Target}, " "))
	if r.Name != "" {
		name = r.Name + ": " + name
	}
	// classname groups testcases in CI pages; dots are the package
	// separator there, so "smtp check" becomes mailprobe.smtp.check.
	class := "mailprobe"
	if r.Command != "" {
		class += "." + strings.Join(strings.Fields(r.Command), ".")
	}
	class = token(class, "mailprobe")
	host := o.Hostname
	if host == "" {
		host = "localhost"
	}
	// The schema's timestamp has no zone; UTC by convention. A report
	// that never started (a hand-built one) gets the epoch rather than
	// the time of rendering, so the output stays reproducible.
	ts := time.Unix(0, 0).UTC()
	if !r.StartedAt.IsZero() {
		ts = r.StartedAt.UTC()
	}
	props := []junitProperty{
		{"command", xmlSafe(r.Command)},
		{"target", xmlSafe(r.Target)},
		{"mailprobe.version", xmlSafe(r.Version)},
		{"incomplete", fmt.Sprint(r.Incomplete)},
		{"fail-on", o.failOn().String()},
	}
	if r.Name != "" {
		props = append(props, junitProperty{"name", xmlSafe(r.Name)})
	}
	if r.Source != nil {
		props = append(props, junitProperty{"source", xmlSafe(fmt.Sprintf("%s:%d", r.Source.File, r.Source.Line))})
	}
	s := junitSuite{
		Package:    class,
		ID:         id,
		Name:       token(name, "mailprobe"),
		Timestamp:  ts.Format("2006-01-02T15:04:05"),
		Hostname:   token(host, "localhost"),
		Time:       seconds(r.Duration),
		Properties: props,
	}
	failOn := o.failOn()
	var out strings.Builder
	for _, st := range r.Stages {
		c := junitCase{Name: token("stage "+st.Name, "stage"), Classname: class, Time: seconds(st.Duration)}
		msg := st.Summary
		switch st.Status {
		case report.StatusFail:
			if !stageFailsBuild(r, st.Name, failOn) {
				// The server refused something, but nothing there is at
				// or above --fail-on: the build passes, and so does
				// the testcase; the findings say what happened.
				fmt.Fprintf(&out, "stage %s: failed (%s), below --fail-on %s\n", st.Name, msg, failOn)
				break
			}
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
			if msg != "" {
				fmt.Fprintf(&out, "stage %s: %s\n", st.Name, msg)
			}
		}
		s.Cases = append(s.Cases, c)
	}
	for _, f := range r.Findings {
		if f.Severity < report.Info {
			continue // a pass is a check that passed, shown by its stage
		}
		c := junitCase{Name: token(f.Code, "finding"), Classname: class, Time: seconds(0)}
		if f.Severity >= failOn {
			c.Failure = &junitProblem{Message: xmlSafe(f.Title), Type: xmlSafe(f.Code), Body: xmlSafe(findingBody(f))}
			s.Failures++
		} else {
			// Below --fail-on: a passing testcase; its text goes to the
			// suite's system-out (the Ant schema has no testcase
			// system-out).
			fmt.Fprintf(&out, "\n%s %s: %s\n%s", strings.ToUpper(f.Severity.String()), f.Code, f.Title, findingBody(f))
		}
		s.Cases = append(s.Cases, c)
	}
	s.Tests = len(s.Cases)
	if len(r.Transcript) > 0 {
		out.WriteString("\ntranscript:\n" + plainTranscript(r.Transcript))
	}
	s.SystemOut = junitText{xmlSafe(strings.TrimLeft(out.String(), "\n"))}
	return s
}

// stageFailsBuild: a failed stage is a build failure when one of its
// findings is at or above --fail-on, the rule the exit code follows.
func stageFailsBuild(r *report.Report, stage string, failOn report.Severity) bool {
	for _, f := range r.Findings {
		if inStage(f.Stage, stage) && f.Severity > report.Pass && f.Severity >= failOn {
			return true
		}
	}
	return false
}

// inStage reports whether a finding at findingStage belongs to stage:
// the stage itself or one nested in it ("imap:143/capability" is in
// mailprobe audit's port stage "imap:143").
func inStage(findingStage, stage string) bool {
	return findingStage == stage || strings.HasPrefix(findingStage, stage+"/")
}

// stageFindings lists the problems reported at a stage, for the body of
// the stage's failure: the reader of a CI page sees why without opening
// the finding testcases.
func stageFindings(r *report.Report, stage string) string {
	var b strings.Builder
	for _, f := range r.Findings {
		if inStage(f.Stage, stage) && f.Severity > report.Info {
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
