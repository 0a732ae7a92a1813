package dnsauth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
	"github.com/mailprobe/mailprobe/pkg/smtpclient"
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
	why = "no TLSA record matches the presented certificate chain"
	// Any usable matching record authenticates the server (RFC 6698
	// §2.1): a DANE-TA record that fails its checks must not hide a
	// later DANE-EE record that matches.
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
			for j, c := range chain {
				if !MatchTLSA(t, c) {
					continue
				}
				// The matched certificate is the trust anchor: the leaf
				// must chain up to it by signature (RFC 7672 §3.1.2), not
				// merely arrive beside it, and carry the MX name.
				if err := verifyToAnchor(chain, j, host); err != nil {
					why = fmt.Sprintf("TLSA %s matches a certificate of the chain, but the server certificate does not verify up to it for %s: %v", t, host, err)
					continue
				}
				return &records[i], ""
			}
		}
	}
	return nil, why
}

// DANEHost is the DANE state of one MX.
type DANEHost struct {
	Host   string `json:"host"`
	TLSA   []TLSA `json:"tlsa,omitempty"`
	Secure bool   `json:"dnssec"` // the TLSA answer (or its denial) had the AD bit
	Error  string `json:"error,omitempty"`
	// Addrs are the addresses --connect checked, one result each (A
	// records first, then AAAA, in answer order).
	Addrs []DANEAddr `json:"addrs,omitempty"`
	// Checked, Matched and Mismatch sum up Addrs: Checked when some
	// address was judged, Matched the TLSA record the first matching
	// address matched, Mismatch the first problem found at any address
	// (or why the MX could not be resolved).
	Checked  bool   `json:"checked,omitempty"`
	Matched  string `json:"matched,omitempty"`
	Mismatch string `json:"mismatch,omitempty"`
}

// DANEAddr is the STARTTLS check of one address of an MX.
type DANEAddr struct {
	Addr string `json:"addr"` // IP:port
	// Checked is set when the address was judged: its certificate
	// matched or not, or it offered no STARTTLS.
	Checked  bool   `json:"checked"`
	Matched  string `json:"matched,omitempty"`  // the TLSA record that matched
	Mismatch string `json:"mismatch,omitempty"` // why the address fails DANE (Checked)
	Error    string `json:"error,omitempty"`    // why it could not be judged (!Checked)
	// unreachable: this machine has no route to the address's network
	// (typically no IPv6 here), which says nothing about the MX.
	unreachable bool
	rec         *transcript.Recorder
	seq         []int // the dialogue's sequence numbers in DANECheck.Transcript
}

// DANEOptions configure CheckDANE.
type DANEOptions struct {
	// Connect asks for the certificate each MX serves over STARTTLS, at
	// every address of every MX, and matches it against the TLSA records.
	Connect  bool
	Dial     netx.DialFunc // nil: net.Dialer
	Timeouts netx.Timeouts
	// Port is the SMTP port (default 25): TLSA records are looked up at
	// _PORT._tcp.MX (RFC 6698 §3) and --connect dials it.
	Port int
	// Concurrency bounds the connections open at once (default 8).
	Concurrency int
	Helo        string // EHLO name (default "mailprobe.invalid")
	Now         func() time.Time
}

// DANECheck is the result of CheckDANE.
type DANECheck struct {
	Hosts    []DANEHost `json:"hosts"`
	DNSError string     `json:"dns_error,omitempty"`
	// Transcript holds the STARTTLS dialogues of --connect, one after the
	// other (MX order, then address order), numbered from 1, with offsets
	// from the start of the check.
	Transcript []transcript.Entry `json:"-"`
	start      time.Time
	findings   []report.Finding
}

// Findings returns the check's findings.
func (c *DANECheck) Findings() []report.Finding { return c.findings }

const daneStage = "dane"

// defaultDANEConcurrency is how many STARTTLS connections CheckDANE opens
// at once by default: enough for a few dual-stack MX hosts, few enough
// not to look like a flood to a receiver's connection limits.
const defaultDANEConcurrency = 8

