package tlsprobe

import (
	"context"
	"strings"
	"testing"
)

// The categories come from the accepted suites and carry testssl.sh's
// names; BEAST is only a warning when TLS 1.0 is the newest version.
func TestCategories(t *testing.T) {
	res := &Result{Versions: []*VersionResult{
		{Version: "TLS 1.0", Code: VersionTLS10, Supported: true, Suites: []SuiteResult{{ID: 0x002F}, {ID: 0x000A}, {ID: 0x0014}}},
		{Version: "TLS 1.2", Code: VersionTLS12, Supported: true, Suites: []SuiteResult{{ID: 0xC02F}, {ID: 0x0005}, {ID: 0x0003}}},
	}}
	sc := &scanner{res: res}
	got := map[string]VulnResult{}
	for _, r := range sc.categoryResults() {
		got[r.Testssl] = r
	}
	for name, want := range map[string]string{
		"SWEET32": VulnVulnerable, "BEAST": VulnVulnerable, "LUCKY13": VulnVulnerable, "LOGJAM": VulnVulnerable,
		"FREAK": VulnVulnerable, "RC4": VulnVulnerable, "cipherlist_NULL": VulnNotVulnerable, "cipherlist_aNULL": VulnNotVulnerable,
		"cipherlist_EXPORT": VulnVulnerable,
	} {
		if got[name].Status != want {
			t.Errorf("%s: %+v, want %s", name, got[name], want)
		}
	}
	if b := got["BEAST"]; b.warn || !strings.Contains(b.Detail, "likely mitigated") || !strings.Contains(b.Detail, "TLS 1.0 AES128-SHA") {
		t.Errorf("BEAST with TLS 1.2 too: %+v", b)
	}
	if !got["RC4"].graded || got["LUCKY13"].graded {
		t.Errorf("graded: RC4 %v, LUCKY13 %v", got["RC4"].graded, got["LUCKY13"].graded)
	}
	res.Versions = res.Versions[:1]
	for _, r := range sc.categoryResults() {
		if r.Testssl == "BEAST" && !r.warn {
			t.Errorf("BEAST with TLS 1.0 only: %+v", r)
		}
	}
}

// OpenSSL follows the client's group order for TLS 1.2 ECDHE unless
// -serverpref; with it, X25519 (first in its default list) wins whatever
// the client offers. For the TLS 1.3 HelloRetryRequest OpenSSL 3.0 uses
// its own order either way.
func TestOpenSSL_groupOrder(t *testing.T) {
	ctx := context.Background()
	groups := []GroupResult{groupResult(groupSecp256r1), groupResult(groupX25519), groupResult(groupSecp384r1)}
	for _, tc := range []struct {
		args      []string
		v         uint16
		server    bool
		preferred string
	}{
		{[]string{"-tls1_2"}, VersionTLS12, false, ""},
		{[]string{"-tls1_2", "-serverpref"}, VersionTLS12, true, "x25519"},
		{[]string{"-tls1_3"}, VersionTLS13, true, "x25519"},
		{[]string{"-tls1_3", "-serverpref"}, VersionTLS13, true, "x25519"},
	} {
		p := vulnProber(startOpenSSL(t, tc.args...))
		suites := []uint16{0xC02F, 0xC030}
		if tc.v == VersionTLS13 {
			suites = SuitesFor(VersionTLS13)
		}
		g := p.groupOrder(ctx, tc.v, suites, groups, "mail.test")
		if g == nil || g.ServerOrder == nil || *g.ServerOrder != tc.server || g.Preferred != tc.preferred {
			t.Errorf("%v: %+v", tc.args, g)
		}
	}
}
