package render

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/termsafe"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// The text layout, section by section:
//
//	mailprobe smtp check mail.example.com:587
//	started 2026-11-24T10:00:00Z  took 1234 ms  mailprobe 1.2.0
//
//	STAGES        one line per stage: status, name, duration, summary
//	FINDINGS      worst first; non-pass findings in full, pass ones collapsed
//	DETAILS       the report's simple facts (strings, numbers, lists)
//	TRANSCRIPT    only with -v
//	RESULT        counts per severity and the exit code
//
// Section names are upper case words at the start of a line and every
// finding line starts with its severity word, so `grep -A3 '^  FAIL'` and
// `sed -n '/^FINDINGS/,/^$/p'` work on piped output.

// textWriter accumulates the text of one or more reports.
type textWriter struct {
	b     *bytes.Buffer
	st    *styler
	o     Options
	width int
}

// Column geometry shared by the sections.
const (
	indent     = "  "
	gap        = "  "
	bodyIndent = 8 // finding body: under the code, after "  FAIL  "
	labelWidth = 10
	maxNameCol = 20 // a longer stage name pushes its own row instead of every row
	maxKeyCol  = 28
)

func writeText(w io.Writer, buf *bytes.Buffer, rs []*report.Report, o Options, isSingle bool) error {
	t := &textWriter{b: buf, st: newStyler(w, o), o: o, width: o.width()}
	for i, r := range rs {
		if i > 0 {
			t.println("")
			t.println(t.rule("-", "─"))
			t.println("")
		}
		t.report(r)
	}
	if !isSingle {
		t.total(rs)
	}
	return nil
}

// rule is a horizontal line between reports: box drawing when styled,
// ASCII when plain (CI log viewers and old consoles mangle box drawing).
func (t *textWriter) rule(plain, styled string) string {
	if t.st.color {
		return t.st.dim(strings.Repeat(styled, min(t.width, 80)))
	}
	return strings.Repeat(plain, min(t.width, 80))
}

func (t *textWriter) println(s string) {
	t.b.WriteString(s)
	t.b.WriteByte('\n')
}

func (t *textWriter) report(r *report.Report) {
	t.header(r)
	t.stages(r)
	t.findings(r)
	t.details(r)
	if t.o.Transcript {
		t.transcript(r)
	}
	t.result(r)
}

func (t *textWriter) section(name string) {
	t.println("")
	t.println(t.st.heading(name))
}

// header: what was run against what, then when and how long.
func (t *textWriter) header(r *report.Report) {
	words := []string{r.Tool}
	if r.Command != "" {
		words = append(words, clean(r.Command))
	}
	first := t.st.bold(strings.Join(words, " "))
	if r.Target != "" {
		first += " " + t.st.bold(clean(r.Target))
	}
	if r.Name != "" && r.Name != strings.TrimSpace(r.Command+" "+r.Target) && r.Name != r.Command {
		// A suite check with a name of its own: the name first.
		first = t.st.bold(clean(r.Name)) + t.st.dim(":") + " " + first
	}
	t.println(first)
	var meta []string
	if !r.StartedAt.IsZero() {
		meta = append(meta, "started "+r.StartedAt.UTC().Format(time.RFC3339))
	}
	if d := fmtDuration(r.Duration); d != "" {
		meta = append(meta, "took "+d)
	}
	if r.Version != "" {
		meta = append(meta, "mailprobe "+r.Version)
	}
	if len(meta) > 0 {
		t.println(t.st.dim(strings.Join(meta, gap)))
	}
}

// fmtDuration keeps one unit (ms) for everything a person compares by eye,
// and switches to seconds only where milliseconds stop being readable.
// Zero means "not timed" (skipped stages) and prints nothing.
func fmtDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d < time.Millisecond:
		return "<1 ms"
	case d < 10*time.Second:
		return fmt.Sprintf("%d ms", d.Round(time.Millisecond)/time.Millisecond)
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

func (t *textWriter) stages(r *report.Report) {
	t.section("STAGES")
	if len(r.Stages) == 0 {
		t.println(indent + t.st.dim("no stages ran"))
		return
	}
	nameW, durW := 0, 0
	for _, s := range r.Stages {
		if n := textWidth(clean(s.Name)); n > nameW {
			nameW = min(n, maxNameCol)
		}
		durW = max(durW, textWidth(fmtDuration(s.Duration)))
	}
	markW := t.st.stageMarkWidth()
	for _, s := range r.Stages {
		name := padRight(clean(s.Name), nameW)
		prefix := indent + t.st.stageMark(s.Status) + gap + name + gap
		prefixW := len(indent) + markW + len(gap) + textWidth(name) + len(gap)
		if durW > 0 {
			prefix += t.st.dim(padLeft(fmtDuration(s.Duration), durW)) + gap
			prefixW += durW + len(gap)
		}
		t.hang(prefix, prefixW, clean(s.Summary), identity)
	}
}

