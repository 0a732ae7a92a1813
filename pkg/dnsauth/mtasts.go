package dnsauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// MTA-STS, RFC 8461: a TXT record at _mta-sts.DOMAIN announces a policy
// served over HTTPS at https://mta-sts.DOMAIN/.well-known/mta-sts.txt;
// senders that support it deliver only over TLS with a valid certificate
// to the MX hosts the policy lists. SMTP TLS reporting, RFC 8460: a TXT
// record at _smtp._tls.DOMAIN says where to send reports of TLS failures.

// MTASTSRecord is the _mta-sts TXT record (RFC 8461 §3.1).
type MTASTSRecord struct {
	Raw string `json:"raw"`
	ID  string `json:"id"`
}

// ParseMTASTSRecord parses "v=STSv1; id=...".
func ParseMTASTSRecord(txt string) (*MTASTSRecord, error) {
	tags, errs := parseTagList(txt)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	if len(tags) == 0 || tags[0].Name != "v" || tags[0].Value != "STSv1" {
		return nil, errors.New("must start with \"v=STSv1\"")
	}
	rec := &MTASTSRecord{Raw: txt}
	for _, t := range tags[1:] {
		if t.Name == "id" {
			// sts-id-value = 1*32(ALPHA / DIGIT)
			if len(t.Value) == 0 || len(t.Value) > 32 || !isAlnum(t.Value) {
				return nil, fmt.Errorf("id=%q must be 1 to 32 letters and digits", echo(t.Value))
			}
			rec.ID = t.Value
		}
	}
	if rec.ID == "" {
		return nil, errors.New("the id= tag is missing")
	}
	return rec, nil
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlpha(s[i]) && !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// MTASTSPolicy is a parsed policy file (RFC 8461 §3.2).
type MTASTSPolicy struct {
	Version string   `json:"version"`
	Mode    string   `json:"mode"` // enforce, testing, none
	MaxAge  int64    `json:"max_age"`
	MX      []string `json:"mx"`
	Unknown []string `json:"unknown_keys,omitempty"`
}

// MaxMTASTSAge is the largest max_age allowed (RFC 8461 §3.2: 31557600,
// about a year).
const MaxMTASTSAge = 31557600

// ParseMTASTSPolicy parses a policy body: "key: value" lines separated by
// CRLF (LF accepted, as senders do).
func ParseMTASTSPolicy(body string) (*MTASTSPolicy, error) {
	p := &MTASTSPolicy{MaxAge: -1}
	seen := map[string]bool{}
	for i, line := range strings.Split(body, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: %q is not \"key: value\"", i+1, echo(line))
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k != "mx" && seen[k] {
			return nil, fmt.Errorf("line %d: %q appears twice", i+1, echo(k))
		}
		seen[k] = true
		switch k {
		case "version":
			if v != "STSv1" {
				return nil, fmt.Errorf("version %q is not STSv1", echo(v))
			}
			p.Version = v
		case "mode":
			switch v {
			case "enforce", "testing", "none":
				p.Mode = v
			default:
				return nil, fmt.Errorf("mode %q is not enforce, testing or none", echo(v))
			}
		case "max_age":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 || len(v) > 10 || !allDigits(v) {
				return nil, fmt.Errorf("max_age %q is not a number of seconds", echo(v))
			}
			if n > MaxMTASTSAge {
				return nil, fmt.Errorf("max_age %d is over %d (RFC 8461 §3.2)", n, MaxMTASTSAge)
			}
			p.MaxAge = n
		case "mx":
			if v == "" {
				return nil, fmt.Errorf("line %d: empty mx", i+1)
			}
			p.MX = append(p.MX, strings.ToLower(strings.TrimSuffix(v, ".")))
		default:
			p.Unknown = append(p.Unknown, k)
		}
	}
	switch {
	case p.Version == "":
		return nil, errors.New("version: STSv1 is missing")
	case p.Mode == "":
		return nil, errors.New("mode is missing")
	case p.MaxAge < 0:
		return nil, errors.New("max_age is missing")
	case len(p.MX) == 0 && p.Mode != "none":
		return nil, errors.New("no mx line: a policy in enforce or testing mode must list the MX hosts")
	}
	return p, nil
}

