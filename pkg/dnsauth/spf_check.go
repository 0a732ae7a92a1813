package dnsauth

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// The record check answers "is this policy sound?" without a message: it
// walks the whole include/redirect tree the way a receiver would if no
// term matched (the worst case, and the one the 10-lookup limit is about),
// counting lookups per branch and naming the term that crosses a limit.

// SPFAnalysis is the result of the record check.
type SPFAnalysis struct {
	Domain  string   `json:"domain"`
	Record  string   `json:"record,omitempty"`
	Records []string `json:"records,omitempty"` // every SPF record found, when more than one
	Tree    *SPFNode `json:"tree,omitempty"`
	// Lookups is the number of lookup-limited terms a receiver evaluates
	// when no term matches; VoidLookups the number of those that return
	// no data.
	Lookups     int `json:"dns_lookups"`
	VoidLookups int `json:"void_lookups"`
	// Culprit is the path to the term that makes lookup number 11
	// ("example.com > include:_spf.x.com > include:big.example").
	Culprit     string `json:"lookup_limit_culprit,omitempty"`
	VoidCulprit string `json:"void_limit_culprit,omitempty"`
	// DNSError is set when a lookup failed (SERVFAIL, timeout...): the
	// analysis is incomplete.
	DNSError string `json:"dns_error,omitempty"`
	// Queries is the number of DNS questions the walk asked; Incomplete
	// says why it stopped early (its query or time budget).
	Queries    int    `json:"dns_queries"`
	Incomplete string `json:"incomplete,omitempty"`

	findings []report.Finding
}

// Findings returns the record check's findings.
func (a *SPFAnalysis) Findings() []report.Finding { return a.findings }

const spfStage = "spf"

type spfWalker struct {
	ctx     context.Context
	r       resolver.Interface
	a       *SPFAnalysis
	budget  SPFWalkBudget
	byRun   bool // the run's deadline comes before the walk's own
	lookups int
	voids   int
	visits  int
	// asks counts the DNS questions the walk asked; stopped is why the
	// walk ended early ("" while it goes on), timedOut whether time
	// ended it, failed whether a lookup failed, skipped the terms it did
	// not reach and notWalked the first few of them.
	asks      int
	stopped   string
	timedOut  bool
	failed    bool
	skipped   int
	notWalked []string
}

// The diagnostic walk goes past the RFC's limits to show the whole tree,
// so it has its own bounds: a hostile or broken policy cannot make one
// run ask thousands of questions or wait for minutes.
const (
	// SPFWalkMaxQueries is the most DNS questions one walk asks.
	SPFWalkMaxQueries = 200
	// SPFWalkTimeout is the most time one walk takes (a sooner deadline
	// of the run wins).
	SPFWalkTimeout = 20 * time.Second
	// spfMaxNotes caps the notes kept per node.
	spfMaxNotes = 20
	// spfMaxNotWalked caps the terms the budget finding names.
	spfMaxNotWalked = 5
)

// SPFWalkBudget bounds the diagnostic walk of AnalyzeSPFBudget; zero
// fields take the defaults, SPFWalkMaxQueries and SPFWalkTimeout.
type SPFWalkBudget struct {
	Queries int
	Time    time.Duration
}

func (b SPFWalkBudget) withDefaults() SPFWalkBudget {
	if b.Queries <= 0 {
		b.Queries = SPFWalkMaxQueries
	}
	if b.Time <= 0 {
		b.Time = SPFWalkTimeout
	}
	return b
}

// ask is called before each DNS question: false means the walk is over
// its budget (or its deadline) and must stop.
func (w *spfWalker) ask() bool {
	if w.stopped != "" {
		return false
	}
	if w.outOfTime() {
		return false
	}
	if w.asks >= w.budget.Queries {
		w.stop(fmt.Sprintf("it asked %d DNS questions, its budget", w.budget.Queries))
		return false
	}
	w.asks++
	return true
}

// outOfTime stops the walk when its deadline (or the run's) has passed.
func (w *spfWalker) outOfTime() bool {
	if !deadlinePassed(w.ctx) {
		return false
	}
	if w.stopped == "" {
		w.timedOut = true
		if w.byRun {
			w.stop("the run's deadline (--timeout) passed")
		} else {
			w.stop(fmt.Sprintf("its time budget (%s) ran out", w.budget.Time))
		}
	}
	return true
}

