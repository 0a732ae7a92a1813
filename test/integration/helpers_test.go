//go:build integration

// Package integration drives the built mailprobe binary against real
// Postfix, Dovecot and NSD started by test/integration/env/env.sh, and
// asserts what users see: exit codes, stdout (JSON, text, JUnit, SARIF)
// and stderr. Run it with `make integration`; see
// test/integration/env/README.md for the environment and these helpers.
//
// The suite fails (it does not skip) when the environment is missing: a
// green run must mean the real servers were exercised.
package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message"
)

// ---------------------------------------------------------------- environment

// Environment is the running environment, read from the MP_IT_* variables
// that env.sh writes to DIR/env (see the README for each one).
type Environment struct {
	Dir        string
	CA         string // PEM of the per-run CA; the only root to trust
	ServerName string // mail.test.local: the name in the server certificate
	Domain     string // test.local
	Host       string // 127.0.0.1: every listener
	ClientAddr string // 127.0.0.2: a second loopback source address

	SMTPPort        int    // Postfix, port-25 role: STARTTLS may, no AUTH
	SubmissionPort  int    // Postfix, 587 role: STARTTLS required, AUTH after TLS
	SubmissionsPort int    // Postfix, 465 role: implicit TLS, AUTH
	IMAPPort        int    // Dovecot IMAP with STARTTLS
	IMAPSPort       int    // Dovecot IMAPS
	POP3Port        int    // Dovecot POP3 with STLS
	POP3SPort       int    // Dovecot POP3S
	SievePort       int    // Dovecot ManageSieve (RFC 5804), STARTTLS
	DNS             string // NSD, "127.0.0.1:PORT", authoritative for test.local

	User1, Pass1, User2, Pass2 string
	Maildir1, Maildir2         string

	DKIMSelector, DKIMKey, DKIMPub string
	ServerCert, TLSA               string

	PostfixLog, DovecotLog, NSDLog string
}

// E is the environment of this run; set by TestMain before any test runs.
var E Environment

// Bin is the mailprobe binary under test (MAILPROBE_BIN, or built by TestMain).
var Bin string

