// Package resolver is mailprobe's DNS client, built on miekg/dns so that
// every answer keeps what the mail authentication checks need and the
// system resolver hides: the response code (NXDOMAIN versus NODATA versus
// SERVFAIL), the AD bit (RFC 4035 §3.2.3, "authenticated data", which DANE
// requires, RFC 7672 §2.2), and whether the answer was truncated and had
// to be fetched again over TCP (RFC 7766 §5).
//
// A Resolver is made once per run and shared by every check: it caches
// every answer (and every failure) so that no question is asked twice,
// collapses concurrent identical questions into one (singleflight), and
// counts the questions it sends. Each query has a deadline and a bounded
// number of retries, so a dead server costs seconds, not the minutes a
// library default may allow.
package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/mailprobe/mailprobe/pkg/netx"
)

// Options configure a Resolver. The zero value asks the nameservers of
// the operating system's configuration (systemServers: /etc/resolv.conf
// on Linux and macOS, the network adapters' DNS servers on Windows) with
// the default deadlines.
type Options struct {
	// Server is "host:port" or "host" (port 53), as ParseServer accepts.
	// Empty: the nameservers of the operating system's configuration.
	Server string
	// ResolvConf, when set, is a resolv.conf file read instead of the
	// operating system's configuration (on every platform).
	ResolvConf string
	// Timeout is the deadline of one attempt (default 2s).
	Timeout time.Duration
	// Retries is how many times a query that timed out is sent again
	// (default 1; negative: none).
	Retries int
	// QueryTimeout caps one query including its retries and TCP fallback
	// (default netx.DefaultTimeouts.DNS).
	QueryTimeout time.Duration
	// UDPSize is the EDNS0 buffer size advertised (default 1232, the DNS
	// flag day 2020 value that avoids IP fragmentation).
	UDPSize uint16
	// NoDNSSEC clears the DO bit. By default queries set DO (RFC 3225) and
	// AD (RFC 6840 §5.7) so that a validating resolver reports whether the
	// answer was DNSSEC-validated.
	NoDNSSEC bool
	// Dial opens connections (nil: net.Dialer). Injected so that tests and
	// --local-addr need no global state.
	Dial netx.DialFunc
	// Shared, when set, is the cache, sockets and pacing this resolver
	// shares with the resolvers of other runs (batch); nil: its own.
	Shared *Shared
}

// Answer is the result of one question.
type Answer struct {
	Name string // the name asked, lower case, fully qualified
	Type uint16
	// Records are the answer records of the asked type, owned by the end
	// of the CNAME chain.
	Records []dns.RR
	// CNAMEs is the chain of aliases followed, in order (empty when the
	// name was not an alias).
	CNAMEs []string
	// AD is the Authenticated Data bit: the resolver validated the answer
	// with DNSSEC. It is only meaningful when the resolver is trusted and
	// the path to it is secure (RFC 6698 §4.1; RFC 7672 §2.2).
	AD     bool
	Rcode  int
	TCP    bool // the answer came over TCP (after a truncated UDP answer)
	Server string
	RTT    time.Duration
}

// Stats counts a resolver's work.
type Stats struct {
	Lookups   int64 `json:"lookups"`   // questions asked by the checks, including cache hits
	Queries   int64 `json:"queries"`   // distinct questions sent to the network
	Exchanges int64 `json:"exchanges"` // packets exchanged, including retries and TCP fallbacks
	CacheHits int64 `json:"cache_hits"`
	Truncated int64 `json:"truncated"` // UDP answers that were truncated and retried over TCP
	// RateLimited counts the answers a rate-limiting server slipped
	// (truncated though they fit) or dropped (given on a retry).
	RateLimited int64 `json:"rate_limited,omitempty"`
}

// Resolver asks DNS questions. It is safe for concurrent use.
type Resolver struct {
	servers []string
	opts    Options

	mu        sync.Mutex
	cache     map[cacheKey]*call
	lookups   atomic.Int64
	queries   atomic.Int64
	exchanges atomic.Int64
	hits      atomic.Int64
	trunc     atomic.Int64
	limited   atomic.Int64

	shared *Shared

	// answered is set by the first response from any server. Until
	// then, a query that times out or cannot reach the servers may mean
	// that the resolver itself is dead, which probe finds out once.
	answered atomic.Bool
	probeMu  sync.Mutex
	probe    chan struct{} // closed when the liveness probe is done
	down     atomic.Pointer[Error]
	downCh   chan struct{} // closed when down is set
}

