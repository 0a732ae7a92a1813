// Package certcheck judges the certificate a mail server presented in a
// TLS handshake: chain to trusted roots (RFC 5280 path validation via
// crypto/x509), host name (RFC 6125 as applied to mail by RFC 7817),
// validity period, key strength and signature algorithm, OCSP stapling.
// Every TLS-speaking engine (smtp check, reset send, tls, imap audit)
// uses it, so a certificate problem reads the same everywhere.
//
// The handshake itself is done with verification off so that a bad
// certificate can be described in full instead of ending the check; the
// engines never send credentials unless Trusted reports true.
package certcheck

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/report"
)

func init() {
	report.Register(
		report.Code{Code: "cert.ok", Severity: report.Pass, Title: "Certificate valid for the server name"},
		report.Code{Code: "cert.missing", Severity: report.Fail, Title: "No certificate presented",
			Fix: "Configure a certificate: Postfix smtpd_tls_chain_files; Dovecot ssl_cert and ssl_key.", Refs: []string{"RFC 8446 §4.4.2"}},
		report.Code{Code: "cert.untrusted", Severity: report.Fail, Title: "Certificate chain not trusted",
			Fix: "Serve the full chain (leaf then intermediates) signed by a public CA, e.g. Let's Encrypt. Postfix: smtpd_tls_chain_files = key.pem, fullchain.pem; Dovecot: ssl_cert = <fullchain.pem. For a private CA, pass --ca-file.", Refs: []string{"RFC 5280 §6", "RFC 8314 §4.1"}},
		report.Code{Code: "cert.self-signed", Severity: report.Fail, Title: "Certificate is self-signed",
			Fix: "Mail clients and senders will reject or warn about it; get a certificate from a public CA (Let's Encrypt is free).", Refs: []string{"RFC 8314 §4.1"}},
		report.Code{Code: "cert.expired", Severity: report.Fail, Title: "Certificate expired",
			Fix: "Renew the certificate and reload the server (postfix reload; doveadm reload). Automate renewal (certbot, acme.sh) with a reload hook.", Refs: []string{"RFC 5280 §4.1.2.5"}},
		report.Code{Code: "cert.not-yet-valid", Severity: report.Fail, Title: "Certificate not yet valid",
			Fix: "Check the server's clock, or wait until the certificate's start date.", Refs: []string{"RFC 5280 §4.1.2.5"}},
		report.Code{Code: "cert.expiring", Severity: report.Warn, Title: "Certificate expires soon",
			Fix: "Renew now; check that automatic renewal reloads the mail server, which many setups forget.", Refs: nil},
		report.Code{Code: "cert.name-mismatch", Severity: report.Fail, Title: "Certificate does not match the server name",
			Fix: "Use a certificate whose subjectAltName includes the host name clients connect to (the MX or submission host name), or connect with --servername NAME.", Refs: []string{"RFC 6125 §6", "RFC 7817 §3"}},
		report.Code{Code: "cert.key-weak", Severity: report.Fail, Title: "Certificate key too weak",
			Fix: "Use RSA 2048 bits or more, or ECDSA P-256.", Refs: []string{"NIST SP 800-131A"}},
		report.Code{Code: "cert.signature-weak", Severity: report.Fail, Title: "Certificate signed with a weak algorithm",
			Fix: "Reissue the certificate with SHA-256 or better.", Refs: []string{"RFC 6194"}},
		report.Code{Code: "cert.ocsp-stapled", Severity: report.Info, Title: "OCSP response stapled"},
		report.Code{Code: "cert.verify-skipped", Severity: report.Warn, Title: "Certificate verification skipped",
			Fix: "--insecure was given: the report cannot vouch for the server's identity.", Refs: nil},
	)
}

// Options of an analysis.
type Options struct {
	ServerName string         // expected name; "" skips the name check
	Roots      *x509.CertPool // nil = system roots
	Now        time.Time
	Stage      string        // stage name for the findings; default "certificate"
	WarnBefore time.Duration // expiring warning window; default 21 days
	// FailBefore: an expiry this close is a failure, not a warning;
	// default 7 days (or WarnBefore, when that is shorter).
	FailBefore time.Duration
}

// Result is the analysis of one handshake.
type Result struct {
	Findings []report.Finding
	// Trusted is true when the chain verified, the name matched and the
	// certificate is within its validity period.
	Trusted bool
	Facts   Facts
}

