package cli

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/dkimkey"
	"github.com/mailprobe/mailprobe/pkg/report"
)

// The DNS commands against the loopback DNS server serving
// testdata/dns/dnsauth.zone: flags, output, exit codes.

func dnsServer(t *testing.T) string {
	t.Helper()
	return dnstest.StartFiles(t, filepath.Join("..", "..", "testdata", "dns", "dnsauth.zone")).Addr
}

func TestDNSCmd_posture(t *testing.T) {
	addr := dnsServer(t)
	res := run(t, nil, "dns", "spf.test", "--resolver", addr, "--dns-timeout", "200ms", "--no-color")
	if res.code != report.ExitFindings {
		t.Fatalf("exit %d, stderr %q\n%s", res.code, res.errOut, res.out)
	}
	for _, want := range []string{"spf.record.missing", "dmarc.record.missing", "mx.record.missing"} {
		if !strings.Contains(res.out, want) {
			t.Errorf("output lacks %s:\n%s", want, res.out)
		}
	}
	// JSON: one stage per area, worst first, the resolver's counters.
	res = run(t, nil, "dns", "good.test", "--resolver", addr, "--format", "json", "--mta-sts-url", "https://127.0.0.1:1/{domain}")
	var doc struct {
		Command  string           `json:"command"`
		Target   string           `json:"target"`
		Stages   []report.Stage   `json:"stages"`
		Findings []report.Finding `json:"findings"`
		Facts    map[string]any   `json:"facts"`
	}
	if err := json.Unmarshal([]byte(res.out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, res.out)
	}
	if doc.Command != "dns" || doc.Target != "good.test" || len(doc.Stages) != 11 {
		t.Fatalf("command %q target %q stages %d", doc.Command, doc.Target, len(doc.Stages))
	}
	// The unreachable policy URL is the only failure.
	if res.code != report.ExitFindings || doc.Findings[0].Code != "mtasts.policy.fetch-failed" || doc.Stages[0].Name != "mta-sts" {
		t.Errorf("exit %d, first finding %s, first stage %s", res.code, doc.Findings[0].Code, doc.Stages[0].Name)
	}
	if _, ok := doc.Facts["resolver"]; !ok {
		t.Error("no resolver facts")
	}
}

func TestDNSCmd_incompleteOnDNSFailure(t *testing.T) {
	addr := dnsServer(t)
	res := run(t, nil, "dns", "failing.mx.test", "--resolver", addr, "--format", "json")
	if res.code != report.ExitIncomplete {
		t.Fatalf("exit %d, want 3 (SERVFAIL); stderr %q", res.code, res.errOut)
	}
}

func TestDNSCmd_usage(t *testing.T) {
	for _, args := range [][]string{
		{"dns"},
		{"dns", "a b"},
		{"dns", "example.com", "--resolver", "127.0.0.1:99999"},
		{"dns", "example.com", "--ip", "not-an-ip"},
		{"dns", "example.com", "--from", "a@b.example"},
		{"dns", "example.com", "--dnsbl-list", "bl.example"},
		{"dns", "example.com", "--mta-sts-url", "http://x/{domain}"},
		{"dns", "example.com", "--dane-port", "0"},
		{"dns", "example.com", "--dane-port", "65536"},
		{"spf", "example.com", "--helo", "x.example"},
		{"dkim", "check", "example.com", "--selector", "a b"},
		{"dkim", "verify", "/nonexistent/file.eml"},
		{"dmarc"},
		{"dmarc", "example.com", "--ip", "192.0.2.1"},
		{"dkim", "keygen", "--type", "dsa"},
		{"dkim", "keygen", "--bits", "1024"},
	} {
		if res := run(t, nil, args...); res.code != report.ExitUsage {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, res.code, res.errOut)
		}
	}
}