type cacheKey struct {
	name  string
	qtype uint16
}

// call is one question, in flight or answered. Waiters block on done;
// the result never changes once done is closed, so it doubles as the
// cache entry.
type call struct {
	done chan struct{}
	ans  *Answer
	err  error
}

// New makes a Resolver.
func New(o Options) (*Resolver, error) {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Retries == 0 {
		o.Retries = 1
	} else if o.Retries < 0 {
		o.Retries = 0
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = netx.DefaultTimeouts.DNS
	}
	if o.UDPSize == 0 {
		o.UDPSize = 1232
	}
	r := &Resolver{opts: o, cache: map[cacheKey]*call{}, downCh: make(chan struct{}), shared: o.Shared}
	if r.shared == nil {
		r.shared = NewShared(SharedOptions{})
	}
	if o.Server != "" {
		s, err := ParseServer(o.Server)
		if err != nil {
			return nil, fmt.Errorf("--resolver %v", err)
		}
		r.servers = []string{s}
		return r, nil
	}
	var err error
	if o.ResolvConf != "" {
		r.servers, err = readResolvConf(o.ResolvConf)
	} else {
		r.servers, err = systemServers()
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// readResolvConf returns the nameservers of a resolv.conf file (the
// format of resolv.conf(5), which macOS also writes). A missing,
// unreadable or empty file is an error that says to use --resolver:
// guessing a server would send the questions somewhere the user did not
// choose.
func readResolvConf(path string) ([]string, error) {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the system's DNS configuration %s: %w (use --resolver HOST:PORT)", path, err)
	}
	var servers []string
	for _, s := range cc.Servers {
		servers = append(servers, net.JoinHostPort(s, cc.Port))
	}
	if len(servers) == 0 {
		return nil, fmt.Errorf("%s lists no nameserver (use --resolver HOST:PORT)", path)
	}
	return servers, nil
}

// Servers returns the servers asked, in order.
func (r *Resolver) Servers() []string { return append([]string(nil), r.servers...) }

// Stats returns the counters so far.
func (r *Resolver) Stats() Stats {
	return Stats{Lookups: r.lookups.Load(), Queries: r.queries.Load(), Exchanges: r.exchanges.Load(), CacheHits: r.hits.Load(), Truncated: r.trunc.Load(), RateLimited: r.limited.Load()}
}

// Counter counts the questions one check asked. Attach it to a context
// with WithCounter; every lookup made with that context (or one derived
// from it) is counted, so concurrent checks sharing one Resolver each know
// their own cost.
type Counter struct {
	Lookups atomic.Int64 // questions asked, including cache hits
	Queries atomic.Int64 // questions that went to the network
	// OverBudget counts the questions not sent because the run's
	// budget (WithBudget) was spent.
	OverBudget atomic.Int64
}

type counterKey struct{}

// WithCounter returns ctx carrying c (in addition to any counter ctx
// already carries, so nested checks are counted at every level).
func WithCounter(ctx context.Context, c *Counter) context.Context {
	prev, _ := ctx.Value(counterKey{}).([]*Counter)
	cs := append(append([]*Counter(nil), prev...), c)
	return context.WithValue(ctx, counterKey{}, cs)
}

func counters(ctx context.Context) []*Counter {
	cs, _ := ctx.Value(counterKey{}).([]*Counter)
	return cs
}

// Budget bounds the questions a run sends to the network: answers from
// the cache cost nothing, and a question over the budget fails at once
// with KindBudget (a temporary failure: the check is incomplete, not
// negative). It is safe for concurrent use.
type Budget struct {
	max     int64
	used    atomic.Int64
	refused atomic.Int64
}

// NewBudget allows n questions (n <= 0: none).
func NewBudget(n int) *Budget { return &Budget{max: int64(n)} }

// take reserves one question, reporting false when the budget is spent.
func (b *Budget) take() bool {
	if b.used.Add(1) > b.max {
		b.used.Add(-1)
		b.refused.Add(1)
		return false
	}
	return true
}

// give returns a question taken but not sent.
func (b *Budget) give() { b.used.Add(-1) }

// Max is the budget; Used the questions sent within it; Refused those
// not sent because it was spent.
func (b *Budget) Max() int     { return int(b.max) }
func (b *Budget) Used() int    { return int(b.used.Load()) }
func (b *Budget) Refused() int { return int(b.refused.Load()) }

type budgetKey struct{}

// WithBudget returns ctx carrying b: every question asked with it (or a
// context derived from it) that is not answered from the cache spends
// one from b. An inner WithBudget replaces an outer one.
func WithBudget(ctx context.Context, b *Budget) context.Context {
	return context.WithValue(ctx, budgetKey{}, b)
}

func budgetOf(ctx context.Context) *Budget {
	b, _ := ctx.Value(budgetKey{}).(*Budget)
	return b
}

// Query asks for name and qtype. A definitive negative answer is an *Error
// of kind KindNXDomain or KindNoData together with a non-nil Answer (whose
// AD bit tells whether the denial was validated). Every other failure is
// an *Error with a nil Answer. Answers are shared: do not modify them.
func (r *Resolver) Query(ctx context.Context, name string, qtype uint16) (*Answer, error) {
	fqdn, valid := canonicalName(name)
	r.lookups.Add(1)
	cs := counters(ctx)
	for _, c := range cs {
		c.Lookups.Add(1)
	}
	if !valid {
		return nil, &Error{Kind: KindInvalidName, Name: fqdn, Type: qtype}
	}
	if down := r.down.Load(); down != nil {
		// A dead resolver fails every new question at once, with the
		// error that showed it dead: one finding, not one per question.
		return nil, down.about(fqdn, qtype)
	}
	key := cacheKey{fqdn, qtype}
	r.mu.Lock()
	c, ok := r.cache[key]
	if !ok {
		// Not asked in this run: another run sharing the cache may have
		// the answer, or be asking right now.
		if se := r.shared.get(key); se != nil {
			c = &call{done: make(chan struct{})}
			r.cache[key] = c
			select {
			case <-se.done: // answered: the common case, no goroutine
				c.ans, c.err = se.ans, se.err
				close(c.done)
			default:
				go func() {
					<-se.done // always closed: the asker has a deadline
					c.ans, c.err = se.ans, se.err
					close(c.done)
				}()
			}
			ok = true
		}
	}
	if ok {
		r.mu.Unlock()
		r.hits.Add(1)
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, &Error{Kind: KindTimeout, Name: fqdn, Type: qtype, Err: ctx.Err()}
		}
		return c.ans, c.err
	}
	b := budgetOf(ctx)
	if b != nil && !b.take() {
		// Not cached: the question was never asked.
		r.mu.Unlock()
		for _, cn := range cs {
			cn.OverBudget.Add(1)
		}
		return nil, &Error{Kind: KindBudget, Name: fqdn, Type: qtype}
	}
	se, owner := r.shared.register(key)
	c = &call{done: make(chan struct{})}
	r.cache[key] = c
	r.mu.Unlock()
	if !owner {
		// Another run started asking between the two looks: wait for
		// it, and give the budget back.
		if b != nil {
			b.give()
		}
		r.hits.Add(1)
		go func() {
			<-se.done
			c.ans, c.err = se.ans, se.err
			close(c.done)
		}()
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, &Error{Kind: KindTimeout, Name: fqdn, Type: qtype, Err: ctx.Err()}
		}
		return c.ans, c.err
	}

	r.queries.Add(1)
	for _, cn := range cs {
		cn.Queries.Add(1)
	}
	// The question is answered on its own context so that one caller
	// being cancelled does not poison the cache entry others wait on. It
	// keeps the caller's deadline when that is sooner than the query's
	// own: within one run every check shares the run's deadline.
	go func() {
		// A server being paced (it limits its rate) makes questions
		// wait their turn; the wait is bounded by the caller's deadline
		// but is not the query's time: its own deadline starts when it
		// is sent.
		runDeadline, _ := ctx.Deadline()
		paced := r.shared.pacer(r.servers[0]).waitTurn(runDeadline) == nil
		deadline := time.Now().Add(r.opts.QueryTimeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		qctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
		defer cancel()
		var ttl time.Duration
		c.ans, c.err, ttl = r.resolve(qctx, fqdn, qtype, paced)
		r.shared.finish(se, c.ans, c.err, ttl)
		close(c.done)
	}()
	select {
	case <-c.done:
		return c.ans, c.err
	case <-ctx.Done():
		return nil, &Error{Kind: KindTimeout, Name: fqdn, Type: qtype, Err: ctx.Err()}
	case <-r.downCh:
		// Found dead while this question waited: it would only time
		// out too.
		return nil, r.down.Load().about(fqdn, qtype)
	}
}

