// Package dnstest is a DNS server for tests: miekg/dns listening on
// 127.0.0.1 (UDP and TCP on the same random port), answering from zone
// data like a recursive resolver would, so that mailprobe's real resolver
// path (UDP, EDNS0, truncation and TCP fallback, response codes, the AD
// bit) runs in every test (ARCHITECTURE.md, habit 9).
//
// Zone data comes from standard zone files (testdata/dns/*.zone) or is
// added in code. Failure behaviour is set with markers, written in zone
// files as special comments so the files stay valid for NSD or BIND:
//
//	;! servfail NAME [TYPE]   answer SERVFAIL
//	;! refused  NAME [TYPE]   answer REFUSED
//	;! timeout  NAME [TYPE]   never answer (the client times out)
//	;! truncate NAME [TYPE]   over UDP, answer with TC set and no records,
//	                          forcing the client to retry over TCP
//	;! secure   NAME          set the AD bit on answers at or below NAME
//	                          when the query asked for DNSSEC (DO or AD)
//
// and hostile behaviours, of a broken or spoofing resolver rather than a
// broken zone:
//
//	;! cnameloop     NAME [TYPE]  answer NOERROR with a CNAME loop in the
//	                              answer section (NAME -> loop.NAME -> NAME)
//	                              instead of the SERVFAIL a resolver gives
//	;! wrongquestion NAME [TYPE]  answer with the query's ID but another
//	                              question (and a TXT record for it), and
//	                              never with the right one
//	;! echo          NAME [TYPE]  send the query back as it came (QR clear,
//	                              no records): a reflector, not an answer
//
// Answers also truncate naturally when they exceed the client's EDNS0
// buffer size (or 512 octets without EDNS0), as real servers do.
//
// SetRateLimit makes the server limit its UDP answer rate the way
// authoritative servers with response rate limiting (RRL: NSD, BIND, Knot)
// do: past the limit, a share of the answers "slip" (sent truncated and
// empty, so that a real client asks again over TCP) and the rest are
// dropped.
package dnstest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Marker is a failure behaviour attached to a name.
type Marker string

const (
	ServFail Marker = "servfail"
	Refused  Marker = "refused"
	Timeout  Marker = "timeout"
	Truncate Marker = "truncate"
	Secure   Marker = "secure"
	// Hostile behaviours (see the package comment).
	CNAMELoop     Marker = "cnameloop"
	WrongQuestion Marker = "wrongquestion"
	Echo          Marker = "echo"
)

type markKey struct {
	name  string
	qtype uint16 // 0: every type
}

// Zone is the data a Server answers from. Build it before starting the
// server; it may be extended afterwards (Add is safe for concurrent use).
type Zone struct {
	mu      sync.RWMutex
	rrs     map[string][]dns.RR
	parents map[string]bool // names that exist because something lives below them
	marks   map[markKey]Marker
	secure  []string
}

// NewZone returns an empty zone.
func NewZone() *Zone {
	return &Zone{rrs: map[string][]dns.RR{}, parents: map[string]bool{}, marks: map[markKey]Marker{}}
}

// canon is the form names are compared in: fully qualified, escaped the
// way miekg/dns unpacks them (so "a b" and "a\\032b" are the same name),
// ASCII letters in lower case (RFC 4343).
func canon(name string) string {
	fq := dns.Fqdn(name)
	buf := make([]byte, 512)
	if off, err := dns.PackDomainName(fq, buf, 0, nil, false); err == nil {
		if s, _, err := dns.UnpackDomainName(buf[:off], 0); err == nil {
			fq = s
		}
	}
	return asciiLower(fq)
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Add adds records.
func (z *Zone) Add(rrs ...dns.RR) {
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, rr := range rrs {
		n := canon(rr.Header().Name)
		z.rrs[n] = append(z.rrs[n], rr)
		for {
			i := strings.IndexByte(n, '.')
			if i < 0 || i == len(n)-1 {
				break
			}
			n = n[i+1:]
			z.parents[n] = true
		}
	}
}

// AddString adds records written in zone-file syntax, one per string.
func (z *Zone) AddString(records ...string) error {
	for _, s := range records {
		rr, err := dns.NewRR(s)
		if err != nil {
			return fmt.Errorf("dnstest: %q: %w", s, err)
		}
		if rr != nil {
			z.Add(rr)
		}
	}
	return nil
}

// MustAdd is AddString that panics, for tables in tests.
func (z *Zone) MustAdd(records ...string) *Zone {
	if err := z.AddString(records...); err != nil {
		panic(err)
	}
	return z
}

// Mark attaches m to name for qtype (0: every type). Secure applies to
// the whole subtree and ignores qtype.
func (z *Zone) Mark(name string, qtype uint16, m Marker) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if m == Secure {
		z.secure = append(z.secure, canon(name))
		return
	}
	z.marks[markKey{canon(name), qtype}] = m
}

