package cli

// Tests of `mailprobe smtp script` and `mailprobe smtp shell` as a user
// runs them: flags, exit codes, every output format, and the password in
// none of them. The peer is go-smtp with STARTTLS (a certificate made for
// the test) and AUTH, or a raw TCP server that misbehaves.

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailprobe/mailprobe/internal/formatcheck"
	"github.com/mailprobe/mailprobe/pkg/iostreams"
	"github.com/mailprobe/mailprobe/pkg/report"
)

const (
	scriptUser   = "alice@test.local"
	scriptSecret = "Zx9-script-Secret-w0rd"
	examples     = "../../testdata/scripts"
)

type scriptResult struct {
	code        int
	out, errOut string
}

// scriptCLI runs mailprobe in-process with stdin and environment variables.
func scriptCLI(t *testing.T, stdin string, vars map[string]string, args ...string) scriptResult {
	t.Helper()
	ios, in, out, errOut := iostreams.Test()
	in.WriteString(stdin)
	ios.Getenv = func(k string) string { return vars[k] }
	code := Main(args, &Env{IO: ios})
	return scriptResult{code, out.String(), errOut.String()}
}

// ---- a go-smtp peer ----

type scriptPeer struct {
	addr   string
	caFile string
	mu     sync.Mutex
	msgs   []string
}

type scriptPeerSession struct {
	p        *scriptPeer
	password string
}

func (s *scriptPeerSession) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

func (s *scriptPeerSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != scriptUser || pass != s.password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, u, p string) error { return check(u, p) }), nil
	case sasl.Login:
		return &scriptLoginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

type scriptLoginServer struct {
	check func(u, p string) error
	step  int
	user  string
}

func (l *scriptLoginServer) Next(resp []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if resp != nil {
			l.user, l.step = string(resp), 2
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(resp)
		return []byte("Password:"), false, nil
	}
	return nil, true, l.check(l.user, string(resp))
}

func (s *scriptPeerSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *scriptPeerSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if strings.HasSuffix(to, ".invalid") {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relay access denied"}
	}
	return nil
}
func (s *scriptPeerSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.p.mu.Lock()
	s.p.msgs = append(s.p.msgs, string(b))
	s.p.mu.Unlock()
	return err
}
func (s *scriptPeerSession) Reset()        {}
func (s *scriptPeerSession) Logout() error { return nil }

// startScriptPeer runs go-smtp with STARTTLS (or implicit TLS) and AUTH
// for password; the CA that signed its certificate is written to caFile.
func startScriptPeer(t *testing.T, password string, implicit bool) *scriptPeer {
	t.Helper()
	now := time.Now()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "script test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "mail.test.local"},
		DNSNames: []string{"mail.test.local"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	p := &scriptPeer{caFile: filepath.Join(t.TempDir(), "ca.pem")}
	if err := os.WriteFile(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER, caDER}, PrivateKey: key}}}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &scriptPeerSession{p: p, password: password}, nil
	}))
	srv.Domain = "mail.test.local"
	srv.TLSConfig = cfg
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if implicit {
		l = tls.NewListener(l, cfg)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	p.addr = l.Addr().String()
	return p
}

func (p *scriptPeer) messages() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.msgs...)
}

// startScriptRaw serves every connection with handler.
func startScriptRaw(t *testing.T, handler func(net.Conn, *bufio.Reader)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				handler(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return l.Addr().String()
}

func writeScript(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "t.script")
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func secretForms(user, secret string) []string {
	return []string{
		secret,
		base64.StdEncoding.EncodeToString([]byte(secret)),
		base64.RawStdEncoding.EncodeToString([]byte(secret)),
		base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + secret)),
	}
}

// ---- smtp script ----

