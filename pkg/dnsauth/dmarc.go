package dnsauth

import (
	"context"
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/publicsuffix"

	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// DMARC follows RFC 9989 (DMARCbis), which replaced RFC 7489: policy
// discovery and the Organizational Domain use the DNS Tree Walk (§4.10)
// instead of the Public Suffix List, "pct", "rf" and "ri" are historic,
// and "np", "psd" and "t" are new. Records written for RFC 7489 stay
// valid; historic tags are parsed and reported. The PSL-based
// Organizational Domain of RFC 7489 §3.2 is computed too
// (golang.org/x/net/publicsuffix), and a difference between the two is
// reported, because receivers that have not moved to RFC 9989 still use it.

// DMARCRecord is a parsed DMARC policy record.
type DMARCRecord struct {
	Raw    string   `json:"raw"`
	P      string   `json:"p,omitempty"`  // none, quarantine, reject
	SP     string   `json:"sp,omitempty"` // subdomain policy
	NP     string   `json:"np,omitempty"` // non-existent subdomain policy (RFC 9989)
	ADKIM  string   `json:"adkim"`        // r (default) or s
	ASPF   string   `json:"aspf"`         // r (default) or s
	PCT    int      `json:"pct"`          // 0-100, default 100 (historic in RFC 9989)
	PctSet bool     `json:"pct_set,omitempty"`
	FO     []string `json:"fo,omitempty"`
	RUA    []string `json:"rua,omitempty"`
	RUF    []string `json:"ruf,omitempty"`
	T      string   `json:"t,omitempty"`   // y = testing (RFC 9989)
	PSD    string   `json:"psd,omitempty"` // y, n or u (RFC 9989)
	RF     string   `json:"rf,omitempty"`  // historic
	RI     int      `json:"ri,omitempty"`  // historic
	// Errors holds every tag that could not be used, by tag.
	Errors []TagError `json:"errors,omitempty"`
	// Unknown lists tags that are not defined (ignored, §4.7).
	Unknown []string `json:"unknown_tags,omitempty"`
	// Historic lists tags RFC 9989 retired that the record still uses.
	Historic []string `json:"historic_tags,omitempty"`
	// PolicyError is set when p, sp or np is missing or invalid and the
	// record is acted on as p=none because its rua is valid (RFC 7489
	// §6.6.3, RFC 9989 §4.10.1); P is then "none" and SP and NP empty.
	PolicyError string `json:"policy_error,omitempty"`
}

// IsDMARCRecord reports whether a TXT string claims to be a DMARC record:
// it starts with the v tag (RFC 9989 §4.7: records that do not start with
// "v=DMARC1" are discarded). The tag name is case-insensitive like every
// DMARC tag name (an ABNF quoted string, RFC 5234 §2.3); the value is
// written in the ABNF as %x44 %x4d %x41 %x52 %x43 %x31 and "MUST match
// precisely", so "v=dmarc1" is not a DMARC record.
func IsDMARCRecord(txt string) bool {
	first, _, _ := strings.Cut(txt, ";")
	k, v, ok := strings.Cut(first, "=")
	return ok && strings.EqualFold(strings.Trim(k, " \t\r\n"), "v") && strings.Trim(v, " \t\r\n") == "DMARC1"
}

// ParseDMARC parses a record. The error is set when the record cannot be
// used at all (no v=DMARC1 first, or no usable policy); problems with
// single tags are listed in Errors and the rest of the record still
// applies, as receivers treat it.
func ParseDMARC(txt string) (*DMARCRecord, error) {
	rec := &DMARCRecord{Raw: txt, ADKIM: "r", ASPF: "r", PCT: 100}
	tags, errs := parseTagList(txt)
	rec.Errors = append(rec.Errors, errs...)
	if len(tags) == 0 || !strings.EqualFold(tags[0].Name, "v") {
		return rec, fmt.Errorf("the record must start with \"v=DMARC1\"")
	}
	if tags[0].Value != "DMARC1" {
		return rec, fmt.Errorf("v=%s: the version must be exactly \"DMARC1\"", tags[0].Value)
	}
	bad := func(tag, format string, args ...any) {
		rec.Errors = append(rec.Errors, TagError{Tag: tag, Reason: fmt.Sprintf(format, args...)})
	}
	var badPolicy []string // p, sp or np with an invalid value
	policy := func(tag, v string) string {
		switch strings.ToLower(v) {
		case "none", "quarantine", "reject":
			return strings.ToLower(v)
		}
		bad(tag, "%q is not none, quarantine or reject", v)
		badPolicy = append(badPolicy, fmt.Sprintf("%s=%s", tag, v))
		return ""
	}
	seen := map[string]bool{"v": true}
	for _, t := range tags[1:] {
		name := strings.ToLower(t.Name)
		v := t.Value
		if seen[name] && name != "v" {
			// Tag names are case-insensitive: "p" and "P" are one tag.
			bad(name, "appears more than once")
			continue
		}
		seen[name] = true
		switch name {
		case "v":
			bad("v", "appears twice")
		case "p":
			rec.P = policy("p", v)
		case "sp":
			rec.SP = policy("sp", v)
		case "np":
			rec.NP = policy("np", v)
		case "adkim", "aspf":
			switch strings.ToLower(v) {
			case "r", "s":
				if name == "adkim" {
					rec.ADKIM = strings.ToLower(v)
				} else {
					rec.ASPF = strings.ToLower(v)
				}
			default:
				bad(name, "%q is not r (relaxed) or s (strict)", v)
			}
		case "pct":
			rec.Historic = append(rec.Historic, "pct")
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 100 {
				bad("pct", "%q is not a whole number from 0 to 100", v)
				continue
			}
			rec.PCT, rec.PctSet = n, true
		case "fo":
			for _, o := range splitList(v, ":") {
				switch o {
				case "0", "1", "d", "s":
					rec.FO = append(rec.FO, o)
				default:
					bad("fo", "%q is not 0, 1, d or s", o)
				}
			}
		case "rua", "ruf":
			var uris []string
			for _, u := range splitList(v, ",") {
				if err := checkDMARCURI(u); err != nil {
					bad(name, "%v", err)
					continue
				}
				uris = append(uris, u)
			}
			if name == "rua" {
				rec.RUA = uris
			} else {
				rec.RUF = uris
			}
		case "t":
			switch strings.ToLower(v) {
			case "y", "n":
				rec.T = strings.ToLower(v)
			default:
				bad("t", "%q is not y or n", v)
			}
		case "psd":
			switch strings.ToLower(v) {
			case "y", "n", "u":
				rec.PSD = strings.ToLower(v)
			default:
				bad("psd", "%q is not y, n or u", v)
			}
		case "rf":
			rec.Historic = append(rec.Historic, "rf")
			rec.RF = v
			for _, f := range splitList(v, ":") {
				if !strings.EqualFold(f, "afrf") {
					bad("rf", "report format %q is not afrf", f)
				}
			}
		case "ri":
			rec.Historic = append(rec.Historic, "ri")
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				bad("ri", "%q is not a number of seconds", v)
				continue
			}
			rec.RI = int(n)
		default:
			rec.Unknown = append(rec.Unknown, t.Name)
		}
	}
	if rec.P == "" && len(badPolicy) == 0 {
		badPolicy = append(badPolicy, "p missing")
		bad("p", "missing")
	}
	if len(badPolicy) > 0 {
		// RFC 7489 §6.6.3 and RFC 9989 §4.10.1: a record without a
		// valid p, or with an sp or np that is not valid, is acted on
		// as if it were "p=none" when its rua holds a valid URI;
		// otherwise no DMARC processing applies.
		what := strings.Join(badPolicy, ", ")
		if len(rec.RUA) == 0 {
			return rec, fmt.Errorf("%s, and no valid rua= tag: receivers apply no DMARC processing", what)
		}
		rec.PolicyError = what
		rec.P, rec.SP, rec.NP = "none", "", ""
	}
	return rec, nil
}

