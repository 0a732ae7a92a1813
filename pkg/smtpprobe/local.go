package smtpprobe

import (
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
)

func init() {
	report.Register(
		report.Code{Code: "smtp.client.local", Severity: report.Info, Title: "Checked from the server's own machine",
			Fix:  "Servers trust local clients: Postfix's default mynetworks includes 127.0.0.0/8 (permit_mynetworks relays for it, and smtpd_forbid_bare_newline_exclusions exempts it), and Dovecot treats a client on its own IP as secured. Run the check from another machine (or with --local-addr set to an address the server does not trust) to see what remote clients see.",
			Refs: []string{"RFC 5321 §3.6.2"}},
	)
}

// noteLocalClient adds smtp.client.local when the check runs on the
// server's own machine: what the server offers and allows a local client
// is often not what it offers the world.
func (c *checker) noteLocalClient() {
	ip, why, ok := netx.LocalPeer(c.s.RemoteAddr(), c.s.LocalAddr())
	if !ok {
		return
	}
	c.r.rep.Add(report.Newf("smtp.client.local", "connect",
		"Connected to %s %s: the server may treat this client as local and trusted, so relaying, TLS and AUTH results may differ for remote clients.", ip, why))
}
