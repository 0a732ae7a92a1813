//go:build integration

package integration

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// `mailprobe capture` as the sink an app in development sends to: started
// on free loopback ports, fed by swaks (the reference SMTP client) with
// STARTTLS verified against the --ca-out CA and AUTH, its JSON lines
// checked, and the message read back over its IMAP port with go-imap.

// captureMsg mirrors one --format json line as a consumer reads it.
type captureMsg struct {
	Seq      int       `json:"seq"`
	ID       string    `json:"id"`
	Received time.Time `json:"received"`
	Remote   string    `json:"remote"`
	Helo     string    `json:"helo"`
	TLS      bool      `json:"tls"`
	AuthUser string    `json:"auth_user"`
	MailFrom string    `json:"mail_from"`
	Rcpt     []string  `json:"rcpt"`
	Size     int       `json:"size"`
	Auth     struct {
		SPF   string `json:"spf"`
		DMARC string `json:"dmarc"`
		DKIM  []struct {
			Domain, Result string
		} `json:"dkim"`
	} `json:"auth"`
	Analysis struct {
		Subject      string   `json:"subject"`
		From         string   `json:"from"`
		HasText      bool     `json:"has_text"`
		HasHTML      bool     `json:"has_html"`
		Links        []string `json:"links"`
		ResetLink    string   `json:"reset_link"`
		Token        string   `json:"token"`
		TokenBits    float64  `json:"token_bits"`
		Code         string   `json:"code"`
		ExpiryStated bool     `json:"expiry_stated"`
		Password     bool     `json:"password_in_body"`
	} `json:"analysis"`
	Findings    []Finding `json:"findings"`
	DeliveredTo []string  `json:"delivered_to"`
}

func (m *captureMsg) finding(code string) *Finding {
	for i := range m.Findings {
		if m.Findings[i].Code == code {
			return &m.Findings[i]
		}
	}
	return nil
}

// captureProc is a running `mailprobe capture`.
type captureProc struct {
	cmd       *exec.Cmd
	smtp      string // SMTP address it listens on
	imap      string // IMAP address
	web       string // http://ADDR of --http, when given
	ca        string // --ca-out file
	lines     chan string
	exited    chan struct{}
	exitCode  int
	mu        sync.Mutex
	stderr    strings.Builder
	stdoutAll strings.Builder
}

var (
	captureAddrRe = regexp.MustCompile(`SMTP on (\S+) \(.*\), IMAP on (\S+) \(`)
	captureWebRe  = regexp.MustCompile(`web view (http://\S+)/ and API`)
)

// startCapture runs `mailprobe capture` on random free loopback ports
// (port 0, read back from its first stderr line), with --ca-out, --format json
// and --no-dns (the app's domain is not ours to look up), plus extra.
// It is stopped with SIGINT (as Ctrl-C) at the end of the test if it is
// still running.
func startCapture(t *testing.T, extra ...string) *captureProc {
	t.Helper()
	dir := t.TempDir()
	p := &captureProc{ca: filepath.Join(dir, "capture-ca.pem"), lines: make(chan string, 16), exited: make(chan struct{})}
	args := append([]string{"capture", "--smtp", "127.0.0.1:0", "--imap", "127.0.0.1:0", "--format", "json", "--no-dns", "--ca-out", p.ca}, extra...)
	p.cmd = exec.Command(Bin, args...)
	p.cmd.Env = append(os.Environ(), "NO_COLOR=1", "TERM=dumb")
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting mailprobe capture: %v", err)
	}
	t.Logf("mailprobe %s (pid %d)", ShellJoin(args), p.cmd.Process.Pid)
	ready := make(chan [2]string, 1)
	webReady := make(chan string, 1)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if m := captureAddrRe.FindStringSubmatch(sc.Text()); m != nil {
				ready <- [2]string{m[1], m[2]}
			}
			if m := captureWebRe.FindStringSubmatch(sc.Text()); m != nil {
				webReady <- m[1]
			}
		}
	}()
	go func() {
		defer wg.Done()
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.stdoutAll.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			p.lines <- sc.Text()
		}
	}()
	go func() {
		wg.Wait() // pipes drained before Wait, as os/exec requires
		err := p.cmd.Wait()
		p.exitCode = 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.exitCode = ee.ExitCode()
		} else if err != nil {
			p.exitCode = -1
		}
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	select {
	case a := <-ready:
		p.smtp, p.imap = a[0], a[1]
	case <-p.exited:
		t.Fatalf("mailprobe capture exited (%d) before listening:\n%s", p.exitCode, p.Stderr())
	case <-time.After(10 * time.Second):
		t.Fatalf("mailprobe capture did not say where it listens within 10s:\n%s", p.Stderr())
	}
	if _, err := os.Stat(p.ca); err != nil {
		t.Fatalf("--ca-out: %v (stderr: %s)", err, p.Stderr())
	}
	for _, a := range extra {
		if a != "--http" {
			continue
		}
		select {
		case p.web = <-webReady:
		case <-p.exited:
			t.Fatalf("mailprobe capture exited (%d) before serving HTTP:\n%s", p.exitCode, p.Stderr())
		case <-time.After(10 * time.Second):
			t.Fatalf("mailprobe capture did not say where it serves HTTP within 10s:\n%s", p.Stderr())
		}
	}
	return p
}

