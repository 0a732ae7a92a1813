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
	// WalkBudget bounds the record check's walk (zero: the defaults);
	// EvalTimeout the check_host() evaluation (zero: SPFEvalTimeout).
	WalkBudget  SPFWalkBudget
	EvalTimeout time.Duration
}

// SPFReport is `mailprobe spf DOMAIN`: the record check, and with an IP
// the full check_host() evaluation.
func SPFReport(ctx context.Context, o SPFOptions) (*report.Report, error) {
	r, domain := o.Resolver, o.Domain
	run, ctx, err := beginFocused(ctx, "spf", spfStage, r, o.Now)
	if err != nil {
		return nil, err
	}
	domain = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	an := AnalyzeSPFBudget(ctx, r, domain, o.WalkBudget)
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
		ev := CheckHost(ctx, r, SPFQuery{IP: o.IP, Sender: sender, Helo: o.Helo, Now: run.now(), Timeout: o.EvalTimeout})
		if ev.Domain != domain {
			summary += fmt.Sprintf("; the sender's domain %s was evaluated", ev.Domain)
		}
		fs = append(SPFEvalFindings(ev), fs...)
		summary += fmt.Sprintf("; check_host = %s", ev.Result)
		dnsErr = dnsErr || ev.Result == SPFTempError
		fact = map[string]any{"record_check": an, "evaluation": ev}
	}
	return run.report(domain, fs, summary, dnsErr, fact), nil
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
	run, ctx, err := beginFocused(ctx, "dkim check", dkimStage, r, o.Now)
	if err != nil {
		return nil, err
	}
	dk := CheckDKIM(ctx, r, domain, selectors)
	summary := fmt.Sprintf("%d key(s) at %d selector(s) tried", len(dk.Keys), len(dk.Selectors))
	return run.report(dk.Domain, dk.Findings(), summary, dk.DNSError != "", dk), nil
}

// DKIMVerifyOptions configure DKIMVerifyReport.
type DKIMVerifyOptions struct {
	Resolver resolver.Interface // fetches the keys (required)
	// Name is what the report calls the message (its file name).
	Name    string
	Message []byte
	Now     func() time.Time
	// At is the time signatures are judged at (x= expiry); zero means
	// now.
	At time.Time
}

// DKIMVerifyReport is `mailprobe dkim verify FILE`: every signature, and
// the DMARC alignment of the passing ones with the From domain.
func DKIMVerifyReport(ctx context.Context, o DKIMVerifyOptions) (*report.Report, error) {
	r, name, msg := o.Resolver, o.Name, o.Message
	run, ctx, err := beginFocused(ctx, "dkim verify", dkimStage, r, o.Now)
	if err != nil {
		return nil, err
	}
	at := o.At
	if at.IsZero() {
		at = run.now()
	}
	v, err := verifyDKIMAt(ctx, r, msg, at, !o.At.IsZero())
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
	if !o.At.IsZero() {
		summary += " at " + v.At.Format(time.RFC3339)
	}
	fs := v.Findings()
	fact := map[string]any{"signatures": v.Signatures, "verified_at": v.At, "verified_at_given": v.AtGiven}
	rep := run.report(name, fs, summary, temp, fact)
	if from := fromDomain(msg); from != "" {
		fact["from_domain"] = from
	}
	// The ARC chain: what a forwarder that broke DKIM vouched for.
	arcStart := run.now()
	addARCStage(rep, VerifyARC(ctx, r, msg, at), arcStart, run.now().Sub(arcStart))
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
	// At is the time DKIM signatures are judged at (x= and t=); zero
	// means now.
	At time.Time
}

