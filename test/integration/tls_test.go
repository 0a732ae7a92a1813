//go:build integration

package integration

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"maps"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// `mailprobe tls` against every TLS listener of the environment: Postfix
// port-25 (STARTTLS, role mx), submission (STARTTLS) and submissions
// (implicit TLS); Dovecot IMAP (STARTTLS), IMAPS, POP3 (STLS) and POP3S.
//
// The reference is sslscan, run against the same port: the accepted
// protocol versions, the accepted (version, cipher suite) pairs (by IANA
// code and OpenSSL name), the TLS 1.3 groups and the ECDHE curves, the DH
// prime of each DHE suite and the certificate must be exactly what sslscan
// reports. sslscan's renegotiation verdict is not used: sslscan 2.0.7 tests
// it in a TLS 1.3 session, where RFC 5746 does not apply, and calls
// Dovecot's support missing; `openssl s_client -tls1_2` is asked instead.
//
// Grading is asserted exactly (every finding code and severity) as the
// environment serves it: Postfix's Debian defaults accept TLS 1.0/1.1,
// anonymous suites and a 1024-bit DH prime for them on all three
// listeners, information on the MX, warnings and failures with the
// mandatory-settings Postfix fix on submission; Dovecot accepts only
// TLS 1.2/1.3 and forward-secret suites and is clean.
//
// The Dovecot scans run from MP_IT_CLIENT_ADDR: from 127.0.0.1 Dovecot
// treats the client as secure and accepts passwords before STARTTLS, which
// `tls` rightly reports (tls.starttls.not-enforced), but is not what a
// remote client sees. sslscan cannot bind a source address; the TLS
// configuration does not depend on it.

// tlsListener is one TLS listener and what `mailprobe tls` must say about it.
type tlsListener struct {
	name      string
	port      int
	starttls  string // protocol before TLS: smtp, imap, pop3 or none (implicit TLS); the sslscan --starttls-* flag
	role      string // --role
	postfix   bool
	protocols []string          // accepted versions, as mailprobe names them
	findings  map[string]string // every finding of the full scan: code → severity
	exit      int               // exit code of the full scan
	injection string            // facts.scan.starttls_injection
}

// Postfix (Debian 12 defaults, tls_preempt_cipherlist = no): TLS 1.0-1.3,
// static-RSA and anonymous suites (the 128-bit anonymous ones with
// OpenSSL's automatic 1024-bit DH prime), the client's order.
var (
	postfixMXFindings = map[string]string{
		"tls.protocol.tls10":      "info",
		"tls.protocol.tls11":      "info",
		"tls.cipher.anon":         "info",
		"tls.dh.weak":             "info",
		"tls.cipher.client-order": "info",
		"tls.handshake.ok":        "pass",
		"cert.ok":                 "pass",
	}
	postfixSubmissionFindings = map[string]string{
		"tls.cipher.anon":            "fail",
		"tls.dh.weak":                "fail", // 1024 bits: "≤ 1024: fail"
		"tls.protocol.tls10":         "warn",
		"tls.protocol.tls11":         "warn",
		"tls.cipher.non-fs-accepted": "info",
		"tls.cipher.client-order":    "info",
		"tls.handshake.ok":           "pass",
		"cert.ok":                    "pass",
	}
	// Dovecot (ssl_min_protocol TLSv1.2, its default cipher list,
	// ssl_prefer_server_ciphers = no): CBC suites are accepted, so no
	// tls.cipher.ok, but nothing to warn about.
	dovecotFindings = map[string]string{
		"tls.protocol.ok":         "pass",
		"tls.cipher.client-order": "info",
		"tls.handshake.ok":        "pass",
		"cert.ok":                 "pass",
	}
)

// withInjectionSafe adds the STARTTLS injection verdict of a STARTTLS port.
func withInjectionSafe(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	out["tls.starttls.injection-safe"] = "pass"
	return out
}

func tlsListeners() []tlsListener {
	postfixProtocols := []string{"TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"}
	dovecotProtocols := []string{"TLS 1.2", "TLS 1.3"}
	return []tlsListener{
		{name: "smtp-mx", port: E.SMTPPort, starttls: "smtp", role: "mx", postfix: true, protocols: postfixProtocols,
			findings: withInjectionSafe(postfixMXFindings), exit: 0, injection: "safe"},
		{name: "submission", port: E.SubmissionPort, starttls: "smtp", role: "submission", postfix: true, protocols: postfixProtocols,
			findings: withInjectionSafe(postfixSubmissionFindings), exit: 1, injection: "safe"},
		{name: "submissions", port: E.SubmissionsPort, starttls: "none", role: "submission", postfix: true, protocols: postfixProtocols,
			findings: postfixSubmissionFindings, exit: 1, injection: "not-applicable"},
		// Dovecot hangs up on `a STARTTLS` + `b NOOP` in one packet: safe.
		{name: "imap", port: E.IMAPPort, starttls: "imap", role: "imap", protocols: dovecotProtocols,
			findings: withInjectionSafe(dovecotFindings), exit: 0, injection: "rejected"},
		{name: "imaps", port: E.IMAPSPort, starttls: "none", role: "imap", protocols: dovecotProtocols,
			findings: dovecotFindings, exit: 0, injection: "not-applicable"},
		{name: "pop3", port: E.POP3Port, starttls: "pop3", role: "pop3", protocols: dovecotProtocols,
			findings: withInjectionSafe(dovecotFindings), exit: 0, injection: "rejected"},
		{name: "pop3s", port: E.POP3SPort, starttls: "none", role: "pop3", protocols: dovecotProtocols,
			findings: dovecotFindings, exit: 0, injection: "not-applicable"},
	}
}

