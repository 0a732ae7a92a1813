package dnsauth

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// Reverse DNS. Receivers commonly require that a sending IP has a PTR
// record whose name resolves back to the same IP ("forward-confirmed
// reverse DNS", FCrDNS; RFC 8601 §3 "iprev"); Gmail rejects mail from IPs
// without it (550 5.7.25). The check applies to the MX addresses (which
// often also send) and to --ip.

// PTRResult is the reverse DNS of one address.
type PTRResult struct {
	IP        string   `json:"ip"`
	Names     []string `json:"names,omitempty"`
	Confirmed []string `json:"confirmed,omitempty"` // names that resolve back to IP
	Error     string   `json:"error,omitempty"`
	Temporary bool     `json:"temporary,omitempty"`
}

// FCrDNS looks up ip's PTR names and keeps those that resolve back to it
// (at most 10 names, as SPF does, RFC 7208 §5.5).
func FCrDNS(ctx context.Context, r resolver.Interface, ip netip.Addr) PTRResult {
	ip = ip.Unmap()
	res := PTRResult{IP: ip.String()}
	names, err := r.LookupPTR(ctx, ip)
	if err != nil {
		res.Error = err.Error()
		res.Temporary = !resolver.IsNotFound(err)
		return res
	}
	res.Names = names
	if len(names) > 10 {
		names = names[:10]
	}
	var failed error
	for _, n := range names {
		var addrs []netip.Addr
		if ip.Is4() {
			addrs, err = r.LookupA(ctx, n)
		} else {
			addrs, err = r.LookupAAAA(ctx, n)
		}
		if err != nil {
			if !resolver.IsNotFound(err) && failed == nil {
				failed = err
			}
			continue
		}
		for _, a := range addrs {
			if a.Unmap() == ip {
				res.Confirmed = append(res.Confirmed, n)
				break
			}
		}
	}
	if len(res.Confirmed) == 0 && failed != nil {
		// Not confirmed because a forward lookup failed: unknown, not
		// "does not resolve back".
		res.Error, res.Temporary = failed.Error(), true
	}
	return res
}

const ptrStage = "ptr"

// PTRCheck is the result of CheckPTR.
type PTRCheck struct {
	Results  []PTRResult `json:"results"`
	findings []report.Finding
}

// Findings returns the check's findings.
func (c *PTRCheck) Findings() []report.Finding { return c.findings }

// CheckPTR checks FCrDNS for each address; label says what the address
// is ("MX mx1.example.com", "--ip").
func CheckPTR(ctx context.Context, r resolver.Interface, addrs []netip.Addr, labels []string) *PTRCheck {
	c := &PTRCheck{Results: make([]PTRResult, len(addrs))}
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Results[i] = FCrDNS(ctx, r, a)
		}()
	}
	wg.Wait()
	for i, res := range c.Results {
		what := res.IP
		if i < len(labels) && labels[i] != "" {
			what = labels[i] + " (" + res.IP + ")"
		}
		switch {
		case res.Error != "" && res.Temporary:
			c.findings = append(c.findings, report.New("ptr.dns.error", ptrStage, fmt.Sprintf("Reverse lookup of %s failed: %s.", what, res.Error)))
		case res.Error != "":
			c.findings = append(c.findings, report.New("ptr.missing", ptrStage, fmt.Sprintf("%s has no PTR record. Receivers (Gmail: 550 5.7.25) reject or penalize mail from addresses without reverse DNS.", what)).
				WithFix("Ask whoever owns the address block (the hosting provider, usually in its control panel) to set the PTR to the server's host name, and make that name resolve to this address."))
		case len(res.Confirmed) == 0:
			c.findings = append(c.findings, report.New("ptr.unconfirmed", ptrStage, fmt.Sprintf("%s has PTR %s, but that name does not resolve back to it (no forward-confirmed reverse DNS).", what, strings.Join(res.Names, ", "))).
				WithFix(fmt.Sprintf("Publish an A/AAAA record for %s pointing to %s, or change the PTR to a name that does.", res.Names[0], res.IP)))
		default:
			c.findings = append(c.findings, report.New("ptr.ok", ptrStage, fmt.Sprintf("%s: %s", what, strings.Join(res.Confirmed, ", "))))
		}
	}
	return c
}

