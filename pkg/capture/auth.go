package capture

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/textproto"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/dkim"

	"github.com/mailprobe/mailprobe/pkg/dnsauth"
)

// AuthResults is what the capture server concluded about a message, as a
// receiving server would (and as it writes into Authentication-Results).
type AuthResults struct {
	SPF         string       `json:"spf"`
	SPFDomain   string       `json:"spf_domain,omitempty"`
	DKIM        []DKIMResult `json:"dkim,omitempty"`
	DMARC       string       `json:"dmarc"`
	DMARCDomain string       `json:"dmarc_domain,omitempty"`
}

// DKIMResult is one signature's verification.
type DKIMResult struct {
	Domain   string `json:"domain"`
	Selector string `json:"selector,omitempty"`
	Result   string `json:"result"` // pass, fail, neutral, temperror, permerror
	Reason   string `json:"reason,omitempty"`
}

func (a AuthResults) header() string {
	var parts []string
	if len(a.DKIM) == 0 {
		parts = append(parts, "dkim=none")
	}
	for _, d := range a.DKIM {
		p := fmt.Sprintf("dkim=%s header.d=%s", d.Result, d.Domain)
		if d.Selector != "" {
			p += " header.s=" + d.Selector
		}
		if d.Reason != "" {
			p += fmt.Sprintf(" reason=%q", strings.ReplaceAll(d.Reason, `"`, "'"))
		}
		parts = append(parts, p)
	}
	spfPart := "spf=" + a.SPF
	if a.SPFDomain != "" {
		spfPart += " smtp.mailfrom=" + a.SPFDomain
	}
	parts = append(parts, spfPart)
	dm := "dmarc=" + a.DMARC
	if a.DMARCDomain != "" {
		dm += " header.from=" + a.DMARCDomain
	}
	parts = append(parts, dm)
	return "\r\n\t" + strings.Join(parts, ";\r\n\t")
}

// authenticate runs DKIM, SPF and DMARC on an arriving message.
func authenticate(raw []byte, ip net.IP, helo, mailFrom string, lookupTXT func(string) ([]string, error)) AuthResults {
	var a AuthResults
	if lookupTXT == nil {
		lookupTXT = func(name string) ([]string, error) {
			return nil, &net.DNSError{Err: "no DNS in the capture server", Name: name, IsTemporary: true}
		}
	}

	// DKIM (RFC 6376) with go-msgauth.
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{LookupTXT: lookupTXT, MaxVerifications: 5})
	if err == nil {
		for _, v := range vs {
			r := DKIMResult{Domain: v.Domain, Result: "pass"}
			if hdr := findSignature(raw, v.Domain); hdr != "" {
				r.Selector = dnsauth.TagValue(hdr, "s")
			}
			if v.Err != nil {
				r.Reason = v.Err.Error()
				switch {
				case dkim.IsTempFail(v.Err):
					r.Result = "temperror"
				case dkim.IsPermFail(v.Err):
					r.Result = "permerror"
					if strings.Contains(v.Err.Error(), "signature did not verify") || strings.Contains(v.Err.Error(), "body hash did not verify") {
						r.Result = "fail"
					}
				default:
					r.Result = "fail"
				}
			}
			a.DKIM = append(a.DKIM, r)
		}
	}

	// SPF (RFC 7208) with blitiri.com.ar/go/spf.
	sender := mailFrom
	if sender == "" {
		sender = "postmaster@" + helo
	}
	if _, d, ok := strings.Cut(sender, "@"); ok {
		a.SPFDomain = strings.ToLower(d)
	}
	if ip == nil {
		a.SPF = "none"
	} else {
		res, _ := spf.CheckHostWithSender(ip, helo, sender, spf.WithResolver(txtOnly{lookupTXT}), spf.WithContext(context.Background()))
		a.SPF = string(res)
	}

	// DMARC (RFC 7489 §3.1, §6.6): relaxed alignment unless the record
	// asks for strict.
	hdr, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))).ReadMIMEHeader()
	from, err := mail.ParseAddress(hdr.Get("From"))
	if err != nil {
		a.DMARC = "permerror"
		return a
	}
	fromDomain := strings.ToLower(from.Address[strings.LastIndexByte(from.Address, '@')+1:])
	a.DMARCDomain = fromDomain
	rec, found := dmarcRecord(fromDomain, lookupTXT)
	if !found {
		a.DMARC = "none"
		return a
	}
	a.DMARC = "fail"
	if a.SPF == "pass" && dnsauth.Aligned(fromDomain, a.SPFDomain, dnsauth.TagValue(rec, "aspf"), dnsauth.OrgDomainPSL) {
		a.DMARC = "pass"
	}
	for _, d := range a.DKIM {
		if d.Result == "pass" && dnsauth.Aligned(fromDomain, d.Domain, dnsauth.TagValue(rec, "adkim"), dnsauth.OrgDomainPSL) {
			a.DMARC = "pass"
		}
	}
	return a
}

// dmarcRecord finds the DMARC record of the domain or of its
// organizational domain.
func dmarcRecord(domain string, lookupTXT func(string) ([]string, error)) (string, bool) {
	names := []string{"_dmarc." + domain}
	if od := dnsauth.OrgDomainPSL(domain); od != domain {
		names = append(names, "_dmarc."+od)
	}
	for _, n := range names {
		txts, err := lookupTXT(n)
		if err != nil {
			continue
		}
		for _, t := range txts {
			if strings.HasPrefix(strings.TrimSpace(t), "v=DMARC1") {
				return t, true
			}
		}
	}
	return "", false
}

func findSignature(raw []byte, domain string) string {
	hdr, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))).ReadMIMEHeader()
	for _, s := range hdr.Values("Dkim-Signature") {
		if strings.EqualFold(dnsauth.TagValue(s, "d"), domain) {
			return s
		}
	}
	return ""
}

// txtOnly adapts a TXT lookup to the SPF library's resolver: the capture
// server has no other DNS, so mechanisms that need A, MX or PTR records
// find none (a void lookup, as the RFC counts it).
type txtOnly struct {
	lookup func(string) ([]string, error)
}

func notFound(name string) error {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (t txtOnly) LookupTXT(_ context.Context, name string) ([]string, error) {
	txts, err := t.lookup(strings.TrimSuffix(name, "."))
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) {
			return nil, err
		}
		return nil, notFound(name)
	}
	return txts, nil
}
func (txtOnly) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	return nil, notFound(name)
}
func (txtOnly) LookupIPAddr(_ context.Context, name string) ([]net.IPAddr, error) {
	return nil, notFound(name)
}
func (txtOnly) LookupAddr(_ context.Context, addr string) ([]string, error) {
	return nil, notFound(addr)
}