// tlsRun runs `mailprobe tls` against the listener, certificate verified
// against this run's CA, from MP_IT_CLIENT_ADDR, JSON out.
func tlsRun(t *testing.T, l tlsListener, extra ...string) *Result {
	t.Helper()
	// --role names the protocol STARTTLS speaks (mx and submission: SMTP).
	mode := "starttls"
	if l.starttls == "none" {
		mode = "implicit"
	}
	args := []string{"tls", E.Addr(l.port), "--tls", mode, "--role", l.role, "--local-addr", E.ClientAddr}
	args = append(append(args, E.TLSArgs()...), "--format", "json")
	return Run(t, append(args, extra...)...)
}

// ---------------------------------------------------------------- facts.scan

// tlsScan mirrors facts.scan of `tls --format json` (see docs/tls.md).
type tlsScan struct {
	StartTLS   string `json:"starttls"`
	Role       string `json:"role"`
	Address    string `json:"address"`
	Quick      bool   `json:"quick"`
	Negotiated *struct {
		Version string `json:"version"`
		Suite   string `json:"suite"`
		OpenSSL string `json:"openssl"`
		Group   string `json:"group"`
	} `json:"negotiated"`
	Versions []struct {
		Version          string          `json:"version"`
		Supported        bool            `json:"supported"`
		ServerPreference *bool           `json:"server_preference"`
		Suites           []tlsSuiteFacts `json:"suites"`
	} `json:"versions"`
	GroupsTLS13         []tlsGroupFacts `json:"groups_tls13"`
	GroupsECDHE         []tlsGroupFacts `json:"groups_ecdhe"`
	DHBits              int             `json:"dh_bits"`
	SecureRenegotiation *bool           `json:"secure_renegotiation"`
	Injection           string          `json:"starttls_injection"`
	Handshakes          int             `json:"handshakes"`
	Complete            bool            `json:"complete"`
}

type tlsSuiteFacts struct {
	Code    string   `json:"code"`
	IANA    string   `json:"iana"`
	OpenSSL string   `json:"openssl"`
	Kx      string   `json:"kx"`
	Auth    string   `json:"auth"`
	Bits    int      `json:"bits"`
	Flags   []string `json:"flags"`
	Group   string   `json:"group"`
	DHBits  int      `json:"dh_bits"`
}

type tlsGroupFacts struct {
	Name string `json:"name"`
	Code string `json:"code"`
	Bits int    `json:"bits"`
	Kind string `json:"kind"`
}

// scanFacts decodes facts.scan.
func scanFacts(t *testing.T, rep *Report) tlsScan {
	t.Helper()
	raw, ok := rep.Facts["scan"]
	if !ok {
		t.Fatalf("no facts.scan; facts: %v", rep.Facts)
	}
	b, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	var s tlsScan
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("facts.scan: %v\n%s", err, b)
	}
	return s
}

// ---------------------------------------------------------------- sslscan

// sslscanXML is the subset of `sslscan --xml` read here (sslscan 2.x).
type sslscanXML struct {
	XMLName xml.Name `xml:"document"`
	Version string   `xml:"version,attr"`
	Tests   []struct {
		Host      string `xml:"host,attr"`
		Port      string `xml:"port,attr"`
		Protocols []struct {
			Type    string `xml:"type,attr"`
			Version string `xml:"version,attr"`
			Enabled string `xml:"enabled,attr"`
		} `xml:"protocol"`
		Ciphers []struct {
			Status     string `xml:"status,attr"`
			SSLVersion string `xml:"sslversion,attr"`
			Bits       string `xml:"bits,attr"`
			Cipher     string `xml:"cipher,attr"`
			ID         string `xml:"id,attr"`
			DHEBits    string `xml:"dhebits,attr"`
		} `xml:"cipher"`
		Groups []struct {
			SSLVersion string `xml:"sslversion,attr"`
			Name       string `xml:"name,attr"`
			ID         string `xml:"id,attr"`
		} `xml:"group"`
		Certificates []struct {
			Type string `xml:"type,attr"`
			PK   struct {
				Type string `xml:"type,attr"`
				Bits string `xml:"bits,attr"`
			} `xml:"pk"`
			Subject  string `xml:"subject"`
			AltNames string `xml:"altnames"`
			Issuer   string `xml:"issuer"`
			NotAfter string `xml:"not-valid-after"`
		} `xml:"certificates>certificate"`
	} `xml:"ssltest"`
}

// sslscanSuite is one accepted (version, suite) pair.
type sslscanSuite struct {
	Version string // normalized: TLS1.2
	Code    string // 0xC02F, or "" when this sslscan prints no ids
	Name    string // OpenSSL name (IANA name for TLS 1.3)
	Bits    int
	DHBits  int // 0: not a DHE suite
}

// sslscanResult is what sslscan reported for one port.
type sslscanResult struct {
	Cmd       string
	Output    string // its text output, for messages
	Version   string
	Protocols map[string]bool // normalized version → enabled
	Suites    []sslscanSuite
	Groups13  map[string]string // code → name (first word)
	GroupsEC  map[string]string // TLS 1.2 and older: code → name
	CertType  string
	CertBits  int
	Subject   string
	AltNames  []string // without "DNS:"
	Issuer    string
	NotAfter  time.Time
	Duration  time.Duration
}

