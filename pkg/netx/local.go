package netx

import "net"

// LocalPeer reports whether a connection from local to remote stays on
// this machine: over loopback, from the same address, or to an address
// of one of its interfaces. Servers trust such clients (Postfix's default
// mynetworks holds 127.0.0.0/8; Dovecot treats a client on its own IP as
// secured: other capabilities, no LOGINDISABLED), so every engine that
// judges a server notes it. why says which case it was.
func LocalPeer(remote, local net.Addr) (ip net.IP, why string, ok bool) {
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