// checkDMARCURI checks one DMARC URI: a URI, optionally followed by
// "!size[kmgt]" (RFC 7489 §6.2). mailto: is the one reporters use.
func checkDMARCURI(u string) error {
	base := u
	if i := strings.LastIndexByte(u, '!'); i >= 0 {
		base = u[:i]
		size := u[i+1:]
		if size == "" {
			return fmt.Errorf("%q: empty size limit after \"!\"", u)
		}
		if last := size[len(size)-1]; strings.IndexByte("kmgtKMGT", last) >= 0 {
			size = size[:len(size)-1]
		}
		if !allDigits(size) || size == "" {
			return fmt.Errorf("%q: bad size limit", u)
		}
	}
	pu, err := url.Parse(base)
	if err != nil || pu.Scheme == "" {
		return fmt.Errorf("%q is not a URI (write mailto:reports@example.com)", u)
	}
	if strings.EqualFold(pu.Scheme, "mailto") {
		if _, err := mail.ParseAddress(pu.Opaque); err != nil {
			return fmt.Errorf("%q: %q is not an email address", u, pu.Opaque)
		}
	}
	return nil
}

// mailtoDomain returns the domain of a mailto: DMARC URI ("" otherwise).
func mailtoDomain(u string) string {
	if i := strings.LastIndexByte(u, '!'); i >= 0 {
		u = u[:i]
	}
	pu, err := url.Parse(u)
	if err != nil || !strings.EqualFold(pu.Scheme, "mailto") {
		return ""
	}
	at := strings.LastIndexByte(pu.Opaque, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(pu.Opaque[at+1:], "."))
}

// OrgDomainPSL is RFC 7489 §3.2's Organizational Domain: the public
// suffix plus one label, from the Public Suffix List compiled into
// golang.org/x/net/publicsuffix.
func OrgDomainPSL(domain string) string {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	if od, err := publicsuffix.EffectiveTLDPlusOne(domain); err == nil {
		return od
	}
	return domain
}

