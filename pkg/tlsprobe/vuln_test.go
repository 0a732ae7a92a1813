package tlsprobe

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/transcript"
	"golang.org/x/crypto/cryptobyte"
)

// vulnProber is a prober for an implicit-TLS loopback port.
func vulnProber(port int) *prober {
	d := &net.Dialer{}
	return newProber(prober{
		dial: d.DialContext, addr: net.JoinHostPort("127.0.0.1", itoa(port)), proto: ProtoNone,
		t:   netx.Timeouts{Connect: 2 * time.Second, Banner: 2 * time.Second, Command: 2 * time.Second, TLS: 2 * time.Second}.WithDefaults(),
		rec: transcript.New(nil), sem: make(chan struct{}, 1), width: 1,
	})
}

func itoa(n int) string {
	var b []byte
	for n > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// hbServer answers a ClientHello with TLS_RSA_WITH_AES_128_CBC_SHA
// and, when offered and echo is set, the heartbeat extension; then
// ServerHelloDone, at the client's version up to TLS 1.2. What it does with the next record is respond's job.
func hbServer(t *testing.T, echo bool, respond func(c net.Conn, br *bufio.Reader)) *listener {
	return helloServer(t, echo, false, respond)
}

// helloServer is hbServer that, with compress, picks DEFLATE when offered.
func helloServer(t *testing.T, echo, compress bool, respond func(c net.Conn, br *bufio.Reader)) *listener {
	return startListener(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		ch, err := readClientHello(br)
		if err != nil {
			return
		}
		v := min(ch.legacyVersion, VersionTLS12)
		b := cryptobyte.NewBuilder(nil)
		b.AddUint8(hsServerHello)
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
			b.AddUint16(v)
			b.AddBytes(make([]byte, 32))
			b.AddUint8(0)
			b.AddUint16(0x002F)
			if compress && slices.Contains(ch.compression, 1) {
				b.AddUint8(1)
			} else {
				b.AddUint8(0)
			}
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
				if echo && slices.Contains(ch.exts, extHeartbeat) {
					b.AddUint16(extHeartbeat)
					b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(1) })
				}
				b.AddUint16(extRenegotiationInfo)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(0) })
			})
		})
		flight := append(b.BytesOrPanic(), hsServerHelloDone, 0, 0, 0)
		c.Write(appendRecords(nil, recordHandshake, v, flight))
		if respond != nil {
			respond(c, br)
		}
	})
}