// CanonicalName is the form names are asked and cached in: fully
// qualified, escaped as miekg/dns writes names (so a raw space and "\\032"
// are the same), ASCII letters in lower case (DNS names compare without
// case, RFC 4343).
func CanonicalName(name string) string {
	s, _ := canonicalName(name)
	return s
}

// canonicalName also reports whether the name can be sent at all: every
// label 1 to 63 octets, at most 255 octets in wire form.
func canonicalName(name string) (string, bool) {
	if plainName(name) {
		// The common case, without packing and unpacking the name:
		// letters, digits, hyphens and underscores in labels of 1 to
		// 63 octets, already in the form the slow path would give.
		return dns.Fqdn(name), true
	}
	return canonicalSlow(name)
}

// canonicalSlow is canonicalName by packing and unpacking the name.
func canonicalSlow(name string) (string, bool) {
	fq := dns.Fqdn(name)
	ok := false
	buf := make([]byte, 512)
	if off, err := dns.PackDomainName(fq, buf, 0, nil, false); err == nil && off <= 255 {
		if s, _, err := dns.UnpackDomainName(buf[:off], 0); err == nil {
			fq, ok = s, true
		}
	}
	if ok && fq != "." && strings.Contains(fq, "..") {
		ok = false
	}
	b := []byte(fq)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b), ok
}

