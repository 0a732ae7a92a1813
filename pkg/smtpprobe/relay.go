package smtpprobe

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/smtpclient"
)

func init() {
	report.Register(
		report.Code{Code: "smtp.relay.open", Severity: report.Fail, Title: "Open relay: a foreign recipient was accepted without authentication",
			Fix:  "Only authenticated clients and your own hosts may relay. Postfix: smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination, with mynetworks listing only your own hosts. Exim: relay_from_hosts listing only your own hosts, and acl_smtp_rcpt accepting other clients only for domains = +local_domains : +relay_to_domains. Sendmail: no RELAY entries for foreign hosts or domains in the access db (Connect:, To:), no FEATURE(`promiscuous_relay'), FEATURE(`loose_relay_check') or FEATURE(`relay_local_from'). Exchange: remove Ms-Exch-SMTP-Accept-Any-Recipient from Anonymous Logon on the receive connector.",
			Refs: []string{"RFC 5321 §3.6.2", "RFC 5321 §7.1", "RFC 2505 §2", "RFC 2606"}},
		report.Code{Code: "smtp.relay.closed", Severity: report.Pass, Title: "Every relay attempt was refused"},
		report.Code{Code: "smtp.relay.inconclusive", Severity: report.Warn, Title: "Relay test inconclusive",
			Fix:  "See the detail: a server that accepts any address at its own domain, or answers relay attempts with temporary failures (greylisting), cannot be judged by RCPT alone. Repeat the test later, or from an address that is not greylisted.",
			Refs: []string{"RFC 5321 §3.6.2", "RFC 2505 §2"}},
	)
}

// relayForeign is the domain relay attempts aim at: reserved by RFC 2606,
// so that nothing could ever be delivered there even by an open relay
// (and a relay probe never sends DATA anyway).
const (
	relayForeign = "example.net"
	relayLocal   = "mailprobe-relay-test"
)

// relayTrick is one classic open-relay test: an envelope that a careless
// server reads as "for this host" but routes to the foreign domain.
type relayTrick struct {
	name string
	// from and to build the envelope from the server's own domain (d)
	// and its address literal (lit).
	from, to func(sender, d, lit string) string
	// why says what a server accepting it does wrong, and where that is
	// usually set.
	why string
	// here is set when the recipient names this server's domain, so that
	// a server accepting any local part there accepts it too.
	here bool
}

// relayTricks are the attempts of --probe-relay (at most 11, plus one
// control address when a trick addressed to the server's own domain was
// accepted: never more than 12), after the usual open-relay test lists.
var relayTricks = []relayTrick{
	{name: "plain foreign recipient", from: senderAs, to: func(_, _, _ string) string { return relayLocal + "@" + relayForeign },
		why: "the server relays for any client: Postfix smtpd_relay_restrictions without reject_unauth_destination, or mynetworks covering this client; Exim relay_from_hosts; Sendmail access db Connect:/To: RELAY or FEATURE(`promiscuous_relay'); Exchange receive connector open to anonymous relay"},
	{name: "null sender", from: func(_, _, _ string) string { return "" }, to: func(_, _, _ string) string { return relayLocal + "@" + relayForeign },
		why: "the server relays for the null sender <> (bounces): a relay rule keyed on the sender"},
	{name: "sender in the server's own domain", from: func(_, d, _ string) string { return "postmaster@" + d }, to: func(_, _, _ string) string { return relayLocal + "@" + relayForeign },
		why: "the server relays when the sender claims to be local, which anyone can claim: Sendmail FEATURE(`relay_local_from'); Postfix check_sender_access ... OK in smtpd_relay_restrictions; Exim ACLs accepting on sender_domains"},
	{name: "percent hack", from: senderAs, to: func(_, d, _ string) string { return relayLocal + "%" + relayForeign + "@" + d }, here: true,
		why: "the server routes user%domain@here to user@domain: Sendmail FEATURE(`loose_relay_check'); Postfix allow_percent_hack with the domain in relay_domains; Exim percent_hack_domains"},
	{name: "percent hack to the address literal", from: senderAs, to: func(_, _, lit string) string { return relayLocal + "%" + relayForeign + "@" + lit }, here: true,
		why: "the server routes user%domain@[its address] to user@domain: Sendmail FEATURE(`loose_relay_check'); Exim percent_hack_domains"},
	{name: "quoted local part with @", from: senderAs, to: func(_, d, _ string) string { return `"` + relayLocal + "@" + relayForeign + `"@` + d }, here: true,
		why: `the server strips the quotes of "user@domain"@here and routes by the inner @`},
	{name: "quoted address without a domain", from: senderAs, to: func(_, _, _ string) string { return `"` + relayLocal + "@" + relayForeign + `"` }, here: true,
		why: `the server routes a quoted "user@domain" without a domain part by its inner @`},
	{name: "double @", from: senderAs, to: func(_, d, _ string) string { return relayLocal + "@" + relayForeign + "@" + d }, here: true,
		why: "the server routes user@domain@here by the first @"},
	{name: "source route", from: senderAs, to: func(_, d, _ string) string { return "@" + d + ":" + relayLocal + "@" + relayForeign },
		why: "the server honours the RFC 821 source route @here:user@domain by relaying to domain (RFC 5321 §3.6.1 and appendix C: strip the route, then judge user@domain)"},
	{name: "bang path", from: senderAs, to: func(_, d, _ string) string { return relayForeign + "!" + relayLocal + "@" + d }, here: true,
		why: "the server routes the UUCP bang path domain!user@here to user@domain: Sendmail without FEATURE(`nouucp', `reject'); Postfix swap_bangpath with the domain in relay_domains"},
	{name: "bang path without a domain", from: senderAs, to: func(_, _, _ string) string { return relayForeign + "!" + relayLocal }, here: true,
		why: "the server routes the UUCP bang path domain!user to user@domain: Sendmail without FEATURE(`nouucp', `reject')"},
}

