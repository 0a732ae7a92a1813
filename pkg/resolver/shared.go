package resolver

import (
	"container/list"
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Shared is what the resolvers of many runs share: a bounded cache of
// answers that honours their TTLs (RFC 1035 §3.2.1, RFC 2308 §5 for
// negative answers), questions in flight (asked once however many runs
// wait for them), reused UDP sockets, and the pacing of each server that
// turned out to limit its answer rate. `mailprobe batch` makes one and
// gives it to the resolver of every target, so that a name many domains
// share (a provider's SPF include, a hosted MX) is asked once per TTL, not
// once per domain. It is safe for concurrent use.
//
// Each Resolver still keeps its own record of every question of its run
// (whatever the TTL), so that within one run nothing is asked twice and
// the run's counters are its own.
type Shared struct {
	maxEntries int
	maxBytes   int
	maxTTL     time.Duration
	now        func() time.Time

	mu      sync.Mutex
	entries map[cacheKey]*sharedEntry
	lru     *list.List // of *sharedEntry, completed ones only, most recent first
	bytes   int
	hits    int64

	poolMu sync.Mutex
	pools  map[string]*udpPool

	pacerMu sync.Mutex
	pacers  map[string]*pacer
	// onLimit is called once per server, when it is first seen limiting
	// its answer rate.
	onLimit       func(RateLimit)
	limitReported atomic.Bool
}

// SharedOptions configure a Shared. Zero values take the defaults.
type SharedOptions struct {
	// MaxEntries and MaxBytes bound the cache (default 20,000 answers
	// and 16 MiB, estimated from the records' wire size): the least
	// recently used answers are forgotten first.
	MaxEntries int
	MaxBytes   int
	// MaxTTL caps how long an answer is kept (default 1 hour), whatever
	// its TTL says.
	MaxTTL time.Duration
	// OnRateLimit is called once per server, when it is first seen
	// limiting its answer rate (truncated "slip" answers that fit in
	// UDP, or answers dropped and given on a retry).
	OnRateLimit func(RateLimit)
	// Now is the clock of TTLs (nil: time.Now).
	Now func() time.Time
}

// RateLimit describes a server seen limiting its answer rate.
type RateLimit struct {
	Server string
	// Slipped are truncated UDP answers that would have fit (RRL's
	// "slip", retried over TCP); Dropped are questions unanswered over
	// UDP and answered when asked again.
	Slipped, Dropped int64
	// Rate is the pace, in queries per second, the server is now sent
	// questions at (the slowest it was paced to, in a summary).
	Rate float64
}

// NewShared makes a Shared.
func NewShared(o SharedOptions) *Shared {
	if o.MaxEntries <= 0 {
		o.MaxEntries = 20000
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 16 << 20
	}
	if o.MaxTTL <= 0 {
		o.MaxTTL = time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Shared{maxEntries: o.MaxEntries, maxBytes: o.MaxBytes, maxTTL: o.MaxTTL, now: o.Now,
		entries: map[cacheKey]*sharedEntry{}, lru: list.New(), pools: map[string]*udpPool{},
		pacers: map[string]*pacer{}, onLimit: o.OnRateLimit}
}

// sharedEntry is a question in flight (done open) or answered (done
// closed, expires set); answered entries that may not be kept are removed
// when done.
type sharedEntry struct {
	key     cacheKey
	done    chan struct{}
	ans     *Answer
	err     error
	expires time.Time
	size    int
	elem    *list.Element
}

// Len is the number of answers cached (not counting questions in flight).
func (s *Shared) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}

// get returns the entry for key when it is answered and fresh, or in
// flight (wait on done); nil when the question must be asked.
func (s *Shared) get(key cacheKey) *sharedEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.getLocked(key)
}

func (s *Shared) getLocked(key cacheKey) *sharedEntry {
	e, ok := s.entries[key]
	if !ok {
		return nil
	}
	select {
	case <-e.done:
		if !s.now().Before(e.expires) {
			s.removeLocked(e) // expired: ask again
			return nil
		}
		s.lru.MoveToFront(e.elem)
	default: // in flight
	}
	s.hits++
	return e
}

// register returns the entry for key, registering one in flight when
// there is none: then owner is true and the caller asks the question
// and calls finish.
func (s *Shared) register(key cacheKey) (e *sharedEntry, owner bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.getLocked(key); e != nil {
		return e, false
	}
	e = &sharedEntry{key: key, done: make(chan struct{})}
	s.entries[key] = e
	return e, true
}