// plainName reports whether name is lower-case LDH (and underscore)
// labels of 1 to 63 octets, at most 253 octets without the final dot:
// already canonical, escaped as miekg/dns would, and sendable.
func plainName(name string) bool {
	n := strings.TrimSuffix(name, ".")
	if n == "" || len(n) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
			continue
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
		label++
		if label > 63 {
			return false
		}
	}
	return label > 0
}

// resolve sends the question: UDP first, again over TCP when the answer is
// truncated (RFC 7766 §5), each attempt with its own deadline, retried on
// timeout, trying each configured server in turn. It also returns how
// long the answer may be cached (cacheTTL).
//
// paced says the first attempt already waited its turn at the first
// server's pace.
func (r *Resolver) resolve(ctx context.Context, name string, qtype uint16, paced bool) (*Answer, error, time.Duration) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = true
	m.SetEdns0(r.opts.UDPSize, !r.opts.NoDNSSEC)
	if !r.opts.NoDNSSEC {
		m.AuthenticatedData = true
	}
	var last *Error
	timedOut := map[string]bool{} // servers that let an attempt time out
	for attempt := 0; attempt <= r.opts.Retries; attempt++ {
		for _, server := range r.servers {
			if ctx.Err() != nil {
				if last == nil {
					last = &Error{Kind: KindTimeout, Name: name, Type: qtype, Server: server, Err: ctx.Err()}
				}
				return nil, last, 0
			}
			var resp *dns.Msg
			var tcp bool
			var rtt time.Duration
			var err error
			if timedOut[server] && r.shared.pacer(server).limiting() {
				// A question dropped by a server that limits its
				// rate is asked again over TCP, which rate limits
				// leave alone (RRL only limits UDP): asked over UDP
				// it could be dropped again and again.
				resp, rtt, err = r.exchange(ctx, "tcp", m, server, false)
				tcp = true
			} else {
				resp, tcp, rtt, err = r.exchangeUDPThenTCP(ctx, m, server, !paced)
			}
			paced = false
			if err != nil {
				last = &Error{Kind: classifyNet(err), Name: name, Type: qtype, Server: server, Err: err}
				if last.Kind == KindTimeout && ctx.Err() == nil {
					timedOut[server] = true
				}
				if (last.Kind == KindTimeout || last.Kind == KindNetwork) && !r.answered.Load() && ctx.Err() == nil {
					// Probe while the retries go on, so that finding
					// the resolver dead costs no extra wait.
					r.startProbe(ctx, last)
				}
				continue
			}
			r.answered.Store(true)
			if !tcp {
				r.shared.pacer(server).answered(rtt)
			}
			if timedOut[server] {
				// Unanswered, then answered when asked again: the
				// server dropped the first (a rate limit's drop, or
				// a lost packet).
				r.lost(server, false)
			}
			ans, aerr := interpret(name, qtype, resp, server, tcp, rtt)
			return ans, aerr, cacheTTL(resp, aerr)
		}
	}
	if (last.Kind == KindTimeout || last.Kind == KindNetwork) && !r.answered.Load() && ctx.Err() == nil {
		if down := r.checkAlive(ctx, last); down != nil {
			return nil, down.about(name, qtype), 0
		}
	}
	return nil, last, 0
}