// loadEnvironment reads the MP_IT_* variables; missing lists the absent ones.
func loadEnvironment() (env Environment, missing []string) {
	str := func(name string, dst *string) {
		v, ok := os.LookupEnv(name)
		if !ok || v == "" {
			missing = append(missing, name)
		}
		*dst = v
	}
	port := func(name string, dst *int) {
		var s string
		str(name, &s)
		if s == "" {
			return
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n > 65535 {
			missing = append(missing, name+" (not a port: "+s+")")
		}
		*dst = n
	}
	str("MP_IT_DIR", &env.Dir)
	str("MP_IT_CA", &env.CA)
	str("MP_IT_SERVERNAME", &env.ServerName)
	str("MP_IT_DOMAIN", &env.Domain)
	str("MP_IT_HOST", &env.Host)
	str("MP_IT_CLIENT_ADDR", &env.ClientAddr)
	port("MP_IT_SMTP_PORT", &env.SMTPPort)
	port("MP_IT_SUBMISSION_PORT", &env.SubmissionPort)
	port("MP_IT_SUBMISSIONS_PORT", &env.SubmissionsPort)
	port("MP_IT_IMAP_PORT", &env.IMAPPort)
	port("MP_IT_IMAPS_PORT", &env.IMAPSPort)
	port("MP_IT_POP3_PORT", &env.POP3Port)
	port("MP_IT_POP3S_PORT", &env.POP3SPort)
	port("MP_IT_SIEVE_PORT", &env.SievePort)
	str("MP_IT_DNS", &env.DNS)
	str("MP_IT_USER1", &env.User1)
	str("MP_IT_PASS1", &env.Pass1)
	str("MP_IT_USER2", &env.User2)
	str("MP_IT_PASS2", &env.Pass2)
	str("MP_IT_MAILDIR1", &env.Maildir1)
	str("MP_IT_MAILDIR2", &env.Maildir2)
	str("MP_IT_DKIM_SELECTOR", &env.DKIMSelector)
	str("MP_IT_DKIM_KEY", &env.DKIMKey)
	str("MP_IT_DKIM_PUB", &env.DKIMPub)
	str("MP_IT_SERVER_CERT", &env.ServerCert)
	str("MP_IT_TLSA", &env.TLSA)
	str("MP_IT_POSTFIX_LOG", &env.PostfixLog)
	str("MP_IT_DOVECOT_LOG", &env.DovecotLog)
	str("MP_IT_NSD_LOG", &env.NSDLog)
	return env, missing
}

// Addr is "127.0.0.1:PORT".
func (e Environment) Addr(port int) string { return net.JoinHostPort(e.Host, strconv.Itoa(port)) }

// TLSArgs are the flags that make mailprobe verify the servers' certificate
// against this run's CA under the name it was issued for.
func (e Environment) TLSArgs() []string {
	return []string{"--ca-file", e.CA, "--servername", e.ServerName}
}

// RootCAs is a pool holding only this run's CA.
func (e Environment) RootCAs(t testing.TB) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(e.CA)
	if err != nil {
		t.Fatalf("reading MP_IT_CA: %v", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		t.Fatalf("MP_IT_CA %s holds no PEM certificate", e.CA)
	}
	return p
}

// TLSConfig verifies like a careful client: this run's CA, mail.test.local.
func (e Environment) TLSConfig(t testing.TB) *tls.Config {
	return &tls.Config{RootCAs: e.RootCAs(t), ServerName: e.ServerName, MinVersion: tls.VersionTLS12}
}

// ---------------------------------------------------------------- TestMain

var keepBin = flag.Bool("keep-bin", false, "keep the mailprobe binary TestMain built")

func TestMain(m *testing.M) {
	flag.Parse()
	// Parallel tests here wait on servers (Dovecot delays every failed
	// login by 2 s), not on the CPU: allow more of them than -parallel's
	// default of GOMAXPROCS unless -parallel was given.
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if p := flag.Lookup("test.parallel"); p != nil && !parallelSet {
		_ = p.Value.Set("8")
	}
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	env, missing := loadEnvironment()
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, `integration: the real-server environment is not running (missing: %s).

This suite drives mailprobe against real Postfix, Dovecot and NSD and does
not skip without them. Run it with:

    make integration

which installs the servers (as root, from Debian's packages), starts them on
loopback and runs the suite; or by hand:

    test/integration/env/env.sh run -- go test -tags integration -count=1 ./test/integration/...

See test/integration/env/README.md.
`, strings.Join(missing, ", "))
		return 1
	}
	E = env
	if b := os.Getenv("MAILPROBE_BIN"); b != "" {
		abs, err := filepath.Abs(b)
		if err == nil {
			b = abs
		}
		if _, err := os.Stat(b); err != nil {
			fmt.Fprintf(os.Stderr, "integration: MAILPROBE_BIN: %v\n", err)
			return 1
		}
		Bin = b
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "mp-it-bin")
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: %v\n", err)
		return 1
	}
	if !*keepBin {
		defer os.RemoveAll(dir)
	}
	Bin = filepath.Join(dir, "mailprobe")
	start := time.Now()
	build := exec.Command("go", "build", "-o", Bin, "./cmd/mailprobe")
	build.Dir = moduleRoot()
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "integration: go build ./cmd/mailprobe failed: %v\n%s", err, out)
		return 1
	}
	fmt.Fprintf(os.Stderr, "integration: built %s in %s\n", Bin, time.Since(start).Round(time.Millisecond))
	return m.Run()
}

// moduleRoot is the directory holding go.mod: two levels above this package.
func moduleRoot() string {
	wd, _ := os.Getwd()
	for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	return filepath.Join(wd, "..", "..")
}

// ---------------------------------------------------------------- running the binary

// Result is one run of the binary.
type Result struct {
	Args     []string
	Code     int // exit code; -1 when killed by the timeout
	Stdout   string
	Stderr   string
	Duration time.Duration
}

// RunOptions adjust a run. The zero value is a plain run.
type RunOptions struct {
	Env     []string      // extra KEY=VALUE, added to this process's environment
	Stdin   string        // stdin contents (never a terminal)
	Timeout time.Duration // default 60s
}

