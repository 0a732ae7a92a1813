package dnsauth_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/pkg/dnsauth"
	"github.com/mailprobe/mailprobe/pkg/netx"
)

func selfSigned(t *testing.T, host string) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// smtpServer is a minimal MX: greeting, EHLO (with or without STARTTLS),
// STARTTLS, QUIT. It speaks just enough SMTP for the DANE check.
func smtpServer(t *testing.T, cert tls.Certificate, starttls bool) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				br := bufio.NewReader(c)
				fmt.Fprint(c, "220 mx.dane.test ESMTP\r\n")
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					cmd := strings.ToUpper(strings.TrimSpace(line))
					switch {
					case strings.HasPrefix(cmd, "EHLO"):
						if starttls {
							fmt.Fprint(c, "250-mx.dane.test\r\n250 STARTTLS\r\n")
						} else {
							fmt.Fprint(c, "250 mx.dane.test\r\n")
						}
					case cmd == "STARTTLS":
						fmt.Fprint(c, "220 go ahead\r\n")
						tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
						if tc.Handshake() != nil {
							return
						}
						c, br = tc, bufio.NewReader(tc)
					case cmd == "QUIT":
						fmt.Fprint(c, "221 bye\r\n")
						return
					default:
						fmt.Fprint(c, "502 no\r\n")
					}
				}
			}(c)
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func tlsaData(c *x509.Certificate, selector, matching uint8) string {
	content := c.Raw
	if selector == 1 {
		content = c.RawSubjectPublicKeyInfo
	}
	switch matching {
	case 1:
		h := sha256.Sum256(content)
		return hex.EncodeToString(h[:])
	case 2:
		h := sha512.Sum512(content)
		return hex.EncodeToString(h[:])
	}
	return hex.EncodeToString(content)
}

func TestCheckDANE_connect(t *testing.T) {
	cert := selfSigned(t, "mx.dane.test")
	other := selfSigned(t, "mx.dane.test")
	port := smtpServer(t, cert, true)
	noTLSPort := smtpServer(t, cert, false)
	cases := []struct {
		name   string
		tlsa   []string // usage selector matching data
		secure bool
		port   int
		want   []string
		not    []string
	}{
		{"DANE-EE SPKI SHA-256", []string{"3 1 1 " + tlsaData(cert.Leaf, 1, 1)}, true, port, []string{"dane.cert.match"}, []string{"dane.tlsa.insecure"}},
		{"DANE-EE full cert SHA-512", []string{"3 0 2 " + tlsaData(cert.Leaf, 0, 2)}, true, port, []string{"dane.cert.match"}, nil},
		{"DANE-EE exact", []string{"3 1 0 " + tlsaData(cert.Leaf, 1, 0)}, true, port, []string{"dane.cert.match"}, nil},
		{"DANE-TA self-issued", []string{"2 0 1 " + tlsaData(cert.Leaf, 0, 1)}, true, port, []string{"dane.cert.match"}, nil},
		{"rotated key", []string{"3 1 1 " + tlsaData(other.Leaf, 1, 1)}, true, port, []string{"dane.cert.mismatch"}, []string{"dane.cert.match"}},
		{"one of two matches", []string{"3 1 1 " + tlsaData(other.Leaf, 1, 1), "3 1 1 " + tlsaData(cert.Leaf, 1, 1)}, true, port, []string{"dane.cert.match"}, nil},
		{"not validated", []string{"3 1 1 " + tlsaData(cert.Leaf, 1, 1)}, false, port, []string{"dane.tlsa.insecure", "dane.cert.match"}, nil},
		{"PKIX-EE usage", []string{"1 1 1 " + tlsaData(cert.Leaf, 1, 1)}, true, port, []string{"dane.tlsa.pkix-usage"}, nil},
		{"short digest", []string{"3 1 1 abcdef"}, true, port, []string{"dane.tlsa.invalid", "dane.cert.mismatch"}, nil},
		{"no STARTTLS", []string{"3 1 1 " + tlsaData(cert.Leaf, 1, 1)}, true, noTLSPort, []string{"dane.cert.mismatch"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			z := dnstest.NewZone().MustAdd("mx.dane.test. 300 IN A 127.0.0.1")
			for _, rec := range c.tlsa {
				z.MustAdd("_" + strconv.Itoa(c.port) + "._tcp.mx.dane.test. 300 IN TLSA " + rec)
			}
			if c.secure {
				z.Mark("dane.test.", 0, dnstest.Secure)
			}
			srv := dnstest.Start(t, z)
			dc := dnsauth.CheckDANE(context.Background(), newResolver(t, srv), []string{"mx.dane.test"},
				dnsauth.DANEOptions{Connect: true, Port: c.port, Timeouts: netx.Timeouts{Connect: 2 * time.Second, Command: 2 * time.Second, TLS: 2 * time.Second}})
			expectCodes(t, dc.Findings(), c.want, c.not)
		})
	}
}

func TestCheckDANE_records(t *testing.T) {
	z := dnstest.NewZone().MustAdd(
		"_25._tcp.mx1.dane.test. 300 IN TLSA 3 1 1 "+strings.Repeat("ab", 32),
		"_25._tcp.mx2.dane.test. 300 IN TLSA 3 1 1 "+strings.Repeat("ab", 32),
	)
	z.Mark("dane.test.", 0, dnstest.Secure)
	z.Mark("_25._tcp.mx3.dane.test.", dns.TypeTLSA, dnstest.ServFail)
	srv := dnstest.Start(t, z)
	r := newResolver(t, srv)
	expectCodes(t, dnsauth.CheckDANE(context.Background(), r, []string{"mx1.dane.test", "mx2.dane.test"}, dnsauth.DANEOptions{}).Findings(),
		[]string{"dane.tlsa.ok"}, []string{"dane.tlsa.partial", "dane.tlsa.missing"})
	expectCodes(t, dnsauth.CheckDANE(context.Background(), r, []string{"mx1.dane.test", "none.dane.test"}, dnsauth.DANEOptions{}).Findings(),
		[]string{"dane.tlsa.partial"}, nil)
	expectCodes(t, dnsauth.CheckDANE(context.Background(), r, []string{"none.dane.test"}, dnsauth.DANEOptions{}).Findings(),
		[]string{"dane.tlsa.missing"}, nil)
	dc := dnsauth.CheckDANE(context.Background(), r, []string{"mx3.dane.test"}, dnsauth.DANEOptions{})
	expectCodes(t, dc.Findings(), []string{"dane.dns.error"}, nil)
	if dc.DNSError == "" {
		t.Error("DNS error not reported")
	}
}

func TestCheckTLSAParams(t *testing.T) {
	ok := dnsauth.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: strings.Repeat("00", 32)}
	if err := dnsauth.CheckTLSAParams(ok); err != nil {
		t.Error(err)
	}
	for _, bad := range []dnsauth.TLSA{
		{Usage: 4, Selector: 1, MatchingType: 1, Data: strings.Repeat("00", 32)},
		{Usage: 3, Selector: 2, MatchingType: 1, Data: strings.Repeat("00", 32)},
		{Usage: 3, Selector: 1, MatchingType: 3, Data: strings.Repeat("00", 32)},
		{Usage: 3, Selector: 1, MatchingType: 2, Data: strings.Repeat("00", 32)},
		{Usage: 3, Selector: 1, MatchingType: 0, Data: "zz"},
	} {
		if dnsauth.CheckTLSAParams(bad) == nil {
			t.Errorf("accepted %v", bad)
		}
	}
}
