// Package tlsprobe audits the TLS of a mail port: the protocol versions
// (SSL 3.0 to TLS 1.3) and cipher suites the server accepts, its suite
// preference, its key exchange groups and DH size, the certificate, and
// the STARTTLS upgrade itself, including the command injection class of
// CVE-2011-0411.
//
// Versions and suites are found with hand-built ClientHellos (hello.go,
// RFC 5246 §7.4.1.2 and RFC 8446 §4.1.2), so the scan is not limited to
// what crypto/tls implements: RC4, 3DES, export, NULL, anonymous, DHE,
// Camellia, ARIA and every other registered suite is found by its IANA
// code. Only the ServerHello (and, for TLS 1.2 and older, the
// ServerKeyExchange) is read; no handshake is completed except the one
// crypto/tls does for the certificate.
//
// Before TLS the package speaks SMTP (RFC 3207), IMAP (RFC 9051 §6.2.1,
// RFC 2595) or POP3 (RFC 2595 §4), or nothing for implicit TLS (RFC 8314).
// Findings are graded by the port's role: on a port-25 MX listener TLS is
// opportunistic (RFC 3207, RFC 7435), so weak protocols and suites are
// information; on submission, IMAP and POP3, where passwords travel, they
// are warnings and failures (RFC 8314, RFC 9325).
package tlsprobe

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/mailprobe/mailprobe/pkg/certcheck"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// Role is what a port is for; it decides how strict the grading is. It
// is netx's, the one port→role vocabulary of every engine.
type Role = netx.Role

// The roles; RoleAuto takes the port's role from netx.MailPorts.
const (
	RoleAuto       Role = ""
	RoleMX              = netx.RoleMX         // port 25: server-to-server, opportunistic TLS (RFC 7435)
	RoleSubmission      = netx.RoleSubmission // 587, 465: clients send passwords (RFC 8314, RFC 6409)
	RoleIMAP            = netx.RoleIMAP
	RolePOP3            = netx.RolePOP3
)

// ParseRole reads a --role value (netx.ParseRole; kept for pkg/cli).
func ParseRole(s string) (Role, error) { return netx.ParseRole(s) }

// roleFor is the default role of a port: the one in netx.MailPorts, else
// the protocol spoken on it (submission for SMTP: the strict choice).
func roleFor(port int, p Proto) Role {
	if info, ok := netx.PortInfo(port); ok {
		return info.Role
	}
	switch p {
	case ProtoIMAP:
		return RoleIMAP
	case ProtoPOP3:
		return RolePOP3
	}
	return RoleSubmission
}

// Options of a scan. Zero values are usable defaults.
type Options struct {
	Host string
	Port int // default 25
	// StartTLS is the protocol before TLS; "" or ProtoAuto picks by
	// port and then by the greeting.
	StartTLS Proto
	Role     Role // "" = by port

	ServerName string         // SNI and the name the certificate must match; default Host
	RootCAs    *x509.CertPool // nil = system roots
	// Insecure: the certificate need not be trusted. Chain and name
	// problems are still reported, as warnings, and the report says the
	// verification was waived.
	Insecure bool
	Helo     string // EHLO name; default "mailprobe.invalid"

	// Quick runs one handshake: the negotiated protocol and suite, the
	// certificate and the STARTTLS behaviour, without enumeration.
	Quick bool
	// NoVulns skips the vulnerability checks (vuln.go).
	NoVulns bool
	// Profile grades the port under a published guideline
	// (profile.go): "" (none), ProfileInternetNL or ProfileBSI.
	Profile string
	// CertWarnDays is the certificate expiry warning window in days
	// (0 = certcheck's default, 21); within 7 days (or CertWarnDays
	// when smaller) expiry is a failure.
	CertWarnDays int
	// Parallel bounds concurrent connections (default 4). Mail servers
	// rate-limit connections per client; a small number is both polite
	// and, on a LAN, fast enough.
	Parallel int

	Dial     netx.DialFunc // nil = net.Dialer
	Timeouts netx.Timeouts
	Now      func() time.Time
	// Progress, when set, is called after every handshake (from several
	// goroutines; the callee synchronises).
	Progress func(Progress)
}