func TestSMTPScript_ExampleRunsGreenInEveryFormat(t *testing.T) {
	p := startScriptPeer(t, scriptSecret, false)
	for _, format := range []string{"text", "json", "junit", "sarif"} {
		r := scriptCLI(t, "", nil, "smtp", "script", filepath.Join(examples, "plain-send.script"), p.addr,
			"--var", "FROM=bob@test.local", "--var", "TO="+scriptUser, "--format", format)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", format, r.code, r.out, r.errOut)
		}
		switch format {
		case "text":
			for _, w := range []string{"mailprobe smtp script " + p.addr, "line 15: connect", "line 16: expect 220", "line 22: data", "line 32: quit"} {
				if !strings.Contains(r.out, w) {
					t.Errorf("text output lacks %q:\n%s", w, r.out)
				}
			}
		case "json":
			var doc struct {
				Command string         `json:"command"`
				Stages  []report.Stage `json:"stages"`
				Facts   map[string]any `json:"facts"`
			}
			if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Command != "smtp script" || len(doc.Stages) != 9 {
				t.Errorf("json: command %q, %d stages", doc.Command, len(doc.Stages))
			}
			replies, _ := doc.Facts["replies"].([]any)
			if len(replies) != 7 {
				t.Errorf("json: %d analysed replies, want 7", len(replies))
			}
		case "junit":
			doc := formatcheck.JUnit(t, []byte(r.out))
			if len(doc.Suites) != 1 || doc.Suites[0].Tests < 9 {
				t.Errorf("junit: %+v", doc.Suites)
			}
		case "sarif":
			formatcheck.SARIF(t, []byte(r.out))
		}
	}
	if n := len(p.messages()); n != 4 {
		t.Errorf("delivered %d messages, want 4", n)
	}
}

// The password is given by flag (env, file) and never appears, in any
// format, with the transcript on, whether AUTH succeeds or fails, and
// whether the mechanism is PLAIN or LOGIN.
func TestSMTPScript_PasswordNeverInOutput(t *testing.T) {
	good := startScriptPeer(t, scriptSecret, false)
	wrong := startScriptPeer(t, "another-password", false)
	implicit := startScriptPeer(t, scriptSecret, true)
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(scriptSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"MP_SCRIPT_PW": scriptSecret}
	loginScript := writeScript(t, "connect\nexpect 220\nehlo\nstarttls\nehlo\nauth LOGIN\nsend AUTH PLAIN AGFsaWNlAHNlY3JldA==\nexpect any\nquit\n")
	common := []string{"--user", scriptUser, "--servername", "mail.test.local", "--var", "FROM=" + scriptUser, "--var", "TO=" + scriptUser, "-v"}
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"plain ok", []string{filepath.Join(examples, "starttls-auth-send.script"), good.addr, "--password-env", "MP_SCRIPT_PW", "--ca-file", good.caFile}, 0},
		{"plain wrong", []string{filepath.Join(examples, "starttls-auth-send.script"), wrong.addr, "--password-file", pwFile, "--ca-file", wrong.caFile}, 1},
		{"login", []string{loginScript, good.addr, "--password-env", "MP_SCRIPT_PW", "--ca-file", good.caFile}, 0},
		{"implicit", []string{filepath.Join(examples, "implicit-tls-login.script"), implicit.addr, "--password-env", "MP_SCRIPT_PW", "--ca-file", implicit.caFile}, 0},
		// --insecure: the untrusted certificate is a warning, as in every
		// engine (certcheck.Stage), so the run passes.
		{"insecure", []string{filepath.Join(examples, "starttls-auth-send.script"), good.addr, "--password-env", "MP_SCRIPT_PW", "--insecure"}, 0},
	}
	for _, c := range cases {
		for _, format := range []string{"text", "json", "junit", "sarif"} {
			args := append(append(append([]string{"smtp", "script"}, c.args...), common...), "--format", format)
			r := scriptCLI(t, "", vars, args...)
			if r.code != c.code {
				t.Errorf("%s --format %s: exit %d, want %d\n%s\n%s", c.name, format, r.code, c.code, r.out, r.errOut)
			}
			if format == "text" && !strings.Contains(r.out, "<redacted>") {
				t.Errorf("%s: no redaction marker in the transcript; was AUTH sent?\n%s", c.name, r.out)
			}
			for _, f := range secretForms(scriptUser, scriptSecret) {
				if strings.Contains(r.out, f) || strings.Contains(r.errOut, f) {
					t.Fatalf("%s --format %s: the output contains the password (form %q)", c.name, format, f)
				}
			}
		}
	}
}