// normVersion maps "TLSv1.2", "TLS 1.2", "tls"+"1.2", "SSLv3", "ssl"+"3"
// to one spelling: TLS1.2, SSL3.
func normVersion(s string) string {
	s = strings.ToUpper(strings.NewReplacer(" ", "", "v", "", "V", "", "_", "").Replace(s))
	switch s {
	case "TLS1":
		return "TLS1.0"
	case "SSL3.0":
		return "SSL3"
	case "SSL2.0":
		return "SSL2"
	}
	return s
}

// normCode spells a suite or group code as 0x%04X ("0x9f" → "0x009F").
func normCode(s string) string {
	s = strings.TrimSpace(s)
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	n, err := strconv.ParseUint(h, 16, 16)
	if err != nil || h == "" {
		return strings.ToUpper(s)
	}
	return fmt.Sprintf("0x%04X", n)
}

// runSSLScan scans the listener with sslscan, XML written to dir. It runs
// in its own goroutine, so it returns errors instead of failing the test.
func runSSLScan(l tlsListener, dir string) (*sslscanResult, error) {
	path, err := exec.LookPath("sslscan")
	if err != nil {
		return nil, fmt.Errorf("sslscan is not installed (env.sh install installs it): %w", err)
	}
	xmlPath := filepath.Join(dir, "sslscan-"+l.name+".xml")
	args := []string{"--no-colour", "--sni-name=" + E.ServerName,
		// Only what is compared; each check is more connections.
		"--no-heartbleed", "--no-compression", "--no-fallback", "--no-renegotiation",
		// A probe that times out counts as "rejected" to sslscan: be patient
		// with a loaded Dovecot.
		"--timeout=10", "--xml=" + xmlPath}
	if l.starttls != "none" {
		args = append(args, "--starttls-"+l.starttls)
	}
	args = append(args, E.Addr(l.port))
	res := &sslscanResult{Cmd: "sslscan " + ShellJoin(args)}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	res.Duration = time.Since(start)
	res.Output = string(out)
	if err != nil {
		return res, fmt.Errorf("%s: %v\n%s", res.Cmd, err, out)
	}
	b, err := os.ReadFile(xmlPath)
	if err != nil {
		return res, fmt.Errorf("%s wrote no XML: %v\n%s", res.Cmd, err, out)
	}
	var doc sslscanXML
	if err := xml.Unmarshal(b, &doc); err != nil {
		return res, fmt.Errorf("%s: parsing its XML: %v\n%s", res.Cmd, err, b)
	}
	if len(doc.Tests) != 1 {
		return res, fmt.Errorf("%s: %d <ssltest> elements, want 1\n%s", res.Cmd, len(doc.Tests), b)
	}
	st := doc.Tests[0]
	if st.Port != strconv.Itoa(l.port) {
		return res, fmt.Errorf("%s: scanned port %q, want %d", res.Cmd, st.Port, l.port)
	}
	res.Version = doc.Version
	res.Protocols = map[string]bool{}
	for _, p := range st.Protocols {
		res.Protocols[normVersion(p.Type+p.Version)] = p.Enabled == "1"
	}
	for _, c := range st.Ciphers {
		if c.Status != "accepted" && c.Status != "preferred" {
			continue
		}
		s := sslscanSuite{Version: normVersion(c.SSLVersion), Name: c.Cipher}
		if c.ID != "" {
			s.Code = normCode(c.ID)
		}
		s.Bits, _ = strconv.Atoi(c.Bits)
		s.DHBits, _ = strconv.Atoi(c.DHEBits)
		res.Suites = append(res.Suites, s)
	}
	res.Groups13, res.GroupsEC = map[string]string{}, map[string]string{}
	for _, g := range st.Groups {
		name, _, _ := strings.Cut(strings.TrimSpace(g.Name), " ") // "secp256r1 (NIST P-256)"
		if normVersion(g.SSLVersion) == "TLS1.3" {
			res.Groups13[normCode(g.ID)] = name
		} else {
			res.GroupsEC[normCode(g.ID)] = name
		}
	}
	for _, c := range st.Certificates {
		if c.Type != "" && c.Type != "short" {
			continue
		}
		res.CertType, res.Subject, res.Issuer = c.PK.Type, strings.TrimSpace(c.Subject), strings.TrimSpace(c.Issuer)
		res.CertBits, _ = strconv.Atoi(c.PK.Bits)
		for _, n := range strings.Split(c.AltNames, ",") {
			if n = strings.TrimSpace(n); n != "" {
				res.AltNames = append(res.AltNames, strings.TrimPrefix(n, "DNS:"))
			}
		}
		na := strings.Join(strings.Fields(c.NotAfter), " ")
		if res.NotAfter, err = time.Parse("Jan 2 15:04:05 2006 MST", na); err != nil {
			return res, fmt.Errorf("%s: not-valid-after %q: %v", res.Cmd, c.NotAfter, err)
		}
	}
	// A scan that found nothing would make every comparison trivially
	// equal: insist on a real one.
	if len(res.Protocols) < 5 || len(res.Suites) == 0 || len(res.Groups13) == 0 || res.CertType == "" {
		return res, fmt.Errorf("%s: incomplete result (%d protocols, %d suites, %d TLS 1.3 groups, certificate %q)\n%s\n%s",
			res.Cmd, len(res.Protocols), len(res.Suites), len(res.Groups13), res.CertType, out, b)
	}
	return res, nil
}

