package netx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// LookupFunc returns the addresses of a host name. mailprobe passes its
// own resolver's (pkg/resolver) so that a run given --resolver asks that
// server and nothing else.
type LookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

// ResolvingDialer returns a DialFunc that resolves host names with lookup,
// never with the operating system's resolver, and connects to each address
// in the order lookup returned them until one answers (the first error is
// kept when all fail). IP literals are dialed directly. A failed lookup
// is a *net.DNSError, which Classify reports as KindDNS or KindTimeout.
func ResolvingDialer(base DialFunc, lookup LookupFunc) DialFunc {
	if base == nil {
		base = (&net.Dialer{}).DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if _, perr := netip.ParseAddr(host); perr == nil || lookup == nil {
			return base(ctx, network, addr)
		}
		ips, err := lookup(ctx, host)
		if err != nil {
			return nil, dnsError(host, err)
		}
		if len(ips) == 0 {
			return nil, &net.DNSError{Err: "no A or AAAA record", Name: host, IsNotFound: true}
		}
		var first error
		for _, ip := range ips {
			if ctx.Err() != nil {
				break
			}
			c, err := base(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
			if err == nil {
				return c, nil
			}
			if first == nil {
				first = err
			}
		}
		if first == nil {
			first = ctx.Err()
		}
		return nil, first
	}
}

// dnsError words a resolver failure as the standard library does, so
// that Classify and Describe treat it like any other lookup failure.
func dnsError(host string, err error) error {
	var de *net.DNSError
	if errors.As(err, &de) {
		return de
	}
	var te interface{ Timeout() bool }
	timeout := errors.As(err, &te) && te.Timeout() ||
		errors.Is(err, context.DeadlineExceeded)
	var nf interface{ NotFound() bool }
	notFound := errors.As(err, &nf) && nf.NotFound()
	return &net.DNSError{Err: err.Error(), Name: host, IsTimeout: timeout, IsNotFound: notFound}
}

// HostPort joins host and port ("[::1]:25" for IPv6).
func HostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// Elapsed words a duration for a person (milliseconds below a second).
func Elapsed(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return d.Round(10 * time.Millisecond).String()
}
