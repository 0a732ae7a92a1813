package smtpprobe

import (
	"net"

	"github.com/mailprobe/mailprobe/pkg/report"
)

func init() {
	report.Register(
		report.Code{Code: "smtp.client.local", Severity: report.Info, Title: "Checked from the server's own machine",
			Fix:  "Servers trust local clients: Postfix's default mynetworks includes 127.0.0.0/8 (permit_mynetworks relays for it, and smtpd_forbid_bare_newline_exclusions exempts it), and Dovecot treats a client on its own IP as secured. Run the check from another machine (or with --local-addr set to an address the server does not trust) to see what remote clients see.",
			Refs: []string{"RFC 5321 §3.6.2"}},
	)
}

// localPeer reports whether the connection goes to this machine: over
// loopback, or to one of its own addresses (the kernel then uses the
// same address as the source, or the address is on an interface).
func localPeer(remote, local net.Addr) (ip net.IP, why string, ok bool) {
	r, _ := remote.(*net.TCPAddr)
	if r == nil {
		return nil, "", false
	}
	switch {
	case r.IP.IsLoopback():
		return r.IP, "over loopback", true
	case local != nil:
		if l, _ := local.(*net.TCPAddr); l != nil && l.IP.Equal(r.IP) {
			return r.IP, "from the same address", true
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.Equal(r.IP) {
				return r.IP, "to an address of this machine", true
			}
		}
	}
	return nil, "", false
}

// noteLocalClient adds smtp.client.local when the check runs on the
// server's own machine: what the server offers and allows a local client
// is often not what it offers the world.
func (c *checker) noteLocalClient() {
	ip, why, ok := localPeer(c.s.RemoteAddr(), c.s.LocalAddr())
	if !ok {
		return
	}
	c.r.rep.Add(report.Newf("smtp.client.local", "connect",
		"Connected to %s %s: the server may treat this client as local and trusted, so relaying, TLS and AUTH results may differ for remote clients.", ip, why))
}