// lost records an answer slipped or dropped by server and paces the
// questions sent to it from now on.
func (r *Resolver) lost(server string, slip bool) {
	r.limited.Add(1)
	first, rl := r.shared.pacer(server).loss(slip)
	if first && r.shared.onLimit != nil {
		rl.Server = server
		r.shared.onLimit(rl)
	}
}

// RateLimited returns, once per shared cache (so once per run, or once per
// batch), what this resolver saw of a server limiting its answer rate:
// the report of the run that first sees it says so, the others do not
// repeat it.
func (r *Resolver) RateLimited() (RateLimit, bool) {
	if r.limited.Load() == 0 {
		return RateLimit{}, false
	}
	for _, rl := range r.shared.RateLimits() {
		if r.shared.claimLimitReport() {
			return rl, true
		}
	}
	return RateLimit{}, false
}

// Unreachable returns the error that showed the resolver dead (no server
// answered the question that failed, nor a probe sent after it), or nil.
// Once dead, the resolver stays dead for the run and every new question
// fails at once with that error.
func (r *Resolver) Unreachable() error {
	if d := r.down.Load(); d != nil {
		return d
	}
	return nil
}

// checkAlive tells a dead resolver from a name whose servers do not
// answer (dnstest's "timeout" marker, a lame delegation behind a
// recursive resolver): when no server has answered anything yet, one
// probe asks each server for the root's NS records. Any response at all,
// even REFUSED, proves the server alive. Concurrent failures share the
// one probe.
func (r *Resolver) checkAlive(ctx context.Context, failed *Error) *Error {
	done := r.startProbe(ctx, failed)
	select {
	case <-done:
	case <-ctx.Done():
		return nil
	}
	return r.down.Load()
}

// startProbe starts the one liveness probe of the run, unless it was
// started already, and returns a channel closed when it is done.
func (r *Resolver) startProbe(ctx context.Context, failed *Error) chan struct{} {
	r.probeMu.Lock()
	defer r.probeMu.Unlock()
	if r.probe == nil {
		done := make(chan struct{})
		r.probe = done
		go func() {
			defer close(done)
			if !r.probeServers(context.WithoutCancel(ctx)) {
				d := *failed
				d.Down = true
				d.Server = strings.Join(r.servers, ", ")
				r.down.Store(&d)
				close(r.downCh)
			}
		}()
	}
	return r.probe
}

// probeServers reports whether any server responds to ". NS", each asked
// once over UDP within the attempt deadline.
func (r *Resolver) probeServers(ctx context.Context) bool {
	m := new(dns.Msg)
	m.SetQuestion(".", dns.TypeNS)
	m.RecursionDesired = true
	for _, server := range r.servers {
		if r.answered.Load() {
			return true // a slow answer to another question arrived meanwhile
		}
		if resp, _, err := r.exchange(ctx, "udp", m, server, true); err == nil || resp != nil {
			r.answered.Store(true)
			return true
		}
	}
	return r.answered.Load()
}

