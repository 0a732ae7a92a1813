// Package dnsauth holds mailprobe's DNS mail authentication checks: SPF
// (RFC 7208), DKIM keys and signatures (RFC 6376, RFC 8301, RFC 8463),
// DMARC (RFC 7489, with RFC 9989 tags), MX (RFC 5321 §5, RFC 7505 null
// MX), MTA-STS (RFC 8461), SMTP TLS reporting (RFC 8460), DANE for SMTP
// (RFC 7672, RFC 6698), BIMI (draft-brand-indicators-for-message-
// identification), reverse DNS and DNS blocklists (RFC 5782).
//
// Every check asks its questions through a resolver.Interface and returns
// data plus report findings; nothing here prints or decides exit codes.
// A broken domain is a finding; a Go error is reserved for our own
// failures (ARCHITECTURE.md, habit 5).
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

// SPFResult is a check_host() result (RFC 7208 §2.6).
type SPFResult string

const (
	SPFNone      SPFResult = "none"
	SPFNeutral   SPFResult = "neutral"
	SPFPass      SPFResult = "pass"
	SPFFail      SPFResult = "fail"
	SPFSoftFail  SPFResult = "softfail"
	SPFTempError SPFResult = "temperror"
	SPFPermError SPFResult = "permerror"
)

// Processing limits, RFC 7208 §4.6.4.
const (
	SPFMaxLookups = 10 // include, a, mx, ptr, exists, redirect
	SPFMaxVoid    = 2  // lookups answered NXDOMAIN or NODATA
	SPFMaxMX      = 10 // MX names per mx mechanism
	SPFMaxPTR     = 10 // PTR names considered per ptr mechanism or %{p}
)

// SPFQuery is what check_host() is asked about.
type SPFQuery struct {
	IP netip.Addr
	// Sender is the MAIL FROM address. Empty (a bounce, "MAIL FROM:<>")
	// means the HELO identity is checked, as postmaster@HELO (§2.4).
	Sender string
	Helo   string
	// Receiver is the checking host's name, for %{r} in explanations.
	Receiver string
	// Now is the time for %{t} (zero: time.Now).
	Now time.Time
	// Timeout bounds the whole evaluation (zero: SPFEvalTimeout; a
	// sooner deadline of ctx wins).
	Timeout time.Duration
}

// SPFEvalTimeout is the elapsed-time limit of one check_host()
// evaluation: RFC 7208 §4.6.4 asks for one, of at least 20 seconds, and
// for temperror when it is exceeded. With the lookup limits it bounds
// the evaluation to about 120 DNS questions (10 terms, 10 addresses per
// mx, 10 names per ptr, the exp= text).
const SPFEvalTimeout = 20 * time.Second

// SPFEvaluation is the outcome of check_host() with what led to it.
type SPFEvaluation struct {
	Result SPFResult `json:"result"`
	// Domain is the domain whose policy was evaluated; Sender the
	// identity (postmaster@HELO for a bounce).
	Domain string `json:"domain"`
	Sender string `json:"sender"`
	IP     string `json:"ip"`
	// Explanation is the exp= text of a fail, macro-expanded (§6.2);
	// empty when there is none or it could not be used.
	Explanation string `json:"explanation,omitempty"`
	// Problem says why the result is none, permerror or temperror.
	Problem string `json:"problem,omitempty"`
	// Matched is the directive that decided, and MatchedIn the domain
	// whose record holds it.
	Matched   string `json:"matched,omitempty"`
	MatchedIn string `json:"matched_in,omitempty"`
	// Via lists the include/redirect terms that led to MatchedIn.
	Via []string `json:"via,omitempty"`
	// Lookups counts the terms limited by §4.6.4, VoidLookups the
	// lookups answered with no data.
	Lookups     int      `json:"dns_lookups"`
	VoidLookups int      `json:"void_lookups"`
	Tree        *SPFNode `json:"tree,omitempty"`
}

// SPFNode is one record visited, in the evaluation or the record check.
type SPFNode struct {
	Domain string `json:"domain"`
	// Via is the term that led here from the parent ("include:_spf.x",
	// "redirect=x"); empty at the root.
	Via    string `json:"via,omitempty"`
	Record string `json:"record,omitempty"`
	// Lookups counts the lookup-limited terms of this record itself;
	// Total adds those of everything below it.
	Lookups int    `json:"lookups"`
	Total   int    `json:"total_lookups"`
	Void    int    `json:"void_lookups,omitempty"`
	Result  string `json:"result,omitempty"`
	Matched string `json:"matched,omitempty"`
	Error   string `json:"error,omitempty"`
	// Notes hold per-term observations of the record check (void
	// lookups, MX counts, macros not evaluated).
	Notes    []string   `json:"notes,omitempty"`
	Children []*SPFNode `json:"children,omitempty"`
}

