package imapaudit

import (
	"context"
	"fmt"
	"sync"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/tlsprobe"
)

// tlsScans runs the full TLS audit (protocols, suites, groups, DH size)
// of every port beside the protocol audit, and merges what only it knows
// into the report: the audit itself already judges the certificate,
// STARTTLS and its injection test, so those findings are not repeated.
type tlsScans struct {
	wg      sync.WaitGroup
	mu      sync.Mutex
	reports map[int]*report.Report
	errs    map[int]error
}

func (a *auditor) startTLSScans(ctx context.Context) *tlsScans {
	ts := &tlsScans{reports: map[int]*report.Report{}, errs: map[int]error{}}
	if a.o.NoTLSScan {
		return ts
	}
	role, proto := a.o.Protocol.role(), tlsprobe.ProtoIMAP
	if a.o.Protocol == POP3 {
		proto = tlsprobe.ProtoPOP3
	}
	for _, port := range a.o.Ports {
		p := proto
		switch a.o.tlsModeFor(port) {
		case netx.TLSImplicit:
			p = tlsprobe.ProtoNone
		case netx.TLSAuto:
			// A port of unknown mode: the scan finds out for itself
			// (the greeting, or a silence and a ClientHello answered).
			p = tlsprobe.ProtoAuto
		case netx.TLSNone:
			continue // --tls none: no TLS to scan
		}
		ts.wg.Add(1)
		go func() {
			defer ts.wg.Done()
			r, err := tlsprobe.Scan(ctx, tlsprobe.Options{Host: a.o.Host, Port: port, StartTLS: p, Role: role,
				ServerName: a.o.ServerName, RootCAs: a.o.RootCAs, Insecure: a.o.Insecure, Parallel: 2,
				Dial: a.o.Dial, Timeouts: a.o.Timeouts, Now: a.o.Now})
			ts.mu.Lock()
			ts.reports[port], ts.errs[port] = r, err
			ts.mu.Unlock()
		}()
	}
	return ts
}

func (a *auditor) mergeTLSScans(ts *tlsScans) {
	ts.wg.Wait()
	for _, port := range a.o.Ports {
		r, err := ts.reports[port], ts.errs[port]
		name := fmt.Sprintf("tls:%d", port)
		switch {
		case a.o.NoTLSScan:
			return
		case err != nil:
			a.rep.AddStage(report.Stage{Name: name, Status: report.StatusSkipped, Summary: err.Error()})
			continue
		case r == nil:
			continue
		}
		tlsprobe.Merge(a.rep, r, name)
	}
}
