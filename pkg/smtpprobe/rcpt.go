package smtpprobe

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
	"github.com/mailprobe/mailprobe/pkg/smtpclient"
)

// probeRcpt runs the optional MAIL/RCPT probe, then RSET: never DATA, so
// a probe can never deliver a message. Without authentication an
// accepted recipient is judged by where its domain's mail goes: to this
// server (local delivery, smtp.rcpt.local) or elsewhere (this server
// relays for it, smtp.relay.accepted).
func (c *checker) probeRcpt(ctx context.Context) bool {
	o, r := c.o, c.r
	if o.MailFrom == "" && len(o.RcptTo) == 0 {
		r.skip("mail", "no --from/--to probe asked")
		r.skip("rcpt", "no --from/--to probe asked")
		return true
	}
	// MAIL and RCPT share one stage clock when pipelined: their replies
	// come back together, so the stages are ended as each reply is judged.
	st := r.begin("mail")
	res, err := c.s.Transact(ctx, smtpclient.Transaction{From: o.MailFrom, To: o.RcptTo, Pipeline: c.pipelining()})
	if err != nil && res.Stage == "mail" {
		st.failed(err)
		c.skipRest("mail", "MAIL failed")
		return false
	}
	rp := res.Mail
	if rp.Code != 250 {
		st.End(statusFor(rp), "%s", rp.Short())
		r.rep.Add(refusal("smtp.mail.rejected", "mail", rp))
		r.skip("rcpt", "MAIL refused")
		return true
	}
	st.End(report.StatusOK, "%s", rp.Short())
	st = r.begin("rcpt")
	status, sums := report.StatusOK, []string{}
	relayTest := !c.authed
	for i, rp := range res.Rcpt {
		to := o.RcptTo[i]
		if relayTest && (rp.Code == 250 || rp.Code == 251) {
			sums = append(sums, to+": "+rp.Short())
			c.judgeAccepted(ctx, to, rp)
			continue
		}
		s, sum, _ := c.rcptReplies([]string{to}, []smtpclient.Reply{rp}, relayTest)
		sums = append(sums, sum...)
		if s != report.StatusOK {
			status = s
		}
	}
	if err != nil && res.Stage == "rcpt" {
		st.failed(err)
		c.skipRest("rcpt", "RCPT failed")
		return false
	}
	st.End(status, "%s", strings.Join(sums, "; "))
	if err != nil { // RSET
		if f, ok := netx.Interrupted("rcpt", err); ok {
			r.rep.Add(f)
		} else {
			r.rep.Add(errFinding("rcpt", err))
		}
		return false
	}
	return true
}

// judgeAccepted reports a recipient accepted without authentication:
// local delivery when its domain's mail goes to this server, else the
// server relays for the domain.
func (c *checker) judgeAccepted(ctx context.Context, to string, rp smtpclient.Reply) {
	local, why, err := c.servesDomain(ctx, to)
	switch {
	case err != nil:
		f := report.Newf("smtp.relay.accepted", "rcpt", "RCPT TO:<%s> was accepted without authentication; whether this server receives mail for the domain could not be checked: %v.", to, err)
		c.r.rep.Add(f.With("reply", rp.String(), rp.Seq...))
	case local:
		f := report.Newf("smtp.rcpt.local", "rcpt", "RCPT TO:<%s> accepted: %s, so this is local delivery, not relaying.", to, why)
		c.r.rep.Add(f.With("reply", rp.String(), rp.Seq...))
	default:
		f := report.Newf("smtp.relay.accepted", "rcpt", "RCPT TO:<%s> was accepted without authentication, and %s: this server relays for the domain.", to, why)
		c.r.rep.Add(f.With("reply", rp.String(), rp.Seq...))
	}
}

// domainResolver is the resolver for recipients' domains.
func (c *checker) domainResolver() resolver.Interface {
	if c.o.DomainResolver != nil {
		return c.o.DomainResolver
	}
	return c.o.Resolver
}

