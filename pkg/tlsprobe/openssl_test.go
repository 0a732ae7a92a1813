package tlsprobe

// Tests against a real OpenSSL server (openssl s_server), which speaks
// what Go's crypto/tls does not: DHE with a chosen group, anonymous
// suites, Camellia, ARIA, TLS 1.0 with its full suite list. They run
// when the openssl binary is installed and skip otherwise, unless
// MAILPROBE_REQUIRE_OPENSSL is set (CI sets it, so a missing package
// fails the build instead of hiding the tests).

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/pkg/report"
)

func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("MAILPROBE_REQUIRE_OPENSSL") != "" {
		t.Fatalf(format+" (MAILPROBE_REQUIRE_OPENSSL is set)", args...)
	}
	t.Skipf(format, args...)
}

// syncBuffer collects a subprocess's output safely.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startOpenSSL runs openssl s_server on a loopback port with the test
// certificate and returns the port.
func startOpenSSL(t testing.TB, args ...string) int {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		skipOrFail(t, "openssl not installed")
	}
	cert, key := getPKI(t).writePEM(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	all := append([]string{"s_server", "-accept", "127.0.0.1:" + strconv.Itoa(port), "-cert", cert, "-key", key, "-www", "-quiet"}, args...)
	cmd := exec.Command("openssl", all...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	stdin, _ := cmd.StdinPipe() // kept open: s_server ends at EOF on stdin
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("openssl %s\n%s", strings.Join(all, " "), out.String())
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("openssl s_server did not start: %s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return port
}

// opensslExpected lists what s_server with an RSA certificate accepts
// for version flag verFlag ("-tls1", "-tls1_2") and cipher string: the
// suites `openssl ciphers -s` reports for that version, authenticated by
// RSA or by nothing (PSK and SRP need callbacks s_server does not have).
func opensslExpected(t testing.TB, verFlag, cipherString string, v uint16) []uint16 {
	t.Helper()
	out, err := exec.Command("openssl", "ciphers", "-V", "-s", verFlag, cipherString).Output()
	if err != nil {
		t.Fatalf("openssl ciphers: %v", err)
	}
	var ids []uint16
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[0], "0x") || (f[5] != "Au=RSA" && f[5] != "Au=None") {
			continue
		}
		hi, _ := strconv.ParseUint(f[0][2:4], 16, 8)
		lo, _ := strconv.ParseUint(f[0][7:9], 16, 8)
		id := uint16(hi)<<8 | uint16(lo)
		if s := suiteOf(id); v >= s.MinVersion && v <= s.MaxVersion && !s.Has(FlagSpecial) {
			ids = append(ids, id)
		}
	}
	return ids
}

func dhParams(t testing.TB, group string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dh.pem")
	if out, err := exec.Command("openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "group:"+group, "-out", path).CombinedOutput(); err != nil {
		t.Fatalf("openssl genpkey: %v\n%s", err, out)
	}
	return path
}

// Server order, DHE with a 1024-bit group, ECDHE curves: the enumeration
// must find exactly the configured list, in the configured order.
func TestOpenSSL_serverOrderAndDH(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		skipOrFail(t, "openssl not installed")
	}
	order := []string{"ECDHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-SHA", "AES128-SHA", "ECDHE-RSA-AES256-SHA384", "DHE-RSA-CAMELLIA128-SHA256"}
	port := startOpenSSL(t, "-tls1_2", "-serverpref", "-cipher", strings.Join(order, ":")+":@SECLEVEL=0",
		"-dhparam", dhParams(t, "dh_1024_160"), "-groups", "X25519:P-256")
	o := testOptions(t, port, ProtoNone)
	o.Role = RoleIMAP
	rep, res := runScan(t, o)
	if got := res.Supported(); !slices.Equal(got, []string{"TLS 1.2"}) {
		t.Fatalf("versions %v; %v", got, codes(rep))
	}
	var want []uint16
	for _, name := range order {
		for _, s := range Suites() {
			if s.OpenSSL == name {
				want = append(want, s.ID)
			}
		}
	}
	if got := suiteIDs(res.Version(VersionTLS12)); !slices.Equal(got, want) {
		t.Errorf("TLS 1.2: got [%s], want [%s] in server order", hex(got), hex(want))
	}
	if p := res.Version(VersionTLS12).ServerPreference; p == nil || !*p {
		t.Errorf("server preference %v, want true", p)
	}
	if res.DHBits != 1024 {
		t.Errorf("DH %d bits, want 1024", res.DHBits)
	}
	wantSet(t, "ECDHE curves", groupIDs(res.ECDHEGroups), []uint16{29, 23})
	wantFinding(t, rep, "tls.dh.weak", report.Fail)
	wantFinding(t, rep, "tls.protocol.no-tls13", report.Info)
	wantFinding(t, rep, "tls.cipher.non-fs-accepted", report.Info)
	wantFinding(t, rep, "tls.handshake.ok", report.Pass)
	wantFinding(t, rep, "cert.ok", report.Pass)
	if !res.Complete {
		t.Errorf("incomplete: %v", codes(rep))
	}
}