// Parse reads a zone file. origin is the initial $ORIGIN (may be "" when
// the file sets one or uses only absolute names).
func (z *Zone) Parse(r io.Reader, origin, filename string) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	// Markers first: they are comments to the zone parser.
	cur := canon(origin)
	if origin == "" {
		cur = "."
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		if f := strings.Fields(line); len(f) >= 2 && strings.EqualFold(f[0], "$ORIGIN") {
			cur = canon(f[1])
		}
		if !strings.HasPrefix(line, ";!") {
			continue
		}
		f := strings.Fields(strings.TrimPrefix(line, ";!"))
		if len(f) < 2 || len(f) > 3 {
			return fmt.Errorf("%s:%d: marker wants ';! KIND NAME [TYPE]'", filename, ln)
		}
		name := f[1]
		switch {
		case name == "@":
			name = cur
		case !strings.HasSuffix(name, "."):
			name = name + "." + strings.TrimPrefix(cur, ".")
		}
		var qtype uint16
		if len(f) == 3 {
			t, ok := dns.StringToType[strings.ToUpper(f[2])]
			if !ok {
				return fmt.Errorf("%s:%d: unknown type %q", filename, ln, f[2])
			}
			qtype = t
		}
		m := Marker(strings.ToLower(f[0]))
		switch m {
		case ServFail, Refused, Timeout, Truncate, Secure, CNAMELoop, WrongQuestion, Echo:
		default:
			return fmt.Errorf("%s:%d: unknown marker %q", filename, ln, f[0])
		}
		z.Mark(name, qtype, m)
	}
	zp := dns.NewZoneParser(strings.NewReader(string(b)), origin, filename)
	zp.SetDefaultTTL(300)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		z.Add(rr)
	}
	return zp.Err()
}

// LoadFiles reads zone files (glob patterns allowed) into one zone.
func LoadFiles(patterns ...string) (*Zone, error) {
	z := NewZone()
	for _, p := range patterns {
		files, err := filepath.Glob(p)
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("dnstest: no zone file matches %s", p)
		}
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				return nil, err
			}
			err = z.Parse(fh, "", f)
			fh.Close()
			if err != nil {
				return nil, err
			}
		}
	}
	return z, nil
}

func (z *Zone) mark(name string, qtype uint16) Marker {
	if m, ok := z.marks[markKey{name, qtype}]; ok {
		return m
	}
	return z.marks[markKey{name, 0}]
}

func (z *Zone) isSecure(name string) bool {
	for _, s := range z.secure {
		if name == s || strings.HasSuffix(name, "."+s) || s == "." {
			return true
		}
	}
	return false
}

// Server is a running test DNS server.
type Server struct {
	// Addr is "127.0.0.1:PORT", served over UDP and TCP.
	Addr string
	Zone *Zone

	udp, tcp *dns.Server
	total    atomic.Int64
	mu       sync.Mutex
	counts   map[markKey]int

	rlMu    sync.Mutex
	rl      *RateLimit
	tokens  float64
	last    time.Time
	limited int64
	slipped atomic.Int64
	dropped atomic.Int64
}

// RateLimit is a response rate limit over UDP (TCP is never limited, as
// with RRL): a token bucket of Burst answers refilled at PerSecond; past
// it, every Slip-th limited answer slips (TC set, no records) and the
// others are dropped (Slip 0: all dropped; 1: all slipped). Now is the
// bucket's clock (nil: time.Now); a clock that never moves makes the
// limit a count, for tests that must not depend on timing.
type RateLimit struct {
	PerSecond float64
	Burst     int
	Slip      int
	Now       func() time.Time
}

// SetRateLimit starts limiting the answer rate (nil: stops).
func (s *Server) SetRateLimit(rl *RateLimit) {
	s.rlMu.Lock()
	defer s.rlMu.Unlock()
	s.rl, s.limited = rl, 0
	if rl != nil {
		if rl.Now == nil {
			rl.Now = time.Now
		}
		s.tokens, s.last = float64(rl.Burst), rl.Now()
	}
}

// Slipped and Dropped count the UDP answers the rate limit slipped and
// dropped.
func (s *Server) Slipped() int64 { return s.slipped.Load() }
func (s *Server) Dropped() int64 { return s.dropped.Load() }

