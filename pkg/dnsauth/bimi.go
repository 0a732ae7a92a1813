package dnsauth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// BIMI (draft-brand-indicators-for-message-identification): a TXT record
// at default._bimi.DOMAIN gives the logo (l=, an SVG Tiny PS file over
// HTTPS) and the evidence document (a=, a Verified Mark or Common Mark
// Certificate, PEM over HTTPS) that most mailbox providers require before
// they show the logo. BIMI is only honoured for domains whose DMARC policy
// is enforced (quarantine or reject, not p=none).

// BIMIRecord is a parsed BIMI assertion record.
type BIMIRecord struct {
	Raw      string `json:"raw"`
	Logo     string `json:"l,omitempty"`
	Evidence string `json:"a,omitempty"`
	Declined bool   `json:"declined,omitempty"` // l= and a= empty: the domain declines BIMI
}

// ParseBIMI parses "v=BIMI1; l=https://...; a=https://...".
func ParseBIMI(txt string) (*BIMIRecord, error) {
	tags, errs := parseTagList(txt)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	if len(tags) == 0 || tags[0].Name != "v" || tags[0].Value != "BIMI1" {
		return nil, errors.New("must start with \"v=BIMI1\"")
	}
	rec := &BIMIRecord{Raw: txt}
	hasL := false
	for _, t := range tags[1:] {
		switch t.Name {
		case "l":
			hasL = true
			// l= may list several URIs in older drafts; the first is used.
			if v := firstOf(t.Value); v != "" {
				if err := httpsURL(v); err != nil {
					return nil, fmt.Errorf("l=: %v", err)
				}
				rec.Logo = v
			}
		case "a":
			if v := strings.TrimSpace(t.Value); v != "" {
				if err := httpsURL(v); err != nil {
					return nil, fmt.Errorf("a=: %v", err)
				}
				rec.Evidence = v
			}
		}
	}
	if !hasL {
		return nil, errors.New("the l= tag is missing (write l= empty to decline BIMI)")
	}
	rec.Declined = rec.Logo == "" && rec.Evidence == ""
	return rec, nil
}

func firstOf(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.TrimSpace(first)
}

func httpsURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not a URL", v)
	}
	if !strings.EqualFold(u.Scheme, "https") {
		return fmt.Errorf("%q is not an https: URL", v)
	}
	return nil
}

// BIMICheck is the result of CheckBIMI.
type BIMICheck struct {
	Domain   string      `json:"domain"`
	Record   *BIMIRecord `json:"record,omitempty"`
	DNSError string      `json:"dns_error,omitempty"`
	findings []report.Finding
}

// Findings returns the check's findings.
func (c *BIMICheck) Findings() []report.Finding { return c.findings }

const bimiStage = "bimi"

// CheckBIMI checks the default BIMI record of domain. dmarcPolicy is the
// effective DMARC policy ("" when unknown, "-" when there is none).
func CheckBIMI(ctx context.Context, r resolver.Interface, domain, dmarcPolicy string) *BIMICheck {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	c := &BIMICheck{Domain: domain}
	add := func(f report.Finding) { c.findings = append(c.findings, f) }
	name := "default._bimi." + domain
	txts, err := r.LookupTXT(ctx, name)
	if err != nil && !resolver.IsNotFound(err) {
		c.DNSError = err.Error()
		add(report.New("bimi.dns.error", bimiStage, fmt.Sprintf("The BIMI lookup failed: %v.", err)))
		return c
	}
	var recs []string
	for _, t := range txts {
		if strings.HasPrefix(t, "v=BIMI1") {
			recs = append(recs, t)
		}
	}
	switch len(recs) {
	case 0:
		add(report.New("bimi.record.missing", bimiStage, fmt.Sprintf("%s publishes no BIMI record (%s): no brand logo is shown next to its mail.", domain, name)))
		return c
	case 1:
	default:
		add(report.New("bimi.record.invalid", bimiStage, fmt.Sprintf("%s has %d BIMI records; mailbox providers ignore them all.", name, len(recs))))
		return c
	}
	if why := oversizeTXT(recs[0]); why != "" {
		add(report.New("bimi.record.invalid", bimiStage, fmt.Sprintf("%s: %s.", name, why)).WithRecord(recs[0]))
		return c
	}
	rec, perr := ParseBIMI(recs[0])
	if perr != nil {
		add(report.New("bimi.record.invalid", bimiStage, fmt.Sprintf("%s: %v.", name, perr)).WithRecord(recs[0]))
		return c
	}
	c.Record = rec
	if rec.Declined {
		add(report.New("bimi.declined", bimiStage, fmt.Sprintf("%s declines BIMI (empty l= and a=).", domain)).WithRecord(rec.Raw))
		return c
	}
	if rec.Logo == "" {
		add(report.New("bimi.logo.missing", bimiStage, "l= is empty: there is no logo to show.").WithRecord(rec.Raw))
	}
	if rec.Evidence == "" {
		add(report.New("bimi.evidence.missing", bimiStage, "No a= (Verified Mark or Common Mark Certificate): Gmail and Apple Mail show no logo without one; only a few providers display self-asserted logos.").WithRecord(rec.Raw))
	}
	switch dmarcPolicy {
	case "quarantine", "reject", "":
	default:
		add(report.New("bimi.dmarc.weak", bimiStage, fmt.Sprintf("BIMI is honoured only with an enforced DMARC policy (quarantine or reject); %s has %s.", domain, policyName(dmarcPolicy))).WithRecord(rec.Raw))
	}
	if rec.Logo != "" && rec.Evidence != "" && (dmarcPolicy == "quarantine" || dmarcPolicy == "reject") {
		add(report.New("bimi.ok", bimiStage, "logo "+echo(rec.Logo)+", evidence "+echo(rec.Evidence)))
	}
	return c
}

func policyName(p string) string {
	if p == "-" {
		return "no DMARC policy"
	}
	return "p=" + p
}