// Facts describe the leaf certificate for reports.
type Facts struct {
	Subject     string    `json:"subject"`
	Issuer      string    `json:"issuer"`
	DNSNames    []string  `json:"dns_names,omitempty"`
	NotBefore   time.Time `json:"not_before"`
	NotAfter    time.Time `json:"not_after"`
	DaysLeft    int       `json:"days_left"`
	KeyType     string    `json:"key_type"`
	KeyBits     int       `json:"key_bits"`
	Signature   string    `json:"signature_algorithm"`
	ChainLength int       `json:"chain_length"`
	SelfSigned  bool      `json:"self_signed"`
	OCSPStapled bool      `json:"ocsp_stapled"`
	MustStaple  bool      `json:"must_staple,omitempty"`
	// SCTs are the Certificate Transparency timestamps seen: embedded in
	// the certificate and sent in the TLS extension (RFC 6962 §3.3).
	SCTsEmbedded int    `json:"scts_embedded"`
	SCTsTLS      int    `json:"scts_tls"`
	Verified     bool   `json:"verified"`
	VerifyError  string `json:"verify_error,omitempty"`
	SerialNumber string `json:"serial"`
	// Chain is every certificate the server sent, leaf first, in the
	// order sent (the exporter's mailprobe_cert_not_after_seconds).
	Chain []ChainCert `json:"chain,omitempty"`
}

// ChainCert is one certificate of the chain the server sent.
type ChainCert struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	NotAfter  time.Time `json:"not_after"`
	KeyType   string    `json:"key_type"`
	KeyBits   int       `json:"key_bits"`
	Signature string    `json:"signature_algorithm"`
}