// spfError carries a permerror or temperror up through the recursion.
type spfError struct {
	result SPFResult
	msg    string
}

func (e *spfError) Error() string { return string(e.result) + ": " + e.msg }

func permErr(format string, args ...any) *spfError {
	return &spfError{SPFPermError, fmt.Sprintf(format, args...)}
}

func tempErr(format string, args ...any) *spfError {
	return &spfError{SPFTempError, fmt.Sprintf(format, args...)}
}

type spfEval struct {
	r       resolver.Interface
	q       SPFQuery
	ip      netip.Addr
	env     macroEnv
	lookups int
	voids   int
	ptrName *string // cached %{p}
}

// CheckHost evaluates the SPF policy for q: the MAIL FROM identity, or
// the HELO identity when the sender is empty (RFC 7208 §4).
func CheckHost(ctx context.Context, r resolver.Interface, q SPFQuery) *SPFEvaluation {
	ip := q.IP.Unmap() // an IPv4-mapped IPv6 client is an IPv4 client (§5)
	sender := q.Sender
	if sender == "" {
		sender = "postmaster@" + q.Helo
	}
	local, domain := splitSender(sender)
	if local == "" {
		local = "postmaster" // §4.3
		sender = local + "@" + domain
	}
	now := q.Now
	if now.IsZero() {
		now = time.Now()
	}
	e := &spfEval{r: r, q: q, ip: ip}
	e.env = macroEnv{sender: sender, local: local, senderD: domain, ip: ip, helo: q.Helo, receiver: q.Receiver, now: now.Unix()}
	e.env.ptr = func() string { return e.validatedPTR(ctx) }
	ev := &SPFEvaluation{Domain: domain, Sender: sender, IP: ip.String()}
	root := &SPFNode{Domain: domain}
	ev.Tree = root
	// §4.3: a malformed or single-label domain yields "none" at once.
	if why := malformedDomain(domain); why != "" {
		ev.Result, ev.Problem = SPFNone, why
		return ev
	}
	limit := q.Timeout
	if limit <= 0 {
		limit = SPFEvalTimeout
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	res, exp, err := e.checkHost(ctx, domain, root)
	ev.Lookups, ev.VoidLookups = e.lookups, e.voids
	if err != nil && err.result == SPFTempError && deadlinePassed(ctx) {
		// The deadline cut a lookup short: say which limit it was.
		what := fmt.Sprintf("the evaluation took longer than its limit (%s, RFC 7208 §4.6.4)", limit)
		if deadlinePassed(parent) {
			what = "the run's deadline passed during the evaluation"
		}
		err = tempErr("%s: %s", what, err.msg)
	}
	if err == nil {
		ev.Matched, ev.MatchedIn, ev.Via = matchPath(root)
	}
	if err != nil {
		ev.Result, ev.Problem = err.result, err.msg
		return ev
	}
	ev.Result = res
	if res == SPFNone {
		ev.Problem = root.Error
	}
	if res == SPFFail && exp != nil {
		ev.Explanation = report.Clip(e.explanation(ctx, exp), report.MaxRecordEvidence)
	}
	return ev
}

func errorBelow(n *SPFNode, msg string) bool {
	for _, c := range n.Children {
		if c.Error == msg || errorBelow(c, msg) {
			return true
		}
	}
	return false
}

// matchPath follows the decisive terms from the root: through matching
// includes and through redirects, to the directive that matched the IP.
func matchPath(n *SPFNode) (term, domain string, via []string) {
	for depth := 0; depth < 50; depth++ {
		var next *SPFNode
		if n.Matched != "" {
			for _, c := range n.Children {
				if c.Via == n.Matched {
					next = c
				}
			}
			if next == nil {
				return n.Matched, n.Domain, via
			}
		} else if k := len(n.Children); k > 0 && strings.HasPrefix(strings.ToLower(n.Children[k-1].Via), "redirect=") {
			next = n.Children[k-1]
		} else {
			return "", "", via
		}
		via = append(via, next.Via)
		n = next
	}
	return "", "", via
}

func splitSender(s string) (local, domain string) {
	i := strings.LastIndexByte(s, '@')
	if i < 0 {
		return "postmaster", s
	}
	return s[:i], s[i+1:]
}

// malformedDomain applies §4.3: labels of 1 to 63 octets, at least two
// labels, no domain literal.
func malformedDomain(d string) string {
	d = strings.TrimSuffix(d, ".")
	switch {
	case d == "":
		return "empty domain"
	case strings.HasPrefix(d, "["):
		return fmt.Sprintf("%q is an address literal, not a domain", d)
	case !strings.Contains(d, "."):
		return fmt.Sprintf("%q is not a fully qualified domain name", d)
	case len(d) > 253:
		return fmt.Sprintf("%q is longer than 253 characters", d)
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" {
			return fmt.Sprintf("%q has an empty label", d)
		}
		if len(l) > 63 {
			return fmt.Sprintf("%q has a label longer than 63 characters", d)
		}
	}
	return ""
}