// finish records the answer of an entry registered by lookup, keeping it
// for ttl (none: only those waiting for it get it).
func (s *Shared) finish(e *sharedEntry, ans *Answer, err error, ttl time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.ans, e.err = ans, err
	close(e.done)
	if ttl > s.maxTTL {
		ttl = s.maxTTL
	}
	if ttl <= 0 {
		delete(s.entries, e.key)
		return
	}
	e.expires = s.now().Add(ttl)
	e.size = answerSize(ans)
	e.elem = s.lru.PushFront(e)
	s.bytes += e.size
	for s.lru.Len() > s.maxEntries || s.bytes > s.maxBytes {
		s.removeLocked(s.lru.Back().Value.(*sharedEntry))
	}
}

func (s *Shared) removeLocked(e *sharedEntry) {
	if e.elem != nil {
		s.lru.Remove(e.elem)
		s.bytes -= e.size
		e.elem = nil
	}
	if s.entries[e.key] == e {
		delete(s.entries, e.key)
	}
}

// answerSize estimates the memory an answer holds: its records' wire
// size, plus the bookkeeping around them.
func answerSize(a *Answer) int {
	n := 256
	if a == nil {
		return n
	}
	n += len(a.Name) + len(a.Server)
	for _, rr := range a.Records {
		n += dns.Len(rr) + 64
	}
	for _, c := range a.CNAMEs {
		n += len(c)
	}
	return n
}

// cacheTTL is how long the answer in resp may be kept (RFC 1035 §3.2.1,
// RFC 2181 §5.2): the smallest TTL of the answer section (the records and
// the CNAMEs leading to them). A negative answer (NXDOMAIN, NODATA) is
// kept for the smaller of its SOA's TTL and MINIMUM field (RFC 2308 §5),
// and not at all without an SOA (§5: "SHOULD NOT be cached"). Failures
// (SERVFAIL, REFUSED, timeouts) are not kept.
func cacheTTL(resp *dns.Msg, err error) time.Duration {
	if resp == nil {
		return 0
	}
	if err != nil {
		k := KindOf(err)
		if k != KindNXDomain && k != KindNoData {
			return 0
		}
		for _, rr := range resp.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				return time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
			}
		}
		return 0
	}
	if len(resp.Answer) == 0 {
		return 0
	}
	ttl := resp.Answer[0].Header().Ttl
	for _, rr := range resp.Answer[1:] {
		ttl = min(ttl, rr.Header().Ttl)
	}
	return time.Duration(ttl) * time.Second
}

// ---------------------------------------------------------------- UDP sockets

// udpPool keeps connected UDP sockets to one server for reuse: a socket
// per question costs three system calls and a poller registration, which
// at thousands of questions a second is much of the client's time. A
// socket goes back to the pool only after a clean exchange (a socket that
// timed out might still receive the late answer), and is closed after
// maxSocketUses questions so the source port keeps changing (RFC 5452
// §9.2: the port is part of what a spoofer must guess).
type udpPool struct {
	mu   sync.Mutex
	idle []*pooledConn
}

type pooledConn struct {
	nc   net.Conn
	uses int
}

const (
	maxIdleSockets = 64
	maxSocketUses  = 100
)

func (s *Shared) pool(server string) *udpPool {
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	p := s.pools[server]
	if p == nil {
		p = &udpPool{}
		s.pools[server] = p
	}
	return p
}

func (p *udpPool) get() *pooledConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return c
	}
	return nil
}

