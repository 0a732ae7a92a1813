package certcheck

// The chain as sent (RFC 8446 §4.4.2, RFC 5246 §7.4.2): each certificate
// should certify the one before it, the root may be left out, and every
// certificate below the root is judged for its key and its signature
// (testssl.sh's cert_chain_of_trust, cert_keySize, cert_signatureAlgorithm
// on every certificate, not just the leaf). Must-staple (RFC 7633) and
// Certificate Transparency (RFC 6962) are read from the leaf.

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"strings"

	"github.com/mailprobe/mailprobe/pkg/report"
	"golang.org/x/crypto/cryptobyte"
)

func init() {
	report.Register(
		report.Code{Code: "cert.chain.incomplete", Severity: report.Fail, Title: "Intermediate certificate missing from the chain",
			Fix:  "Send the intermediate certificates after the leaf: Postfix smtpd_tls_chain_files = key.pem, fullchain.pem (or smtpd_tls_cert_file = fullchain.pem); Dovecot ssl_cert = </etc/ssl/fullchain.pem. Clients that do not fetch missing intermediates (most mail software) fail to verify.",
			Refs: []string{"RFC 8446 §4.4.2", "RFC 5246 §7.4.2", "testssl.sh: cert_chain_of_trust"}},
		report.Code{Code: "cert.chain.order", Severity: report.Warn, Title: "Certificate chain out of order or with unrelated certificates",
			Fix:  "Send the leaf first, then each issuer in turn (fullchain.pem from the CA or certbot is in order); remove certificates that are not part of the path.",
			Refs: []string{"RFC 5246 §7.4.2", "RFC 8446 §4.4.2"}},
		report.Code{Code: "cert.chain.root-sent", Severity: report.Info, Title: "The chain includes the root certificate",
			Fix:  "Harmless, but a waste of bytes in every handshake: clients must already have the root. Use the chain without it (certbot's fullchain.pem leaves it out).",
			Refs: []string{"RFC 8446 §4.4.2"}},
		report.Code{Code: "cert.chain.long", Severity: report.Info, Title: "Long certificate chain",
			Fix:  "More than four certificates is unusual; check for duplicates or cross-signed certificates that are no longer needed.",
			Refs: []string{"RFC 8446 §4.4.2"}},
		report.Code{Code: "cert.must-staple.missing", Severity: report.Fail, Title: "Must-staple certificate without a stapled OCSP response",
			Fix:  "The certificate demands OCSP stapling (RFC 7633) and clients that honour it refuse the connection. Turn stapling on (Postfix 3.x has none for smtpd: reissue without must-staple; Dovecot 2.3 neither), or reissue the certificate without the TLS Feature extension.",
			Refs: []string{"RFC 7633 §4.2", "testssl.sh: cert_mustStapleExtension"}},
	)
}

// issued reports whether parent signed child.
func issued(child, parent *x509.Certificate) bool {
	return bytes.Equal(child.RawIssuer, parent.RawSubject) &&
		parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature) == nil
}

// selfSigned reports whether c is a self-issued, self-signed certificate.
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

func weakSignature(a x509.SignatureAlgorithm) bool {
	switch a {
	case x509.MD5WithRSA, x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1, x509.MD2WithRSA:
		return true
	}
	return false
}

