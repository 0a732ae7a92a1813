package dnsauth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mailprobe/mailprobe/pkg/dialogue"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// DANE for SMTP, RFC 7672 on RFC 6698: TLSA records at _25._tcp.MXHOST
// pin the certificate (usage 3, DANE-EE) or the issuing CA (usage 2,
// DANE-TA) of each MX. They count only when DNSSEC-validated (the AD bit
// from a validating resolver, RFC 7672 §2.2). Usages 0 and 1 (PKIX-TA,
// PKIX-EE) are not for SMTP (§3.1.3).

// TLSA is one TLSA record, as published.
type TLSA struct {
	Usage        uint8  `json:"usage"`
	Selector     uint8  `json:"selector"`
	MatchingType uint8  `json:"matching_type"`
	Data         string `json:"data"` // hex
}

func (t TLSA) String() string {
	return fmt.Sprintf("%d %d %d %s", t.Usage, t.Selector, t.MatchingType, t.Data)
}

// CheckTLSAParams validates a record's fields (RFC 6698 §2.1, §7.2-7.4;
// RFC 7672 §3.1.3).
func CheckTLSAParams(t TLSA) error {
	if t.Usage > 3 {
		return fmt.Errorf("usage %d is not 0-3", t.Usage)
	}
	if t.Selector > 1 {
		return fmt.Errorf("selector %d is not 0 (full certificate) or 1 (public key)", t.Selector)
	}
	data, err := hex.DecodeString(t.Data)
	if err != nil || len(data) == 0 {
		return fmt.Errorf("the association data is not hexadecimal")
	}
	switch t.MatchingType {
	case 0:
	case 1:
		if len(data) != sha256.Size {
			return fmt.Errorf("matching type 1 (SHA-256) needs %d octets, the record has %d", sha256.Size, len(data))
		}
	case 2:
		if len(data) != sha512.Size {
			return fmt.Errorf("matching type 2 (SHA-512) needs %d octets, the record has %d", sha512.Size, len(data))
		}
	default:
		return fmt.Errorf("matching type %d is not 0-2", t.MatchingType)
	}
	return nil
}

// MatchTLSA reports whether cert matches the record's selector and
// matching type (RFC 6698 §2.1.2, §2.1.3).
func MatchTLSA(t TLSA, cert *x509.Certificate) bool {
	var content []byte
	switch t.Selector {
	case 0:
		content = cert.Raw
	case 1:
		content = cert.RawSubjectPublicKeyInfo
	default:
		return false
	}
	want, err := hex.DecodeString(t.Data)
	if err != nil {
		return false
	}
	switch t.MatchingType {
	case 0:
		return bytes.Equal(content, want)
	case 1:
		h := sha256.Sum256(content)
		return bytes.Equal(h[:], want)
	case 2:
		h := sha512.Sum512(content)
		return bytes.Equal(h[:], want)
	}
	return false
}

// MatchChain applies a TLSA RRset to the chain a server presented (leaf
// first): DANE-EE (3) must match the leaf, DANE-TA (2) any certificate of
// the chain, and with DANE-TA the leaf must also carry the MX name (RFC
// 7672 §3.2.2; DANE-EE skips name checks, §3.2.1). PKIX usages (0, 1) are
// matched like their DANE counterparts but reported as unsuitable.
func MatchChain(records []TLSA, chain []*x509.Certificate, host string) (matched *TLSA, why string) {
	if len(chain) == 0 {
		return nil, "the server presented no certificate"
	}
	for i := range records {
		t := records[i]
		if CheckTLSAParams(t) != nil {
			continue
		}
		switch t.Usage {
		case 3, 1:
			if MatchTLSA(t, chain[0]) {
				return &records[i], ""
			}
		case 2, 0:
			for _, c := range chain {
				if MatchTLSA(t, c) {
					if err := chain[0].VerifyHostname(host); err != nil {
						return nil, fmt.Sprintf("TLSA %s matches the issuer, but the certificate is not for %s", t, host)
					}
					return &records[i], ""
				}
			}
		}
	}
	return nil, "no TLSA record matches the presented certificate chain"
}

// DANEHost is the DANE state of one MX.
type DANEHost struct {
	Host     string `json:"host"`
	TLSA     []TLSA `json:"tlsa,omitempty"`
	Secure   bool   `json:"dnssec"` // the TLSA answer (or its denial) had the AD bit
	Error    string `json:"error,omitempty"`
	Checked  bool   `json:"checked,omitempty"` // --connect ran
	Matched  string `json:"matched,omitempty"`
	Mismatch string `json:"mismatch,omitempty"`
}

