package render

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/internal/formatcheck"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

var started = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func ms(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

// fixture is a realistic smtp check of a submission port, built by hand so
// that every renderer sees every case: stages of each status, findings of
// each severity (deliberately out of order, to prove the sorting), evidence
// with transcript seqs, a redacted AUTH line, lines inside TLS, a bare LF,
// a line cut short, an escape sequence a hostile server sent, and facts
// both simple and nested.
func fixture() *report.Report {
	r := report.NewReport("smtp check", "mail.example.com:587", started)
	r.Version = "1.2.0"
	r.Duration = ms(5523.4)
	stages := []report.Stage{
		{Name: "resolve", Status: report.StatusOK, Start: 0, Duration: ms(3.2), Summary: "mail.example.com → 192.0.2.10, 2001:db8::10", Seq: nil},
		{Name: "connect", Status: report.StatusOK, Start: ms(3.2), Duration: ms(41), Summary: "192.0.2.10:587", Seq: []int{1, 1}},
		{Name: "banner", Status: report.StatusOK, Start: ms(44), Duration: ms(60.4), Summary: "220 mail.example.com ESMTP Postfix (Debian) 3.7.11", Seq: []int{2, 2}},
		{Name: "ehlo", Status: report.StatusOK, Start: ms(104.5), Duration: ms(1.1), Summary: "6 extensions; AUTH PLAIN LOGIN offered before TLS", Seq: []int{3, 10}},
		{Name: "starttls", Status: report.StatusOK, Start: ms(106), Duration: ms(85.7), Summary: "TLS 1.2, ECDHE-RSA-AES128-GCM-SHA256", Seq: []int{11, 13}},
		{Name: "ehlo-tls", Status: report.StatusOK, Start: ms(192), Duration: ms(1.9), Summary: "3 extensions", Seq: []int{14, 17}},
		{Name: "auth", Status: report.StatusFail, Start: ms(194), Duration: ms(310.2), Summary: "535 5.7.8 Error: authentication failed", Seq: []int{18, 19}},
		{Name: "vrfy", Status: report.StatusSkipped, Start: ms(505), Summary: "not asked (--vrfy)"},
		{Name: "rcpt", Status: report.StatusError, Start: ms(505), Duration: ms(5000.3), Summary: "no reply to RCPT TO within 5 s", Seq: []int{20, 23}},
		{Name: "quit", Status: report.StatusInfo, Start: ms(5506), Duration: ms(0.4), Summary: "connection closed before 221", Seq: []int{24, 25}},
	}
	for _, s := range stages {
		r.AddStage(s)
	}
	r.Add(
		report.Finding{Code: "smtp.banner.ok", Severity: report.Pass, Stage: "banner", Title: "Greeting received"},
		report.Finding{Code: "smtp.banner.version", Severity: report.Warn, Stage: "banner", Title: "Greeting discloses the software version",
			Detail:   `The greeting names "Postfix (Debian) 3.7.11" with a version number.`,
			Evidence: []report.Evidence{{Kind: "reply", Text: "220 mail.example.com ESMTP Postfix (Debian) 3.7.11", Seq: []int{2}}},
			Fix:      "Postfix: smtpd_banner = $myhostname ESMTP; Exim: smtp_banner = $smtp_active_hostname ESMTP.",
			Refs:     []string{"RFC 5321 §4.3.1"}},
		report.Finding{Code: "smtp.size.missing", Severity: report.Info, Stage: "ehlo", Title: "SIZE not advertised",
			Detail: "Clients cannot learn the size limit before sending the whole message."},
		report.Finding{Code: "smtp.auth.plaintext", Severity: report.Fail, Stage: "ehlo", Title: "PLAIN or LOGIN offered on an unencrypted connection",
			Detail: "Before TLS the server offers PLAIN and LOGIN, which send the password as readable base64 to anyone on the path between the client and mail.example.com, including every Wi-Fi access point and ISP router in between.",
			Evidence: []report.Evidence{{Kind: "reply", Text: "250-mail.example.com\n250-PIPELINING\n250-AUTH PLAIN LOGIN\n250-STARTTLS\n250-XFOO \x1b[2J\n250 8BITMIME", Seq: []int{4, 5, 6, 7, 8, 9}},
				{Kind: "transcript", Text: "C: EHLO mailprobe.local", Seq: []int{3}}},
			Fix:  "Passwords would cross the network readable. Postfix: smtpd_tls_auth_only = yes; Dovecot SASL: disable_plaintext_auth = yes; Exim: server_advertise_condition = ${if def:tls_in_cipher}.",
			Refs: []string{"RFC 4954 §4", "RFC 4616 §6"}},
		report.Finding{Code: "smtp.relay.denied", Severity: report.Pass, Stage: "rcpt", Title: "Relaying denied without authentication"},
		report.Finding{Code: "smtp.conn.timeout", Severity: report.Fail, Stage: "rcpt", Title: "Server did not answer in time",
			Detail:   "No reply to RCPT TO within 5 s.",
			Evidence: []report.Evidence{{Kind: "note", Text: "waited 5.0 s after RCPT TO", Seq: []int{21, 22}}},
			Fix:      "Check the server's load and its policy services (postscreen, milters, DNSBL lookups); a slow RCPT reply usually means a stuck policy check."},
		report.Finding{Code: "smtp.ptr.mismatch", Severity: report.Warn, Stage: "resolve", Title: "PTR does not match the host name",
			Detail:   "192.0.2.10 resolves back to mx1.example.net, not mail.example.com.",
			Evidence: []report.Evidence{{Kind: "record", Text: "10.2.0.192.in-addr.arpa. 3600 IN PTR mx1.example.net."}}},
		report.Finding{Code: "smtp.starttls.ok", Severity: report.Pass, Stage: "starttls", Title: "STARTTLS negotiated", Detail: "TLS 1.2 with ECDHE-RSA-AES128-GCM-SHA256."},
		report.Finding{Code: "smtp.auth.failed", Severity: report.Fail, Stage: "auth", Title: "Authentication failed",
			Detail:   "The server rejected the credentials for user alice@example.com.",
			Evidence: []report.Evidence{{Kind: "reply", Text: "535 5.7.8 Error: authentication failed: UGFzc3dvcmQ6", Seq: []int{19}}},
			Fix:      "Check the user name and password; some providers need an app password when 2FA is on.",
			Refs:     []string{"RFC 4954 §6"}},
	)
	tr := func(seq int, t float64, dir transcript.Dir, line string, mods ...func(*transcript.Entry)) transcript.Entry {
		e := transcript.Entry{Seq: seq, T: ms(t), Dir: dir, Line: line}
		for _, m := range mods {
			m(&e)
		}
		return e
	}
	tls := func(e *transcript.Entry) { e.TLS = true }
	red := func(e *transcript.Entry) { e.Redacted = true }
	eol := func(s string) func(*transcript.Entry) { return func(e *transcript.Entry) { e.EOL = s } }
	r.Transcript = []transcript.Entry{
		tr(1, 44.1, transcript.Event, "connected to 192.0.2.10:587"),
		tr(2, 104.4, transcript.Server, "220 mail.example.com ESMTP Postfix (Debian) 3.7.11"),
		tr(3, 104.6, transcript.Client, "EHLO mailprobe.local"),
		tr(4, 105.3, transcript.Server, "250-mail.example.com"),
		tr(5, 105.3, transcript.Server, "250-PIPELINING"),
		tr(6, 105.4, transcript.Server, "250-AUTH PLAIN LOGIN"),
		tr(7, 105.4, transcript.Server, "250-STARTTLS"),
		tr(8, 105.4, transcript.Server, "250-XFOO \x1b[2J\tBAR"),
		tr(9, 105.5, transcript.Server, "250 8BITMIME", eol("LF")),
		tr(10, 105.9, transcript.Client, "STARTTLS"),
		tr(11, 106.8, transcript.Server, "220 2.0.0 Ready to start TLS"),
		tr(12, 191.6, transcript.Event, "TLS 1.2 handshake done: ECDHE-RSA-AES128-GCM-SHA256", tls),
		tr(13, 191.8, transcript.Client, "EHLO mailprobe.local", tls),
		tr(14, 193.5, transcript.Server, "250-mail.example.com", tls),
		tr(15, 193.6, transcript.Server, "250-PIPELINING", tls),
		tr(16, 193.6, transcript.Server, "250 AUTH PLAIN LOGIN CRAM-MD5 DIGEST-MD5 NTLM GSSAPI XOAUTH2 OAUTHBEARER SCRAM-SHA-1 SCRAM-SHA-256 ANONYMOUS EXTERNAL", tls),
		tr(17, 194.0, transcript.Client, "AUTH PLAIN <redacted>", tls, red),
		tr(18, 504.1, transcript.Server, "535 5.7.8 Error: authentication failed: UGFzc3dvcmQ6", tls),
		tr(19, 504.3, transcript.Client, "MAIL FROM:<probe@mailprobe.local>", tls),
		tr(20, 505.0, transcript.Server, "250 2.1.0 Ok", tls),
		tr(21, 505.2, transcript.Client, "RCPT TO:<postmaster@example.com>", tls),
		tr(22, 5505.5, transcript.Event, "read timeout after 5s", tls),
		tr(23, 5505.6, transcript.Client, "QUIT", tls),
		tr(24, 5506.0, transcript.Server, "221 2.0.", tls, eol("none")),
		tr(25, 5506.1, transcript.Event, "closed"),
	}
	r.SetFact("addresses", []string{"192.0.2.10", "2001:db8::10"})
	r.SetFact("banner", "220 mail.example.com ESMTP Postfix (Debian) 3.7.11")
	r.SetFact("capabilities", []string{"PIPELINING", "SIZE 10240000", "AUTH PLAIN LOGIN", "STARTTLS", "8BITMIME"})
	r.SetFact("auth_mechanisms_plaintext", []string{"PLAIN", "LOGIN"})
	r.SetFact("auth_mechanisms_tls", []string{})
	r.SetFact("connected_to", "192.0.2.10:587")
	r.SetFact("size_limit", 10240000)
	r.SetFact("greeting_ms", 60.4)
	r.SetFact("pipelining", true)
	r.SetFact("tls", map[string]any{"version": "TLS 1.2", "cipher": "ECDHE-RSA-AES128-GCM-SHA256", "implicit": false})
	// Nested structures are for JSON only; text must leave them out.
	r.SetFact("certificate_chain", []map[string]any{{"subject": "CN=mail.example.com", "not_after": "2027-01-01T00:00:00Z"}})
	r.SetFact("auth_results", struct{ SPF, DKIM string }{"pass", "none"})
	return r
}

// second is a small, complete report for the RenderMany cases.
func second() *report.Report {
	r := report.NewReport("smtp check", "mx.example.org:25", started.Add(6*time.Second))
	r.Version = "1.2.0"
	r.Duration = ms(812)
	r.AddStage(report.Stage{Name: "connect", Status: report.StatusOK, Duration: ms(20), Summary: "198.51.100.7:25"})
	r.AddStage(report.Stage{Name: "banner", Status: report.StatusOK, Duration: ms(750), Summary: "220 mx.example.org ESMTP"})
	r.AddStage(report.Stage{Name: "starttls", Status: report.StatusOK, Duration: ms(40), Summary: "TLS 1.3, TLS_AES_128_GCM_SHA256"})
	r.Add(
		report.Finding{Code: "smtp.banner.delay", Severity: report.Info, Stage: "banner", Title: "Greeting was delayed", Detail: "The greeting came after 700ms."},
		report.Finding{Code: "smtp.starttls.ok", Severity: report.Pass, Stage: "starttls", Title: "STARTTLS negotiated", Detail: "TLS 1.3 with TLS_AES_128_GCM_SHA256."},
	)
	return r
}

func renderOne(t *testing.T, r *report.Report, o Options) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, r, o); err != nil {
		t.Fatalf("Render(%s): %v", o.Format, err)
	}
	return b.String()
}

