package dnsauth

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/miekg/dns"

	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// DKIM public key records, RFC 6376 §3.6.1, with RFC 8301 (no rsa-sha1,
// RSA keys of at least 1024 bits, 2048 recommended) and RFC 8463
// (ed25519-sha256).

// DKIMKey is a parsed key record.
type DKIMKey struct {
	Selector string   `json:"selector"`
	Domain   string   `json:"domain"`
	Name     string   `json:"name"`             // selector._domainkey.domain
	CNAME    string   `json:"cname,omitempty"`  // where the name points, when it is an alias
	Record   string   `json:"record,omitempty"` // the TXT text
	Version  string   `json:"version,omitempty"`
	KeyType  string   `json:"key_type"`       // rsa (default) or ed25519
	Bits     int      `json:"bits,omitempty"` // RSA modulus size; 256 for ed25519
	Hashes   []string `json:"hashes,omitempty"`
	Services []string `json:"services,omitempty"`
	Flags    []string `json:"flags,omitempty"`
	Notes    string   `json:"notes,omitempty"`
	Revoked  bool     `json:"revoked,omitempty"` // p= empty (RFC 6376 §3.6.1)
	Testing  bool     `json:"testing,omitempty"` // t=y
	Strict   bool     `json:"strict,omitempty"`  // t=s: i= must be exactly d=
	// Unknown tags are ignored by verifiers (§3.6.1) but listed here.
	Unknown   []string         `json:"unknown_tags,omitempty"`
	PublicKey crypto.PublicKey `json:"-"`
}

// DKIMKeyError is a key record verifiers cannot use; Tag names the tag at
// fault when there is one.
type DKIMKeyError struct {
	Tag    string
	Reason string
}

func (e *DKIMKeyError) Error() string {
	if e.Tag == "" {
		return e.Reason
	}
	return e.Tag + "=: " + e.Reason
}

// ParseDKIMKey parses a key record. A revoked key (empty p=) parses
// without error, with Revoked set.
func ParseDKIMKey(record string) (*DKIMKey, error) {
	tags, errs := parseTagList(record)
	if len(errs) > 0 {
		return nil, &DKIMKeyError{Tag: errs[0].Tag, Reason: errs[0].Reason}
	}
	k := &DKIMKey{Record: record, KeyType: "rsa"}
	m := tagMap(tags, false)
	for i, t := range tags {
		switch t.Name {
		case "v":
			// v= must be first when present, and exactly DKIM1.
			if i != 0 {
				return nil, &DKIMKeyError{Tag: "v", Reason: "must be the first tag"}
			}
			if t.Value != "DKIM1" {
				return nil, &DKIMKeyError{Tag: "v", Reason: fmt.Sprintf("version %q is not DKIM1", t.Value)}
			}
			k.Version = t.Value
		case "h":
			k.Hashes = splitList(t.Value, ":")
		case "k":
			k.KeyType = t.Value
		case "n":
			k.Notes = t.Value
		case "p":
		case "s":
			k.Services = splitList(t.Value, ":")
		case "t":
			k.Flags = splitList(t.Value, ":")
			for _, f := range k.Flags {
				switch f {
				case "y":
					k.Testing = true
				case "s":
					k.Strict = true
				}
			}
		case "g":
			// g= (granularity) was removed by RFC 6376; it is ignored.
			k.Unknown = append(k.Unknown, t.Name)
		default:
			k.Unknown = append(k.Unknown, t.Name)
		}
	}
	if len(k.Services) > 0 && !contains(k.Services, "*") && !contains(k.Services, "email") {
		return nil, &DKIMKeyError{Tag: "s", Reason: fmt.Sprintf("service types %q do not include email or *", strings.Join(k.Services, ":"))}
	}
	if len(k.Hashes) > 0 && !contains(k.Hashes, "sha256") {
		return k, &DKIMKeyError{Tag: "h", Reason: fmt.Sprintf("hash algorithms %q do not include sha256 (rsa-sha1 is forbidden by RFC 8301)", strings.Join(k.Hashes, ":"))}
	}
	p, ok := m["p"]
	if !ok {
		return nil, &DKIMKeyError{Tag: "p", Reason: "missing (the public key is required)"}
	}
	p = stripWSP(p)
	if p == "" {
		k.Revoked = true
		return k, nil
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return nil, &DKIMKeyError{Tag: "p", Reason: "not valid base64: " + err.Error()}
	}
	switch k.KeyType {
	case "rsa":
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			// RFC 6376 is ambiguous between SubjectPublicKeyInfo and
			// RSAPublicKey (erratum 3017); accept both, as verifiers do.
			pk1, err1 := x509.ParsePKCS1PublicKey(der)
			if err1 != nil {
				return nil, &DKIMKeyError{Tag: "p", Reason: "not an RSA public key: " + err.Error()}
			}
			pub = pk1
		}
		rk, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, &DKIMKeyError{Tag: "p", Reason: fmt.Sprintf("k=rsa but the key is %T", pub)}
		}
		k.Bits = rk.N.BitLen()
		k.PublicKey = rk
	case "ed25519":
		// RFC 8463 §4.2: the raw 32-octet key, not SubjectPublicKeyInfo.
		if len(der) != ed25519.PublicKeySize {
			return nil, &DKIMKeyError{Tag: "p", Reason: fmt.Sprintf("an ed25519 key is %d octets, this one is %d (RFC 8463 §4.2 wants the bare key, not SubjectPublicKeyInfo)", ed25519.PublicKeySize, len(der))}
		}
		k.Bits = 256
		k.PublicKey = ed25519.PublicKey(der)
	default:
		return nil, &DKIMKeyError{Tag: "k", Reason: fmt.Sprintf("unknown key type %q (rsa and ed25519 are defined)", k.KeyType)}
	}
	return k, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// CommonDKIMSelectors are tried when no selector is given. DKIM has no way
