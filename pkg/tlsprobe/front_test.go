package tlsprobe

// In-process mail servers for the tests: a plaintext SMTP, IMAP or POP3
// front that hands the connection to a TLS backend at STARTTLS (Go's
// crypto/tls server, the scripted raw responder, or a proxy to openssl
// s_server), with switches for the misbehaviours the scanner must
// diagnose: a refusal before TLS, a STARTTLS that is refused, a server
// vulnerable to STARTTLS command injection, one that answers pipelined
// commands in plaintext.

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testPKI is a CA and leaf certificates for mail.test and 127.0.0.1.
type testPKI struct {
	pool    *x509.CertPool
	rsa     tls.Certificate
	ecdsa   tls.Certificate
	rsaPEM  []byte // leaf certificate PEM
	keyPEM  []byte // RSA key PEM
	caPEM   []byte
	rsaLeaf []byte // DER
}

var (
	pkiOnce sync.Once
	pki     *testPKI
)

func getPKI(t testing.TB) *testPKI {
	t.Helper()
	pkiOnce.Do(func() {
		caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		now := time.Now()
		caT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailprobe test CA"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign}
		caDER, err := x509.CreateCertificate(rand.Reader, caT, caT, &caKey.PublicKey, caKey)
		if err != nil {
			panic(err)
		}
		ca, _ := x509.ParseCertificate(caDER)
		leaf := func(pub, priv any, serial int64) ([]byte, tls.Certificate) {
			lt := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "mail.test"},
				DNSNames: []string{"mail.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
				NotBefore: now.Add(-time.Hour), NotAfter: now.Add(200 * 24 * time.Hour),
				KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
			der, err := x509.CreateCertificate(rand.Reader, lt, ca, pub, caKey)
			if err != nil {
				panic(err)
			}
			return der, tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: priv}
		}
		rk, _ := rsa.GenerateKey(rand.Reader, 2048)
		ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		p := &testPKI{pool: x509.NewCertPool()}
		p.pool.AddCert(ca)
		p.rsaLeaf, p.rsa = leaf(&rk.PublicKey, rk, 2)
		_, p.ecdsa = leaf(&ek.PublicKey, ek, 3)
		p.rsaPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.rsaLeaf})
		p.keyPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)})
		p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
		pki = p
	})
	return pki
}

// writePEM writes the RSA leaf (with the CA) and key for openssl.
func (p *testPKI) writePEM(t testing.TB) (cert, key string) {
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, append(append([]byte(nil), p.rsaPEM...), p.caPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, p.keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// frontOpts configures a front.
type frontOpts struct {
	proto    Proto
	greeting string // replaces the greeting line (e.g. a 421)
	// refuseAfter: connections after the first refuseAfter get refusal
	// instead of the greeting (a connection-rate limit).
	refuseAfter int
	refusal     string
	ehlo        string   // replaces the EHLO reply
	caps        []string // replaces the capabilities (IMAP, POP3)
	starttls    string   // replaces the go-ahead (e.g. "454 4.7.0 TLS not available")
	// vulnerable: lines read before the handshake are answered inside
	// TLS (CVE-2011-0411). plainPipelined: answered in plaintext before
	// the handshake.
	vulnerable     bool
	plainPipelined bool
	silent         bool // accept and say nothing
	authBeforeTLS  bool // SMTP: advertise AUTH PLAIN LOGIN before STARTTLS
	// backend takes over after the go-ahead (or at once for proto none);
	// leftover is what the front read past the STARTTLS line.
	backend func(f *front, c net.Conn, leftover []byte)
}

type front struct {
	o     frontOpts
	l     *listener
	n     atomic.Int64
	goCfg *tls.Config
}

func startFront(t testing.TB, o frontOpts) *front {
	t.Helper()
	f := &front{o: o}
	f.l = startListener(t, f.handle)
	return f
}

func (f *front) port() int { return f.l.port() }

// goBackend is crypto/tls with cfg, followed by a command loop.
func goBackend(cfg *tls.Config) func(*front, net.Conn, []byte) {
	return func(f *front, c net.Conn, leftover []byte) {
		tc := tls.Server(c, cfg)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			return
		}
		var pending []string
		if f.o.vulnerable {
			// The bug: input buffered before the handshake is treated as
			// if it had arrived over TLS.
			pending = strings.SplitAfter(string(leftover), "\n")
		}
		br := bufio.NewReader(tc)
		for {
			var line string
			if len(pending) > 0 && pending[0] != "" {
				line, pending = pending[0], pending[1:]
			} else {
				var err error
				if line, err = br.ReadString('\n'); err != nil {
					return
				}
			}
			reply, quit, _ := f.respond(strings.TrimRight(line, "\r\n"), true)
			io.WriteString(tc, reply)
			if quit {
				tc.Close()
				return
			}
		}
	}
}

// rawBackend is the scripted responder.
func rawBackend(rs *rawServer) func(*front, net.Conn, []byte) {
	return func(f *front, c net.Conn, _ []byte) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		rs.serve(c, bufio.NewReader(c))
	}
}

// proxyBackend relays the connection to addr (an openssl s_server).
func proxyBackend(addr string) func(*front, net.Conn, []byte) {
	return func(f *front, c net.Conn, _ []byte) {
		b, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		defer b.Close()
		done := make(chan struct{}, 2)
		go func() { io.Copy(b, c); done <- struct{}{} }()
		go func() { io.Copy(c, b); done <- struct{}{} }()
		<-done
	}
}

