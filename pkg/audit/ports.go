package audit

import (
	"context"
	"sync"
	"time"

	"github.com/mailprobe/mailprobe/pkg/netx"
)

// PortState is what a TCP connection attempt to a port found.
type PortState string

// The states, named as port scanners name them.
const (
	StateOpen     PortState = "open"     // the connection was accepted
	StateClosed   PortState = "closed"   // refused: nothing listens, or a firewall rejects
	StateFiltered PortState = "filtered" // no answer in time: a firewall drops the packets
	StateError    PortState = "error"    // the attempt failed another way (DNS, no route)
)

// probeResult is one port's connection attempt.
type probeResult struct {
	state  PortState
	waited time.Duration
	err    error
}

// probePorts tries a TCP connection to every service's port, at most
// parallel at a time, each bounded by the connect timeout; the
// connection is closed at once (the per-port check opens its own).
func probePorts(ctx context.Context, o *Options, svcs []Service) []probeResult {
	out := make([]probeResult, len(svcs))
	sem := make(chan struct{}, max(1, o.ProbeParallel))
	var wg sync.WaitGroup
	for i, s := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				out[i] = probeResult{state: StateError, err: ctx.Err()}
				return
			}
			defer func() { <-sem }()
			out[i] = probe(ctx, o, s.Port)
		}()
	}
	wg.Wait()
	return out
}

func probe(ctx context.Context, o *Options, port int) probeResult {
	t := o.Timeouts.WithDefaults()
	cctx, cancel := context.WithTimeout(ctx, t.Connect)
	defer cancel()
	start := time.Now()
	c, err := o.Dial(cctx, "tcp", netx.HostPort(o.Host, port))
	waited := time.Since(start)
	if err == nil {
		c.Close()
		return probeResult{state: StateOpen, waited: waited}
	}
	if ctx.Err() != nil {
		return probeResult{state: StateError, waited: waited, err: ctx.Err()}
	}
	switch netx.Classify(err) {
	case netx.KindRefused, netx.KindReset:
		return probeResult{state: StateClosed, waited: waited, err: err}
	case netx.KindTimeout:
		return probeResult{state: StateFiltered, waited: waited, err: err}
	}
	return probeResult{state: StateError, waited: waited, err: err}
}
