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

// MX checks: RFC 5321 §5.1 (MX selection and the implicit MX), RFC 7505
// (null MX), RFC 2181 §10.3 (an MX target must not be an alias), RFC
// 5321 §5.1 again (the target is a domain name, not an address literal).

// MXHost is one exchanger and its addresses.
type MXHost struct {
	Pref  uint16       `json:"preference"`
	Host  string       `json:"host"`
	Addrs []netip.Addr `json:"addresses,omitempty"`
	CNAME string       `json:"cname,omitempty"`
	Error string       `json:"error,omitempty"`
	// MoreAddrs counts the addresses past MaxAddrsPerMX, not kept.
	MoreAddrs int `json:"more_addresses,omitempty"`
	kind      resolver.Kind
	ipLit     bool
}

// MXCheck is the result of CheckMX.
type MXCheck struct {
	Domain   string   `json:"domain"`
	Hosts    []MXHost `json:"hosts,omitempty"`
	NullMX   bool     `json:"null_mx,omitempty"`
	Implicit bool     `json:"implicit_mx,omitempty"` // no MX: mail goes to the domain's own A/AAAA
	// Unchecked counts the MX hosts past MaxMXHosts, not checked.
	Unchecked int    `json:"unchecked_hosts,omitempty"`
	AD        bool   `json:"dnssec"`
	DNSError  string `json:"dns_error,omitempty"`
	findings  []report.Finding
}

// Findings returns the check's findings.
func (c *MXCheck) Findings() []report.Finding { return c.findings }

const mxStage = "mx"

// CheckMX looks up and checks the mail exchangers of domain.
func CheckMX(ctx context.Context, r resolver.Interface, domain string) *MXCheck {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	c := &MXCheck{Domain: domain}
	add := func(f report.Finding) { c.findings = append(c.findings, f) }
	mxs, ans, err := r.LookupMX(ctx, domain)
	if ans != nil {
		c.AD = ans.AD
	}
	if err != nil {
		switch resolver.KindOf(err) {
		case resolver.KindNXDomain:
			add(report.New("mx.domain.nxdomain", mxStage, fmt.Sprintf("%s does not exist (NXDOMAIN): no mail can be delivered to it, and receivers reject mail from it.", domain)))
			return c
		case resolver.KindNoData:
			ips, ierr := r.LookupIP(ctx, domain)
			if ierr == nil && len(ips) > 0 {
				c.Implicit = true
				c.Hosts = []MXHost{{Host: domain, Addrs: ips}}
				add(report.New("mx.record.implicit", mxStage, fmt.Sprintf("%s has no MX record; senders fall back to its address record (%s) as an implicit MX (RFC 5321 §5.1).", domain, joinAddrs(ips))).
					WithFix(fmt.Sprintf("Publish an MX record for %s naming the server that receives its mail, or a null MX (\"%s. MX 0 .\") if it receives none (RFC 7505).", domain, domain)))
				return c
			}
			add(report.New("mx.record.missing", mxStage, fmt.Sprintf("%s has no MX record and no address: mail to it (bounces, DMARC reports, replies) cannot be delivered.", domain)).
				WithFix(fmt.Sprintf("Publish an MX record for %s, or a null MX (\"%s. MX 0 .\") to say it receives no mail (RFC 7505).", domain, domain)))
			return c
		}
		c.DNSError = err.Error()
		add(report.New("mx.dns.error", mxStage, fmt.Sprintf("The MX lookup for %s failed: %v.", domain, err)))
		return c
	}
	for _, m := range mxs {
		if m.Host == "" {
			c.NullMX = true
		}
	}
	if c.NullMX {
		if len(mxs) > 1 {
			add(report.New("mx.null.mixed", mxStage, fmt.Sprintf("%s publishes a null MX together with %d other MX records; RFC 7505 §3 forbids this and senders may ignore either.", domain, len(mxs)-1)))
		} else {
			add(report.New("mx.null", mxStage, fmt.Sprintf("%s publishes a null MX (RFC 7505): it receives no mail. Mail from it then cannot get bounces or replies, which receivers may hold against it.", domain)))
			return c
		}
	}
	if len(mxs) > MaxMXHosts {
		c.Unchecked = len(mxs) - MaxMXHosts
		add(report.Newf("mx.hosts.many", mxStage, "%s has %d MX records; the %d most preferred are checked here (and by the mta-sts, dane and ptr areas), %d are not. Senders try only the first few of equal preference.", domain, len(mxs), MaxMXHosts, c.Unchecked))
		mxs = mxs[:MaxMXHosts]
	}
	hosts := make([]MXHost, len(mxs))
	var wg sync.WaitGroup
	for i, m := range mxs {
		hosts[i] = MXHost{Pref: m.Pref, Host: m.Host}
		if m.Host == "" {
			continue
		}
		wg.Add(1)
		go func(h *MXHost) {
			defer wg.Done()
			if ip, ok := resolver.ParseIP(strings.Trim(h.Host, "[]")); ok {
				h.ipLit = true
				h.Addrs = []netip.Addr{ip}
				return
			}
			if t, err := resolver.CNAMEOf(ctx, r, h.Host); err == nil && t != "" {
				h.CNAME = t
			}
			ips, err := r.LookupIP(ctx, h.Host)
			if err != nil {
				h.Error, h.kind = err.Error(), resolver.KindOf(err)
			}
			if len(ips) > MaxAddrsPerMX {
				h.MoreAddrs = len(ips) - MaxAddrsPerMX
				ips = ips[:MaxAddrsPerMX]
			}
			h.Addrs = ips
		}(&hosts[i])
	}
	wg.Wait()
	c.Hosts = hosts
	usable := 0
	for _, h := range hosts {
		if h.Host == "" {
			continue
		}
		if h.ipLit {
			add(report.New("mx.target.ip-literal", mxStage, fmt.Sprintf("MX %d %s is an IP address; an MX must name a host (RFC 5321 §5.1), and many senders skip it.", h.Pref, h.Host)))
			continue
		}
		if h.CNAME != "" {
			add(report.New("mx.target.cname", mxStage, fmt.Sprintf("MX %s is an alias (CNAME to %s); RFC 2181 §10.3 says an MX must point at the name with the address records, and some senders refuse.", h.Host, h.CNAME)))
		}
		if len(h.Addrs) == 0 {
			if h.kind != "" && h.kind != resolver.KindNXDomain && h.kind != resolver.KindNoData {
				add(report.New("mx.dns.error", mxStage, fmt.Sprintf("Resolving MX %s failed: %s.", h.Host, h.Error)))
				c.DNSError = h.Error
				continue
			}
			add(report.New("mx.target.unresolved", mxStage, fmt.Sprintf("MX %d %s has no A or AAAA record: senders cannot deliver to it.", h.Pref, h.Host)))
			continue
		}
		for _, a := range h.Addrs {
			if a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() {
				add(report.New("mx.target.private", mxStage, fmt.Sprintf("MX %s resolves to %s, which is not reachable from the Internet.", h.Host, a)))
			}
		}
		usable++
	}
	if usable > 0 {
		var list []string
		for _, h := range hosts {
			if h.Host != "" {
				more := ""
				if h.MoreAddrs > 0 {
					more = fmt.Sprintf(" and %d more", h.MoreAddrs)
				}
				list = append(list, fmt.Sprintf("%d %s (%s%s)", h.Pref, h.Host, joinAddrs(h.Addrs), more))
			}
		}
		add(report.New("mx.ok", mxStage, strings.Join(list, "; ")))
	}
	return c
}

func joinAddrs(ips []netip.Addr) string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return strings.Join(s, ", ")
}