// opensslRenegotiation asks `openssl s_client -tls1_2` whether the server
// supports RFC 5746 secure renegotiation.
func opensslRenegotiation(l tlsListener) (bool, error) {
	args := []string{"s_client", "-connect", E.Addr(l.port), "-servername", E.ServerName, "-tls1_2"}
	if l.starttls != "none" {
		args = append(args, "-starttls", l.starttls)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "openssl", args...)
	cmd.Stdin = strings.NewReader("")
	out, _ := cmd.CombinedOutput() // s_client's status says nothing useful here
	switch {
	case strings.Contains(string(out), "Secure Renegotiation IS supported"):
		return true, nil
	case strings.Contains(string(out), "Secure Renegotiation IS NOT supported"):
		return false, nil
	}
	return false, fmt.Errorf("openssl %s: no renegotiation verdict:\n%s", ShellJoin(args), out)
}

// ---------------------------------------------------------------- comparisons

// wantSameList fails with the elements only one side has.
func wantSameList(t *testing.T, what string, mailprobe, sslscan []string) {
	t.Helper()
	var onlyM, onlyS []string
	for _, m := range mailprobe {
		if !slices.Contains(sslscan, m) {
			onlyM = append(onlyM, m)
		}
	}
	for _, s := range sslscan {
		if !slices.Contains(mailprobe, s) {
			onlyS = append(onlyS, s)
		}
	}
	if len(onlyM) > 0 || len(onlyS) > 0 {
		slices.Sort(onlyM)
		slices.Sort(onlyS)
		t.Errorf("%s differ: only mailprobe reports %v; only sslscan reports %v (mailprobe %d, sslscan %d)",
			what, onlyM, onlyS, len(mailprobe), len(sslscan))
	}
}

// compareWithSSLScan asserts mailprobe's scan equals sslscan's.
func compareWithSSLScan(t *testing.T, l tlsListener, sc tlsScan, ss *sslscanResult) {
	t.Helper()
	t.Logf("%s → %s (sslscan %s, %d accepted pairs)", ss.Cmd, ss.Duration.Round(time.Millisecond), ss.Version, len(ss.Suites))

	// Protocols: sslscan tests SSLv2 too, which mailprobe does not probe
	// (docs/tls.md, Limits); an enabled SSLv2 would show as a difference.
	var mpVersions, ssVersions []string
	probed := map[string]bool{}
	for _, v := range sc.Versions {
		probed[normVersion(v.Version)] = true
		if v.Supported {
			mpVersions = append(mpVersions, normVersion(v.Version))
		}
	}
	for v, on := range ss.Protocols {
		if on {
			ssVersions = append(ssVersions, v)
		}
	}
	wantSameList(t, "accepted protocol versions", mpVersions, ssVersions)
	for _, v := range []string{"SSL3", "TLS1.0", "TLS1.1", "TLS1.2", "TLS1.3"} {
		if !probed[v] {
			t.Errorf("facts.scan.versions has no entry for %s", v)
		}
	}
	var want []string
	for _, v := range l.protocols {
		want = append(want, normVersion(v))
	}
	wantSameList(t, "accepted protocol versions (mailprobe vs what "+l.name+" serves)", mpVersions, want)

	// Suites, per version. Keyed by IANA code; by OpenSSL name only if
	// this sslscan prints no ids.
	byName := false
	for _, s := range ss.Suites {
		byName = byName || s.Code == ""
	}
	key := func(version, code, name string) string {
		if byName {
			return normVersion(version) + " " + name
		}
		return normVersion(version) + " " + normCode(code)
	}
	mp := map[string]tlsSuiteFacts{}
	var mpKeys, ssKeys []string
	for _, v := range sc.Versions {
		for _, s := range v.Suites {
			k := key(v.Version, s.Code, s.OpenSSL)
			if _, dup := mp[k]; dup {
				t.Errorf("facts.scan: %s listed twice", k)
			}
			mp[k] = s
			mpKeys = append(mpKeys, k+" "+s.OpenSSL)
		}
	}
	for _, s := range ss.Suites {
		ssKeys = append(ssKeys, key(s.Version, s.Code, s.Name)+" "+s.Name)
	}
	if byName {
		t.Logf("sslscan %s prints no cipher ids: comparing by OpenSSL name", ss.Version)
	}
	// The name is part of the compared string: the same code under a
	// different OpenSSL name is a difference too.
	wantSameList(t, "accepted (version, suite) pairs", mpKeys, ssKeys)
	for _, s := range ss.Suites {
		m, ok := mp[key(s.Version, s.Code, s.Name)]
		if !ok {
			continue
		}
		if s.Bits != 0 && m.Bits != s.Bits {
			t.Errorf("%s %s: mailprobe says %d bits, sslscan %d", s.Version, s.Name, m.Bits, s.Bits)
		}
		if s.DHBits != 0 && m.DHBits != s.DHBits {
			t.Errorf("%s %s: DH prime %d bits per mailprobe, %d per sslscan", s.Version, s.Name, m.DHBits, s.DHBits)
		}
	}

	// Groups: TLS 1.3 key exchange groups and the ECDHE curves of TLS 1.2.
	groupList := func(gs []tlsGroupFacts) []string {
		var out []string
		for _, g := range gs {
			out = append(out, normCode(g.Code)+" "+strings.ToLower(g.Name))
		}
		return out
	}
	ssGroups := func(m map[string]string) []string {
		var out []string
		for code, name := range m {
			out = append(out, code+" "+strings.ToLower(name))
		}
		return out
	}
	wantSameList(t, "TLS 1.3 groups", groupList(sc.GroupsTLS13), ssGroups(ss.Groups13))
	wantSameList(t, "ECDHE curves", groupList(sc.GroupsECDHE), ssGroups(ss.GroupsEC))

	// The smallest DH prime.
	minDH := 0
	for _, s := range ss.Suites {
		if s.DHBits > 0 && (minDH == 0 || s.DHBits < minDH) {
			minDH = s.DHBits
		}
	}
	if sc.DHBits != minDH {
		t.Errorf("facts.scan.dh_bits = %d, sslscan's smallest DHE prime %d", sc.DHBits, minDH)
	}
}

