package certcheck

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/pkg/report"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T) *ca {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"},
		NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	p := x509.NewCertPool()
	p.AddCert(c)
	return &ca{c, key, p}
}

type leafOpts struct {
	names    []string
	from, to time.Time
	selfSign bool
	rsaBits  int
	sha1     bool
}

func (c *ca) leaf(t *testing.T, o leafOpts) tls.ConnectionState {
	t.Helper()
	if o.from.IsZero() {
		o.from, o.to = now.Add(-time.Hour), now.Add(90*24*time.Hour)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: o.names[0]}, DNSNames: o.names,
		NotBefore: o.from, NotAfter: o.to, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	var pub, signKey any
	if o.rsaBits > 0 {
		k, err := rsa.GenerateKey(rand.Reader, o.rsaBits)
		if err != nil {
			t.Fatal(err)
		}
		pub, signKey = &k.PublicKey, k
	} else {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub, signKey = &k.PublicKey, k
	}
	parent, parentKey := c.cert, any(c.key)
	if o.selfSign {
		tmpl.Issuer = tmpl.Subject
		parent, parentKey = tmpl, signKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}
}

func codes(r Result) map[string]bool {
	m := map[string]bool{}
	for _, f := range r.Findings {
		m[f.Code] = true
	}
	return m
}

func TestAnalyze_Cases(t *testing.T) {
	c := newCA(t)
	cases := []struct {
		name    string
		st      tls.ConnectionState
		server  string
		want    []string
		trusted bool
	}{
		{"good", c.leaf(t, leafOpts{names: []string{"mail.example.com"}}), "mail.example.com", []string{"cert.ok"}, true},
		{"wrong name", c.leaf(t, leafOpts{names: []string{"other.example.com"}}), "mail.example.com", []string{"cert.name-mismatch"}, false},
		{"expired", c.leaf(t, leafOpts{names: []string{"mail.example.com"}, from: now.Add(-100 * 24 * time.Hour), to: now.Add(-24 * time.Hour)}), "mail.example.com", []string{"cert.expired"}, false},
		{"not yet valid", c.leaf(t, leafOpts{names: []string{"mail.example.com"}, from: now.Add(24 * time.Hour), to: now.Add(100 * 24 * time.Hour)}), "mail.example.com", []string{"cert.not-yet-valid"}, false},
		{"expiring", c.leaf(t, leafOpts{names: []string{"mail.example.com"}, from: now.Add(-80 * 24 * time.Hour), to: now.Add(14 * 24 * time.Hour)}), "mail.example.com", []string{"cert.expiring", "cert.ok"}, true},
		{"expiring in days", c.leaf(t, leafOpts{names: []string{"mail.example.com"}, from: now.Add(-80 * 24 * time.Hour), to: now.Add(5 * 24 * time.Hour)}), "mail.example.com", []string{"cert.expiring"}, true},
		{"self-signed", c.leaf(t, leafOpts{names: []string{"mail.example.com"}, selfSign: true}), "mail.example.com", []string{"cert.self-signed"}, false},
		{"weak rsa", c.leaf(t, leafOpts{names: []string{"mail.example.com"}, rsaBits: 1024}), "mail.example.com", []string{"cert.key-weak"}, true},
		{"no cert", tls.ConnectionState{}, "mail.example.com", []string{"cert.missing"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Analyze(tc.st, Options{ServerName: tc.server, Roots: c.pool, Now: now})
			got := codes(r)
			for _, w := range tc.want {
				if !got[w] {
					t.Errorf("missing %s in %v", w, got)
				}
			}
			if r.Trusted != tc.trusted {
				t.Errorf("trusted = %v, want %v (%v)", r.Trusted, tc.trusted, got)
			}
			if tc.name == "expiring in days" && !(r.Findings[0].Severity == report.Fail) {
				t.Errorf("5 days left: %+v, want a failure", r.Findings[0])
			}
			if tc.name != "good" && tc.name != "expiring" && got["cert.ok"] {
				t.Errorf("cert.ok with problems: %v", got)
			}
		})
	}
}

func TestAnalyze_UntrustedWithoutRoots(t *testing.T) {
	c := newCA(t)
	r := Analyze(c.leaf(t, leafOpts{names: []string{"mail.example.com"}}), Options{ServerName: "mail.example.com", Roots: x509.NewCertPool(), Now: now})
	if !codes(r)["cert.untrusted"] || r.Trusted {
		t.Fatalf("%+v", r.Findings)
	}
	for _, f := range r.Findings {
		if f.Code == "cert.untrusted" && f.Severity != report.Fail {
			t.Fatal("untrusted must fail")
		}
	}
}