func (t *textWriter) findings(r *report.Report) {
	t.section("FINDINGS")
	if len(r.Findings) == 0 {
		t.println(indent + t.st.dim("none"))
		return
	}
	var passes []report.Finding
	n := 0
	for _, f := range r.Findings {
		if f.Severity <= report.Pass {
			passes = append(passes, f)
			continue
		}
		if n > 0 {
			t.println("")
		}
		n++
		t.finding(f)
	}
	if len(passes) > 0 {
		if n > 0 {
			t.println("")
		}
		t.passes(passes)
	}
}

// finding prints a non-pass finding in full:
//
//	FAIL  smtp.starttls.missing  [starttls]
//	      STARTTLS not offered
//	      detail...
//	      evidence: S: 250-AUTH PLAIN LOGIN  (#7)
//	      fix:      ...
//	      see:      RFC 3207; RFC 8314 §3.3
func (t *textWriter) finding(f report.Finding) {
	paint := t.st.severity(f.Severity)
	head := indent + paint(severityLabel(f.Severity)) + gap + t.st.bold(clean(f.Code))
	if f.Stage != "" {
		head += gap + t.st.dim("["+clean(f.Stage)+"]")
	}
	t.println(head)
	body := strings.Repeat(" ", bodyIndent)
	if f.Title != "" {
		t.hang(body, bodyIndent, clean(f.Title), t.st.bold)
	}
	if f.Detail != "" {
		t.hang(body, bodyIndent, clean(f.Detail), identity)
	}
	// Each evidence line is wrapped on its own, continuation lines indented
	// past its "S: " or "record: " marker, so that a wrapped server line
	// cannot be mistaken for the next one.
	n := 0
	for _, ev := range f.Evidence {
		suffix, suffixW := "", 0
		if seq := seqList(ev.Seq); seq != "" {
			suffix = gap + t.st.dim("("+seq+")")
			suffixW = len(gap) + textWidth(seq) + 2
		}
		for j, l := range strings.Split(evidenceText(ev), "\n") {
			label := strings.Repeat(" ", labelWidth)
			if n == 0 {
				label = padRight("evidence:", labelWidth)
			}
			n++
			if j > 0 {
				suffix, suffixW = "", 0
			}
			w := bodyIndent + labelWidth
			t.hangLine(body+t.st.dim(label), w, w+markerWidth(l), l, identity, suffix, suffixW)
		}
	}
	if f.Fix != "" {
		t.hang(body+t.st.dim(padRight("fix:", labelWidth)), bodyIndent+labelWidth, clean(f.Fix), identity)
	}
	if len(f.Refs) > 0 {
		t.hang(body+t.st.dim(padRight("see:", labelWidth)), bodyIndent+labelWidth, clean(strings.Join(f.Refs, "; ")), identity)
	}
}

// evidenceText shows a server reply the way the transcript does ("S: 250
// ..."), one line per reply line; other kinds of evidence say what they
// are ("record: v=spf1 ...") unless they are free notes or transcript
// excerpts that speak for themselves.
func evidenceText(ev report.Evidence) string {
	text := clean(ev.Text)
	switch ev.Kind {
	case "reply":
		lines := strings.Split(text, "\n")
		for i, l := range lines {
			if !strings.HasPrefix(l, "S: ") {
				lines[i] = "S: " + l
			}
		}
		return strings.Join(lines, "\n")
	case "", "note", "transcript":
		return text
	}
	return clean(ev.Kind) + ": " + strings.ReplaceAll(text, "\n", "\n"+clean(ev.Kind)+": ")
}

// markerWidth is the width of a leading "S: ", "C: " or "record: " marker,
// under which an evidence line's continuation is indented.
func markerWidth(l string) int {
	if i := strings.Index(l, ": "); i > 0 && i <= 12 && !strings.ContainsAny(l[:i], " \t") {
		return i + 2
	}
	return 0
}

