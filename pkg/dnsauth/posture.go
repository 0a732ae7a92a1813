package dnsauth

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// AuditOptions configure Audit.
type AuditOptions struct {
	// Resolver asks every question of the run (required).
	Resolver resolver.Interface
	// Domain is the domain whose mail posture is checked.
	Domain string
	// Selectors are the DKIM selectors to check (none: the common list,
	// unless NoDKIMSweep).
	Selectors []string
	// NoDKIMSweep skips the DKIM area when no selector is given, instead
	// of trying the common list (`batch` sets it: the sweep is most of
	// the questions of a run, and its guesses prove nothing).
	NoDKIMSweep bool
	// IP, when valid, is a sending address: SPF is evaluated for it
	// (with Sender and Helo) and it gets the PTR and DNSBL checks too.
	IP     netip.Addr
	Sender string
	Helo   string
	// DNSBL turns on blocklist lookups (off by default: they send the
	// addresses to third parties) against DNSBLLists (default
	// DefaultDNSBLs).
	DNSBL      bool
	DNSBLLists []string
	HTTP       HTTPOptions
	DANE       DANEOptions // Connect: fetch each MX certificate over STARTTLS
	Now        func() time.Time
	// MaxQueries and Timeout bound the whole run, every area together
	// (zero: DNSRunMaxQueries and DNSRunTimeout; a sooner deadline of
	// ctx wins).
	MaxQueries int
	Timeout    time.Duration
}

// area is one part of the posture, checked on its own and reported as a
// stage.
type area struct {
	name     string
	start    time.Time
	dur      time.Duration
	findings []report.Finding
	summary  string
	dnsError bool
	skipped  string
	counter  resolver.Counter
	fact     any
	seq      []int // the area's range [first, last] in the report's transcript
}

// areaOrder is the order areas are shown in when equally bad: what
// breaks delivery first, then authentication, then hardening.
var areaOrder = []string{mxStage, spfStage, dkimStage, dmarcStage, ptrStage, dnsblStage, mtastsStage, tlsrptStage, daneStage, "dnssec", bimiStage}

