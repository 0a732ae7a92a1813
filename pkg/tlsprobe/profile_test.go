package tlsprobe

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/pkg/report"
)

func evidence(f report.Finding) string {
	var b strings.Builder
	for _, e := range f.Evidence {
		b.WriteString(e.Text + "\n")
	}
	return b.String()
}

// A weak server is insufficient under internet.nl and not compliant
// under BSI, with the rules that set the grade named; the role grading
// of port 25 stays.
func TestProfile_weakServer(t *testing.T) {
	for _, tc := range []struct{ profile, code, level string }{
		{ProfileInternetNL, "tls.grade.internet-nl", LevelInsufficient},
		{ProfileBSI, "tls.grade.bsi", LevelNotCompliant},
	} {
		f := startFront(t, frontOpts{proto: ProtoNone, backend: rawBackend(weakServer(t, false))})
		o := testOptions(t, f.port(), ProtoNone)
		o.Profile, o.Role = tc.profile, RoleMX
		rep, res := runScan(t, o)
		if res.Grade == nil || res.Grade.Level != tc.level {
			t.Fatalf("%s: grade %+v", tc.profile, res.Grade)
		}
		g := wantFinding(t, rep, tc.code, report.Fail)
		ev := evidence(g)
		for _, want := range []string{"SSL 3.0 accepted", "1024-bit DH group"} {
			if !strings.Contains(ev, want) {
				t.Errorf("%s: evidence lacks %q:\n%s", tc.profile, want, ev)
			}
		}
		if !strings.Contains(g.Detail, "Set by:") || !strings.Contains(g.Detail, "opportunistic") {
			t.Errorf("%s: detail %q", tc.profile, g.Detail)
		}
		// The role grading stays: TLS 1.0 on an MX is information.
		wantFinding(t, rep, "tls.protocol.tls10", report.Info)
	}
}

// TLS 1.2 and 1.3 with ECDHE and AES-GCM only, in the server's order:
// good under internet.nl.
func TestProfile_goodServer(t *testing.T) {
	s12 := []uint16{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
	cfg := goConfig(t, tls.VersionTLS12, tls.VersionTLS13, s12, []tls.CurveID{tls.X25519, tls.CurveP256})
	f := startFront(t, frontOpts{proto: ProtoSMTP, backend: goBackend(cfg)})
	o := testOptions(t, f.port(), ProtoSMTP)
	o.Profile = "internet.nl"
	rep, res := runScan(t, o)
	if res.Grade == nil || res.Grade.Level != LevelGood || len(res.Grade.Rules) != 0 {
		t.Fatalf("grade %+v", res.Grade)
	}
	wantFinding(t, rep, "tls.grade.internet-nl", report.Pass)

	// BSI wants RSA keys of 3000 bits: the 2048-bit test key fails it.
	o.Profile = "bsi"
	f2 := startFront(t, frontOpts{proto: ProtoSMTP, backend: goBackend(cfg)})
	o = testOptions(t, f2.port(), ProtoSMTP)
	o.Profile = "bsi"
	_, res = runScan(t, o)
	if res.Grade == nil || res.Grade.Level != LevelNotCompliant || len(res.Grade.Rules) != 1 || !strings.Contains(res.Grade.Rules[0].What, "RSA 2048 bits") {
		t.Fatalf("bsi grade %+v", res.Grade)
	}
}

func TestParseProfile(t *testing.T) {
	for in, want := range map[string]string{"": "", "internet.nl": ProfileInternetNL, "BSI": ProfileBSI} {
		if got, err := ParseProfile(in); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	if _, err := ParseProfile("ssllabs"); err == nil {
		t.Error("ssllabs accepted")
	}
}
