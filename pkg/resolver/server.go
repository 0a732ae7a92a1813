package resolver

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// ParseServer is the one validator of a DNS server given by the user
// (--resolver): it returns "host:port" (port 53 when none is given) or an
// error that says what is wrong. Accepted: an IP address ("127.0.0.1",
// "::1"), an IP address with a port ("127.0.0.1:5353", "[::1]:53"), and a
// host name with at least one dot, with or without a port ("dns.example",
// "dns.example:53").
//
// A bare word such as "nonsense" or "localhost" is refused: a DNS server
// named by a single label is almost always a typo, and resolving it would
// need the very resolver being chosen. Give the address instead
// ("127.0.0.1").
func ParseServer(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("empty DNS server: want HOST[:PORT], e.g. 127.0.0.1:53")
	}
	if ip, err := netip.ParseAddr(s); err == nil && ip.Zone() == "" {
		return net.JoinHostPort(ip.String(), "53"), nil // "::1", "192.0.2.1"
	}
	host, port := s, "53"
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		host = s[1 : len(s)-1] // "[::1]"
	} else if strings.Contains(s, ":") {
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			return "", fmt.Errorf("%q is not HOST[:PORT] (an IPv6 address with a port goes in brackets, [::1]:53)", s)
		}
		host, port = h, p
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || port != strconv.Itoa(n) {
		return "", fmt.Errorf("%q: the port %q is not a number from 1 to 65535", s, port)
	}
	if host == "" {
		return "", fmt.Errorf("%q has no host: want HOST[:PORT], e.g. 127.0.0.1:%s", s, port)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return "", fmt.Errorf("%q: an address with a zone (%%%s) is not supported", s, ip.Zone())
		}
		return net.JoinHostPort(ip.String(), port), nil
	}
	if why := badServerName(host); why != "" {
		return "", fmt.Errorf("%q is not a DNS server: %s; give an IP address (127.0.0.1, ::1) or a host name such as dns.example", s, why)
	}
	return net.JoinHostPort(strings.TrimSuffix(host, "."), port), nil
}

// badServerName says why host cannot name a DNS server ("" when it can):
// letters, digits and hyphens in labels of 1 to 63 octets (RFC 1123
// §2.1), at least two labels, at most 253 octets.
func badServerName(host string) string {
	name := strings.TrimSuffix(host, ".")
	if len(name) > 253 {
		return "the name is longer than 253 characters"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return fmt.Sprintf("%q is not allowed in a host name", string(c))
		}
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return "a single word is neither an IP address nor a host name with a domain"
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "a label is empty or longer than 63 characters"
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "a label starts or ends with a hyphen"
		}
	}
	return ""
}
