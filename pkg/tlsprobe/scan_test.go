package tlsprobe

import (
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
)

// testOptions targets a loopback port with short deadlines, trusting the
// test CA for mail.test.
func testOptions(t testing.TB, port int, proto Proto) Options {
	return Options{
		Host: "127.0.0.1", Port: port, StartTLS: proto, ServerName: "mail.test", RootCAs: getPKI(t).pool,
		Timeouts: netx.Timeouts{Connect: 2 * time.Second, Banner: 2 * time.Second, Command: 2 * time.Second, TLS: 2 * time.Second},
	}
}

func runScan(t testing.TB, o Options) (*report.Report, *Result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := Scan(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	res := ResultOf(rep)
	if res == nil {
		t.Fatal("no scan result in the report")
	}
	return rep, res
}

func suiteIDs(vr *VersionResult) []uint16 {
	if vr == nil {
		return nil
	}
	out := make([]uint16, len(vr.Suites))
	for i, s := range vr.Suites {
		out[i] = s.ID
	}
	return out
}

func sorted(s []uint16) []uint16 {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func groupIDs(gs []GroupResult) []uint16 {
	var out []uint16
	for _, g := range gs {
		out = append(out, parseCode(g.Code))
	}
	return out
}

func hex(ids []uint16) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%04X", id)
	}
	return b.String()
}

// wantSet fails unless got and want hold the same codes.
func wantSet(t testing.TB, what string, got, want []uint16) {
	t.Helper()
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Errorf("%s: got [%s], want [%s]", what, hex(sorted(got)), hex(sorted(want)))
	}
}

func codes(rep *report.Report) []string {
	var out []string
	for _, f := range rep.Findings {
		out = append(out, fmt.Sprintf("%s(%s)", f.Code, f.Severity))
	}
	sort.Strings(out)
	return out
}

// wantFinding fails unless a finding with code and severity exists.
func wantFinding(t testing.TB, rep *report.Report, code string, sev report.Severity) report.Finding {
	t.Helper()
	for _, f := range rep.Findings {
		if f.Code == code {
			if f.Severity != sev {
				t.Errorf("%s: severity %s, want %s (%s)", code, f.Severity, sev, f.Detail)
			}
			return f
		}
	}
	t.Errorf("no %s finding; have %v", code, codes(rep))
	return report.Finding{}
}

func noFinding(t testing.TB, rep *report.Report, code string) {
	t.Helper()
	if f, ok := rep.Find(code); ok {
		t.Errorf("unexpected %s (%s): %s", code, f.Severity, f.Detail)
	}
}

// probeEvents counts the probe lines in the transcript.
func probeEvents(rep *report.Report) int {
	n := 0
	for _, e := range rep.Transcript {
		if strings.HasPrefix(e.Line, "probe ") {
			n++
		}
	}
	return n
}

func TestScan_goServerSMTP(t *testing.T) {
	s12 := []uint16{
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	}
	cfg := goConfig(t, tls.VersionTLS12, tls.VersionTLS13, s12, []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384})
	f := startFront(t, frontOpts{proto: ProtoSMTP, backend: goBackend(cfg)})
	var progress int
	o := testOptions(t, f.port(), ProtoSMTP)
	o.Progress = func(p Progress) { progress = max(progress, p.Handshakes) }
	o.Parallel = 1 // the progress callback above is not synchronised
	rep, res := runScan(t, o)

	if got := res.Supported(); !slices.Equal(got, []string{"TLS 1.2", "TLS 1.3"}) {
		t.Fatalf("versions %v, want TLS 1.2 and 1.3; findings %v", got, codes(rep))
	}
	wantSet(t, "TLS 1.2 suites", suiteIDs(res.Version(VersionTLS12)), s12)
	wantSet(t, "TLS 1.3 suites", suiteIDs(res.Version(VersionTLS13)), []uint16{0x1301, 0x1302, 0x1303})
	wantSet(t, "TLS 1.3 groups", groupIDs(res.Groups), []uint16{29, 23, 24})
	wantSet(t, "ECDHE curves", groupIDs(res.ECDHEGroups), []uint16{29, 23, 24})
	if res.Role != RoleSubmission || res.StartTLS != ProtoSMTP {
		t.Errorf("role %s, protocol %s", res.Role, res.StartTLS)
	}
	if res.Injection != "safe" {
		t.Errorf("injection %q, want safe", res.Injection)
	}
	if !res.Complete || rep.Incomplete {
		t.Errorf("scan incomplete: %v", codes(rep))
	}
	wantFinding(t, rep, "tls.handshake.ok", report.Pass)
	wantFinding(t, rep, "tls.protocol.ok", report.Pass)
	wantFinding(t, rep, "tls.starttls.injection-safe", report.Pass)
	wantFinding(t, rep, "cert.ok", report.Pass)
	wantFinding(t, rep, "tls.cipher.non-fs-accepted", report.Info)
	noFinding(t, rep, "tls.cipher.ok") // CBC and static RSA are accepted
	// Go's server chooses TLS 1.2 suites by its own order.
	if p := res.Version(VersionTLS12).ServerPreference; p == nil || !*p {
		t.Errorf("TLS 1.2 server preference %v, want true", p)
	}
	if w := rep.Worst(); w > report.Info {
		t.Errorf("worst severity %s: %v", w, codes(rep))
	}
	// Handshakes: the accepted suites, a refusal per chain, a preference
	// check per version, the group chains (four parallel parts each) and
	// the crypto/tls handshake: far below one per known suite; then
	// the group order (4), resumption (4), SSLv2 and the vulnerability
	// checks (7), ROBOT (10).
	accepted := len(s12) + 3
	if max := accepted + 25 + 4 + 4 + 7 + 10; res.Handshakes > max {
		t.Errorf("%d handshakes, want at most %d", res.Handshakes, max)
	}
	if n := probeEvents(rep); n+1 != res.Handshakes {
		t.Errorf("transcript has %d probe lines for %d handshakes", n, res.Handshakes)
	}
	if progress != res.Handshakes-1 {
		t.Errorf("progress saw %d handshakes, result says %d", progress, res.Handshakes)
	}
	t.Logf("%d handshakes; findings %v", res.Handshakes, codes(rep))
}