func renderAll(t *testing.T, rs []*report.Report, o Options) string {
	t.Helper()
	var b bytes.Buffer
	if err := RenderMany(&b, rs, o); err != nil {
		t.Fatalf("RenderMany(%s): %v", o.Format, err)
	}
	return b.String()
}

// golden compares got with testdata/golden/name.golden, or rewrites it
// under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/render -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (go test ./pkg/render -update rewrites it)\n--- got ---\n%s", name, path, got)
	}
}

func TestGolden(t *testing.T) {
	many := func() []*report.Report { return []*report.Report{fixture(), second()} }
	cases := []struct {
		name string
		run  func(t *testing.T) string
	}{
		{"text", func(t *testing.T) string { return renderOne(t, fixture(), Options{Format: Text, Version: "1.2.0"}) }},
		{"text_transcript", func(t *testing.T) string {
			return renderOne(t, fixture(), Options{Format: Text, Width: 100, Transcript: true, Version: "1.2.0"})
		}},
		{"text_color", func(t *testing.T) string {
			return renderOne(t, fixture(), Options{Format: Text, Width: 100, Color: true, Transcript: true, Version: "1.2.0"})
		}},
		{"text_narrow", func(t *testing.T) string {
			return renderOne(t, fixture(), Options{Format: Text, Width: 60, Version: "1.2.0"})
		}},
		{"json", func(t *testing.T) string { return renderOne(t, fixture(), Options{Format: JSON, Version: "1.2.0"}) }},
		{"junit", func(t *testing.T) string { return renderOne(t, fixture(), Options{Format: JUnit, Version: "1.2.0"}) }},
		{"sarif", func(t *testing.T) string { return renderOne(t, fixture(), Options{Format: SARIF, Version: "1.2.0"}) }},
		{"many_text", func(t *testing.T) string {
			return renderAll(t, many(), Options{Format: Text, Width: 100, Version: "1.2.0"})
		}},
		{"many_json", func(t *testing.T) string { return renderAll(t, many(), Options{Format: JSON, Version: "1.2.0"}) }},
		{"many_junit", func(t *testing.T) string { return renderAll(t, many(), Options{Format: JUnit, Version: "1.2.0"}) }},
		{"many_sarif", func(t *testing.T) string { return renderAll(t, many(), Options{Format: SARIF, Version: "1.2.0"}) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { golden(t, c.name, c.run(t)) })
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"text": Text, "JSON": JSON, " junit ": JUnit, "sarif": SARIF} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "xml", "yaml"} {
		if _, err := ParseFormat(bad); err == nil {
			t.Errorf("ParseFormat(%q) accepted", bad)
		}
	}
}