func TestSPFCmd(t *testing.T) {
	addr := dnsServer(t)
	res := run(t, nil, "spf", "over.spf.test", "--resolver", addr, "--no-color")
	if res.code != report.ExitFindings || !strings.Contains(res.out, "spf.lookups.over-limit") || !strings.Contains(res.out, "include:b.over.spf.test > a:h4.spf.test") {
		t.Fatalf("exit %d\n%s", res.code, res.out)
	}
	// The tree is printed with the lookups per branch.
	if !strings.Contains(res.out, "include:a.over.spf.test  [5 lookups]") {
		t.Errorf("tree not shown:\n%s", res.out)
	}
	res = run(t, nil, "spf", "good.test", "--resolver", addr, "--ip", "198.51.100.20")
	if res.code != report.ExitOK || !strings.Contains(res.out, "spf.result.pass") {
		t.Errorf("exit %d\n%s", res.code, res.out)
	}
	res = run(t, nil, "spf", "good.test", "--resolver", addr, "--ip", "203.0.113.1", "--format", "json")
	if res.code != report.ExitFindings || !strings.Contains(res.out, `"spf.result.fail"`) {
		t.Errorf("exit %d\n%s", res.code, res.out)
	}
}

func TestDKIMCmds(t *testing.T) {
	addr := dnsServer(t)
	res := run(t, nil, "dkim", "check", "dkim.test", "--resolver", addr, "-s", "rsa2048,rsa512")
	if res.code != report.ExitFindings || !strings.Contains(res.out, "dkim.key.weak") || !strings.Contains(res.out, "dkim.key.ok") {
		t.Errorf("exit %d\n%s", res.code, res.out)
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "s1.pem")
	res = run(t, nil, "dkim", "keygen", "--selector", "s1", "--domain", "example.com", "--out", key)
	if res.code != 0 || !strings.Contains(res.out, `s1._domainkey.example.com. IN TXT ( "v=DKIM1; k=rsa; p=`) {
		t.Fatalf("keygen exit %d\n%s%s", res.code, res.out, res.errOut)
	}
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file %v %v", st, err)
	}
	if _, err := dkimkey.Load(key); err != nil {
		t.Errorf("the key does not load: %v", err)
	}
	if res := run(t, nil, "dkim", "keygen", "--selector", "s1", "--out", key); res.code != report.ExitUsage {
		t.Errorf("overwrote an existing key: exit %d", res.code)
	}
	res = run(t, nil, "dkim", "keygen", "--type", "ed25519", "--selector", "ed", "--domain", "example.com", "--out", filepath.Join(dir, "ed.pem"), "--format", "json")
	if res.code != 0 || !strings.Contains(res.out, `"record": "v=DKIM1; k=ed25519; p=`) {
		t.Errorf("ed25519 keygen exit %d\n%s", res.code, res.out)
	}
	// dkim verify: an unsigned message.
	msg := filepath.Join(dir, "m.eml")
	os.WriteFile(msg, []byte("From: a@dkim.test\nSubject: x\n\nbody\n"), 0o644)
	res = run(t, nil, "dkim", "verify", msg, "--resolver", addr)
	if res.code != report.ExitFindings || !strings.Contains(res.out, "dkim.signature.missing") {
		t.Errorf("verify exit %d\n%s", res.code, res.out)
	}
}

func TestDMARCCmd(t *testing.T) {
	addr := dnsServer(t)
	res := run(t, nil, "dmarc", "none.dmarc.test", "--resolver", addr, "--fail-on", "warn")
	if res.code != report.ExitFindings || !strings.Contains(res.out, "dmarc.policy.none-unmonitored") {
		t.Errorf("exit %d\n%s", res.code, res.out)
	}
	res = run(t, nil, "dmarc", "good.test", "--resolver", addr)
	if res.code != report.ExitOK || !strings.Contains(res.out, "dmarc.policy.enforced") {
		t.Errorf("exit %d\n%s", res.code, res.out)
	}
	res = run(t, nil, "dmarc", "broken.dmarc.test", "--resolver", addr)
	if res.code != report.ExitIncomplete {
		t.Errorf("SERVFAIL: exit %d\n%s", res.code, res.out)
	}
}

