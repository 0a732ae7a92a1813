package capture

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/textproto"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/dnsauth"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// NotChecked is the reason given, beside the results, when the capture
// server was given no resolver (--no-dns).
const NotChecked = "not checked: DNS checks are off"

// authTimeout bounds the DNS work done for one message: SPF alone may ask
// ten lookups (RFC 7208 §4.6.4), each bounded by the resolver, and the
// client waits for its 250 meanwhile.
const authTimeout = 10 * time.Second

// AuthResults is what the capture server concluded about a message, as a
// receiving server would (and as it writes into Authentication-Results).
type AuthResults struct {
	SPF         string       `json:"spf"`
	SPFDomain   string       `json:"spf_domain,omitempty"`
	DKIM        []DKIMResult `json:"dkim,omitempty"`
	DMARC       string       `json:"dmarc"`
	DMARCDomain string       `json:"dmarc_domain,omitempty"`
	// ARC is the chain validation status (RFC 8617): none, pass or fail;
	// ARCReason says why a chain failed.
	ARC       string `json:"arc"`
	ARCReason string `json:"arc_reason,omitempty"`
	// NotChecked says why SPF, DKIM and DMARC were not evaluated (no
	// resolver). The results are then what a receiver without DNS can
	// say: SPF and DMARC "none" (no record was retrieved, RFC 7208
	// §2.6.1, RFC 7489 §6.6.3), an unsigned message "dkim=none" and a
	// signed one "neutral" (RFC 8601 §2.7.1: signed, but the signature
	// could not be processed).
	NotChecked string `json:"not_checked,omitempty"`
}

// DKIMResult is one signature's verification.
type DKIMResult struct {
	Domain   string `json:"domain"`
	Selector string `json:"selector,omitempty"`
	Result   string `json:"result"` // pass, fail, neutral, policy, temperror, permerror (RFC 8601 §2.7.1)
	Reason   string `json:"reason,omitempty"`
}

func (a AuthResults) header() string {
	// RFC 8601 §2.2: a comment says why nothing was looked up.
	why := ""
	if a.NotChecked != "" {
		why = " (" + a.NotChecked + ")"
	}
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
	spfPart := "spf=" + a.SPF + why
	if a.SPFDomain != "" {
		spfPart += " smtp.mailfrom=" + a.SPFDomain
	}
	parts = append(parts, spfPart)
	dm := "dmarc=" + a.DMARC + why
	if a.DMARCDomain != "" {
		dm += " header.from=" + a.DMARCDomain
	}
	parts = append(parts, dm)
	if a.ARC != "" && a.ARC != "none" {
		// RFC 8617 §4.4: the arc method of Authentication-Results.
		parts = append(parts, "arc="+a.ARC+why)
	}
	return "\r\n\t" + strings.Join(parts, ";\r\n\t")
}

// authenticate runs DKIM, SPF and DMARC on an arriving message with
// mailprobe's own evaluators (the ones behind `mailprobe dkim verify`,
// `spf` and `dmarc`), every question asked through r. ip is invalid when
// SPF is not to be evaluated. Without a resolver nothing is evaluated:
// asking some other resolver instead would send the app's domain names
// where the user did not say.
func authenticate(ctx context.Context, r resolver.Interface, raw []byte, ip netip.Addr, helo, mailFrom, receiver string) AuthResults {
	if r == nil {
		a := AuthResults{SPF: "none", DMARC: "none", ARC: "none", NotChecked: NotChecked}
		if bytes.Contains(bytes.ToLower(raw), []byte("\narc-seal:")) {
			a.ARC, a.ARCReason = "neutral", NotChecked
		}
		for _, sig := range signatures(raw) {
			a.DKIM = append(a.DKIM, DKIMResult{Domain: dnsauth.TagValue(sig, "d"), Selector: dnsauth.TagValue(sig, "s"), Result: "neutral", Reason: NotChecked})
		}
		return a
	}
	ctx, cancel := context.WithTimeout(ctx, authTimeout)
	defer cancel()
	var a AuthResults

	// DKIM (RFC 6376). An unreadable message has no verifiable
	// signature: it is reported as unsigned.
	var ids []dnsauth.DKIMIdentity
	if v, err := dnsauth.VerifyDKIM(ctx, r, raw); err == nil {
		for _, s := range v.Signatures {
			a.DKIM = append(a.DKIM, DKIMResult{Domain: s.Domain, Selector: s.Selector, Result: string(s.Result), Reason: s.Reason})
			ids = append(ids, dnsauth.DKIMIdentity{Domain: s.Domain, Result: string(s.Result)})
		}
	}
	// ARC (RFC 8617): what a forwarder that broke DKIM vouched for.
	arcRes := dnsauth.VerifyARC(ctx, r, raw, time.Now())
	a.ARC = string(arcRes.Status)
	if arcRes.Status == "fail" {
		a.ARCReason = arcRes.Reason
	}

	// SPF (RFC 7208 §4): the MAIL FROM identity, or postmaster@HELO for
	// a bounce.
	sender := mailFrom
	if sender == "" {
		sender = "postmaster@" + helo
	}
	if _, d, ok := strings.Cut(sender, "@"); ok {
		a.SPFDomain = strings.ToLower(d)
	}
	if !ip.IsValid() {
		a.SPF = "none"
	} else {
		ev := dnsauth.CheckHost(ctx, r, dnsauth.SPFQuery{IP: ip, Sender: mailFrom, Helo: helo, Receiver: receiver})
		a.SPF = string(ev.Result)
	}

	// DMARC (RFC 7489 §6.6): the From domain's policy, SPF and DKIM
	// aligned with it.
	hdr, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))).ReadMIMEHeader()
	from, err := mail.ParseAddress(hdr.Get("From"))
	if err != nil {
		a.DMARC = "permerror"
		return a
	}
	fromDomain := strings.ToLower(from.Address[strings.LastIndexByte(from.Address, '@')+1:])
	a.DMARCDomain = fromDomain
	p := dnsauth.DiscoverDMARC(ctx, r, fromDomain)
	if p.DNSError != "" {
		a.DMARC = "temperror" // RFC 7489 §6.6.3: try again later
		return a
	}
	a.DMARC = dnsauth.Align(ctx, r, p, a.SPFDomain, a.SPF, ids).Result
	return a
}

// signatures returns the DKIM-Signature fields of the message.
func signatures(raw []byte) []string {
	hdr, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))).ReadMIMEHeader()
	return hdr.Values("Dkim-Signature")
}

// remoteIP is the client's address for SPF (invalid when unknown).
func remoteIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}