// DefaultParallel is the default bound on concurrent connections.
const DefaultParallel = 4

// Scan audits the TLS of one port. The error is non-nil only for
// mailprobe's own failures (bad options); everything about the server is
// in the report, whose Facts["scan"] holds the *Result.
func Scan(ctx context.Context, o Options) (*report.Report, error) {
	if o.Host == "" {
		return nil, errors.New("no host given")
	}
	if o.Port == 0 {
		o.Port = 25
	}
	if o.Port < 1 || o.Port > 65535 {
		return nil, fmt.Errorf("port %d out of range", o.Port)
	}
	if o.StartTLS == "" {
		o.StartTLS = ProtoAuto
	}
	if _, err := ParseProto(string(o.StartTLS)); err != nil {
		return nil, err
	}
	if _, err := ParseRole(string(o.Role)); err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	p, err := ParseProfile(o.Profile)
	if err != nil {
		return nil, err
	}
	o.Profile = p
	if o.CertWarnDays < 0 || o.CertWarnDays > 3650 {
		return nil, fmt.Errorf("--cert-warn-days %d out of range (0 to 3650)", o.CertWarnDays)
	}
	if o.Parallel > 32 {
		o.Parallel = 32
	}
	if o.Helo == "" {
		o.Helo = "mailprobe.invalid"
	}
	if o.ServerName == "" {
		o.ServerName = strings.TrimSuffix(strings.Trim(o.Host, "[]"), ".")
	}
	if o.Dial == nil {
		d := &net.Dialer{}
		o.Dial = d.DialContext
	}
	rec := transcript.New(o.Now)
	rep := report.NewReport("tls", hostPort(o.Host, o.Port), rec.Start())
	sc := &scanner{o: o, t: o.Timeouts.WithDefaults(), rec: rec, rep: rep, res: &Result{Quick: o.Quick},
		stages: report.NewStages(rep, o.Now, rec, nil)}
	sc.run(ctx)
	rep.Transcript = rec.Entries()
	rep.Duration = o.Now().Sub(rep.StartedAt)
	rep.SortFindings()
	return rep, nil
}

// ResultOf returns the structured result of a scan report.
func ResultOf(rep *report.Report) *Result {
	r, _ := rep.Facts["scan"].(*Result)
	return r
}

// Result is the structured outcome of a scan (JSON: facts.scan).
type Result struct {
	StartTLS Proto  `json:"starttls"`
	Role     Role   `json:"role"`
	Address  string `json:"address,omitempty"`
	Quick    bool   `json:"quick"`
	// Negotiated is what crypto/tls agreed on: the server's choice for a
	// current client.
	Negotiated *Negotiated      `json:"negotiated,omitempty"`
	Versions   []*VersionResult `json:"versions,omitempty"`
	// Resumption is the session resumption check (resumption.go).
	Resumption *ResumptionResult `json:"resumption,omitempty"`
	// SSLv2 is the hand-built SSLv2 probe (sslv2.go).
	SSLv2 *SSLv2Result `json:"sslv2,omitempty"`
	// Groups are the TLS 1.3 key exchange groups; ECDHEGroups the curves
	// used for ECDHE in TLS 1.2 and older.
	Groups      []GroupResult `json:"groups_tls13,omitempty"`
	ECDHEGroups []GroupResult `json:"groups_ecdhe,omitempty"`
	// Grade is the --profile grade (profile.go).
	Grade *Grade `json:"grade,omitempty"`
	// GroupOrder is the server's group preference for TLS 1.3 and for
	// ECDHE in TLS 1.2 and older (categories.go).
	GroupOrder []*GroupOrder `json:"group_order,omitempty"`
	// DHBits is the smallest DHE prime seen (0: no DHE).
	DHBits int `json:"dh_bits,omitempty"`
	// ExportRSABits is the temporary RSA key of export suites (FREAK).
	ExportRSABits       int    `json:"export_rsa_bits,omitempty"`
	SecureRenegotiation *bool  `json:"secure_renegotiation,omitempty"`
	Injection           string `json:"starttls_injection,omitempty"` // vulnerable, safe, rejected, inconclusive, not-applicable
	Handshakes          int    `json:"handshakes"`
	Complete            bool   `json:"complete"`
}