// Audit checks the mail posture of domain: every area concurrently, one
// report with a stage per area, areas ordered worst first and the
// findings grouped by area, worst first within each.
func Audit(ctx context.Context, o AuditOptions) (*report.Report, error) {
	r, domain := o.Resolver, o.Domain
	if r == nil {
		return nil, errNoResolver
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	domain = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	rep := report.NewReport("dns", domain, now())
	// One budget for the whole run: a hostile domain (thousands of MX
	// addresses, a fan-out SPF tree, names that never answer) costs at
	// most this many questions and this long, whatever each area's own
	// bounds add up to.
	maxQ, limit := o.MaxQueries, o.Timeout
	if maxQ <= 0 {
		maxQ = DNSRunMaxQueries
	}
	if limit <= 0 {
		limit = DNSRunTimeout
	}
	budget := resolver.NewBudget(maxQ)
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	ctx = resolver.WithBudget(ctx, budget)
	areas := map[string]*area{}
	for _, n := range areaOrder {
		areas[n] = &area{name: n}
	}
	run := func(wg *sync.WaitGroup, a *area, f func(ctx context.Context, a *area)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.start = now()
			f(resolver.WithCounter(ctx, &a.counter), a)
			a.dur = now().Sub(a.start)
		}()
	}

	// Phase 1: everything that needs only the domain.
	var mx *MXCheck
	var dm *DMARCCheck
	var soaAD bool
	var wg sync.WaitGroup
	run(&wg, areas[mxStage], func(ctx context.Context, a *area) {
		mx = CheckMX(ctx, r, domain)
		a.findings, a.dnsError, a.fact = mx.Findings(), mx.DNSError != "", mx
		switch {
		case mx.NullMX:
			a.summary = "null MX: receives no mail"
		case mx.Implicit:
			a.summary = "no MX; implicit MX " + domain
		default:
			a.summary = fmt.Sprintf("%d MX host(s)", len(mx.Hosts))
		}
	})
	run(&wg, areas[spfStage], func(ctx context.Context, a *area) {
		an := AnalyzeSPF(ctx, r, domain)
		a.fact = an
		a.findings, a.dnsError = an.Findings(), an.DNSError != ""
		a.summary = "no record"
		if an.Record != "" {
			a.summary = fmt.Sprintf("%d/%d DNS lookups, %d void", an.Lookups, SPFMaxLookups, an.VoidLookups)
		}
		if o.IP.IsValid() {
			ev := CheckHost(ctx, r, SPFQuery{IP: o.IP, Sender: orDefault(o.Sender, "postmaster@"+domain), Helo: o.Helo, Now: now()})
			a.findings = append(a.findings, SPFEvalFindings(ev)...)
			a.fact = map[string]any{"record_check": an, "evaluation": ev}
			a.summary += fmt.Sprintf("; %s for %s", ev.Result, ev.IP)
			if ev.Result == SPFTempError {
				a.dnsError = true
			}
		}
	})
	run(&wg, areas[dmarcStage], func(ctx context.Context, a *area) {
		dm = CheckDMARC(ctx, r, domain)
		a.findings, a.dnsError, a.fact = dm.Findings(), dm.Policy.DNSError != "" || dm.Policy.ExistenceError != "", dm
		if dm.Policy.Record != nil {
			a.summary = fmt.Sprintf("p=%s at _dmarc.%s", dm.Policy.Effective(), dm.Policy.PolicyDomain)
		} else {
			a.summary = "no policy"
		}
	})
	run(&wg, areas[dkimStage], func(ctx context.Context, a *area) {
		if len(o.Selectors) == 0 && o.NoDKIMSweep {
			a.skipped = "no selector given (--selector; in batch, --dkim-selectors)"
			return
		}
		dk := CheckDKIM(ctx, r, domain, o.Selectors)
		a.findings, a.dnsError, a.fact = dk.Findings(), dk.DNSError != "", dk
		a.summary = fmt.Sprintf("%d key(s) at %d selector(s) tried", len(dk.Keys), len(dk.Selectors))
	})
	var tlsrpt *TLSRPTCheck
	run(&wg, areas[tlsrptStage], func(ctx context.Context, a *area) {
		tlsrpt = CheckTLSRPT(ctx, r, domain, false)
		a.fact, a.dnsError = tlsrpt, tlsrpt.DNSError != ""
		a.summary = "no record"
		if tlsrpt.Record != nil {
			a.summary = "reports to " + strings.Join(tlsrpt.Record.RUA, ", ")
		}
	})
	run(&wg, areas["dnssec"], func(ctx context.Context, a *area) {
		ans, err := r.Query(ctx, domain, dns.TypeSOA)
		if ans != nil {
			soaAD = ans.AD
		}
		switch {
		case err != nil && !resolver.IsNotFound(err):
			a.dnsError = true
			a.summary = err.Error()
		case soaAD:
			a.findings = []report.Finding{report.New("dnssec.signed", "dnssec", fmt.Sprintf("answers for %s carry the AD bit from %s", domain, strings.Join(r.Servers(), ", ")))}
			a.summary = "validated (AD)"
		default:
			a.findings = []report.Finding{report.New("dnssec.unsigned", "dnssec", fmt.Sprintf("Answers for %s from %s carry no AD bit: the zone is unsigned, or the resolver does not validate DNSSEC. DANE needs a signed zone.", domain, strings.Join(r.Servers(), ", ")))}
			a.summary = "not validated"
		}
		a.fact = map[string]any{"ad": soaAD}
	})
	wg.Wait()

	// Phase 2: what needs the MX hosts or the DMARC policy.
	var mxHosts []string
	var mxAddrs []netip.Addr
	droppedAddrs := 0 // past MaxPostureAddrs
	var mxLabels []string
	if mx != nil {
		for _, h := range mx.Hosts {
			if h.Host == "" || mx.Implicit {
				continue
			}
			mxHosts = append(mxHosts, h.Host)
		}
		seen := map[netip.Addr]bool{}
		for _, h := range mx.Hosts {
			for _, ip := range h.Addrs {
				if len(mxAddrs) == MaxPostureAddrs {
					droppedAddrs++
					continue
				}
				if !seen[ip] {
					seen[ip] = true
					mxAddrs = append(mxAddrs, ip)
					mxLabels = append(mxLabels, "MX "+h.Host)
				}
			}
		}
	}
	var wg2 sync.WaitGroup
	var sts *MTASTSCheck
	run(&wg2, areas[mtastsStage], func(ctx context.Context, a *area) {
		var hosts []string
		if len(mxHosts) > 0 {
			hosts = mxHosts
		}
		sts = CheckMTASTS(ctx, r, domain, hosts, o.HTTP)
		a.findings, a.dnsError, a.fact = sts.Findings(), sts.DNSError != "", sts
		switch {
		case sts.Policy != nil:
			a.summary = "mode " + sts.Policy.Mode
		case sts.Record != nil:
			a.summary = "record found, policy unusable"
		default:
			a.summary = "no policy"
		}
	})
	var dane *DANECheck
	run(&wg2, areas[daneStage], func(ctx context.Context, a *area) {
		if len(mxHosts) == 0 {
			a.skipped = "no MX host"
			return
		}
		dane = CheckDANE(ctx, r, mxHosts, o.DANE)
		a.findings, a.dnsError, a.fact = dane.Findings(), dane.DNSError != "", dane
		n := 0
		for _, h := range dane.Hosts {
			if len(h.TLSA) > 0 {
				n++
			}
		}
		a.summary = fmt.Sprintf("%d of %d MX host(s) with TLSA", n, len(dane.Hosts))
		if o.DANE.Connect && n > 0 {
			addrs, ok := 0, 0
			for _, h := range dane.Hosts {
				for _, ad := range h.Addrs {
					addrs++
					if ad.Matched != "" {
						ok++
					}
				}
			}
			a.summary += fmt.Sprintf("; %d of %d address(es) serve a matching certificate", ok, addrs)
		}
	})
	run(&wg2, areas[ptrStage], func(ctx context.Context, a *area) {
		addrs, labels := append([]netip.Addr(nil), mxAddrs...), append([]string(nil), mxLabels...)
		if o.IP.IsValid() {
			addrs, labels = append([]netip.Addr{o.IP}, addrs...), append([]string{"--ip"}, labels...)
		}
		if len(addrs) == 0 {
			a.skipped = "no address to check"
			return
		}
		pc := CheckPTR(ctx, r, addrs, labels)
		a.findings, a.fact = pc.Findings(), pc
		ok := 0
		for _, res := range pc.Results {
			if len(res.Confirmed) > 0 {
				ok++
			}
			a.dnsError = a.dnsError || res.Temporary
		}
		a.summary = fmt.Sprintf("%d of %d address(es) with forward-confirmed reverse DNS", ok, len(pc.Results))
		if droppedAddrs > 0 {
			a.summary += fmt.Sprintf(" (%d more MX address(es) not checked)", droppedAddrs)
		}
	})
	run(&wg2, areas[dnsblStage], func(ctx context.Context, a *area) {
		if !o.DNSBL {
			a.skipped = "off (use --dnsbl)"
			return
		}
		addrs := append([]netip.Addr(nil), mxAddrs...)
		if o.IP.IsValid() {
			addrs = append([]netip.Addr{o.IP}, addrs...)
		}
		lists := o.DNSBLLists
		if len(lists) == 0 {
			lists = DefaultDNSBLs
		}
		bl := CheckDNSBL(ctx, r, addrs, lists)
		a.findings, a.fact = bl.Findings(), bl
		n := 0
		for _, h := range bl.Hits {
			if h.Listed {
				n++
			}
		}
		a.summary = fmt.Sprintf("%d listing(s) for %d address(es) in %d list(s)", n, len(addrs), len(lists))
	})
	run(&wg2, areas[bimiStage], func(ctx context.Context, a *area) {
		pol := ""
		if dm != nil {
			switch {
			case dm.Policy.DNSError != "":
			case dm.Policy.Record == nil:
				pol = "-"
			default:
				pol = dm.Policy.Effective()
				if dm.Policy.Record.PctSet && dm.Policy.Record.PCT < 100 {
					pol = "none" // a partial policy does not qualify
				}
			}
		}
		b := CheckBIMI(ctx, r, domain, pol)
		a.findings, a.dnsError, a.fact = b.Findings(), b.DNSError != "", b
		a.summary = "no record"
		if b.Record != nil {
			a.summary = "record found"
		}
	})
	wg2.Wait()
	// The STARTTLS dialogues of DANE --connect are the report's
	// transcript (-v), with offsets from the start of the run.
	if dane != nil && len(dane.Transcript) > 0 {
		shift := dane.start.Sub(rep.StartedAt)
		rep.Transcript = make([]transcript.Entry, len(dane.Transcript))
		for i, e := range dane.Transcript {
			e.T += shift
			rep.Transcript[i] = e
		}
		areas[daneStage].seq = []int{dane.Transcript[0].Seq, dane.Transcript[len(dane.Transcript)-1].Seq}
	}
	// TLS-RPT matters more once MTA-STS or DANE is in use.
	usesTLSPolicy := (sts != nil && sts.Policy != nil) || (dane != nil && anyTLSA(dane))
	if tlsrpt != nil {
		again := tlsrpt.Findings()
		if usesTLSPolicy && tlsrpt.Record == nil && tlsrpt.DNSError == "" {
			again = CheckTLSRPT(ctx, r, domain, true).Findings()
		}
		areas[tlsrptStage].findings = again
	}

	if r.Unreachable() != nil {
		return resolverDownReport("dns", domain, now, rep.StartedAt, areaOrder, r), nil
	}
	if b := runBudgetArea(areas, budget, deadlinePassed(ctx), deadlinePassed(parent), limit, rep.StartedAt, now); b != nil {
		areas[b.name] = b
	}
	if a := rateLimitArea(r, rep.StartedAt, now); a != nil {
		areas[a.name] = a
	}
	assemble(rep, areas, now)
	rep.SetFact("resolver", map[string]any{"servers": r.Servers(), "stats": r.Stats()})
	rep.Duration = now().Sub(rep.StartedAt)
	return rep, nil
}