func TestRender_unknownFormatAndNil(t *testing.T) {
	if err := Render(io.Discard, fixture(), Options{Format: "yaml"}); err == nil {
		t.Error("unknown format accepted")
	}
	if err := Render(io.Discard, nil, Options{}); err == nil {
		t.Error("nil report accepted")
	}
	if err := RenderMany(io.Discard, []*report.Report{nil}, Options{Format: JSON}); err == nil {
		t.Error("nil report in a list accepted")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRender_writeErrorIsReturned(t *testing.T) {
	for _, f := range Formats {
		if err := Render(failWriter{}, fixture(), Options{Format: f}); err == nil {
			t.Errorf("%s: write error swallowed", f)
		}
	}
}

// The CLI computes the exit code from the same report after rendering: the
// renderer sorts and defaults a copy, never the caller's report.
func TestRender_doesNotMutateReport(t *testing.T) {
	r := fixture()
	r.SchemaVersion, r.Version = 0, ""
	for _, f := range Formats {
		renderOne(t, r, Options{Format: f, Version: "9.9"})
	}
	if r.Findings[0].Code != "smtp.banner.ok" || r.SchemaVersion != 0 || r.Version != "" {
		t.Fatalf("report modified: first finding %s, schema %d, version %q", r.Findings[0].Code, r.SchemaVersion, r.Version)
	}
}

func TestText_plainHasNoEscapes(t *testing.T) {
	out := renderOne(t, fixture(), Options{Format: Text, Transcript: true})
	if strings.Contains(out, "\x1b") {
		t.Fatalf("plain text contains ESC:\n%q", out)
	}
	// The hostile server's escape sequence is shown, not executed.
	if !strings.Contains(out, `250-XFOO \e[2J\tBAR`) {
		t.Error("escaped transcript line missing")
	}
	for _, want := range []string{"\n  FAIL  smtp.auth.plaintext  [ehlo]\n", "\n  ERR   rcpt ", "\n  skip  vrfy ", "[bare LF]", "[no line ending]",
		"AUTH PLAIN <redacted>", "RESULT  incomplete: stage rcpt could not run; 3 fail, 2 warn, 1 info, 3 pass — exit 3"} {
		if !strings.Contains(out, want) {
			t.Errorf("plain text lacks %q", want)
		}
	}
	if strings.Contains(out, "certificate_chain") || strings.Contains(out, "auth_results") {
		t.Error("nested facts leaked into text")
	}
}

func TestText_colorHasEscapes(t *testing.T) {
	out := renderOne(t, fixture(), Options{Format: Text, Color: true})
	if !strings.Contains(out, "\x1b[") {
		t.Fatal("styled text has no ANSI sequences")
	}
	// Styling must not change the words: strip the escapes and the
	// result reads like the plain output with symbols for stages.
	for _, want := range []string{"✓", "✗", "!", "–", "·", "FAIL", "smtp.auth.plaintext"} {
		if !strings.Contains(out, want) {
			t.Errorf("styled text lacks %q", want)
		}
	}
}

func TestText_wrapsToWidth(t *testing.T) {
	const width = 60
	out := renderOne(t, fixture(), Options{Format: Text, Width: width, Transcript: true})
	detail := "Before TLS the server offers PLAIN and LOGIN"
	i := strings.Index(out, detail)
	if i < 0 {
		t.Fatal("detail missing")
	}
	// The detail starts a line and continues on the next, under itself.
	line := out[i : strings.IndexByte(out[i:], '\n')+i]
	if strings.Contains(line, "ISP router") {
		t.Errorf("detail not wrapped at width %d: %q", width, line)
	}
	for _, l := range strings.Split(out, "\n") {
		if w := textWidth(l); w > width {
			t.Errorf("line is %d cells wide, over %d: %q", w, width, l)
		}
	}
	if !strings.Contains(out, "\n        including every Wi-Fi access point and ISP router in\n") {
		t.Errorf("no hanging indent in wrapped detail:\n%s", out)
	}
}

func TestText_exitCodeFollowsFailOn(t *testing.T) {
	r := second() // info and pass only
	if out := renderOne(t, r, Options{Format: Text}); !strings.Contains(out, "— exit 0") {
		t.Errorf("default fail-on: %s", out)
	}
	if out := renderOne(t, r, Options{Format: Text, FailOn: report.Info}); !strings.Contains(out, "— exit 1") {
		t.Errorf("--fail-on info: %s", out)
	}
}

func TestJSON_roundTrip(t *testing.T) {
	out := renderOne(t, fixture(), Options{Format: JSON})
	formatcheck.JSON(t, []byte(out))
	var doc struct {
		SchemaVersion int              `json:"schema_version"`
		Target        string           `json:"target"`
		Findings      []report.Finding `json:"findings"`
		Stages        []map[string]any `json:"stages"`
		Transcript    []map[string]any `json:"transcript"`
		Facts         map[string]any   `json:"facts"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.SchemaVersion != report.SchemaVersion || doc.Target != "mail.example.com:587" {
		t.Fatalf("schema_version %d, target %q", doc.SchemaVersion, doc.Target)
	}
	if doc.Findings[0].Severity != report.Fail || doc.Findings[len(doc.Findings)-1].Severity != report.Pass {
		t.Error("findings not worst first")
	}
	if doc.Stages[0]["duration_ms"] != 3.2 || len(doc.Transcript) != 25 || doc.Facts["certificate_chain"] == nil {
		t.Errorf("stages/transcript/facts lost: %v %d", doc.Stages[0], len(doc.Transcript))
	}
	if strings.Contains(out, "exit_code") {
		t.Error("JSON carries an exit code; the CLI owns it")
	}
}

func TestJSON_many(t *testing.T) {
	out := renderAll(t, []*report.Report{fixture(), second()}, Options{Format: JSON})
	formatcheck.JSON(t, []byte(out))
	var doc struct {
		SchemaVersion int               `json:"schema_version"`
		Reports       []json.RawMessage `json:"reports"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.SchemaVersion != 1 || len(doc.Reports) != 2 {
		t.Fatalf("%v: %+v", err, doc)
	}
}

// junitDoc is what CI tools read of a JUnit file.
type junitDoc struct {
	XMLName xml.Name `xml:"testsuites"`
	Suites  []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Errors   int    `xml:"errors,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Cases    []struct {
			Name    string    `xml:"name,attr"`
			Failure *struct{} `xml:"failure"`
			Error   *struct{} `xml:"error"`
			Skipped *struct{} `xml:"skipped"`
		} `xml:"testcase"`
		SystemOut string `xml:"system-out"`
	} `xml:"testsuite"`
}

func parseJUnit(t *testing.T, out string) junitDoc {
	t.Helper()
	formatcheck.JUnit(t, []byte(out))
	var doc junitDoc
	d := xml.NewDecoder(strings.NewReader(out))
	d.Strict = true
	if err := d.Decode(&doc); err != nil {
		t.Fatalf("JUnit is not well-formed XML: %v\n%s", err, out)
	}
	return doc
}

func TestJUnit_counts(t *testing.T) {
	doc := parseJUnit(t, renderOne(t, fixture(), Options{Format: JUnit}))
	if len(doc.Suites) != 1 {
		t.Fatalf("%d suites", len(doc.Suites))
	}
	s := doc.Suites[0]
	// 10 stages + 3 fail, 2 warn and 1 info findings; failures: the auth
	// stage and the 3 fail findings; errors: the rcpt stage; skipped: vrfy.
	if s.Name != "mailprobe smtp check mail.example.com:587" || s.Tests != 16 || s.Failures != 4 || s.Errors != 1 || s.Skipped != 1 {
		t.Errorf("suite %q: tests %d failures %d errors %d skipped %d", s.Name, s.Tests, s.Failures, s.Errors, s.Skipped)
	}
	var failures, errs, skipped int
	for _, c := range s.Cases {
		if c.Failure != nil {
			failures++
		}
		if c.Error != nil {
			errs++
		}
		if c.Skipped != nil {
			skipped++
		}
	}
	if len(s.Cases) != s.Tests || failures != s.Failures || errs != s.Errors || skipped != s.Skipped {
		t.Errorf("attributes disagree with testcases: %d cases, %d/%d/%d", len(s.Cases), failures, errs, skipped)
	}
	if !strings.Contains(s.SystemOut, "C: AUTH PLAIN <redacted>") {
		t.Error("transcript missing from system-out")
	}
	many := parseJUnit(t, renderAll(t, []*report.Report{fixture(), second()}, Options{Format: JUnit}))
	if len(many.Suites) != 2 || many.Suites[0].Tests != 16 || many.Suites[1].Failures != 0 {
		t.Errorf("many: %d suites %+v", len(many.Suites), many.Suites)
	}
}

// Findings below --fail-on are not failures: the testcase passes and the
// finding is in system-out, so the JUnit page agrees with the exit code.
// At --fail-on warn the same warnings fail.
func TestJUnit_failOn(t *testing.T) {
	r := report.NewReport("smtp check", "mx.example.com:25", started)
	r.AddStage(report.Stage{Name: "banner", Status: report.StatusOK, Summary: "220 hi"})
	r.AddStage(report.Stage{Name: "ehlo", Status: report.StatusFail, Summary: "502 no EHLO"})
	r.AddStage(report.Stage{Name: "vrfy", Status: report.StatusSkipped, Summary: "not asked"})
	r.Add(report.Finding{Code: "smtp.banner.version", Severity: report.Warn, Stage: "banner", Title: "Greeting discloses the software version"},
		report.Finding{Code: "smtp.ehlo.refused", Severity: report.Warn, Stage: "ehlo", Title: "EHLO refused"},
		report.Finding{Code: "smtp.size.missing", Severity: report.Info, Stage: "ehlo", Title: "SIZE not advertised"})
	for _, c := range []struct {
		failOn                     report.Severity
		failures, skipped, passing int
	}{
		{report.Fail, 0, 1, 5},
		{report.Warn, 3, 1, 2}, // two warnings and the ehlo stage they explain
		{report.Info, 4, 1, 1},
	} {
		doc := parseJUnit(t, renderOne(t, r, Options{Format: JUnit, FailOn: c.failOn}))
		s := doc.Suites[0]
		passing := 0
		for _, tc := range s.Cases {
			if tc.Failure == nil && tc.Error == nil && tc.Skipped == nil {
				passing++
			}
		}
		if s.Failures != c.failures || s.Skipped != c.skipped || passing != c.passing {
			t.Errorf("--fail-on %s: failures %d skipped %d passing %d, want %d %d %d", c.failOn, s.Failures, s.Skipped, passing, c.failures, c.skipped, c.passing)
		}
		if c.failOn == report.Fail && (!strings.Contains(s.SystemOut, "WARN smtp.banner.version: Greeting discloses") || !strings.Contains(s.SystemOut, "INFO smtp.size.missing")) {
			t.Errorf("--fail-on fail: findings below it not in system-out:\n%s", s.SystemOut)
		}
		if exit := r.ExitCode(c.failOn); (exit == 0) != (s.Failures == 0) {
			t.Errorf("--fail-on %s: exit %d but %d failures", c.failOn, exit, s.Failures)
		}
	}
}

// Control characters are not allowed in XML 1.0 even as character
// references; a server that sends NUL or BEL must not break the CI report.
func TestJUnit_invalidXMLCharacters(t *testing.T) {
	r := report.NewReport("smtp check", "bad\x00host:25", started)
	r.AddStage(report.Stage{Name: "banner", Status: report.StatusFail, Summary: "220 \x07ding \x1b[31m\xff\xfe"})
	r.Add(report.Finding{Code: "smtp.reply.malformed", Severity: report.Fail, Stage: "banner", Title: "bad", Detail: "NUL \x00 here \uFFFF, CDATA end ]]> inside"})
	r.Transcript = []transcript.Entry{{Seq: 1, Dir: transcript.Server, Line: "raw \x01\x02"}}
	out := renderOne(t, r, Options{Format: JUnit})
	parseJUnit(t, out)
	for _, bad := range []string{"\x00", "\x07", "\x1b", "\x01", "&#x0;", "&#x7;"} {
		if strings.Contains(out, bad) {
			t.Errorf("JUnit contains %q", bad)
		}
	}
}

func TestSARIF_results(t *testing.T) {
	out := renderOne(t, fixture(), Options{Format: SARIF, Version: "1.2.0"})
	formatcheck.SARIF(t, []byte(out))
	var doc struct {
		Schema  string `json:"$schema"`
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name, Version string
					Rules         []struct {
						ID      string `json:"id"`
						HelpURI string `json:"helpUri"`
						Props   struct {
							Tags     []string `json:"tags"`
							Severity string   `json:"security-severity"`
						} `json:"properties"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Invocations []struct {
				ExitCode            int  `json:"exitCode"`
				ExecutionSuccessful bool `json:"executionSuccessful"`
				StartTimeUTC        string
				EndTimeUTC          string
				Notifications       []struct{ Message struct{ Text string } } `json:"toolExecutionNotifications"`
			} `json:"invocations"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string `json:"level"`
				Message   struct{ Text string }
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }
						Region           struct{ StartLine int }
					}
					LogicalLocations []struct{ Name, FullyQualifiedName, Kind string } `json:"logicalLocations"`
				} `json:"locations"`
				PartialFingerprints map[string]string
				Properties          struct {
					Target, Stage string
					Evidence      []report.Evidence
				} `json:"properties"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Version != "2.1.0" || len(doc.Runs) != 1 || doc.Runs[0].Tool.Driver.Name != "mailprobe" || doc.Runs[0].Tool.Driver.Version != "1.2.0" {
		t.Fatalf("bad envelope: %s", out[:200])
	}
	run := doc.Runs[0]
	levels := map[string]int{}
	for _, res := range run.Results {
		levels[res.Level]++
		if run.Tool.Driver.Rules[res.RuleIndex].ID != res.RuleID {
			t.Errorf("%s: ruleIndex %d points at %s", res.RuleID, res.RuleIndex, run.Tool.Driver.Rules[res.RuleIndex].ID)
		}
		loc := res.Locations[0]
		if res.Properties.Target != "mail.example.com:587" || len(loc.LogicalLocations) != 2 ||
			loc.LogicalLocations[0].Name != "mail.example.com:587" || loc.LogicalLocations[1].Name != res.Properties.Stage ||
			loc.LogicalLocations[1].FullyQualifiedName != "mail.example.com:587/"+res.Properties.Stage {
			t.Errorf("%s: logical location/properties %+v", res.RuleID, res)
		}
		if loc.PhysicalLocation.ArtifactLocation.URI != "mailprobe/smtp_check/mail.example.com_587" || loc.PhysicalLocation.Region.StartLine != 1 {
			t.Errorf("%s: physical location %+v", res.RuleID, loc.PhysicalLocation)
		}
	}
	// 9 findings: 3 fail, 2 warn, 1 info, 3 pass (omitted).
	if len(run.Results) != 6 || levels["error"] != 3 || levels["warning"] != 2 || levels["note"] != 1 {
		t.Errorf("results %d, levels %v", len(run.Results), levels)
	}
	if len(run.Tool.Driver.Rules) != 6 {
		t.Errorf("%d rules, want one per code with a result", len(run.Tool.Driver.Rules))
	}
	for _, rule := range run.Tool.Driver.Rules {
		if !strings.HasSuffix(rule.HelpURI, "docs/findings.md#"+rule.ID) {
			t.Errorf("%s: helpUri %s", rule.ID, rule.HelpURI)
		}
		if rule.ID == "smtp.auth.plaintext" && (!slices.Contains(rule.Props.Tags, "security") || rule.Props.Severity != "7.5") {
			t.Errorf("%s: tags %v security-severity %q", rule.ID, rule.Props.Tags, rule.Props.Severity)
		}
	}
	if run.Results[0].Message.Text != "PLAIN or LOGIN offered on an unencrypted connection: "+fixture().Findings[3].Detail {
		t.Errorf("message: %q", run.Results[0].Message.Text)
	}
	// The fixture's rcpt stage could not run: the run is incomplete,
	// exit 3, and the stage is a tool notification.
	inv := run.Invocations[0]
	if inv.ExecutionSuccessful || inv.ExitCode != 3 || len(inv.Notifications) != 1 || !strings.Contains(inv.Notifications[0].Message.Text, "stage rcpt could not run") {
		t.Errorf("invocation %+v", inv)
	}
	if inv.StartTimeUTC != "2026-11-24T10:00:00Z" || inv.EndTimeUTC != "2026-11-24T10:00:05.5234Z" {
		t.Errorf("invocation times %s – %s", inv.StartTimeUTC, inv.EndTimeUTC)
	}
	many := renderAll(t, []*report.Report{fixture(), second()}, Options{Format: SARIF})
	formatcheck.SARIF(t, []byte(many))
	if strings.Count(many, `"ruleId"`) != 7 || strings.Count(many, `"runs"`) != 1 {
		t.Errorf("many: want one run with 7 results")
	}
}

// The fingerprint is the same for the same problem on the same target
// whatever the volatile text says, and differs for another target, stage
// or code.
func TestSARIF_fingerprintStable(t *testing.T) {
	fps := func(r *report.Report) []string {
		out := renderOne(t, r, Options{Format: SARIF})
		var doc struct {
			Runs []struct {
				Results []struct{ PartialFingerprints map[string]string } `json:"results"`
			} `json:"runs"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, res := range doc.Runs[0].Results {
			s = append(s, res.PartialFingerprints[FingerprintKey])
		}
		return s
	}
	a := fixture()
	b := fixture()
	b.StartedAt = b.StartedAt.Add(time.Hour)
	b.Duration = time.Second
	for i := range b.Findings {
		b.Findings[i].Detail += " (took 17 ms this time)"
		b.Findings[i].Evidence = nil
	}
	if x, y := fps(a), fps(b); strings.Join(x, ",") != strings.Join(y, ",") {
		t.Errorf("fingerprints changed with volatile text:\n%v\n%v", x, y)
	}
	c := fixture()
	c.Target = "other.example.com:587"
	for i, fp := range fps(c) {
		if slices.Contains(fps(a), fp) {
			t.Errorf("result %d: another target has the same fingerprint", i)
		}
	}
	// Two findings with one code at one stage stay two results.
	d := report.NewReport("dns", "example.org", started)
	d.Add(report.Finding{Code: "mx.host.bad", Severity: report.Warn, Stage: "mx", Title: "x", Detail: "mx1"},
		report.Finding{Code: "mx.host.bad", Severity: report.Warn, Stage: "mx", Title: "x", Detail: "mx2"})
	out := renderOne(t, d, Options{Format: SARIF})
	formatcheck.SARIF(t, []byte(out))
	if got := fps(d); len(got) != 2 || got[0] == got[1] {
		t.Errorf("duplicate findings: fingerprints %v", got)
	}
}

// A suite check points at its line in the suite file; the invocation
// carries the command line the caller gives (already without secrets).
func TestSARIF_suiteSourceAndInvocation(t *testing.T) {
	r := fixture()
	r.Name = "submission"
	r.Source = &report.Source{File: "./ci/mailprobe.yaml", Line: 7}
	inv := &Invocation{CommandLine: "mailprobe check -f ci/mailprobe.yaml --format sarif", Args: []string{"check", "-f", "ci/mailprobe.yaml"},
		Start: started, End: started.Add(6 * time.Second), ExitCode: 3, ExitCodeKnown: true}
	out := renderAll(t, []*report.Report{r, second()}, Options{Format: SARIF, Invocation: inv})
	formatcheck.SARIF(t, []byte(out))
	for _, want := range []string{`"uri": "ci/mailprobe.yaml"`, `"startLine": 7`, `"commandLine": "mailprobe check -f ci/mailprobe.yaml --format sarif"`,
		`"startTimeUtc": "2026-11-24T10:00:00Z"`, `"endTimeUtc": "2026-11-24T10:00:06Z"`, `"exitCode": 3`, `"id": "mailprobe/check/ci_mailprobe.yaml/"`} {
		if !strings.Contains(out, want) {
			t.Errorf("SARIF lacks %s", want)
		}
	}
}

// --sarif-baseline: a result the previous run had is unchanged (or
// updated when its level or message changed); one it did not is new.
func TestSARIF_baseline(t *testing.T) {
	prev := fixture()
	prev.Findings = slices.DeleteFunc(prev.Findings, func(f report.Finding) bool { return f.Code == "smtp.size.missing" })
	for i := range prev.Findings {
		if prev.Findings[i].Code == "smtp.banner.version" {
			prev.Findings[i].Detail = "an older banner"
		}
	}
	bl, err := ParseBaseline([]byte(renderOne(t, prev, Options{Format: SARIF})))
	if err != nil {
		t.Fatal(err)
	}
	out := renderOne(t, fixture(), Options{Format: SARIF, Baseline: bl})
	formatcheck.SARIF(t, []byte(out))
	var doc struct {
		Runs []struct {
			Results []struct {
				RuleID        string `json:"ruleId"`
				BaselineState string `json:"baselineState"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"smtp.size.missing": "new", "smtp.banner.version": "updated", "smtp.auth.plaintext": "unchanged", "smtp.conn.timeout": "unchanged"}
	for _, res := range doc.Runs[0].Results {
		if w, ok := want[res.RuleID]; ok && res.BaselineState != w {
			t.Errorf("%s: baselineState %q, want %q", res.RuleID, res.BaselineState, w)
		}
	}
	for _, bad := range []string{"", "{}", `{"version":"2.0.0","runs":[]}`, "[1,2"} {
		if _, err := ParseBaseline([]byte(bad)); err == nil {
			t.Errorf("ParseBaseline(%q): no error", bad)
		}
	}
}

// An engine that fails before its first stage still returns a report; every
// format must render it, including a zero Report with nil slices.
func TestRender_emptyReport(t *testing.T) {
	reports := []*report.Report{report.NewReport("dns", "example.org", started), {}}
	for _, r := range reports {
		for _, f := range Formats {
			for _, color := range []bool{false, true} {
				o := Options{Format: f, Color: color, Transcript: true}
				out := renderOne(t, r, o)
				if out == "" {
					t.Errorf("%s: empty output", f)
				}
				renderAll(t, []*report.Report{r}, o)
				renderAll(t, nil, o)
			}
		}
		out := renderOne(t, r, Options{Format: JSON})
		formatcheck.JSON(t, []byte(out))
		if !strings.Contains(out, `"findings": []`) || !strings.Contains(out, `"stages": []`) {
			t.Errorf("empty JSON has null lists:\n%s", out)
		}
		parseJUnit(t, renderOne(t, r, Options{Format: JUnit}))
	}
}

func TestSeqList(t *testing.T) {
	for _, c := range []struct {
		in   []int
		want string
	}{{nil, ""}, {[]int{7}, "#7"}, {[]int{4, 5, 6, 7}, "#4-7"}, {[]int{9, 3, 5, 6}, "#3, #5-6, #9"}, {[]int{2, 2}, "#2"}} {
		if got := seqList(c.in); got != c.want {
			t.Errorf("seqList(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestWrapWords(t *testing.T) {
	for _, c := range []struct {
		in    string
		width int
		want  []string
	}{
		{"short", 10, []string{"short"}},
		{"one two three four", 9, []string{"one two", "three", "four"}},
		{"abcdefghijkl", 5, []string{"abcde", "fghij", "kl"}},
		{"keep  two spaces", 40, []string{"keep  two spaces"}},
		{"a\nb", 10, []string{"a", "b"}},
		{"→→→ §§§", 4, []string{"→→→", "§§§"}},
	} {
		got := wrapWords(c.in, c.width)
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("wrapWords(%q, %d) = %q, want %q", c.in, c.width, got, c.want)
		}
	}
	if got := strings.Join(wrapKeep("abc def", 3), "|"); got != "abc| de|f" {
		t.Errorf("wrapKeep = %q", got)
	}
}

// An interrupted stage is no verdict on the server: JUnit skips it and
// says why; text marks it apart from a skipped stage.
func TestInterruptedStage(t *testing.T) {
	r := report.NewReport("smtp check", "mx.example.com:25", time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC))
	r.AddStage(report.Stage{Name: "connect", Status: report.StatusOK, Summary: "127.0.0.1:25"})
	r.AddStage(report.Stage{Name: "banner", Status: report.StatusInterrupted, Summary: "interrupted (Ctrl-C)"})
	r.Add(report.Interrupted("banner"))
	out := renderOne(t, r, Options{Format: JUnit})
	doc := parseJUnit(t, out)
	if s := doc.Suites[0]; s.Skipped != 1 || s.Errors != 0 || s.Failures != 0 || !strings.Contains(out, `message="interrupted (Ctrl-C)"`) {
		t.Errorf("junit: skipped %d errors %d failures %d\n%s", s.Skipped, s.Errors, s.Failures, out)
	}
	text := renderOne(t, r, Options{Format: Text, Width: 100})
	if !strings.Contains(text, "STOP  banner") || !strings.Contains(text, "RESULT  interrupted during stage banner; 0 fail, 0 warn, 1 info, 0 pass — exit 130") {
		t.Errorf("text:\n%s", text)
	}
	if !r.Interrupted || !r.Incomplete {
		t.Error("an interrupted stage marks the report interrupted and incomplete")
	}
}

// Every server- or user-supplied string the text format prints goes
// through termsafe: ESC/OSC 8/BEL, C1 (U+009B) and bidi overrides are
// shown escaped in the target, stage summaries, finding titles, details
// and evidence, details values and transcript lines. JSON keeps the text
// as it came (issue 15).
func TestText_terminalInjectionEscaped(t *testing.T) {
	const evil = "\x1b]8;;http://x\x07click\x1b]8;;\x07 \u009b31m red \u202eevil"
	r := report.NewReport("smtp check", "mx"+evil, started)
	r.AddStage(report.Stage{Name: "banner", Status: report.StatusOK, Summary: "220 " + evil})
	r.Add(report.Finding{Code: "smtp.banner.ok", Severity: report.Warn, Stage: "banner", Title: "title " + evil, Detail: "detail " + evil,
		Evidence: []report.Evidence{{Kind: "reply", Text: "220 " + evil + "\n220 second " + evil}}})
	r.SetFact("banner", "220 "+evil)
	r.Transcript = []transcript.Entry{{Seq: 1, Dir: transcript.Server, Line: "220 " + evil}}
	for _, color := range []bool{false, true} {
		out := renderOne(t, r, Options{Format: Text, Transcript: true, Color: color, Width: 80})
		for _, bad := range []string{"\x07", "\u009b", "\u202e", "\x1b]"} {
			if strings.Contains(out, bad) {
				t.Errorf("color=%v: text output holds %q:\n%s", color, bad, out)
			}
		}
		if n := strings.Count(out, `\u202e`); n < 6 {
			t.Errorf("color=%v: %d escaped bidi overrides, want one per place:\n%s", color, n, out)
		}
	}
	js := renderOne(t, r, Options{Format: JSON})
	if !strings.Contains(js, "\u009b31m") || !strings.Contains(js, "\u202e") {
		t.Errorf("JSON does not keep the text as sent:\n%s", js)
	}
}

// Text that is not on a terminal (Width 0) is not hard-wrapped: every
// detail, evidence and transcript line is one line, whatever its length.
func TestText_pipedDoesNotWrap(t *testing.T) {
	out := renderOne(t, fixture(), Options{Format: Text, Transcript: true})
	detail := fixture().Findings[3].Detail // 250 characters
	if !strings.Contains(out, detail) {
		t.Errorf("a long detail was wrapped:\n%s", out)
	}
	if !strings.Contains(out, "250 AUTH PLAIN LOGIN CRAM-MD5 DIGEST-MD5 NTLM GSSAPI XOAUTH2 OAUTHBEARER SCRAM-SHA-1 SCRAM-SHA-256 ANONYMOUS EXTERNAL") {
		t.Errorf("a long transcript line was wrapped:\n%s", out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "----") && len(l) > 80 {
			t.Errorf("rule of %d columns", len(l))
		}
	}
}

// A code that passed at several stages (one per port of an audit) names
// its stage; a code that passed once does not.
func TestText_passesNameTheirStageWhenRepeated(t *testing.T) {
	r := report.NewReport("audit", "mail.test.example", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	pass := func(code, stage string) report.Finding {
		return report.Finding{Code: code, Stage: stage, Severity: report.Pass, Title: "ok"}
	}
	r.Add(pass("smtp.starttls.ok", "smtp:25/starttls"), pass("smtp.starttls.ok", "submission:587/starttls"), pass("cert.ok", "smtp:25/certificate"))
	out := renderOne(t, r, Options{Format: Text, Width: 120})
	for _, want := range []string{"smtp.starttls.ok [smtp:25/starttls]", "smtp.starttls.ok [submission:587/starttls]"} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "cert.ok [") {
		t.Errorf("a single pass names its stage:\n%s", out)
	}
}

// mailprobe audit's port stages ("imap:143") hold findings of nested
// stages ("imap:143/capability"): the port's testcase fails with them.
func TestJUnit_nestedStagesFailTheirPort(t *testing.T) {
	r := report.NewReport("audit", "mail.example.com", started)
	r.AddStage(report.Stage{Name: "imap:143", Status: report.StatusFail, Summary: "imap · worst: fail"})
	r.AddStage(report.Stage{Name: "imap:1430", Status: report.StatusOK, Summary: "imap · worst: pass"})
	r.Add(report.Finding{Code: "imap.auth.plaintext", Severity: report.Fail, Stage: "imap:143/capability", Title: "PLAIN before TLS"})
	doc := parseJUnit(t, renderOne(t, r, Options{Format: JUnit, FailOn: report.Fail}))
	for _, tc := range doc.Suites[0].Cases {
		switch tc.Name {
		case "stage imap:143":
			if tc.Failure == nil {
				t.Errorf("port testcase %+v", tc)
			}
		case "stage imap:1430":
			if tc.Failure != nil {
				t.Errorf("a port whose label only starts alike fails: %+v", tc)
			}
		}
	}
}