// readHeartbeat reads the client's heartbeat record and returns the
// payload length it claims.
func readHeartbeat(br *bufio.Reader) (int, bool) {
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(br, hdr); err != nil || hdr[0] != recordHeartbeat {
		return 0, false
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(br, body); err != nil || len(body) < 3 || body[0] != 1 {
		return 0, false
	}
	return int(body[1])<<8 | int(body[2]), true
}

// bleeding answers a heartbeat request the way OpenSSL 1.0.1f did: a
// response of the claimed length, copied from whatever memory follows.
func bleeding(c net.Conn, br *bufio.Reader) {
	n, ok := readHeartbeat(br)
	if !ok {
		return
	}
	resp := make([]byte, 3+n+16)
	resp[0], resp[1], resp[2] = 2, byte(n>>8), byte(n)
	copy(resp[3:], "SECRET-MEMORY")
	rec := append([]byte{recordHeartbeat, 3, 3, byte(len(resp) >> 8), byte(len(resp))}, resp...)
	c.Write(rec)
}

// discarding answers like a fixed OpenSSL: the request is dropped
// (RFC 6520 §4) and the server waits for the handshake, then gives up.
func discarding(c net.Conn, br *bufio.Reader) {
	readHeartbeat(br)
	c.Write(appendRecords(nil, recordAlert, VersionTLS12, []byte{2, 10})) // unexpected_message, as the waiting handshake sees no ClientKeyExchange
}

func TestHeartbleed_flips(t *testing.T) {
	ctx := context.Background()
	vuln := hbServer(t, true, bleeding)
	r := vulnProber(vuln.port()).heartbleed(ctx, []uint16{VersionTLS12}, "mail.test")
	if r.Status != VulnVulnerable {
		t.Fatalf("bleeding server: %+v", r)
	}
	if strings.Contains(r.Detail, "SECRET") || !strings.Contains(r.Detail, "16403-byte heartbeat response") {
		t.Errorf("detail %q: want the length and no leaked bytes", r.Detail)
	}
	if r.Connections != 1 {
		t.Errorf("connections %d, want 1", r.Connections)
	}
	f, ok := vulnFinding(r)
	if !ok || f.Code != "tls.vuln.heartbleed" || f.Severity != report.Fail {
		t.Errorf("finding %+v", f)
	}

	fixed := hbServer(t, true, discarding)
	r = vulnProber(fixed.port()).heartbleed(ctx, []uint16{VersionTLS12, VersionTLS11, VersionTLS10}, "mail.test")
	if r.Status != VulnNotVulnerable || r.Connections != 3 || !strings.Contains(r.Detail, "unexpected_message") {
		t.Fatalf("fixed server: %+v", r)
	}
	if f, _ := vulnFinding(r); f.Code != "tls.vuln.heartbleed.ok" || f.Severity != report.Pass {
		t.Errorf("finding %+v", f)
	}

	noExt := hbServer(t, false, func(c net.Conn, br *bufio.Reader) {
		if _, ok := readHeartbeat(br); ok {
			t.Error("a heartbeat was sent to a server that did not offer the extension")
		}
	})
	r = vulnProber(noExt.port()).heartbleed(ctx, []uint16{VersionTLS12}, "mail.test")
	if r.Status != VulnNotVulnerable || !strings.Contains(r.Detail, "does not offer the heartbeat extension") {
		t.Fatalf("server without heartbeat: %+v", r)
	}

	r = vulnProber(1).heartbleed(ctx, nil, "")
	if r.Status != VulnNotApplicable || r.Connections != 0 {
		t.Errorf("no TLS ≤ 1.2: %+v", r)
	}
}

// A server that stops accepting connections is "not testable", never
// "not vulnerable".
func TestHeartbleed_refusedIsNotTestable(t *testing.T) {
	l := hbServer(t, true, bleeding)
	port := l.port()
	l.close()
	r := vulnProber(port).heartbleed(context.Background(), []uint16{VersionTLS12}, "mail.test")
	if r.Status != VulnNotTestable {
		t.Fatalf("refused: %+v", r)
	}
	if f, _ := vulnFinding(r); f.Code != "tls.vuln.heartbleed.untestable" {
		t.Errorf("finding %+v", f)
	}
}

func TestClientHelloExtra(t *testing.T) {
	h := ClientHello{Version: VersionTLS12, Suites: []uint16{0x002F}, ServerName: "mail.test",
		Extra: []Extension{{Type: extHeartbeat, Data: []byte{1}}}}
	out, err := h.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ch, err := readClientHello(bufio.NewReader(strings.NewReader(string(out))))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ch.exts, extHeartbeat) || !slices.Contains(ch.exts, extServerName) || ch.serverName != "mail.test" {
		t.Errorf("extensions %v, name %q", ch.exts, ch.serverName)
	}
	// RFC 7685: the padding extension stays the last one.
	if i := slices.Index(ch.exts, extPadding); i >= 0 && i != len(ch.exts)-1 {
		t.Errorf("padding is not last: %v", ch.exts)
	}
}

// The scan runs the checks on the versions it found and reports them in
// facts.vulnerabilities and as findings; --no-vulns skips them.
func TestScan_vulnerabilitiesFacts(t *testing.T) {
	f := startFront(t, frontOpts{proto: ProtoNone, backend: rawBackend(weakServer(t, true))})
	rep, _ := runScan(t, testOptions(t, f.port(), ProtoNone))
	vs, _ := rep.Facts["vulnerabilities"].([]VulnResult)
	if len(vs) == 0 || vs[0].Check != "heartbleed" || vs[0].Status != VulnNotVulnerable || vs[0].Connections != 2 {
		t.Fatalf("facts.vulnerabilities %+v", vs)
	}
	wantFinding(t, rep, "tls.vuln.heartbleed.ok", report.Pass)
	if len(vs) < 5 || vs[3].Check != "fallback-scsv" || vs[3].Status != VulnVulnerable {
		t.Fatalf("facts.vulnerabilities %+v", vs)
	}
	if len(vs) < 5 || vs[4].Check != "secure-renegotiation" || vs[4].Status != VulnNotVulnerable || vs[4].Connections != 0 {
		t.Fatalf("facts.vulnerabilities %+v", vs)
	}
	if len(vs) < 3 || vs[2].Check != "compression" || vs[2].Status != VulnNotVulnerable {
		t.Fatalf("facts.vulnerabilities %+v", vs)
	}
	if len(vs) < 2 || vs[1].Check != "ccs-injection" || vs[1].Status != VulnNotVulnerable || vs[1].Connections != 1 {
		t.Fatalf("facts.vulnerabilities %+v", vs)
	}

	o := testOptions(t, f.port(), ProtoNone)
	o.NoVulns = true
	rep, _ = runScan(t, o)
	if _, ok := rep.Facts["vulnerabilities"]; ok {
		t.Error("--no-vulns still ran the checks")
	}
	noFinding(t, rep, "tls.vuln.heartbleed.ok")
}

