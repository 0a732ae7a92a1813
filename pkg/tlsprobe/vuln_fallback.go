package tlsprobe

import (
	"bufio"
	"context"
	"errors"
	"io"
	"slices"
	"syscall"
)

// TLS_FALLBACK_SCSV (RFC 7507), testssl.sh's run_tls_fallback_scsv: when
// the server accepts more than one version, one ClientHello at the
// newest accepted version below its highest, with TLS_FALLBACK_SCSV
// (0x5600) after the suites. A server that honours it refuses with
// inappropriate_fallback (86): a downgraded client is told so. A
// ServerHello means an attacker who breaks the first handshake can push
// clients down a version.

const fallbackBudget = 1

// fallbackVersion is the version to offer with the SCSV: the newest
// accepted one ≤ TLS 1.2 below the highest accepted (including TLS 1.3),
// 0 when the server accepts one version only.
func fallbackVersion(accepted []uint16) uint16 {
	if len(accepted) < 2 {
		return 0
	}
	top := slices.Max(accepted)
	var v uint16
	for _, x := range accepted {
		if x < top && x <= VersionTLS12 && x > v {
			v = x
		}
	}
	return v
}

func (p *prober) fallbackSCSV(ctx context.Context, v uint16, sni string) VulnResult {
	r := VulnResult{Check: "fallback-scsv", Testssl: "fallback_SCSV", Budget: fallbackBudget}
	if v == 0 {
		r.Status, r.Detail = VulnNotApplicable, "the server accepts one protocol version only: there is nothing to fall back to"
		return r
	}
	r.Connections = 1
	r.Status, r.Detail = p.fallbackOnce(ctx, v, sni)
	r.Detail = VersionName(v) + " with TLS_FALLBACK_SCSV: " + r.Detail
	p.rec.Event("probe fallback-scsv %s", r.Detail)
	return r
}

func (p *prober) fallbackOnce(ctx context.Context, v uint16, sni string) (string, string) {
	c, done, err := p.vulnConn(ctx)
	if err != nil {
		return VulnNotTestable, "connection failed before TLS: " + ioVerdict(err)
	}
	defer done()
	h := p.hello(v, append(slices.Clone(SuitesFor(v)), scsvFallback), sni)
	msg, err := h.Marshal()
	if err != nil {
		return VulnNotTestable, err.Error()
	}
	if _, err := c.Write(msg); err != nil {
		return VulnNotTestable, "write failed: " + ioVerdict(err)
	}
	f, err := readFlight(bufio.NewReaderSize(c, 8192))
	switch {
	case f != nil && f.Hello != nil:
		return VulnVulnerable, "the server answered with a " + VersionName(f.Hello.Version) + " ServerHello instead of inappropriate_fallback"
	case f != nil && f.Alert != nil && f.Alert.Description == 86:
		return VulnNotVulnerable, "alert inappropriate_fallback"
	case f != nil && f.Alert != nil:
		return VulnNotTestable, "alert " + f.Alert.String() + " (not inappropriate_fallback): the downgraded hello was refused for another reason"
	case (f == nil || f.Hello == nil) && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)):
		// The same version without the SCSV was accepted during the
		// enumeration: closing on the SCSV is refusing the downgrade, only
		// without saying so (Dovecot closes before OpenSSL's alert leaves).
		return VulnNotVulnerable, "the server closed the connection without a ServerHello (the same version without the SCSV is accepted): the downgrade is refused, without the inappropriate_fallback alert"
	}
	return VulnNotTestable, "no answer: " + ioVerdict(err)
}
