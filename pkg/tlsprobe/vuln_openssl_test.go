package tlsprobe

import (
	"context"
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// Against a real OpenSSL 3 s_server: current OpenSSL has neither bug, so
// Heartbleed, CCS injection and compression must come out "not
// vulnerable", and TLS_FALLBACK_SCSV honoured. Debian's OpenSSL 3 is built without zlib, so -comp changes
// nothing and the vulnerable side of compression is the Go server of
// TestCompression_flips; the -comp run is logged, not asserted.
func TestOpenSSL_vulnerabilities(t *testing.T) {
	ctx := context.Background()
	port := startOpenSSL(t, "-tls1_2", "-no_comp")
	p := vulnProber(port)
	if r := p.heartbleed(ctx, []uint16{VersionTLS12}, "mail.test"); r.Status != VulnNotVulnerable {
		t.Errorf("heartbleed: %+v", r)
	}
	if r := p.ccsInjection(ctx, VersionTLS12, "mail.test"); r.Status != VulnNotVulnerable {
		t.Errorf("ccs: %+v", r)
	}
	if r := p.compression(ctx, VersionTLS12, "mail.test"); r.Status != VulnNotVulnerable {
		t.Errorf("compression with -no_comp: %+v", r)
	}
	// OpenSSL honours TLS_FALLBACK_SCSV: TLS 1.2 with the SCSV to a TLS
	// 1.3 server is refused with inappropriate_fallback.
	both := startOpenSSL(t)
	if r := vulnProber(both).fallbackSCSV(ctx, fallbackVersion([]uint16{VersionTLS12, VersionTLS13}), "mail.test"); r.Status != VulnNotVulnerable {
		t.Errorf("fallback: %+v", r)
	}
	comp := startOpenSSL(t, "-tls1_2", "-comp")
	r := vulnProber(comp).compression(ctx, VersionTLS12, "mail.test")
	t.Logf("compression with -comp: %+v", r)
}

// Client-initiated renegotiation: OpenSSL 3 refuses it unless
// -client_renegotiation sets SSL_OP_ALLOW_CLIENT_RENEGOTIATION.
func TestOpenSSL_clientRenegotiation(t *testing.T) {
	ctx := context.Background()
	secure := true
	vuln := vulnProber(startOpenSSL(t, "-tls1_2", "-client_renegotiation"))
	r := vuln.clientRenegotiation(ctx, true, true, &secure, "mail.test")
	if r.Status != VulnVulnerable || !strings.Contains(r.Detail, "completed 4 client-initiated renegotiations") || r.Connections != 1 {
		t.Errorf("-client_renegotiation: %+v", r)
	}
	if f, _ := vulnFinding(r); f.Code != "tls.vuln.client-renegotiation" || f.Severity != report.Warn {
		t.Errorf("finding %+v", f)
	}
	fixed := vulnProber(startOpenSSL(t, "-tls1_2"))
	r = fixed.clientRenegotiation(ctx, true, true, &secure, "mail.test")
	if r.Status != VulnNotVulnerable || !strings.Contains(r.Detail, "refused") {
		t.Errorf("default s_server: %+v", r)
	}
	t.Logf("refused: %s", r.Detail)
	none := vulnProber(startOpenSSL(t, "-tls1_2", "-no_renegotiation"))
	if r := none.clientRenegotiation(ctx, true, true, &secure, "mail.test"); r.Status != VulnNotVulnerable || !strings.Contains(r.Detail, "no_renegotiation") {
		t.Errorf("-no_renegotiation: %+v", r)
	}
}