// readCCS reads one client ChangeCipherSpec record.
func readCCS(br *bufio.Reader) bool {
	rec := make([]byte, 6)
	_, err := io.ReadFull(br, rec)
	return err == nil && rec[0] == recordChangeCipherSpec && rec[5] == 1
}

func TestCCSInjection_flips(t *testing.T) {
	ctx := context.Background()
	// OpenSSL before 1.0.1h: the first early CCS is taken silently, the
	// second is "decrypted" with keys from an empty master secret.
	vuln := hbServer(t, false, func(c net.Conn, br *bufio.Reader) {
		if readCCS(br) && readCCS(br) {
			c.Write(appendRecords(nil, recordAlert, VersionTLS10, []byte{2, 21}))
		}
	})
	r := vulnProber(vuln.port()).ccsInjection(ctx, VersionTLS10, "mail.test")
	if r.Status != VulnVulnerable || r.Connections != 1 || !strings.Contains(r.Detail, "decryption_failed") {
		t.Fatalf("vulnerable server: %+v", r)
	}
	if f, _ := vulnFinding(r); f.Code != "tls.vuln.ccs-injection" || f.Severity != report.Fail {
		t.Errorf("finding %+v", f)
	}

	// A fixed OpenSSL: unexpected_message on the first CCS, then close.
	fixed := hbServer(t, false, func(c net.Conn, br *bufio.Reader) {
		if readCCS(br) {
			c.Write(appendRecords(nil, recordAlert, VersionTLS10, []byte{2, 10}))
		}
	})
	r = vulnProber(fixed.port()).ccsInjection(ctx, VersionTLS10, "mail.test")
	if r.Status != VulnNotVulnerable || !strings.Contains(r.Detail, "unexpected_message") {
		t.Fatalf("fixed server: %+v", r)
	}

	// A server that hangs up on the CCS.
	hangup := hbServer(t, false, func(c net.Conn, br *bufio.Reader) { readCCS(br) })
	r = vulnProber(hangup.port()).ccsInjection(ctx, VersionTLS12, "mail.test")
	if r.Status != VulnNotVulnerable {
		t.Fatalf("hang-up: %+v", r)
	}

	if r := vulnProber(1).ccsInjection(ctx, ccsVersion(nil, false), ""); r.Status != VulnNotApplicable || r.Connections != 0 {
		t.Errorf("TLS 1.3 only: %+v", r)
	}
	if v := ccsVersion([]uint16{VersionTLS12, VersionTLS11}, true); v != VersionTLS11 {
		t.Errorf("ccsVersion %s, want the oldest TLS, TLS 1.1", VersionName(v))
	}

	l := hbServer(t, false, nil)
	port := l.port()
	l.close()
	if r := vulnProber(port).ccsInjection(ctx, VersionTLS12, "mail.test"); r.Status != VulnNotTestable {
		t.Errorf("refused: %+v", r)
	}
}

func TestCompression_flips(t *testing.T) {
	ctx := context.Background()
	deflate := helloServer(t, false, true, nil)
	r := vulnProber(deflate.port()).compression(ctx, VersionTLS12, "mail.test")
	if r.Status != VulnVulnerable || r.Connections != 1 || !strings.Contains(r.Detail, "DEFLATE (1)") {
		t.Fatalf("compressing server: %+v", r)
	}
	if f, _ := vulnFinding(r); f.Code != "tls.vuln.compression" || f.Severity != report.Fail {
		t.Errorf("finding %+v", f)
	}
	null := helloServer(t, false, false, nil)
	r = vulnProber(null.port()).compression(ctx, VersionTLS12, "mail.test")
	if r.Status != VulnNotVulnerable {
		t.Fatalf("null-only server: %+v", r)
	}
	if r := vulnProber(1).compression(ctx, newestVersion(nil, false), ""); r.Status != VulnNotApplicable {
		t.Errorf("TLS 1.3 only: %+v", r)
	}
	l := helloServer(t, false, true, nil)
	port := l.port()
	l.close()
	if r := vulnProber(port).compression(ctx, VersionTLS12, "mail.test"); r.Status != VulnNotTestable {
		t.Errorf("refused: %+v", r)
	}
	out, err := ClientHello{Version: VersionTLS12, Suites: []uint16{0x002F}, Compression: []uint8{1, 0}}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ch, err := readClientHello(bufio.NewReader(strings.NewReader(string(out))))
	if err != nil || !slices.Equal(ch.compression, []byte{1, 0}) {
		t.Fatalf("rewritten hello: %v, compression %v", err, ch)
	}
}