// DMARCReport is `mailprobe dmarc DOMAIN`: discovery, the record's tags,
// report destinations, and with a message its alignment. A message whose
// From field names several domains, or no usable one, is a finding (RFC
// 9989 exempts it from DMARC), not an error.
func DMARCReport(ctx context.Context, o DMARCOptions) (*report.Report, error) {
	r, domain := o.Resolver, o.Domain
	run, ctx, err := beginFocused(ctx, "dmarc", dmarcStage, r, o.Now)
	if err != nil {
		return nil, err
	}
	var author AuthorDomain
	if o.Message != nil {
		author = ExtractAuthorDomain(o.Message)
		if domain == "" {
			domain = author.Domain
		}
	}
	domain = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	var fs []report.Finding
	summary := "no policy"
	dnsErr := false
	fact := map[string]any{}
	var dm *DMARCCheck
	if domain != "" {
		dm = CheckDMARC(ctx, r, domain)
		fs = dm.Findings()
		if dm.Policy.Record != nil {
			summary = fmt.Sprintf("%s=%s at _dmarc.%s, organizational domain %s", dm.Policy.PolicyTag, dm.Policy.Effective(), dm.Policy.PolicyDomain, dm.Policy.OrgDomain)
		} else if dm.Policy.DNSError != "" {
			summary = "policy unknown (DNS failure)"
		}
		dnsErr = dm.Policy.DNSError != "" || dm.Policy.ExistenceError != ""
		fact["check"] = dm
	}
	if o.Message != nil {
		at := o.At
		if at.IsZero() {
			at = run.now()
		}
		v, err := verifyDKIMAt(ctx, r, o.Message, at, !o.At.IsZero())
		if err != nil {
			return nil, err
		}
		fact["dkim"] = v.Signatures
		fact["verified_at"] = v.At
		switch {
		case author.Exempt != "":
			fs = append([]report.Finding{AuthorFinding(author)}, fs...)
			fact["author"] = author
			summary += "; message: DMARC not applied"
		case dm != nil:
			var ids []DKIMIdentity
			for _, s := range v.Signatures {
				ids = append(ids, DKIMIdentity{Domain: s.Domain, Result: string(s.Result)})
			}
			spfDomain, spfResult := "", ""
			if o.IP.IsValid() {
				ev := CheckHost(ctx, r, SPFQuery{IP: o.IP, Sender: o.MailFrom, Helo: o.Helo, Now: run.now()})
				spfDomain, spfResult = ev.Domain, string(ev.Result)
				fact["spf"] = ev
			}
			al := Align(ctx, r, dm.Policy, spfDomain, spfResult, ids)
			fs = append(AlignmentFindings(al), fs...)
			fact["alignment"] = al
			summary += "; message: DMARC " + al.Result
		}
		fs = append(fs, v.Findings()...)
	}
	target := domain
	if target == "" {
		target = strings.Join(author.Addresses, ", ")
	}
	rep := run.report(target, fs, summary, dnsErr, fact)
	if o.Message != nil {
		at := o.At
		if at.IsZero() {
			at = run.now()
		}
		arcStart := run.now()
		addARCStage(rep, VerifyARC(ctx, r, o.Message, at), arcStart, run.now().Sub(arcStart))
	}
	return rep, nil
}

// focusedRun is what the focused commands share: the resolver they must
// be given, the clock, the question counter, and the one report at the
// end, which is the single finding of a dead resolver (resolverDownReport)
// instead of a page of failed lookups.
type focusedRun struct {
	command, stage string
	r              resolver.Interface
	now            func() time.Time
	start          time.Time
	counter        resolver.Counter
}

// beginFocused starts a focused command's run; ctx counts its questions.
func beginFocused(ctx context.Context, command, stage string, r resolver.Interface, now func() time.Time) (*focusedRun, context.Context, error) {
	if r == nil {
		return nil, ctx, errNoResolver
	}
	f := &focusedRun{command: command, stage: stage, r: r, now: nowFunc(now)}
	f.start = f.now()
	return f, resolver.WithCounter(ctx, &f.counter), nil
}

// report is the run's one-stage report about target.
func (f *focusedRun) report(target string, fs []report.Finding, summary string, dnsError bool, fact any) *report.Report {
	if f.r.Unreachable() != nil {
		return resolverDownReport(f.command, target, f.now, f.start, []string{f.stage}, f.r)
	}
	return newAreaReport(f.command, target, f.now, f.start, f.stage, fs, summary, dnsError, fact, &f.counter)
}

func nowFunc(f func() time.Time) func() time.Time {
	if f == nil {
		return time.Now
	}
	return f
}
