package tlsprobe

// Vulnerability checks (issue 11): implementation bugs a configuration
// audit cannot see, each tested with a few hand-built connections and
// judged the way testssl.sh judges it. Every check is bounded: a deadline
// per connection, a byte cap on every read, and a connection budget that
// the result shows.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// Vulnerability check verdicts (JSON facts.vulnerabilities[].status).
const (
	VulnVulnerable    = "vulnerable"
	VulnNotVulnerable = "not vulnerable"
	VulnNotTestable   = "not testable"
	VulnNotApplicable = "not applicable"
)

// VulnResult is one vulnerability check (JSON: facts.vulnerabilities).
type VulnResult struct {
	Check       string `json:"check"`   // mailprobe's name: "heartbleed"
	Testssl     string `json:"testssl"` // testssl.sh's id: "heartbleed"
	Status      string `json:"status"`
	Detail      string `json:"detail,omitempty"`
	Connections int    `json:"connections"`
	Budget      int    `json:"budget"`
	// graded: the finding comes from elsewhere (grade.go), not from here.
	graded bool
	// failHard raises the vulnerable finding to a failure (an
	// aggravating circumstance, such as no RFC 5746); warn to a warning.
	failHard, warn bool
	// mxInfo: on a port-25 MX the vulnerable finding is information
	// (a weak suite, not a bug: opportunistic TLS, grade.go's mxReason).
	mxInfo bool
}

// vulnWait bounds the wait for an answer to a probe record sent after the
// server's hello flight: a server that ignores the record stays silent.
const vulnWait = 3 * time.Second

// vulnConn opens a probe connection up to the point where a ClientHello
// may be sent: the pinned address, the plaintext upgrade when the port
// uses STARTTLS. The caller closes it with the returned function.
//
// The connection holds one of the prober's slots (sem, --parallel) until
// it is closed: the checks run at the same time (vulns), and the slots
// keep them within the scan's bound of connections at once. No check
// opens a connection while it holds another, so holding a slot never
// waits for one.
func (p *prober) vulnConn(ctx context.Context) (net.Conn, func(), error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	c, done, err := p.rawConn(ctx, "vulnerabilities")
	if err != nil {
		<-p.sem
		return nil, nil, err
	}
	return c, func() { done(); <-p.sem }, nil
}

// rawConn is vulnConn for a probe of another phase (the progress line
// names it).
func (p *prober) rawConn(ctx context.Context, phase string) (net.Conn, func(), error) {
	rec := transcript.New(nil)
	s, err := dialSession(ctx, p.dial, p.addr, rec, p.t)
	if err != nil {
		return nil, nil, err
	}
	s.helo = p.helo
	if p.proto != ProtoNone {
		if _, err := p.upgrade(ctx, s); err != nil {
			s.close()
			return nil, nil, err
		}
	}
	raw, _ := s.c.Detach()
	disarm := s.c.Arm(ctx, p.t.TLS)
	if n := p.count.Add(1); p.progress != nil {
		p.progress(Progress{Handshakes: int(n), Phase: phase})
	}
	return raw, func() { disarm(); s.close() }, nil
}

// helloFlight sends a ClientHello and reads the server's first flight,
// through ServerHelloDone when the flight has a ServerKeyExchange
// (readFlight stops at it). The reader is returned for what follows.
// serverHello connects for a check, sends h and reads the server's hello
// flight. When there is no ServerHello to go on it returns why (the
// check is then not testable) and nothing to close; otherwise done
// closes the connection.
func (p *prober) serverHello(ctx context.Context, h ClientHello) (c net.Conn, br *bufio.Reader, f *Flight, done func(), why string) {
	c, done, err := p.vulnConn(ctx)
	if err != nil {
		return nil, nil, nil, nil, "connection failed before TLS: " + ioVerdict(err)
	}
	fail := func(why string) (net.Conn, *bufio.Reader, *Flight, func(), string) {
		done()
		return nil, nil, nil, nil, why
	}
	msg, err := h.Marshal()
	if err != nil {
		return fail(err.Error())
	}
	f, br, err = helloFlight(c, msg)
	switch {
	case f != nil && f.Alert != nil && f.Hello == nil:
		return fail("the ClientHello was refused: alert " + f.Alert.String())
	case err != nil:
		return fail("no complete hello flight: " + ioVerdict(err))
	case f.Hello == nil:
		return fail("no ServerHello")
	}
	return c, br, f, done, ""
}