// Secure renegotiation flips with the server's renegotiation_info echo
// (rawServer.noReneg is a pre-RFC 5746 server).
func TestScan_secureRenegotiationFact(t *testing.T) {
	rs := weakServer(t, true)
	rs.noReneg = true
	f := startFront(t, frontOpts{proto: ProtoNone, backend: rawBackend(rs)})
	rep, _ := runScan(t, testOptions(t, f.port(), ProtoNone))
	vs, _ := rep.Facts["vulnerabilities"].([]VulnResult)
	if len(vs) < 5 || vs[4].Check != "secure-renegotiation" || vs[4].Status != VulnVulnerable {
		t.Fatalf("facts.vulnerabilities %+v", vs)
	}
	noFinding(t, rep, "tls.vuln.secure-renegotiation")
}

func TestFallbackSCSV_flips(t *testing.T) {
	ctx := context.Background()
	// Go's crypto/tls server honours TLS_FALLBACK_SCSV.
	goSrv := startListener(t, func(c net.Conn) {
		cfg := &tls.Config{Certificates: []tls.Certificate{getPKI(t).rsa}, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS12}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		tls.Server(c, cfg).Handshake()
	})
	r := vulnProber(goSrv.port()).fallbackSCSV(ctx, fallbackVersion([]uint16{VersionTLS10, VersionTLS11, VersionTLS12}), "mail.test")
	if r.Status != VulnNotVulnerable || !strings.Contains(r.Detail, "TLS 1.1 with") || !strings.Contains(r.Detail, "inappropriate_fallback") {
		t.Fatalf("crypto/tls server: %+v", r)
	}
	if f, _ := vulnFinding(r); f.Code != "tls.vuln.fallback-scsv.ok" {
		t.Errorf("finding %+v", f)
	}
	// A server that ignores the SCSV answers the lower version.
	old := helloServer(t, false, false, nil)
	r = vulnProber(old.port()).fallbackSCSV(ctx, VersionTLS11, "mail.test")
	if r.Status != VulnVulnerable || r.Connections != 1 {
		t.Fatalf("ignoring server: %+v", r)
	}
	if f, _ := vulnFinding(r); f.Code != "tls.vuln.fallback-scsv" || f.Severity != report.Warn {
		t.Errorf("finding %+v", f)
	}
	// A server that hangs up on the SCSV hello (Dovecot: the connection
	// closes before OpenSSL's alert is sent) refuses the downgrade.
	closer := startListener(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Read(buf)
		c.Close()
	})
	r = vulnProber(closer.port()).fallbackSCSV(ctx, VersionTLS12, "mail.test")
	if r.Status != VulnNotVulnerable || !strings.Contains(r.Detail, "closed the connection") {
		t.Fatalf("hanging-up server: %+v", r)
	}
	// One that never answers is not testable.
	silent := startListener(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, c)
	})
	sp := vulnProber(silent.port())
	sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	r = sp.fallbackSCSV(sctx, VersionTLS12, "mail.test")
	cancel()
	if r.Status != VulnNotTestable {
		t.Fatalf("silent server: %+v", r)
	}
	if v := fallbackVersion([]uint16{VersionTLS13}); v != 0 {
		t.Errorf("one version: %s", VersionName(v))
	}
	if v := fallbackVersion([]uint16{VersionTLS12, VersionTLS13}); v != VersionTLS12 {
		t.Errorf("TLS 1.2 and 1.3: %s", VersionName(v))
	}
	if r := vulnProber(1).fallbackSCSV(ctx, 0, ""); r.Status != VulnNotApplicable || r.Connections != 0 {
		t.Errorf("one version: %+v", r)
	}
}
