package tlsprobe

import (
	"context"
	"fmt"
)

// Compression (CRIME, CVE-2012-4929), testssl.sh's run_crime: one
// ClientHello at the newest accepted version from TLS 1.0 to 1.2 (else
// SSL 3.0) offering DEFLATE (1) before null (0); a ServerHello choosing a
// method other than null means the server compresses TLS records, and
// secrets in them can be recovered by an attacker who injects chosen text.
// TLS 1.3 has no compression. Only the hello flight is read.

const compressionBudget = 1

func (p *prober) compression(ctx context.Context, v uint16, sni string) VulnResult {
	r := VulnResult{Check: "compression", Testssl: "CRIME_TLS", Budget: compressionBudget}
	if v == 0 {
		r.Status, r.Detail = VulnNotApplicable, "no SSL 3.0 to TLS 1.2 accepted; TLS 1.3 has no compression"
		return r
	}
	r.Connections = 1
	r.Status, r.Detail = p.compressionOnce(ctx, v, sni)
	r.Detail = VersionName(v) + ": " + r.Detail
	p.rec.Event("probe compression %s", r.Detail)
	return r
}

func (p *prober) compressionOnce(ctx context.Context, v uint16, sni string) (string, string) {
	c, done, err := p.vulnConn(ctx)
	if err != nil {
		return VulnNotTestable, "connection failed before TLS: " + ioVerdict(err)
	}
	defer done()
	h := p.hello(v, SuitesFor(v), sni)
	h.Compression = []uint8{1, 0} // DEFLATE, null
	msg, err := h.Marshal()
	if err != nil {
		return VulnNotTestable, err.Error()
	}
	f, _, err := helloFlight(c, msg)
	switch {
	case f != nil && f.Hello != nil:
	case f != nil && f.Alert != nil:
		return VulnNotTestable, "the ClientHello offering DEFLATE was refused: alert " + f.Alert.String()
	case err != nil:
		return VulnNotTestable, "no ServerHello: " + ioVerdict(err)
	default:
		return VulnNotTestable, "no ServerHello"
	}
	if m := f.Hello.Compression; m != 0 {
		name := fmt.Sprintf("method %d", m)
		if m == 1 {
			name = "DEFLATE (1)"
		}
		return VulnVulnerable, "offered DEFLATE and null, the ServerHello chose " + name
	}
	return VulnNotVulnerable, "offered DEFLATE and null, the ServerHello chose null (0)"
}

// newestVersion is the newest of vs (newest first), else SSL 3.0 when
// accepted.
func newestVersion(vs []uint16, ssl3 bool) uint16 {
	if len(vs) > 0 {
		return vs[0]
	}
	if ssl3 {
		return VersionSSL30
	}
	return 0
}