// seqList writes transcript sequence numbers compactly: "#7", "#4-8",
// "#3, #5-7". Findings cite whole multi-line replies, so ranges are common.
func seqList(seq []int) string {
	if len(seq) == 0 {
		return ""
	}
	s := append([]int(nil), seq...)
	sort.Ints(s)
	var parts []string
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] <= s[j]+1 {
			j++
		}
		if s[j] == s[i] {
			parts = append(parts, fmt.Sprintf("#%d", s[i]))
		} else {
			parts = append(parts, fmt.Sprintf("#%d-%d", s[i], s[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// passes collapses pass findings to one line each: they are reassurance,
// not work, and must not push the problems off the screen.
func (t *textWriter) passes(fs []report.Finding) {
	// A code that passed at several stages (one per port of an audit)
	// names its stage, or the lines read as duplicates.
	seen := map[string]int{}
	for _, f := range fs {
		seen[f.Code]++
	}
	label := func(f report.Finding) string {
		if seen[f.Code] > 1 && f.Stage != "" {
			return clean(f.Code) + " [" + clean(f.Stage) + "]"
		}
		return clean(f.Code)
	}
	codeW := 0
	for _, f := range fs {
		codeW = max(codeW, min(textWidth(label(f)), maxKeyCol+8))
	}
	for _, f := range fs {
		code := padRight(label(f), codeW)
		prefix := indent + t.st.pass(severityLabel(f.Severity)) + gap + code + gap
		text := clean(f.Title)
		if f.Detail != "" {
			if text != "" {
				text += ": "
			}
			text += clean(f.Detail)
		}
		t.hang(prefix, len(indent)+4+len(gap)+textWidth(code)+len(gap), text, t.st.dim)
	}
}

// details lists the facts a person can read at a glance. Nested structures
// (certificate chains, SPF trees, authentication verdicts) are left to JSON:
// flattened into text they would bury the findings. A map of simple values
// (such as tls: version, cipher) is shown one level deep as dotted keys.
func (t *textWriter) details(r *report.Report) {
	type kv struct{ k, v string }
	var rows []kv
	for k, v := range r.Facts {
		if s, ok := simpleValue(v); ok {
			rows = append(rows, kv{k, s})
			continue
		}
		if m, ok := simpleMap(v); ok {
			for mk, mv := range m {
				rows = append(rows, kv{k + "." + mk, mv})
			}
		}
	}
	if len(rows) == 0 {
		return
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].k < rows[j].k })
	keyW := 0
	for _, row := range rows {
		keyW = max(keyW, min(textWidth(clean(row.k)), maxKeyCol))
	}
	t.section("DETAILS")
	for _, row := range rows {
		key := padRight(clean(row.k), keyW)
		t.hang(indent+t.st.dim(key)+gap, len(indent)+textWidth(key)+len(gap), clean(row.v), identity)
	}
}

// simpleValue formats scalars and lists of scalars. Reflection, because
// facts arrive as whatever the engine had: []string, []net.IP, int64,
// time.Duration, or []any after a JSON round trip.
func simpleValue(v any) (string, bool) {
	if v == nil {
		return "", false
	}
	rv := reflect.ValueOf(v)
	if isScalar(rv) {
		return scalar(rv), true
	}
	if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		if rv.Type().Elem().Kind() == reflect.Uint8 && rv.Type().Elem().PkgPath() == "" {
			return "", false // raw bytes (certificates, keys): JSON only
		}
		parts := make([]string, 0, rv.Len())
		for i := 0; i < rv.Len(); i++ {
			e := rv.Index(i)
			for e.Kind() == reflect.Interface && !e.IsNil() {
				e = e.Elem()
			}
			if !isScalar(e) {
				return "", false
			}
			parts = append(parts, scalar(e))
		}
		if len(parts) == 0 {
			return "(none)", true
		}
		return strings.Join(parts, ", "), true
	}
	return "", false
}

var stringerType = reflect.TypeFor[fmt.Stringer]()

func isScalar(v reflect.Value) bool {
	if !v.IsValid() {
		return false
	}
	switch v.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	// Types that know how to print themselves (net.IP, time.Time).
	return v.Type().Implements(stringerType) && v.Kind() != reflect.Map
}

func scalar(v reflect.Value) string {
	if v.CanInterface() {
		return fmt.Sprint(v.Interface())
	}
	return fmt.Sprint(v)
}

// simpleMap returns a map with string keys whose values are all simple.
func simpleMap(v any) (map[string]string, bool) {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String || rv.Len() == 0 {
		return nil, false
	}
	out := map[string]string{}
	iter := rv.MapRange()
	for iter.Next() {
		s, ok := simpleValue(iter.Value().Interface())
		if !ok {
			return nil, false
		}
		out[iter.Key().String()] = s
	}
	return out, true
}

// transcript prints the protocol dialogue:
//
//	 2  +0.060s       S: 220 mail.example.com ESMTP
//	12  +0.210s  tls  C: EHLO mailprobe.local
//
// Lines are cut, not word-wrapped, so every byte stays visible; line
// endings other than CRLF are flagged because they are what smuggling and
// broken servers are made of.
func (t *textWriter) transcript(r *report.Report) {
	t.section("TRANSCRIPT")
	if len(r.Transcript) == 0 {
		t.println(indent + t.st.dim("nothing recorded"))
		return
	}
	g := newTranscriptGeometry(r.Transcript)
	for _, e := range r.Transcript {
		prefix, prefixW := g.prefix(e, t.st)
		line, suffix := transcriptLine(e)
		paint := identity
		switch e.Dir {
		case transcript.Client:
			paint = t.st.client
		case transcript.Event:
			paint = t.st.event
		}
		avail := max(t.width-prefixW, 20)
		lines := wrapKeep(line, avail)
		styledSuffix := ""
		if suffix != "" {
			// The flag goes on the last piece, where the line really ended.
			last := lines[len(lines)-1]
			if textWidth(last)+textWidth(suffix) > avail {
				lines = append(lines, "")
			}
			styledSuffix = t.st.warn(suffix)
		}
		pad := strings.Repeat(" ", prefixW)
		for i, l := range lines {
			p := pad
			if i == 0 {
				p = prefix
			}
			out := p + paint(l)
			if i == len(lines)-1 {
				if l != "" && styledSuffix != "" {
					out += " "
				}
				out += styledSuffix
			}
			t.println(strings.TrimRight(out, " "))
		}
	}
}

// transcriptGeometry holds the column widths of a transcript, so that
// sequence numbers and offsets line up however long the dialogue ran.
type transcriptGeometry struct {
	seqW, timeW int
	tls         bool // any line inside TLS: only then is there a tls column
}

func newTranscriptGeometry(es []transcript.Entry) transcriptGeometry {
	var g transcriptGeometry
	for _, e := range es {
		g.seqW = max(g.seqW, len(fmt.Sprint(e.Seq)))
		g.timeW = max(g.timeW, len(fmtOffset(e.T)))
		g.tls = g.tls || e.TLS
	}
	return g
}

func fmtOffset(d time.Duration) string { return fmt.Sprintf("+%.3fs", d.Seconds()) }

// prefix is everything before the line text: seq, offset, tls, direction.
func (g transcriptGeometry) prefix(e transcript.Entry, st *styler) (string, int) {
	p := indent + st.dim(padLeft(fmt.Sprint(e.Seq), g.seqW)) + gap + st.dim(padLeft(fmtOffset(e.T), g.timeW)) + gap
	w := len(indent) + g.seqW + len(gap) + g.timeW + len(gap)
	if g.tls {
		if e.TLS {
			p += st.secure("tls") + gap
		} else {
			p += "   " + gap
		}
		w += 3 + len(gap)
	}
	dir := dirMark(e.Dir)
	switch e.Dir {
	case transcript.Client:
		dir = st.client(dir)
	case transcript.Event:
		dir = st.event(dir)
	}
	return p + dir + " ", w + 3
}

// dirMark is the direction as in dialogue scripts: "S:", "C:", and "*"
// for events, two cells wide so the text column is straight.
func dirMark(d transcript.Dir) string {
	switch d {
	case transcript.Client, transcript.Server:
		return string(d) + ":"
	case transcript.Event:
		return "* "
	}
	return padRight(clean(string(d)), 2)
}

// transcriptLine returns the text of an entry and its line-ending flag.
// Tabs are shown as \t: their width depends on the column, and in a
// transcript an invisible byte is a lie.
func transcriptLine(e transcript.Entry) (line, flag string) {
	line = termsafe.Line(strings.ReplaceAll(e.Line, "\t", `\t`))
	switch e.EOL {
	case "":
	case "LF":
		flag = "[bare LF]"
	case "none":
		flag = "[no line ending]"
	case "truncated":
		flag = "[truncated]"
	default:
		flag = "[" + clean(e.EOL) + "]"
	}
	return line, flag
}

// plainTranscript is the transcript as plain text without wrapping, for
// the JUnit system-out.
func plainTranscript(es []transcript.Entry) string {
	var b strings.Builder
	g := newTranscriptGeometry(es)
	st := plainStyler()
	for _, e := range es {
		p, _ := g.prefix(e, st)
		line, flag := transcriptLine(e)
		if flag != "" {
			line += " " + flag
		}
		b.WriteString(strings.TrimRight(strings.TrimPrefix(p, indent)+line, " "))
		b.WriteByte('\n')
	}
	return b.String()
}

// counts is "1 fail, 2 warn, 3 info, 5 pass", every severity always shown
// (so a script can parse the line), the non-zero ones coloured.
func (t *textWriter) counts(fail, warn, info, pass int) string {
	part := func(n int, word string, paint func(string) string) string {
		s := fmt.Sprintf("%d %s", n, word)
		if n == 0 {
			return t.st.dim(s)
		}
		return paint(s)
	}
	return strings.Join([]string{
		part(fail, "fail", t.st.fail), part(warn, "warn", t.st.warn),
		part(info, "info", t.st.info), part(pass, "pass", t.st.pass),
	}, ", ")
}

func (t *textWriter) exit(code int) string {
	s := fmt.Sprintf("exit %d", code)
	switch code {
	case report.ExitOK:
		return t.st.pass(s)
	case report.ExitFindings:
		return t.st.fail(s)
	}
	return t.st.errc(s)
}

// result is the verdict line, last so that it is what a terminal shows
// when the output scrolls.
func (t *textWriter) result(r *report.Report) {
	t.println("")
	const label = "RESULT"
	code := exitCode(r, t.o)
	counts := t.counts(r.Count(report.Fail), r.Count(report.Warn), r.Count(report.Info), r.Count(report.Pass)) + " — " + t.exit(code)
	// The plain twin of counts, to measure: styled text has escapes.
	plain := fmt.Sprintf("%d fail, %d warn, %d info, %d pass — exit %d", r.Count(report.Fail), r.Count(report.Warn), r.Count(report.Info), r.Count(report.Pass), code)
	head := t.st.heading(label) + gap
	headW := len(label) + len(gap)
	if !r.Incomplete {
		t.println(head + counts)
		return
	}
	why := incompleteText(r)
	// One line when it fits, so `grep ^RESULT` shows the whole verdict;
	// otherwise the reason, then the counts under it.
	if headW+textWidth(why)+2+textWidth(plain) <= t.width {
		t.println(head + t.st.errc(why) + "; " + counts)
		return
	}
	t.hang(head, headW, why, t.st.errc)
	t.println(strings.Repeat(" ", headW) + counts)
}

func incompleteText(r *report.Report) string {
	if r.Interrupted {
		for _, s := range r.Stages {
			if s.Status == report.StatusInterrupted {
				return "interrupted during stage " + clean(s.Name)
			}
		}
		return "interrupted"
	}
	names := errorStages(r)
	switch len(names) {
	case 0:
		return "incomplete: a stage could not run"
	case 1:
		return "incomplete: stage " + clean(names[0]) + " could not run"
	}
	return "incomplete: stages " + clean(strings.Join(names, ", ")) + " could not run"
}

// total sums a suite. The exit code follows the per-report contract:
// incomplete anywhere wins (3), then findings (1).
func (t *textWriter) total(rs []*report.Report) {
	var fail, warn, info, pass, incomplete int
	code := report.ExitOK
	for _, r := range rs {
		fail += r.Count(report.Fail)
		warn += r.Count(report.Warn)
		info += r.Count(report.Info)
		pass += r.Count(report.Pass)
		c := exitCode(r, t.o)
		if r.Incomplete {
			incomplete++
		}
		if c == report.ExitIncomplete || code != report.ExitIncomplete && c > code {
			code = c
		}
	}
	t.println("")
	t.println(t.rule("=", "═"))
	noun := "reports"
	if len(rs) == 1 {
		noun = "report"
	}
	line := t.st.heading("TOTAL") + gap + fmt.Sprintf("%d %s", len(rs), noun)
	if incomplete > 0 {
		line += ", " + t.st.errc(fmt.Sprintf("%d incomplete", incomplete))
	}
	line += ": " + t.counts(fail, warn, info, pass) + " — " + t.exit(code)
	t.println(line)
}