func (p *captureProc) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// next returns the next JSON line, failing after timeout.
func (p *captureProc) next(t *testing.T, timeout time.Duration) captureMsg {
	t.Helper()
	select {
	case line, ok := <-p.lines:
		if !ok {
			t.Fatalf("capture closed stdout without a JSON line; stderr:\n%s", p.Stderr())
		}
		var m captureMsg
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("capture stdout line is not JSON: %v\n%s", err, line)
		}
		return m
	case <-time.After(timeout):
		t.Fatalf("no JSON line from capture within %s; stderr:\n%s", timeout, p.Stderr())
	}
	return captureMsg{}
}

// wait waits for the process to exit by itself and returns its exit code.
func (p *captureProc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.exitCode
	case <-time.After(timeout):
		t.Fatalf("capture still running after %s; stderr:\n%s", timeout, p.Stderr())
	}
	return -1
}

// stop interrupts the process (Ctrl-C) and returns its exit code.
func (p *captureProc) stop(t *testing.T) int {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	return p.wait(t, 10*time.Second)
}

// swaksToCapture sends msgFile with swaks: STARTTLS required and the
// certificate verified against the capture's CA, AUTH PLAIN.
func swaksToCapture(t *testing.T, p *captureProc, from, to, helo, msgFile string) (string, int) {
	t.Helper()
	return Swaks(t, "--server", p.smtp, "--helo", helo, "--from", from, "--to", to,
		"--tls", "--tls-verify", "--tls-ca-path", p.ca, "--tls-sni", "localhost",
		"--auth", "PLAIN", "--auth-user", "app@app.example", "--auth-password", "dev-password",
		"--data", "@"+msgFile, "--timeout", "20")
}

// resetEmail is a password-reset email as an app sends it (LF line ends:
// swaks sends them as CRLF).
func resetEmail(tag, link, body string) string {
	return `From: App <noreply@app.example>
To: <user@example.com>
Subject: Reset your password
Date: Thu, 26 Nov 2026 00:00:00 +0000
Message-ID: <` + tag + `@app.example>
X-Mailprobe-Test: ` + tag + `
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

` + body + `
`
}

var queuedAsRe = regexp.MustCompile(`250 2\.0\.0 OK: queued as (\S+)`)

// wantResetAnalysis checks the JSON line of the reset email resetEmail
// built with link.
func wantResetAnalysis(t *testing.T, m captureMsg, link, token string) {
	t.Helper()
	a := m.Analysis
	if a.Subject != "Reset your password" || a.From != "noreply@app.example" {
		t.Errorf("analysis subject %q from %q", a.Subject, a.From)
	}
	if a.ResetLink != link || a.Token != token {
		t.Errorf("analysis reset_link %q token %q, want %q and %q", a.ResetLink, a.Token, link, token)
	}
	if a.TokenBits < 100 || !a.ExpiryStated || !a.HasText || a.HasHTML || a.Code != "" {
		t.Errorf("analysis token_bits %.0f expiry_stated %v has_text %v has_html %v code %q", a.TokenBits, a.ExpiryStated, a.HasText, a.HasHTML, a.Code)
	}
	for _, code := range []string{"reset.link.https", "reset.token.strong"} {
		if f := m.finding(code); f == nil || f.Severity != "pass" {
			t.Errorf("finding %s: %+v, want pass", code, f)
		}
	}
	if f := m.finding("reset.dkim.unsigned"); f == nil || f.Severity != "info" {
		t.Errorf("finding reset.dkim.unsigned: %+v, want info (the message is not signed)", f)
	}
	if a.Password {
		t.Errorf("analysis password_in_body = true: the email gives no password")
	}
	for _, f := range m.Findings {
		if f.Severity == "fail" || f.Severity == "warn" {
			t.Errorf("unexpected %s finding %s: %s", f.Severity, f.Code, f.Detail)
		}
	}
	if len(m.Auth.DKIM) != 0 || m.Auth.SPF != "none" || m.Auth.DMARC != "none" {
		t.Errorf("auth %+v: want no DKIM, spf=none (loopback), dmarc=none (--no-dns)", m.Auth)
	}
}