// compareCertificate asserts mailprobe's facts.certificate describes the
// certificate sslscan saw and env.sh issued (MP_IT_SERVER_CERT).
func compareCertificate(t *testing.T, rep *Report, ss *sslscanResult) {
	t.Helper()
	b, err := os.ReadFile(E.ServerCert)
	if err != nil {
		t.Fatalf("MP_IT_SERVER_CERT: %v", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("MP_IT_SERVER_CERT %s holds no PEM block", E.ServerCert)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatalf("MP_IT_SERVER_CERT: %v", err)
	}
	serial, _ := rep.Fact("certificate", "serial").(string)
	n, ok := new(big.Int).SetString(strings.ReplaceAll(serial, ":", ""), 16)
	if !ok || n.Cmp(cert.SerialNumber) != 0 {
		t.Errorf("facts.certificate.serial = %q, the environment's certificate has %x", serial, cert.SerialNumber)
	}
	notAfter, _ := rep.Fact("certificate", "not_after").(string)
	if na, err := time.Parse(time.RFC3339, notAfter); err != nil || !na.Equal(cert.NotAfter) || !na.Equal(ss.NotAfter) {
		t.Errorf("facts.certificate.not_after = %q; certificate %s, sslscan %s", notAfter, cert.NotAfter, ss.NotAfter)
	}
	if kt, _ := rep.Fact("certificate", "key_type").(string); !strings.EqualFold(kt, ss.CertType) {
		t.Errorf("facts.certificate.key_type = %q, sslscan %q", kt, ss.CertType)
	}
	if kb, _ := rep.Fact("certificate", "key_bits").(float64); int(kb) != ss.CertBits {
		t.Errorf("facts.certificate.key_bits = %v, sslscan %d", kb, ss.CertBits)
	}
	WantSameSet(t, "certificate DNS names (mailprobe vs sslscan)", rep.FactStrings("certificate", "dns_names"), ss.AltNames)
	if subj, _ := rep.Fact("certificate", "subject").(string); !strings.Contains(subj, ss.Subject) {
		t.Errorf("facts.certificate.subject = %q, sslscan %q", subj, ss.Subject)
	}
	if iss, _ := rep.Fact("certificate", "issuer").(string); !strings.Contains(iss, ss.Issuer) {
		t.Errorf("facts.certificate.issuer = %q, sslscan %q", iss, ss.Issuer)
	}
}

// wantFindings asserts the report's findings are exactly want (code →
// severity), worst first.
func wantFindings(t *testing.T, rep *Report, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, f := range rep.Findings {
		if prev, dup := got[f.Code]; dup {
			t.Errorf("finding %s reported twice (%s, %s)", f.Code, prev, f.Severity)
		}
		got[f.Code] = f.Severity
	}
	for code, sev := range want {
		switch g, ok := got[code]; {
		case !ok:
			t.Errorf("no finding %s (want %s); findings: %v", code, sev, got)
		case g != sev:
			f := rep.Finding(code)
			t.Errorf("finding %s: severity %s, want %s (%s)", code, g, sev, f.Detail)
		}
	}
	for code, sev := range got {
		if _, ok := want[code]; !ok {
			t.Errorf("unexpected finding %s (%s): %s", code, sev, rep.Finding(code).Detail)
		}
	}
	rank := map[string]int{"fail": 3, "warn": 2, "info": 1, "pass": 0}
	for i := 1; i < len(rep.Findings); i++ {
		if rank[rep.Findings[i].Severity] > rank[rep.Findings[i-1].Severity] {
			t.Errorf("findings not worst first: %s (%s) after %s (%s)", rep.Findings[i].Code, rep.Findings[i].Severity,
				rep.Findings[i-1].Code, rep.Findings[i-1].Severity)
		}
	}
}

// anonNames are the anonymous suites sslscan saw (OpenSSL names them
// ADH-* and AECDH-*), once each.
func (ss *sslscanResult) anonNames() []string {
	var out []string
	for _, s := range ss.Suites {
		if (strings.HasPrefix(s.Name, "ADH-") || strings.HasPrefix(s.Name, "AECDH-") || strings.Contains(s.Name, "_anon_")) && !slices.Contains(out, s.Name) {
			out = append(out, s.Name)
		}
	}
	return out
}

// gradePostfix checks the Postfix findings' details and fixes against
// sslscan and the role.
func gradePostfix(t *testing.T, l tlsListener, rep *Report, sc tlsScan, ss *sslscanResult) {
	t.Helper()
	mx := l.role == "mx"

	// Anonymous suites: the finding names exactly the ones sslscan saw.
	anon := ss.anonNames()
	if len(anon) == 0 {
		t.Errorf("sslscan saw no anonymous suite on %s; the environment's Postfix accepts them", l.name)
	}
	var mpAnon []string
	for _, v := range sc.Versions {
		for _, s := range v.Suites {
			if s.Auth == "anon" && !slices.Contains(mpAnon, s.OpenSSL) {
				mpAnon = append(mpAnon, s.OpenSSL)
			}
		}
	}
	wantSameList(t, "anonymous suites in facts.scan", mpAnon, anon)
	if f := rep.Finding("tls.cipher.anon"); f != nil {
		var ev []string
		for _, e := range f.Evidence {
			if e.Kind == "cipher" {
				name, _, _ := strings.Cut(e.Text, " ")
				ev = append(ev, name)
			}
		}
		wantSameList(t, "tls.cipher.anon evidence", ev, anon)
		WantContains(t, "tls.cipher.anon detail", f.Detail, fmt.Sprintf("accepts %d anonymous", len(anon)))
		if mx {
			WantContains(t, "tls.cipher.anon detail (mx)", f.Detail, "opportunistic (RFC 3207, RFC 7435")
			WantContains(t, "tls.cipher.anon fix (mx)", f.Fix, "No change is needed for opportunistic TLS", "smtpd_tls_ciphers", "keep aNULL")
		} else {
			WantContains(t, "tls.cipher.anon fix", f.Fix, "Postfix: smtpd_tls_mandatory_ciphers = high",
				"smtpd_tls_mandatory_exclude_ciphers = aNULL")
		}
	}

	// Old protocols: where passwords travel the mandatory settings apply.
	for _, code := range []string{"tls.protocol.tls10", "tls.protocol.tls11"} {
		f := rep.Finding(code)
		if f == nil {
			continue
		}
		if mx {
			WantContains(t, code+" detail (mx)", f.Detail, "opportunistic")
			WantContains(t, code+" fix (mx)", f.Fix, "smtpd_tls_protocols = >=TLSv1.2")
		} else {
			WantContains(t, code+" fix", f.Fix, "Postfix: smtpd_tls_mandatory_protocols = >=TLSv1.2")
		}
	}

	// DH: the smallest prime sslscan saw, on the suites sslscan saw it.
	minDH := 0
	var small []string
	for _, s := range ss.Suites {
		if s.DHBits > 0 && (minDH == 0 || s.DHBits < minDH) {
			minDH = s.DHBits
		}
	}
	for _, s := range ss.Suites {
		if s.DHBits > 0 && s.DHBits < 2048 {
			small = append(small, fmt.Sprintf("%s %s (%d bits)", strings.Replace(s.Version, "TLS", "TLS ", 1), s.Name, s.DHBits))
		}
	}
	if f := rep.Finding("tls.dh.weak"); f != nil {
		WantContains(t, "tls.dh.weak detail", f.Detail, fmt.Sprintf("The smallest DH prime is %d bits", minDH))
		WantContains(t, "tls.dh.weak detail", f.Detail, small...)
		WantContains(t, "tls.dh.weak fix", f.Fix, "Postfix: smtpd_tls_dh1024_param_file")
		wantSev := "info"
		switch {
		case mx:
		case minDH <= 1024:
			wantSev = "fail"
		default:
			wantSev = "warn"
		}
		if f.Severity != wantSev {
			t.Errorf("tls.dh.weak: severity %s for a %d-bit prime on role %s, want %s", f.Severity, minDH, l.role, wantSev)
		}
	}

	// Every warning and failure says what to change in Postfix.
	for _, f := range rep.Findings {
		if (f.Severity == "fail" || f.Severity == "warn") && !strings.Contains(f.Fix, "Postfix") {
			t.Errorf("%s (%s) has no Postfix fix: %q", f.Code, f.Severity, f.Fix)
		}
	}
}

// ---------------------------------------------------------------- the full scan

// TestTLS_scan runs the full scan of every listener beside sslscan and
// compares them, then checks the certificate, the STARTTLS injection
// verdict and the grading.
//
// The Postfix listeners are scanned at once; the Dovecot ones one after
// the other, in one parallel subtest. Every Dovecot connection costs a
// fresh login process and DHE with a 4096-bit prime (ffdhe8192 among the
// TLS 1.3 groups): the four listeners scanned at once by both tools, on
// two cores, delayed other tests' Dovecot handshakes by seconds, once past
// their 15 s deadline. In sequence they take about as long (the server's
// CPU is the limit either way) and other clients are still served.
func TestTLS_scan(t *testing.T) {
	t.Parallel()
	var dovecot []tlsListener
	for _, l := range tlsListeners() {
		if !l.postfix {
			dovecot = append(dovecot, l)
			continue
		}
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			scanListener(t, l)
		})
	}
	t.Run("dovecot", func(t *testing.T) {
		t.Parallel()
		for _, l := range dovecot {
			t.Run(l.name, func(t *testing.T) { scanListener(t, l) })
		}
	})
}