func (r *Resolver) exchangeUDPThenTCP(ctx context.Context, m *dns.Msg, server string, pace bool) (*dns.Msg, bool, time.Duration, error) {
	resp, rtt, err := r.exchange(ctx, "udp", m, server, pace)
	if err == nil && !resp.Truncated {
		return resp, false, rtt, nil
	}
	if err != nil && (resp == nil || !resp.Truncated) {
		return nil, false, rtt, err
	}
	// Truncated: the full answer is only available over TCP.
	r.trunc.Add(1)
	resp, rtt2, err := r.exchange(ctx, "tcp", m, server, false)
	if err == nil && resp.Len() <= int(r.opts.UDPSize) {
		// The whole answer fits in the UDP size we offered: it was not
		// truncated for its size but "slipped" by a rate limit (RRL
		// answers a share of the questions over its limit with TC set
		// and nothing else, so that real clients retry over TCP).
		r.lost(server, true)
	}
	return resp, true, rtt + rtt2, err
}

// exchange sends one packet and waits for its answer, within the attempt
// deadline; cancelling ctx closes the connection at once. Over UDP the
// server's pace is kept (with pace, once it has been seen limiting its
// rate) and sockets are reused.
func (r *Resolver) exchange(ctx context.Context, network string, m *dns.Msg, server string, pace bool) (*dns.Msg, time.Duration, error) {
	if network == "udp" && pace {
		// The wait for the pace comes before the attempt's deadline:
		// waiting for a turn is not the server being slow.
		if err := r.shared.pacer(server).wait(ctx); err != nil {
			return nil, 0, err
		}
	}
	r.exchanges.Add(1)
	timeout := r.opts.Timeout
	if network == "udp" {
		timeout = r.shared.pacer(server).attemptTimeout(timeout)
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var pool *udpPool
	var pc *pooledConn
	if network == "udp" {
		pool = r.shared.pool(server)
		pc = pool.get()
	}
	if pc == nil {
		dial := r.opts.Dial
		if dial == nil {
			d := &net.Dialer{}
			dial = d.DialContext
		}
		nc, err := dial(actx, network, server)
		if err != nil {
			return nil, 0, err
		}
		pc = &pooledConn{nc: nc}
	}
	nc := pc.nc
	co := &dns.Conn{Conn: nc, UDPSize: r.opts.UDPSize}
	stop := context.AfterFunc(actx, func() { nc.Close() })
	resp, rtt, err := exchangeMatching(actx, co, m)
	if stop() && err == nil && pool != nil {
		pool.put(pc) // a clean exchange: nothing more will arrive on it
	} else {
		nc.Close()
	}
	if err != nil && actx.Err() != nil {
		err = actx.Err()
	}
	return resp, rtt, err
}

// errNotOurAnswer is a response that does not answer the question asked.
var errNotOurAnswer = errors.New("the response does not answer the question asked (other ID or question)")

// maxStrayResponses bounds the responses read and discarded while waiting
// for the one that answers our question.
const maxStrayResponses = 32

// exchangeMatching sends m and reads until a response answers it: the same
// ID and the same question (RFC 5452 §9.1), with the QR bit set and the
// query's opcode (RFC 1035 §4.1.1). A message with another ID or question
// (a spoofing attempt, a confused server, a late answer to an earlier
// query on a reused port), or our own query reflected back (QR clear: no
// records, which would read as NODATA), is discarded and the wait goes on
// until the deadline; it is never taken as the answer.
func exchangeMatching(ctx context.Context, co *dns.Conn, m *dns.Msg) (*dns.Msg, time.Duration, error) {
	if d, ok := ctx.Deadline(); ok {
		_ = co.SetDeadline(d)
	}
	start := time.Now()
	if err := co.WriteMsg(m); err != nil {
		return nil, 0, err
	}
	for stray := 0; ; stray++ {
		resp, err := co.ReadMsg()
		if err != nil {
			if resp != nil && resp.Id == m.Id && resp.Truncated {
				return resp, time.Since(start), err
			}
			if resp == nil || resp.Id == m.Id {
				return resp, time.Since(start), err
			}
			// An unparseable stray datagram: keep waiting.
		} else if resp.Id == m.Id && resp.Response && resp.Opcode == m.Opcode && sameQuestion(resp, m) {
			return resp, time.Since(start), nil
		}
		if stray >= maxStrayResponses {
			return nil, time.Since(start), fmt.Errorf("%w (%d of them)", errNotOurAnswer, stray+1)
		}
		if _, isTCP := co.Conn.(*net.TCPConn); isTCP {
			// One stream, one answer: a mismatch there is the server's.
			return nil, time.Since(start), errNotOurAnswer
		}
	}
}

// sameQuestion reports whether resp answers m's question (name compared
// without case, RFC 4343).
func sameQuestion(resp, m *dns.Msg) bool {
	if len(resp.Question) != 1 || len(m.Question) != 1 {
		return false
	}
	a, b := resp.Question[0], m.Question[0]
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && strings.EqualFold(a.Name, b.Name)
}

func classifyNet(err error) Kind {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	case errors.Is(err, context.Canceled):
		return KindTimeout
	}
	var de *dns.Error
	if errors.As(err, &de) || errors.Is(err, errNotOurAnswer) {
		return KindMalformed
	}
	if strings.Contains(err.Error(), "overflow") || strings.Contains(err.Error(), "bad rdata") || strings.Contains(err.Error(), "unpack") {
		return KindMalformed
	}
	return KindNetwork
}

