//go:build windows

package resolver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/windows"
)

// systemServers returns the DNS servers of the network adapters that are
// up, in the system's adapter order, as Windows itself would ask them
// (Windows has no resolv.conf). IPv6 site-local placeholder servers
// (fec0:0:0:ffff::1-3, configured when nothing else is) are skipped, as
// Go's own resolver does.
func systemServers() ([]string, error) {
	adapters, err := adapterAddresses()
	if err != nil {
		return nil, fmt.Errorf("reading the network adapters' DNS servers: %w (use --resolver HOST:PORT)", err)
	}
	seen := map[string]bool{}
	var servers []string
	for a := adapters; a != nil; a = a.Next {
		if a.OperStatus != windows.IfOperStatusUp {
			continue
		}
		for d := a.FirstDnsServerAddress; d != nil; d = d.Next {
			ip, ok := netip.AddrFromSlice(d.Address.IP())
			if !ok {
				continue
			}
			ip = ip.Unmap()
			if ip.Is6() && ip.As16()[0] == 0xfe && ip.As16()[1] == 0xc0 {
				continue // site-local (deprecated, RFC 3879) placeholder
			}
			s := net.JoinHostPort(ip.String(), "53")
			if !seen[s] {
				seen[s] = true
				servers = append(servers, s)
			}
		}
	}
	if len(servers) == 0 {
		return nil, errors.New("no network adapter that is up has a DNS server (use --resolver HOST:PORT)")
	}
	return servers, nil
}

// adapterAddresses calls GetAdaptersAddresses with a buffer that grows
// until the list fits (the documented ERROR_BUFFER_OVERFLOW protocol),
// bounded so that a misbehaving call cannot make it grow forever.
func adapterAddresses() (*windows.IpAdapterAddresses, error) {
	size := uint32(15 << 10) // the 15 KB Microsoft recommends to start with
	for try := 0; try < 4; try++ {
		buf := make([]byte, size)
		first := (*windows.IpAdapterAddresses)(unsafe.Pointer(&buf[0]))
		err := windows.GetAdaptersAddresses(windows.AF_UNSPEC,
			windows.GAA_FLAG_SKIP_UNICAST|windows.GAA_FLAG_SKIP_ANYCAST|windows.GAA_FLAG_SKIP_MULTICAST|windows.GAA_FLAG_SKIP_FRIENDLY_NAME,
			0, first, &size)
		if err == nil {
			if size == 0 {
				return nil, nil
			}
			return first, nil
		}
		if !errors.Is(err, windows.ERROR_BUFFER_OVERFLOW) || size > 1<<20 {
			return nil, err
		}
	}
	return nil, errors.New("the adapter list kept growing")
}
