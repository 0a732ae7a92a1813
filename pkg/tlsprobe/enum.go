package tlsprobe

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// Enumeration: for each version, offer every suite defined for it, note
// the one the server picks, remove it and offer the rest again, until the
// server refuses. The number of handshakes is the number of accepted
// suites plus one per chain, instead of one per known suite (~350) as a
// scanner that tries suites one by one needs.
//
// The order of the picks is the server's preference order when the
// server enforces one, so a server-ordered version is enumerated in one
// serial chain. Most mail servers follow the client's order instead
// (the Postfix and Dovecot defaults: tls_preempt_cipherlist = no,
// ssl_prefer_server_ciphers = no); once two picks and one check prove
// that, the order carries no information and the rest of the list is
// split into interleaved parts enumerated in parallel, one chain per
// connection slot. Groups are enumerated as sets, always in parallel.

// pick is one suite a server chose, with what the flight revealed about
// its key exchange.
type pick struct {
	suite  uint16
	group  uint16 // ECDHE curve or TLS 1.3 key share group
	dhBits int
	rsaExp int // temporary RSA key bits of an export suite
	secReneg,
	hasReneg bool // renegotiation_info seen / the version could carry it
	certs [][]byte
}

// stopInfo says why a chain ended when it was not a clean refusal: a
// timeout, a reset in the middle, garbage. Empty = clean.
type stopInfo struct {
	why   string
	kind  outcome
	stage string
}

// versionScan is the enumeration of one version.
type versionScan struct {
	version   uint16
	supported bool
	picks     []pick
	// serverPref is nil when the order could not be decided (fewer than
	// two suites, or an inconsistent answer).
	serverPref *bool
	stopInfo
	// other is the version a server answered with instead (it does not
	// speak this one).
	other uint16
}

func (p *prober) hello(v uint16, suites []uint16, serverName string) ClientHello {
	h := ClientHello{Version: v, Suites: suites, ServerName: serverName}
	if v >= VersionTLS13 {
		// x25519 and P-256 cover nearly every TLS 1.3 server without a
		// HelloRetryRequest round; others are reached by HRR.
		h.KeyShares = []uint16{groupX25519, groupSecp256r1}
	}
	return h
}

// suiteChain offers offer, removes each pick and repeats until the
// server refuses, the chain fails, or limit picks were made (0 = no
// limit). It returns the picks, what is left to offer, why it stopped
// abnormally, whether it ended (refused or failed, as opposed to
// reaching limit), and the version a server answered with instead of v.
func (p *prober) suiteChain(ctx context.Context, v uint16, offer []uint16, serverName string, n *atomic.Int32, limit int) (picks []pick, rest []uint16, st stopInfo, ended bool, other uint16) {
	offer = slices.Clone(offer)
	for len(offer) > 0 && ctx.Err() == nil {
		if limit > 0 && len(picks) >= limit {
			return picks, offer, st, false, 0
		}
		r := p.probe(ctx, p.hello(v, offer, serverName), fmt.Sprintf("%s suites #%d", VersionName(v), n.Add(1)))
		switch r.out {
		case outAccepted, outRetry:
			picks = append(picks, pickFrom(r.flight, v))
			offer = slices.DeleteFunc(offer, func(id uint16) bool { return id == r.flight.Hello.CipherSuite })
			continue
		case outOtherVersion:
			if len(picks) == 0 {
				other = r.flight.Hello.Version
			} else {
				st = stopInfo{fmt.Sprintf("the server switched to %s in the middle of the enumeration", VersionName(r.flight.Hello.Version)), outError, "handshake"}
			}
		case outRejected:
			// The normal end: nothing left the server accepts.
		default:
			st = stopInfo{r.why(), r.out, r.stage}
		}
		return picks, offer, st, true, other
	}
	if ctx.Err() != nil && st.why == "" {
		st = stopInfo{"canceled: " + ctx.Err().Error(), outError, "handshake"}
	}
	return picks, offer, st, true, other
}

