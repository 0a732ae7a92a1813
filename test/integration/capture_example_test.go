//go:build integration

package integration

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/smtp"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// The end-to-end test of docs/capture.md, run as written there: a tiny
// web app with "forgot password" sends its reset email to `mailprobe
// capture`, and the app's test asks capture for the link with one HTTP
// call (wait) and follows it.

// resetApp is the app under test: POST /forgot mails a reset link,
// GET /reset?token=… opens the reset form for a known token.
type resetApp struct {
	smtpAddr string // where the app sends mail: capture in development
	baseURL  string
	mu       sync.Mutex
	tokens   map[string]string // token -> email
}

func (a *resetApp) forgot(w http.ResponseWriter, r *http.Request) {
	email := r.FormValue("email")
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	a.mu.Lock()
	a.tokens[token] = email
	a.mu.Unlock()
	link := a.baseURL + "/reset?token=" + token
	msg := "From: Example App <no-reply@app.example>\r\nTo: " + email + "\r\nSubject: Reset your password\r\n" +
		"Message-ID: <" + token[:12] + "@app.example>\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\n\r\n" +
		"Someone asked to reset your password. Open this link to choose a new one:\r\n\r\n" + link + "\r\n\r\n" +
		"This link expires in 30 minutes.\r\n"
	if err := sendPlain(a.smtpAddr, "no-reply@app.example", email, msg); err != nil {
		http.Error(w, "could not send the email: "+err.Error(), http.StatusBadGateway)
		return
	}
	fmt.Fprintln(w, "If the account exists, we sent an email.")
}

func (a *resetApp) reset(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	email, ok := a.tokens[r.URL.Query().Get("token")]
	a.mu.Unlock()
	if !ok {
		http.Error(w, "invalid or expired link", http.StatusNotFound)
		return
	}
	fmt.Fprintf(w, "Choose a new password for %s\n", email)
}

// sendPlain sends without STARTTLS, as an app pointed at a local sink
// usually does.
func sendPlain(addr, from, to, msg string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func TestCaptureExample_resetFlow(t *testing.T) {
	p := startCapture(t, "--http", "127.0.0.1:0")
	capture := p.web // e.g. http://127.0.0.1:8025

	app := &resetApp{smtpAddr: p.smtp, tokens: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /forgot", app.forgot)
	mux.HandleFunc("GET /reset", app.reset)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	app.baseURL = srv.URL

	// The user clicks "Forgot password".
	res, err := http.PostForm(srv.URL+"/forgot", url.Values{"email": {"alice@example.org"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("POST /forgot: %v %v", err, res)
	}
	res.Body.Close()

	// One call: wait for Alice's reset email and read its link.
	res, err = http.Get(capture + "/api/v1/messages/wait?to=alice@example.org&subject=reset&timeout=10s")
	if err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Reset struct {
			Link         string  `json:"link"`
			TokenBits    float64 `json:"token_bits"`
			ExpiryStated bool    `json:"expiry_stated"`
		} `json:"reset"`
	}
	err = json.NewDecoder(res.Body).Decode(&msg)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || msg.Reset.Link == "" {
		t.Fatalf("wait: %d %v %+v", res.StatusCode, err, msg)
	}
	if msg.Reset.TokenBits < 128 || !msg.Reset.ExpiryStated {
		t.Errorf("the reset email: %+v", msg.Reset)
	}

	// Follow the link, as the user would.
	res, err = http.Get(msg.Reset.Link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "Choose a new password for alice@example.org") {
		t.Errorf("following %s: %d %s", msg.Reset.Link, res.StatusCode, body)
	}

	// A wait for a message that never comes ends in 408, not a hang.
	res, err = http.Get(capture + "/api/v1/messages/wait?to=bob@example.org&timeout=200ms")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestTimeout {
		t.Errorf("wait for nothing: %d", res.StatusCode)
	}
}

// Release: a captured message goes on to real Postfix (submission, STARTTLS
// verified against this run's CA, AUTH) through `smtp send`'s path, and
// Dovecot delivers it to bob; the answer carries the send's report with
// the credentials redacted.
func TestCaptureRelease_toPostfix(t *testing.T) {
	t.Parallel()
	p := startCapture(t, "--http", "127.0.0.1:0", "--release-smtp", E.Addr(E.SubmissionPort), "--release-tls", "starttls",
		"--release-ca-file", E.CA, "--release-servername", E.ServerName, "--release-user", E.User1, "--release-password-env", "MP_IT_PASS1")
	token := Unique(t)
	msg := "From: " + E.User1 + "\r\nTo: " + E.User2 + "\r\nSubject: released " + token + "\r\nX-Mailprobe-Test: " + token + "\r\n\r\nCaptured, then released.\r\n"
	if err := sendPlain(p.smtp, E.User1, E.User2, msg); err != nil {
		t.Fatal(err)
	}
	m := p.next(t, 10*time.Second)
	res, err := http.Post(p.web+"/api/v1/messages/"+m.ID+"/release", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var out struct {
		Sent   bool   `json:"sent"`
		Target string `json:"target"`
	}
	if err := json.Unmarshal(body, &out); err != nil || res.StatusCode != 200 || !out.Sent || out.Target != E.Addr(E.SubmissionPort) {
		t.Fatalf("release: %d %v %s", res.StatusCode, err, body)
	}
	if strings.Contains(string(body), E.Pass1) {
		t.Error("the release report shows the password")
	}
	got := WaitForMessage(t, E.User2, E.Pass2, "X-Mailprobe-Test", token, 20*time.Second)
	if !strings.Contains(got.Header("Subject"), "released "+token) {
		t.Errorf("delivered: %q", got.Header("Subject"))
	}
}