// Everything OpenSSL 3 still has, TLS 1.0 to 1.3, client order: the
// accepted sets must equal what `openssl ciphers -s` says per version.
func TestOpenSSL_everySuiteEveryVersion(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		skipOrFail(t, "openssl not installed")
	}
	const cs = "ALL:COMPLEMENTOFALL:@SECLEVEL=0"
	port := startOpenSSL(t, "-min_protocol", "TLSv1", "-cipher", cs)
	o := testOptions(t, port, ProtoNone)
	start := time.Now()
	rep, res := runScan(t, o)
	took := time.Since(start)
	if got := res.Supported(); !slices.Equal(got, []string{"TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"}) {
		t.Fatalf("versions %v; %v", got, codes(rep))
	}
	total := 0
	for _, c := range []struct {
		v    uint16
		flag string
	}{{VersionTLS10, "-tls1"}, {VersionTLS11, "-tls1_1"}, {VersionTLS12, "-tls1_2"}} {
		want := opensslExpected(t, c.flag, cs, c.v)
		wantSet(t, VersionName(c.v), suiteIDs(res.Version(c.v)), want)
		total += len(want)
		if p := res.Version(c.v).ServerPreference; p == nil || *p {
			t.Errorf("%s: server preference %v, want false (client order)", VersionName(c.v), p)
		}
	}
	wantSet(t, "TLS 1.3", suiteIDs(res.Version(VersionTLS13)), []uint16{0x1301, 0x1302, 0x1303})
	for code, sev := range map[string]report.Severity{
		"tls.protocol.tls10": report.Warn, "tls.protocol.tls11": report.Warn, "tls.cipher.anon": report.Fail,
		"tls.cipher.null": report.Fail, "tls.cipher.client-order": report.Info,
	} {
		wantFinding(t, rep, code, sev)
	}
	t.Logf("%d accepted suites, %d handshakes, %s", total+3, res.Handshakes, took.Round(time.Millisecond))
}

// An SMTP front that relays the TLS bytes to openssl: the STARTTLS path
// against a real OpenSSL.
func TestOpenSSL_behindSTARTTLS(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		skipOrFail(t, "openssl not installed")
	}
	port := startOpenSSL(t, "-cipher", "ECDHE+AESGCM:ECDHE+CHACHA20:@SECLEVEL=0", "-groups", "X25519:P-256:P-384")
	f := startFront(t, frontOpts{proto: ProtoSMTP, backend: proxyBackend(fmt.Sprintf("127.0.0.1:%d", port))})
	rep, res := runScan(t, testOptions(t, f.port(), ProtoSMTP))
	if res.StartTLS != ProtoSMTP {
		t.Errorf("protocol %s", res.StartTLS)
	}
	wantSet(t, "TLS 1.2", suiteIDs(res.Version(VersionTLS12)), opensslExpected(t, "-tls1_2", "ECDHE+AESGCM:ECDHE+CHACHA20:@SECLEVEL=0", VersionTLS12))
	wantSet(t, "TLS 1.3 groups", groupIDs(res.Groups), []uint16{29, 23, 24})
	wantFinding(t, rep, "tls.cipher.ok", report.Pass)
	wantFinding(t, rep, "tls.protocol.ok", report.Pass)
}
