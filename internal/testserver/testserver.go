// Package testserver runs the servers mailprobe's tests talk to: real
// go-smtp servers for the well-behaved cases, and small hand-written TCP
// servers for the misbehaviour real servers show in the wild (silence,
// garbage, endless lines, slow drip, resets, TLS alerts, a 421 banner,
// STARTTLS command injection). Every server listens on 127.0.0.1:0 and is
// closed by t.Cleanup, with its connections.
package testserver

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Conn is the server side of one connection.
type Conn struct {
	net.Conn
	R *bufio.Reader
	// beforeWait runs when Line is about to wait for the client (nothing
	// left in R): a batching server sends its held replies then.
	beforeWait func()
}

// Line reads one line without its CRLF.
func (c *Conn) Line() (string, error) {
	if c.beforeWait != nil && c.R.Buffered() == 0 {
		c.beforeWait()
	}
	s, err := c.R.ReadString('\n')
	return strings.TrimRight(s, "\r\n"), err
}

// Send writes s with CRLF line ends added to each line.
func (c *Conn) Send(lines ...string) {
	for _, l := range lines {
		_, _ = c.Write([]byte(l + "\r\n"))
	}
}

// batchWriter holds what the server writes until it flushes.
type batchWriter struct {
	net.Conn
	held []byte
}

func (b *batchWriter) Write(p []byte) (int, error) {
	b.held = append(b.held, p...)
	return len(p), nil
}

func (b *batchWriter) flush() {
	if len(b.held) > 0 {
		_, _ = b.Conn.Write(b.held)
		b.held = nil
	}
}

// BatchReplies makes c answer like a pipelining server (RFC 2920 §3.2):
// the replies to every command the client sent in one group leave in one
// write, when the server has read the whole group. A client that takes
// its seq numbers from the recorder's position instead of the lines each
// reply consumed cites the wrong lines against it.
func (c *Conn) BatchReplies() {
	b := &batchWriter{Conn: c.Conn}
	c.Conn = b
	c.beforeWait = b.flush
}

// UpgradeTLS runs the server side of a TLS handshake with cert.
func (c *Conn) UpgradeTLS(cert tls.Certificate) error {
	tc := tls.Server(c.Conn, &tls.Config{Certificates: []tls.Certificate{cert}})
	if err := tc.Handshake(); err != nil {
		return err
	}
	c.Conn = tc
	c.R = bufio.NewReader(tc)
	return nil
}

// Handler serves one connection; the connection is closed when it returns.
type Handler func(c *Conn)

// Start serves h on a loopback port and returns the address.
func Start(t testing.TB, h Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	var wg sync.WaitGroup
	done := make(chan struct{})
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			select {
			case <-done:
				mu.Unlock()
				nc.Close()
				return
			default:
			}
			conns[nc] = true
			wg.Add(1)
			mu.Unlock()
			go func() {
				defer wg.Done()
				defer func() {
					mu.Lock()
					delete(conns, nc)
					mu.Unlock()
					nc.Close()
				}()
				h(&Conn{Conn: nc, R: bufio.NewReader(nc)})
			}()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		close(done)
		ln.Close()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// Cert is a server certificate and a pool that trusts it.
type Cert struct {
	TLS  tls.Certificate
	Pool *x509.CertPool
	Leaf *x509.Certificate
	CA   *x509.Certificate // the issuer (the leaf itself when self-signed)
}

// CertOptions shape a test certificate.
type CertOptions struct {
	Names     []string // DNS names; default "mail.test.example"
	NotBefore time.Time
	NotAfter  time.Time
	SelfSign  bool // no CA: the leaf signs itself
}

// NewCert makes a CA-signed (or self-signed) ECDSA certificate.
func NewCert(t testing.TB, o CertOptions) Cert {
	t.Helper()
	if len(o.Names) == 0 {
		o.Names = []string{"mail.test.example"}
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(90 * 24 * time.Hour)
	}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	leafKey := key()
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: o.Names[0]},
		DNSNames:     o.Names,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    o.NotBefore, NotAfter: o.NotAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	pool := x509.NewCertPool()
	var caCert *x509.Certificate
	var der, caDER []byte
	var err error
	if o.SelfSign {
		der, err = x509.CreateCertificate(rand.Reader, leaf, leaf, &leafKey.PublicKey, leafKey)
	} else {
		caKey := key()
		ca := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "testserver CA"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
			KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		}
		caDER, err = x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		caCert, _ = x509.ParseCertificate(caDER)
		pool.AddCert(caCert)
		der, err = x509.CreateCertificate(rand.Reader, leaf, caCert, &leafKey.PublicKey, caKey)
	}
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := x509.ParseCertificate(der)
	if o.SelfSign {
		pool.AddCert(parsed)
		caCert = parsed
	}
	chain := [][]byte{der}
	if caDER != nil {
		chain = append(chain, caDER)
	}
	return Cert{TLS: tls.Certificate{Certificate: chain, PrivateKey: leafKey, Leaf: parsed}, Pool: pool, Leaf: parsed, CA: caCert}
}

// ClosedPort returns a loopback address nothing listens on: a port taken
// from the kernel and released, so a connection to it is refused (a
// fixed port such as 1 may be in use on a developer's machine).
func ClosedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