// limit decides the fate of one UDP answer: "" (send it), "slip" or
// "drop".
func (s *Server) limit() string {
	s.rlMu.Lock()
	defer s.rlMu.Unlock()
	if s.rl == nil {
		return ""
	}
	now := s.rl.Now()
	s.tokens = min(float64(s.rl.Burst), s.tokens+now.Sub(s.last).Seconds()*s.rl.PerSecond)
	s.last = now
	if s.tokens >= 1 {
		s.tokens--
		return ""
	}
	s.limited++
	if s.rl.Slip > 0 && s.limited%int64(s.rl.Slip) == 0 {
		s.slipped.Add(1)
		return "slip"
	}
	s.dropped.Add(1)
	return "drop"
}

// Start serves z on 127.0.0.1 and stops the server when the test ends.
func Start(tb testing.TB, z *Zone) *Server {
	tb.Helper()
	s, err := Listen(z)
	if err != nil {
		tb.Fatalf("dnstest: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// StartFiles is Start with zone files.
func StartFiles(tb testing.TB, patterns ...string) *Server {
	tb.Helper()
	z, err := LoadFiles(patterns...)
	if err != nil {
		tb.Fatalf("dnstest: %v", err)
	}
	return Start(tb, z)
}

// Listen starts a server on a random 127.0.0.1 port without a
// testing.TB (for benchmarks and scripts); call Close when done.
func Listen(z *Zone) (*Server, error) {
	// UDP and TCP must share the port: take a TCP port, then try to bind
	// the same UDP port, retrying on the rare collision.
	for try := 0; try < 20; try++ {
		s, err := ListenAddr(z, "127.0.0.1:0")
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, errUDPBusy) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("no free UDP+TCP port pair on 127.0.0.1")
}

var errUDPBusy = errors.New("dnstest: the UDP port is taken")

// ListenAddr starts a server on addr (UDP and TCP), such as
// "127.0.0.1:5353"; port 0 picks one.
func ListenAddr(z *Zone, addr string) (*Server, error) {
	s := &Server{Zone: z, counts: map[markKey]int{}}
	tl, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	ul, err := net.ListenPacket("udp", tl.Addr().String())
	if err != nil {
		tl.Close()
		return nil, fmt.Errorf("%w: %v", errUDPBusy, err)
	}
	// Bursts of concurrent queries (a DKIM selector sweep, many checks at
	// once) overflow the default socket buffer, and a dropped packet
	// costs the client a timeout: ask for more room.
	if uc, ok := ul.(*net.UDPConn); ok {
		_ = uc.SetReadBuffer(4 << 20)
		_ = uc.SetWriteBuffer(4 << 20)
	}
	s.Addr = tl.Addr().String()
	h := dns.HandlerFunc(s.serve)
	s.udp = &dns.Server{PacketConn: ul, Handler: h, ReadTimeout: time.Second}
	s.tcp = &dns.Server{Listener: tl, Handler: h, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}
	started := make(chan error, 2)
	s.udp.NotifyStartedFunc = func() { started <- nil }
	s.tcp.NotifyStartedFunc = func() { started <- nil }
	go func() {
		if err := s.udp.ActivateAndServe(); err != nil {
			started <- err
		}
	}()
	go func() {
		if err := s.tcp.ActivateAndServe(); err != nil {
			started <- err
		}
	}()
	for i := 0; i < 2; i++ {
		if err := <-started; err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Close stops the server.
func (s *Server) Close() {
	if s.udp != nil {
		_ = s.udp.Shutdown()
	}
	if s.tcp != nil {
		_ = s.tcp.Shutdown()
	}
}

// Queries is the number of queries received (over UDP and TCP).
func (s *Server) Queries() int64 { return s.total.Load() }

// Count is how many times name/qtype was asked.
func (s *Server) Count(name string, qtype uint16) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[markKey{canon(name), qtype}]
}

// Repeated lists the questions asked more than once over UDP, excluding a
// TCP retry of a truncated answer; a caching client should have none.
func (s *Server) Repeated() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k, n := range s.counts {
		if n > 1 {
			out = append(out, fmt.Sprintf("%s %s x%d", k.name, dns.TypeToString[k.qtype], n))
		}
	}
	return out
}

func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeFormatError)
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := canon(q.Name)
	udp := w.RemoteAddr().Network() == "udp"
	s.total.Add(1)
	if udp {
		s.mu.Lock()
		s.counts[markKey{name, q.Qtype}]++
		s.mu.Unlock()
		switch s.limit() {
		case "drop":
			return
		case "slip":
			t := new(dns.Msg)
			t.SetReply(req)
			t.Truncated = true
			_ = w.WriteMsg(t)
			return
		}
	}

	z := s.Zone
	z.mu.RLock()
	defer z.mu.RUnlock()

	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	size := 512
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(opt.UDPSize(), opt.Do())
		size = max(512, int(opt.UDPSize()))
	}
	wantsDNSSEC := req.AuthenticatedData || (req.IsEdns0() != nil && req.IsEdns0().Do())

	cur := name
	seen := map[string]bool{}
	for hop := 0; ; hop++ {
		switch z.mark(cur, q.Qtype) {
		case Timeout:
			return // say nothing: the client times out
		case ServFail:
			s.rcode(w, req, dns.RcodeServerFailure)
			return
		case Refused:
			s.rcode(w, req, dns.RcodeRefused)
			return
		case CNAMELoop:
			s.cnameLoop(w, req, cur)
			return
		case WrongQuestion:
			s.wrongQuestion(w, req)
			return
		case Echo:
			_ = w.WriteMsg(req)
			return
		case Truncate:
			if udp {
				t := new(dns.Msg)
				t.SetReply(req)
				t.RecursionAvailable = true
				t.Truncated = true
				_ = w.WriteMsg(t)
				return
			}
		}
		rrs := z.rrs[cur]
		var match []dns.RR
		var cname *dns.CNAME
		for _, rr := range rrs {
			switch {
			case rr.Header().Rrtype == q.Qtype || q.Qtype == dns.TypeANY:
				match = append(match, rr)
			case rr.Header().Rrtype == dns.TypeCNAME:
				cname = rr.(*dns.CNAME)
			}
		}
		if len(match) > 0 {
			m.Answer = append(m.Answer, match...)
			break
		}
		if cname != nil {
			// A recursive resolver follows the alias and reports a loop
			// (or an overlong chain) as SERVFAIL.
			m.Answer = append(m.Answer, cname)
			cur = canon(cname.Target)
			if seen[cur] || hop > 8 {
				s.rcode(w, req, dns.RcodeServerFailure)
				return
			}
			seen[cur] = true
			continue
		}
		if len(rrs) == 0 && !z.parents[cur] {
			m.Rcode = dns.RcodeNameError
		}
		m.Ns = append(m.Ns, soaFor(cur))
		break
	}
	if wantsDNSSEC && z.isSecure(name) {
		m.AuthenticatedData = true
	} else {
		m.AuthenticatedData = false
	}
	if udp {
		m.Truncate(size)
	}
	_ = w.WriteMsg(m)
}