// MatchMX reports whether host matches one of the policy's mx patterns:
// exactly, or "*.example.net" matching one extra leftmost label (RFC 8461
// §4.1).
func (p *MTASTSPolicy) MatchMX(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		if strings.HasPrefix(pat, "*.") {
			rest := pat[1:] // ".example.net"
			if strings.HasSuffix(host, rest) && !strings.Contains(strings.TrimSuffix(host, rest), ".") && len(host) > len(rest) {
				return true
			}
			continue
		}
		if host == pat {
			return true
		}
	}
	return false
}

// HTTPOptions configure the HTTPS fetches of MTA-STS policies (and BIMI
// evidence). Tests point them at an httptest TLS server.
type HTTPOptions struct {
	// Client does the requests (nil: a client with Timeout). Redirects
	// are never followed whatever the client says (RFC 8461 §3.3). When
	// its Transport is an *http.Transport (or nil), a copy is used whose
	// connections to the policy host are resolved by the check's
	// resolver (see Dial).
	Client *http.Client
	// Dial opens the TCP connections of the fetch (nil: net.Dialer). The
	// policy host's name is resolved with mailprobe's resolver (so with
	// --resolver, not the system's), the addresses tried in turn, and the
	// certificate is still verified against the host name.
	Dial netx.DialFunc
	// PolicyURL returns the policy URL of a domain (nil: the RFC's
	// https://mta-sts.DOMAIN/.well-known/mta-sts.txt).
	PolicyURL func(domain string) string
	Timeout   time.Duration // default 10s
}