// dns --connect --dane-port P -v: the TLSA records at _P._tcp, every
// address of the MX dialed on P, the dialogue printed; and the MTA-STS
// policy host resolved by --resolver (the system resolver knows nothing
// of .test), its certificate verified against mta-sts.DOMAIN.
func TestDNSCmd_daneConnectAndMTASTSThroughResolver(t *testing.T) {
	mxCert := testserver.NewCert(t, testserver.CertOptions{Names: []string{"mx.cli.test"}})
	smtpAddr := testserver.Start(t, testserver.SMTP{Cert: &mxCert}.Handler())
	_, port, _ := net.SplitHostPort(smtpAddr)
	spki := sha256.Sum256(mxCert.Leaf.RawSubjectPublicKeyInfo)

	webCert := testserver.NewCert(t, testserver.CertOptions{Names: []string{"mta-sts.cli.test"}})
	web := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("version: STSv1\r\nmode: enforce\r\nmx: mx.cli.test\r\nmax_age: 604800\r\n"))
	}))
	web.TLS = &tls.Config{Certificates: []tls.Certificate{webCert.TLS}}
	web.StartTLS()
	t.Cleanup(web.Close)
	_, webPort, _ := net.SplitHostPort(web.Listener.Addr().String())
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: webCert.CA.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}

	z := dnstest.NewZone().MustAdd(
		"cli.test. 300 IN MX 10 mx.cli.test.",
		"mx.cli.test. 300 IN A 127.0.0.1",
		"_"+port+"._tcp.mx.cli.test. 300 IN TLSA 3 1 1 "+hex.EncodeToString(spki[:]),
		`_mta-sts.cli.test. 300 IN TXT "v=STSv1; id=1"`,
		"mta-sts.cli.test. 300 IN A 127.0.0.1",
	)
	z.Mark("cli.test.", 0, dnstest.Secure)
	dnsAddr := dnstest.Start(t, z).Addr
	args := []string{"dns", "cli.test", "--resolver", dnsAddr, "--selector", "s1", "--no-color",
		"--ca-file", caFile, "--mta-sts-url", "https://mta-sts.{domain}:" + webPort + "/.well-known/mta-sts.txt"}

	res := run(t, nil, append(args, "--connect", "--dane-port", port, "-v")...)
	for _, want := range []string{"dane.cert.match", "mtasts.policy.ok", "TRANSCRIPT", "DANE: MX mx.cli.test at 127.0.0.1:" + port,
		"C: EHLO mailprobe.invalid", "C: STARTTLS", "TLS established", "DANE: the certificate matches TLSA 3 1 1"} {
		if !strings.Contains(res.out, want) {
			t.Errorf("output lacks %q (exit %d, stderr %q):\n%s", want, res.code, res.errOut, res.out)
		}
	}
	if strings.Contains(res.out, "mtasts.policy.fetch-failed") {
		t.Errorf("policy fetch failed:\n%s", res.out)
	}

	// JSON carries the transcript and the per-address results.
	res = run(t, nil, append(args, "--connect", "--dane-port", port, "--format", "json")...)
	var doc struct {
		Transcript []map[string]any `json:"transcript"`
		Facts      struct {
			DANE struct {
				Hosts []struct {
					Addrs []struct {
						Addr    string `json:"addr"`
						Matched string `json:"matched"`
					} `json:"addrs"`
				} `json:"hosts"`
			} `json:"dane"`
		} `json:"facts"`
	}
	if err := json.Unmarshal([]byte(res.out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, res.out)
	}
	if len(doc.Transcript) == 0 || len(doc.Facts.DANE.Hosts) != 1 || len(doc.Facts.DANE.Hosts[0].Addrs) != 1 ||
		doc.Facts.DANE.Hosts[0].Addrs[0].Addr != "127.0.0.1:"+port || doc.Facts.DANE.Hosts[0].Addrs[0].Matched == "" {
		t.Errorf("transcript of %d entries, dane facts %+v", len(doc.Transcript), doc.Facts.DANE)
	}

	// The default port is 25: no TLSA there, nothing dialed.
	res = run(t, nil, append(args, "--connect")...)
	if !strings.Contains(res.out, "dane.tlsa.missing") || strings.Contains(res.out, "dane.cert.match") {
		t.Errorf("without --dane-port:\n%s", res.out)
	}
}
