package cli

// Tests of smtp send's swaks-style options (docs/smtp-send.md cites each
// test by name), run through Main against in-process go-smtp servers (a
// real SMTP implementation) and internal/testserver where a server must
// misbehave or offer something go-smtp does not (XCLIENT).

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/pires/go-proxyproto"

	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/imapaudit"
	"github.com/mailprobe/mailprobe/pkg/iostreams"
	"github.com/mailprobe/mailprobe/pkg/resetmail"
	"github.com/mailprobe/mailprobe/pkg/smtpprobe"
)

// ---------------------------------------------------------------- a go-smtp server

type sendBackend struct {
	mu       sync.Mutex
	mails    []*smtp.MailOptions
	froms    []string
	rcpts    []string
	rcptOpts []*smtp.RcptOptions
	data     [][]byte
	remotes  []string
	lmtpFail string
	mechs    []string
	auth     func(mech string) (sasl.Server, error)
	logout   chan struct{} // when set, closed by the first Logout
}

type sendSession struct {
	be *sendBackend
	to []string
}

func (b *sendBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.mu.Lock()
	b.remotes = append(b.remotes, c.Conn().RemoteAddr().String())
	b.mu.Unlock()
	return &sendSession{be: b}, nil
}

func (s *sendSession) Reset() { s.to = nil }
func (s *sendSession) Logout() error {
	s.be.mu.Lock()
	defer s.be.mu.Unlock()
	if s.be.logout != nil {
		close(s.be.logout)
		s.be.logout = nil
	}
	return nil
}
func (s *sendSession) Mail(from string, o *smtp.MailOptions) error {
	s.be.mu.Lock()
	defer s.be.mu.Unlock()
	s.be.froms = append(s.be.froms, from)
	s.be.mails = append(s.be.mails, o)
	return nil
}
func (s *sendSession) Rcpt(to string, o *smtp.RcptOptions) error {
	s.be.mu.Lock()
	defer s.be.mu.Unlock()
	s.be.rcpts = append(s.be.rcpts, to)
	s.be.rcptOpts = append(s.be.rcptOpts, o)
	s.to = append(s.to, to)
	return nil
}
func (s *sendSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.be.mu.Lock()
	defer s.be.mu.Unlock()
	s.be.data = append(s.be.data, b)
	return nil
}
func (s *sendSession) LMTPData(r io.Reader, st smtp.StatusCollector) error {
	if err := s.Data(r); err != nil {
		return err
	}
	for _, to := range s.to {
		if to == s.be.lmtpFail {
			st.SetStatus(to, &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}, Message: to + ": mailbox full"})
		} else {
			st.SetStatus(to, nil)
		}
	}
	return nil
}
func (s *sendSession) AuthMechanisms() []string { return s.be.mechs }
func (s *sendSession) Auth(mech string) (sasl.Server, error) {
	if s.be.auth == nil {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return s.be.auth(mech)
}

// snapshot returns what the server received so far.
func (b *sendBackend) snapshot() (rcpts []string, data [][]byte, mails []*smtp.MailOptions) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string{}, b.rcpts...), append([][]byte{}, b.data...), append([]*smtp.MailOptions{}, b.mails...)
}

// serveGoSMTP serves be on ln with go-smtp; configure may change the
// server (LMTP, TLS, extensions) first.
func serveGoSMTP(t *testing.T, ln net.Listener, be *sendBackend, configure func(*smtp.Server)) string {
	t.Helper()
	s := smtp.NewServer(be)
	s.Domain = "gosmtp.test"
	s.AllowInsecureAuth = true
	if configure != nil {
		configure(s)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}

func startSendServer(t *testing.T, be *sendBackend, configure func(*smtp.Server)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveGoSMTP(t, ln, be, configure)
}

// ---------------------------------------------------------------- running smtp send

type sendReport struct {
	Stages []struct {
		Name, Status, Summary string
	}
	Findings []struct {
		Code, Severity, Stage, Detail string
		Evidence                      []struct{ Kind, Text string }
	}
	Transcript []struct{ Dir, Line string }
	Facts      map[string]any
}

func (r sendReport) finding(code string) (string, string, bool) {
	for _, f := range r.Findings {
		if f.Code == code {
			return f.Severity, f.Detail, true
		}
	}
	return "", "", false
}

func (r sendReport) stage(name string) string {
	for _, s := range r.Stages {
		if s.Name == name {
			return s.Status
		}
	}
	return ""
}

// verbs lists the SMTP commands the client sent, in order (message
// lines and SASL responses left out).
func (r sendReport) verbs() []string {
	var out []string
	inData := false
	for _, e := range r.Transcript {
		if e.Dir != "C" {
			continue
		}
		if inData {
			inData = e.Line != "."
			continue
		}
		w := strings.Fields(e.Line)
		if len(w) == 0 {
			continue
		}
		v := strings.ToUpper(w[0])
		if contains([]string{"EHLO", "HELO", "LHLO", "STARTTLS", "AUTH", "XCLIENT", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "QUIT"}, v) {
			out = append(out, v)
			inData = v == "DATA"
		}
	}
	return out
}

// send runs `smtp send` with JSON output and the usual envelope; extra
// comes after, so it can override.
func send(t *testing.T, vars map[string]string, stdin string, args ...string) (sendReport, result) {
	t.Helper()
	base := []string{"smtp", "send", "--no-ptr", "--format", "json", "--from", "alice@test.example", "--to", "bob@test.example"}
	r := runInput(t, vars, stdin, append(base, args...)...)
	var rep sendReport
	if r.out != "" && strings.HasPrefix(strings.TrimSpace(r.out), "{") {
		if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
			t.Fatalf("%v\n%s", err, r.out)
		}
	}
	return rep, r
}