// names are the host names this server goes by: the target, the
// certificate name asked for, and the names in its greeting and EHLO.
func (c *checker) names() map[string]bool {
	out := map[string]bool{}
	add := func(n string) {
		n = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(n)), ".")
		if n != "" && net.ParseIP(strings.Trim(n, "[]")) == nil {
			out[n] = true
		}
	}
	add(c.o.Host)
	add(c.o.ServerName)
	add(c.caps.Domain)
	if banner, _ := c.r.rep.Facts["banner"].(string); banner != "" {
		if f := strings.Fields(strings.TrimPrefix(strings.TrimPrefix(banner, "220-"), "220 ")); len(f) > 0 {
			add(f[0])
		}
	}
	return out
}

// addrs are the addresses this server answers on: the one connected to
// and every address the target resolved to.
func (c *checker) addrs() map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	if ta, ok := c.s.RemoteAddr().(*net.TCPAddr); ok {
		if a, ok := netip.AddrFromSlice(ta.IP); ok {
			out[a.Unmap()] = true
		}
	}
	if list, ok := c.r.rep.Facts["addresses"].([]string); ok {
		for _, s := range list {
			if a, err := netip.ParseAddr(s); err == nil {
				out[a.Unmap()] = true
			}
		}
	}
	return out
}

// servesDomain tells whether mail for the domain of addr is delivered to
// this server: its MX hosts (or, without MX records, the domain itself,
// RFC 5321 §5.1) are this server by name or by address. why says how it
// was decided, for the finding's detail.
func (c *checker) servesDomain(ctx context.Context, addr string) (local bool, why string, err error) {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || at == len(addr)-1 {
		return false, "", fmt.Errorf("%q has no domain", addr)
	}
	domain := strings.TrimSuffix(strings.ToLower(addr[at+1:]), ".")
	mine := c.addrs()
	if strings.HasPrefix(domain, "[") && strings.HasSuffix(domain, "]") {
		lit := strings.TrimPrefix(strings.Trim(domain, "[]"), "ipv6:")
		a, perr := netip.ParseAddr(lit)
		if perr != nil {
			return false, "", fmt.Errorf("bad address literal %s", domain)
		}
		if mine[a.Unmap()] {
			return true, fmt.Sprintf("%s is this server's address", domain), nil
		}
		return false, fmt.Sprintf("%s is not this server's address", domain), nil
	}
	res := c.domainResolver()
	if res == nil {
		return false, "", fmt.Errorf("no DNS resolver to look up %s's MX records (give --resolver)", domain)
	}
	t := c.o.Timeouts.WithDefaults()
	lctx, cancel := context.WithTimeout(ctx, 2*t.DNS)
	defer cancel()
	mxs, _, err := res.LookupMX(lctx, domain)
	var hosts []string
	implicit := false
	switch {
	case err == nil && len(mxs) == 1 && mxs[0].Host == "":
		return false, fmt.Sprintf("%s publishes a null MX (it receives no mail, RFC 7505)", domain), nil
	case err == nil:
		for _, m := range mxs {
			if m.Host != "" {
				hosts = append(hosts, m.Host)
			}
		}
	case resolver.IsNotFound(err):
		hosts, implicit = []string{domain}, true
	default:
		return false, "", fmt.Errorf("MX lookup of %s: %v", domain, err)
	}
	if len(hosts) == 0 {
		return false, "", fmt.Errorf("MX lookup of %s: no MX hosts", domain)
	}
	what := func(h string) string {
		if implicit {
			return domain + " has no MX records and its own address"
		}
		return domain + "'s MX " + h
	}
	names := c.names()
	for _, h := range hosts {
		if names[h] {
			return true, what(h) + " is this server", nil
		}
	}
	var seen []string
	var lastErr error
	for _, h := range hosts {
		ips, lerr := res.LookupIP(lctx, h)
		if lerr != nil {
			lastErr = lerr
			continue
		}
		for _, ip := range ips {
			if mine[ip.Unmap()] {
				return true, fmt.Sprintf("%s (%s) is this server", what(h), ip), nil
			}
			seen = append(seen, h+" → "+ip.String())
		}
	}
	if len(seen) == 0 && lastErr != nil {
		return false, "", fmt.Errorf("address lookup of %s's mail hosts: %v", domain, lastErr)
	}
	if implicit {
		return false, fmt.Sprintf("%s has no MX records and its address (%s) is not this server", domain, strings.Join(seen, ", ")), nil
	}
	return false, fmt.Sprintf("%s's MX (%s) is not this server", domain, strings.Join(seen, ", ")), nil
}