// cnameLoop answers NOERROR with a two-link CNAME loop starting at name,
// as no sane resolver would.
func (s *Server) cnameLoop(w dns.ResponseWriter, req *dns.Msg, name string) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	other := "loop." + name
	hdr := func(n string) dns.RR_Header {
		return dns.RR_Header{Name: n, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60}
	}
	m.Answer = []dns.RR{&dns.CNAME{Hdr: hdr(name), Target: other}, &dns.CNAME{Hdr: hdr(other), Target: name}}
	_ = w.WriteMsg(m)
}

// wrongQuestion answers with the query's ID but the question (and a TXT
// record) of another name: what a spoofer or a confused server sends.
func (s *Server) wrongQuestion(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	other := "wrong-question.invalid."
	m.Question[0].Name = other
	m.Answer = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: other, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{"v=spf1 +all"}}}
	_ = w.WriteMsg(m)
}

func (s *Server) rcode(w dns.ResponseWriter, req *dns.Msg, rcode int) {
	m := new(dns.Msg)
	m.SetRcode(req, rcode)
	m.RecursionAvailable = true
	_ = w.WriteMsg(m)
}

// soaFor makes the negative-answer SOA (RFC 2308 §3); its content does
// not matter to the client, its presence makes the answer well formed.
func soaFor(name string) dns.RR {
	zone := name
	if i := strings.IndexByte(name, '.'); i >= 0 && i < len(name)-1 {
		zone = name[i+1:]
	}
	ns, mbox := "ns."+zone, "hostmaster."+zone
	if zone == "." {
		// "ns.." is not a name: the answer would not pack and the client
		// would see silence instead of a negative answer.
		ns, mbox = "ns.", "hostmaster."
	}
	return &dns.SOA{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
		Ns: ns, Mbox: mbox, Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 60}
}