func wantVerbs(t *testing.T, rep sendReport, want string) {
	t.Helper()
	if got := strings.Join(rep.verbs(), " "); got != want {
		t.Fatalf("client sent %q, want %q", got, want)
	}
}

// ---------------------------------------------------------------- stop points

// --quit-after STAGE: the stages up to STAGE run, QUIT follows, nothing
// else is sent, the run succeeds (exit 0) and says where it stopped.
func TestSend_quitAfter(t *testing.T) {
	for stage, verbs := range map[string]string{
		"connect": "QUIT",
		"banner":  "QUIT",
		"ehlo":    "EHLO QUIT",
		"auth":    "EHLO QUIT",
		"mail":    "EHLO MAIL QUIT",
		"rcpt":    "EHLO MAIL RCPT QUIT",
	} {
		be := &sendBackend{}
		addr := startSendServer(t, be, nil)
		rep, r := send(t, nil, "", addr, "--tls", "none", "--role", "mx", "--no-pipeline", "--quit-after", stage)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", stage, r.code, r.out, r.errOut)
		}
		wantVerbs(t, rep, verbs)
		if sev, _, ok := rep.finding("smtp.send.stopped"); !ok || sev != "info" {
			t.Fatalf("%s: findings %+v", stage, rep.Findings)
		}
		if rep.stage("data") != "skipped" || rep.stage("quit") != "ok" {
			t.Fatalf("%s: data %q quit %q", stage, rep.stage("data"), rep.stage("quit"))
		}
		if _, data, _ := be.snapshot(); len(data) != 0 {
			t.Fatalf("%s: a message was delivered", stage)
		}
	}
}

// --quit-after starttls stops right after the TLS handshake.
func TestSend_quitAfterStarttls(t *testing.T) {
	cert := testserver.NewCert(t, testserver.CertOptions{})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	writeCA(t, ca, cert)
	addr := startSendServer(t, &sendBackend{}, func(s *smtp.Server) {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
	})
	rep, r := send(t, nil, "", addr, "--tls", "starttls", "--ca-file", ca, "--servername", "mail.test.example", "--quit-after", "starttls")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	wantVerbs(t, rep, "EHLO STARTTLS QUIT")
}

// --drop-after rcpt closes without QUIT; --drop-after data sends the
// message and hangs up without reading the reply, and the server still
// has the whole message.
func TestSend_dropAfter(t *testing.T) {
	be := &sendBackend{}
	addr := startSendServer(t, be, nil)
	rep, r := send(t, nil, "", addr, "--tls", "none", "--role", "mx", "--drop-after", "rcpt")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.out)
	}
	wantVerbs(t, rep, "EHLO MAIL RCPT")
	if rep.stage("quit") != "skipped" {
		t.Fatalf("quit stage %q", rep.stage("quit"))
	}

	done := make(chan struct{})
	be = &sendBackend{logout: done}
	addr = startSendServer(t, be, nil)
	rep, r = send(t, nil, "", addr, "--tls", "none", "--role", "mx", "--drop-after", "data", "--body", "dropped body\n")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.out)
	}
	<-done // the server noticed the hang-up after the message
	if _, data, _ := be.snapshot(); len(data) != 1 || !bytes.Contains(data[0], []byte("dropped body")) {
		t.Fatalf("server got %q", data)
	}
	for _, e := range rep.Transcript {
		if e.Dir == "S" && strings.HasPrefix(e.Line, "250 2.0.0 OK") {
			t.Fatalf("the reply after the message was read: %q", e.Line)
		}
	}
}

// --quit-after data: the 354 comes, the connection is closed, and the
// server delivers nothing.
func TestSend_quitAfterData(t *testing.T) {
	done := make(chan struct{})
	be := &sendBackend{logout: done}
	addr := startSendServer(t, be, nil)
	rep, r := send(t, nil, "", addr, "--tls", "none", "--role", "mx", "--quit-after", "data")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.out)
	}
	<-done
	if _, data, _ := be.snapshot(); len(data) != 0 {
		t.Fatalf("delivered %q", data)
	}
	if _, d, _ := rep.finding("smtp.send.stopped"); !strings.Contains(d, "354") {
		t.Fatalf("finding %q", d)
	}
}

// A bad stage name is a usage error naming the stages.
func TestSend_quitAfterBadStage(t *testing.T) {
	_, r := send(t, nil, "", "127.0.0.1:1", "--quit-after", "helo")
	if r.code != 2 || !strings.Contains(r.errOut, "connect, banner, ehlo") {
		t.Fatalf("exit %d: %s", r.code, r.errOut)
	}
}

// ---------------------------------------------------------------- protocols