func helloFlight(c net.Conn, msg []byte) (*Flight, *bufio.Reader, error) {
	if _, err := c.Write(msg); err != nil {
		return nil, nil, err
	}
	br := bufio.NewReaderSize(c, 8192)
	f, err := readFlight(br)
	if err != nil {
		return f, br, err
	}
	if f.Hello == nil {
		return f, br, nil
	}
	if !f.HelloDone && f.Alert == nil {
		// The rest of the flight is ServerHelloDone, maybe after a
		// CertificateRequest: skip handshake records, bounded.
		if err := skipHandshake(br, 4, func(b []byte) bool { return len(b) >= 4 && b[len(b)-4] == hsServerHelloDone }); err != nil {
			return f, br, err
		}
		f.HelloDone = true
	}
	return f, br, nil
}

// skipHandshake reads at most n handshake records until done says the
// last one ends the flight.
func skipHandshake(br *bufio.Reader, n int, done func([]byte) bool) error {
	hdr := make([]byte, 5)
	for range n {
		if _, err := io.ReadFull(br, hdr); err != nil {
			return err
		}
		if hdr[0] != recordHandshake {
			return fmt.Errorf("record type %d where the hello flight should end", hdr[0])
		}
		body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
		if len(body) > maxPlaintext+2048 {
			return errors.New("record too large")
		}
		if _, err := io.ReadFull(br, body); err != nil {
			return err
		}
		if done(body) {
			return nil
		}
	}
	return errors.New("hello flight did not end")
}

// vulnVersions are the accepted versions from TLS 1.0 to 1.2, newest first.
func (sc *scanner) vulnVersions() []uint16 {
	var out []uint16
	for i := len(sc.res.Versions) - 1; i >= 0; i-- {
		v := sc.res.Versions[i]
		if v.Supported && v.Code >= VersionTLS10 && v.Code <= VersionTLS12 {
			out = append(out, v.Code)
		}
	}
	return out
}

// serialProber is a prober for the checks after the enumeration: one
// connection at a time. Counting on from the enumeration's probes keeps
// the progress line and res.Handshakes one running total of connections.
func (sc *scanner) serialProber() *prober {
	p := newProber(prober{
		dial: sc.o.Dial, addr: sc.addr, proto: sc.proto, helo: sc.o.Helo, t: sc.t, rec: sc.rec,
		sem: make(chan struct{}, 1), width: 1, progress: sc.o.Progress,
	})
	p.count.Store(int64(sc.res.Handshakes - sc.primaryHandshakes))
	return p
}

// resume runs the session resumption check (resumption.go) as its own
// stage.
func (sc *scanner) resume(ctx context.Context) {
	p := sc.serialProber()
	st := sc.begin("resumption")
	r := p.resumption(ctx, sc.accepts(VersionTLS12), sc.accepts(VersionTLS13), sc.sni)
	sc.res.Resumption = r
	sc.res.Handshakes = sc.primaryHandshakes + int(p.count.Load())
	status := report.StatusInfo
	if r.SessionID == ResumeNotTested && r.Ticket == ResumeNotTested && r.TLS13 == ResumeNotTested {
		status = report.StatusSkipped
	}
	st.End(status, "session ID %s, ticket %s, TLS 1.3 ticket %s (%d connections)", r.SessionID, r.Ticket, r.TLS13, r.Connections)
}