// treeWalkTargets lists the names the RFC 9989 DNS Tree Walk queries
// after the domain itself: with 8 or more labels it jumps to the right-
// most 7, then removes one label at a time down to the top-level domain.
func treeWalkTargets(domain string) []string {
	labels := strings.Split(strings.TrimSuffix(strings.ToLower(domain), "."), ".")
	start := 1
	if len(labels) >= 8 {
		start = len(labels) - 7
	}
	var out []string
	for i := start; i < len(labels); i++ {
		out = append(out, strings.Join(labels[i:], "."))
	}
	return out
}

// DMARCLookup is one _dmarc query of the discovery.
type DMARCLookup struct {
	Domain  string `json:"domain"`
	Result  string `json:"result"` // record, none, multiple, invalid, error
	Record  string `json:"record,omitempty"`
	Problem string `json:"problem,omitempty"`
}

// fetchDMARC queries _dmarc.domain and selects the record.
func fetchDMARC(ctx context.Context, r resolver.Interface, domain string) (DMARCLookup, *DMARCRecord, error) {
	l := DMARCLookup{Domain: domain}
	txts, err := r.LookupTXT(ctx, "_dmarc."+domain)
	if err != nil {
		if resolver.IsNotFound(err) || resolver.KindOf(err) == resolver.KindInvalidName {
			l.Result = "none"
			return l, nil, nil
		}
		l.Result, l.Problem = "error", err.Error()
		return l, nil, err
	}
	var recs []string
	for _, t := range txts {
		if IsDMARCRecord(t) {
			recs = append(recs, t)
		} else if strings.HasPrefix(strings.ToLower(strings.TrimSpace(t)), "v=dmarc") {
			l.Problem = fmt.Sprintf("ignored %q: a DMARC record must start with exactly \"v=DMARC1\"", t)
		}
	}
	switch len(recs) {
	case 0:
		l.Result = "none"
		return l, nil, nil
	case 1:
	default:
		l.Result, l.Problem = "multiple", fmt.Sprintf("%d DMARC records: all are discarded (RFC 9989 §4.10.1)", len(recs))
		l.Record = strings.Join(recs, " | ")
		return l, nil, nil
	}
	l.Record = recs[0]
	rec, perr := ParseDMARC(recs[0])
	if perr != nil {
		l.Result, l.Problem = "invalid", perr.Error()
		return l, rec, nil
	}
	l.Result = "record"
	return l, rec, nil
}

// DMARCPolicy is the result of policy discovery for a domain.
type DMARCPolicy struct {
	Domain string `json:"domain"`
	// PolicyDomain is where the applicable record was found (the domain
	// itself or an ancestor); empty when none was found.
	PolicyDomain string        `json:"policy_domain,omitempty"`
	Record       *DMARCRecord  `json:"record,omitempty"`
	Lookups      []DMARCLookup `json:"lookups"`
	// OrgDomain is RFC 9989's Organizational Domain (tree walk);
	// OrgDomainPSL is RFC 7489's.
	OrgDomain    string `json:"org_domain"`
	OrgDomainPSL string `json:"org_domain_psl"`
	DNSError     string `json:"dns_error,omitempty"`
	// WalkError is a failure above the domain after its own policy was
	// found: the policy stands, only the Organizational Domain is unsure.
	WalkError string `json:"walk_error,omitempty"`
	// Exists says whether Domain exists in the DNS ("yes", "no", or
	// "unknown" when a lookup failed), asked only when it decides the
	// policy: an inherited record with an np tag (RFC 9989 §4.7). A
	// non-existent domain has no A, AAAA or MX records (NXDOMAIN or
	// NODATA for all three).
	Exists string `json:"domain_exists,omitempty"`
	// Discarded is the domain whose unusable record is the one that would
	// apply: no DMARC processing (RFC 9989 §4.10.1).
	Discarded      string `json:"discarded_policy_domain,omitempty"`
	ExistenceError string `json:"existence_error,omitempty"`
	// PolicyTag is the tag whose policy applies to mail from Domain:
	// "p" (the domain's own record), "sp" (a subdomain) or "np" (a
	// non-existent subdomain).
	PolicyTag string `json:"policy_tag,omitempty"`
}

// Effective returns the policy that applies to mail from Domain (RFC 9989
// §4.7): p at the domain itself; for a subdomain inheriting the record,
// np when the domain does not exist and np is given, else sp, else p.
func (p *DMARCPolicy) Effective() string {
	if p.Record == nil {
		return ""
	}
	switch p.policyTag() {
	case "np":
		return p.Record.NP
	case "sp":
		return p.Record.SP
	}
	return p.Record.P
}

// policyTag chooses between p, sp and np (see Effective).
func (p *DMARCPolicy) policyTag() string {
	if p.Record == nil {
		return ""
	}
	if p.PolicyDomain == p.Domain {
		return "p"
	}
	if p.Exists == "no" && p.Record.NP != "" {
		return "np"
	}
	if p.Record.SP != "" {
		return "sp"
	}
	return "p"
}

