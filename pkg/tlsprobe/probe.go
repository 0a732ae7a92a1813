package tlsprobe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"time"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// outcome classifies a server's answer to one hand-built ClientHello.
type outcome int

const (
	outAccepted     outcome = iota // ServerHello: the offered version and one of the offered suites
	outRetry                       // HelloRetryRequest (TLS 1.3): suite and group chosen, share wanted
	outOtherVersion                // ServerHello for a version that was not offered
	outRejected                    // alert, or the connection closed/reset right after the ClientHello
	outTimeout                     // no answer within the TLS deadline
	outNotTLS                      // the answer is not TLS at all
	outError                       // a malformed answer, a suite that was not offered, or a pre-TLS failure
)

func (o outcome) String() string {
	return [...]string{"accepted", "hello-retry", "other-version", "rejected", "timeout", "not-tls", "error"}[o]
}

// probeResult is one probe: what was offered and what came back.
type probeResult struct {
	out    outcome
	flight *Flight
	err    error
	stage  string // where a failure happened: a pre-TLS stage, or "handshake"
	waited time.Duration
}

// why words a failed probe for a finding.
func (r probeResult) why() string {
	switch r.out {
	case outRejected:
		if r.flight != nil && r.flight.Alert != nil {
			return "alert " + r.flight.Alert.String()
		}
		return "connection closed without a ServerHello"
	case outTimeout:
		return fmt.Sprintf("no answer at stage %s: %s", r.stage, netx.Describe(r.err, r.waited))
	case outNotTLS:
		return r.err.Error()
	}
	if r.err != nil {
		return r.err.Error()
	}
	return r.out.String()
}

// prober opens probe connections: dial the pinned address, run the
// plaintext dialogue up to the STARTTLS go-ahead, send a ClientHello,
// read the first flight, hang up. Connections are bounded by sem.
type prober struct {
	dial     netx.DialFunc
	addr     string // the address the first connection reached: every probe talks to the same machine
	proto    Proto
	helo     string
	t        netx.Timeouts
	rec      *transcript.Recorder // the report's recorder: one event per probe
	sem      chan struct{}
	width    int           // how many chains to run at once where order does not matter
	count    *atomic.Int64 // connections opened, shared with withRecorder's copies
	progress func(Progress)
	phase    func() string

	// refusals counts probe connections refused before TLS (421, BYE,
	// -ERR, reset): a rate limit at work.
	refusals *atomic.Int64
}

// newProber is a prober with its counters.
func newProber(p prober) *prober {
	p.count, p.refusals = new(atomic.Int64), new(atomic.Int64)
	return &p
}

// withRecorder is p writing its transcript events to rec; connections,
// slots and counters stay shared with p.
func (p *prober) withRecorder(rec *transcript.Recorder) *prober {
	q := *p
	q.rec = rec
	return &q
}

// Progress reports how far a scan has got, for a progress line.
type Progress struct {
	Handshakes int
	Phase      string
}

// probe sends h and classifies the answer. label names the probe in the
// transcript ("TLS 1.2 suites #3").
func (p *prober) probe(ctx context.Context, h ClientHello, label string) probeResult {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return probeResult{out: outError, err: ctx.Err(), stage: "connect"}
	}
	defer func() { <-p.sem }()
	if ctx.Err() != nil {
		return probeResult{out: outError, err: ctx.Err(), stage: "connect"}
	}
	r := p.once(ctx, h)
	if r.out == outError && r.stage != "handshake" {
		// A pre-TLS failure on a probe connection is often a connection
		// limit (Postfix anvil, Dovecot's per-IP limits, a 421 from a
		// busy server). One retry after a pause rides out a burst.
		if k := kindOf(r.err); k == kindRefused || k == string(netx.KindReset) || k == string(netx.KindClosed) {
			p.refusals.Add(1)
			select {
			case <-time.After(300 * time.Millisecond):
				r = p.once(ctx, h)
			case <-ctx.Done():
			}
		}
	}
	n := p.count.Add(1)
	p.rec.Event("probe %s: offered %s with %d suites → %s", label, VersionName(h.Version), len(h.Suites), describeProbe(r))
	if p.progress != nil {
		p.progress(Progress{Handshakes: int(n), Phase: label})
	}
	return r
}

func describeProbe(r probeResult) string {
	if r.flight != nil && r.flight.Hello != nil {
		sh := r.flight.Hello
		s, _ := LookupSuite(sh.CipherSuite)
		out := fmt.Sprintf("%s %s", VersionName(sh.Version), s.Name)
		if sh.HelloRetry {
			out = "HelloRetryRequest " + out
		}
		if g := groupOf(r.flight); g != 0 {
			gr, _ := LookupGroup(g)
			out += " (" + gr.Name + ")"
		}
		if kx := r.flight.KeyExchange; kx != nil && kx.DHBits > 0 {
			out += fmt.Sprintf(" (DH %d bits)", kx.DHBits)
		}
		return out
	}
	return r.out.String() + ": " + r.why()
}