// client is the HTTP client of one fetch from policyHost: connections to
// that host are resolved by r; any other (a proxy from HTTPS_PROXY) is
// dialed as usual.
func (o HTTPOptions) client(r resolver.Interface, policyHost string) *http.Client {
	c := http.Client{Timeout: o.Timeout}
	if o.Client != nil {
		c = *o.Client
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if r == nil {
		return &c
	}
	var tr *http.Transport
	switch t := c.Transport.(type) {
	case nil:
		tr = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		tr = t.Clone()
	default:
		return &c // a caller's own RoundTripper dials as it likes
	}
	tr.DialContext = resolvingDialer(r, o.Dial, policyHost)
	// The policy's headers are a few hundred bytes; the default limit
	// would let a hostile server send megabytes before the body's cap.
	tr.MaxResponseHeaderBytes = maxPolicyHeader
	c.Transport = tr
	return &c
}

// resolvingDialer dials host:port by resolving host with r and trying its
// addresses in turn (A before AAAA, as the resolver returns them), each
// attempt with a share of the remaining time, as net.Dialer does. Other
// names go to the plain dialer. TLS is not its business: the transport
// still verifies the certificate against the URL's host name.
func resolvingDialer(r resolver.Interface, dial netx.DialFunc, host string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if dial == nil {
		d := &net.Dialer{}
		dial = d.DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		h, port, err := net.SplitHostPort(addr)
		if err != nil || !strings.EqualFold(strings.TrimSuffix(h, "."), host) {
			return dial(ctx, network, addr)
		}
		if _, err := netip.ParseAddr(h); err == nil {
			return dial(ctx, network, addr)
		}
		ips, err := r.LookupIP(ctx, h)
		if err != nil {
			return nil, fmt.Errorf("resolving %s: %w", h, err)
		}
		var errs []error
		for i, ip := range ips {
			actx, cancel := ctx, context.CancelFunc(func() {})
			if dl, ok := ctx.Deadline(); ok && i < len(ips)-1 {
				share := time.Until(dl) / time.Duration(len(ips)-i)
				actx, cancel = context.WithTimeout(ctx, max(share, 2*time.Second))
			}
			conn, err := dial(actx, network, net.JoinHostPort(ip.String(), port))
			cancel()
			if err == nil {
				return conn, nil
			}
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
		return nil, fmt.Errorf("connecting to %s (%d address(es), as resolved by %s): %w", h, len(ips), strings.Join(r.Servers(), ", "), errors.Join(errs...))
	}
}

func (o HTTPOptions) policyURL(domain string) string {
	if o.PolicyURL != nil {
		return o.PolicyURL(domain)
	}
	return "https://mta-sts." + domain + "/.well-known/mta-sts.txt"
}

// MTASTSCheck is the result of CheckMTASTS.
type MTASTSCheck struct {
	Domain    string        `json:"domain"`
	Record    *MTASTSRecord `json:"record,omitempty"`
	PolicyURL string        `json:"policy_url,omitempty"`
	Policy    *MTASTSPolicy `json:"policy,omitempty"`
	Unmatched []string      `json:"unmatched_mx,omitempty"`
	DNSError  string        `json:"dns_error,omitempty"`
	findings  []report.Finding
}

// Findings returns the check's findings.
func (c *MTASTSCheck) Findings() []report.Finding { return c.findings }

const mtastsStage = "mta-sts"

// maxPolicySize bounds the policy body read; RFC 8461 §3.3 lets senders
// limit it (64 KiB is what most do).
const maxPolicySize = 64 << 10

// maxPolicyHeader bounds the response header of a policy fetch.
const maxPolicyHeader = 16 << 10

// CheckMTASTS checks the MTA-STS record and policy of domain, matching
// the policy against mxHosts (the domain's MX targets; nil to skip).
func CheckMTASTS(ctx context.Context, r resolver.Interface, domain string, mxHosts []string, o HTTPOptions) *MTASTSCheck {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	c := &MTASTSCheck{Domain: domain}
	add := func(f report.Finding) { c.findings = append(c.findings, f) }
	txts, err := r.LookupTXT(ctx, "_mta-sts."+domain)
	if err != nil && !resolver.IsNotFound(err) {
		c.DNSError = err.Error()
		add(report.New("mtasts.dns.error", mtastsStage, fmt.Sprintf("The _mta-sts lookup failed: %v.", err)))
		return c
	}
	var recs []string
	for _, t := range txts {
		if strings.HasPrefix(t, "v=STSv1") {
			recs = append(recs, t)
		}
	}
	switch len(recs) {
	case 0:
		add(report.New("mtasts.record.missing", mtastsStage, fmt.Sprintf("%s publishes no MTA-STS policy: senders deliver to it over TLS only opportunistically, so an attacker on the path can strip STARTTLS.", domain)))
		return c
	case 1:
	default:
		add(report.New("mtasts.record.invalid", mtastsStage, fmt.Sprintf("_mta-sts.%s has %d records starting with v=STSv1; senders then ignore MTA-STS (RFC 8461 §3.1).", domain, len(recs))))
		return c
	}
	if why := oversizeTXT(recs[0]); why != "" {
		add(report.New("mtasts.record.invalid", mtastsStage, fmt.Sprintf("_mta-sts.%s: %s.", domain, why)).WithRecord(recs[0]))
		return c
	}
	rec, perr := ParseMTASTSRecord(recs[0])
	if perr != nil {
		add(report.New("mtasts.record.invalid", mtastsStage, fmt.Sprintf("_mta-sts.%s: %v.", domain, perr)).WithRecord(recs[0]))
		return c
	}
	c.Record = rec
	c.PolicyURL = o.policyURL(domain)
	body, ferr := fetchPolicy(ctx, o, r, c.PolicyURL)
	if ferr != nil {
		add(report.New("mtasts.policy.fetch-failed", mtastsStage, fmt.Sprintf("The TXT record announces a policy, but fetching %s failed: %v. Senders that saw the record before keep using their cached policy; new ones treat the domain as having none.", c.PolicyURL, ferr)).WithRecord(recs[0]))
		return c
	}
	pol, perr := ParseMTASTSPolicy(body)
	if perr != nil {
		add(report.New("mtasts.policy.invalid", mtastsStage, fmt.Sprintf("The policy at %s cannot be used: %v.", c.PolicyURL, perr)).With("policy", report.Clip(body, report.MaxRecordEvidence)))
		return c
	}
	c.Policy = pol
	ev := func(f report.Finding) report.Finding {
		return f.With("policy", report.Clip(strings.TrimSpace(body), report.MaxRecordEvidence))
	}
	switch pol.Mode {
	case "testing":
		add(ev(report.New("mtasts.mode.testing", mtastsStage, "mode: testing: senders report TLS problems (if TLS-RPT is set up) but still deliver without TLS.")))
	case "none":
		add(ev(report.New("mtasts.mode.none", mtastsStage, "mode: none: the policy is withdrawn; senders stop applying MTA-STS.")))
	}
	switch {
	case pol.Mode == "none":
	case pol.MaxAge < 86400:
		add(ev(report.New("mtasts.maxage.short", mtastsStage, fmt.Sprintf("max_age: %d is under a day; a short cache lets an attacker who blocks the policy fetch for a while downgrade delivery (RFC 8461 §10 suggests weeks).", pol.MaxAge))))
	}
	if mxHosts != nil && pol.Mode != "none" {
		for _, h := range mxHosts {
			if !pol.MatchMX(h) {
				c.Unmatched = append(c.Unmatched, h)
			}
		}
		if len(c.Unmatched) > 0 {
			f := report.New("mtasts.mx.unmatched", mtastsStage, fmt.Sprintf("MX %s not covered by the policy's mx: lines (%s): senders in enforce mode refuse to deliver to it.", strings.Join(c.Unmatched, ", "), strings.Join(pol.MX, ", ")))
			if pol.Mode == "testing" {
				f = f.WithSeverity(report.Warn)
			}
			add(ev(f))
		}
	}
	if pol.Mode == "enforce" && len(c.Unmatched) == 0 && pol.MaxAge >= 86400 {
		add(report.New("mtasts.policy.ok", mtastsStage, fmt.Sprintf("mode enforce, max_age %d, mx %s", pol.MaxAge, strings.Join(pol.MX, ", "))))
	}
	return c
}

func fetchPolicy(ctx context.Context, o HTTPOptions, r resolver.Interface, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	client := o.client(r, req.URL.Hostname())
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return "", fmt.Errorf("HTTP %d redirect to %s: senders must not follow redirects (RFC 8461 §3.3)", resp.StatusCode, echo(resp.Header.Get("Location")))
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %s", echo(resp.Status))
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return "", fmt.Errorf("Content-Type %q: the policy must be served as text/plain (RFC 8461 §3.2)", echo(resp.Header.Get("Content-Type")))
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxPolicySize+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxPolicySize {
		return "", fmt.Errorf("the policy is larger than %d KiB", maxPolicySize>>10)
	}
	return string(b), nil
}

// TLSRPTRecord is the _smtp._tls record (RFC 8460 §3).
type TLSRPTRecord struct {
	Raw string   `json:"raw"`
	RUA []string `json:"rua"`
}

// ParseTLSRPT parses "v=TLSRPTv1; rua=mailto:...,https://...".
func ParseTLSRPT(txt string) (*TLSRPTRecord, error) {
	tags, errs := parseTagList(txt)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	if len(tags) == 0 || tags[0].Name != "v" || tags[0].Value != "TLSRPTv1" {
		return nil, errors.New("must start with \"v=TLSRPTv1\"")
	}
	rec := &TLSRPTRecord{Raw: txt}
	for _, t := range tags[1:] {
		if t.Name != "rua" {
			continue // extensions are ignored (§3)
		}
		for _, u := range splitList(t.Value, ",") {
			l := strings.ToLower(u)
			switch {
			case strings.HasPrefix(l, "mailto:"):
				if mailtoDomain(u) == "" {
					return nil, fmt.Errorf("rua %q is not a mailto: address", echo(u))
				}
			case strings.HasPrefix(l, "https://"):
				if len(u) <= len("https://") {
					return nil, fmt.Errorf("rua %q has no host", echo(u))
				}
			default:
				return nil, fmt.Errorf("rua %q must be a mailto: or https: URI", echo(u))
			}
			rec.RUA = append(rec.RUA, u)
		}
	}
	if len(rec.RUA) == 0 {
		return nil, errors.New("rua= is missing: it is required")
	}
	return rec, nil
}

// TLSRPTCheck is the result of CheckTLSRPT.
type TLSRPTCheck struct {
	Domain   string        `json:"domain"`
	Record   *TLSRPTRecord `json:"record,omitempty"`
	DNSError string        `json:"dns_error,omitempty"`
	findings []report.Finding
}

// Findings returns the check's findings.
func (c *TLSRPTCheck) Findings() []report.Finding { return c.findings }

const tlsrptStage = "tls-rpt"

// CheckTLSRPT checks the SMTP TLS reporting record. wantReports raises a
// missing record to a warning (MTA-STS or DANE is in use, and TLS
// failures would go unseen).
func CheckTLSRPT(ctx context.Context, r resolver.Interface, domain string, wantReports bool) *TLSRPTCheck {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	c := &TLSRPTCheck{Domain: domain}
	add := func(f report.Finding) { c.findings = append(c.findings, f) }
	txts, err := r.LookupTXT(ctx, "_smtp._tls."+domain)
	if err != nil && !resolver.IsNotFound(err) {
		c.DNSError = err.Error()
		add(report.New("tlsrpt.dns.error", tlsrptStage, fmt.Sprintf("The _smtp._tls lookup failed: %v.", err)))
		return c
	}
	var recs []string
	for _, t := range txts {
		if strings.HasPrefix(t, "v=TLSRPTv1") {
			recs = append(recs, t)
		}
	}
	switch len(recs) {
	case 0:
		f := report.New("tlsrpt.record.missing", tlsrptStage, fmt.Sprintf("%s publishes no TLS-RPT record (_smtp._tls): senders cannot tell you when TLS delivery to you fails.", domain))
		if wantReports {
			f = f.WithSeverity(report.Warn).WithFix(fmt.Sprintf("With MTA-STS or DANE in use, publish _smtp._tls.%s TXT \"v=TLSRPTv1; rua=mailto:tls-reports@%s\" so that failures are reported (RFC 8460).", domain, domain))
		}
		add(f)
		return c
	case 1:
	default:
		add(report.New("tlsrpt.record.invalid", tlsrptStage, fmt.Sprintf("_smtp._tls.%s has %d TLS-RPT records; senders ignore them all (RFC 8460 §3).", domain, len(recs))))
		return c
	}
	if why := oversizeTXT(recs[0]); why != "" {
		add(report.New("tlsrpt.record.invalid", tlsrptStage, fmt.Sprintf("_smtp._tls.%s: %s.", domain, why)).WithRecord(recs[0]))
		return c
	}
	rec, perr := ParseTLSRPT(recs[0])
	if perr != nil {
		add(report.New("tlsrpt.record.invalid", tlsrptStage, fmt.Sprintf("_smtp._tls.%s: %v.", domain, perr)).WithRecord(recs[0]))
		return c
	}
	c.Record = rec
	add(report.New("tlsrpt.ok", tlsrptStage, "reports to "+strings.Join(rec.RUA, ", ")))
	return c
}