// scanListener runs `mailprobe tls` and sslscan (and openssl s_client for
// renegotiation) against one listener at the same time and checks the
// report.
func scanListener(t *testing.T, l tlsListener) {
	dir := t.TempDir()
	type ssOut struct {
		res *sslscanResult
		err error
	}
	ssc := make(chan ssOut, 1)
	go func() {
		res, err := runSSLScan(l, dir)
		ssc <- ssOut{res, err}
	}()
	type renegOut struct {
		supported bool
		err       error
	}
	renegc := make(chan renegOut, 1)
	go func() {
		ok, err := opensslRenegotiation(l)
		renegc <- renegOut{ok, err}
	}()

	r := tlsRun(t, l)
	ssr, ren := <-ssc, <-renegc
	reneg, renegErr := ren.supported, ren.err
	r.WantExit(t, l.exit)
	rep := r.JSON(t)
	sc := scanFacts(t, rep)

	if rep.Command != "tls" || rep.Target != E.Addr(l.port) {
		t.Errorf("command/target = %q/%q, want tls/%s", rep.Command, rep.Target, E.Addr(l.port))
	}
	if rep.Incomplete || !sc.Complete {
		t.Errorf("incomplete = %v, facts.scan.complete = %v: %v", rep.Incomplete, sc.Complete, rep.Codes())
	}
	if sc.Quick || sc.StartTLS != l.starttls || sc.Role != l.role || sc.Address != E.Addr(l.port) {
		t.Errorf("facts.scan quick/starttls/role/address = %v/%q/%q/%q, want false/%q/%q/%q",
			sc.Quick, sc.StartTLS, sc.Role, sc.Address, l.starttls, l.role, E.Addr(l.port))
	}
	for _, s := range []string{"connect", "handshake", "certificate", "protocols", "ciphers"} {
		rep.WantStage(t, s, "ok")
	}
	if g := rep.Stage(t, "groups"); g.Status != "ok" && g.Status != "info" {
		t.Errorf("stage groups: %s (%s)", g.Status, g.Summary)
	}
	// One connection per accepted suite plus one per version,
	// roughly: far fewer than one per known suite (358).
	pairs := 0
	for _, v := range sc.Versions {
		pairs += len(v.Suites)
	}
	if sc.Handshakes <= pairs || sc.Handshakes > 2*pairs+40 {
		t.Errorf("facts.scan.handshakes = %d for %d accepted pairs", sc.Handshakes, pairs)
	}

	t.Run("sslscan", func(t *testing.T) {
		if ssr.err != nil {
			t.Fatalf("sslscan: %v", ssr.err)
		}
		compareWithSSLScan(t, l, sc, ssr.res)
		compareCertificate(t, rep, ssr.res)
	})

	t.Run("certificate-and-injection", func(t *testing.T) {
		wantVerifiedCertificate(t, rep)
		rep.WantNoFinding(t, "tls.starttls.injection")
		rep.WantNoFinding(t, "tls.starttls.injection-inconclusive")
		if sc.Injection != l.injection {
			t.Errorf("facts.scan.starttls_injection = %q, want %q", sc.Injection, l.injection)
		}
		if l.starttls != "none" {
			rep.WantStage(t, "starttls", "ok")
			rep.WantStage(t, "injection", "ok")
			rep.WantFinding(t, "tls.starttls.injection-safe", "pass")
			if !transcriptHas(rep, "C", "STARTTLS") && !transcriptHas(rep, "C", "a STARTTLS") && !transcriptHas(rep, "C", "STLS") {
				t.Errorf("no STARTTLS/STLS in the transcript")
			}
		}
	})

	t.Run("vulnerabilities", func(t *testing.T) {
		// Debian's Postfix and Dovecot (OpenSSL 3): every check runs and
		// none finds the server vulnerable; the stage completes.
		rep.WantStage(t, "vulnerabilities", "ok")
		vulns, _ := rep.Facts["vulnerabilities"].([]any)
		seen := map[string]string{}
		for _, v := range vulns {
			m, _ := v.(map[string]any)
			check, _ := m["check"].(string)
			status, _ := m["status"].(string)
			seen[check] = status
		}
		for _, check := range []string{"heartbleed", "ccs-injection", "compression", "fallback-scsv", "secure-renegotiation",
			"client-renegotiation", "drown", "robot", "logjam", "freak", "rc4", "sweet32", "null"} {
			// ROBOT is not applicable to Dovecot, which has no static RSA.
			if seen[check] != "not vulnerable" && !(check == "robot" && !l.postfix && seen[check] == "not applicable") {
				t.Errorf("%s: %q, want \"not vulnerable\" (all: %v)", check, seen[check], seen)
			}
		}
		for _, code := range []string{"tls.vuln.heartbleed.ok", "tls.vuln.ccs-injection.ok", "tls.vuln.compression.ok", "tls.vuln.fallback-scsv.ok"} {
			rep.WantFinding(t, code, "pass")
		}
	})

	t.Run("grading", func(t *testing.T) {
		// The vulnerability checks' findings are asserted above.
		want := maps.Clone(l.findings)
		// So are the rest of the vulnerability checks, resumption, OCSP
		// and CT (against testssl.sh in tls_testssl_test.go) and the
		// chain note: the environment's chain includes its root.
		for _, f := range rep.Findings {
			if _, ok := want[f.Code]; ok {
				continue
			}
			switch {
			case strings.HasPrefix(f.Code, "tls.vuln."), strings.HasPrefix(f.Code, "tls.resumption."),
				f.Code == "tls.ocsp.not-stapled", f.Code == "tls.ct.none", f.Code == "cert.chain.root-sent":
				want[f.Code] = f.Severity
			}
		}
		wantFindings(t, rep, want)
		// Every listener follows the client's suite order (Postfix
		// tls_preempt_cipherlist = no, Dovecot
		// ssl_prefer_server_ciphers = no).
		for _, v := range sc.Versions {
			if !v.Supported || v.Version == "TLS 1.3" {
				continue
			}
			if v.ServerPreference == nil || *v.ServerPreference {
				t.Errorf("%s: server_preference = %v, want false (client order)", v.Version, v.ServerPreference)
			}
		}
		if renegErr != nil {
			t.Errorf("reference: %v", renegErr)
		} else if sc.SecureRenegotiation == nil || *sc.SecureRenegotiation != reneg {
			t.Errorf("facts.scan.secure_renegotiation = %v, openssl s_client -tls1_2: %v", sc.SecureRenegotiation, reneg)
		}
		if !l.postfix {
			rep.WantNoSeverity(t, "fail")
			rep.WantNoSeverity(t, "warn")
			return
		}
		if ssr.err != nil {
			t.Fatalf("sslscan: %v", ssr.err)
		}
		gradePostfix(t, l, rep, sc, ssr.res)
	})
}