// --protocol lmtp: LHLO, and one reply per recipient after the message;
// one refused recipient fails the run while the other is delivered.
func TestSend_protocolLMTP(t *testing.T) {
	be := &sendBackend{lmtpFail: "full@test.example"}
	addr := startSendServer(t, be, func(s *smtp.Server) { s.LMTP = true })
	rep, r := send(t, nil, "", addr, "--protocol", "lmtp", "--tls", "none", "--to", "full@test.example")
	if r.code != 1 {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if rep.verbs()[0] != "LHLO" {
		t.Fatalf("verbs %v", rep.verbs())
	}
	if _, d, ok := rep.finding("smtp.lmtp.delivered"); !ok || !strings.Contains(d, "bob@test.example") {
		t.Fatalf("findings %+v", rep.Findings)
	}
	if sev, d, ok := rep.finding("smtp.lmtp.rejected"); !ok || sev != "fail" || !strings.Contains(d, "full@test.example") {
		t.Fatalf("findings %+v", rep.Findings)
	}
}

// --socket: the same LMTP dialogue over a UNIX socket, no host needed.
func TestSend_socketLMTP(t *testing.T) {
	dir, err := os.MkdirTemp("", "mp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "lmtp")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	be := &sendBackend{}
	serveGoSMTP(t, ln, be, func(s *smtp.Server) { s.LMTP = true })
	rep, r := send(t, nil, "", "--socket", path, "--protocol", "lmtp", "--tls", "none")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if _, _, ok := rep.finding("smtp.lmtp.delivered"); !ok {
		t.Fatalf("findings %+v", rep.Findings)
	}
	if rcpts, data, _ := be.snapshot(); len(data) != 1 || rcpts[0] != "bob@test.example" {
		t.Fatalf("server got %v %d", rcpts, len(data))
	}
}

// --protocol smtp greets with HELO and never uses an extension.
func TestSend_protocolSMTP(t *testing.T) {
	be := &sendBackend{}
	addr := startSendServer(t, be, nil)
	rep, r := send(t, nil, "", addr, "--protocol", "smtp", "--tls", "none", "--role", "mx")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.out)
	}
	wantVerbs(t, rep, "HELO MAIL RCPT DATA QUIT")
	if _, _, mails := be.snapshot(); len(mails) != 1 || mails[0].Size != 0 {
		t.Fatalf("MAIL options %+v", mails)
	}
}

// A server that refuses EHLO but takes HELO: the fallback is a finding.
func TestSend_heloFallback(t *testing.T) {
	addr := testserver.Start(t, testserver.SMTP{Reply: map[string][]string{"EHLO": {"502 5.5.2 EHLO not implemented"}}}.Handler())
	rep, _ := send(t, nil, "", addr, "--tls", "none", "--role", "mx")
	if _, _, ok := rep.finding("smtp.ehlo.helo-fallback"); !ok {
		t.Fatalf("findings %+v", rep.Findings)
	}
	if rep.stage("queued") != "ok" {
		t.Fatalf("not sent after the fallback: %+v", rep.Stages)
	}
}

// ---------------------------------------------------------------- transport

// TestHelperPipeServer is not a test: run by --pipe in TestSend_pipe, it
// serves go-smtp on its own stdin and stdout.
func TestHelperPipeServer(t *testing.T) {
	if os.Getenv("MP_PIPE_SERVER") != "1" {
		t.Skip("helper process for TestSend_pipe")
	}
	done := make(chan struct{})
	be := &sendBackend{logout: done}
	s := smtp.NewServer(be)
	s.Domain = "pipe.test"
	ln := &oneConnListener{c: stdioConn{}, done: done}
	go func() { _ = s.Serve(ln) }()
	<-done
	os.Exit(0)
}

type stdioConn struct{ net.Conn }

func (stdioConn) Read(b []byte) (int, error)  { return os.Stdin.Read(b) }
func (stdioConn) Write(b []byte) (int, error) { return os.Stdout.Write(b) }
func (stdioConn) Close() error                { return nil }
func (stdioConn) LocalAddr() net.Addr         { return &net.UnixAddr{Name: "stdio"} }
func (stdioConn) RemoteAddr() net.Addr        { return &net.UnixAddr{Name: "stdio"} }

type oneConnListener struct {
	c    net.Conn
	once sync.Once
	done chan struct{}
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c = l.c })
	if c != nil {
		return c, nil
	}
	<-l.done
	return nil, errors.New("closed")
}
func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return &net.UnixAddr{Name: "stdio"} }

// --pipe: a program speaking SMTP on stdin/stdout (here this test binary
// running go-smtp) carries the whole send.
func TestSend_pipe(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Each start of the program leaves a line in starts. The program is
	// silent for longer than netx.GreetingWait, after which an explicit
	// --tls starttls on a TCP port probes a second connection for
	// implicit TLS: a program must not be started a second time for it.
	starts := filepath.Join(t.TempDir(), "starts")
	cmd := "echo x >> '" + starts + "'; sleep 1; MP_PIPE_SERVER=1 exec '" + exe + "' -test.run='^TestHelperPipeServer$'"
	rep, r := send(t, nil, "", "--pipe", cmd, "--tls", "starttls", "--role", "mx")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if b, _ := os.ReadFile(starts); string(b) != "x\n" {
		t.Fatalf("the program was started %d times", strings.Count(string(b), "x"))
	}
	if rep.stage("queued") != "ok" || rep.stage("resolve") != "skipped" {
		t.Fatalf("stages %+v", rep.Stages)
	}
	if !strings.Contains(rep.Transcript[0].Line, "pipe") && !strings.Contains(rep.Transcript[0].Line, "connected") {
		t.Fatalf("first entry %q", rep.Transcript[0].Line)
	}
}