// checkExistence asks whether domain has A, AAAA or MX records. It
// returns "yes" at the first record found, "no" when all three are
// NXDOMAIN or NODATA, else "unknown" with the failure.
func checkExistence(ctx context.Context, r resolver.Interface, domain string) (string, error) {
	var failure error
	note := func(n int, err error) bool {
		if err == nil && n > 0 {
			return true
		}
		if err != nil && !resolver.IsNotFound(err) && failure == nil {
			failure = err
		}
		return false
	}
	a, err := r.LookupA(ctx, domain)
	if note(len(a), err) {
		return "yes", nil
	}
	aaaa, err := r.LookupAAAA(ctx, domain)
	if note(len(aaaa), err) {
		return "yes", nil
	}
	mx, _, err := r.LookupMX(ctx, domain)
	if note(len(mx), err) {
		return "yes", nil
	}
	if failure != nil {
		return "unknown", failure
	}
	return "no", nil
}

// DiscoverDMARC finds the DMARC policy of domain (RFC 9989 §4.10.1) and
// its Organizational Domain (§4.10.2).
func DiscoverDMARC(ctx context.Context, r resolver.Interface, domain string) *DMARCPolicy {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	p := &DMARCPolicy{Domain: domain, OrgDomainPSL: OrgDomainPSL(domain)}
	type found struct {
		domain string
		rec    *DMARCRecord
	}
	// records are the valid records met, nearest first; invalid are the
	// names whose single DMARC record cannot be used (no valid p, sp or
	// np and no valid rua). Names with several records are discarded
	// and the walk goes on (§4.10).
	var records []found
	invalid := map[string]*DMARCRecord{}
	for _, d := range append([]string{domain}, treeWalkTargets(domain)...) {
		l, rec, err := fetchDMARC(ctx, r, d)
		p.Lookups = append(p.Lookups, l)
		if err != nil {
			if len(records) > 0 {
				// A record was found; a parent that does not answer
				// (an authoritative-only resolver REFUSES names
				// outside its zones) leaves only the Organizational
				// Domain in doubt.
				p.WalkError = fmt.Sprintf("_dmarc.%s: %v", d, err)
				break
			}
			p.DNSError = err.Error()
			break // a temporary failure stops the walk: the answer is unknown
		}
		if l.Result == "invalid" && rec != nil {
			invalid[d] = rec
		}
		if l.Result != "record" {
			continue
		}
		records = append(records, found{d, rec})
		if rec.PSD == "y" || rec.PSD == "n" {
			break // a psd tag ends the Organizational Domain walk
		}
	}
	if p.DNSError != "" {
		p.OrgDomain = domain
		return p
	}
	// Organizational Domain (§4.10.2): the domain of a record with psd=n;
	// the domain just below a record with psd=y (the domain itself if the
	// psd=y record is its own); else the record found highest up; else
	// the domain itself.
	p.OrgDomain = domain
	var psd *found
	if n := len(records); n > 0 {
		last := records[n-1]
		switch last.rec.PSD {
		case "y":
			if last.domain == domain {
				p.OrgDomain = domain
			} else {
				p.OrgDomain = childToward(domain, last.domain)
				psd = &last
			}
		default:
			p.OrgDomain = last.domain
		}
	}
	// Policy (§4.10.1): the record of the domain itself; else that of
	// its Organizational Domain; else that of its Public Suffix Domain.
	// A record met on the way between them (at mail.example.com for
	// a.mail.example.com) is not a policy for the names below it. An
	// unusable record where the policy would come from means no DMARC
	// processing.
	at := func(d string) *DMARCRecord {
		for _, f := range records {
			if f.domain == d {
				return f.rec
			}
		}
		return nil
	}
	for _, d := range []string{domain, p.OrgDomain} {
		if rec := at(d); rec != nil {
			p.PolicyDomain, p.Record = d, rec
			break
		}
		if rec := invalid[d]; rec != nil {
			p.Discarded = d
			break
		}
	}
	if p.Record == nil && p.Discarded == "" && psd != nil {
		p.PolicyDomain, p.Record = psd.domain, psd.rec
	}
	if p.Record != nil && p.PolicyDomain != domain && p.Record.NP != "" {
		// Only np needs to know whether the domain exists.
		ex, err := checkExistence(ctx, r, domain)
		p.Exists = ex
		if err != nil {
			p.ExistenceError = err.Error()
		}
	}
	p.PolicyTag = p.policyTag()
	return p
}

// childToward returns the name one label longer than ancestor on the way
// to domain ("a.b.example.com", "com" -> "example.com").
func childToward(domain, ancestor string) string {
	labels := strings.Split(domain, ".")
	n := len(strings.Split(ancestor, "."))
	if n+1 > len(labels) {
		return domain
	}
	return strings.Join(labels[len(labels)-n-1:], ".")
}

const dmarcStage = "dmarc"

// DMARCCheck is the result of CheckDMARC.
type DMARCCheck struct {
	Policy *DMARCPolicy `json:"policy"`
	// Destinations reports the external report destination checks.
	Destinations []DMARCDestination `json:"report_destinations,omitempty"`
	findings     []report.Finding
}

// DMARCDestination is a rua/ruf address and whether it accepts reports
// for the domain (RFC 7489 §7.1, RFC 9990 §3).
type DMARCDestination struct {
	URI        string `json:"uri"`
	Tag        string `json:"tag"`
	External   bool   `json:"external"`
	Authorized bool   `json:"authorized"`
	Checked    string `json:"checked,omitempty"` // the authorization name asked
	Problem    string `json:"problem,omitempty"`
}