// put returns a socket after a clean exchange, or closes it.
func (p *udpPool) put(c *pooledConn) {
	c.uses++
	p.mu.Lock()
	if c.uses < maxSocketUses && len(p.idle) < maxIdleSockets {
		p.idle = append(p.idle, c)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	c.nc.Close()
}

// Close closes the idle sockets (those in use are closed when their
// exchange ends).
func (s *Shared) Close() {
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	for _, p := range s.pools {
		p.mu.Lock()
		for _, c := range p.idle {
			c.nc.Close()
		}
		p.idle = nil
		p.mu.Unlock()
	}
}

// ---------------------------------------------------------------- pacing

// pacer paces the questions sent to one server once it has been seen
// limiting its answer rate (response rate limiting, RRL, as NSD, BIND and
// Knot do by default on many authoritative servers): additive increase,
// multiplicative decrease, as TCP does with its window. Until the first
// loss, questions go out unpaced.
type pacer struct {
	mu      sync.Mutex
	rate    float64 // questions per second; 0: unpaced
	slowest float64
	next    time.Time // when the next question may go
	lastCut time.Time
	// sends in the current and the previous second, to know the rate
	// the server was asked at when it first limited it.
	bucket    time.Time
	cur, prev int
	slipped   int64
	dropped   int64
	engaged   bool
	srtt      time.Duration // smoothed round trip of UDP answers
}

const (
	minPace      = 10.0                   // questions per second, the slowest pace
	paceIncrease = 50.0                   // questions per second gained each second without loss
	cutInterval  = 250 * time.Millisecond // one cut per burst of losses
	// minDropWait is the shortest a UDP attempt waits once the server
	// is known to drop answers (attemptTimeout).
	minDropWait = 250 * time.Millisecond
	// lossesToEngage is how many answers must be lost before the server
	// is taken to limit its rate.
	lossesToEngage = 2
)

func (s *Shared) pacer(server string) *pacer {
	s.pacerMu.Lock()
	defer s.pacerMu.Unlock()
	p := s.pacers[server]
	if p == nil {
		p = &pacer{}
		s.pacers[server] = p
	}
	return p
}

// waitTurn is wait bounded by a deadline alone (zero: none): the wait of
// a question that others may be waiting for too, so that no one caller
// giving up cancels it.
func (p *pacer) waitTurn(deadline time.Time) error {
	if deadline.IsZero() {
		return p.wait(context.Background())
	}
	if !p.paced() {
		return p.wait(context.Background()) // counts the question, never waits
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	return p.wait(ctx)
}

// paced reports whether questions are being paced.
func (p *pacer) paced() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rate > 0
}

// wait blocks until a question may be sent to the server.
func (p *pacer) wait(ctx context.Context) error {
	p.mu.Lock()
	now := time.Now()
	if now.Sub(p.bucket) >= time.Second {
		if now.Sub(p.bucket) < 2*time.Second {
			p.prev = p.cur
		} else {
			p.prev = 0
		}
		p.cur, p.bucket = 0, now
	}
	p.cur++
	if p.rate == 0 {
		p.mu.Unlock()
		return nil
	}
	at := p.next
	if at.Before(now) {
		at = now
	}
	p.next = at.Add(time.Duration(float64(time.Second) / p.rate))
	p.mu.Unlock()
	d := at.Sub(now)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// limiting reports whether the server has been seen limiting its rate.
func (p *pacer) limiting() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.engaged
}

// answered is an answer received over UDP after rtt: the pace grows by
// paceIncrease questions per second each second, and the smoothed round
// trip time is updated (RFC 6298 §2's 1/8 gain).
func (p *pacer) answered(rtt time.Duration) {
	p.mu.Lock()
	if p.rate > 0 {
		p.rate += paceIncrease / p.rate
	}
	if p.srtt == 0 {
		p.srtt = rtt
	} else {
		p.srtt += (rtt - p.srtt) / 8
	}
	p.mu.Unlock()
}

// attemptTimeout is how long a UDP attempt waits for its answer: the
// configured time, but once the server is known to drop answers past its
// rate, no longer than a few round trips (at least minDropWait): a server
// that answers in a millisecond and says nothing for a quarter second has
// dropped the question, and it is asked again over TCP at once instead of
// after the whole --dns-timeout.
func (p *pacer) attemptTimeout(configured time.Duration) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.engaged || p.srtt == 0 {
		return configured
	}
	return min(configured, max(minDropWait, 8*p.srtt))
}

// loss is an answer slipped or dropped: the pace is halved (at most once
// per cutInterval); the first loss starts pacing at half the rate the
// server was being asked at. It reports whether this was the server's
// first loss.
func (p *pacer) loss(slip bool) (first bool, rl RateLimit) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if slip {
		p.slipped++
	} else {
		p.dropped++
	}
	now := time.Now()
	switch {
	case !p.engaged && p.slipped+p.dropped < lossesToEngage:
		// One lost packet, or one server that truncates small answers
		// (dnstest's truncate marker), is not a rate limit.
		return false, RateLimit{Slipped: p.slipped, Dropped: p.dropped}
	case !p.engaged:
		p.engaged, first = true, true
		asked := float64(max(p.cur, p.prev))
		p.rate = max(minPace, asked/2)
		p.lastCut = now
	case now.Sub(p.lastCut) >= cutInterval:
		p.rate = max(minPace, p.rate/2)
		p.lastCut = now
	}
	if p.slowest == 0 || p.rate < p.slowest {
		p.slowest = p.rate
	}
	return first, RateLimit{Slipped: p.slipped, Dropped: p.dropped, Rate: p.rate}
}

// RateLimits lists the servers seen limiting their answer rate, with
// what was seen and the slowest pace they were sent questions at.
func (s *Shared) RateLimits() []RateLimit {
	s.pacerMu.Lock()
	defer s.pacerMu.Unlock()
	var out []RateLimit
	for server, p := range s.pacers {
		p.mu.Lock()
		if p.engaged {
			out = append(out, RateLimit{Server: server, Slipped: p.slipped, Dropped: p.dropped, Rate: p.slowest})
		}
		p.mu.Unlock()
	}
	return out
}

// claimLimitReport reports true the first time it is called: the one
// report that says a server limits its rate.
func (s *Shared) claimLimitReport() bool {
	return s.limitReported.CompareAndSwap(false, true)
}