// groupOf is the key exchange group a flight used: the TLS 1.3 key share
// (or the group an HRR asks for), else the ECDHE named curve.
func groupOf(f *Flight) uint16 {
	if f == nil {
		return 0
	}
	if f.Hello != nil && f.Hello.KeyShareGroup != 0 {
		return f.Hello.KeyShareGroup
	}
	if f.KeyExchange != nil && f.KeyExchange.Kind == "ecdh" {
		return f.KeyExchange.Group
	}
	return 0
}

func (p *prober) once(ctx context.Context, h ClientHello) probeResult {
	// Probe connections record into their own recorder: forty copies of
	// the same EHLO would bury the dialogue that matters. The report's
	// transcript gets one line per probe instead.
	rec := transcript.New(nil)
	s, err := dialSession(ctx, p.dial, p.addr, rec, p.t)
	if err != nil {
		return probeResult{out: outError, err: err, stage: "connect"}
	}
	defer s.close()
	s.helo = p.helo
	if p.proto != ProtoNone {
		if _, err := p.upgrade(ctx, s); err != nil {
			r := probeResult{out: outError, err: err, stage: "starttls"}
			var oe *netx.OpError
			if errors.As(err, &oe) {
				r.stage, r.waited = oe.Op, oe.Waited
				if kindOf(err) == string(netx.KindTimeout) {
					r.out = outTimeout
				}
			}
			return r
		}
	}
	msg, err := h.Marshal()
	if err != nil {
		return probeResult{out: outError, err: err, stage: "handshake"}
	}
	// The hand-built ClientHello goes on the raw socket: the netx.Conn
	// has done its part (the plaintext upgrade) and steps aside. Any
	// bytes after the go-ahead are dropped (RFC 3207 §4.2); the primary
	// connection already reported them.
	raw, _ := s.c.Detach()
	disarm := s.c.Arm(ctx, p.t.TLS)
	defer disarm()
	start := time.Now()
	if _, err := raw.Write(msg); err != nil {
		return classifyIOErr(ctx, nil, err, start)
	}
	f, err := readFlight(bufio.NewReaderSize(raw, 8192))
	return classify(ctx, h, f, err, start)
}

// upgrade runs the minimal plaintext dialogue of a probe connection:
// greeting, EHLO for SMTP (RFC 3207 requires it), and the STARTTLS
// command. IMAP and POP3 probes skip CAPABILITY/CAPA: one round trip
// less per probe, and the first connection already read them.
func (p *prober) upgrade(ctx context.Context, s *session) (*greeting, error) {
	g, err := s.readGreeting(ctx, p.proto, p.t.Banner)
	if err != nil {
		return nil, err
	}
	if p.proto == ProtoSMTP {
		if err := s.capabilities(ctx, g); err != nil {
			return nil, err
		}
	}
	if _, err := s.starttls(ctx, false); err != nil {
		return nil, err
	}
	return g, nil
}

func classifyIOErr(ctx context.Context, f *Flight, err error, start time.Time) probeResult {
	r := probeResult{flight: f, err: err, stage: "handshake", waited: time.Since(start)}
	if ctx.Err() != nil {
		r.out, r.err = outError, ctx.Err()
		return r
	}
	var nt *NotTLSError
	switch {
	case errors.As(err, &nt):
		r.out = outNotTLS
	case netx.Classify(err) == netx.KindTimeout:
		r.out = outTimeout
	case errors.Is(err, io.EOF), netx.Classify(err) == netx.KindClosed, netx.Classify(err) == netx.KindReset:
		// Hanging up on a ClientHello is how many servers (and SSL 3.0-
		// disabled OpenSSL builds) say no.
		r.out = outRejected
	default:
		r.out = outError
	}
	return r
}

// classify turns a flight into an outcome.
func classify(ctx context.Context, h ClientHello, f *Flight, err error, start time.Time) probeResult {
	if f == nil || f.Hello == nil {
		if f != nil && f.Alert != nil {
			return probeResult{out: outRejected, flight: f}
		}
		return classifyIOErr(ctx, f, err, start)
	}
	// Whatever failed after the ServerHello (a truncated certificate, a
	// close before ServerHelloDone) does not change which version and
	// suite the server chose.
	r := probeResult{flight: f, stage: "handshake"}
	sh := f.Hello
	if sh.Version != h.Version {
		r.out = outOtherVersion
		return r
	}
	if !slices.Contains(h.Suites, sh.CipherSuite) {
		r.out, r.err = outError, fmt.Errorf("the server chose cipher suite 0x%04X, which was not offered (RFC 5246 §7.4.1.3 forbids it)", sh.CipherSuite)
		return r
	}
	if sh.HelloRetry {
		r.out = outRetry
		return r
	}
	r.out = outAccepted
	return r
}