// Findings returns the check's findings.
func (c *DMARCCheck) Findings() []report.Finding { return c.findings }

// CheckDMARC discovers and judges the DMARC policy of domain.
func CheckDMARC(ctx context.Context, r resolver.Interface, domain string) *DMARCCheck {
	p := DiscoverDMARC(ctx, r, domain)
	c := &DMARCCheck{Policy: p}
	add := func(f report.Finding) { c.findings = append(c.findings, f) }
	var walked []string
	for _, l := range p.Lookups {
		walked = append(walked, fmt.Sprintf("_dmarc.%s: %s", l.Domain, l.Result))
	}
	walk := strings.Join(walked, "\n")
	for _, l := range p.Lookups {
		switch l.Result {
		case "multiple":
			add(report.New("dmarc.record.multiple", dmarcStage, fmt.Sprintf("_dmarc.%s has several DMARC records; receivers discard them all, as if there were none (RFC 9989 §4.10).", l.Domain)).WithRecord(l.Record))
		case "invalid":
			add(report.New("dmarc.record.invalid", dmarcStage, fmt.Sprintf("The DMARC record at _dmarc.%s cannot be used: %s.", l.Domain, l.Problem)).WithRecord(l.Record))
		}
		if l.Problem != "" && l.Result == "none" {
			add(report.New("dmarc.record.invalid", dmarcStage, fmt.Sprintf("_dmarc.%s: %s.", l.Domain, l.Problem)))
		}
	}
	if p.DNSError != "" {
		add(report.New("dmarc.dns.error", dmarcStage, fmt.Sprintf("The DMARC lookup failed: %s. Receivers cannot apply the policy now; a persistent failure means none is applied.", p.DNSError)).With("note", walk))
		return c
	}
	if p.WalkError != "" {
		add(report.New("dmarc.dns.error", dmarcStage, fmt.Sprintf("The policy at _dmarc.%s applies, but the walk up the tree for the Organizational Domain stopped at %s; relaxed alignment is judged with %s.", p.PolicyDomain, p.WalkError, p.OrgDomainPSL)).
			WithSeverity(report.Info).With("note", walk))
	}
	multiple := false
	for _, l := range p.Lookups {
		multiple = multiple || l.Result == "multiple"
	}
	if p.Record == nil {
		if multiple || p.Discarded != "" {
			// dmarc.record.multiple or dmarc.record.invalid says why
			// no policy applies.
			return c
		}
		add(report.New("dmarc.record.missing", dmarcStage, fmt.Sprintf("No DMARC policy applies to %s: receivers decide alone what to do with mail that fails SPF and DKIM, and you get no reports. Gmail and Yahoo require DMARC from bulk senders.", domain)).
			With("note", walk).
			WithFix(fmt.Sprintf("Publish a TXT record at _dmarc.%s: start with \"v=DMARC1; p=none; rua=mailto:dmarc-reports@%s\", read the reports, then move to p=quarantine and p=reject.", p.OrgDomainPSL, p.OrgDomainPSL)))
		return c
	}
	rec := p.Record
	ev := func(f report.Finding) report.Finding { return f.WithRecord("_dmarc." + p.PolicyDomain + " " + rec.Raw) }
	if p.PolicyDomain != p.Domain {
		add(report.New("dmarc.record.inherited", dmarcStage, fmt.Sprintf("%s has no record of its own; the policy of %s applies (%s=%s).", p.Domain, p.PolicyDomain, p.PolicyTag, p.Effective())).With("note", walk).With("policy_tag", p.PolicyTag))
		switch {
		case p.PolicyTag == "np":
			add(report.New("dmarc.np.applied", dmarcStage, fmt.Sprintf("%s does not exist (no A, AAAA or MX record), so receivers apply np=%s of %s to mail from it, not sp or p (RFC 9989 §4.7).", p.Domain, rec.NP, p.PolicyDomain)).With("policy_tag", "np"))
		case p.Exists == "unknown":
			add(report.New("dmarc.existence.unknown", dmarcStage, fmt.Sprintf("Whether %s exists could not be learned (%s): if it does not, np=%s applies instead of %s=%s.", p.Domain, p.ExistenceError, rec.NP, p.PolicyTag, p.Effective())).With("note", walk))
		}
	}
	if p.OrgDomain != p.OrgDomainPSL {
		add(report.New("dmarc.orgdomain.differs", dmarcStage, fmt.Sprintf("The Organizational Domain of %s is %s by the DNS tree walk (RFC 9989) but %s by the Public Suffix List (RFC 7489): receivers of either kind will align and discover differently.", p.Domain, p.OrgDomain, p.OrgDomainPSL)))
	}
	if rec.PolicyError != "" {
		add(ev(report.New("dmarc.policy.invalid", dmarcStage, fmt.Sprintf("%s: the record has a valid rua, so receivers act as if it said p=none, and no other policy of the record applies (RFC 7489 §6.6.3, RFC 9989 §4.10.1).", rec.PolicyError))))
	}
	for _, e := range rec.Errors {
		if rec.PolicyError != "" && (e.Tag == "p" || e.Tag == "sp" || e.Tag == "np") {
			continue // dmarc.policy.invalid says what it does
		}
		add(ev(report.New("dmarc.tag.invalid", dmarcStage, fmt.Sprintf("%s: %s; receivers ignore the tag and use its default.", e.Tag, e.Reason))))
	}
	for _, u := range rec.Unknown {
		add(ev(report.New("dmarc.tag.unknown", dmarcStage, fmt.Sprintf("Tag %q is not defined by DMARC and is ignored (check the spelling).", u))))
	}
	for _, h := range rec.Historic {
		add(ev(report.New("dmarc.tag.historic", dmarcStage, fmt.Sprintf("Tag %q was retired by RFC 9989 and is ignored by up-to-date receivers.", h))))
	}
	eff := p.Effective()
	switch eff {
	case "none":
		if len(rec.RUA) == 0 {
			add(ev(report.New("dmarc.policy.none-unmonitored", dmarcStage, fmt.Sprintf("%s=none with no rua=: the policy asks for nothing and sends the reports nowhere, so forged mail from %s is neither blocked nor seen.", p.PolicyTag, domain))))
		} else {
			add(ev(report.New("dmarc.policy.none", dmarcStage, fmt.Sprintf("%s=none: %s is monitored (reports go to %s) but forged mail is not blocked.", p.PolicyTag, domain, strings.Join(rec.RUA, ", ")))))
		}
	case "quarantine", "reject":
		add(report.New("dmarc.policy.enforced", dmarcStage, fmt.Sprintf("%s=%s applies to mail from %s", p.PolicyTag, eff, p.Domain)))
	}
	if rec.T == "y" {
		add(ev(report.New("dmarc.policy.testing", dmarcStage, "t=y: receivers apply the next weaker policy (reject as quarantine, quarantine as none) while testing (RFC 9989 §4.7).")))
	}
	if rec.PctSet && rec.PCT < 100 {
		add(ev(report.New("dmarc.pct.partial", dmarcStage, fmt.Sprintf("pct=%d: receivers following RFC 7489 apply the policy to %d%% of failing mail only; RFC 9989 retired pct (t=y replaces pct=0, and other values are treated as 100).", rec.PCT, rec.PCT))))
	}
	if rank(rec.SP) >= 0 && rank(rec.SP) < rank(rec.P) {
		add(ev(report.New("dmarc.sp.weaker", dmarcStage, fmt.Sprintf("sp=%s is weaker than p=%s: forged mail from any subdomain of %s escapes the policy.", rec.SP, rec.P, p.PolicyDomain))))
	}
	// np replaces, for non-existent subdomains, what they would get
	// without it: sp, else p.
	if base, tag := rec.P, "p"; rank(rec.NP) >= 0 {
		if rec.SP != "" {
			base, tag = rec.SP, "sp"
		}
		if rank(rec.NP) < rank(base) {
			add(ev(report.New("dmarc.np.weaker", dmarcStage, fmt.Sprintf("np=%s is applied to subdomains of %s that do not exist, the ones forgers invent, instead of %s=%s.", rec.NP, p.PolicyDomain, tag, base))))
		}
	}
	if rec.ADKIM == "s" || rec.ASPF == "s" {
		add(ev(report.New("dmarc.alignment.strict", dmarcStage, fmt.Sprintf("Strict alignment (adkim=%s, aspf=%s): mail signed or sent from a subdomain (a newsletter service using news.%s) fails DMARC.", rec.ADKIM, rec.ASPF, p.OrgDomain))))
	}
	if ps, _ := publicsuffix.PublicSuffix(p.PolicyDomain); rec.PSD == "y" && ps != p.PolicyDomain {
		add(ev(report.New("dmarc.psd.unexpected", dmarcStage, fmt.Sprintf("psd=y declares %s a public suffix domain; receivers then treat each of its subdomains as a separate organization, breaking relaxed alignment between them.", p.PolicyDomain))))
	}
	if len(rec.RUA) == 0 && eff != "none" {
		add(ev(report.New("dmarc.rua.missing", dmarcStage, "No rua=: you receive no aggregate reports, so you will not see legitimate mail that fails, nor forgeries.")))
	}
	c.checkDestinations(ctx, r, rec, p)
	if len(rec.Errors) == 0 && !multiple {
		// Not "ok" beside dmarc.record.multiple: the records of a name
		// on the way were discarded.
		add(report.New("dmarc.record.ok", dmarcStage, "_dmarc."+p.PolicyDomain+" "+rec.Raw))
	}
	return c
}