func (f *front) handle(c net.Conn) {
	n := f.n.Add(1)
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if f.o.silent {
		io.Copy(io.Discard, c)
		return
	}
	if f.o.proto == ProtoNone {
		f.o.backend(f, c, nil)
		return
	}
	greet := map[Proto]string{
		ProtoSMTP: "220 mail.test ESMTP test",
		ProtoIMAP: "* OK IMAP4rev1 test ready",
		ProtoPOP3: "+OK POP3 test ready",
	}[f.o.proto]
	if f.o.greeting != "" {
		greet = f.o.greeting
	}
	if f.o.refuseAfter > 0 && int(n) > f.o.refuseAfter {
		io.WriteString(c, f.o.refusal+"\r\n")
		return
	}
	io.WriteString(c, greet+"\r\n")
	if strings.HasPrefix(greet, "421") || strings.HasPrefix(greet, "* BYE") || strings.HasPrefix(greet, "-ERR") {
		return
	}
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		reply, quit, upgrade := f.respond(strings.TrimRight(line, "\r\n"), false)
		if upgrade {
			leftover, _ := br.Peek(br.Buffered())
			leftover = append([]byte(nil), leftover...)
			if f.o.plainPipelined {
				// The answers to the pipelined commands go out in the
				// same write as the go-ahead, so they are in plaintext
				// before the client can start its handshake.
				for _, l := range strings.SplitAfter(string(leftover), "\n") {
					if l != "" {
						r, _, _ := f.respond(strings.TrimRight(l, "\r\n"), false)
						reply += r
					}
				}
			}
			io.WriteString(c, reply)
			f.o.backend(f, c, leftover)
			return
		}
		io.WriteString(c, reply)
		if quit {
			return
		}
	}
}

// respond answers one command line: the reply, whether to hang up, and
// whether the connection now upgrades to TLS.
func (f *front) respond(line string, inTLS bool) (reply string, quit, upgrade bool) {
	switch f.o.proto {
	case ProtoSMTP:
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		switch verb {
		case "EHLO":
			if f.o.ehlo != "" {
				return f.o.ehlo + "\r\n", strings.HasPrefix(f.o.ehlo, "421"), false
			}
			r := "250-mail.test\r\n250-PIPELINING\r\n"
			if !inTLS {
				r += "250-STARTTLS\r\n"
			}
			if inTLS || f.o.authBeforeTLS {
				r += "250-AUTH PLAIN LOGIN\r\n"
			}
			return r + "250 SIZE 10240000\r\n", false, false
		case "STARTTLS":
			if f.o.starttls != "" {
				return f.o.starttls + "\r\n", strings.HasPrefix(f.o.starttls, "421"), false
			}
			return "220 2.0.0 Ready to start TLS\r\n", false, true
		case "NOOP":
			return "250 2.0.0 Ok\r\n", false, false
		case "QUIT":
			return "221 2.0.0 Bye\r\n", true, false
		}
		return "502 5.5.2 Error: command not recognized\r\n", false, false
	case ProtoIMAP:
		fs := strings.Fields(line)
		if len(fs) < 2 {
			return "* BAD syntax\r\n", false, false
		}
		tag, cmd := fs[0], strings.ToUpper(fs[1])
		switch cmd {
		case "CAPABILITY":
			caps := "IMAP4rev1 STARTTLS LOGINDISABLED AUTH=SCRAM-SHA-256"
			if f.o.caps != nil {
				caps = strings.Join(f.o.caps, " ")
			}
			return "* CAPABILITY " + caps + "\r\n" + tag + " OK CAPABILITY completed\r\n", false, false
		case "STARTTLS":
			if f.o.starttls != "" {
				return tag + " " + f.o.starttls + "\r\n", false, false
			}
			return tag + " OK Begin TLS negotiation now\r\n", false, true
		case "NOOP":
			return tag + " OK NOOP completed\r\n", false, false
		case "LOGOUT":
			return "* BYE logging out\r\n" + tag + " OK LOGOUT completed\r\n", true, false
		}
		return tag + " BAD unknown command\r\n", false, false
	case ProtoPOP3:
		switch strings.ToUpper(strings.Fields(line + " x")[0]) {
		case "CAPA":
			caps := []string{"STLS", "SASL SCRAM-SHA-256", "PIPELINING"}
			if f.o.caps != nil {
				caps = f.o.caps
			}
			return "+OK Capability list follows\r\n" + strings.Join(caps, "\r\n") + "\r\n.\r\n", false, false
		case "STLS":
			if f.o.starttls != "" {
				return f.o.starttls + "\r\n", false, false
			}
			return "+OK Begin TLS negotiation\r\n", false, true
		case "NOOP":
			return "-ERR NOOP is not valid in the AUTHORIZATION state\r\n", false, false
		case "QUIT":
			return "+OK Logging out\r\n", true, false
		}
		return "-ERR unknown command\r\n", false, false
	}
	return "", true, false
}

// goConfig is a crypto/tls server configuration with the test certificate.
func goConfig(t testing.TB, minV, maxV uint16, suites []uint16, curves []tls.CurveID) *tls.Config {
	p := getPKI(t)
	return &tls.Config{
		Certificates:     []tls.Certificate{p.rsa},
		MinVersion:       minV,
		MaxVersion:       maxV,
		CipherSuites:     suites,
		CurvePreferences: curves,
	}
}
