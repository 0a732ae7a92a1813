package dnsauth

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// The engines of the focused commands: each returns one report, with the
// shape every engine has, (ctx, Options) (*report.Report, error). The
// error is for our own failures (no resolver, an unreadable message); a
// broken domain is a finding.

// errNoResolver is the programming error of an engine called without a
// resolver: the command must choose one, never the engine.
var errNoResolver = errors.New("dnsauth: no resolver given")

// SPFOptions configure SPFReport.
type SPFOptions struct {
	Resolver resolver.Interface // asks every question (required)
	Domain   string
	IP       netip.Addr // when valid, check_host() is evaluated for it
	Sender   string     // MAIL FROM (default postmaster@DOMAIN)
	Helo     string
	Now      func() time.Time
}

// SPFReport is `mailprobe spf DOMAIN`: the record check, and with an IP
// the full check_host() evaluation.
func SPFReport(ctx context.Context, o SPFOptions) (*report.Report, error) {
	r, domain := o.Resolver, o.Domain
	if r == nil {
		return nil, errNoResolver
	}
	now := nowFunc(o.Now)
	start := now()
	var c resolver.Counter
	ctx = resolver.WithCounter(ctx, &c)
	domain = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	an := AnalyzeSPF(ctx, r, domain)
	fs := an.Findings()
	summary := "no SPF record"
	if an.Record != "" {
		summary = fmt.Sprintf("%d/%d DNS lookups, %d void", an.Lookups, SPFMaxLookups, an.VoidLookups)
	}
	dnsErr := an.DNSError != ""
	var fact any = an
	if o.IP.IsValid() {
		// The MAIL FROM identity: --sender, else postmaster@DOMAIN
		// (RFC 7208 §4.3); --helo only feeds %{h}.
		sender := o.Sender
		if sender == "" {
			sender = "postmaster@" + domain
		}
		ev := CheckHost(ctx, r, SPFQuery{IP: o.IP, Sender: sender, Helo: o.Helo, Now: now()})
		if ev.Domain != domain {
			summary += fmt.Sprintf("; the sender's domain %s was evaluated", ev.Domain)
		}
		fs = append(SPFEvalFindings(ev), fs...)
		summary += fmt.Sprintf("; check_host = %s", ev.Result)
		dnsErr = dnsErr || ev.Result == SPFTempError
		fact = map[string]any{"record_check": an, "evaluation": ev}
	}
	if r.Unreachable() != nil {
		return resolverDownReport("spf", domain, now, start, []string{spfStage}, r), nil
	}
	return newAreaReport("spf", domain, now, start, spfStage, fs, summary, dnsErr, fact, &c), nil
}

// DKIMCheckOptions configure DKIMCheckReport.
type DKIMCheckOptions struct {
	Resolver resolver.Interface // asks every question (required)
	Domain   string
	// Selectors are the selectors to check (none: the common list).
	Selectors []string
	Now       func() time.Time
}

// DKIMCheckReport is `mailprobe dkim check DOMAIN`.
func DKIMCheckReport(ctx context.Context, o DKIMCheckOptions) (*report.Report, error) {
	r, domain, selectors := o.Resolver, o.Domain, o.Selectors
	if r == nil {
		return nil, errNoResolver
	}
	now := nowFunc(o.Now)
	start := now()
	var c resolver.Counter
	ctx = resolver.WithCounter(ctx, &c)
	dk := CheckDKIM(ctx, r, domain, selectors)
	summary := fmt.Sprintf("%d key(s) at %d selector(s) tried", len(dk.Keys), len(dk.Selectors))
	if r.Unreachable() != nil {
		return resolverDownReport("dkim check", dk.Domain, now, start, []string{dkimStage}, r), nil
	}
	return newAreaReport("dkim check", dk.Domain, now, start, dkimStage, dk.Findings(), summary, dk.DNSError != "", dk, &c), nil
}

// DKIMVerifyOptions configure DKIMVerifyReport.
type DKIMVerifyOptions struct {
	Resolver resolver.Interface // fetches the keys (required)
	// Name is what the report calls the message (its file name).
	Name    string
	Message []byte
	Now     func() time.Time
}