// Negotiated describes the crypto/tls handshake.
type Negotiated struct {
	Version string `json:"version"`
	Suite   string `json:"suite"`
	OpenSSL string `json:"openssl,omitempty"`
	Group   string `json:"group,omitempty"`
}

// VersionResult is the enumeration of one protocol version.
type VersionResult struct {
	Version   string `json:"version"`
	Code      uint16 `json:"-"`
	Supported bool   `json:"supported"`
	// Suites are in the order the server chose them: its preference
	// order when ServerPreference is true.
	Suites           []SuiteResult `json:"suites,omitempty"`
	ServerPreference *bool         `json:"server_preference,omitempty"`
	// Note says why the enumeration stopped early, when it did.
	Note string `json:"note,omitempty"`
}

// SuiteResult is one accepted suite.
type SuiteResult struct {
	Code    string   `json:"code"`
	ID      uint16   `json:"-"`
	Name    string   `json:"iana"`
	OpenSSL string   `json:"openssl,omitempty"`
	Kx      string   `json:"kx"`
	Auth    string   `json:"auth"`
	Enc     string   `json:"enc"`
	Bits    int      `json:"bits"`
	Mac     string   `json:"mac"`
	Flags   []string `json:"flags,omitempty"`
	Group   string   `json:"group,omitempty"`
	DHBits  int      `json:"dh_bits,omitempty"`
}

// GroupResult is one key exchange group.
type GroupResult struct {
	Name string `json:"name"`
	Code string `json:"code"`
	Bits int    `json:"bits"`
	Kind string `json:"kind"`
}

func groupResult(id uint16) GroupResult {
	g, _ := LookupGroup(id)
	return GroupResult{Name: g.Name, Code: fmt.Sprintf("0x%04X", id), Bits: g.Bits, Kind: g.Kind}
}

// Supported lists the accepted versions, oldest first.
func (r *Result) Supported() []string {
	var out []string
	if r.SSLv2 != nil && r.SSLv2.Supported {
		out = append(out, "SSL 2.0")
	}
	for _, v := range r.Versions {
		if v.Supported {
			out = append(out, v.Version)
		}
	}
	return out
}

// Version returns the result for version v, or nil when it was not probed.
func (r *Result) Version(v uint16) *VersionResult {
	for _, x := range r.Versions {
		if x.Code == v {
			return x
		}
	}
	return nil
}

// scanner is the state of one scan.
type scanner struct {
	o   Options
	t   netx.Timeouts
	rec *transcript.Recorder
	rep *report.Report
	res *Result
	// stages times the scan's stages (report.Stages, the one timer).
	stages *report.Stages

	proto Proto
	role  Role
	addr  string // the pinned address after the first connect
	sni   string

	state     *tls.ConnectionState // the crypto/tls handshake, when it worked
	certState *tls.ConnectionState // certificates for certcheck (from crypto/tls or a raw probe)
	greet     *greeting
	pipelined []byte // bytes the server sent after the STARTTLS go-ahead, before TLS
	injectRaw bool   // the injection test ran on the first connection

	primaryHandshakes int   // crypto/tls handshakes
	probeRefusals     int   // probe connections refused before TLS (each retried once)
	handshakeErr      error // why the crypto/tls handshake failed

	versions []*versionScan
	groups13 *groupScan
	ecdhe    *groupScan

	vulnResults []VulnResult // what vulns() found, for the profile grade
	certFacts   *certcheck.Facts
}

// begin starts timing a stage with the one stage timer (report.Stages):
// the scan's clock, its transcript's seq range.
func (sc *scanner) begin(name string) *report.StageTimer { return sc.stages.Begin(name) }

// skip adds stages that were not attempted, with why.
func (sc *scanner) skip(why string, names ...string) { sc.stages.Skip(why, names...) }

func (sc *scanner) add(fs ...report.Finding) { sc.rep.Add(fs...) }

var laterStages = []string{"banner", "capabilities", "starttls", "handshake", "certificate", "injection", "protocols", "ciphers", "groups"}

// skipAfter marks every stage after from as skipped.
func (sc *scanner) skipAfter(from, why string) {
	for i, n := range laterStages {
		if n == from {
			sc.skip(why, laterStages[i+1:]...)
			return
		}
	}
	sc.skip(why, laterStages...)
}

