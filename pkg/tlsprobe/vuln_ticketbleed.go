package tlsprobe

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
)

// Ticketbleed (CVE-2016-9244), testssl.sh's ticketbleed: one ClientHello
// offering the session ticket the resumption check got, with a 6-byte
// session ID (testssl.sh's 00 0B AD C0 DE 00). RFC 5077 §3.4 has the
// server echo the client's session ID when it accepts the ticket; F5's
// BIG-IP echoed 32 bytes whatever the length sent, the 26 after the
// client's six copied from its memory. A 32-byte echo starting with the
// six sent bytes is that over-read; the extra bytes are not kept or
// shown. testssl.sh runs it on HTTPS only and calls mail ports "not
// applicable"; the bug was in the TLS stack, so it is run here wherever
// tickets are issued.

const ticketbleedBudget = 1

var ticketbleedSID = []byte{0x00, 0x0B, 0xAD, 0xC0, 0xDE, 0x00}

func (p *prober) ticketbleed(ctx context.Context, res *ResumptionResult, sni string) VulnResult {
	r := VulnResult{Check: "ticketbleed", Testssl: "ticketbleed", Budget: ticketbleedBudget}
	if res == nil || res.ticket == nil {
		r.Status, r.Detail = VulnNotApplicable, "no TLS 1.2 session ticket was issued"
		return r
	}
	r.Connections = 1
	r.Status, r.Detail = p.ticketbleedOnce(ctx, res.ticket, sni)
	p.rec.Event("probe ticketbleed %s", r.Detail)
	return r
}

func (p *prober) ticketbleedOnce(ctx context.Context, s *session12, sni string) (string, string) {
	h := ClientHello{Version: VersionTLS12, Suites: suite12IDs(), Groups: groups12, ServerName: sni,
		SessionID: ticketbleedSID, Ticket: s.ticket}
	c, done, err := p.vulnConn(ctx)
	if err != nil {
		return VulnNotTestable, "connection failed before TLS: " + ioVerdict(err)
	}
	defer done()
	msg, err := h.Marshal()
	if err != nil {
		return VulnNotTestable, err.Error()
	}
	if _, err := c.Write(msg); err != nil {
		return VulnNotTestable, "write failed: " + ioVerdict(err)
	}
	// Only the ServerHello matters: a resumed handshake goes on with
	// NewSessionTicket and ChangeCipherSpec, which readFlight need not
	// understand.
	f, err := readFlight(bufio.NewReaderSize(c, 8192))
	switch {
	case f != nil && f.Hello != nil:
	case f != nil && f.Alert != nil:
		return VulnNotTestable, "the ClientHello with the ticket was refused: alert " + f.Alert.String()
	default:
		return VulnNotTestable, "no ServerHello: " + ioVerdict(err)
	}
	sid := f.Hello.SessionID
	switch {
	case len(sid) == 32 && bytes.HasPrefix(sid, ticketbleedSID):
		return VulnVulnerable, fmt.Sprintf("offered the ticket with a %d-byte session ID, the ServerHello echoed it as 32 bytes: %d bytes of server memory (not shown)", len(ticketbleedSID), 32-len(ticketbleedSID))
	case bytes.Equal(sid, ticketbleedSID):
		return VulnNotVulnerable, fmt.Sprintf("offered the ticket with a %d-byte session ID, the ServerHello echoed exactly those bytes", len(ticketbleedSID))
	}
	return VulnNotVulnerable, fmt.Sprintf("offered the ticket with a %d-byte session ID, the ServerHello answered with a %d-byte session ID of its own (the ticket was not resumed)", len(ticketbleedSID), len(sid))
}