// enumerateVersion finds the suites the server accepts for version v.
// onFirst, when set, is called with the first pick as soon as it is
// known, so that work depending only on the version being supported (the
// TLS 1.3 group enumeration) need not wait for the whole chain.
func (p *prober) enumerateVersion(ctx context.Context, v uint16, serverName string, onFirst func(pick)) *versionScan {
	vs := &versionScan{version: v}
	initial := SuitesFor(v)
	var n atomic.Int32
	picks, rest, st, ended, other := p.suiteChain(ctx, v, initial, serverName, &n, 1)
	if !ended && onFirst != nil {
		onFirst(picks[0])
	}
	if !ended {
		limit := 1 // a second pick, then the order check
		if v >= VersionTLS13 {
			// TLS 1.3 has five suites, all strong: whose order wins does
			// not matter (Go's server even follows the client's
			// AES-or-ChaCha hint on purpose), so no handshake is spent on
			// finding out.
			limit = 0
		}
		var more []uint16
		var got []pick
		got, more, st, ended, _ = p.suiteChain(ctx, v, rest, serverName, &n, limit)
		picks, rest = append(picks, got...), more
	}
	vs.picks, vs.stopInfo, vs.other = picks, st, other
	if !ended {
		// Two picks so far. In offer order they may mean the client's
		// order; one handshake tells.
		t := true
		if !inOfferOrder(picks, initial) {
			vs.serverPref = &t
		} else {
			vs.serverPref = p.preference(ctx, v, picks, serverName)
		}
		if vs.serverPref != nil && !*vs.serverPref && p.width > 1 {
			more, st := p.partitioned(ctx, v, rest, serverName, &n)
			vs.picks, vs.stopInfo = append(vs.picks, more...), st
			// Client order: the merged list in offer order is the order
			// a serial run would have found.
			slices.SortStableFunc(vs.picks, func(a, b pick) int {
				return slices.Index(initial, a.suite) - slices.Index(initial, b.suite)
			})
		} else {
			more, _, st, _, _ := p.suiteChain(ctx, v, rest, serverName, &n, 0)
			vs.picks, vs.stopInfo = append(vs.picks, more...), st
			if vs.serverPref == nil && vs.stop() == "" && !inOfferOrder(vs.picks, initial) {
				vs.serverPref = &t
			}
		}
	}
	vs.supported = len(vs.picks) > 0
	return vs
}

func (vs *versionScan) stop() string { return vs.why }

// partitioned enumerates offer in width interleaved parts at once, for
// a server that follows the client's order. Each part is a chain of its
// own: its accepted suites plus one refusal.
func (p *prober) partitioned(ctx context.Context, v uint16, offer []uint16, serverName string, n *atomic.Int32) ([]pick, stopInfo) {
	parts := interleave(offer, p.parts(len(offer), 8))
	var mu sync.Mutex
	var all []pick
	var st stopInfo
	var wg sync.WaitGroup
	for _, part := range parts {
		wg.Go(func() {
			picks, _, s, _, _ := p.suiteChain(ctx, v, part, serverName, n, 0)
			mu.Lock()
			defer mu.Unlock()
			all = append(all, picks...)
			if s.why != "" && st.why == "" {
				st = s
			}
		})
	}
	wg.Wait()
	return all, st
}

// parts is how many parallel chains to split a list of n items into:
// every part costs one refusal, so short lists (the 13 TLS 1.3 suites,
// the TLS 1.3 groups) are not worth splitting much.
func (p *prober) parts(n, per int) int {
	return max(1, min(p.width, n/per))
}

// interleave splits s into at most k parts, element i going to part i
// mod k: accepted suites cluster by code (ECDHE at 0xC0xx), so contiguous
// parts would leave one chain with most of the work.
func interleave(s []uint16, k int) [][]uint16 {
	k = max(1, min(k, len(s)))
	parts := make([][]uint16, k)
	for i, x := range s {
		parts[i%k] = append(parts[i%k], x)
	}
	return parts
}

func pickFrom(f *Flight, v uint16) pick {
	pk := pick{suite: f.Hello.CipherSuite, group: groupOf(f), certs: f.Certificates}
	if kx := f.KeyExchange; kx != nil {
		pk.dhBits, pk.rsaExp = kx.DHBits, kx.RSABits
	}
	if v >= VersionTLS10 && v <= VersionTLS12 {
		pk.hasReneg, pk.secReneg = true, f.Hello.SecureRenegotiation
	}
	return pk
}

// inOfferOrder reports whether the picks came in the order offered, as
// they do from a server that follows the client's order.
func inOfferOrder(picks []pick, offered []uint16) bool {
	last := -1
	for _, pk := range picks {
		i := slices.Index(offered, pk.suite)
		if i < last {
			return false
		}
		last = i
	}
	return true
}

