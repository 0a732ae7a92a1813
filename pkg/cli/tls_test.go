package cli

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/pkg/iostreams"
	"github.com/mailprobe/mailprobe/pkg/report"
)

// tlsTestServer serves implicit TLS (TLS 1.2 and 1.3, Go's defaults) on
// loopback with a certificate for mail.test from a fresh CA; it returns
// the port and the CA file.
func tlsTestServer(t *testing.T) (port int, caFile string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cli test CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(100 * 24 * time.Hour), KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caT, caT, &key.PublicKey, key)
	ca, _ := x509.ParseCertificate(caDER)
	leafT := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "mail.test"}, DNSNames: []string{"mail.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafT, ca, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600)
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER, caDER}, PrivateKey: key}}}
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
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				tc := tls.Server(c, cfg)
				if tc.Handshake() == nil {
					io.Copy(io.Discard, tc)
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, caFile
}

// lineServer greets every connection with greeting and hangs up.
func lineServer(t *testing.T, greeting string) int {
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
			fmt.Fprintf(c, "%s\r\n", greeting)
			bufio.NewReader(c).ReadString('\n')
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestTLSCmd_usageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"tls"},
		{"tls", "a", "b"},
		{"tls", "mail.test", "--tls", "ftp"},
		{"tls", "mail.test", "--tls", "implicit"}, // implicit TLS needs a port
		{"tls", "mail.test:993", "--parallel", "0"},
		{"tls", "mail.test:993", "--parallel", "100"},
		{"tls", "mail.test:993", "--role", "web"},
		{"tls", "mail.test:993", "--ca-file", "/nonexistent/ca.pem"},
		{"tls", "mail.test:99999"},
		{"tls", "mail.test:993", "--local-addr", "not-an-ip"},
		{"tls", "mail.test:993", "--format", "yaml"},
	} {
		r := run(t, nil, args...)
		if r.code != report.ExitUsage {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, r.code, r.errOut)
		}
	}
}

func TestTLSCmd_jsonAgainstLoopback(t *testing.T) {
	port, caFile := tlsTestServer(t)
	target := fmt.Sprintf("127.0.0.1:%d", port)
	r := run(t, nil, "tls", target, "--tls", "implicit", "--servername", "mail.test", "--ca-file", caFile, "--format", "json", "--parallel", "2")
	if r.code != report.ExitOK {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.out, r.errOut)
	}
	var doc struct {
		Command  string `json:"command"`
		Findings []struct {
			Code     string `json:"code"`
			Severity string `json:"severity"`
		} `json:"findings"`
		Facts struct {
			Protocols []string `json:"protocols"`
			Scan      struct {
				StartTLS   string `json:"starttls"`
				Role       string `json:"role"`
				Handshakes int    `json:"handshakes"`
				Versions   []struct {
					Version   string `json:"version"`
					Supported bool   `json:"supported"`
					Suites    []struct {
						Code    string `json:"code"`
						IANA    string `json:"iana"`
						OpenSSL string `json:"openssl"`
					} `json:"suites"`
				} `json:"versions"`
			} `json:"scan"`
		} `json:"facts"`
	}
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r.out)
	}
	if doc.Command != "tls" || strings.Join(doc.Facts.Protocols, ",") != "TLS 1.2,TLS 1.3" {
		t.Errorf("command %q, protocols %v", doc.Command, doc.Facts.Protocols)
	}
	if doc.Facts.Scan.StartTLS != "none" || doc.Facts.Scan.Role != "submission" || doc.Facts.Scan.Handshakes < 10 {
		t.Errorf("scan facts %+v", doc.Facts.Scan)
	}
	named := false
	for _, v := range doc.Facts.Scan.Versions {
		for _, s := range v.Suites {
			named = named || (s.IANA == "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" && s.OpenSSL == "ECDHE-ECDSA-AES128-GCM-SHA256" && s.Code == "0xC02B")
		}
	}
	if !named {
		t.Errorf("suites are not named by IANA code, IANA name and OpenSSL name: %+v", doc.Facts.Scan.Versions)
	}
	has := map[string]string{}
	for _, f := range doc.Findings {
		has[f.Code] = f.Severity
	}
	if has["cert.ok"] != "pass" || has["tls.protocol.ok"] != "pass" || has["tls.handshake.ok"] != "pass" {
		t.Errorf("findings %v", has)
	}
	for code, sev := range has {
		if sev == "warn" || sev == "fail" {
			t.Errorf("%s (%s) from Go's default server", code, sev)
		}
	}
}

func TestTLSCmd_quickAndInsecure(t *testing.T) {
	port, _ := tlsTestServer(t)
	target := fmt.Sprintf("127.0.0.1:%d", port)
	// Without the CA the certificate is untrusted: exit 1 ...
	r := run(t, nil, "tls", target, "--tls", "implicit", "--servername", "mail.test", "--quick")
	if r.code != report.ExitFindings || !strings.Contains(r.out, "cert.untrusted") {
		t.Errorf("untrusted: exit %d\n%s", r.code, r.out)
	}
	// ... and --insecure makes it a warning that says so.
	r = run(t, nil, "tls", target, "--tls", "implicit", "--servername", "mail.test", "--quick", "--insecure")
	if r.code != report.ExitOK || !strings.Contains(r.out, "cert.verify-skipped") || !strings.Contains(r.out, "tls.scan.quick") {
		t.Errorf("insecure: exit %d\n%s", r.code, r.out)
	}
	if r.errOut != "" {
		t.Errorf("stderr not empty without a terminal: %q", r.errOut)
	}
}

func TestTLSCmd_refusedAndUnreachable(t *testing.T) {
	port := lineServer(t, "421 4.7.0 mail.test Error: too many connections")
	r := run(t, nil, "tls", fmt.Sprintf("127.0.0.1:%d", port), "--tls", "starttls", "--role", "mx")
	if r.code != report.ExitIncomplete || !strings.Contains(r.out, "too many connections") || !strings.Contains(r.out, "tls.server.refused") {
		t.Errorf("421: exit %d\n%s", r.code, r.out)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r = run(t, nil, "tls", fmt.Sprintf("127.0.0.1:%d", closed), "--tls", "starttls", "--role", "imap")
	if r.code != report.ExitIncomplete || !strings.Contains(r.out, "tls.connect.failed") {
		t.Errorf("unreachable: exit %d\n%s", r.code, r.out)
	}
}

// On a terminal a full scan shows a progress line on stderr and clears it.
func TestTLSCmd_progressOnTerminal(t *testing.T) {
	port, caFile := tlsTestServer(t)
	io, _, out, errOut := iostreams.Test()
	io.StderrTTY = true
	code := Main([]string{"tls", fmt.Sprintf("127.0.0.1:%d", port), "--tls", "implicit", "--servername", "mail.test", "--ca-file", caFile}, &Env{IO: io})
	if code != report.ExitOK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if !strings.Contains(errOut.String(), "handshakes") || !strings.HasSuffix(errOut.String(), "\r\x1b[K") {
		t.Errorf("progress %q", errOut.String())
	}
}
