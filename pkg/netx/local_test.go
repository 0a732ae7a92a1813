package netx_test

import (
	"net"
	"testing"

	"github.com/mailprobe/mailprobe/pkg/netx"
)

func TestLocalPeer(t *testing.T) {
	tcp := func(s string) *net.TCPAddr { return &net.TCPAddr{IP: net.ParseIP(s), Port: 143} }
	for _, c := range []struct {
		remote, local string
		want          bool
	}{
		{"127.0.0.1", "127.0.0.1", true},
		{"127.0.0.53", "127.0.0.1", true},
		{"::1", "::1", true},
		{"198.51.100.7", "198.51.100.7", true}, // same address: the kernel's choice for a local target
		{"192.0.2.1", "198.51.100.7", false},   // TEST-NET: never an interface here
	} {
		if _, why, ok := netx.LocalPeer(tcp(c.remote), tcp(c.local)); ok != c.want || (ok && why == "") {
			t.Errorf("%s from %s: %v %q", c.remote, c.local, ok, why)
		}
	}
	if _, _, ok := netx.LocalPeer(&net.UnixAddr{Name: "x"}, nil); ok {
		t.Error("a non-TCP address")
	}
}
