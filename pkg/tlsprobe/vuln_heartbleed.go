package tlsprobe

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/mailprobe/mailprobe/pkg/netx"
)

// Heartbleed (CVE-2014-0160), testssl.sh's run_heartbleed: a ClientHello
// offering the heartbeat extension (RFC 6520, peer_allowed_to_send), and
// when the server echoes it, right after its hello flight and before any
// key exchange, a heartbeat_request record claiming a 16384-byte payload
// and carrying none. A fixed server silently discards it (RFC 6520 §4); a
// vulnerable OpenSSL (1.0.1-1.0.1f) answers a heartbeat_response copied
// from its memory. Only the response's record header and its own 3-byte
// header are read: the record length alone proves the over-read, and no
// leaked byte is ever read or kept.

const (
	extHeartbeat      uint16 = 15
	recordHeartbeat   uint8  = 24
	heartbleedClaimed        = 0x4000
	// heartbleedBudget is the most connections the check makes: one per
	// version from TLS 1.2 down to TLS 1.0.
	heartbleedBudget = 3
)

// heartbleed tests each accepted version ≤ TLS 1.2, newest first, until
// one proves vulnerable.
func (p *prober) heartbleed(ctx context.Context, versions []uint16, sni string) VulnResult {
	r := VulnResult{Check: "heartbleed", Testssl: "heartbleed", Budget: heartbleedBudget}
	if len(versions) == 0 {
		r.Status, r.Detail = VulnNotApplicable, "no TLS version from 1.0 to 1.2 is accepted; TLS 1.3 has no heartbeat"
		return r
	}
	var notes []string
	sawExt := false
	for _, v := range versions[:min(len(versions), heartbleedBudget)] {
		if ctx.Err() != nil {
			break
		}
		st, detail := p.heartbleedOnce(ctx, v, sni)
		r.Connections++
		p.rec.Event("probe heartbleed %s → %s: %s", VersionName(v), st, detail)
		switch st {
		case VulnVulnerable:
			r.Status, r.Detail = st, fmt.Sprintf("%s: %s", VersionName(v), detail)
			return r
		case VulnNotTestable:
			r.Status, r.Detail = st, fmt.Sprintf("%s: %s", VersionName(v), detail)
			return r
		case VulnNotVulnerable:
			sawExt = true
		}
		notes = append(notes, VersionName(v)+": "+detail)
	}
	if ctx.Err() != nil {
		r.Status, r.Detail = VulnNotTestable, "interrupted"
		return r
	}
	r.Status = VulnNotVulnerable
	if !sawExt {
		r.Detail = "the server does not offer the heartbeat extension (" + joinComma(notes) + ")"
	} else {
		r.Detail = joinComma(notes)
	}
	return r
}

// heartbleedOnce runs one connection at version v. Its answers: vulnerable,
// not vulnerable (with "no-extension" meaning the heartbeat was not even
// sent), or not testable.
func (p *prober) heartbleedOnce(ctx context.Context, v uint16, sni string) (string, string) {
	h := p.hello(v, SuitesFor(v), sni)
	h.Extra = []Extension{{Type: extHeartbeat, Data: []byte{1}}} // peer_allowed_to_send (RFC 6520)
	c, br, f, done, why := p.serverHello(ctx, h)
	if why != "" {
		return VulnNotTestable, why
	}
	defer done()
	if f.Hello.Version != v {
		return VulnNotTestable, "the server answered " + VersionName(f.Hello.Version)
	}
	if !slices.Contains(f.Hello.Extensions, extHeartbeat) {
		return "no-extension", "no heartbeat extension"
	}
	// heartbeat_request (1), payload_length 16384, no payload, no padding.
	hb := []byte{recordHeartbeat, byte(v >> 8), byte(v), 0, 3, 1, heartbleedClaimed >> 8, heartbleedClaimed & 0xff}
	stepDeadline(ctx, c, vulnWait)
	if _, err := c.Write(hb); err != nil {
		return VulnNotVulnerable, "the connection closed on the heartbeat request"
	}
	// Read one record header (and for a heartbeat record its own 3-byte
	// header), nothing more.
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(br, hdr); err != nil {
		if netx.Classify(err) == netx.KindTimeout {
			return VulnNotVulnerable, fmt.Sprintf("no answer to the heartbeat request within %s (discarded)", vulnWait)
		}
		return VulnNotVulnerable, "the server closed the connection on the heartbeat request"
	}
	n := int(hdr[3])<<8 | int(hdr[4])
	switch hdr[0] {
	case recordHeartbeat:
		// An honest response to a zero-byte payload is 3 bytes of header
		// and at least 16 of padding (RFC 6520 §4): more is memory.
		if n > 3+16 {
			var hh [3]byte
			io.ReadFull(br, hh[:]) // the response's type and claimed length only
			return VulnVulnerable, fmt.Sprintf("a heartbeat request claiming %d bytes and carrying none got a %d-byte heartbeat response (record header %02x, %d bytes of server memory; not read)", heartbleedClaimed, n, hdr, n-3-16)
		}
		return VulnNotVulnerable, fmt.Sprintf("heartbeat response of %d bytes: no over-read", n)
	case recordAlert:
		if n >= 2 {
			var a [2]byte
			if _, err := io.ReadFull(br, a[:]); err == nil {
				return VulnNotVulnerable, "alert " + Alert{Level: a[0], Description: a[1]}.String()
			}
		}
		return VulnNotVulnerable, "alert"
	}
	return VulnNotVulnerable, fmt.Sprintf("record type %d in answer, no heartbeat response", hdr[0])
}