func rank(policy string) int {
	switch policy {
	case "none":
		return 0
	case "quarantine":
		return 1
	case "reject":
		return 2
	}
	return -1
}

// checkDestinations applies RFC 7489 §7.1 (RFC 9990 §3 keeps it): a
// report address outside the policy's Organizational Domain receives
// reports only if its domain publishes
// "<policy-domain>._report._dmarc.<destination-domain>" TXT "v=DMARC1".
func (c *DMARCCheck) checkDestinations(ctx context.Context, r resolver.Interface, rec *DMARCRecord, p *DMARCPolicy) {
	check := func(tag string, uris []string) {
		for _, u := range uris {
			d := DMARCDestination{URI: u, Tag: tag}
			dest := mailtoDomain(u)
			if dest == "" {
				d.Problem = "not a mailto: URI; reporters send only by email"
				c.findings = append(c.findings, report.New("dmarc.uri.unsupported", dmarcStage, fmt.Sprintf("%s=%s: %s.", tag, u, d.Problem)))
				c.Destinations = append(c.Destinations, d)
				continue
			}
			if OrgDomainPSL(dest) == OrgDomainPSL(p.PolicyDomain) || OrgDomainPSL(dest) == p.OrgDomain {
				d.Authorized = true
				c.Destinations = append(c.Destinations, d)
				continue
			}
			d.External = true
			d.Checked = p.PolicyDomain + "._report._dmarc." + dest
			txts, err := r.LookupTXT(ctx, d.Checked)
			switch {
			case err != nil && !resolver.IsNotFound(err):
				d.Problem = err.Error()
				c.findings = append(c.findings, report.New("dmarc.dns.error", dmarcStage, fmt.Sprintf("Checking that %s accepts reports for %s: %v.", dest, p.PolicyDomain, err)))
			default:
				for _, t := range txts {
					if IsDMARCRecord(t) {
						d.Authorized = true
					}
				}
				if !d.Authorized {
					d.Problem = "no authorization record"
					c.findings = append(c.findings, report.New("dmarc.rua.unauthorized", dmarcStage, fmt.Sprintf("%s=%s is outside %s, and %s publishes no TXT \"v=DMARC1\" at %s: reporters will not send reports there (RFC 7489 §7.1).", tag, u, p.OrgDomainPSL, dest, d.Checked)).
						WithFix(fmt.Sprintf("Ask the operator of %s to publish %s TXT \"v=DMARC1\" (report services do this when you register the domain), or use an address in %s.", dest, d.Checked, p.OrgDomainPSL)))
				}
			}
			c.Destinations = append(c.Destinations, d)
		}
	}
	check("rua", rec.RUA)
	check("ruf", rec.RUF)
}