func senderAs(sender, _, _ string) string { return sender }

// relayDomain is the server's own domain for the tricks: the domain of
// the first --to (one the user says this server receives mail for), else
// the name in the greeting, else the target host name, else the address
// literal.
func (c *checker) relayDomain(lit string) string {
	for _, to := range c.o.RcptTo {
		if at := strings.LastIndexByte(to, '@'); at >= 0 && at < len(to)-1 {
			return strings.TrimSuffix(strings.ToLower(to[at+1:]), ".")
		}
	}
	if banner, _ := c.r.rep.Facts["banner"].(string); banner != "" {
		if f := strings.Fields(strings.TrimPrefix(strings.TrimPrefix(banner, "220-"), "220 ")); len(f) > 0 && strings.Contains(f[0], ".") && net.ParseIP(strings.Trim(f[0], "[]")) == nil {
			return strings.TrimSuffix(strings.ToLower(f[0]), ".")
		}
	}
	if net.ParseIP(c.o.Host) == nil && strings.Contains(c.o.Host, ".") {
		return strings.TrimSuffix(strings.ToLower(c.o.Host), ".")
	}
	return lit
}

// addrLiteral is the address literal of the connected address (RFC 5321
// §4.1.3).
func (c *checker) addrLiteral() string {
	ta, ok := c.s.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return "[127.0.0.1]"
	}
	if ip4 := ta.IP.To4(); ip4 != nil {
		return "[" + ip4.String() + "]"
	}
	return "[IPv6:" + ta.IP.String() + "]"
}

type relayOutcome struct {
	trick    relayTrick
	from, to string
	mail, rp smtpclient.Reply
	accepted bool
	temp     bool
}

