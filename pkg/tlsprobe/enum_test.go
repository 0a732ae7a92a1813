package tlsprobe

import (
	"crypto/tls"
	"slices"
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// A server with every sin Go's crypto/tls refuses to speak: SSL 3.0,
// export, NULL, anonymous, RC4, DES and 3DES, DHE with a 1024-bit prime,
// a 192-bit curve. The scripted responder negotiates like a server would,
// with the preference order below.
var weakOrder = []uint16{
	0x0005, // RC4-SHA
	0x000A, // DES-CBC3-SHA
	0x0003, // EXP-RC4-MD5
	0x0002, // NULL-SHA
	0x0034, // ADH-AES128-SHA
	0x0033, // DHE-RSA-AES128-SHA
	0x002F, // AES128-SHA
	0xC013, // ECDHE-RSA-AES128-SHA
	0xC02F, // ECDHE-RSA-AES128-GCM-SHA256
	0x0009, // DES-CBC-SHA
}

func weakServer(t testing.TB, serverPref bool) *rawServer {
	return &rawServer{
		versions: []uint16{VersionSSL30, VersionTLS10, VersionTLS12},
		suites:   weakOrder, serverPref: serverPref,
		groups: []uint16{23, 19}, dhBits: 1024,
		certs: [][]byte{getPKI(t).rsaLeaf},
	}
}

// filterFor keeps the suites of order defined for version v.
func filterFor(order []uint16, v uint16) []uint16 {
	var out []uint16
	for _, id := range order {
		if s := suiteOf(id); v >= s.MinVersion && v <= s.MaxVersion {
			out = append(out, id)
		}
	}
	return out
}

func TestScan_rawServerWeakSuitesServerOrder(t *testing.T) {
	f := startFront(t, frontOpts{proto: ProtoNone, backend: rawBackend(weakServer(t, true))})
	o := testOptions(t, f.port(), ProtoNone)
	o.Role = RoleSubmission
	rep, res := runScan(t, o)

	if got := res.Supported(); !slices.Equal(got, []string{"SSL 3.0", "TLS 1.0", "TLS 1.2"}) {
		t.Fatalf("versions %v; findings %v", got, codes(rep))
	}
	// Exactly the configured suites, in the server's order.
	for _, v := range []uint16{VersionSSL30, VersionTLS10, VersionTLS12} {
		want := filterFor(weakOrder, v)
		if got := suiteIDs(res.Version(v)); !slices.Equal(got, want) {
			t.Errorf("%s: got [%s], want [%s] in server order", VersionName(v), hex(got), hex(want))
		}
		if p := res.Version(v).ServerPreference; p == nil || !*p {
			t.Errorf("%s: server preference %v, want true", VersionName(v), p)
		}
	}
	if res.DHBits != 1024 || res.ExportRSABits != 512 {
		t.Errorf("DH %d bits, export RSA %d bits; want 1024 and 512", res.DHBits, res.ExportRSABits)
	}
	wantSet(t, "ECDHE curves", groupIDs(res.ECDHEGroups), []uint16{23, 19})
	// Handshakes: one per accepted suite plus one refusal per chain
	// (SSLv3 8+1, TLS 1.0 9+1, TLS 1.2 10+1; TLS 1.1 and 1.3 one refusal
	// each); a preference check per version whose first two picks came in
	// offer order (all three here); the 29 other curves, offered in four
	// parallel parts (one new curve, four refusals); and the crypto/tls
	// attempt; then Heartbleed at TLS 1.2 and TLS 1.0, CCS injection 1, compression 1, fallback SCSV 1,
	// client renegotiation 1 (not testable: the responder cannot finish a handshake).
	// the SSLv2 probe 1, resumption 2 (both full handshakes fail), and the
	// ECDHE group order 2, ROBOT 10 (two uniform rounds: the responder
	// hangs up on every ClientKeyExchange).
	if want := 9 + 10 + 11 + 1 + 1 + 3 + 5 + 1 + 2 + 1 + 1 + 1 + 1 + 1 + 2 + 2 + 10; res.Handshakes != want {
		t.Errorf("%d handshakes, want %d", res.Handshakes, want)
	}
	for code, sev := range map[string]report.Severity{
		"tls.protocol.sslv3": report.Fail, "tls.protocol.tls10": report.Warn, "tls.protocol.no-tls13": report.Info,
		"tls.cipher.export": report.Fail, "tls.cipher.null": report.Fail, "tls.cipher.anon": report.Fail,
		"tls.cipher.rc4": report.Fail, "tls.cipher.3des": report.Fail, "tls.cipher.no-fs": report.Warn,
		"tls.dh.weak": report.Fail, "tls.group.weak": report.Warn, "tls.handshake.failed": report.Fail,
		"cert.ok": report.Pass,
	} {
		wantFinding(t, rep, code, sev)
	}
	noFinding(t, rep, "tls.protocol.tls11")
	noFinding(t, rep, "tls.cipher.cbc-only")
	noFinding(t, rep, "tls.cipher.ok")
	// The 3DES finding names DES too, by IANA and OpenSSL name.
	f3, _ := rep.Find("tls.cipher.3des")
	ev := ""
	for _, e := range f3.Evidence {
		ev += e.Text + "\n"
	}
	for _, want := range []string{"DES-CBC3-SHA (TLS_RSA_WITH_3DES_EDE_CBC_SHA, 0x000A)", "DES-CBC-SHA (TLS_RSA_WITH_DES_CBC_SHA, 0x0009)"} {
		if !strings.Contains(ev, want) {
			t.Errorf("3DES evidence lacks %q:\n%s", want, ev)
		}
	}
	// The certificate came from the raw flight: crypto/tls cannot finish
	// a handshake with the responder.
	if c, _ := rep.Find("cert.ok"); len(c.Evidence) == 0 || !strings.Contains(c.Evidence[0].Text, "raw ServerHello") {
		t.Errorf("cert.ok evidence %v, want the raw-flight note", c.Evidence)
	}
	// Every weak finding names both the Postfix and the Dovecot setting.
	for _, f := range rep.Findings {
		if strings.HasPrefix(f.Code, "tls.protocol.") || strings.HasPrefix(f.Code, "tls.cipher.") || strings.HasPrefix(f.Code, "tls.dh.") {
			if f.Severity >= report.Warn && (!strings.Contains(f.Fix, "Postfix") || !strings.Contains(f.Fix, "Dovecot")) {
				t.Errorf("%s fix does not name Postfix and Dovecot settings: %s", f.Code, f.Fix)
			}
		}
	}
}

func TestScan_rawServerClientOrder(t *testing.T) {
	f := startFront(t, frontOpts{proto: ProtoNone, backend: rawBackend(weakServer(t, false))})
	rep, res := runScan(t, testOptions(t, f.port(), ProtoNone))
	// A server that follows the client picks in the order offered, which
	// is ascending code; one more handshake per version proves it.
	for _, v := range []uint16{VersionSSL30, VersionTLS10, VersionTLS12} {
		want := sorted(filterFor(weakOrder, v))
		if got := suiteIDs(res.Version(v)); !slices.Equal(got, want) {
			t.Errorf("%s: got [%s], want [%s]", VersionName(v), hex(got), hex(want))
		}
		if p := res.Version(v).ServerPreference; p == nil || *p {
			t.Errorf("%s: server preference %v, want false", VersionName(v), p)
		}
	}
	// Per version: two serial picks, the preference check, then the rest
	// in four parallel parts (each its suites plus one refusal): SSLv3
	// 2+1+6+4, TLS 1.0 2+1+7+4, TLS 1.2 2+1+8+4; TLS 1.1 and 1.3 one
	// refusal each; curves 5; crypto/tls 1; Heartbleed 2, CCS 1, compression 1, fallback SCSV 1, client renegotiation 1; SSLv2 1; resumption 2; group order 2; ROBOT 10.
	if want := 13 + 14 + 15 + 1 + 1 + 5 + 1 + 2 + 1 + 1 + 1 + 1 + 1 + 2 + 2 + 10; res.Handshakes != want {
		t.Errorf("%d handshakes, want %d", res.Handshakes, want)
	}
	// The same picks serially (--parallel 1): one chain per version.
	f1 := startFront(t, frontOpts{proto: ProtoNone, backend: rawBackend(weakServer(t, false))})
	o := testOptions(t, f1.port(), ProtoNone)
	o.Parallel = 1
	_, serial := runScan(t, o)
	for _, v := range []uint16{VersionSSL30, VersionTLS10, VersionTLS12} {
		if a, b := suiteIDs(res.Version(v)), suiteIDs(serial.Version(v)); !slices.Equal(a, b) {
			t.Errorf("%s: parallel [%s], serial [%s]", VersionName(v), hex(a), hex(b))
		}
	}
	if want := 9 + 10 + 11 + 1 + 1 + 3 + 2 + 1 + 2 + 1 + 1 + 1 + 1 + 1 + 2 + 2 + 10; serial.Handshakes != want {
		t.Errorf("--parallel 1: %d handshakes, want %d", serial.Handshakes, want)
	}
	wantFinding(t, rep, "tls.cipher.client-order", report.Info)
}

func TestScan_roleMXGradesWeaknessAsInfo(t *testing.T) {
	f := startFront(t, frontOpts{proto: ProtoNone, backend: rawBackend(weakServer(t, true))})
	o := testOptions(t, f.port(), ProtoNone)
	o.Role = RoleMX
	rep, _ := runScan(t, o)
	// SSL 3.0 stays a failure: the rule, no sender needs it.
	if f := wantFinding(t, rep, "tls.protocol.sslv3", report.Fail); !strings.Contains(f.Fix, "smtpd_tls_protocols") {
		t.Errorf("sslv3 on an MX should name smtpd_tls_protocols: %s", f.Fix)
	}
	for _, code := range []string{"tls.protocol.tls10", "tls.cipher.export", "tls.cipher.anon",
		"tls.cipher.rc4", "tls.cipher.3des", "tls.cipher.null", "tls.dh.weak", "tls.group.weak", "tls.cipher.no-fs"} {
		f := wantFinding(t, rep, code, report.Info)
		if !strings.Contains(f.Detail, "opportunistic") {
			t.Errorf("%s on an MX does not give the reason: %s", code, f.Detail)
		}
		if strings.HasPrefix(code, "tls.protocol.") && !strings.Contains(f.Fix, "smtpd_tls_protocols") {
			t.Errorf("%s on an MX should name smtpd_tls_protocols: %s", code, f.Fix)
		}
	}
}

func TestScan_renegotiationAndOldOnly(t *testing.T) {
	rs := &rawServer{versions: []uint16{VersionTLS10}, suites: []uint16{0x002F, 0x0035}, serverPref: true, noReneg: true,
		certs: [][]byte{getPKI(t).rsaLeaf}}
	f := startFront(t, frontOpts{proto: ProtoNone, backend: rawBackend(rs)})
	rep, res := runScan(t, testOptions(t, f.port(), ProtoNone))
	if got := res.Supported(); !slices.Equal(got, []string{"TLS 1.0"}) {
		t.Fatalf("versions %v", got)
	}
	wantFinding(t, rep, "tls.protocol.no-modern", report.Fail)
	wantFinding(t, rep, "tls.renegotiation.insecure", report.Warn)
	wantFinding(t, rep, "tls.cipher.cbc-only", report.Warn)
	wantFinding(t, rep, "tls.cipher.no-fs", report.Warn)
}

func TestScan_goServerOldVersionsAndInsecureSuites(t *testing.T) {
	// Go's own server speaks TLS 1.0 and 1.1, RC4 and 3DES when told to.
	suites := []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_RSA_WITH_RC4_128_SHA, tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA}
	cfg := goConfig(t, tls.VersionTLS10, tls.VersionTLS11, suites, []tls.CurveID{tls.CurveP256})
	f := startFront(t, frontOpts{proto: ProtoPOP3, backend: goBackend(cfg)})
	rep, res := runScan(t, testOptions(t, f.port(), ProtoPOP3))
	if got := res.Supported(); !slices.Equal(got, []string{"TLS 1.0", "TLS 1.1"}) {
		t.Fatalf("versions %v; %v", got, codes(rep))
	}
	wantSet(t, "TLS 1.0", suiteIDs(res.Version(VersionTLS10)), suites)
	wantSet(t, "TLS 1.1", suiteIDs(res.Version(VersionTLS11)), suites)
	if res.Role != RolePOP3 {
		t.Errorf("role %s, want pop3", res.Role)
	}
	for code, sev := range map[string]report.Severity{
		"tls.protocol.tls10": report.Warn, "tls.protocol.tls11": report.Warn, "tls.protocol.no-modern": report.Fail,
		"tls.cipher.rc4": report.Fail, "tls.cipher.3des": report.Fail, "tls.cipher.cbc-only": report.Warn,
		"tls.handshake.ok": report.Pass, "tls.starttls.injection-safe": report.Pass,
	} {
		wantFinding(t, rep, code, sev)
	}
	if n := res.Negotiated; n == nil || n.Version != "TLS 1.1" {
		t.Errorf("negotiated %+v, want TLS 1.1", n)
	}
}