// Alignment is the DMARC evaluation of one message (RFC 9989 §4.4).
type Alignment struct {
	FromDomain  string `json:"from_domain"`
	SPFDomain   string `json:"spf_domain,omitempty"`
	SPFResult   string `json:"spf_result,omitempty"`
	SPFAligned  bool   `json:"spf_aligned"`
	DKIMDomain  string `json:"dkim_domain,omitempty"` // the aligned passing d=, if any
	DKIMAligned bool   `json:"dkim_aligned"`
	Result      string `json:"result"`                // pass, fail, none, temperror
	Policy      string `json:"policy,omitempty"`      // the policy that applies
	PolicyTag   string `json:"policy_tag,omitempty"`  // the tag it came from: p, sp or np
	Problem     string `json:"problem,omitempty"`     // why the result is temperror
	Disposition string `json:"disposition,omitempty"` // what the receiver is asked to do with a fail
}

// Aligned compares an authenticated domain with the RFC5322.From domain:
// strict means equal, relaxed means the same Organizational Domain.
func Aligned(from, auth, mode string, orgDomain func(string) string) bool {
	from = strings.TrimSuffix(strings.ToLower(from), ".")
	auth = strings.TrimSuffix(strings.ToLower(auth), ".")
	if from == "" || auth == "" {
		return false
	}
	if from == auth {
		return true
	}
	if mode == "s" {
		return false
	}
	return orgDomain(from) == orgDomain(auth)
}

// DKIMIdentity is a DKIM signature's d= and result.
type DKIMIdentity struct {
	Domain string
	Result string // pass, fail, ...
}

// Align evaluates DMARC for a message: SPF's result for the MAIL FROM
// domain (spfDomain), the DKIM results, and the From domain's policy. The
// Organizational Domain for relaxed alignment comes from the tree walk
// when r is set (RFC 9989 §4.10.2), else from the PSL (RFC 7489).
func Align(ctx context.Context, r resolver.Interface, p *DMARCPolicy, spfDomain, spfResult string, dkim []DKIMIdentity) Alignment {
	a := Alignment{FromDomain: p.Domain, SPFDomain: spfDomain, SPFResult: spfResult, Result: "none"}
	if p.Record == nil {
		if p.DNSError != "" {
			// A lookup that failed is not "no policy" (RFC 9989
			// §4.10.1): the policy is unknown.
			a.Result, a.Problem = "temperror", p.DNSError
		}
		return a
	}
	orgs := map[string]string{p.Domain: p.OrgDomain}
	org := func(d string) string {
		if o, ok := orgs[d]; ok {
			return o
		}
		o := OrgDomainPSL(d)
		if r != nil {
			o = DiscoverDMARC(ctx, r, d).OrgDomain
		}
		orgs[d] = o
		return o
	}
	a.SPFAligned = spfResult == "pass" && Aligned(p.Domain, spfDomain, p.Record.ASPF, org)
	for _, d := range dkim {
		if d.Result == "pass" && Aligned(p.Domain, d.Domain, p.Record.ADKIM, org) {
			a.DKIMAligned, a.DKIMDomain = true, d.Domain
			break
		}
	}
	a.Policy, a.PolicyTag = p.Effective(), p.PolicyTag
	if a.SPFAligned || a.DKIMAligned {
		a.Result = "pass"
		return a
	}
	a.Result = "fail"
	a.Disposition = a.Policy
	if p.Record.T == "y" {
		switch a.Policy {
		case "reject":
			a.Disposition = "quarantine"
		case "quarantine":
			a.Disposition = "none"
		}
	}
	return a
}