// to list a domain's selectors, so this can only find keys at names that
// mail providers commonly use; absence proves nothing.
var CommonDKIMSelectors = []string{
	"default", "dkim", "mail", "selector", "selector1", "selector2", // generic, Microsoft 365
	"google", "s1", "s2", "k1", "k2", "k3", // Google Workspace, SendGrid, Mailchimp
	"key1", "key2", "dkim1", "dkim2", "smtp", "mx", "email",
	"fm1", "fm2", "fm3", // Fastmail
	"protonmail", "protonmail2", "protonmail3", // Proton
	"zoho", "zmail", "mandrill", "mailjet", "pm", "everlytickey1", "everlytickey2",
	"sig1", "scph0920", "mxvault", "cm", "amazonses",
}

const dkimStage = "dkim"

// DKIMCheck is the result of CheckDKIM.
type DKIMCheck struct {
	Domain    string     `json:"domain"`
	Selectors []string   `json:"selectors_tried"`
	Keys      []*DKIMKey `json:"keys"`
	Guessed   bool       `json:"guessed_selectors"` // the common list was used
	DNSError  string     `json:"dns_error,omitempty"`
	findings  []report.Finding
}

// Findings returns the check's findings.
func (c *DKIMCheck) Findings() []report.Finding { return c.findings }

// CheckDKIM fetches and judges the keys of domain at the given selectors,
// or at CommonDKIMSelectors (concurrently) when none are given.
func CheckDKIM(ctx context.Context, r resolver.Interface, domain string, selectors []string) *DKIMCheck {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	c := &DKIMCheck{Domain: domain}
	if len(selectors) == 0 {
		selectors = CommonDKIMSelectors
		c.Guessed = true
		// The sweep is bounded by the tree first: when _domainkey.DOMAIN
		// does not exist (NXDOMAIN), nothing below it does (RFC 8020
		// §2), so no selector can hold a key and none is asked. One
		// question instead of len(CommonDKIMSelectors).
		if _, err := r.Query(ctx, "_domainkey."+domain, dns.TypeTXT); resolver.KindOf(err) == resolver.KindNXDomain {
			c.findings = append(c.findings, report.New("dkim.selector.none-found", dkimStage, fmt.Sprintf("_domainkey.%s does not exist at all (NXDOMAIN), so the domain publishes no DKIM key under any selector (RFC 8020) and none of the %d common selectors was asked. If its mail is signed, the key is missing: give the selector from a DKIM-Signature header (s=) with --selector.", domain, len(selectors))))
			return c
		}
	}
	c.Selectors = selectors
	type res struct {
		key  *DKIMKey
		fs   []report.Finding
		derr string
	}
	out := make([]res, len(selectors))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, sel := range selectors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			k, fs, derr := checkSelector(ctx, r, domain, sel, !c.Guessed)
			out[i] = res{k, fs, derr}
		}()
	}
	wg.Wait()
	for _, o := range out {
		if o.key != nil {
			c.Keys = append(c.Keys, o.key)
		}
		c.findings = append(c.findings, o.fs...)
		if o.derr != "" && c.DNSError == "" {
			c.DNSError = o.derr
		}
	}
	if c.Guessed && len(c.Keys) == 0 && c.DNSError == "" {
		c.findings = append(c.findings, report.New("dkim.selector.none-found", dkimStage, fmt.Sprintf("No DKIM key at any of %d common selectors of %s. DKIM selectors cannot be listed: give the selector from a DKIM-Signature header (s=) with --selector.", len(selectors), domain)))
	}
	if len(c.Keys) > 0 {
		var types []string
		for _, k := range c.Keys {
			if !k.Revoked {
				types = append(types, k.KeyType)
			}
		}
		sort.Strings(types)
		if len(types) > 0 && !contains(types, "rsa") {
			c.findings = append(c.findings, report.New("dkim.key.ed25519-only", dkimStage, fmt.Sprintf("%s publishes only ed25519 keys; many receivers verify only RSA, so sign with an RSA key too (RFC 8463 §5 recommends dual signing).", domain)))
		}
	}
	return c
}