// --proxy v2 and v1: the server behind a PROXY-protocol listener sees the
// client address given, not the connection's.
func TestSend_proxy(t *testing.T) {
	for _, v := range []string{"v1", "v2"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		be := &sendBackend{}
		addr := serveGoSMTP(t, &proxyproto.Listener{Listener: ln}, be, nil)
		rep, r := send(t, nil, "", addr, "--tls", "none", "--role", "mx", "--proxy", v, "--proxy-source", "192.0.2.7:4242", "--proxy-dest", "198.51.100.1:25")
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", v, r.code, r.out, r.errOut)
		}
		be.mu.Lock()
		remote := be.remotes[0]
		be.mu.Unlock()
		if remote != "192.0.2.7:4242" {
			t.Fatalf("%s: server saw the client as %s", v, remote)
		}
		if !strings.Contains(rep.Transcript[0].Line, "PROXY protocol "+v) {
			t.Fatalf("%s: transcript %+v", v, rep.Transcript[:2])
		}
	}
}

// --xclient: sent only when offered, then EHLO again; not offered, the
// run stops with a finding unless --xclient-force.
func TestSend_xclient(t *testing.T) {
	var seen []string
	var mu sync.Mutex
	hook := func(c *testserver.Conn, line string) bool {
		mu.Lock()
		seen = append(seen, line)
		mu.Unlock()
		if strings.HasPrefix(line, "XCLIENT ") {
			c.Send("220 mail.test.example ESMTP")
			return true
		}
		return false
	}
	addr := testserver.Start(t, testserver.SMTP{Caps: []string{"PIPELINING", "SIZE 1000000", "XCLIENT ADDR NAME HELO"}, Hook: hook}.Handler())
	rep, r := send(t, nil, "", addr, "--tls", "none", "--role", "mx", "--xclient", "ADDR=192.0.2.9", "--xclient", "name=client.example")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.out)
	}
	wantVerbs(t, rep, "EHLO XCLIENT EHLO MAIL RCPT DATA QUIT")
	mu.Lock()
	if !contains(seen, "XCLIENT ADDR=192.0.2.9 NAME=client.example") {
		t.Fatalf("server saw %q", seen)
	}
	mu.Unlock()

	plain := testserver.Start(t, testserver.SMTP{Hook: hook}.Handler())
	rep, r = send(t, nil, "", plain, "--tls", "none", "--role", "mx", "--xclient", "ADDR=192.0.2.9")
	if r.code != 1 {
		t.Fatalf("exit %d", r.code)
	}
	if _, _, ok := rep.finding("smtp.xclient.not-offered"); !ok {
		t.Fatalf("findings %+v", rep.Findings)
	}
	rep, r = send(t, nil, "", plain, "--tls", "none", "--role", "mx", "--xclient", "ADDR=192.0.2.9", "--xclient-force")
	if r.code != 0 || !contains(rep.verbs(), "XCLIENT") {
		t.Fatalf("exit %d verbs %v", r.code, rep.verbs())
	}
}

// ---------------------------------------------------------------- TLS control

type tlsServer struct {
	addr, ca string
	cert     testserver.Cert
	mu       sync.Mutex
	sni      []string
	be       *sendBackend
}

// startTLSSendServer serves go-smtp with STARTTLS; adjust may change the
// server's TLS configuration.
func startTLSSendServer(t *testing.T, adjust func(*tls.Config)) *tlsServer {
	ts := &tlsServer{cert: testserver.NewCert(t, testserver.CertOptions{}), be: &sendBackend{}}
	ts.ca = filepath.Join(t.TempDir(), "ca.pem")
	writeCA(t, ts.ca, ts.cert)
	cfg := &tls.Config{Certificates: []tls.Certificate{ts.cert.TLS}}
	cfg.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		ts.mu.Lock()
		ts.sni = append(ts.sni, h.ServerName)
		ts.mu.Unlock()
		return nil, nil
	}
	if adjust != nil {
		adjust(cfg)
	}
	ts.addr = startSendServer(t, ts.be, func(s *smtp.Server) { s.TLSConfig = cfg })
	return ts
}

func (ts *tlsServer) args(extra ...string) []string {
	return append([]string{ts.addr, "--tls", "starttls", "--role", "mx", "--ca-file", ts.ca, "--servername", "mail.test.example"}, extra...)
}