// vulns runs the vulnerability checks after the enumeration, which says
// which versions to test. The results go to facts.vulnerabilities and to
// findings.
func (sc *scanner) vulns(ctx context.Context) {
	if sc.o.NoVulns {
		sc.skip("--no-vulns", "vulnerabilities")
		return
	}
	p := sc.serialProber()
	p.sem, p.width = make(chan struct{}, sc.o.Parallel), sc.o.Parallel
	st := sc.begin("vulnerabilities")
	vs := sc.vulnVersions()
	ssl3 := false
	if v := sc.res.Version(VersionSSL30); v != nil && v.Supported {
		ssl3 = true
	}
	rv, rsaOK := sc.robotVersion()
	// The checks are independent: they run at the same time, their
	// connections within --parallel (vulnConn). ROBOT goes first, since
	// its round without ChangeCipherSpec waits out the server's silence
	// and the quick checks fit into that wait. Each check writes its
	// transcript events to a recorder of its own, copied into the
	// report's in the order below: the same transcript whatever order the
	// checks finished in.
	checks := []func(q *prober) VulnResult{
		func(q *prober) VulnResult { return q.robot(ctx, rv, rsaOK, sc.sni) },
		func(q *prober) VulnResult { return q.heartbleed(ctx, vs, sc.sni) },
		func(q *prober) VulnResult { return q.ccsInjection(ctx, ccsVersion(vs, ssl3), sc.sni) },
		func(q *prober) VulnResult { return q.compression(ctx, newestVersion(vs, ssl3), sc.sni) },
		func(q *prober) VulnResult {
			return q.fallbackSCSV(ctx, fallbackVersion(sc.acceptedVersions()), sc.sni)
		},
		func(q *prober) VulnResult {
			return q.clientRenegotiation(ctx, sc.accepts(VersionTLS12), len(vs) > 0 || ssl3, sc.res.SecureRenegotiation, sc.sni)
		},
		func(q *prober) VulnResult { return q.ticketbleed(ctx, sc.res.Resumption, sc.sni) },
	}
	got := make([]VulnResult, len(checks))
	recs := make([]*transcript.Recorder, len(checks))
	var wg sync.WaitGroup
	for i, check := range checks {
		recs[i] = transcript.New(nil)
		q := p.withRecorder(recs[i])
		wg.Go(func() { got[i] = check(q) })
	}
	wg.Wait()
	for _, i := range []int{1, 2, 3, 4, 5, 6, 0} { // the report's order
		for _, e := range recs[i].Entries() {
			p.rec.Event("%s", e.Line)
		}
	}
	// The report's order: the bugs as testssl.sh lists them, ROBOT after
	// them, then the suite categories.
	robot := got[0]
	results := append(got[1:5:5], sc.secureRenegotiation(), sc.drown())
	results = append(results, got[5:]...)
	results = append(results, robot)
	results = append(results, sc.categoryResults()...)
	sc.res.Handshakes = sc.primaryHandshakes + int(p.count.Load())
	sc.rep.SetFact("vulnerabilities", results)
	sc.vulnResults = results
	worst := report.StatusOK
	var vulnerable, untestable []string
	for _, r := range results {
		switch r.Status {
		case VulnVulnerable:
			vulnerable = append(vulnerable, r.Check)
		case VulnNotTestable:
			untestable = append(untestable, r.Check)
		}
		if f, ok := vulnFinding(r); ok && !r.graded {
			if r.mxInfo && sc.role == RoleMX && f.Severity > report.Info {
				f = f.WithSeverity(report.Info)
				f.Detail += " " + mxReason
			}
			sc.add(f)
		}
		if r.Status == VulnNotTestable {
			worst = report.StatusError
		}
	}
	summary := fmt.Sprintf("%d checks, none vulnerable", len(results))
	if len(vulnerable) > 0 {
		summary = fmt.Sprintf("%d checks, vulnerable: %s", len(results), joinComma(vulnerable))
	}
	if len(untestable) > 0 {
		summary += "; not testable: " + joinComma(untestable)
	}
	st.End(worst, "%s", summary)
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}

// vulnFinding turns a result into its finding: tls.vuln.<check> when
// vulnerable, tls.vuln.<check>.untestable when it could not be tested,
// tls.vuln.<check>.ok otherwise.
func vulnFinding(r VulnResult) (report.Finding, bool) {
	code := "tls.vuln." + r.Check
	switch r.Status {
	case VulnVulnerable:
	case VulnNotTestable:
		code += ".untestable"
	case VulnNotVulnerable:
		code += ".ok"
	default:
		return report.Finding{}, false
	}
	f := report.New(code, "vulnerabilities", r.Detail)
	switch {
	case r.Status == VulnVulnerable && r.failHard:
		f = f.WithSeverity(report.Fail)
	case r.Status == VulnVulnerable && r.warn:
		f = f.WithSeverity(report.Warn)
	}
	if r.Budget > 0 {
		f = f.With("connections", fmt.Sprintf("%d of a budget of %d", r.Connections, r.Budget))
	}
	return f, true
}