// CheckDANE looks up the TLSA records of each MX host (at _PORT._tcp,
// port 25 by default) and, with Connect, checks them against the
// certificate served at every address of each one.
func CheckDANE(ctx context.Context, r resolver.Interface, mxHosts []string, o DANEOptions) *DANECheck {
	if o.Port == 0 {
		o.Port = 25
	}
	if o.Concurrency <= 0 {
		o.Concurrency = defaultDANEConcurrency
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &DANECheck{start: o.Now()}
	hosts := make([]DANEHost, len(mxHosts))
	sem := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
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
				connectHost(ctx, r, dh, o, sem)
			}
		}(&hosts[i])
	}
	wg.Wait()
	c.Hosts = hosts
	c.Transcript = c.mergeTranscripts()
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
		ev := func(f report.Finding) report.Finding { return f.WithRecord(strings.Join(lines, "\n")) }
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
		if o.Connect {
			connectFindings(h, add, ev)
		} else if h.Secure {
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

// connectFindings reports the --connect results of one MX: a finding
// for every address that fails (a DANE sender tries them in turn, and
// every one must authenticate), one for the addresses that match.
func connectFindings(h DANEHost, add func(report.Finding), ev func(report.Finding) report.Finding) {
	if len(h.Addrs) == 0 {
		add(report.New("dane.connect.failed", daneStage, fmt.Sprintf("MX %s: %s.", h.Host, h.Mismatch)))
		return
	}
	var matched []string
	sameRecord := true
	for _, a := range h.Addrs {
		cite := func(f report.Finding) report.Finding {
			if len(a.seq) == 0 {
				return f
			}
			return f.With("transcript", "the STARTTLS dialogue with "+a.Addr, a.seq...)
		}
		switch {
		case a.Matched != "":
			matched = append(matched, a.Addr)
			sameRecord = sameRecord && a.Matched == h.Addrs[0].Matched
		case a.Checked:
			add(cite(ev(report.New("dane.cert.mismatch", daneStage, fmt.Sprintf("MX %s at %s: %s. DANE senders will not deliver to this address.", h.Host, a.Addr, a.Mismatch)))))
		case a.unreachable:
			add(cite(report.New("dane.connect.failed", daneStage, fmt.Sprintf("MX %s at %s: %s. This machine has no route to that network (no IPv6 here?), so the address was not checked; check it from a host that has.", h.Host, a.Addr, a.Error)).WithSeverity(report.Warn)))
		default:
			add(cite(report.New("dane.connect.failed", daneStage, fmt.Sprintf("MX %s at %s: %s.", h.Host, a.Addr, a.Error))))
		}
	}
	if len(matched) == 0 {
		return
	}
	var detail string
	switch {
	case len(h.Addrs) == 1:
		detail = fmt.Sprintf("MX %s serves a certificate matching TLSA %s at %s", h.Host, h.Matched, matched[0])
	case len(matched) == len(h.Addrs) && sameRecord:
		detail = fmt.Sprintf("MX %s serves a certificate matching TLSA %s at every address (%s)", h.Host, h.Matched, strings.Join(matched, ", "))
	default:
		var parts []string
		for _, a := range h.Addrs {
			if a.Matched != "" {
				parts = append(parts, fmt.Sprintf("%s matches TLSA %s", a.Addr, a.Matched))
			}
		}
		detail = fmt.Sprintf("MX %s, %d of %d address(es): %s", h.Host, len(matched), len(h.Addrs), strings.Join(parts, "; "))
	}
	add(report.New("dane.cert.match", daneStage, detail))
}

// connectHost resolves an MX and checks every address, at most
// o.Concurrency connections at once across the whole check.
func connectHost(ctx context.Context, r resolver.Interface, dh *DANEHost, o DANEOptions, sem chan struct{}) {
	ips, err := r.LookupIP(ctx, dh.Host)
	if err != nil || len(ips) == 0 {
		dh.Mismatch = "cannot resolve the MX to connect to it"
		if err != nil && !resolver.IsNotFound(err) {
			dh.Mismatch += ": " + err.Error()
		}
		return
	}
	seen := map[netip.Addr]bool{}
	for _, ip := range ips {
		if len(dh.Addrs) == MaxAddrsPerMX {
			break // a bound on the connections one host costs
		}
		if ip = ip.Unmap(); !seen[ip] {
			seen[ip] = true
			dh.Addrs = append(dh.Addrs, DANEAddr{Addr: net.JoinHostPort(ip.String(), strconv.Itoa(o.Port))})
		}
	}
	var wg sync.WaitGroup
	for i := range dh.Addrs {
		wg.Add(1)
		go func(a *DANEAddr) {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				a.Error = "not checked: " + ctx.Err().Error()
				return
			}
			defer func() { <-sem }()
			connectDANE(ctx, dh, a, o)
		}(&dh.Addrs[i])
	}
	wg.Wait()
	for _, a := range dh.Addrs {
		dh.Checked = dh.Checked || a.Checked
		if dh.Matched == "" && a.Matched != "" {
			dh.Matched = a.Matched
		}
		if dh.Mismatch == "" {
			switch {
			case a.Checked && a.Matched == "":
				dh.Mismatch = a.Addr + ": " + a.Mismatch
			case !a.Checked:
				dh.Mismatch = a.Addr + ": " + a.Error
			}
		}
	}
}

