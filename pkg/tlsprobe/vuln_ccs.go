package tlsprobe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/mailprobe/mailprobe/pkg/netx"
)

// CCS injection (CVE-2014-0224), testssl.sh's run_ccs_injection: one
// connection at the oldest accepted version from TLS 1.0 to 1.2 (else
// SSL 3.0), a ClientHello, the server's hello flight, then two
// ChangeCipherSpec records where the ClientKeyExchange should come. A
// fixed server rejects the early CCS (unexpected_message or
// handshake_failure, or a hang-up); a vulnerable OpenSSL (before
// 0.9.8za/1.0.0m/1.0.1h) accepts it, switches to keys derived from an
// empty master secret and answers the second CCS with an alert such as
// decryption_failed (21) or bad_record_mac (20). Only record headers and
// alert bodies are read.

const ccsBudget = 1

// ccsWait bounds each wait for the answer to a CCS.
const ccsWait = 2 * time.Second

func ccsVersion(versions []uint16, ssl3 bool) uint16 {
	for _, v := range []uint16{VersionTLS10, VersionTLS11, VersionTLS12} {
		for _, x := range versions {
			if x == v {
				return v
			}
		}
	}
	if ssl3 {
		return VersionSSL30
	}
	return 0
}

func (p *prober) ccsInjection(ctx context.Context, v uint16, sni string) VulnResult {
	r := VulnResult{Check: "ccs-injection", Testssl: "CCS", Budget: ccsBudget}
	if v == 0 {
		r.Status, r.Detail = VulnNotApplicable, "no SSL 3.0 to TLS 1.2 accepted; TLS 1.3 is not affected"
		return r
	}
	r.Connections = 1
	r.Status, r.Detail = p.ccsOnce(ctx, v, sni)
	r.Detail = VersionName(v) + ": " + r.Detail
	p.rec.Event("probe ccs-injection %s", r.Detail)
	return r
}

// ccsAnswer reads one record's header and, for an alert, its two bytes.
// It returns the alert (nil otherwise), the record type, or an error for
// silence or a closed connection.
func ccsAnswer(c net.Conn, br *bufio.Reader) (*Alert, uint8, error) {
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return nil, 0, err
	}
	if hdr[0] != recordAlert {
		return nil, hdr[0], nil
	}
	var a [2]byte
	if int(hdr[3])<<8|int(hdr[4]) < 2 {
		return nil, hdr[0], errors.New("alert record truncated")
	}
	if _, err := io.ReadFull(br, a[:]); err != nil {
		return nil, hdr[0], err
	}
	return &Alert{Level: a[0], Description: a[1]}, hdr[0], nil
}

func (p *prober) ccsOnce(ctx context.Context, v uint16, sni string) (string, string) {
	c, br, _, done, why := p.serverHello(ctx, p.hello(v, SuitesFor(v), sni))
	if why != "" {
		return VulnNotTestable, why
	}
	defer done()
	ccs := []byte{recordChangeCipherSpec, byte(v >> 8), byte(v), 0, 1, 1}
	// First CCS: whatever comes back (an alert, or nothing) is not the
	// verdict; testssl.sh judges the answer to the second.
	stepDeadline(ctx, c, ccsWait)
	if _, err := c.Write(ccs); err != nil {
		return VulnNotVulnerable, "the connection closed on the early ChangeCipherSpec"
	}
	first, typ, err := ccsAnswer(c, br)
	if err == nil && first == nil {
		return VulnNotTestable, fmt.Sprintf("record type %d after the early ChangeCipherSpec", typ)
	}
	if first != nil && first.Level == 2 {
		// A fatal alert ends the connection: the server refused the CCS.
		return ccsJudge(first, "first")
	}
	stepDeadline(ctx, c, ccsWait)
	if _, err := c.Write(ccs); err != nil {
		return VulnNotVulnerable, "the connection closed after the first early ChangeCipherSpec"
	}
	second, typ, err := ccsAnswer(c, br)
	switch {
	case second != nil:
		return ccsJudge(second, "second")
	case err == nil:
		return VulnNotTestable, fmt.Sprintf("record type %d after the second early ChangeCipherSpec", typ)
	case netx.Classify(err) == netx.KindTimeout:
		return VulnNotVulnerable, fmt.Sprintf("no answer to two early ChangeCipherSpec records within %s each", ccsWait)
	}
	return VulnNotVulnerable, "the server closed the connection on the early ChangeCipherSpec"
}

// ccsJudge classifies the alert as testssl.sh does: unexpected_message
// and handshake_failure mean the CCS was refused; decryption_failed
// means the server decrypted with injected keys; bad_record_mac and
// anything else are "likely vulnerable".
func ccsJudge(a *Alert, which string) (string, string) {
	switch a.Description {
	case 10, 40:
		return VulnNotVulnerable, fmt.Sprintf("the %s early ChangeCipherSpec got alert %s", which, a)
	case 21:
		return VulnVulnerable, fmt.Sprintf("the %s early ChangeCipherSpec got alert %s: the server accepted the CCS and decrypts with keys from an empty master secret", which, a)
	}
	return VulnVulnerable, fmt.Sprintf("likely: the %s early ChangeCipherSpec got alert %s, not unexpected_message (testssl.sh counts it as vulnerable)", which, a)
}