// DNSBL lookups (RFC 5782): an IPv4 address a.b.c.d is listed in zone Z
// when d.c.b.a.Z has an A record in 127.0.0.0/8; IPv6 uses the nibble
// form. 127.255.255.252-255 are the lists' error codes (for instance
// Spamhaus refusing queries from public resolvers), not listings.

// DefaultDNSBLs are the lists asked when --dnsbl is given without a list.
// They are free for low-volume queries; Spamhaus blocks queries that come
// through large public resolvers (answering 127.255.255.254), so use your
// own resolver.
var DefaultDNSBLs = []string{
	"zen.spamhaus.org",
	"bl.spamcop.net",
	"b.barracudacentral.org",
	"dnsbl.sorbs.net",
	"psbl.surriel.com",
}

// DNSBLHit is one lookup.
type DNSBLHit struct {
	IP     string `json:"ip"`
	List   string `json:"list"`
	Listed bool   `json:"listed"`
	Codes  string `json:"codes,omitempty"`
	Reason string `json:"reason,omitempty"` // the list's TXT explanation
	Error  string `json:"error,omitempty"`
}

// DNSBLCheck is the result of CheckDNSBL.
type DNSBLCheck struct {
	Hits     []DNSBLHit `json:"lookups"`
	findings []report.Finding
}

// Findings returns the check's findings.
func (c *DNSBLCheck) Findings() []report.Finding { return c.findings }

const dnsblStage = "dnsbl"

// DNSBLName is the query name of ip in list.
func DNSBLName(ip netip.Addr, list string) string {
	ip = ip.Unmap()
	if ip.Is4() {
		b := ip.As4()
		return fmt.Sprintf("%d.%d.%d.%d.%s", b[3], b[2], b[1], b[0], list)
	}
	nib := dottedIP(ip)
	parts := strings.Split(nib, ".")
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, ".") + "." + list
}

// CheckDNSBL looks every address up in every list, concurrently.
func CheckDNSBL(ctx context.Context, r resolver.Interface, addrs []netip.Addr, lists []string) *DNSBLCheck {
	c := &DNSBLCheck{}
	hits := make([]DNSBLHit, len(addrs)*len(lists))
	var wg sync.WaitGroup
	for i, ip := range addrs {
		for j, l := range lists {
			wg.Add(1)
			go func(h *DNSBLHit) {
				defer wg.Done()
				h.IP, h.List = ip.Unmap().String(), l
				name := DNSBLName(ip, l)
				a, err := r.LookupA(ctx, name)
				if err != nil {
					if !resolver.IsNotFound(err) {
						h.Error = err.Error()
					}
					return
				}
				var codes []string
				for _, x := range a {
					codes = append(codes, x.String())
				}
				h.Codes = strings.Join(codes, ", ")
				for _, x := range a {
					b := x.As4()
					switch {
					case !x.Is4() || b[0] != 127:
						h.Error = "answer " + x.String() + " is outside 127.0.0.0/8 (a wildcard or a hijacking resolver)"
					case b[1] == 255 && b[2] == 255 && b[3] >= 252:
						h.Error = "the list refused the query (" + x.String() + "): it blocks queries from public or high-volume resolvers"
					default:
						h.Listed = true
					}
				}
				if h.Listed {
					if txt, err := r.LookupTXT(ctx, name); err == nil {
						h.Reason = echo(strings.Join(txt, " "))
					}
				}
			}(&hits[i*len(lists)+j])
		}
	}
	wg.Wait()
	c.Hits = hits
	listed := 0
	for _, h := range hits {
		switch {
		case h.Listed:
			listed++
			f := report.New("dnsbl.listed", dnsblStage, fmt.Sprintf("%s is listed in %s (%s).", h.IP, h.List, h.Codes))
			if h.Reason != "" {
				f = f.WithRecord(h.Reason)
			}
			c.findings = append(c.findings, f)
		case h.Error != "":
			c.findings = append(c.findings, report.New("dnsbl.error", dnsblStage, fmt.Sprintf("%s in %s: %s.", h.IP, h.List, h.Error)))
		}
	}
	if listed == 0 && len(hits) > 0 {
		c.findings = append(c.findings, report.New("dnsbl.clean", dnsblStage, fmt.Sprintf("%d address(es) not listed in %s", len(addrs), strings.Join(lists, ", "))))
	}
	return c
}