// AlignmentFindings turns an evaluation into findings.
func AlignmentFindings(a Alignment) []report.Finding {
	detail := fmt.Sprintf("From %s: SPF %s for %s (aligned: %v), DKIM aligned: %v", a.FromDomain, orDash(a.SPFResult), orDash(a.SPFDomain), a.SPFAligned, a.DKIMAligned)
	if a.DKIMDomain != "" {
		detail += " (d=" + a.DKIMDomain + ")"
	}
	switch a.Result {
	case "pass":
		return []report.Finding{report.New("dmarc.result.pass", dmarcStage, detail)}
	case "fail":
		return []report.Finding{report.New("dmarc.result.fail", dmarcStage, fmt.Sprintf("%s; %s=%s applies, and the receiver is asked to %s it.", detail, a.PolicyTag, a.Policy, dispositionVerb(a.Disposition))).With("policy_tag", a.PolicyTag)}
	case "temperror":
		return []report.Finding{report.New("dmarc.result.temperror", dmarcStage, detail+"; the DMARC policy is unknown: "+a.Problem+".")}
	}
	return []report.Finding{report.New("dmarc.result.none", dmarcStage, detail+"; no DMARC policy.")}
}

func dispositionVerb(d string) string {
	switch d {
	case "reject":
		return "reject"
	case "quarantine":
		return "quarantine (spam folder)"
	}
	return "deliver (p=none)"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// AuthorDomain is the RFC5322.From domain DMARC evaluates (RFC 9989,
// "Extract Author Domain"): one From header field whose addresses all
// share one domain. Exempt says why DMARC is not applied otherwise: a
// multi-valued From with several domains "MUST be exempt from DMARC
// checking"; a message without exactly one From field, or with no
// address in it, is outside DMARC (and forbidden by RFC 5322 §3.6).
type AuthorDomain struct {
	Domain    string   `json:"domain,omitempty"`
	Addresses []string `json:"addresses,omitempty"`
	Exempt    string   `json:"exempt,omitempty"`
	// Invalid is set when the From field itself is unusable (missing,
	// repeated, unparsable), rather than valid with several domains.
	Invalid bool `json:"invalid,omitempty"`
}

// ExtractAuthorDomain reads the From header field(s) of msg.
func ExtractAuthorDomain(msg []byte) AuthorDomain {
	m, err := mail.ReadMessage(strings.NewReader(string(wireForm(msg))))
	if err != nil {
		return AuthorDomain{Exempt: "the message header cannot be read: " + err.Error(), Invalid: true}
	}
	froms := m.Header["From"]
	switch len(froms) {
	case 0:
		return AuthorDomain{Exempt: "the message has no From header field", Invalid: true}
	case 1:
	default:
		return AuthorDomain{Exempt: fmt.Sprintf("the message has %d From header fields (RFC 5322 §3.6 allows one)", len(froms)), Invalid: true}
	}
	addrs, err := m.Header.AddressList("From")
	if err != nil || len(addrs) == 0 {
		why := "no address"
		if err != nil {
			why = err.Error()
		}
		return AuthorDomain{Exempt: fmt.Sprintf("the From header field %q has no usable address: %s", strings.TrimSpace(froms[0]), why), Invalid: true}
	}
	a := AuthorDomain{}
	domains := map[string]bool{}
	var order []string
	for _, ad := range addrs {
		a.Addresses = append(a.Addresses, ad.Address)
		_, d := splitSender(ad.Address)
		d = strings.TrimSuffix(strings.ToLower(d), ".")
		if d == "" {
			return AuthorDomain{Addresses: a.Addresses, Exempt: fmt.Sprintf("the From address %q has no domain", ad.Address), Invalid: true}
		}
		if !domains[d] {
			domains[d] = true
			order = append(order, d)
		}
	}
	if len(order) > 1 {
		a.Exempt = fmt.Sprintf("the From header field has %d authors in %d domains (%s): RFC 9989 exempts such messages from DMARC", len(addrs), len(order), strings.Join(order, ", "))
		return a
	}
	a.Domain = order[0]
	return a
}

// AuthorFinding reports a message DMARC is not applied to.
func AuthorFinding(a AuthorDomain) report.Finding {
	if a.Invalid {
		return report.New("dmarc.from.invalid", dmarcStage, "DMARC cannot be evaluated: "+a.Exempt+".")
	}
	return report.New("dmarc.from.multiple", dmarcStage, "DMARC is not applied: "+a.Exempt+"; receivers may reject such messages by local policy.").With("addresses", strings.Join(a.Addresses, ", "))
}