// chainFindings judges the order and completeness of the chain sent and
// the key and signature of every certificate in it but a root.
// verified says whether the chain verified to a trusted root.
func chainFindings(sent []*x509.Certificate, verified bool, stage string) []report.Finding {
	var out []report.Finding
	name := func(i int) string {
		c := sent[i]
		n := c.Subject.CommonName
		if n == "" {
			n = c.Subject.String()
		}
		if i == 0 {
			return "the leaf (" + n + ")"
		}
		return fmt.Sprintf("certificate %d (%s)", i+1, n)
	}
	// Order: each certificate's issuer should be the next one.
	var order []string
	for i := 0; i+1 < len(sent); i++ {
		if issued(sent[i], sent[i+1]) || selfSigned(sent[i]) {
			continue
		}
		elsewhere := false
		for j := range sent {
			if j != i && j != i+1 && issued(sent[i], sent[j]) {
				elsewhere = true
			}
		}
		if elsewhere {
			order = append(order, fmt.Sprintf("%s is followed by %s, not by its issuer", name(i), name(i+1)))
		} else {
			order = append(order, fmt.Sprintf("%s is followed by %s, which did not issue it", name(i), name(i+1)))
		}
	}
	if len(order) > 0 {
		out = append(out, report.Newf("cert.chain.order", stage, "The chain of %d certificates is not in issuing order: %s.", len(sent), strings.Join(order, "; ")))
	}
	// Incomplete: the last certificate sent is not a root and the chain
	// does not verify, and it names where its issuer can be fetched —
	// which only a browser would do.
	top := sent[len(sent)-1]
	for i := len(sent) - 1; i > 0; i-- {
		// The top of the path is the last certificate something sent
		// was issued by; an unrelated trailing certificate is an order
		// problem, reported above.
		if issued(sent[i-1], sent[i]) {
			break
		}
		top = sent[i-1]
	}
	if !verified && !selfSigned(top) && len(top.IssuingCertificateURL) > 0 {
		out = append(out, report.Newf("cert.chain.incomplete", stage, "The chain ends with %s, issued by %s, which was not sent; its issuer is only named for download (%s).",
			top.Subject.CommonName, top.Issuer.CommonName, strings.Join(top.IssuingCertificateURL, ", ")))
	}
	for i, c := range sent {
		if i > 0 && selfSigned(c) && c.IsCA {
			out = append(out, report.Newf("cert.chain.root-sent", stage, "The server sends the root %s as %s of its chain.", c.Subject.CommonName, ordinal(i+1)))
			continue
		}
		if i == 0 {
			continue // the leaf's key and signature are judged by Analyze
		}
		kt, kb := keyInfo(c)
		if weak, why := weakKey(Facts{KeyType: kt, KeyBits: kb}); weak {
			out = append(out, report.Newf("cert.key-weak", stage, "%s: %s.", strings.ToUpper(name(i)[:1])+name(i)[1:], strings.TrimPrefix(why, "The certificate's ")))
		}
		if weakSignature(c.SignatureAlgorithm) {
			out = append(out, report.Newf("cert.signature-weak", stage, "%s is signed with %s; only a root's own signature may be SHA-1.", strings.ToUpper(name(i)[:1])+name(i)[1:], c.SignatureAlgorithm))
		}
	}
	if len(sent) > 4 {
		out = append(out, report.Newf("cert.chain.long", stage, "The server sends %d certificates.", len(sent)))
	}
	return out
}

func ordinal(n int) string {
	switch n {
	case 1:
		return "the first"
	case 2:
		return "the second"
	case 3:
		return "the third"
	}
	return fmt.Sprintf("certificate %d", n)
}

// OIDs of the extensions read from the leaf.
var (
	oidTLSFeature = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 24}       // RFC 7633
	oidSCTList    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 2} // RFC 6962 §3.3
)

// mustStaple reports whether the certificate carries the TLS Feature
// extension with status_request (5), RFC 7633 §4.
func mustStaple(c *x509.Certificate) bool {
	for _, e := range c.Extensions {
		if !e.Id.Equal(oidTLSFeature) {
			continue
		}
		var features []int
		if _, err := asn1.Unmarshal(e.Value, &features); err != nil {
			return false
		}
		for _, f := range features {
			if f == 5 {
				return true
			}
		}
	}
	return false
}

// embeddedSCTs counts the SCTs embedded in the certificate (RFC 6962
// §3.3: an OCTET STRING holding a SignedCertificateTimestampList).
func embeddedSCTs(c *x509.Certificate) int {
	for _, e := range c.Extensions {
		if !e.Id.Equal(oidSCTList) {
			continue
		}
		var raw []byte
		if _, err := asn1.Unmarshal(e.Value, &raw); err != nil {
			return 0
		}
		return countSCTList(raw)
	}
	return 0
}

// countSCTList counts the entries of a TLS-encoded SCT list: a 16-bit
// length, then 16-bit-length-prefixed SCTs (RFC 6962 §3.3). Malformed
// input counts what parsed.
func countSCTList(b []byte) int {
	s := cryptobyte.String(b)
	var list cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&list) {
		return 0
	}
	n := 0
	for !list.Empty() {
		var sct cryptobyte.String
		if !list.ReadUint16LengthPrefixed(&sct) || len(sct) == 0 {
			break
		}
		n++
	}
	return n
}