// rateLimiter is the part of *resolver.Resolver that tells whether a
// server limited its answer rate during the run.
type rateLimiter interface {
	RateLimited() (resolver.RateLimit, bool)
}

// rateLimitArea is the stage that says the DNS server limits its answer
// rate, in the one report of a run (or of a whole batch) that first saw
// it; nil otherwise.
func rateLimitArea(r resolver.Interface, start time.Time, now func() time.Time) *area {
	rl, ok := r.(rateLimiter)
	if !ok {
		return nil
	}
	lim, ok := rl.RateLimited()
	if !ok {
		return nil
	}
	f := report.Newf("dns.resolver.rate-limited", resolverStage,
		"The DNS server %s limits its answer rate (response rate limiting): %d answer(s) slipped (sent truncated; asked again over TCP) and %d dropped (asked again). Questions to it are now paced, at %.0f a second; answers that still failed are reported where they were needed.",
		lim.Server, lim.Slipped, lim.Dropped, lim.Rate)
	return &area{name: resolverStage, start: start, dur: now().Sub(start), findings: []report.Finding{f},
		summary: fmt.Sprintf("%s limits its rate: paced to %.0f questions/s", lim.Server, lim.Rate)}
}

// budgetStage is the stage of the run's own budget, shown when spent.
const budgetStage = "budget"