// expSource remembers the record whose exp= applies to a fail.
type expSource struct {
	term   *SPFTerm
	domain string
}

// lookupSPF fetches and selects the record of domain (§4.4, §4.5).
// A nil record with a nil error means "none".
func lookupSPF(ctx context.Context, r resolver.Interface, domain string) (string, *spfError, string) {
	txts, err := r.LookupTXT(ctx, dnsName(domain))
	if err != nil {
		switch {
		case resolver.IsNotFound(err), resolver.KindOf(err) == resolver.KindInvalidName:
			return "", nil, "no SPF record: " + err.Error()
		default:
			return "", tempErr("looking up the SPF record of %s: %v", domain, err), ""
		}
	}
	var recs []string
	for _, t := range txts {
		if IsSPFRecord(t) {
			recs = append(recs, t)
		}
	}
	switch len(recs) {
	case 0:
		return "", nil, fmt.Sprintf("%s has no SPF record (no TXT record starts with \"v=spf1\")", domain)
	case 1:
		return recs[0], nil, ""
	}
	return "", permErr("%s has %d SPF records; there must be exactly one (RFC 7208 §4.5)", domain, len(recs)), ""
}

// dnsName writes an expanded domain as a DNS name in presentation
// format: a backslash in a macro expansion is a literal backslash.
func dnsName(d string) string { return strings.ReplaceAll(d, `\`, `\\`) }

func (e *spfEval) checkHost(ctx context.Context, domain string, node *SPFNode) (SPFResult, *expSource, *spfError) {
	raw, serr, none := lookupSPF(ctx, e.r, domain)
	if serr != nil {
		node.Error = serr.msg
		node.Result = string(serr.result)
		return "", nil, serr
	}
	if raw == "" {
		node.Error = none
		node.Result = string(SPFNone)
		return SPFNone, nil, nil
	}
	node.Record = report.Clip(raw, report.MaxRecordEvidence) // for people; raw is evaluated
	rec, err := ParseSPF(raw)
	if err != nil {
		perr := permErr("syntax error in the SPF record of %s: %v", domain, err)
		node.Error, node.Result = perr.msg, string(SPFPermError)
		return "", nil, perr
	}
	res, exp, serr := e.evalRecord(ctx, domain, rec, node)
	if serr != nil {
		// The error is shown where it arose, not on every ancestor.
		if node.Error == "" && !errorBelow(node, serr.msg) {
			node.Error = serr.msg
		}
		node.Result = string(serr.result)
		return "", nil, serr
	}
	node.Result = string(res)
	return res, exp, nil
}

func (e *spfEval) evalRecord(ctx context.Context, domain string, rec *SPFRecord, node *SPFNode) (SPFResult, *expSource, *spfError) {
	env := e.env
	env.domain = domain
	for i := range rec.Directives {
		t := &rec.Directives[i]
		match, serr := e.evalTerm(ctx, &env, domain, t, node)
		if serr != nil {
			return "", nil, serr
		}
		if match {
			node.Matched = t.Raw
			var exp *expSource
			if rec.Exp != nil {
				exp = &expSource{term: rec.Exp, domain: domain}
			}
			return qualifierResult(t.Qualifier), exp, nil
		}
	}
	// No directive matched. redirect applies only when the record has no
	// "all" (§6.1); the target's own exp= then replaces ours (§6.2).
	if rec.Redirect != nil && rec.All() == nil {
		if serr := e.count(node); serr != nil {
			return "", nil, serr
		}
		target, serr := e.expandDomain(&env, rec.Redirect.Domain)
		if serr != nil {
			return "", nil, serr
		}
		child := &SPFNode{Domain: target, Via: rec.Redirect.Raw}
		node.Children = append(node.Children, child)
		if why := malformedDomain(target); why != "" {
			child.Error = why
			return "", nil, permErr("redirect to %s: %s", target, why)
		}
		res, exp, serr := e.checkHost(ctx, target, child)
		if serr != nil {
			return "", nil, serr
		}
		if res == SPFNone {
			return "", nil, permErr("redirect=%s: %s (RFC 7208 §6.1)", target, child.Error)
		}
		return res, exp, nil
	}
	return SPFNeutral, nil, nil // §4.7
}

func qualifierResult(q string) SPFResult {
	switch q {
	case "-":
		return SPFFail
	case "~":
		return SPFSoftFail
	case "?":
		return SPFNeutral
	}
	return SPFPass
}

// count charges one lookup-limited term (§4.6.4).
func (e *spfEval) count(node *SPFNode) *spfError {
	e.lookups++
	node.Lookups++
	if e.lookups > SPFMaxLookups {
		return permErr("more than %d DNS lookups (RFC 7208 §4.6.4); the 11th was in the record of %s", SPFMaxLookups, node.Domain)
	}
	return nil
}

// void records a lookup answered with no data (§4.6.4).
func (e *spfEval) void(node *SPFNode, name string) *spfError {
	e.voids++
	node.Void++
	if e.voids > SPFMaxVoid {
		return permErr("more than %d void DNS lookups (RFC 7208 §4.6.4); the third was for %s", SPFMaxVoid, name)
	}
	return nil
}

func (e *spfEval) expandDomain(env *macroEnv, spec string) (string, *spfError) {
	parts, err := parseMacroString(spec, false)
	if err != nil {
		return "", permErr("%v", err) // already checked by ParseSPF
	}
	return truncateDomain(env.expand(parts)), nil
}

func (e *spfEval) evalTerm(ctx context.Context, env *macroEnv, domain string, t *SPFTerm, node *SPFNode) (bool, *spfError) {
	switch t.Name {
	case "all":
		return true, nil
	case "ip4", "ip6":
		// An ip6 network never matches an IPv4 client, nor ip4 an IPv6
		// one (§5.6).
		if (t.Name == "ip4") != e.ip.Is4() {
			return false, nil
		}
		return t.Prefix.Contains(e.ip), nil
	}
	if serr := e.count(node); serr != nil {
		return false, serr
	}
	target := domain
	if t.Domain != "" {
		var serr *spfError
		if target, serr = e.expandDomain(env, t.Domain); serr != nil {
			return false, serr
		}
	}
	switch t.Name {
	case "include":
		child := &SPFNode{Domain: target, Via: t.Raw}
		node.Children = append(node.Children, child)
		if why := malformedDomain(target); why != "" {
			child.Error = why
			return false, permErr("include:%s: %s", target, why)
		}
		res, _, serr := e.checkHost(ctx, target, child)
		if serr != nil {
			return false, serr
		}
		switch res {
		case SPFPass:
			return true, nil
		case SPFNone:
			// §5.2: an included domain without a record is a permerror.
			return false, permErr("include:%s: %s", target, child.Error)
		}
		return false, nil
	case "a":
		addrs, serr := e.addrs(ctx, node, target, true)
		if serr != nil {
			return false, serr
		}
		return e.matchAddrs(addrs, t), nil
	case "exists":
		// exists always asks for A, whatever the client's family (§5.7).
		a, err := e.r.LookupA(ctx, dnsName(target))
		if err != nil {
			if resolver.IsNotFound(err) || resolver.KindOf(err) == resolver.KindInvalidName {
				return false, e.void(node, target)
			}
			return false, tempErr("exists:%s: %v", target, err)
		}
		return len(a) > 0, nil
	case "mx":
		mxs, _, err := e.r.LookupMX(ctx, dnsName(target))
		if err != nil {
			if resolver.IsNotFound(err) || resolver.KindOf(err) == resolver.KindInvalidName {
				return false, e.void(node, target)
			}
			return false, tempErr("mx:%s: %v", target, err)
		}
		if len(mxs) > SPFMaxMX {
			return false, permErr("mx:%s has %d MX records; more than %d is a permerror (RFC 7208 §4.6.4)", target, len(mxs), SPFMaxMX)
		}
		for _, mx := range mxs {
			if mx.Host == "" {
				continue // null MX (RFC 7505): no host to match
			}
			addrs, serr := e.addrs(ctx, nil, mx.Host, false)
			if serr != nil {
				return false, serr
			}
			if e.matchAddrs(addrs, t) {
				return true, nil
			}
		}
		return false, nil
	case "ptr":
		for _, name := range e.validatedNames(ctx, node) {
			if domainMatch(name, target) {
				return true, nil
			}
		}
		return false, nil
	}
	return false, permErr("unknown mechanism %q", t.Name)
}

// addrs looks up the client's address family at name. With node set, a
// void answer counts against the void limit.
func (e *spfEval) addrs(ctx context.Context, node *SPFNode, name string, countVoid bool) ([]netip.Addr, *spfError) {
	var addrs []netip.Addr
	var err error
	if e.ip.Is4() {
		addrs, err = e.r.LookupA(ctx, dnsName(name))
	} else {
		addrs, err = e.r.LookupAAAA(ctx, dnsName(name))
	}
	if err != nil {
		if resolver.IsNotFound(err) || resolver.KindOf(err) == resolver.KindInvalidName {
			if countVoid && node != nil {
				return nil, e.void(node, name)
			}
			return nil, nil
		}
		return nil, tempErr("looking up %s: %v", name, err)
	}
	return addrs, nil
}

func (e *spfEval) matchAddrs(addrs []netip.Addr, t *SPFTerm) bool {
	bits := t.CIDR4
	if e.ip.Is6() {
		bits = t.CIDR6
	}
	for _, a := range addrs {
		a = a.Unmap()
		if a.Is4() != e.ip.Is4() {
			continue
		}
		if bits < 0 {
			if a == e.ip {
				return true
			}
			continue
		}
		if p, err := a.Prefix(bits); err == nil && p.Contains(e.ip) {
			return true
		}
	}
	return false
}

// validatedNames returns the client's PTR names that resolve back to it
// (§5.5): at most 10 names are tried, and a lookup error skips a name.
// The PTR lookup itself may be void.
func (e *spfEval) validatedNames(ctx context.Context, node *SPFNode) []string {
	names, err := e.r.LookupPTR(ctx, e.ip)
	if err != nil {
		// §5.5: "If a DNS error occurs while doing the PTR RR lookup,
		// then this mechanism fails to match."
		return nil
	}
	if len(names) > SPFMaxPTR {
		names = names[:SPFMaxPTR]
	}
	var out []string
	for _, n := range names {
		addrs, serr := e.addrs(ctx, nil, n, false)
		if serr != nil {
			continue
		}
		for _, a := range addrs {
			if a.Unmap() == e.ip {
				out = append(out, strings.TrimSuffix(n, "."))
				break
			}
		}
	}
	return out
}

// domainMatch: name equals target or is a subdomain of it, ignoring case.
func domainMatch(name, target string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	target = strings.ToLower(strings.TrimSuffix(target, "."))
	return name == target || strings.HasSuffix(name, "."+target)
}

// validatedPTR is %{p}: a validated name, preferring the current domain or
// a subdomain of it, else the first, else "unknown" (§7.3).
func (e *spfEval) validatedPTR(ctx context.Context) string {
	if e.ptrName != nil {
		return *e.ptrName
	}
	names := e.validatedNames(ctx, &SPFNode{})
	v := "unknown"
	for _, n := range names {
		if domainMatch(n, e.env.domain) {
			v = n
			break
		}
	}
	if v == "unknown" && len(names) > 0 {
		v = names[0]
	}
	e.ptrName = &v
	return v
}

// explanation fetches and expands exp= (§6.2). Any problem (DNS error, no
// or several TXT records, a syntax error, non-ASCII text) means "no
// explanation", never an error.
func (e *spfEval) explanation(ctx context.Context, src *expSource) string {
	env := e.env
	env.domain = src.domain
	target, serr := e.expandDomain(&env, src.term.Domain)
	if serr != nil || malformedDomain(target) != "" {
		return ""
	}
	txts, err := e.r.LookupTXT(ctx, dnsName(target))
	if err != nil || len(txts) != 1 {
		return ""
	}
	parts, perr := parseMacroString(txts[0], true)
	if perr != nil {
		return ""
	}
	return env.expand(parts)
}