// --tls-cert/--tls-key: a server that requires a client certificate
// takes the message with one and refuses the handshake without.
func TestSend_clientCertificate(t *testing.T) {
	client := testserver.NewCert(t, testserver.CertOptions{Names: []string{"client.test.example"}})
	ts := startTLSSendServer(t, func(c *tls.Config) {
		// The test certificate is a server certificate: check it is the
		// one presented rather than its key usage.
		c.ClientAuth = tls.RequireAnyClientCert
		c.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], client.TLS.Certificate[0]) {
				return errors.New("not the client certificate")
			}
			return nil
		}
	})
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	writePEM(t, certFile, "CERTIFICATE", client.TLS.Certificate[0])
	der, err := x509.MarshalPKCS8PrivateKey(client.TLS.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, keyFile, "PRIVATE KEY", der)
	rep, r := send(t, nil, "", ts.args("--tls-cert", certFile, "--tls-key", keyFile)...)
	if r.code != 0 || rep.stage("queued") != "ok" {
		t.Fatalf("exit %d\n%s", r.code, r.out)
	}
	_, r = send(t, nil, "", ts.args()...)
	if r.code == 0 {
		t.Fatalf("sent without the required client certificate")
	}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// --tls-max, --tls-cipher and --sni shape the ClientHello.
func TestSend_tlsVersionCipherSNI(t *testing.T) {
	ts := startTLSSendServer(t, nil)
	rep, r := send(t, nil, "", ts.args("--tls-max", "1.2", "--tls-cipher", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "--sni", "other.test.example")...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.out)
	}
	tlsFact, _ := rep.Facts["tls"].(map[string]any)
	if tlsFact["version"] != "TLS 1.2" || !strings.Contains(tlsFact["cipher"].(string), "AES_256_GCM_SHA384") {
		t.Fatalf("tls fact %v", tlsFact)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.sni) != 1 || ts.sni[0] != "other.test.example" {
		t.Fatalf("server saw SNI %q", ts.sni)
	}
	_, r = send(t, nil, "", "127.0.0.1:1", "--tls-min", "1.3", "--tls-max", "1.2")
	if r.code != 2 {
		t.Fatalf("min above max: exit %d", r.code)
	}
}

// --tls-fingerprint: the pinned certificate is trusted without any CA
// (the message goes); another fingerprint refuses to send.
func TestSend_tlsFingerprint(t *testing.T) {
	ts := startTLSSendServer(t, nil)
	fp := "sha256:" + smtpprobe.Fingerprint(ts.cert.TLS.Certificate[0])
	base := []string{ts.addr, "--tls", "starttls", "--role", "submission", "--servername", "mail.test.example"}
	rep, r := send(t, nil, "", append(base, "--tls-fingerprint", fp)...)
	if r.code != 0 || rep.stage("queued") != "ok" {
		t.Fatalf("exit %d\n%s", r.code, r.out)
	}
	if _, _, ok := rep.finding("smtp.tls.fingerprint-match"); !ok {
		t.Fatalf("findings %+v", rep.Findings)
	}
	wrong := "sha256:" + strings.Repeat("ab", 32)
	rep, r = send(t, nil, "", append(base, "--tls-fingerprint", wrong, "--ca-file", ts.ca)...)
	if r.code != 1 || rep.stage("mail") != "skipped" {
		t.Fatalf("exit %d stages %+v", r.code, rep.Stages)
	}
	if sev, _, ok := rep.finding("smtp.tls.fingerprint-mismatch"); !ok || sev != "fail" {
		t.Fatalf("findings %+v", rep.Findings)
	}
	_, r = send(t, nil, "", "127.0.0.1:1", "--tls-fingerprint", "sha256:abc")
	if r.code != 2 {
		t.Fatalf("short fingerprint: exit %d", r.code)
	}
}

// --tls-get-peer-cert reports the negotiated details and the chain, PEM
// included, in text output too.
func TestSend_tlsGetPeerCert(t *testing.T) {
	ts := startTLSSendServer(t, nil)
	rep, r := send(t, nil, "", ts.args("--tls-get-peer-cert")...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.out)
	}
	_, d, ok := rep.finding("smtp.tls.peer-chain")
	if !ok || !strings.Contains(d, "TLS 1.3") {
		t.Fatalf("finding %q", d)
	}
	chain, _ := rep.Facts["peer_chain"].([]any)
	if len(chain) == 0 || !strings.Contains(chain[0].(map[string]any)["pem"].(string), "BEGIN CERTIFICATE") {
		t.Fatalf("peer_chain %v", rep.Facts["peer_chain"])
	}
	r = run(t, nil, append([]string{"smtp", "send", "--no-ptr", "--from", "a@test.example", "--to", "b@test.example"}, ts.args("--tls-get-peer-cert", "--quit-after", "starttls")...)...)
	if !strings.Contains(r.out, "BEGIN CERTIFICATE") {
		t.Fatalf("text output without the PEM:\n%s", r.out)
	}
}

// ---------------------------------------------------------------- AUTH and OAuth

func oauthBackend(good string, seen *sasl.OAuthBearerOptions) *sendBackend {
	be := &sendBackend{mechs: []string{sasl.OAuthBearer}}
	be.auth = func(string) (sasl.Server, error) {
		return sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
			*seen = o
			if o.Token == good {
				return nil
			}
			return &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer", Scope: "https://mail.test.example/"}
		}), nil
	}
	return be
}