// preference decides whether the server enforces its own suite order,
// given picks that came in offer order: offer them reversed. A server
// with its own order picks its favourite (the first pick) again; one
// that follows the client picks the new first suite (the method of
// sslscan and testssl.sh). nil: neither, an inconsistent server.
func (p *prober) preference(ctx context.Context, v uint16, picks []pick, serverName string) *bool {
	t, f := true, false
	rev := make([]uint16, 0, len(picks))
	for i := len(picks) - 1; i >= 0; i-- {
		rev = append(rev, picks[i].suite)
	}
	r := p.probe(ctx, p.hello(v, rev, serverName), VersionName(v)+" preference")
	if r.out != outAccepted && r.out != outRetry {
		return nil
	}
	switch r.flight.Hello.CipherSuite {
	case picks[0].suite:
		return &t
	case rev[0]:
		return &f
	}
	return nil
}

// groupScan is the enumeration of key exchange groups.
type groupScan struct {
	version uint16
	groups  []uint16
	stopInfo
}

// enumerateGroups finds the groups a server accepts: TLS 1.3 key share
// groups (offer groups with an x25519 share when x25519 is among them;
// the server's key share, or the group its HelloRetryRequest asks for,
// names its choice), or the curves of TLS 1.0-1.2 ECDHE (offer the ECDHE
// suites it accepted; the ServerKeyExchange names the curve). Each pick
// is removed and the rest offered again; the list is split in parallel
// parts, since only the set is reported. known are groups already seen.
func (p *prober) enumerateGroups(ctx context.Context, v uint16, suites, known []uint16, serverName string) *groupScan {
	gs := &groupScan{version: v, groups: slices.Clone(known)}
	all := ecGroupsFor(v)
	if v >= VersionTLS13 {
		all = groupsFor(v)
	}
	offer := slices.DeleteFunc(all, func(g uint16) bool { return slices.Contains(known, g) })
	var mu sync.Mutex
	var wg sync.WaitGroup
	var n atomic.Int32
	label := "curves"
	if v >= VersionTLS13 {
		label = "groups"
	}
	// Groups are cheap for a server to refuse and a long serial group
	// chain would be the slowest part of a scan: split finer than suites.
	for _, part := range interleave(offer, p.parts(len(offer), 4)) {
		wg.Go(func() {
			found, st := p.groupChain(ctx, v, suites, part, serverName, label, &n)
			mu.Lock()
			defer mu.Unlock()
			gs.groups = append(gs.groups, found...)
			if st.why != "" && gs.why == "" {
				gs.stopInfo = st
			}
		})
	}
	wg.Wait()
	// Report in registry order: the parts finish in any order.
	slices.SortFunc(gs.groups, func(a, b uint16) int {
		return slices.IndexFunc(groupTable, func(g Group) bool { return g.ID == a }) - slices.IndexFunc(groupTable, func(g Group) bool { return g.ID == b })
	})
	return gs
}

func (p *prober) groupChain(ctx context.Context, v uint16, suites, offer []uint16, serverName, label string, n *atomic.Int32) ([]uint16, stopInfo) {
	var found []uint16
	for len(offer) > 0 && ctx.Err() == nil {
		h := ClientHello{Version: v, Suites: suites, Groups: offer, ServerName: serverName}
		if v >= VersionTLS13 && slices.Contains(offer, groupX25519) {
			h.KeyShares = []uint16{groupX25519}
		}
		r := p.probe(ctx, h, fmt.Sprintf("%s %s #%d", VersionName(v), label, n.Add(1)))
		if r.out != outAccepted && r.out != outRetry {
			if r.out != outRejected {
				return found, stopInfo{r.why(), r.out, r.stage}
			}
			break
		}
		g := groupOf(r.flight)
		if g == 0 {
			break // a server that answered with a non-ECDHE suite (not offered) was caught by classify
		}
		if !slices.Contains(offer, g) {
			return found, stopInfo{fmt.Sprintf("the server chose group 0x%04X, which was not offered", g), outError, "handshake"}
		}
		found = append(found, g)
		offer = slices.DeleteFunc(offer, func(x uint16) bool { return x == g })
	}
	return found, stopInfo{}
}
