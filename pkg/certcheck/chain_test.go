package certcheck

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// pki is a root, an intermediate and a leaf, as public CAs issue them.
type pki struct {
	root, inter, leaf *x509.Certificate
	roots             *x509.CertPool
}

type pkiOpts struct {
	interSHA1  bool // intermediate signed by the root with SHA-1
	interRSA   int  // intermediate RSA key size (default ECDSA P-256)
	mustStaple bool
	scts       int // SCTs embedded in the leaf
}

func newPKI(t *testing.T, o pkiOpts) *pki {
	t.Helper()
	mk := func(tmpl, parent *x509.Certificate, pub, key any) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c
	}
	rootKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rootT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Root CA"},
		NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(3650 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	root := mk(rootT, rootT, &rootKey.PublicKey, rootKey)
	var interPub, interKey any
	if o.interRSA > 0 {
		k, _ := rsa.GenerateKey(rand.Reader, o.interRSA)
		interPub, interKey = &k.PublicKey, k
	} else {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		interPub, interKey = &k.PublicKey, k
	}
	interT := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Intermediate CA"},
		NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(1000 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		IssuingCertificateURL: []string{"http://ca.example/root.der"}}
	if o.interSHA1 {
		interT.SignatureAlgorithm = x509.SHA1WithRSA
	}
	inter := mk(interT, root, interPub, rootKey)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafT := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "mail.example.com"}, DNSNames: []string{"mail.example.com"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * 24 * time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IssuingCertificateURL: []string{"http://ca.example/inter.der"}}
	if o.mustStaple {
		v, _ := asn1.Marshal([]int{5})
		leafT.ExtraExtensions = append(leafT.ExtraExtensions, pkix.Extension{Id: oidTLSFeature, Value: v})
	}
	if o.scts > 0 {
		var list []byte
		for range o.scts {
			list = append(list, 0, 4, 0, 1, 2, 3)
		}
		v, _ := asn1.Marshal(append([]byte{byte(len(list) >> 8), byte(len(list))}, list...))
		leafT.ExtraExtensions = append(leafT.ExtraExtensions, pkix.Extension{Id: oidSCTList, Value: v})
	}
	leaf := mk(leafT, inter, &leafKey.PublicKey, interKey)
	pool := x509.NewCertPool()
	pool.AddCert(root)
	return &pki{root, inter, leaf, pool}
}

func analyzeChain(p *pki, chain ...*x509.Certificate) Result {
	return Analyze(tls.ConnectionState{PeerCertificates: chain}, Options{ServerName: "mail.example.com", Roots: p.roots, Now: now})
}

func findingOf(r Result, code string) (report.Finding, bool) {
	for _, f := range r.Findings {
		if f.Code == code {
			return f, true
		}
	}
	return report.Finding{}, false
}

func TestChain_cases(t *testing.T) {
	p := newPKI(t, pkiOpts{})
	for _, tc := range []struct {
		name  string
		chain []*x509.Certificate
		want  []string
		not   []string
	}{
		{"in order", []*x509.Certificate{p.leaf, p.inter}, []string{"cert.ok"}, []string{"cert.chain.order", "cert.chain.incomplete", "cert.chain.root-sent"}},
		{"root sent", []*x509.Certificate{p.leaf, p.inter, p.root}, []string{"cert.ok", "cert.chain.root-sent"}, []string{"cert.chain.order"}},
		{"out of order", []*x509.Certificate{p.leaf, p.root, p.inter}, []string{"cert.chain.order"}, []string{"cert.chain.incomplete"}},
		{"intermediate missing", []*x509.Certificate{p.leaf}, []string{"cert.chain.incomplete", "cert.untrusted"}, []string{"cert.ok"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := analyzeChain(p, tc.chain...)
			got := codes(r)
			for _, c := range tc.want {
				if !got[c] {
					t.Errorf("missing %s in %v", c, got)
				}
			}
			for _, c := range tc.not {
				if got[c] {
					t.Errorf("unexpected %s in %v", c, got)
				}
			}
		})
	}
	if f, _ := findingOf(analyzeChain(p, p.leaf), "cert.chain.incomplete"); !strings.Contains(f.Detail, "http://ca.example/inter.der") {
		t.Errorf("incomplete detail %q", f.Detail)
	}
}

// SHA-1 or a small key below the root fails; the root's own SHA-1
// self-signature would not.
func TestChain_weakIntermediate(t *testing.T) {
	p := newPKI(t, pkiOpts{interSHA1: true, interRSA: 1024})
	r := analyzeChain(p, p.leaf, p.inter)
	sig, ok := findingOf(r, "cert.signature-weak")
	if !ok || sig.Severity != report.Fail || !strings.Contains(sig.Detail, "Certificate 2 (Intermediate CA)") {
		t.Errorf("signature: %+v in %v", sig, codes(r))
	}
	key, ok := findingOf(r, "cert.key-weak")
	if !ok || !strings.Contains(key.Detail, "1024 bits") {
		t.Errorf("key: %+v", key)
	}
	if codes(r)["cert.ok"] {
		t.Error("cert.ok despite a SHA-1 intermediate")
	}
}

func TestMustStapleAndSCTs(t *testing.T) {
	p := newPKI(t, pkiOpts{mustStaple: true, scts: 2})
	r := analyzeChain(p, p.leaf, p.inter)
	if !r.Facts.MustStaple || r.Facts.SCTsEmbedded != 2 {
		t.Errorf("facts %+v", r.Facts)
	}
	if f, ok := findingOf(r, "cert.must-staple.missing"); !ok || f.Severity != report.Fail {
		t.Errorf("must-staple without a staple: %v", codes(r))
	}
	st := tls.ConnectionState{PeerCertificates: []*x509.Certificate{p.leaf, p.inter}, OCSPResponse: []byte{0x30}, SignedCertificateTimestamps: [][]byte{{1}}}
	r = Analyze(st, Options{ServerName: "mail.example.com", Roots: p.roots, Now: now})
	if codes(r)["cert.must-staple.missing"] || !codes(r)["cert.ocsp-stapled"] || r.Facts.SCTsTLS != 1 {
		t.Errorf("stapled: %v %+v", codes(r), r.Facts)
	}
	plain := newPKI(t, pkiOpts{})
	if r := analyzeChain(plain, plain.leaf, plain.inter); r.Facts.MustStaple || r.Facts.SCTsEmbedded != 0 {
		t.Errorf("plain facts %+v", r.Facts)
	}
}

func FuzzCountSCTList(f *testing.F) {
	f.Add([]byte{0, 6, 0, 4, 1, 2, 3, 4})
	f.Add([]byte{0, 2, 0, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		if n := countSCTList(b); n < 0 || n > len(b) {
			t.Fatalf("%d SCTs in %d bytes", n, len(b))
		}
	})
}