// OAuth 2.0: the token from a command (or env var) goes as OAUTHBEARER;
// a refused token's JSON error is decoded and explained; the token is
// never printed.
func TestSend_oauth2(t *testing.T) {
	const good = "ya29.good-token-value"
	var seen sasl.OAuthBearerOptions
	addr := startSendServer(t, oauthBackend(good, &seen), nil)
	args := []string{addr, "--tls", "none", "--allow-plaintext-auth", "--user", "alice@test.example", "-v"}
	rep, r := send(t, nil, "", append(args, "--oauth2-token-cmd", "echo "+good)...)
	if r.code != 0 || seen.Token != good || seen.Username != "alice@test.example" {
		t.Fatalf("exit %d seen %+v\n%s%s", r.code, seen, r.out, r.errOut)
	}
	if strings.Contains(r.out+r.errOut, good) {
		t.Fatal("the token was printed")
	}
	if _, d, ok := rep.finding("smtp.auth.ok"); !ok || !strings.Contains(d, "OAUTHBEARER") {
		t.Fatalf("findings %+v", rep.Findings)
	}
	const bad = "ya29.expired-token-value"
	rep, r = send(t, map[string]string{"TOK": bad}, "", append(args, "--oauth2-token-env", "TOK")...)
	// go-smtp ends a failed SASL exchange with 454 (temporary), so the
	// run is incomplete (exit 3) rather than failed.
	if r.code != 3 {
		t.Fatalf("exit %d", r.code)
	}
	if _, d, ok := rep.finding("smtp.auth.oauth-error"); !ok || !strings.Contains(d, "expired") || !strings.Contains(d, "https://mail.test.example/") {
		t.Fatalf("findings %+v", rep.Findings)
	}
	if strings.Contains(r.out+r.errOut, bad) {
		t.Fatal("the token was printed")
	}
	_, r = send(t, nil, "", append(args, "--oauth2-token-cmd", "echo "+good+"; echo oops >&2; exit 3")...)
	if r.code != 2 || !strings.Contains(r.errOut, "exit status 3") || strings.Contains(r.errOut, good) {
		t.Fatalf("failing command: exit %d %q", r.code, r.errOut)
	}
}

// --auth-optional: a refused login is a warning and the message goes
// unauthenticated; without it nothing is sent.
func TestSend_authOptional(t *testing.T) {
	var seen sasl.OAuthBearerOptions
	addr := startSendServer(t, oauthBackend("right", &seen), nil)
	args := []string{addr, "--tls", "none", "--allow-plaintext-auth", "--role", "mx", "--user", "alice@test.example", "--oauth2-token-env", "TOK"}
	vars := map[string]string{"TOK": "wrong-token"}
	rep, _ := send(t, vars, "", args...)
	if rep.stage("mail") != "skipped" {
		t.Fatalf("sent without --auth-optional: %+v", rep.Stages)
	}
	rep, _ = send(t, vars, "", append(args, "--auth-optional")...)
	if rep.stage("queued") != "ok" {
		t.Fatalf("not sent with --auth-optional: %+v", rep.Stages)
	}
}

// ---------------------------------------------------------------- envelope and message

// --cc is a header and a recipient, --bcc a recipient only; DSN, BODY=
// and SMTPUTF8 reach the server; --header replaces, --add-header adds,
// tokens are replaced.
func TestSend_envelopeAndHeaders(t *testing.T) {
	be := &sendBackend{}
	addr := startSendServer(t, be, func(s *smtp.Server) { s.EnableDSN, s.EnableSMTPUTF8 = true, true })
	_, r := send(t, nil, "", addr, "--tls", "none", "--role", "mx", "--cc", "carol@test.example", "--bcc", "dave@test.example",
		"--dsn-ret", "hdrs", "--dsn-envid", "env42", "--dsn-notify", "success,failure", "--dsn-orcpt", "--body-type", "8bitmime", "--smtputf8",
		"--header", "Subject: replaced %FROM_ADDRESS%", "--header", "X-Id: %MESSAGEID%", "--add-header", "Received: x", "--add-header", "Received: y")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.out)
	}
	rcpts, data, mails := be.snapshot()
	if strings.Join(rcpts, " ") != "bob@test.example carol@test.example dave@test.example" {
		t.Fatalf("recipients %v", rcpts)
	}
	msg := string(data[0])
	if !strings.Contains(msg, "Cc: carol@test.example") || strings.Contains(msg, "dave@") {
		t.Fatalf("Cc/Bcc in the message:\n%s", msg)
	}
	if strings.Count(msg, "Subject:") != 1 || !strings.Contains(msg, "Subject: replaced alice@test.example") || strings.Count(msg, "Received:") != 2 {
		t.Fatalf("headers:\n%s", msg)
	}
	var msgID, xid string
	for _, l := range strings.Split(msg, "\r\n") {
		if v, ok := strings.CutPrefix(l, "Message-ID: "); ok {
			msgID = v
		}
		if v, ok := strings.CutPrefix(l, "X-Id: "); ok {
			xid = v
		}
	}
	if msgID == "" || msgID != xid {
		t.Fatalf("%%MESSAGEID%% %q, Message-ID %q", xid, msgID)
	}
	m := mails[0]
	if m.Return != smtp.DSNReturnHeaders || m.EnvelopeID != "env42" || m.Body != smtp.Body8BitMIME || !m.UTF8 {
		t.Fatalf("MAIL options %+v", m)
	}
	be.mu.Lock()
	o := be.rcptOpts[0]
	be.mu.Unlock()
	if len(o.Notify) != 2 || o.OriginalRecipient != "bob@test.example" {
		t.Fatalf("RCPT options %+v", o)
	}
}