// runBudgetArea is the area that says the run's question or time budget
// ran out and which areas it left incomplete (nil when it did not).
func runBudgetArea(areas map[string]*area, b *resolver.Budget, timedOut, byRun bool, limit time.Duration, start time.Time, now func() time.Time) *area {
	if b.Refused() == 0 && !timedOut {
		return nil
	}
	var hit []string
	for _, n := range areaOrder {
		if a := areas[n]; a != nil && (a.counter.OverBudget.Load() > 0 || timedOut && a.dnsError) {
			hit = append(hit, n)
		}
	}
	var why []string
	if b.Refused() > 0 {
		why = append(why, fmt.Sprintf("its budget of %d DNS questions was spent (%d more were not asked)", b.Max(), b.Refused()))
	}
	if timedOut {
		if byRun {
			why = append(why, "the run's deadline (--timeout) passed")
		} else {
			why = append(why, fmt.Sprintf("its time budget (%s) ran out", limit))
		}
	}
	f := report.Newf("dns.run.budget", budgetStage, "The run stopped asking because %s; %d question(s) were sent. Not finished: %s.", strings.Join(why, " and "), b.Used(), orDefault(strings.Join(hit, ", "), "nothing"))
	return &area{name: budgetStage, start: start, dur: now().Sub(start), findings: []report.Finding{f}, dnsError: true,
		summary: fmt.Sprintf("%d of %d questions sent, %d not asked", b.Used(), b.Max(), b.Refused())}
}