// deadlinePassed reports whether ctx is done or its deadline has come: a
// lookup cut short by that deadline may return just before ctx's own
// timer marks it done.
func deadlinePassed(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

func (w *spfWalker) stop(why string) {
	if w.stopped == "" {
		w.stopped = why
	}
}

// notReached counts a term the walk did not follow, naming the first few.
func (w *spfWalker) notReached(domain, term string) {
	w.skipped++
	if len(w.notWalked) < spfMaxNotWalked {
		w.notWalked = append(w.notWalked, fmt.Sprintf("%s (in %s)", echo(term), domain))
	}
}

// AnalyzeSPF checks the SPF policy of domain without a message, within
// the default walk budget.
func AnalyzeSPF(ctx context.Context, r resolver.Interface, domain string) *SPFAnalysis {
	return AnalyzeSPFBudget(ctx, r, domain, SPFWalkBudget{})
}

// AnalyzeSPFBudget is AnalyzeSPF within budget: the walk stops after
// budget.Queries DNS questions or budget.Time (or the run's deadline,
// when sooner), with an spf.walk.budget finding naming what it did not
// reach. Running out of time leaves the analysis incomplete (DNSError
// set: a receiver's evaluation would have ended in temperror too).
func AnalyzeSPFBudget(ctx context.Context, r resolver.Interface, domain string, budget SPFWalkBudget) *SPFAnalysis {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	a := &SPFAnalysis{Domain: domain}
	budget = budget.withDefaults()
	w := &spfWalker{r: r, a: a, budget: budget}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < budget.Time {
		w.byRun = true
	}
	ctx, cancel := context.WithTimeout(ctx, budget.Time)
	defer cancel()
	w.ctx = ctx
	root := &SPFNode{Domain: domain}
	a.Tree = root

	w.asks++ // the record itself counts against the budget
	txts, err := r.LookupTXT(ctx, domain)
	if err != nil && !resolver.IsNotFound(err) {
		a.DNSError = err.Error()
		a.add(report.New("spf.dns.error", spfStage, fmt.Sprintf("The TXT lookup for %s failed: %v. Receivers get the same failure and return temperror (RFC 7208 §4.4), which many treat as a temporary rejection.", domain, err)))
		return a
	}
	var recs []string
	for _, t := range txts {
		if IsSPFRecord(t) {
			recs = append(recs, t)
		} else if len(t) >= 6 && strings.EqualFold(t[:5], "v=spf") {
			a.add(report.New("spf.record.malformed-version", spfStage, fmt.Sprintf("A TXT record of %s looks like SPF but does not start with \"v=spf1\" followed by a space, so receivers ignore it.", domain)).WithRecord(t))
		}
	}
	switch len(recs) {
	case 0:
		a.add(report.New("spf.record.missing", spfStage, fmt.Sprintf("%s publishes no SPF record: receivers get \"none\" and cannot tell forged mail from yours.", domain)).
			WithFix(fmt.Sprintf("Publish one TXT record at %s listing the servers that send its mail, for example \"v=spf1 mx include:<your provider> -all\" (or \"v=spf1 -all\" if the domain sends no mail).", domain)))
		return a
	case 1:
	default:
		for i, rec := range recs {
			if i == MaxEvidence {
				a.Records = append(a.Records, fmt.Sprintf("… %d more", len(recs)-i))
				break
			}
			a.Records = append(a.Records, report.Clip(rec, report.MaxRecordEvidence))
		}
		f := report.New("spf.record.multiple", spfStage, fmt.Sprintf("%s has %d SPF records; receivers return permerror for all of them (RFC 7208 §4.5), which DMARC treats as an SPF failure.", domain, len(recs)))
		for _, rec := range recs {
			f = f.WithRecord(rec)
		}
		a.add(f)
		return a
	}
	a.Record = recs[0]
	w.walk(root, recs[0], []string{domain})
	a.Lookups, a.VoidLookups = w.lookups, w.voids
	a.Queries = w.asks
	if w.stopped != "" && !w.failed {
		a.Incomplete = w.stopped
		what := ""
		if len(w.notWalked) > 0 {
			what = ", among them " + strings.Join(w.notWalked, ", ")
		}
		f := report.Newf("spf.walk.budget", spfStage, "The walk of the SPF tree of %s stopped because %s, after %d DNS question(s); %d term(s) were not followed%s. The lookup counts are lower bounds.", domain, w.stopped, w.asks, w.skipped, what)
		if w.timedOut {
			// Not knowing the whole policy in time is what a receiver
			// calls temperror (RFC 7208 §4.6.4): the check is incomplete.
			a.DNSError = "the SPF walk " + w.stopped
			f = f.WithSeverity(report.Fail)
		}
		a.add(f)
	}
	w.summarize()
	// The facts keep what the report can show: the record clipped (its
	// size noted), as in the tree.
	a.Record = report.Clip(a.Record, report.MaxRecordEvidence)
	return a
}

func (a *SPFAnalysis) add(f ...report.Finding) { a.findings = append(a.findings, f...) }

// note adds a note to node, up to spfMaxNotes; the rest are counted.
func (w *spfWalker) note(node *SPFNode, s string) {
	switch {
	case len(node.Notes) < spfMaxNotes:
		node.Notes = append(node.Notes, s)
	case len(node.Notes) == spfMaxNotes:
		node.Notes = append(node.Notes, "… more notes left out")
	}
}

func (w *spfWalker) path(path []string, term string) string {
	return strings.Join(append(append([]string(nil), path...), term), " > ")
}

// charge counts one lookup-limited term and remembers which one crossed
// the limit first.
func (w *spfWalker) charge(node *SPFNode, path []string, term string) {
	w.lookups++
	node.Lookups++
	if w.lookups == SPFMaxLookups+1 {
		w.a.Culprit = w.path(path, term)
	}
}

func (w *spfWalker) void(node *SPFNode, path []string, term, why string) {
	w.voids++
	node.Void++
	w.note(node, fmt.Sprintf("%s: void lookup (%s)", term, why))
	if w.voids == SPFMaxVoid+1 {
		w.a.VoidCulprit = w.path(path, term)
	}
}

// walk evaluates a record's terms in order without an IP, recursing into
// include and redirect targets.
func (w *spfWalker) walk(node *SPFNode, raw string, path []string) {
	w.visits++
	node.Record = report.Clip(raw, report.MaxRecordEvidence)
	rec, err := ParseSPF(raw)
	if err != nil {
		node.Error = err.Error()
		w.a.add(report.New("spf.record.syntax", spfStage, fmt.Sprintf("The SPF record of %s has a syntax error: %v. Receivers return permerror for the whole policy (RFC 7208 §4.6).", node.Domain, err)).WithRecord(raw))
		return
	}
	if len(raw) > 450 && len(path) == 1 {
		w.a.add(report.New("spf.record.long", spfStage, fmt.Sprintf("The SPF record of %s is %d octets; RFC 7208 §3.4 asks for at most 450 so that the answer fits in a 512-octet UDP packet.", node.Domain, len(raw))).WithRecord(raw))
	}
	for i := range rec.Directives {
		t := &rec.Directives[i]
		if w.stopped != "" {
			// The rest is not asked about, but its lookup-limited terms
			// are still counted (they need no DNS to count): the RFC
			// limit is found even when the budget ends the walk first.
			for _, rest := range rec.Directives[i:] {
				if rest.Name == "all" {
					return
				}
				if rest.Name != "ip4" && rest.Name != "ip6" {
					w.charge(node, path, rest.Raw)
					w.notReached(node.Domain, rest.Raw)
				}
			}
			if rec.Redirect != nil && rec.All() == nil {
				w.charge(node, path, rec.Redirect.Raw)
				w.notReached(node.Domain, rec.Redirect.Raw)
			}
			return
		}
		w.term(node, rec, t, path)
		if t.Name == "all" {
			if i < len(rec.Directives)-1 {
				w.note(node, fmt.Sprintf("terms after %q are never evaluated", t.Raw))
			}
			break
		}
	}
	if rec.Redirect != nil {
		if rec.All() != nil {
			w.a.add(report.New("spf.redirect.ignored", spfStage, fmt.Sprintf("The SPF record of %s has both \"all\" and %q; the redirect is ignored (RFC 7208 §6.1).", node.Domain, rec.Redirect.Raw)).WithRecord(raw))
			return
		}
		w.charge(node, path, rec.Redirect.Raw)
		if w.stopped != "" {
			w.notReached(node.Domain, rec.Redirect.Raw)
			return
		}
		w.follow(node, rec.Redirect.Raw, rec.Redirect.Domain, path)
	}
}

func hasMacro(spec string) bool { return strings.Contains(spec, "%{") }

func (w *spfWalker) term(node *SPFNode, rec *SPFRecord, t *SPFTerm, path []string) {
	switch t.Name {
	case "ip4", "ip6":
		ones := t.Prefix.Bits()
		if t.Qualifier != "-" && ((t.Name == "ip4" && ones < 16) || (t.Name == "ip6" && ones < 32)) {
			w.a.add(report.New("spf.range.broad", spfStage, fmt.Sprintf("%q in the record of %s authorizes %s addresses.", t.Raw, node.Domain, rangeSize(t.Prefix))).WithRecord(rec.Raw))
		}
		return
	case "all":
		return
	}
	w.charge(node, path, t.Raw)
	target := node.Domain
	if t.Domain != "" {
		target = strings.TrimSuffix(strings.ToLower(t.Domain), ".")
	}
	if t.Domain != "" && hasMacro(t.Domain) {
		w.note(node, fmt.Sprintf("%s: depends on the message (macros), not evaluated", t.Raw))
		return
	}
	switch t.Name {
	case "include":
		w.follow(node, t.Raw, t.Domain, path)
	case "ptr":
		w.a.add(report.New("spf.ptr.used", spfStage, fmt.Sprintf("%q in the record of %s: the ptr mechanism is slow, unreliable and deprecated (RFC 7208 §5.5 \"SHOULD NOT be used\"); some receivers treat it as no match.", t.Raw, node.Domain)).WithRecord(rec.Raw))
	case "a":
		if !w.ask() {
			return
		}
		v4, err4 := w.r.LookupA(w.ctx, target)
		if w.dnsFailed(node, t, err4) || !w.ask() {
			return
		}
		v6, err6 := w.r.LookupAAAA(w.ctx, target)
		if w.dnsFailed(node, t, err6) {
			return
		}
		if len(v4) == 0 && len(v6) == 0 {
			w.void(node, path, t.Raw, target+" has no A or AAAA record")
		}
	case "exists":
		if !w.ask() {
			return
		}
		_, err := w.r.LookupA(w.ctx, target)
		if w.dnsFailed(node, t, err) {
			return
		}
		if err != nil {
			w.void(node, path, t.Raw, target+" has no A record")
		}
	case "mx":
		if !w.ask() {
			return
		}
		mxs, _, err := w.r.LookupMX(w.ctx, target)
		if w.dnsFailed(node, t, err) {
			return
		}
		if err != nil {
			w.void(node, path, t.Raw, target+" has no MX record")
			return
		}
		if len(mxs) > SPFMaxMX {
			w.a.add(report.New("spf.mx.too-many", spfStage, fmt.Sprintf("%q in the record of %s: %s has %d MX records; receivers return permerror above %d (RFC 7208 §4.6.4).", t.Raw, node.Domain, target, len(mxs), SPFMaxMX)))
		}
		noAddr := 0
		// Receivers stop at SPFMaxMX; so does the walk, or a hostile
		// domain with thousands of MX records would cost as many lookups.
		for _, mx := range mxs[:min(len(mxs), SPFMaxMX)] {
			if mx.Host == "" {
				continue
			}
			// LookupIP asks two questions (A and AAAA): two from the
			// budget, so that it bounds the questions sent.
			if !w.ask() || !w.ask() {
				return
			}
			ips, err := w.r.LookupIP(w.ctx, mx.Host)
			if err != nil || len(ips) == 0 {
				noAddr++
			}
		}
		if noAddr > 0 {
			w.note(node, fmt.Sprintf("%s: %d of %d MX hosts have no address", t.Raw, noAddr, len(mxs)))
		}
	}
}

// dnsFailed records a temporary DNS failure (receivers would temperror).
func (w *spfWalker) dnsFailed(node *SPFNode, t *SPFTerm, err error) bool {
	if err == nil || resolver.IsNotFound(err) || resolver.KindOf(err) == resolver.KindInvalidName {
		return false
	}
	if w.outOfTime() {
		// The walk's deadline cut the question short: the budget's
		// finding says so; the name itself is not known to fail.
		w.note(node, fmt.Sprintf("%s: not answered before %s", echo(t.Raw), w.stopped))
		return true
	}
	w.note(node, fmt.Sprintf("%s: %v", echo(t.Raw), err))
	// A receiver's evaluation ends here with temperror (RFC 7208 §4.4,
	// §5): so does the walk, rather than wait on the rest of the tree.
	w.stop("a DNS lookup failed (" + err.Error() + ")")
	w.failed = true
	if w.a.DNSError == "" {
		w.a.DNSError = err.Error()
		w.a.add(report.New("spf.dns.error", spfStage, fmt.Sprintf("While evaluating %q in the record of %s: %v. Receivers hitting this return temperror.", t.Raw, node.Domain, err)))
	}
	return true
}

// follow walks into an include or redirect target.
func (w *spfWalker) follow(node *SPFNode, via, spec string, path []string) {
	target := strings.TrimSuffix(strings.ToLower(spec), ".")
	child := &SPFNode{Domain: target, Via: via}
	node.Children = append(node.Children, child)
	if hasMacro(spec) {
		child.Error = "depends on the message (macros), not evaluated"
		return
	}
	for _, p := range path {
		if p == target {
			child.Error = "loop: already on the path " + strings.Join(path, " > ")
			w.a.add(report.New("spf.include.loop", spfStage, fmt.Sprintf("%s > %s leads back to %s: evaluation can only end at the 10-lookup limit, in permerror.", strings.Join(path, " > "), via, target)))
			return
		}
	}
	if w.visits >= 60 || len(path) > 12 {
		child.Error = "not followed: the tree is too large"
		return
	}
	if !w.ask() {
		child.Error = "not followed: " + w.stopped
		w.notReached(node.Domain, via)
		return
	}
	raw, serr, none := lookupSPF(w.ctx, w.r, target)
	switch {
	case serr != nil && serr.result == SPFTempError && w.outOfTime():
		child.Error = "not answered before " + w.stopped
		w.notReached(node.Domain, via)
		return
	case serr != nil && serr.result == SPFTempError:
		w.stop("a DNS lookup failed (" + serr.msg + ")")
		w.failed = true
		child.Error = serr.msg
		if w.a.DNSError == "" {
			w.a.DNSError = serr.msg
			w.a.add(report.New("spf.dns.error", spfStage, fmt.Sprintf("%s: %s. Receivers return temperror here.", w.path(path, via), serr.msg)))
		}
		return
	case serr != nil:
		child.Error = serr.msg
		w.a.add(report.New("spf.include.broken", spfStage, fmt.Sprintf("%s: %s; receivers return permerror when they reach it.", w.path(path, via), serr.msg)))
		return
	case raw == "":
		child.Error = none
		w.a.add(report.New("spf.include.missing", spfStage, fmt.Sprintf("%s: %s. An include or redirect target without a record is a permerror (RFC 7208 §5.2, §6.1) for every message that reaches it.", w.path(path, via), none)))
		return
	}
	w.walk(child, raw, append(append([]string(nil), path...), via))
}

func rangeSize(p netip.Prefix) string {
	bits := 32 - p.Bits()
	if p.Addr().Is6() {
		bits = 128 - p.Bits()
	}
	if bits >= 63 {
		return fmt.Sprintf("2^%d", bits)
	}
	return fmt.Sprintf("%d", uint64(1)<<bits)
}

// totals fills Total bottom-up.
func totals(n *SPFNode) int {
	t := n.Lookups
	for _, c := range n.Children {
		t += totals(c)
	}
	n.Total = t
	return t
}

// TreeText draws the tree for people, one record per line, with the
// lookups each branch costs.
func (n *SPFNode) TreeText() string {
	var b strings.Builder
	var draw func(n *SPFNode, depth int)
	draw = func(n *SPFNode, depth int) {
		ind := strings.Repeat("  ", depth)
		head := n.Domain
		if n.Via != "" {
			head = n.Via
			if !strings.HasSuffix(strings.ToLower(n.Via), n.Domain) {
				head += " -> " + n.Domain
			}
		}
		fmt.Fprintf(&b, "%s%s  [%d lookup%s", ind, head, n.Total, plural(n.Total))
		if len(n.Children) > 0 && n.Lookups != n.Total {
			fmt.Fprintf(&b, ", %d here", n.Lookups)
		}
		if n.Void > 0 {
			fmt.Fprintf(&b, ", %d void", n.Void)
		}
		b.WriteString("]")
		if n.Error != "" {
			b.WriteString("  ! " + n.Error)
		}
		b.WriteString("\n")
		if n.Record != "" {
			fmt.Fprintf(&b, "%s  %s\n", ind, n.Record)
		}
		for _, note := range n.Notes {
			fmt.Fprintf(&b, "%s  - %s\n", ind, note)
		}
		for _, c := range n.Children {
			draw(c, depth+1)
		}
	}
	draw(n, 0)
	return strings.TrimRight(b.String(), "\n")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// summarize turns the walk into the limit and "all" findings.
func (w *spfWalker) summarize() {
	a := w.a
	totals(a.Tree)
	tree := a.Tree.TreeText()
	switch {
	case a.Lookups > SPFMaxLookups:
		f := report.New("spf.lookups.over-limit", spfStage, fmt.Sprintf("Evaluating the SPF policy of %s takes %d DNS lookups; the limit is %d (RFC 7208 §4.6.4). Receivers stop at the 11th and return permerror, which DMARC counts as an SPF failure. The 11th lookup is at: %s.", a.Domain, a.Lookups, SPFMaxLookups, a.Culprit))
		a.add(f.With("note", tree).WithFix("Remove includes of services that no longer send for you, replace include:/a/mx of stable senders with ip4:/ip6: ranges, or move a sender to a subdomain with its own SPF record. The tree shows what each branch costs."))
	case a.Lookups >= SPFMaxLookups-1:
		a.add(report.New("spf.lookups.near-limit", spfStage, fmt.Sprintf("Evaluating the SPF policy of %s takes %d of the %d allowed DNS lookups; one more include (or a provider growing its own record) will break it.", a.Domain, a.Lookups, SPFMaxLookups)).With("note", tree))
	default:
		a.add(report.New("spf.lookups.ok", spfStage, fmt.Sprintf("%d of %d DNS lookups", a.Lookups, SPFMaxLookups)).With("note", tree))
	}
	if a.VoidLookups > SPFMaxVoid {
		a.add(report.New("spf.void.over-limit", spfStage, fmt.Sprintf("%d lookups in the SPF policy of %s return no data; receivers return permerror after %d (RFC 7208 §4.6.4). The third is at: %s.", a.VoidLookups, a.Domain, SPFMaxVoid, a.VoidCulprit)).With("note", tree))
	} else if a.VoidLookups > 0 {
		a.add(report.New("spf.void.lookup", spfStage, fmt.Sprintf("%d term(s) in the SPF policy of %s point at names without records (void lookups; %d are allowed).", a.VoidLookups, a.Domain, SPFMaxVoid)).With("note", tree))
	}
	rec, err := ParseSPF(a.Record)
	if err != nil {
		return
	}
	all := rec.All()
	switch {
	case all == nil && rec.Redirect == nil:
		a.add(report.New("spf.all.missing", spfStage, fmt.Sprintf("The SPF record of %s ends without \"all\" or redirect=, so mail from any other server gets \"neutral\" (RFC 7208 §4.7): SPF does not say it is forged.", a.Domain)).WithRecord(a.Record))
	case all == nil:
	case all.Qualifier == "+":
		a.add(report.New("spf.all.pass", spfStage, fmt.Sprintf("%q authorizes every server on the Internet to send as %s: SPF protects nothing.", all.Raw, a.Domain)).WithRecord(a.Record))
	case all.Qualifier == "?":
		a.add(report.New("spf.all.neutral", spfStage, fmt.Sprintf("%q makes mail from unlisted servers \"neutral\": SPF does not say it is forged.", all.Raw)).WithRecord(a.Record))
	default:
		a.add(report.New("spf.all.ok", spfStage, fmt.Sprintf("ends with %q", all.Raw)))
	}
	a.add(report.New("spf.record.ok", spfStage, a.Record))
}

// SPFEvalFindings turns a check_host() evaluation into findings.
func SPFEvalFindings(ev *SPFEvaluation) []report.Finding {
	code := "spf.result." + string(ev.Result)
	detail := fmt.Sprintf("check_host(%s, %s, %s) = %s", ev.IP, ev.Domain, ev.Sender, ev.Result)
	if ev.Matched != "" {
		detail += fmt.Sprintf(", matched %q in the record of %s", ev.Matched, ev.MatchedIn)
		if len(ev.Via) > 0 {
			detail += " (via " + strings.Join(ev.Via, " > ") + ")"
		}
	}
	if ev.Problem != "" {
		detail += ": " + ev.Problem
	}
	detail += fmt.Sprintf(" (%d DNS lookups, %d void)", ev.Lookups, ev.VoidLookups)
	f := report.New(code, spfStage, detail)
	if ev.Explanation != "" {
		f = f.With("note", "explanation: "+ev.Explanation)
	}
	if ev.Tree != nil {
		totals(ev.Tree)
		f = f.With("note", ev.Tree.TreeText())
	}
	return []report.Finding{f}
}