func TestSMTPScript_ExitCodes(t *testing.T) {
	p := startScriptPeer(t, scriptSecret, false)
	silent := startScriptRaw(t, func(c net.Conn, br *bufio.Reader) { io.Copy(io.Discard, c) })
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().String()
	l.Close()

	mismatch := writeScript(t, "connect\nexpect 220\nehlo\nsend VRFY root\nexpect 250\nquit\n")
	warn := writeScript(t, "connect\nexpect 220\nehlo\nsend VRFY root\nexpect 250 else warn\nquit\n")
	timeout := writeScript(t, "connect\ntimeout 200ms\nexpect 220\n")
	bad := writeScript(t, "connect\nexpect 220\nfrobnicate\nexpect 99\n")
	noVar := writeScript(t, "connect\nsend MAIL FROM:<${SENDER}>\n")
	noUser := writeScript(t, "connect\nauth PLAIN\n")

	cases := []struct {
		name   string
		args   []string
		code   int
		out    string // in stdout
		errOut string // in stderr
	}{
		{"mismatch is a finding", []string{mismatch, p.addr}, 1, "script.expect.mismatch", ""},
		{"warn passes by default", []string{warn, p.addr}, 0, "WARN", ""},
		{"warn fails with --fail-on warn", []string{warn, p.addr, "--fail-on", "warn"}, 1, "script.expect.mismatch", ""},
		{"timeout is incomplete", []string{timeout, silent}, 3, "line 3: expect 220", ""},
		{"unreachable is incomplete", []string{mismatch, closed}, 3, "script.connect.failed", ""},
		{"parse error", []string{bad, p.addr}, 2, "", "t.script:3: unknown step \"frobnicate\""},
		{"parse error lists all", []string{bad, p.addr}, 2, "", "t.script:4: \"99\" is not a reply code"},
		{"parse error in json", []string{bad, p.addr, "--format", "json"}, 2, "script.syntax", "2 problems in the script"},
		{"undefined variable", []string{noVar, p.addr}, 2, "", "t.script:2: ${SENDER} is not set: pass --var SENDER=VALUE"},
		{"auth without user", []string{noUser, p.addr}, 2, "", "t.script:2: auth PLAIN needs a user name"},
		{"auth without a password source", []string{noUser, p.addr, "--user", "u"}, 2, "", "--password-env"},
		{"missing file", []string{"/nonexistent.script", p.addr}, 2, "", "no such file"},
		{"bad --var", []string{mismatch, p.addr, "--var", "1X=y"}, 2, "", "--var 1X"},
		{"--var with a line break", []string{mismatch, p.addr, "--var", "X=a\r\nRSET"}, 2, "", "line break"},
		{"bad step timeout", []string{mismatch, p.addr, "--step-timeout", "1ns"}, 2, "", "--step-timeout"},
		{"one argument", []string{mismatch}, 2, "", "usage: mailprobe smtp script FILE HOST[:PORT]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := scriptCLI(t, "", nil, append([]string{"smtp", "script"}, c.args...)...)
			if r.code != c.code || !strings.Contains(r.out, c.out) || !strings.Contains(r.errOut, c.errOut) {
				t.Errorf("exit %d (want %d)\nstdout (want %q):\n%s\nstderr (want %q):\n%s", r.code, c.code, c.out, r.out, c.errOut, r.errOut)
			}
		})
	}
}