// wantEnvelope checks the JSON line's envelope: TLS, the AUTH user, the
// addresses swaks used.
func wantEnvelope(t *testing.T, m captureMsg, helo string) {
	t.Helper()
	if m.Seq != 1 || m.ID == "" || m.Size == 0 {
		t.Errorf("seq %d id %q size %d", m.Seq, m.ID, m.Size)
	}
	if !m.TLS {
		t.Errorf("tls = false: swaks used STARTTLS")
	}
	if m.AuthUser != "app@app.example" {
		t.Errorf("auth_user = %q, want app@app.example", m.AuthUser)
	}
	if m.Helo != helo || m.MailFrom != "noreply@app.example" || len(m.Rcpt) != 1 || m.Rcpt[0] != "user@example.com" {
		t.Errorf("helo %q mail_from %q rcpt %v", m.Helo, m.MailFrom, m.Rcpt)
	}
	if !strings.HasPrefix(m.Remote, "127.0.0.1:") || time.Since(m.Received) > time.Minute {
		t.Errorf("remote %q received %s", m.Remote, m.Received)
	}
}

// --count 1: one message, then capture exits 0 by itself. swaks must see
// its message accepted (250 with the id of the JSON line) and its QUIT
// answered, as an app's SMTP library would.
func TestCapture_countOneJSON(t *testing.T) {
	t.Parallel()
	p := startCapture(t, "--count", "1")
	token := "Zx8kP2mQ7vR4tY9wB3nL6hJ1cD5fG0sA"
	link := "https://app.example/reset?token=" + token
	msg := writeFile(t, "reset.eml", resetEmail(Unique(t), link,
		"Hello,\n\nWe received a request to reset the password of your account.\nOpen "+link+" to choose a new one.\nThe link expires in 30 minutes."))
	helo := "app.mailprobe.invalid"
	out, code := swaksToCapture(t, p, "noreply@app.example", "user@example.com", helo, msg)
	sw := ParseSwaks(out)

	m := p.next(t, 10*time.Second)
	wantEnvelope(t, m, helo)
	wantResetAnalysis(t, m, link, token)
	if len(m.DeliveredTo) != 1 || m.DeliveredTo[0] != "user@example.com" {
		t.Errorf("delivered_to %v", m.DeliveredTo)
	}

	if got := p.wait(t, 10*time.Second); got != 0 {
		t.Errorf("capture exit %d, want 0; stderr:\n%s", got, p.Stderr())
	}
	WantContains(t, "capture stderr", p.Stderr(), "mailprobe capture: stopped, 1 message captured")
	p.mu.Lock()
	if n := strings.Count(p.stdoutAll.String(), "\n"); n != 1 {
		t.Errorf("%d lines on stdout, want one JSON line", n)
	}
	p.mu.Unlock()

	// What the sending app sees.
	if !sw.TLSStarted {
		t.Errorf("swaks did not start TLS:\n%s", out)
	}
	if id := queuedAsRe.FindStringSubmatch(out); id == nil {
		t.Errorf("swaks never got \"250 2.0.0 OK: queued as\" for its message:\n%s", out)
	} else if id[1] != m.ID {
		t.Errorf("250 names %s, the JSON line %s", id[1], m.ID)
	}
	if !slicesHasPrefix(sw.Replies, "221 ") {
		t.Errorf("swaks's QUIT was not answered:\n%s", out)
	}
	if code != 0 {
		t.Errorf("swaks exit %d, want 0 (the message was accepted):\n%s", code, out)
	}
}

func slicesHasPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// The captured message is in the IMAP mailbox, with the Received and
// Authentication-Results headers the sink adds, and the link intact.
func TestCapture_readBackOverIMAP(t *testing.T) {
	t.Parallel()
	p := startCapture(t)
	tag := Unique(t)
	token := "Qm4nB7vC2xZ9lK3jH6gF1dS8aP5oI0uY"
	link := "https://app.example/reset?token=" + token
	msg := writeFile(t, "reset.eml", resetEmail(tag, link,
		"Hello,\n\nOpen "+link+" to choose a new password.\nThe link expires in 30 minutes."))
	helo := "app.mailprobe.invalid"
	out, code := swaksToCapture(t, p, "noreply@app.example", "user@example.com", helo, msg)
	if code != 0 {
		t.Errorf("swaks exit %d:\n%s", code, out)
	}
	m := p.next(t, 10*time.Second)
	wantEnvelope(t, m, helo)
	wantResetAnalysis(t, m, link, token)

	// go-imap, STARTTLS verified against the capture's CA, any login.
	b, err := os.ReadFile(p.ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("--ca-out %s holds no certificate", p.ca)
	}
	c, err := imapclient.DialStartTLS(p.imap, &imapclient.Options{TLSConfig: &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatalf("IMAP STARTTLS to capture %s: %v", p.imap, err)
	}
	defer c.Close()
	if err := c.Login("test-reader", "anything").Wait(); err != nil {
		t.Fatalf("IMAP LOGIN: %v", err)
	}
	msgs := FindMessages(t, c, "X-Mailprobe-Test", tag)
	if len(msgs) != 1 {
		t.Fatalf("%d messages tagged %s in the capture's INBOX, want 1", len(msgs), tag)
	}
	got := msgs[0]
	if s := got.Header("Subject"); s != "Reset your password" {
		t.Errorf("Subject = %q", s)
	}
	WantContains(t, "Received", got.Header("Received"), "from "+helo, "(mailprobe capture) with ESMTPSA id "+m.ID, "for <user@example.com>")
	WantContains(t, "Authentication-Results", got.Header("Authentication-Results"), "dkim=none", "spf=none", "dmarc=none")
	WantContains(t, "message text", got.Text(t), link, "expires in 30 minutes")
	_ = c.Logout().Wait()

	if code := p.stop(t); code != 0 {
		t.Errorf("capture exit %d after Ctrl-C, want 0; stderr:\n%s", code, p.Stderr())
	}
	WantContains(t, "capture stderr", p.Stderr(), "mailprobe capture: stopped, 1 message captured")
}

// --reject-rcpt 550:5.1.1: swaks sees its RCPT refused with that reply,
// and nothing is captured.
func TestCapture_rejectRcpt(t *testing.T) {
	t.Parallel()
	p := startCapture(t, "--reject-rcpt", "550:5.1.1")
	msg := writeFile(t, "reset.eml", resetEmail(Unique(t), "https://app.example/r/x", "Hello."))
	out, code := swaksToCapture(t, p, "noreply@app.example", "user@example.com", "app.mailprobe.invalid", msg)
	sw := ParseSwaks(out)
	// swaks exits 24 when the server refuses every recipient.
	if code != 24 {
		t.Errorf("swaks exit %d, want 24 (RCPT refused):\n%s", code, out)
	}
	if len(sw.ErrorLines) != 1 || !strings.HasPrefix(sw.ErrorLines[0], "550 5.1.1 ") {
		t.Errorf("swaks error replies %q, want one 550 5.1.1:\n%s", sw.ErrorLines, out)
	}
	if strings.Contains(out, "354 ") {
		t.Errorf("DATA was accepted after a refused RCPT:\n%s", out)
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("capture exit %d after Ctrl-C, want 0", code)
	}
	WantContains(t, "capture stderr", p.Stderr(), "mailprobe capture: fault injection: RCPT rejected with 550:5.1.1",
		"mailprobe capture: stopped, 0 messages captured")
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.stdoutAll.String(); s != "" {
		t.Errorf("JSON printed for a refused message: %s", s)
	}
}

// The most common reset-email wording, "Click the link below to reset
// your password:" followed by the link, gives no password: the analysis
// must not report one (reset.password.in-body is a fail finding).
func TestCapture_resetWordingIsNotAPassword(t *testing.T) {
	t.Parallel()
	p := startCapture(t, "--count", "1")
	token := "Hc3kV9pL2mN7xQ4wR8tY1bZ6sD0fG5jA"
	link := "https://app.example/reset?token=" + token
	msg := writeFile(t, "reset.eml", resetEmail(Unique(t), link,
		"Hello,\n\nClick the link below to reset your password:\n"+link+"\n\nThe link expires in 30 minutes."))
	_, _ = swaksToCapture(t, p, "noreply@app.example", "user@example.com", "app.mailprobe.invalid", msg)
	m := p.next(t, 10*time.Second)
	if m.Analysis.ResetLink != link {
		t.Errorf("reset_link %q, want %q", m.Analysis.ResetLink, link)
	}
	if m.Analysis.Password {
		t.Errorf("password_in_body = true for \"Click the link below to reset your password:\" and the link on the next line")
	}
	if f := m.finding("reset.password.in-body"); f != nil {
		t.Errorf("finding reset.password.in-body (%s): %s", f.Severity, f.Detail)
	}
}