// DKIMVerifyReport is `mailprobe dkim verify FILE`: every signature, and
// the DMARC alignment of the passing ones with the From domain.
func DKIMVerifyReport(ctx context.Context, o DKIMVerifyOptions) (*report.Report, error) {
	r, name, msg := o.Resolver, o.Name, o.Message
	if r == nil {
		return nil, errNoResolver
	}
	now := nowFunc(o.Now)
	start := now()
	var c resolver.Counter
	ctx = resolver.WithCounter(ctx, &c)
	v, err := VerifyDKIM(ctx, r, msg)
	if err != nil {
		return nil, err
	}
	pass := 0
	temp := false
	for _, s := range v.Signatures {
		if s.Result == DKIMPass {
			pass++
		}
		if s.Result == DKIMTempError {
			temp = true
		}
	}
	summary := fmt.Sprintf("%d of %d signature(s) verified", pass, len(v.Signatures))
	fs := v.Findings()
	fact := map[string]any{"signatures": v.Signatures}
	if r.Unreachable() != nil {
		return resolverDownReport("dkim verify", name, now, start, []string{dkimStage}, r), nil
	}
	rep := newAreaReport("dkim verify", name, now, start, dkimStage, fs, summary, temp, fact, &c)
	if from := fromDomain(msg); from != "" {
		fact["from_domain"] = from
	}
	return rep, nil
}

// fromDomain is the domain of the message's single From address.
func fromDomain(msg []byte) string {
	m, err := mail.ReadMessage(strings.NewReader(string(wireForm(msg))))
	if err != nil {
		return ""
	}
	addrs, err := m.Header.AddressList("From")
	if err != nil || len(addrs) != 1 {
		return ""
	}
	_, d := splitSender(addrs[0].Address)
	return strings.ToLower(d)
}

// DMARCOptions configure DMARCReport.
type DMARCOptions struct {
	Resolver resolver.Interface // asks every question (required)
	// Domain may be empty when a message is given (its From domain is
	// used).
	Domain string
	// Message, when set, is evaluated: DKIM verified, the From domain's
	// policy applied, and SPF taken from IP/MailFrom/Helo when IP is set.
	Message  []byte
	IP       netip.Addr
	MailFrom string
	Helo     string
	Now      func() time.Time
}

// DMARCReport is `mailprobe dmarc DOMAIN`: discovery, the record's tags,
// report destinations, and with a message its alignment.
func DMARCReport(ctx context.Context, o DMARCOptions) (*report.Report, error) {
	r, domain := o.Resolver, o.Domain
	if r == nil {
		return nil, errNoResolver
	}
	now := nowFunc(o.Now)
	start := now()
	var c resolver.Counter
	ctx = resolver.WithCounter(ctx, &c)
	if o.Message != nil {
		fd := fromDomain(o.Message)
		if fd == "" {
			return nil, fmt.Errorf("the message has no single From address to take the domain from")
		}
		if domain == "" {
			domain = fd
		}
	}
	domain = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	dm := CheckDMARC(ctx, r, domain)
	fs := dm.Findings()
	summary := "no policy"
	if dm.Policy.Record != nil {
		summary = fmt.Sprintf("p=%s at _dmarc.%s, organizational domain %s", dm.Policy.Effective(), dm.Policy.PolicyDomain, dm.Policy.OrgDomain)
	}
	dnsErr := dm.Policy.DNSError != ""
	fact := map[string]any{"check": dm}
	if o.Message != nil {
		v, err := VerifyDKIM(ctx, r, o.Message)
		if err != nil {
			return nil, err
		}
		var ids []DKIMIdentity
		for _, s := range v.Signatures {
			ids = append(ids, DKIMIdentity{Domain: s.Domain, Result: string(s.Result)})
		}
		spfDomain, spfResult := "", ""
		if o.IP.IsValid() {
			ev := CheckHost(ctx, r, SPFQuery{IP: o.IP, Sender: o.MailFrom, Helo: o.Helo, Now: now()})
			spfDomain, spfResult = ev.Domain, string(ev.Result)
			fact["spf"] = ev
		}
		al := Align(ctx, r, dm.Policy, spfDomain, spfResult, ids)
		fs = append(AlignmentFindings(al), fs...)
		fs = append(fs, v.Findings()...)
		fact["alignment"] = al
		fact["dkim"] = v.Signatures
		summary += "; message: DMARC " + al.Result
	}
	if r.Unreachable() != nil {
		return resolverDownReport("dmarc", domain, now, start, []string{dmarcStage}, r), nil
	}
	return newAreaReport("dmarc", domain, now, start, dmarcStage, fs, summary, dnsErr, fact, &c), nil
}

func nowFunc(f func() time.Time) func() time.Time {
	if f == nil {
		return time.Now
	}
	return f
}