// Every example script parses and binds through the command line's own
// checks (the real runs against Postfix are in the integration suite).
func TestSMTPScript_ExamplesPassStaticChecks(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(examples, "*.script"))
	if len(files) < 8 {
		t.Fatalf("%d example scripts", len(files))
	}
	for _, f := range files {
		o := &smtpScriptOptions{File: f, Target: "127.0.0.1:1", Global: Global{Format: "text", FailOn: "fail"},
			Vars: []string{"FROM=bob@test.local", "TO=alice@test.local"}, StepTimeout: time.Second}
		o.User, o.PasswordEnv = scriptUser, "P"
		ios, _, _, _ := iostreams.Test()
		ios.Getenv = func(string) string { return "x" }
		if _, _, err := o.prepare(&Env{IO: ios, Now: time.Now}); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// ---- smtp shell ----

func TestSMTPShell_PipedStdin(t *testing.T) {
	p := startScriptPeer(t, scriptSecret, false)
	input := "EHLO client.example\n.starttls\nEHLO client.example\n.auth PLAIN\nMAIL FROM:<" + scriptUser + ">\nRCPT TO:<" + scriptUser + ">\nDATA\nSubject: from the shell\n\nhello\n.\n.explain\n"
	r := scriptCLI(t, input, map[string]string{"MP_SCRIPT_PW": scriptSecret}, "smtp", "shell", p.addr,
		"--ca-file", p.caFile, "--servername", "mail.test.local", "--user", scriptUser, "--password-env", "MP_SCRIPT_PW")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.out, r.errOut)
	}
	for _, w := range []string{"S: 220 mail.test.local", "C: EHLO client.example", "   = ", "* TLS: TLS 1.3",
		"* certificate trusted for mail.test.local", "C: AUTH PLAIN <redacted>", "S: 235", "S: 250 2.0.0 OK: queued",
		"meaning:", "C: QUIT", "S: 221"} {
		if !strings.Contains(r.out, w) {
			t.Errorf("output lacks %q:\n%s", w, r.out)
		}
	}
	if strings.Contains(r.out, "\x1b[") {
		t.Error("piped output must not be coloured")
	}
	for _, f := range secretForms(scriptUser, scriptSecret) {
		if strings.Contains(r.out, f) || strings.Contains(r.errOut, f) {
			t.Fatalf("the output contains the password (form %q)", f)
		}
	}
	if msgs := p.messages(); len(msgs) != 1 || !strings.Contains(msgs[0], "hello") {
		t.Errorf("messages = %q", msgs)
	}
}

func TestSMTPShell_ColourAndErrors(t *testing.T) {
	p := startScriptPeer(t, scriptSecret, false)
	r := scriptCLI(t, "NOOP\nBOGUS\n.auth PLAIN\n", map[string]string{"CLICOLOR_FORCE": "1"}, "smtp", "shell", p.addr, "--user", scriptUser)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.errOut)
	}
	if !strings.Contains(r.out, "\x1b[") {
		t.Error("CLICOLOR_FORCE must colour the replies")
	}
	if !strings.Contains(r.out, "not encrypted") {
		t.Errorf(".auth on plain text must be refused:\n%s", r.out)
	}

	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	r = scriptCLI(t, "", nil, "smtp", "shell", addr)
	if r.code != report.ExitIncomplete || !strings.Contains(r.errOut, "could not connect") {
		t.Errorf("exit %d, stderr %q", r.code, r.errOut)
	}
	r = scriptCLI(t, "", nil, "smtp", "shell", "host:99999")
	if r.code != report.ExitUsage {
		t.Errorf("bad port: exit %d", r.code)
	}
}

// A piped shell cannot prompt: .auth says how to give the password.
func TestSMTPShell_AuthNeedsPasswordSource(t *testing.T) {
	p := startScriptPeer(t, scriptSecret, false)
	r := scriptCLI(t, ".starttls\nEHLO x\n.auth LOGIN\n", nil, "smtp", "shell", p.addr, "--ca-file", p.caFile, "--servername", "mail.test.local", "--user", scriptUser)
	if r.code != 0 || !strings.Contains(r.out, "--password-env") {
		t.Errorf("exit %d:\n%s", r.code, r.out)
	}
}