// Run runs mailprobe with args and returns what it did. It never fails the
// test by itself; assert with the Result methods. NO_COLOR is set so that
// text output is plain, as it is when piped.
func Run(t testing.TB, args ...string) *Result {
	t.Helper()
	return RunWith(t, RunOptions{}, args...)
}

// RunWith is Run with options.
func RunWith(t testing.TB, o RunOptions, args ...string) *Result {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, Bin, args...)
	cmd.Env = append(append(os.Environ(), "NO_COLOR=1", "TERM=dumb"), o.Env...)
	cmd.Stdin = strings.NewReader(o.Stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := &Result{Args: args, Stdout: stdout.String(), Stderr: stderr.String(), Duration: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		r.Code = -1
		t.Errorf("mailprobe %s: killed after %s", ShellJoin(args), o.Timeout)
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	default:
		t.Fatalf("running mailprobe: %v", err)
	}
	t.Logf("mailprobe %s → exit %d in %s", ShellJoin(args), r.Code, r.Duration.Round(time.Millisecond))
	return r
}

// String shows the run for failure messages.
func (r *Result) String() string {
	return fmt.Sprintf("mailprobe %s\nexit %d\n--- stdout\n%s\n--- stderr\n%s", ShellJoin(r.Args), r.Code, r.Stdout, r.Stderr)
}

// ShellJoin quotes args so that a logged command can be pasted into a shell
// (after sourcing the run directory's env file).
func ShellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,:/@=+") == "" {
			out[i] = a
		} else {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}

// WantExit fails the test (fatally) unless the exit code is want.
func (r *Result) WantExit(t testing.TB, want int) *Result {
	t.Helper()
	if r.Code != want {
		t.Fatalf("exit code %d, want %d\n%s", r.Code, want, r)
	}
	return r
}

// JSON parses stdout as one report (--format json).
func (r *Result) JSON(t testing.TB) *Report {
	t.Helper()
	var rep Report
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("stdout is not a JSON report: %v\n%s", err, r)
	}
	if rep.SchemaVersion != 1 {
		t.Errorf("schema_version = %d, want 1", rep.SchemaVersion)
	}
	if rep.Tool != "mailprobe" {
		t.Errorf("tool = %q, want mailprobe", rep.Tool)
	}
	return &rep
}

// ---------------------------------------------------------------- the JSON report

// Report mirrors the JSON document (schema_version 1) as a consumer reads
// it; declared here rather than imported from pkg/report so that the suite
// checks the wire format, not the Go types.
type Report struct {
	SchemaVersion int               `json:"schema_version"`
	Tool          string            `json:"tool"`
	Version       string            `json:"version"`
	Command       string            `json:"command"`
	Target        string            `json:"target"`
	StartedAt     time.Time         `json:"started_at"`
	DurationMS    float64           `json:"duration_ms"`
	Stages        []Stage           `json:"stages"`
	Findings      []Finding         `json:"findings"`
	Transcript    []TranscriptEntry `json:"transcript"`
	Facts         map[string]any    `json:"facts"`
	Incomplete    bool              `json:"incomplete"`
}

type Stage struct {
	Name       string  `json:"name"`
	Status     string  `json:"status"` // ok, fail, error, skipped, info
	Summary    string  `json:"summary"`
	Seq        []int   `json:"seq"`
	StartMS    float64 `json:"start_ms"`
	DurationMS float64 `json:"duration_ms"`
}

type Finding struct {
	Code     string     `json:"code"`
	Severity string     `json:"severity"` // pass, info, warn, fail
	Stage    string     `json:"stage"`
	Title    string     `json:"title"`
	Detail   string     `json:"detail"`
	Evidence []Evidence `json:"evidence"`
	Fix      string     `json:"fix"`
	Refs     []string   `json:"refs"`
}

type Evidence struct {
	Kind string `json:"kind"`
	Text string `json:"text"`
	Seq  []int  `json:"seq"`
}

