package dialogue

// Test servers for the script runner and the shell: go-smtp as a
// well-behaved peer (STARTTLS with a certificate made for the test, AUTH
// PLAIN, LOGIN and CRAM-MD5), and raw TCP handlers for servers that
// misbehave.

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

const (
	testUser     = "alice@test.local"
	testPassword = "s3cret-Pa55word!"
)

// testCerts is a CA and a server certificate for 127.0.0.1 and localhost.
type testCerts struct {
	server tls.Certificate
	pool   *x509.CertPool
}

var (
	certsOnce sync.Once
	certsVal  *testCerts
)

func newTestCerts(t testing.TB) *testCerts {
	t.Helper()
	certsOnce.Do(func() {
		now := time.Now()
		caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		ca := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailprobe test CA"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * 24 * time.Hour),
			KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		}
		caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
		if err != nil {
			panic(err)
		}
		caCert, _ := x509.ParseCertificate(caDER)
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		leaf := &x509.Certificate{
			SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "mail.test.local"},
			DNSNames: []string{"mail.test.local", "localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * 24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
		if err != nil {
			panic(err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(caCert)
		certsVal = &testCerts{server: tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: key}, pool: pool}
	})
	return certsVal
}

// ---- go-smtp ----

type smtpOpts struct {
	STARTTLS     bool // offer STARTTLS
	Implicit     bool // TLS before the greeting
	InsecureAuth bool // AUTH without TLS
	SMTPUTF8     bool
}

type testMsg struct {
	From string
	To   []string
	Data string
}

type testBackend struct {
	mu   sync.Mutex
	msgs []testMsg
}

func (b *testBackend) messages() []testMsg {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]testMsg(nil), b.msgs...)
}

func (b *testBackend) NewSession(c *smtp.Conn) (smtp.Session, error) { return &testSession{b: b}, nil }

type testSession struct {
	b    *testBackend
	from string
	to   []string
}

func (s *testSession) AuthMechanisms() []string {
	return []string{sasl.Plain, sasl.Login, "CRAM-MD5"}
}

var errBadCredentials = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}

func checkCreds(user, pass string) error {
	if user == testUser && pass == testPassword {
		return nil
	}
	return errBadCredentials
}

func (s *testSession) Auth(mech string) (sasl.Server, error) {
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return checkCreds(user, pass) }), nil
	case sasl.Login:
		return &loginServer{}, nil
	case "CRAM-MD5":
		return &cramServer{}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

type loginServer struct {
	state int
	user  string
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.state {
	case 0:
		l.state = 1
		if resp != nil {
			l.user, l.state = string(resp), 2
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.user, l.state = string(resp), 2
		return []byte("Password:"), false, nil
	}
	return nil, true, checkCreds(l.user, string(resp))
}

type cramServer struct{ sent bool }

const cramChallenge = "<1896.697170952@mail.test.local>"

func (c *cramServer) Next(resp []byte) ([]byte, bool, error) {
	if !c.sent {
		c.sent = true
		return []byte(cramChallenge), false, nil
	}
	user, digest, _ := strings.Cut(string(resp), " ")
	m := hmac.New(md5.New, []byte(testPassword))
	m.Write([]byte(cramChallenge))
	if user != testUser || digest != hex.EncodeToString(m.Sum(nil)) {
		return nil, true, errBadCredentials
	}
	return nil, true, nil
}

func (s *testSession) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }

func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if strings.HasSuffix(to, ".invalid") {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "<" + to + ">: Relay access denied"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, testMsg{From: s.from, To: s.to, Data: string(b)})
	s.b.mu.Unlock()
	return nil
}

func (s *testSession) Reset()        { s.from, s.to = "", nil }
func (s *testSession) Logout() error { return nil }

// startGoSMTP runs a go-smtp server on loopback for the test's lifetime.
func startGoSMTP(t testing.TB, o smtpOpts) (string, *testBackend) {
	t.Helper()
	be := &testBackend{}
	srv := smtp.NewServer(be)
	srv.Domain = "mail.test.local"
	srv.AllowInsecureAuth = o.InsecureAuth
	srv.EnableSMTPUTF8 = o.SMTPUTF8
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	certs := newTestCerts(t)
	cfg := &tls.Config{Certificates: []tls.Certificate{certs.server}}
	if o.STARTTLS || o.Implicit {
		srv.TLSConfig = cfg
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.Implicit {
		l = tls.NewListener(l, cfg)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String(), be
}

// ---- raw servers ----

// startRaw serves each connection with handler on loopback. Handlers get
// a line reader; the connection is closed when the handler returns.
func startRaw(t testing.TB, handler func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handler(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// ehloOK answers an EHLO with a few capabilities.
func ehloOK(c net.Conn, br *bufio.Reader) {
	srvLine(br)
	io.WriteString(c, "250-raw.test Hello\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
}

func srvLine(br *bufio.Reader) string {
	l, _ := br.ReadString('\n')
	return strings.TrimRight(l, "\r\n")
}

// hostPort splits a listener address for RunOptions.
func hostPort(t testing.TB, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port := 0
	for _, c := range p {
		port = port*10 + int(c-'0')
	}
	return h, port
}