// interpret turns a response into an Answer or an Error. The answer
// section is walked from the question name along any CNAME chain (RFC
// 1034 §3.6.2), so the records returned are those of the final name.
func interpret(name string, qtype uint16, resp *dns.Msg, server string, tcp bool, rtt time.Duration) (*Answer, error) {
	ans := &Answer{Name: name, Type: qtype, AD: resp.AuthenticatedData, Rcode: resp.Rcode, TCP: tcp, Server: server, RTT: rtt}
	switch resp.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		chase(ans, resp)
		return ans, &Error{Kind: KindNXDomain, Name: name, Type: qtype, Server: server, Rcode: resp.Rcode}
	case dns.RcodeServerFailure:
		return nil, &Error{Kind: KindServFail, Name: name, Type: qtype, Server: server, Rcode: resp.Rcode}
	case dns.RcodeRefused:
		return nil, &Error{Kind: KindRefused, Name: name, Type: qtype, Server: server, Rcode: resp.Rcode}
	default:
		return nil, &Error{Kind: KindRcode, Name: name, Type: qtype, Server: server, Rcode: resp.Rcode}
	}
	if !chase(ans, resp) {
		return nil, &Error{Kind: KindCNAMELoop, Name: name, Type: qtype, Server: server, Rcode: resp.Rcode}
	}
	if len(ans.Records) == 0 {
		return ans, &Error{Kind: KindNoData, Name: name, Type: qtype, Server: server, Rcode: resp.Rcode}
	}
	return ans, nil
}

// MaxCNAMEChain is the longest CNAME chain followed in an answer.
const MaxCNAMEChain = 16

// chase collects the records of the asked name, following the CNAME chain
// in the answer. It reports false when the chain loops or is longer than
// MaxCNAMEChain: that answer has no records to give, and "no record"
// would be a lie.
func chase(ans *Answer, resp *dns.Msg) bool {
	cur := strings.ToLower(ans.Name)
	seen := map[string]bool{cur: true}
	for hop := 0; hop <= MaxCNAMEChain; hop++ {
		var next string
		for _, rr := range resp.Answer {
			h := rr.Header()
			if !strings.EqualFold(h.Name, cur) {
				continue
			}
			if h.Rrtype == ans.Type || ans.Type == dns.TypeANY {
				ans.Records = append(ans.Records, rr)
			} else if cn, ok := rr.(*dns.CNAME); ok && next == "" {
				next = strings.ToLower(cn.Target)
			}
		}
		if len(ans.Records) > 0 || next == "" {
			return true
		}
		if seen[next] || hop == MaxCNAMEChain {
			return false
		}
		seen[next] = true
		ans.CNAMEs = append(ans.CNAMEs, next)
		cur = next
	}
	return false
}