// DANEOptions configure CheckDANE.
type DANEOptions struct {
	// Connect asks for the certificate each MX serves over STARTTLS and
	// matches it against the TLSA records.
	Connect  bool
	Dial     netx.DialFunc // nil: net.Dialer
	Timeouts netx.Timeouts
	// Port is the SMTP port (default 25; tests use another).
	Port int
	Helo string // EHLO name (default "mailprobe.invalid")
	Now  func() time.Time
}

// DANECheck is the result of CheckDANE.
type DANECheck struct {
	Hosts      []DANEHost         `json:"hosts"`
	DNSError   string             `json:"dns_error,omitempty"`
	Transcript []transcript.Entry `json:"-"`
	findings   []report.Finding
}

// Findings returns the check's findings.
func (c *DANECheck) Findings() []report.Finding { return c.findings }

const daneStage = "dane"

// CheckDANE looks up the TLSA records of each MX host (port 25) and, with
// Connect, checks them against the certificate each one serves.
func CheckDANE(ctx context.Context, r *resolver.Resolver, mxHosts []string, o DANEOptions) *DANECheck {
	c := &DANECheck{}
	if o.Port == 0 {
		o.Port = 25
	}
	hosts := make([]DANEHost, len(mxHosts))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var entries []transcript.Entry
	for i, h := range mxHosts {
		hosts[i].Host = h
		wg.Add(1)
		go func(dh *DANEHost) {
			defer wg.Done()
			name := fmt.Sprintf("_%d._tcp.%s", o.Port, dh.Host)
			recs, ans, err := r.LookupTLSA(ctx, name)
			if ans != nil {
				dh.Secure = ans.AD
			}
			if err != nil {
				if !resolver.IsNotFound(err) {
					dh.Error = err.Error()
				}
				return
			}
			for _, t := range recs {
				dh.TLSA = append(dh.TLSA, TLSA{Usage: t.Usage, Selector: t.Selector, MatchingType: t.MatchingType, Data: strings.ToLower(t.Certificate)})
			}
			if o.Connect && len(dh.TLSA) > 0 {
				es := connectDANE(ctx, r, dh, o)
				mu.Lock()
				entries = append(entries, es...)
				mu.Unlock()
			}
		}(&hosts[i])
	}
	wg.Wait()
	c.Hosts = hosts
	c.Transcript = entries
	add := func(f report.Finding) { c.findings = append(c.findings, f) }
	withTLSA := 0
	for _, h := range hosts {
		if h.Error != "" {
			if c.DNSError == "" {
				c.DNSError = h.Error
			}
			add(report.New("dane.dns.error", daneStage, fmt.Sprintf("TLSA lookup for MX %s failed: %s. A DANE sender treats a failed TLSA lookup as a reason to defer delivery (RFC 7672 §2.2.1).", h.Host, h.Error)))
			continue
		}
		if len(h.TLSA) == 0 {
			continue
		}
		withTLSA++
		var lines []string
		for _, t := range h.TLSA {
			lines = append(lines, fmt.Sprintf("_%d._tcp.%s TLSA %s", o.Port, h.Host, t))
		}
		ev := func(f report.Finding) report.Finding { return f.With("record", strings.Join(lines, "\n")) }
		if !h.Secure {
			add(ev(report.New("dane.tlsa.insecure", daneStage, fmt.Sprintf("MX %s has TLSA records but the answer is not DNSSEC-validated (no AD bit): senders ignore them (RFC 7672 §2.2). Either the zone is unsigned or the resolver does not validate (use --resolver with a validating resolver).", h.Host))))
		}
		for _, t := range h.TLSA {
			if err := CheckTLSAParams(t); err != nil {
				add(ev(report.New("dane.tlsa.invalid", daneStage, fmt.Sprintf("MX %s: TLSA %s: %v; senders ignore this record.", h.Host, t, err))))
				continue
			}
			if t.Usage < 2 {
				add(ev(report.New("dane.tlsa.pkix-usage", daneStage, fmt.Sprintf("MX %s: TLSA usage %d (PKIX-%s) is not for SMTP: RFC 7672 §3.1.3 says senders treat it as unusable. Use 3 1 1 (DANE-EE, public key, SHA-256).", h.Host, t.Usage, map[uint8]string{0: "TA", 1: "EE"}[t.Usage]))))
			}
		}
		if h.Checked {
			if h.Matched != "" {
				add(report.New("dane.cert.match", daneStage, fmt.Sprintf("MX %s serves a certificate matching TLSA %s", h.Host, h.Matched)))
			} else {
				add(ev(report.New("dane.cert.mismatch", daneStage, fmt.Sprintf("MX %s: %s. DANE senders will not deliver to it.", h.Host, h.Mismatch))))
			}
		} else if h.Mismatch != "" {
			add(report.New("dane.connect.failed", daneStage, fmt.Sprintf("MX %s: %s.", h.Host, h.Mismatch)))
		}
		if h.Secure && !h.Checked && h.Mismatch == "" {
			add(report.New("dane.tlsa.ok", daneStage, fmt.Sprintf("MX %s: %d DNSSEC-validated TLSA record(s) (use --connect to match them against the served certificate)", h.Host, len(h.TLSA))))
		}
	}
	if withTLSA == 0 && c.DNSError == "" && len(hosts) > 0 {
		add(report.New("dane.tlsa.missing", daneStage, "No MX publishes TLSA records: DANE senders (many European providers, Microsoft 365 inbound) deliver with opportunistic TLS only."))
	} else if withTLSA > 0 && withTLSA < len(hosts) {
		add(report.New("dane.tlsa.partial", daneStage, fmt.Sprintf("%d of %d MX hosts publish TLSA records; DANE senders protect delivery only to those.", withTLSA, len(hosts))))
	}
	return c
}

