package dnsauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"testing"
	"time"
)

func mkCert(t *testing.T, cn string, dns []string, isCA bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn}, DNSNames: dns,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: isCA, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	if parent == nil {
		parent, parentKey = tmpl, k
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &k.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, k
}

// A DANE-TA record is "matched" by a self-signed forged leaf that merely
// appends the (public) trust-anchor certificate: no signature is checked.
func TestMatchChain_forgedLeafBesideTheAnchor(t *testing.T) {
	ca, _ := mkCert(t, "Real CA", nil, true, nil, nil)
	forged, _ := mkCert(t, "mx.example.com", []string{"mx.example.com"}, false, nil, nil) // self-signed, not issued by ca
	h := sha256.Sum256(ca.Raw)
	recs := []TLSA{{Usage: 2, Selector: 0, MatchingType: 1, Data: hex.EncodeToString(h[:])}}
	m, why := MatchChain(recs, []*x509.Certificate{forged, ca}, "mx.example.com")
	if m != nil {
		t.Errorf("forged chain accepted as DANE-TA match %v", m)
	} else {
		t.Log(why)
	}
}

// A matching DANE-EE record after a DANE-TA whose name check fails is never tried.
func TestMatchChain_eeAfterFailingTA(t *testing.T) {
	ca, cak := mkCert(t, "CA", nil, true, nil, nil)
	leaf, _ := mkCert(t, "other", []string{"other.example.com"}, false, ca, cak)
	hca := sha256.Sum256(ca.Raw)
	hleaf := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	recs := []TLSA{{Usage: 2, Selector: 0, MatchingType: 1, Data: hex.EncodeToString(hca[:])},
		{Usage: 3, Selector: 1, MatchingType: 1, Data: hex.EncodeToString(hleaf[:])}}
	m, why := MatchChain(recs, []*x509.Certificate{leaf, ca}, "mx.example.com")
	if m == nil {
		t.Errorf("3 1 1 matches the leaf but MatchChain says: %s", why)
	}
}