// Analyze judges the peer certificates of a completed handshake.
func Analyze(st tls.ConnectionState, o Options) Result {
	if o.Stage == "" {
		o.Stage = "certificate"
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.WarnBefore == 0 {
		o.WarnBefore = 21 * 24 * time.Hour
	}
	if o.FailBefore == 0 {
		o.FailBefore = min(7*24*time.Hour, o.WarnBefore)
	}
	var res Result
	add := func(f report.Finding) { res.Findings = append(res.Findings, f) }
	if len(st.PeerCertificates) == 0 {
		add(report.New("cert.missing", o.Stage, "The server completed the handshake without a certificate (anonymous cipher suite)."))
		return res
	}
	leaf := st.PeerCertificates[0]
	f := Facts{
		Subject: leaf.Subject.String(), Issuer: leaf.Issuer.String(), DNSNames: leaf.DNSNames,
		NotBefore: leaf.NotBefore.UTC(), NotAfter: leaf.NotAfter.UTC(),
		DaysLeft:  int(leaf.NotAfter.Sub(o.Now).Hours() / 24),
		Signature: leaf.SignatureAlgorithm.String(), ChainLength: len(st.PeerCertificates),
		OCSPStapled: len(st.OCSPResponse) > 0, SerialNumber: leaf.SerialNumber.Text(16),
		MustStaple: mustStaple(leaf), SCTsEmbedded: embeddedSCTs(leaf), SCTsTLS: len(st.SignedCertificateTimestamps),
	}
	f.KeyType, f.KeyBits = keyInfo(leaf)
	for _, c := range st.PeerCertificates {
		cc := ChainCert{Subject: c.Subject.String(), Issuer: c.Issuer.String(), Serial: c.SerialNumber.Text(16),
			NotAfter: c.NotAfter.UTC(), Signature: c.SignatureAlgorithm.String()}
		cc.KeyType, cc.KeyBits = keyInfo(c)
		f.Chain = append(f.Chain, cc)
	}
	// CheckSignatureFrom would insist that the parent is a CA; a
	// self-signed server certificate usually is not.
	f.SelfSigned = leaf.Subject.String() == leaf.Issuer.String() && leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) == nil
	ev := fmt.Sprintf("subject %s; issuer %s; SAN %s; valid %s to %s", f.Subject, f.Issuer, strings.Join(leaf.DNSNames, ","),
		f.NotBefore.Format("2006-01-02"), f.NotAfter.Format("2006-01-02"))

	inter := x509.NewCertPool()
	for _, c := range st.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, verr := leaf.Verify(x509.VerifyOptions{Roots: o.Roots, Intermediates: inter, CurrentTime: o.Now})
	nameOK := true
	if o.ServerName != "" {
		if err := leaf.VerifyHostname(o.ServerName); err != nil {
			nameOK = false
			add(report.Newf("cert.name-mismatch", o.Stage, "The certificate is for %s, not %s.", namesOf(leaf), o.ServerName).With("certificate", ev))
		}
	}
	timeOK := true
	switch {
	case o.Now.After(leaf.NotAfter):
		timeOK = false
		add(report.Newf("cert.expired", o.Stage, "The certificate expired on %s (%d days ago).", f.NotAfter.Format("2006-01-02"), -f.DaysLeft).With("certificate", ev))
	case o.Now.Before(leaf.NotBefore):
		timeOK = false
		add(report.Newf("cert.not-yet-valid", o.Stage, "The certificate is valid only from %s.", f.NotBefore.Format("2006-01-02 15:04 MST")).With("certificate", ev))
	case leaf.NotAfter.Sub(o.Now) < o.FailBefore:
		// Days, not weeks: a renewal that has not happened by now is
		// not going to happen by itself.
		add(report.Newf("cert.expiring", o.Stage, "The certificate expires on %s, in %d days (less than %d).", f.NotAfter.Format("2006-01-02"), f.DaysLeft, int(o.FailBefore.Hours()/24)).With("certificate", ev).WithSeverity(report.Fail))
	case leaf.NotAfter.Sub(o.Now) < o.WarnBefore:
		add(report.Newf("cert.expiring", o.Stage, "The certificate expires on %s, in %d days (less than %d).", f.NotAfter.Format("2006-01-02"), f.DaysLeft, int(o.WarnBefore.Hours()/24)).With("certificate", ev))
	}
	var ie x509.CertificateInvalidError
	if errors.As(verr, &ie) && ie.Reason == x509.Expired {
		// The period is reported above; judge the chain itself at a moment
		// the certificate was valid, so an expired leaf from a trusted CA
		// is not also called untrusted.
		verr = verifyAt(leaf, inter, o.Roots, leaf.NotBefore.Add(time.Minute))
	}
	chainOK := verr == nil
	if !chainOK {
		var ue x509.UnknownAuthorityError
		switch {
		case f.SelfSigned:
			add(report.Newf("cert.self-signed", o.Stage, "The certificate for %s is signed by itself.", namesOf(leaf)).With("certificate", ev))
		case errors.As(verr, &ue):
			add(report.Newf("cert.untrusted", o.Stage, "The chain does not lead to a trusted root: %v. The server sent %d certificate(s).", verr, f.ChainLength).With("certificate", ev))
		default:
			add(report.Newf("cert.untrusted", o.Stage, "Chain verification failed: %v.", verr).With("certificate", ev))
		}
		f.VerifyError = verr.Error()
	}
	f.Verified = chainOK
	if weak, why := weakKey(f); weak {
		add(report.Newf("cert.key-weak", o.Stage, "%s.", why).With("certificate", ev))
	}
	if weakSignature(leaf.SignatureAlgorithm) {
		add(report.Newf("cert.signature-weak", o.Stage, "The certificate is signed with %s.", leaf.SignatureAlgorithm).With("certificate", ev))
	}
	for _, x := range chainFindings(st.PeerCertificates, chainOK, o.Stage) {
		add(x)
	}
	if f.OCSPStapled {
		add(report.New("cert.ocsp-stapled", o.Stage, "The server stapled an OCSP response."))
	} else if f.MustStaple {
		add(report.New("cert.must-staple.missing", o.Stage, "The certificate carries the TLS Feature extension with status_request (must-staple), and the server stapled no OCSP response.").With("certificate", ev))
	}
	res.Trusted = chainOK && nameOK && timeOK
	clean := true
	for _, x := range res.Findings {
		clean = clean && x.Severity < report.Fail
	}
	if res.Trusted && clean {
		add(report.Newf("cert.ok", o.Stage, "%s, issued by %s, valid until %s (%d days).", namesOf(leaf), leaf.Issuer.CommonName, f.NotAfter.Format("2006-01-02"), f.DaysLeft))
	}
	res.Facts = f
	return res
}

// verifyAt verifies the chain as of time t.
func verifyAt(leaf *x509.Certificate, inter, roots *x509.CertPool, t time.Time) error {
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: t})
	return err
}

func namesOf(c *x509.Certificate) string {
	if len(c.DNSNames) > 0 {
		if len(c.DNSNames) > 4 {
			return strings.Join(c.DNSNames[:4], ", ") + fmt.Sprintf(" (+%d)", len(c.DNSNames)-4)
		}
		return strings.Join(c.DNSNames, ", ")
	}
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName + " (CN only, no subjectAltName)"
	}
	return "an unnamed subject"
}

func keyInfo(c *x509.Certificate) (string, int) {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name, k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return "Ed25519", 256
	}
	return c.PublicKeyAlgorithm.String(), 0
}

func weakKey(f Facts) (bool, string) {
	switch {
	case f.KeyType == "RSA" && f.KeyBits < 2048:
		return true, fmt.Sprintf("The certificate's RSA key has %d bits; 2048 is the minimum", f.KeyBits)
	case strings.HasPrefix(f.KeyType, "ECDSA") && f.KeyBits < 256:
		return true, fmt.Sprintf("The certificate's %s key has %d bits", f.KeyType, f.KeyBits)
	}
	return false, ""
}