// DSN asked of a server without it: the parameters are left out and a
// warning says so (the message still goes).
func TestSend_dsnNotOffered(t *testing.T) {
	be := &sendBackend{}
	addr := startSendServer(t, be, nil)
	rep, r := send(t, nil, "", addr, "--tls", "none", "--role", "mx", "--dsn-notify", "never")
	if r.code != 0 || rep.stage("queued") != "ok" {
		t.Fatalf("exit %d", r.code)
	}
	if sev, _, ok := rep.finding("smtp.send.extension-not-offered"); !ok || sev != "warn" {
		t.Fatalf("findings %+v", rep.Findings)
	}
}

// --body-type binarymime sends with BDAT; --bdat does for any body; a
// body from standard input (--body-file -) and --body-size N.
func TestSend_bdatAndBodySize(t *testing.T) {
	be := &sendBackend{}
	addr := startSendServer(t, be, func(s *smtp.Server) { s.EnableBINARYMIME = true })
	rep, r := send(t, nil, "", addr, "--tls", "none", "--role", "mx", "--body-type", "binarymime", "--body-size", "1000")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.out)
	}
	if !contains(rep.verbs(), "BDAT") || contains(rep.verbs(), "DATA") {
		t.Fatalf("verbs %v", rep.verbs())
	}
	_, data, mails := be.snapshot()
	body := data[0][bytes.Index(data[0], []byte("\r\n\r\n"))+4:]
	if len(body) != 1000 || mails[0].Body != smtp.BodyBinaryMIME {
		t.Fatalf("body %d bytes, BODY=%s", len(body), mails[0].Body)
	}
	rep, r = send(t, nil, "from stdin line\n", addr, "--tls", "none", "--role", "mx", "--bdat", "--body-file", "-")
	if r.code != 0 || !contains(rep.verbs(), "BDAT") {
		t.Fatalf("exit %d verbs %v", r.code, rep.verbs())
	}
	if _, data, _ := be.snapshot(); !bytes.Contains(data[1], []byte("from stdin line")) {
		t.Fatalf("stdin body not sent: %q", data[1])
	}
}

// --eml - reads the message from standard input, tokens replaced.
func TestSend_emlFromStdin(t *testing.T) {
	be := &sendBackend{}
	addr := startSendServer(t, be, nil)
	_, r := send(t, nil, "From: a@test.example\r\nDate: %DATE%\r\nSubject: t\r\n\r\nhi %TO_ADDRESS%\r\n", addr, "--tls", "none", "--role", "mx", "--eml", "-")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.out)
	}
	_, data, _ := be.snapshot()
	if !bytes.Contains(data[0], []byte("hi bob@test.example")) || bytes.Contains(data[0], []byte("%DATE%")) {
		t.Fatalf("message %q", data[0])
	}
}

// --requiretls to a server that does not offer REQUIRETLS: nothing sent.
func TestSend_requireTLSNotOffered(t *testing.T) {
	be := &sendBackend{}
	addr := startSendServer(t, be, nil)
	rep, r := send(t, nil, "", addr, "--tls", "none", "--role", "mx", "--requiretls")
	if r.code != 1 || rep.stage("mail") != "skipped" {
		t.Fatalf("exit %d stages %+v", r.code, rep.Stages)
	}
	if _, data, _ := be.snapshot(); len(data) != 0 {
		t.Fatal("sent without REQUIRETLS")
	}
}

// --requiretls over STARTTLS to go-smtp with REQUIRETLS: the parameter
// reaches the server.
func TestSend_requireTLS(t *testing.T) {
	ts := startTLSSendServer(t, nil)
	// startTLSSendServer's go-smtp has REQUIRETLS off; start another.
	be := &sendBackend{}
	addr := startSendServer(t, be, func(s *smtp.Server) {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{ts.cert.TLS}}
		s.EnableREQUIRETLS = true
	})
	_, r := send(t, nil, "", addr, "--tls", "starttls", "--role", "mx", "--ca-file", ts.ca, "--servername", "mail.test.example", "--requiretls")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.out)
	}
	if _, _, mails := be.snapshot(); len(mails) != 1 || !mails[0].RequireTLS {
		t.Fatalf("MAIL options %+v", mails)
	}
}

// ---------------------------------------------------------------- pipelining and output