type TranscriptEntry struct {
	Seq      int     `json:"seq"`
	TMS      float64 `json:"t_ms"`
	Dir      string  `json:"dir"` // C, S or *
	Line     string  `json:"line"`
	EOL      string  `json:"eol"`
	TLS      bool    `json:"tls"`
	Redacted bool    `json:"redacted"`
}

// Stage returns the named stage, failing the test when it is absent.
func (r *Report) Stage(t testing.TB, name string) Stage {
	t.Helper()
	for _, s := range r.Stages {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no stage %q; stages: %s", name, r.StageList())
	return Stage{}
}

// StageList is "name=status ..." for messages.
func (r *Report) StageList() string {
	var b strings.Builder
	for _, s := range r.Stages {
		fmt.Fprintf(&b, "%s=%s ", s.Name, s.Status)
	}
	return strings.TrimSpace(b.String())
}

// WantStage asserts a stage's status.
func (r *Report) WantStage(t testing.TB, name, status string) Stage {
	t.Helper()
	s := r.Stage(t, name)
	if s.Status != status {
		t.Errorf("stage %s: status %q (%s), want %q", name, s.Status, s.Summary, status)
	}
	return s
}

// Finding returns the first finding with code, or nil.
func (r *Report) Finding(code string) *Finding {
	for i := range r.Findings {
		if r.Findings[i].Code == code {
			return &r.Findings[i]
		}
	}
	return nil
}

// Codes lists the finding codes in report order.
func (r *Report) Codes() []string {
	out := make([]string, len(r.Findings))
	for i, f := range r.Findings {
		out[i] = f.Code
	}
	return out
}

// WantFinding asserts a finding with code and severity exists and returns it.
func (r *Report) WantFinding(t testing.TB, code, severity string) *Finding {
	t.Helper()
	f := r.Finding(code)
	if f == nil {
		t.Fatalf("no finding %s; findings: %v", code, r.Codes())
	}
	if f.Severity != severity {
		t.Errorf("finding %s: severity %q, want %q (%s)", code, f.Severity, severity, f.Detail)
	}
	return f
}

// WantNoFinding asserts no finding has code.
func (r *Report) WantNoFinding(t testing.TB, code string) {
	t.Helper()
	if f := r.Finding(code); f != nil {
		t.Errorf("unexpected finding %s: %s", code, f.Detail)
	}
}

// WantNoSeverity asserts no finding is at severity (e.g. "fail").
func (r *Report) WantNoSeverity(t testing.TB, severity string) {
	t.Helper()
	for _, f := range r.Findings {
		if f.Severity == severity {
			t.Errorf("unexpected %s finding %s: %s", severity, f.Code, f.Detail)
		}
	}
}

// Fact returns facts[path[0]][path[1]]..., or nil.
func (r *Report) Fact(path ...string) any {
	var v any = r.Facts
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// FactStrings returns a fact that is a list of strings (nil when absent).
func (r *Report) FactStrings(path ...string) []string {
	l, _ := r.Fact(path...).([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// ServerLines returns the transcript lines the server sent.
func (r *Report) ServerLines() []string {
	var out []string
	for _, e := range r.Transcript {
		if e.Dir == "S" {
			out = append(out, e.Line)
		}
	}
	return out
}

// ---------------------------------------------------------------- assertions on text

// WantContains asserts s contains every want. Runs of white space count as
// one space on both sides, so that text output wrapped to the terminal
// width still matches a one-line expectation.
func WantContains(t testing.TB, what, s string, want ...string) {
	t.Helper()
	flat := Flatten(s)
	for _, w := range want {
		if !strings.Contains(flat, Flatten(w)) {
			t.Errorf("%s does not contain %q:\n%s", what, w, s)
		}
	}
}

// Flatten collapses every run of white space to one space.
func Flatten(s string) string { return strings.Join(strings.Fields(s), " ") }

// WantSameSet asserts two string sets are equal (order and case ignored).
func WantSameSet(t testing.TB, what string, got, want []string) {
	t.Helper()
	norm := func(l []string) []string {
		out := make([]string, 0, len(l))
		for _, s := range l {
			out = append(out, strings.ToUpper(strings.TrimSpace(s)))
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	g, w := norm(got), norm(want)
	if !slices.Equal(g, w) {
		t.Errorf("%s: got %v, want %v", what, g, w)
	}
}

// ---------------------------------------------------------------- small helpers

// contains reports whether list holds s, ignoring case.
func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// transcriptHas reports whether a transcript line from dir starts with prefix.
func transcriptHas(rep *Report, dir, prefix string) bool {
	for _, e := range rep.Transcript {
		if e.Dir == dir && strings.HasPrefix(e.Line, prefix) {
			return true
		}
	}
	return false
}

// writeFile writes a file in the test's temp dir and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := t.TempDir() + "/" + name
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// ---------------------------------------------------------------- mailboxes

// Message is a message found in a mailbox.
type Message struct {
	UID     imap.UID
	Mailbox string
	Raw     []byte
}

// Header returns the first value of a header field in the raw message,
// unfolded (continuation lines joined with a space).
func (m *Message) Header(name string) string {
	head, _, _ := bytes.Cut(m.Raw, []byte("\r\n\r\n"))
	prefix := strings.ToLower(name) + ":"
	lines := strings.Split(string(head), "\r\n")
	for i, line := range lines {
		if !strings.HasPrefix(strings.ToLower(line), prefix) {
			continue
		}
		v := strings.TrimSpace(line[len(prefix):])
		for _, cont := range lines[i+1:] {
			if cont == "" || (cont[0] != ' ' && cont[0] != '\t') {
				break
			}
			v += " " + strings.TrimSpace(cont)
		}
		return v
	}
	return ""
}

// Text returns every text/* part of the message, transfer-decoded
// (quoted-printable and base64 undone), joined by newlines: what a reader
// of the message sees, for comparing links and tokens.
func (m *Message) Text(t testing.TB) string {
	t.Helper()
	ent, err := message.Read(bytes.NewReader(m.Raw))
	if err != nil && !message.IsUnknownCharset(err) {
		t.Fatalf("parsing the delivered message: %v", err)
	}
	var out strings.Builder
	err = ent.Walk(func(_ []int, part *message.Entity, err error) error {
		if err != nil {
			return err
		}
		mt, _, _ := part.Header.ContentType()
		if !strings.HasPrefix(mt, "text/") {
			return nil
		}
		b, err := io.ReadAll(part.Body)
		if err != nil {
			return err
		}
		out.Write(b)
		out.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatalf("reading the delivered message: %v", err)
	}
	return out.String()
}

// DialIMAP logs in to Dovecot over IMAPS, verifying the certificate like a
// careful client, and closes the session when the test ends.
func DialIMAP(t testing.TB, user, pass string) *imapclient.Client {
	t.Helper()
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", E.Addr(E.IMAPSPort), E.TLSConfig(t))
	if err != nil {
		t.Fatalf("IMAPS %s: %v", E.Addr(E.IMAPSPort), err)
	}
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	c := imapclient.New(conn, nil)
	t.Cleanup(func() {
		_ = c.Logout().Wait()
		_ = c.Close()
	})
	if err := c.WaitGreeting(); err != nil {
		t.Fatalf("IMAP greeting: %v", err)
	}
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatalf("IMAP LOGIN %s: %v", user, err)
	}
	return c
}

// FindMessages returns the INBOX messages whose header field name contains
// value, with their full raw text.
func FindMessages(t testing.TB, c *imapclient.Client, name, value string) []Message {
	t.Helper()
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatalf("IMAP SELECT INBOX: %v", err)
	}
	sd, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: name, Value: value}}}, nil).Wait()
	if err != nil {
		t.Fatalf("IMAP UID SEARCH HEADER %s %q: %v", name, value, err)
	}
	uids := sd.AllUIDs()
	if len(uids) == 0 {
		return nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		t.Fatalf("IMAP UID FETCH: %v", err)
	}
	out := make([]Message, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, Message{UID: m.UID, Mailbox: "INBOX", Raw: m.FindBodySection(section)})
	}
	return out
}

// WaitForMessage polls user's INBOX until a message whose header field
// name contains value arrives, or fails after timeout. Delivery through
// Postfix and LMTP takes well under a second here.
func WaitForMessage(t testing.TB, user, pass, name, value string, timeout time.Duration) Message {
	t.Helper()
	c := DialIMAP(t, user, pass)
	deadline := time.Now().Add(timeout)
	for {
		// UNSELECT-free re-select: a fresh SELECT sees new mail.
		if msgs := FindMessages(t, c, name, value); len(msgs) > 0 {
			if len(msgs) > 1 {
				t.Errorf("%d messages with %s: %s in %s's INBOX, want 1", len(msgs), name, value, user)
			}
			return msgs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message with %s: %s in %s's INBOX after %s; Postfix log:\n%s", name, value, user, timeout, tail(E.PostfixLog, 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Unique returns a token unique to this test run, for headers and subjects.
func Unique(t testing.TB) string {
	return fmt.Sprintf("%s-%d", strings.NewReplacer("/", "-", " ", "_").Replace(t.Name()), time.Now().UnixNano())
}

// tail returns the last n lines of a log file, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ---------------------------------------------------------------- swaks

// Swaks runs swaks (the reference SMTP client, installed by env.sh) and
// returns its transcript (stdout and stderr) and exit code.
func Swaks(t testing.TB, args ...string) (out string, code int) {
	t.Helper()
	path, err := exec.LookPath("swaks")
	if err != nil {
		t.Fatalf("swaks is not installed (env.sh install installs it): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("running swaks: %v", err)
	}
	t.Logf("swaks %s → exit %d", ShellJoin(args), code)
	return string(b), code
}

// SwaksSession is what swaks saw, parsed from its transcript: lines
// received before TLS start with "<-", inside TLS with "<~"; "<**" and
// "<~*" mark replies swaks considered errors.
type SwaksSession struct {
	Banner     string
	EHLO       []string // EHLO keywords before TLS (the first EHLO)
	EHLOTLS    []string // EHLO keywords inside TLS (after STARTTLS or on 465)
	AuthMechs  []string // AUTH mechanisms from the last EHLO
	Replies    []string // every server reply line, without the marker
	TLSStarted bool
	TLSOnStart bool // first EHLO already inside TLS (tls-on-connect)
	ErrorLines []string
}

// ParseSwaks reads swaks's transcript.
func ParseSwaks(out string) SwaksSession {
	var s SwaksSession
	ehloCount := 0
	var cur *[]string
	first := false // the next 250 line is the first of an EHLO reply
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.HasPrefix(line, "=== TLS started") {
			s.TLSStarted = true
			continue
		}
		if strings.HasPrefix(line, " -> EHLO") || strings.HasPrefix(line, " ~> EHLO") {
			ehloCount++
			inTLS := strings.HasPrefix(line, " ~>")
			if ehloCount == 1 && inTLS {
				s.TLSOnStart = true
			}
			first = true
			if inTLS {
				s.EHLOTLS = nil
				cur = &s.EHLOTLS
			} else {
				s.EHLO = nil
				cur = &s.EHLO
			}
			continue
		}
		if strings.HasPrefix(line, " ->") || strings.HasPrefix(line, " ~>") {
			cur = nil
			continue
		}
		var text string
		isErr := false
		switch {
		case strings.HasPrefix(line, "<** "), strings.HasPrefix(line, "<~* "):
			text, isErr = line[4:], true
		case strings.HasPrefix(line, "<-  "), strings.HasPrefix(line, "<~  "):
			text = line[4:]
		default:
			continue
		}
		s.Replies = append(s.Replies, text)
		if isErr {
			s.ErrorLines = append(s.ErrorLines, text)
		}
		if s.Banner == "" && strings.HasPrefix(text, "220") {
			s.Banner = text
			continue
		}
		if cur != nil && len(text) > 4 && strings.HasPrefix(text, "250") {
			if first {
				// The first line of an EHLO reply is the server's name.
				first = false
				continue
			}
			kw := strings.Fields(text[4:])
			if len(kw) > 0 {
				*cur = append(*cur, strings.ToUpper(kw[0]))
				if strings.EqualFold(kw[0], "AUTH") {
					s.AuthMechs = kw[1:]
				}
			}
		}
	}
	return s
}