// checkSelector fetches one selector. explicit: the user named it, so its
// absence is a failure rather than a miss of the common list.
func checkSelector(ctx context.Context, r resolver.Interface, domain, sel string, explicit bool) (*DKIMKey, []report.Finding, string) {
	name := sel + "._domainkey." + domain
	ans, err := r.Query(ctx, name, dns.TypeTXT)
	if err != nil {
		if resolver.IsNotFound(err) || resolver.KindOf(err) == resolver.KindInvalidName {
			if explicit {
				return nil, []report.Finding{report.New("dkim.key.missing", dkimStage, fmt.Sprintf("No DKIM key record at %s (%v). Mail signed with s=%s d=%s fails DKIM (permerror, RFC 6376 §6.1.2).", name, err, sel, domain))}, ""
			}
			return nil, nil, ""
		}
		return nil, []report.Finding{report.New("dkim.dns.error", dkimStage, fmt.Sprintf("Looking up %s failed: %v. Receivers get a temporary DKIM failure (tempfail).", name, err))}, err.Error()
	}
	txts := resolver.TXTStrings(ans)
	key := &DKIMKey{Selector: sel, Domain: domain, Name: name}
	if len(ans.CNAMEs) > 0 {
		key.CNAME = strings.TrimSuffix(ans.CNAMEs[len(ans.CNAMEs)-1], ".")
	}
	if len(txts) > 1 {
		f := report.New("dkim.key.multiple", dkimStage, fmt.Sprintf("%s has %d TXT records; a key name must hold one (RFC 6376 §3.6.2.2 leaves several undefined, and verifiers such as go-msgauth reject them).", name, len(txts)))
		for _, t := range txts {
			f = f.WithRecord(t)
		}
		return key, []report.Finding{f}, ""
	}
	if len(txts[0]) > MaxDKIMRecord {
		// No real key comes near: an 8192-bit RSA key is about 1.4 KB of
		// base64. Parsing and echoing 60 KB helps nobody.
		key.Record = report.Clip(txts[0], report.MaxRecordEvidence)
		return key, []report.Finding{report.Newf("dkim.key.oversize", dkimStage, "The TXT record at %s is %d bytes, more than any DKIM key (at most %d here): verifiers may refuse it, and it is not parsed.", name, len(txts[0]), MaxDKIMRecord).WithRecord(txts[0])}, ""
	}
	key.Record = txts[0]
	parsed, perr := ParseDKIMKey(txts[0])
	if parsed != nil {
		parsed.Selector, parsed.Domain, parsed.Name, parsed.CNAME = sel, domain, name, key.CNAME
		key = parsed
	}
	if perr != nil {
		code := "dkim.key.syntax"
		if ke, ok := perr.(*DKIMKeyError); ok && ke.Tag == "k" {
			code = "dkim.key.unsupported"
		} else if ok && ke.Tag == "h" {
			code = "dkim.key.sha1-only"
		}
		return key, []report.Finding{report.New(code, dkimStage, fmt.Sprintf("The key at %s cannot be used: %v. Every signature with s=%s fails (permerror).", name, perr, sel)).WithRecord(txts[0])}, ""
	}
	return key, judgeKey(key, explicit), ""
}

func judgeKey(k *DKIMKey, explicit bool) []report.Finding {
	var fs []report.Finding
	ev := func(f report.Finding) report.Finding { return f.WithRecord(k.Record) }
	if k.Revoked {
		f := report.New("dkim.key.revoked", dkimStage, fmt.Sprintf("The key at %s is revoked (empty p=): signatures with s=%s fail.", k.Name, k.Selector))
		if !explicit {
			f = f.WithSeverity(report.Info)
		}
		return append(fs, ev(f))
	}
	desc := fmt.Sprintf("s=%s: %s", k.Selector, strings.ToUpper(k.KeyType))
	if k.KeyType == "rsa" {
		desc += fmt.Sprintf(" %d bits", k.Bits)
	}
	if k.CNAME != "" {
		desc += " (via CNAME " + k.CNAME + ")"
	}
	switch {
	case k.KeyType == "rsa" && k.Bits < 1024:
		fs = append(fs, ev(report.New("dkim.key.weak", dkimStage, fmt.Sprintf("The RSA key at %s has %d bits: verifiers must not accept signatures from keys under 1024 bits (RFC 8301 §3.2), so every signature fails.", k.Name, k.Bits))))
	case k.KeyType == "rsa" && k.Bits < 2048:
		fs = append(fs, ev(report.New("dkim.key.short", dkimStage, fmt.Sprintf("The RSA key at %s has %d bits; RFC 8301 §3.2 asks signers for at least 2048.", k.Name, k.Bits))))
	default:
		fs = append(fs, report.New("dkim.key.ok", dkimStage, desc))
	}
	if k.Testing {
		fs = append(fs, ev(report.New("dkim.key.testing", dkimStage, fmt.Sprintf("The key at %s has t=y (testing): receivers may treat its signatures as if the message were unsigned (RFC 6376 §3.6.1).", k.Name))))
	}
	return fs
}