// connectDANE fetches the certificate an MX serves after STARTTLS and
// matches it. Only the first address is tried.
func connectDANE(ctx context.Context, r *resolver.Resolver, dh *DANEHost, o DANEOptions) []transcript.Entry {
	ips, err := r.LookupIP(ctx, dh.Host)
	if err != nil || len(ips) == 0 {
		dh.Mismatch = "cannot resolve the MX to connect to it"
		return nil
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	rec := transcript.New(now)
	addr := net.JoinHostPort(ips[0].String(), strconv.Itoa(o.Port))
	s, err := dialogue.Dial(ctx, addr, rec, dialogue.DialOptions{Dial: o.Dial, Timeouts: o.Timeouts})
	if err != nil {
		dh.Mismatch = "connecting to " + addr + ": " + err.Error()
		return rec.Entries()
	}
	defer s.Close()
	fail := func(what string, err error) []transcript.Entry {
		dh.Mismatch = what + ": " + err.Error()
		return rec.Entries()
	}
	if _, err := s.ReadReply(ctx, 0); err != nil {
		return fail("reading the greeting", err)
	}
	helo := o.Helo
	if helo == "" {
		helo = "mailprobe.invalid"
	}
	ehlo, err := s.Cmd(ctx, "EHLO "+helo)
	if err != nil || ehlo.Code != 250 {
		return fail("EHLO", errOrReply(err, ehlo))
	}
	if !strings.Contains(strings.ToUpper(strings.Join(ehlo.Lines, "\n")), "STARTTLS") {
		dh.Mismatch = "the server does not offer STARTTLS, so DANE senders cannot deliver (RFC 7672 §2.2)"
		dh.Checked = true
		return rec.Entries()
	}
	st, err := s.Cmd(ctx, "STARTTLS")
	if err != nil || st.Code != 220 {
		return fail("STARTTLS", errOrReply(err, st))
	}
	// DANE replaces WebPKI validation: the chain is judged by the TLSA
	// records alone (RFC 7672 §3.1), so Go's verification is skipped
	// and MatchChain does the checking.
	if _, err := s.StartTLS(ctx, &tls.Config{ServerName: dh.Host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}); err != nil { //nolint:gosec // DANE authenticates instead
		return fail("TLS handshake", err)
	}
	dh.Checked = true
	if m, why := MatchChain(dh.TLSA, s.TLS().PeerCertificates, dh.Host); m != nil {
		dh.Matched = m.String()
	} else {
		dh.Mismatch = why
	}
	_, _ = s.Quit(ctx)
	return rec.Entries()
}

func errOrReply(err error, rp dialogue.Reply) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("server replied %s", rp.Short())
}