// probeRelay is --probe-relay: each trick in its own transaction on the
// unauthenticated session, MAIL then one RCPT, ended by RSET; never DATA.
// It returns false when the session broke.
func (c *checker) probeRelay(ctx context.Context) bool {
	r := c.r
	st := r.begin("relay")
	lit := c.addrLiteral()
	d := c.relayDomain(lit)
	sender := c.o.MailFrom
	if sender == "" {
		sender = relayLocal + "@example.org"
	}
	var outs []relayOutcome
	run := func(t relayTrick, from, to string) (relayOutcome, error) {
		res, err := c.s.Transact(ctx, smtpclient.Transaction{From: from, To: []string{to}, Pipeline: c.pipelining()})
		out := relayOutcome{trick: t, from: from, to: to, mail: res.Mail}
		switch {
		case res.Mail.Code != 250:
			out.rp = res.Mail
		case len(res.Rcpt) == 1:
			out.rp = res.Rcpt[0]
		}
		out.accepted = out.rp.Code == 250 || out.rp.Code == 251
		out.temp = out.rp.Class() == 4
		return out, err
	}
	hereAccepted := false
	for _, t := range relayTricks {
		out, err := run(t, t.from(sender, d, lit), t.to(sender, d, lit))
		if err != nil {
			st.failed(err)
			c.skipRest("relay", "the session broke during the relay probe")
			return false
		}
		outs = append(outs, out)
		if out.accepted && t.here {
			hereAccepted = true
		}
	}
	// A server that accepts any local part at its own domain accepts the
	// tricks addressed there whether or not it would relay them.
	catchAll := false
	var control relayOutcome
	if hereAccepted {
		ctrl := relayTrick{name: "control: an address that cannot exist at " + d, from: senderAs}
		var err error
		control, err = run(ctrl, sender, "mailprobe-no-such-user-"+strconv.FormatInt(r.now().UnixNano()%1e6, 36)+"@"+d)
		if err != nil {
			st.failed(err)
			c.skipRest("relay", "the session broke during the relay probe")
			return false
		}
		catchAll = control.accepted
	}
	accepted, refused, temp := 0, 0, 0
	var names []string
	software := strings.ToLower(softwareRe.FindString(c.bannerText()))
	for _, o := range outs {
		switch {
		case o.accepted && o.trick.here && catchAll:
			accepted++
			names = append(names, o.trick.name+" (inconclusive)")
			f := report.Newf("smtp.relay.inconclusive", "relay", "RCPT TO:<%s> (%s) was accepted without authentication, but so was the impossible <%s>: %s accepts any address, so this may be local delivery or relaying (%s).", o.to, o.trick.name, control.to, d, o.trick.why)
			r.rep.Add(f.With("reply", o.rp.String(), o.rp.Seq...).With("reply", control.rp.String(), control.rp.Seq...))
		case o.accepted:
			accepted++
			names = append(names, o.trick.name)
			f := report.Newf("smtp.relay.open", "relay", "%s: MAIL FROM:<%s> RCPT TO:<%s> was accepted without authentication. Likely cause: %s.", o.trick.name, o.from, o.to, o.trick.why)
			if fix := relayFixFor(software); fix != "" {
				f = f.WithFix(fix)
			}
			r.rep.Add(f.With("reply", o.rp.String(), o.rp.Seq...))
		case o.temp:
			temp++
		default:
			refused++
		}
	}
	n := len(outs)
	switch {
	case accepted > 0:
		st.End(report.StatusFail, "%d of %d attempts accepted: %s", accepted, n, strings.Join(names, ", "))
	case temp > 0 && refused == 0:
		st.End(report.StatusInfo, "%d of %d attempts answered with a temporary failure", temp, n)
		r.rep.Add(report.Newf("smtp.relay.inconclusive", "relay", "All %d relay attempts were answered with temporary failures (%s): the server may be greylisting this client.", n, outs[0].rp.Short()))
	default:
		st.End(report.StatusOK, "%d attempts, %d refused", n, refused)
		detail := fmt.Sprintf("All %d relay attempts to %s (plain, null and local sender, percent hack, quoted local part, double @, source route, bang path) were refused without authentication.", n, relayForeign)
		if temp > 0 {
			detail = fmt.Sprintf("None of the %d relay attempts to %s was accepted: %d refused, %d answered with a temporary failure.", n, relayForeign, refused, temp)
		}
		r.rep.Add(report.New("smtp.relay.closed", "relay", detail))
	}
	return true
}

func (c *checker) bannerText() string {
	s, _ := c.r.rep.Facts["banner"].(string)
	return s
}

// relayFixFor narrows the open-relay fix to the software the greeting
// names; "" keeps the registered fix, which names them all.
func relayFixFor(software string) string {
	switch {
	case software == "postfix":
		return "Postfix: smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination (in main.cf and in every -o override in master.cf), with mynetworks listing only your own hosts (postconf mynetworks; not 0.0.0.0/0); keep allow_percent_hack and swap_bangpath from turning a local-looking address into a foreign one."
	case software == "exim":
		return "Exim: relay_from_hosts listing only your own hosts, and an acl_smtp_rcpt that requires domains = +local_domains : +relay_to_domains for everyone else (the default configuration's require verify = recipient); empty percent_hack_domains."
	case software == "sendmail":
		return "Sendmail: remove RELAY entries for foreign hosts or domains from the access db (Connect:, To:), and FEATURE(`promiscuous_relay'), FEATURE(`loose_relay_check'), FEATURE(`relay_local_from') and FEATURE(`relay_based_on_MX') from the .mc file; add FEATURE(`nouucp', `reject')."
	case software == "exchange" || software == "microsoft esmtp":
		return "Exchange: on the receive connector, remove the Ms-Exch-SMTP-Accept-Any-Recipient permission from NT AUTHORITY\\ANONYMOUS LOGON (Get-ReceiveConnector | Get-ADPermission), and limit any relay connector's RemoteIPRanges to your own hosts."
	}
	return ""
}