// --pipeline: MAIL, RCPT and DATA in one write when offered; refused
// (nothing sent) when not offered; forced with --pipeline force.
func TestSend_pipeline(t *testing.T) {
	var mu sync.Mutex
	var groups int
	hook := func(c *testserver.Conn, line string) bool {
		if strings.HasPrefix(line, "MAIL") && c.R.Buffered() > 0 {
			mu.Lock()
			groups++ // RCPT arrived with MAIL: one write
			mu.Unlock()
		}
		return false
	}
	plain := testserver.Start(t, testserver.SMTP{Caps: []string{"SIZE 1000000", "8BITMIME"}, Hook: hook}.Handler())
	rep, r := send(t, nil, "", plain, "--tls", "none", "--role", "mx", "--pipeline")
	if r.code != 1 || rep.stage("mail") != "skipped" {
		t.Fatalf("exit %d stages %+v", r.code, rep.Stages)
	}
	if _, _, ok := rep.finding("smtp.pipelining.not-offered"); !ok {
		t.Fatalf("findings %+v", rep.Findings)
	}
	rep, r = send(t, nil, "", plain, "--tls", "none", "--role", "mx", "--force-pipeline")
	if r.code != 0 || rep.stage("queued") != "ok" {
		t.Fatalf("force: exit %d\n%s", r.code, r.out)
	}
	be := &sendBackend{}
	addr := startSendServer(t, be, nil)
	if _, r := send(t, nil, "", addr, "--tls", "none", "--role", "mx", "--pipeline"); r.code != 0 {
		t.Fatalf("offered: exit %d", r.code)
	}
}

// --silent 1 prints nothing on success and the report on failure;
// --silent 2 prints nothing at all; the exit code still tells.
func TestSend_silent(t *testing.T) {
	addr := startSendServer(t, &sendBackend{}, nil)
	_, r := send(t, nil, "", addr, "--tls", "none", "--role", "mx", "--silent")
	if r.code != 0 || r.out != "" {
		t.Fatalf("silent success: exit %d out %q", r.code, r.out)
	}
	closed := testserver.ClosedPort(t)
	_, r = send(t, nil, "", closed, "--tls", "none", "--silent")
	if r.code == 0 || !strings.Contains(r.out, "smtp.connect.failed") {
		t.Fatalf("silent failure: exit %d out %q", r.code, r.out)
	}
	_, r = send(t, nil, "", closed, "--tls", "none", "--silent=2")
	if r.code == 0 || r.out != "" {
		t.Fatalf("silent 2: exit %d out %q", r.code, r.out)
	}
}

// --dump prints the effective options with the password masked and
// connects nowhere.
func TestSend_dump(t *testing.T) {
	r := run(t, map[string]string{"PW": "Hunter2-secret"}, "smtp", "send", testserver.ClosedPort(t), "--from", "a@test.example", "--to", "b@test.example",
		"--user", "a@test.example", "--password", "Hunter2-secret", "--quit-after", "rcpt", "--dump")
	if r.code != 0 || strings.Contains(r.out+r.errOut, "Hunter2") {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	for _, want := range []string{"--quit-after", "rcpt (set)", "--password", "********", "envelope to", "b@test.example"} {
		if !strings.Contains(r.out, want) {
			t.Fatalf("dump lacks %q:\n%s", want, r.out)
		}
	}
}

// The OAuth flags of smtp check, imap audit and reset send --imap reach
// their engines: the token as the password, marked as a token, the
// mechanism chosen.
func TestOAuthFlags_reachTheEngines(t *testing.T) {
	var seen sasl.OAuthBearerOptions
	addr := startSendServer(t, oauthBackend("tok-check-1", &seen), nil)
	r := run(t, map[string]string{"T": "tok-check-1"}, "smtp", "check", addr, "--no-ptr", "--tls", "none", "--allow-plaintext-auth", "--role", "mx",
		"--user", "alice@test.example", "--oauth2-token-env", "T", "--format", "json")
	if !strings.Contains(r.out, `"smtp.auth.ok"`) || seen.Token != "tok-check-1" || strings.Contains(r.out, "tok-check-1") {
		t.Fatalf("smtp check: exit %d seen %+v\n%s%s", r.code, seen, r.out, r.errOut)
	}

	io, _, _, errOut := iostreams.Test()
	io.Getenv = func(k string) string { return map[string]string{"T": "tok-imap-2"}[k] }
	var got any
	env := &Env{IO: io, inspect: func(v any) { got = v }}
	if code := Main([]string{"imap", "audit", "127.0.0.1:1", "--user", "me@test.example", "--oauth2-token-env", "T", "--oauth2-mech", "xoauth2"}, env); code != 0 {
		t.Fatalf("imap audit: exit %d %s", code, errOut)
	}
	if o := got.(imapaudit.Options); !o.OAuth || o.Password != "tok-imap-2" || o.OAuthMech != "XOAUTH2" {
		t.Fatalf("imap audit options %+v", o)
	}
	if code := Main([]string{"reset", "send", "--smtp", "127.0.0.1:1", "--from", "a@test.example", "--to", "me@test.example", "--imap", "127.0.0.1:2",
		"--imap-oauth2-token-cmd", "echo tok-reset-3"}, env); code != 0 {
		t.Fatalf("reset send: exit %d %s", code, errOut)
	}
	if o := got.(resetmail.Options); !o.IMAP.OAuth || o.IMAP.Password != "tok-reset-3" || o.IMAP.User != "me@test.example" {
		t.Fatalf("reset send IMAP options %+v", o.IMAP)
	}
	_, r2 := send(t, nil, "", "127.0.0.1:1", "--user", "a@test.example", "--password", "pw-x", "--oauth2-token-cmd", "echo t")
	if r2.code != 2 || !strings.Contains(r2.errOut, "not both") {
		t.Fatalf("password and token: exit %d %s", r2.code, r2.errOut)
	}
}