// ---------------------------------------------------------------- --quick

// TestTLS_quick: one handshake per listener, well within 2 s. It is not
// parallel with the rest of the suite, so that the time measured is the
// tool's, not that of a Dovecot busy with other tests' scans.
//
// The handshake count is facts.scan.handshakes, crypto/tls handshakes
// attempted. Dovecot hangs up on the pipelined `STARTTLS` + `NOOP` of the
// injection test, so on its STARTTLS ports the certificate comes from a
// second, clean connection (docs/tls.md, "How it works" 1): two attempts,
// one completed handshake. Everywhere else: one.
func TestTLS_quick(t *testing.T) {
	for _, l := range tlsListeners() {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			r := tlsRun(t, l, "--quick")
			if r.Duration >= 2*time.Second {
				t.Errorf("--quick took %s, want < 2s", r.Duration)
			}
			r.WantExit(t, 0)
			rep := r.JSON(t)
			sc := scanFacts(t, rep)
			if !sc.Quick || !sc.Complete || rep.Incomplete {
				t.Errorf("facts.scan quick/complete = %v/%v, incomplete %v", sc.Quick, sc.Complete, rep.Incomplete)
			}
			wantHandshakes := 1
			if l.injection == "rejected" {
				wantHandshakes = 2
			}
			if sc.Handshakes != wantHandshakes {
				t.Errorf("facts.scan.handshakes = %d, want %d (starttls_injection %q)", sc.Handshakes, wantHandshakes, sc.Injection)
			}
			established := 0
			for _, e := range rep.Transcript {
				if e.Dir == "*" && strings.HasPrefix(e.Line, "TLS established") {
					established++
				}
			}
			if established != 1 {
				t.Errorf("%d completed TLS handshakes in the transcript, want 1", established)
			}
			if len(sc.Versions) != 0 || len(sc.GroupsTLS13) != 0 || len(sc.GroupsECDHE) != 0 {
				t.Errorf("--quick enumerated: %d versions, %d TLS 1.3 groups, %d curves", len(sc.Versions), len(sc.GroupsTLS13), len(sc.GroupsECDHE))
			}
			for _, s := range []string{"protocols", "ciphers", "groups"} {
				rep.WantStage(t, s, "skipped")
			}
			rep.WantStage(t, "handshake", "ok")
			if n := sc.Negotiated; n == nil || n.Version != "TLS 1.3" ||
				!slices.Contains([]string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}, n.Suite) {
				t.Errorf("facts.scan.negotiated = %+v, want TLS 1.3 with one of the three default TLS 1.3 suites", n)
			}
			// The environment's CA staples nothing and logs to no CT log.
			want := map[string]string{"tls.scan.quick": "info", "tls.handshake.ok": "pass", "cert.ok": "pass",
				"tls.ocsp.not-stapled": "info", "tls.ct.none": "info"}
			if l.starttls != "none" {
				want["tls.starttls.injection-safe"] = "pass"
			}
			wantFindings(t, rep, want)
			if sc.Injection != l.injection {
				t.Errorf("facts.scan.starttls_injection = %q, want %q", sc.Injection, l.injection)
			}
			wantVerifiedCertificate(t, rep)
		})
	}
	// The verification is real: without this run's CA, or under another
	// name, the same certificate fails.
	t.Run("untrusted", func(t *testing.T) {
		t.Parallel()
		r := Run(t, "tls", E.Addr(E.SubmissionsPort), "--tls", "implicit", "--quick", "--servername", E.ServerName, "--format", "json")
		r.WantExit(t, 1)
		rep := r.JSON(t)
		rep.WantFinding(t, "cert.untrusted", "fail")
		rep.WantNoFinding(t, "cert.ok")
		if v, _ := rep.Fact("certificate", "verified").(bool); v {
			t.Errorf("facts.certificate.verified = true without the run's CA")
		}
	})
	t.Run("name-mismatch", func(t *testing.T) {
		t.Parallel()
		r := Run(t, "tls", E.Addr(E.IMAPSPort), "--tls", "implicit", "--quick", "--ca-file", E.CA, "--servername", "other."+E.Domain, "--format", "json")
		r.WantExit(t, 1)
		rep := r.JSON(t)
		f := rep.WantFinding(t, "cert.name-mismatch", "fail")
		WantContains(t, "cert.name-mismatch detail", f.Detail, E.ServerName, "other."+E.Domain)
		rep.WantNoFinding(t, "cert.ok")
	})
}