// connectDANE fetches the certificate served at one address of an MX
// after STARTTLS and matches it, recording the dialogue.
func connectDANE(ctx context.Context, dh *DANEHost, a *DANEAddr, o DANEOptions) {
	rec := transcript.New(o.Now)
	a.rec = rec
	rec.Event("DANE: MX %s at %s, TLSA at _%d._tcp.%s", dh.Host, a.Addr, o.Port, dh.Host)
	s, err := smtpclient.Dial(ctx, a.Addr, rec, smtpclient.DialOptions{Dial: o.Dial, Timeouts: o.Timeouts})
	if err != nil {
		a.Error = "connecting: " + err.Error()
		a.unreachable = errors.Is(err, syscall.ENETUNREACH)
		return
	}
	defer s.Close()
	fail := func(what string, err error) {
		a.Error = what + ": " + err.Error()
	}
	if rp, err := s.ReadReply(ctx, 0); err != nil || rp.Code != 220 {
		fail("reading the greeting", errOrReply(err, rp))
		return
	}
	helo := o.Helo
	if helo == "" {
		helo = "mailprobe.invalid"
	}
	ehlo, err := s.Cmd(ctx, "EHLO "+helo)
	if err != nil || ehlo.Code != 250 {
		fail("EHLO", errOrReply(err, ehlo))
		return
	}
	if !smtpclient.ParseEHLO(ehlo).Has("STARTTLS") {
		a.Mismatch = "the server does not offer STARTTLS, so DANE senders cannot deliver (RFC 7672 §2.2)"
		a.Checked = true
		_, _ = s.Quit(ctx)
		return
	}
	st, err := s.Cmd(ctx, "STARTTLS")
	if err != nil || st.Code != 220 {
		fail("STARTTLS", errOrReply(err, st))
		return
	}
	// DANE replaces WebPKI validation: the chain is judged by the TLSA
	// records alone (RFC 7672 §3.1), so Go's verification is skipped
	// and MatchChain does the checking.
	if _, err := s.StartTLS(ctx, &tls.Config{ServerName: dh.Host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}); err != nil { //nolint:gosec // DANE authenticates instead
		fail("TLS handshake", err)
		return
	}
	a.Checked = true
	if m, why := MatchChain(dh.TLSA, s.TLS().PeerCertificates, dh.Host); m != nil {
		a.Matched = m.String()
		rec.Event("DANE: the certificate matches TLSA %s", a.Matched)
	} else {
		a.Mismatch = why
		rec.Event("DANE: %s", why)
	}
	_, _ = s.Quit(ctx)
}

// mergeTranscripts puts the dialogues one after the other, MX by MX and
// address by address, renumbered from 1 and with offsets from the start
// of the check, and notes each one's range for the findings that cite it.
func (c *DANECheck) mergeTranscripts() []transcript.Entry {
	var out []transcript.Entry
	for hi := range c.Hosts {
		for ai := range c.Hosts[hi].Addrs {
			a := &c.Hosts[hi].Addrs[ai]
			if a.rec == nil {
				continue
			}
			shift := a.rec.Start().Sub(c.start)
			for _, e := range a.rec.Entries() {
				if len(out) >= transcript.MaxEntries {
					break
				}
				e.Seq = len(out) + 1
				e.T += shift
				out = append(out, e)
				a.seq = append(a.seq, e.Seq)
			}
		}
	}
	return out
}

func errOrReply(err error, rp smtpclient.Reply) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("server replied %s", rp.Short())
}

// verifyToAnchor checks that chain[0] is signed, through chain[1:anchor],
// by chain[anchor] (the DANE trust anchor) and is valid for host.
func verifyToAnchor(chain []*x509.Certificate, anchor int, host string) error {
	roots := x509.NewCertPool()
	roots.AddCert(chain[anchor])
	inter := x509.NewCertPool()
	for i := 1; i < anchor; i++ {
		inter.AddCert(chain[i])
	}
	_, err := chain[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err
}