func (sc *scanner) run(ctx context.Context) {
	o := sc.o
	sc.sni = sniName(o.ServerName)
	defer func() {
		sc.res.StartTLS, sc.res.Role, sc.res.Address = sc.proto, sc.role, sc.addr
		sc.rep.SetFact("scan", sc.res)
		sc.setFacts()
	}()
	if !sc.primary(ctx) {
		return
	}
	if o.Quick {
		sc.skip("--quick", "protocols", "ciphers", "groups")
		detail := "One handshake was made; other protocol versions, suites and groups were not tried."
		if sc.primaryHandshakes > 1 {
			detail = fmt.Sprintf("%d connections were made (the server dropped the one carrying the injection test, so a clean one followed) and one handshake completed; other protocol versions, suites and groups were not tried.", sc.primaryHandshakes)
		}
		sc.add(report.New("tls.scan.quick", "handshake", detail))
		sc.res.Handshakes = sc.primaryHandshakes
		sc.res.Complete = true
		sc.grade()
		return
	}
	sc.enumerate(ctx)
	sc.resume(ctx)
	sc.vulns(ctx)
	sc.grade()
}

// enumerate runs the version, suite and group enumeration in parallel
// chains bounded by Options.Parallel.
func (sc *scanner) enumerate(ctx context.Context) {
	p := newProber(prober{
		dial: sc.o.Dial, addr: sc.addr, proto: sc.proto, helo: sc.o.Helo, t: sc.t, rec: sc.rec,
		sem: make(chan struct{}, sc.o.Parallel), width: sc.o.Parallel, progress: sc.o.Progress,
	})
	start := sc.o.Now()
	var mu sync.Mutex
	versions := AllVersions
	scans := make([]*versionScan, len(versions))
	var wg sync.WaitGroup
	wg.Go(func() {
		r := p.sslv2(ctx)
		mu.Lock()
		sc.res.SSLv2 = r
		mu.Unlock()
	})
	for i, v := range versions {
		wg.Go(func() {
			var onFirst func(pick)
			if v == VersionTLS13 {
				// The TLS 1.3 groups need only to know that TLS 1.3 works:
				// start them beside the rest of the suite chain.
				onFirst = func(first pick) {
					var known []uint16
					if first.group != 0 {
						known = []uint16{first.group}
					}
					wg.Go(func() {
						gs := p.enumerateGroups(ctx, v, SuitesFor(v), known, sc.sni)
						mu.Lock()
						sc.groups13 = gs
						mu.Unlock()
					})
				}
			}
			vs := p.enumerateVersion(ctx, v, sc.sni, onFirst)
			mu.Lock()
			scans[i] = vs
			mu.Unlock()
			if v == VersionTLS12 {
				if suites, known := ecdheOf(vs); len(suites) > 0 {
					gs := p.enumerateGroups(ctx, v, suites, known, sc.sni)
					mu.Lock()
					sc.ecdhe = gs
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	sc.versions = scans
	// A server without TLS 1.2 ECDHE may still do ECDHE in an older version.
	if sc.ecdhe == nil {
		for i := len(scans) - 1; i >= 0; i-- {
			if vs := scans[i]; vs.version < VersionTLS12 {
				if suites, known := ecdheOf(vs); len(suites) > 0 {
					sc.ecdhe = p.enumerateGroups(ctx, vs.version, suites, known, sc.sni)
					break
				}
			}
		}
	}
	sc.buildResult()
	// Group order: two probes per family, once the groups are known.
	if g := p.groupOrder(ctx, VersionTLS13, SuitesFor(VersionTLS13), sc.res.Groups, sc.sni); g != nil {
		sc.res.GroupOrder = append(sc.res.GroupOrder, g)
	}
	if sc.ecdhe != nil {
		for _, vs := range scans {
			if vs.version == sc.ecdhe.version {
				if suites, _ := ecdheOf(vs); len(suites) > 0 {
					if g := p.groupOrder(ctx, vs.version, suites, sc.res.ECDHEGroups, sc.sni); g != nil {
						sc.res.GroupOrder = append(sc.res.GroupOrder, g)
					}
				}
			}
		}
	}
	end := sc.o.Now()
	sc.res.Handshakes = sc.primaryHandshakes + int(p.count.Load())
	sc.probeRefusals = int(p.refusals.Load())

	// Stages: protocols and ciphers come from the same chains.
	status := report.StatusOK
	if !sc.res.Complete {
		status = report.StatusError
	}
	sup := sc.res.Supported()
	if len(sup) == 0 {
		sup = []string{"none"}
	}
	sc.rep.AddStage(report.Stage{Name: "protocols", Status: status, Start: start.Sub(sc.rep.StartedAt), Duration: end.Sub(start), Summary: strings.Join(sup, ", ")})
	n := 0
	for _, v := range sc.res.Versions {
		n += len(v.Suites)
	}
	sc.rep.AddStage(report.Stage{Name: "ciphers", Status: status, Start: start.Sub(sc.rep.StartedAt), Duration: end.Sub(start),
		Summary: fmt.Sprintf("%d accepted (version, suite) pairs in %d handshakes", n, sc.res.Handshakes)})
	var gnames []string
	for _, g := range append(append([]GroupResult(nil), sc.res.Groups...), sc.res.ECDHEGroups...) {
		gnames = append(gnames, g.Name)
	}
	gs := report.Stage{Name: "groups", Status: report.StatusInfo, Start: start.Sub(sc.rep.StartedAt), Duration: end.Sub(start), Summary: strings.Join(dedupe(gnames), ", ")}
	if len(gnames) == 0 {
		gs.Summary = "no ECDHE or TLS 1.3"
	}
	sc.rep.AddStage(gs)

	// No crypto/tls handshake worked: a raw probe of TLS 1.2 or older
	// carries the certificate in clear.
	if sc.certState == nil {
		if certs := sc.rawCerts(); len(certs) > 0 {
			sc.analyzeCert(tls.ConnectionState{PeerCertificates: certs}, "Certificates read from a raw ServerHello flight: crypto/tls could not complete a handshake with this server.")
		}
	}
	if s := sc.res.SSLv2; s != nil && s.cert != nil && sc.certState != nil && len(sc.certState.PeerCertificates) > 0 {
		same := bytes.Equal(s.cert.RawSubjectPublicKeyInfo, sc.certState.PeerCertificates[0].RawSubjectPublicKeyInfo)
		s.SameKey = &same
	}
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// ecdheOf returns the ECDHE suites a version accepted and the curves seen.
func ecdheOf(vs *versionScan) (suites, groups []uint16) {
	for _, pk := range vs.picks {
		if s, _ := LookupSuite(pk.suite); s.isECDHE() {
			suites = append(suites, pk.suite)
			if pk.group != 0 && !containsU16(groups, pk.group) {
				groups = append(groups, pk.group)
			}
		}
	}
	return suites, groups
}

func containsU16(s []uint16, v uint16) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// rawCerts returns the first certificate chain a raw probe saw.
func (sc *scanner) rawCerts() []*x509.Certificate {
	for i := len(sc.versions) - 1; i >= 0; i-- {
		for _, pk := range sc.versions[i].picks {
			if len(pk.certs) == 0 {
				continue
			}
			var out []*x509.Certificate
			for _, der := range pk.certs {
				c, err := x509.ParseCertificate(der)
				if err != nil {
					break
				}
				out = append(out, c)
			}
			if len(out) > 0 {
				return out
			}
		}
	}
	return nil
}

// buildResult turns the chains into the Result.
func (sc *scanner) buildResult() {
	r := sc.res
	r.Complete = true
	var secReneg *bool
	for _, vs := range sc.versions {
		vr := &VersionResult{Version: VersionName(vs.version), Code: vs.version, Supported: vs.supported, ServerPreference: vs.serverPref}
		if vs.why != "" {
			vr.Note = vs.why
			r.Complete = false
		}
		for _, pk := range vs.picks {
			s, _ := LookupSuite(pk.suite)
			sr := SuiteResult{Code: fmt.Sprintf("0x%04X", s.ID), ID: s.ID, Name: s.Name, OpenSSL: s.OpenSSL, Kx: s.Kx, Auth: s.Auth, Enc: s.Enc, Bits: s.Bits, Mac: s.Mac, Flags: s.Flags.Names(), DHBits: pk.dhBits}
			if pk.group != 0 {
				g, _ := LookupGroup(pk.group)
				sr.Group = g.Name
			}
			if pk.dhBits > 0 && (r.DHBits == 0 || pk.dhBits < r.DHBits) {
				r.DHBits = pk.dhBits
			}
			if pk.rsaExp > 0 && (r.ExportRSABits == 0 || pk.rsaExp < r.ExportRSABits) {
				r.ExportRSABits = pk.rsaExp
			}
			if pk.hasReneg {
				v := pk.secReneg
				if secReneg == nil || !v {
					secReneg = &v
				}
			}
			vr.Suites = append(vr.Suites, sr)
		}
		r.Versions = append(r.Versions, vr)
	}
	r.SecureRenegotiation = secReneg
	if sc.groups13 != nil {
		for _, g := range sc.groups13.groups {
			r.Groups = append(r.Groups, groupResult(g))
		}
		if sc.groups13.why != "" {
			r.Complete = false
		}
	}
	if sc.ecdhe != nil {
		for _, g := range sc.ecdhe.groups {
			r.ECDHEGroups = append(r.ECDHEGroups, groupResult(g))
		}
		if sc.ecdhe.why != "" {
			r.Complete = false
		}
	}
}

// setFacts records the simple facts the text renderer shows.
func (sc *scanner) setFacts() {
	r := sc.res
	if len(r.Versions) > 0 {
		sc.rep.SetFact("protocols", r.Supported())
		ciphers := map[string]string{}
		for _, v := range r.Versions {
			if !v.Supported {
				continue
			}
			names := make([]string, 0, len(v.Suites))
			for _, s := range v.Suites {
				n := s.OpenSSL
				if n == "" {
					n = s.Name
				}
				names = append(names, n)
			}
			order := ""
			if v.ServerPreference != nil && *v.ServerPreference {
				order = " (server order)"
			} else if v.ServerPreference != nil {
				order = " (client order)"
			}
			ciphers[versionKey(v.Code)] = strings.Join(names, ", ") + order
		}
		sc.rep.SetFact("ciphers", ciphers)
	}
	// Server cipher order per protocol (testssl.sh cipher_order-<proto>):
	// who decides, and the suite the server prefers when it does.
	order := map[string]string{}
	for _, v := range r.Versions {
		switch {
		case !v.Supported || v.ServerPreference == nil:
		case *v.ServerPreference && len(v.Suites) > 0:
			order[versionKey(v.Code)] = "server order, prefers " + suiteOf(v.Suites[0].ID).ShortName()
		case !*v.ServerPreference:
			order[versionKey(v.Code)] = "client order"
		}
	}
	if len(order) > 0 {
		sc.rep.SetFact("cipher_order", order)
	}
	gorder := map[string]string{}
	for _, g := range r.GroupOrder {
		switch {
		case g.ServerOrder != nil && *g.ServerOrder:
			gorder[g.Version] = "server order, prefers " + g.Preferred
		case g.ServerOrder != nil:
			gorder[g.Version] = "client order"
		case g.Preferred != "":
			gorder[g.Version] = g.Preferred + " (" + g.Note + ")"
		default:
			gorder[g.Version] = "undecided: " + g.Note
		}
	}
	if len(gorder) > 0 {
		sc.rep.SetFact("group_order", gorder)
	}
	var groups []string
	for _, g := range r.Groups {
		groups = append(groups, g.Name)
	}
	if len(groups) > 0 {
		sc.rep.SetFact("groups_tls13", groups)
	}
	groups = nil
	for _, g := range r.ECDHEGroups {
		groups = append(groups, g.Name)
	}
	if len(groups) > 0 {
		sc.rep.SetFact("groups_ecdhe", groups)
	}
	if r.DHBits > 0 {
		sc.rep.SetFact("dh_bits", r.DHBits)
	}
	if r.Injection != "" {
		sc.rep.SetFact("starttls_injection", r.Injection)
	}
	sc.rep.SetFact("handshakes", r.Handshakes)
}
