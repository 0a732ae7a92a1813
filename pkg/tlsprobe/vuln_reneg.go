package tlsprobe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"

	"github.com/mailprobe/mailprobe/pkg/netx"
)

// Client-initiated renegotiation (CVE-2011-1473), testssl.sh's
// secure_client_renego: one connection, a full TLS 1.2 handshake with the
// minimal client (session12.go), then a new ClientHello inside the
// session carrying the client's Finished in renegotiation_info (RFC 5746
// §3.5), repeated up to renegBudget times. Each renegotiation costs the
// server a private-key operation for nothing, so a server that accepts
// them lets one client cost it far more CPU than the client spends (the
// THC-SSL-DOS attack). A server that refuses answers no_renegotiation (a
// warning), handshake_failure, or closes; silence counts as a refusal
// (testssl.sh: "likely not vulnerable, timed out").
//
// Without RFC 5746 (tls.renegotiation.insecure) an accepted
// renegotiation is the 2009 prefix-injection attack (CVE-2009-3555),
// and the finding is a failure.

// renegBudget is the most renegotiations tried on the one connection.
const renegBudget = 4

func (p *prober) clientRenegotiation(ctx context.Context, tls12, older bool, secure *bool, sni string) VulnResult {
	r := VulnResult{Check: "client-renegotiation", Testssl: "secure_client_renego", Budget: 1}
	switch {
	case !tls12 && !older:
		r.Status, r.Detail = VulnNotApplicable, "no SSL 3.0 to TLS 1.2 accepted; TLS 1.3 has no renegotiation"
		return r
	case !tls12:
		r.Status, r.Detail = VulnNotTestable, "the check speaks TLS 1.2 with AES-GCM, and the server does not accept TLS 1.2"
		return r
	}
	r.Connections = 1
	c, done, err := p.vulnConn(ctx)
	if err != nil {
		r.Status, r.Detail = VulnNotTestable, "connection failed before TLS: "+ioVerdict(err)
		return r
	}
	defer done()
	k := newConn12(c, sni)
	stepDeadline(ctx, c, vulnWait)
	if err := k.handshake(nil, nil); err != nil {
		r.Status, r.Detail = VulnNotTestable, "the first TLS 1.2 handshake did not complete: "+renegWhy(err)
		p.rec.Event("probe client-renegotiation %s", r.Detail)
		return r
	}
	var refused string
	for range renegBudget {
		stepDeadline(ctx, c, vulnWait)
		if err := k.handshake(nil, nil); err != nil {
			refused = renegWhy(err)
			break
		}
		k.renegotiations++
	}
	switch {
	case k.renegotiations == 0:
		r.Status, r.Detail = VulnNotVulnerable, "TLS 1.2: a client-initiated renegotiation was refused: "+refused
	case refused == "":
		r.Status, r.Detail = VulnVulnerable, fmt.Sprintf("TLS 1.2: the server completed %d client-initiated renegotiations on one connection (all that were tried), each a fresh key exchange", k.renegotiations)
	default:
		r.Status, r.Detail = VulnVulnerable, fmt.Sprintf("TLS 1.2: the server completed %d client-initiated renegotiation%s on one connection, then refused: %s", k.renegotiations, plural(k.renegotiations), refused)
	}
	if r.Status == VulnVulnerable && (secure == nil || !*secure || !k.hello.SecureRenegotiation) {
		r.Detail += "; without RFC 5746 secure renegotiation this is the prefix-injection attack of CVE-2009-3555"
		r.failHard = true
	}
	p.rec.Event("probe client-renegotiation %s", r.Detail)
	return r
}

// renegWhy words how a renegotiation ended.
func renegWhy(err error) string {
	var ae *AlertError
	switch {
	case errors.As(err, &ae):
		return "alert " + ae.Alert.String()
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET), netx.Classify(err) == netx.KindClosed, netx.Classify(err) == netx.KindReset:
		return "the server closed the connection"
	case netx.Classify(err) == netx.KindTimeout:
		return fmt.Sprintf("no answer within %s", vulnWait)
	}
	return err.Error()
}