func anyTLSA(d *DANECheck) bool {
	for _, h := range d.Hosts {
		if len(h.TLSA) > 0 {
			return true
		}
	}
	return false
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// assemble orders the areas worst first and writes stages, findings and
// facts.
func assemble(rep *report.Report, areas map[string]*area, now func() time.Time) {
	worst := func(a *area) report.Severity {
		w := report.Pass
		for _, f := range a.findings {
			if f.Severity > w {
				w = f.Severity
			}
		}
		return w
	}
	order := map[string]int{}
	for i, n := range areaOrder {
		order[n] = i
	}
	list := make([]*area, 0, len(areas))
	for _, a := range areas {
		list = append(list, a)
	}
	sort.SliceStable(list, func(i, j int) bool {
		wi, wj := worst(list[i]), worst(list[j])
		if wi != wj {
			return wi > wj
		}
		return order[list[i].name] < order[list[j].name]
	})
	for _, a := range list {
		st := report.Stage{Name: a.name, Start: a.start.Sub(rep.StartedAt), Duration: a.dur, Summary: a.summary}
		st.Seq = a.seq
		switch {
		case a.skipped != "":
			st.Status, st.Summary = report.StatusSkipped, a.skipped
			st.Start = 0
		case a.dnsError:
			st.Status = report.StatusError
		case worst(a) >= report.Fail:
			st.Status = report.StatusFail
		case worst(a) == report.Pass:
			st.Status = report.StatusOK
		default:
			st.Status = report.StatusInfo
		}
		if a.skipped == "" {
			if q := a.counter.Lookups.Load(); q > 0 {
				st.Summary += fmt.Sprintf(" (%d lookups, %d sent)", q, a.counter.Queries.Load())
			}
		}
		rep.AddStage(st)
		fs := append([]report.Finding(nil), a.findings...)
		sort.SliceStable(fs, func(i, j int) bool { return fs[i].Severity > fs[j].Severity })
		rep.Add(capFindings(fs)...)
		if a.fact != nil {
			rep.SetFact(strings.ReplaceAll(a.name, "-", "_"), a.fact)
		}
	}
}

// newAreaReport builds a report for one of the focused commands (spf,
// dkim, dmarc) from one area's findings.
func newAreaReport(command, target string, now func() time.Time, start time.Time, stage string, fs []report.Finding, summary string, dnsError bool, fact any, c *resolver.Counter) *report.Report {
	rep := report.NewReport(command, target, start)
	a := &area{name: stage, start: start, dur: now().Sub(start), findings: fs, summary: summary, dnsError: dnsError, fact: fact}
	if c != nil {
		a.counter.Lookups.Store(c.Lookups.Load())
		a.counter.Queries.Store(c.Queries.Load())
	}
	assemble(rep, map[string]*area{stage: a}, now)
	rep.Duration = now().Sub(start)
	return rep
}

// resolverStage is the stage of a report that says the resolver is dead.
const resolverStage = "resolver"

// resolverDownReport is the report of a run whose resolver answered
// nothing at all: every check would report the same failed lookups, so
// the report holds one finding saying so, and the checks' stages are
// marked not run. Nothing was learned about the domain, so no other
// finding is kept (a resolver is only found dead before any answer).
func resolverDownReport(command, target string, now func() time.Time, start time.Time, stages []string, r resolver.Interface) *report.Report {
	err := r.Unreachable()
	servers := strings.Join(r.Servers(), ", ")
	how := "no query got an answer in time"
	if resolver.KindOf(err) == resolver.KindNetwork {
		how = "it cannot be reached (connection refused or no route)"
	}
	rep := report.NewReport(command, target, start)
	rep.AddStage(report.Stage{Name: resolverStage, Status: report.StatusError, Duration: now().Sub(start), Summary: servers + " does not answer"})
	for _, s := range stages {
		rep.AddStage(report.Stage{Name: s, Status: report.StatusSkipped, Summary: "not run: the resolver does not answer"})
	}
	rep.Add(report.Newf("dns.resolver.unreachable", resolverStage,
		"The DNS resolver %s does not answer: %s. No check of %s could run, so nothing is known about it yet.", servers, how, target).
		With("error", err.Error()))
	rep.SetFact("resolver", map[string]any{"servers": r.Servers(), "stats": r.Stats()})
	rep.Duration = now().Sub(start)
	return rep
}