// ioVerdict words a connection failure for a check's detail.
func ioVerdict(err error) string {
	if err == nil {
		return ""
	}
	var oe *netx.OpError
	if errors.As(err, &oe) {
		return fmt.Sprintf("%s: %s", oe.Op, netx.Describe(err, oe.Waited))
	}
	return err.Error()
}

// stepDeadline gives the next step of a check its own deadline (read and
// write), capped by the run's context.
func stepDeadline(ctx context.Context, c net.Conn, d time.Duration) {
	dl := time.Now().Add(d)
	if cd, ok := ctx.Deadline(); ok && cd.Before(dl) {
		dl = cd
	}
	if ctx.Err() != nil {
		dl = time.Unix(1, 0)
	}
	c.SetDeadline(dl)
}

// secureRenegotiation restates what the enumeration saw (RFC 5746
// renegotiation_info echoed in the ServerHellos of TLS 1.2 and older): no
// connection of its own. Its finding, tls.renegotiation.insecure, is
// graded by role in grade.go.
func (sc *scanner) secureRenegotiation() VulnResult {
	r := VulnResult{Check: "secure-renegotiation", Testssl: "secure_renego", graded: true}
	switch sr := sc.res.SecureRenegotiation; {
	case sr == nil:
		r.Status, r.Detail = VulnNotApplicable, "no ServerHello of TLS 1.2 or older was seen (TLS 1.3 has no renegotiation)"
	case *sr:
		r.Status, r.Detail = VulnNotVulnerable, "renegotiation_info echoed in the ServerHello (RFC 5746)"
	default:
		r.Status, r.Detail = VulnVulnerable, "no renegotiation_info in the ServerHello: RFC 5746 secure renegotiation not supported"
	}
	return r
}

// accepts reports whether version v was accepted.
func (sc *scanner) accepts(v uint16) bool {
	x := sc.res.Version(v)
	return x != nil && x.Supported
}

// acceptedVersions lists every accepted version, SSL 3.0 to TLS 1.3.
func (sc *scanner) acceptedVersions() []uint16 {
	var out []uint16
	for _, v := range sc.res.Versions {
		if v.Supported {
			out = append(out, v.Code)
		}
	}
	return out
}

// drown restates the SSLv2 probe (sslv2.go) as testssl.sh's DROWN: no
// connection of its own. It covers this port only: the same key used
// with SSLv2 on another host or port (an old POP3 or web server) makes
// this port vulnerable too, which no scan of this port can see.
func (sc *scanner) drown() VulnResult {
	r := VulnResult{Check: "drown", Testssl: "DROWN"}
	s := sc.res.SSLv2
	switch {
	case s == nil:
		r.Status, r.Detail = VulnNotTestable, "the SSLv2 probe did not run"
	case s.Supported:
		r.Status = VulnVulnerable
		r.Detail = fmt.Sprintf("the server speaks SSLv2 (%d cipher kinds): recorded TLS sessions using its RSA key can be decrypted", len(s.Ciphers))
		if s.SameKey != nil && *s.SameKey {
			r.Detail += "; its SSLv2 certificate has the same public key as the TLS certificate"
		} else if s.SameKey != nil {
			r.Detail += "; its SSLv2 certificate has a different key from the TLS certificate, so the TLS sessions of this port are exposed only if that key is used elsewhere with SSLv2"
		}
	case strings.HasPrefix(s.Note, "connection failed"), s.Note == "canceled":
		r.Status, r.Detail = VulnNotTestable, "SSLv2 probe: "+s.Note
	default:
		r.Status, r.Detail = VulnNotVulnerable, "no SSLv2 on this port ("+s.Note+"); a server elsewhere speaking SSLv2 with the same RSA key would still expose it"
	}
	return r
}
