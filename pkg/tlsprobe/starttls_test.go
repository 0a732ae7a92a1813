package tlsprobe

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
)

func modernGo(t testing.TB) *tls.Config {
	return goConfig(t, tls.VersionTLS12, tls.VersionTLS13, nil, []tls.CurveID{tls.X25519, tls.CurveP256})
}

// The CVE-2011-0411 test against a correct and a vulnerable server, for
// each protocol, in the one-handshake quick profile.
func TestInjection(t *testing.T) {
	for _, proto := range []Proto{ProtoSMTP, ProtoIMAP, ProtoPOP3} {
		for _, vulnerable := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/vulnerable=%v", proto, vulnerable), func(t *testing.T) {
				f := startFront(t, frontOpts{proto: proto, vulnerable: vulnerable, backend: goBackend(modernGo(t))})
				o := testOptions(t, f.port(), proto)
				o.Quick = true
				rep, res := runScan(t, o)
				if res.Handshakes != 1 {
					t.Errorf("quick profile made %d handshakes, want 1", res.Handshakes)
				}
				if vulnerable {
					if res.Injection != "vulnerable" {
						t.Fatalf("injection %q, want vulnerable; %v", res.Injection, codes(rep))
					}
					f := wantFinding(t, rep, "tls.starttls.injection", report.Fail)
					if len(f.Evidence) == 0 || f.Evidence[0].Seq == nil {
						t.Errorf("injection finding without transcript evidence: %+v", f)
					}
				} else {
					if res.Injection != "safe" {
						t.Fatalf("injection %q, want safe; %v", res.Injection, codes(rep))
					}
					wantFinding(t, rep, "tls.starttls.injection-safe", report.Pass)
				}
				wantFinding(t, rep, "tls.scan.quick", report.Info)
				wantFinding(t, rep, "cert.ok", report.Pass)
				if rep.Incomplete {
					t.Errorf("quick scan incomplete: %v", codes(rep))
				}
				// The injected command is in the transcript as sent, in
				// the same write as the upgrade.
				var sent []string
				for _, e := range rep.Transcript {
					if e.Dir == "C" && !e.TLS {
						sent = append(sent, e.Line)
					}
				}
				if got := strings.Join(sent, "|"); !strings.HasSuffix(got, map[Proto]string{ProtoSMTP: "STARTTLS|NOOP", ProtoIMAP: "a STARTTLS|b NOOP", ProtoPOP3: "STLS|NOOP"}[proto]) {
					t.Errorf("client lines before TLS: %s", got)
				}
			})
		}
	}
}

func TestInjection_roleMX(t *testing.T) {
	f := startFront(t, frontOpts{proto: ProtoSMTP, vulnerable: true, backend: goBackend(modernGo(t))})
	o := testOptions(t, f.port(), ProtoSMTP)
	o.Quick, o.Role = true, RoleMX
	rep, _ := runScan(t, o)
	wantFinding(t, rep, "tls.starttls.injection", report.Warn)
}

func TestInjection_answeredInPlaintext(t *testing.T) {
	f := startFront(t, frontOpts{proto: ProtoSMTP, plainPipelined: true, backend: goBackend(modernGo(t))})
	o := testOptions(t, f.port(), ProtoSMTP)
	o.Quick = true
	rep, res := runScan(t, o)
	if res.Injection != "safe" {
		t.Errorf("injection %q, want safe", res.Injection)
	}
	f1 := wantFinding(t, rep, "tls.starttls.pipelined-plaintext", report.Info)
	if len(f1.Evidence) == 0 || !strings.Contains(f1.Evidence[0].Text, "250 2.0.0 Ok") {
		t.Errorf("evidence %v, want the plaintext NOOP reply", f1.Evidence)
	}
	wantFinding(t, rep, "tls.handshake.ok", report.Pass)
}

// A server that drops the connection when anything follows STARTTLS in
// the same packet (Exim's "synchronization error" behaviour) is safe;
// the certificate comes from a second, clean connection.
func TestInjection_pipeliningRefused(t *testing.T) {
	cfg := modernGo(t)
	f := startFront(t, frontOpts{proto: ProtoSMTP, backend: func(f *front, c net.Conn, leftover []byte) {
		if len(leftover) > 0 {
			// Drop the connection. (Writing a 554 here raced with the
			// client's handshake: buffered with the go-ahead it is
			// discarded and the drop is seen, arriving later it is
			// plaintext where the ServerHello should be, a different
			// and separately tested outcome.)
			return
		}
		goBackend(cfg)(f, c, leftover)
	}})
	o := testOptions(t, f.port(), ProtoSMTP)
	o.Quick = true
	rep, res := runScan(t, o)
	if res.Injection != "rejected" {
		t.Errorf("injection %q, want rejected; %v", res.Injection, codes(rep))
	}
	wantFinding(t, rep, "tls.starttls.injection-safe", report.Pass)
	wantFinding(t, rep, "tls.handshake.ok", report.Pass)
	wantFinding(t, rep, "cert.ok", report.Pass)
}

// Refusals before TLS are findings that quote the server, and leave the
// report incomplete (exit 3), never a Go error.
func TestRefusedBeforeTLS(t *testing.T) {
	cases := []struct {
		name  string
		o     frontOpts
		code  string
		sev   report.Severity
		stage string
		text  string
		incom bool
	}{
		{"smtp 421 greeting", frontOpts{proto: ProtoSMTP, greeting: "421 4.7.0 mail.test Error: too many connections from 127.0.0.1"},
			"tls.server.refused", report.Fail, "banner", "too many connections", true},
		{"smtp 554 greeting", frontOpts{proto: ProtoSMTP, greeting: "554 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org"},
			"tls.server.refused", report.Fail, "banner", "spamhaus", true},
		{"smtp 421 to EHLO", frontOpts{proto: ProtoSMTP, ehlo: "421 4.4.2 mail.test Error: timeout exceeded"},
			"tls.server.refused", report.Fail, "capabilities", "timeout exceeded", true},
		{"smtp 454 to STARTTLS", frontOpts{proto: ProtoSMTP, starttls: "454 4.7.0 TLS not available due to local problem"},
			"tls.starttls.rejected", report.Fail, "starttls", "TLS not available", false},
		{"imap BYE", frontOpts{proto: ProtoIMAP, greeting: "* BYE Too many connections from your IP"},
			"tls.server.refused", report.Fail, "banner", "Too many connections", true},
		{"imap NO to STARTTLS", frontOpts{proto: ProtoIMAP, starttls: "NO [UNAVAILABLE] TLS is not configured"},
			"tls.starttls.rejected", report.Fail, "starttls", "not configured", false},
		{"pop3 -ERR greeting", frontOpts{proto: ProtoPOP3, greeting: "-ERR [SYS/TEMP] Server busy"},
			"tls.server.refused", report.Fail, "banner", "Server busy", true},
		{"pop3 -ERR to STLS", frontOpts{proto: ProtoPOP3, starttls: "-ERR STLS not available"},
			"tls.starttls.rejected", report.Fail, "starttls", "not available", false},
		{"garbage greeting", frontOpts{proto: ProtoSMTP, greeting: "SSH-2.0-OpenSSH_9.2p1"},
			"tls.banner.unexpected", report.Fail, "banner", "SSH-2.0", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.o.backend = goBackend(modernGo(t))
			f := startFront(t, c.o)
			rep, res := runScan(t, testOptions(t, f.port(), c.o.proto))
			got := wantFinding(t, rep, c.code, c.sev)
			if got.Stage != c.stage {
				t.Errorf("stage %s, want %s", got.Stage, c.stage)
			}
			if !strings.Contains(got.Detail+fmt.Sprint(got.Evidence), c.text) {
				t.Errorf("finding does not quote the server: %s %v", got.Detail, got.Evidence)
			}
			if rep.Incomplete != c.incom {
				t.Errorf("incomplete %v, want %v", rep.Incomplete, c.incom)
			}
			if res.Handshakes != 0 {
				t.Errorf("%d handshakes after a refusal", res.Handshakes)
			}
			for _, s := range rep.Stages {
				if s.Name == "ciphers" && s.Status != report.StatusSkipped {
					t.Errorf("ciphers stage %s after a refusal", s.Status)
				}
			}
		})
	}
	// On an MX a refused STARTTLS is a warning, not a failure.
	f := startFront(t, frontOpts{proto: ProtoSMTP, starttls: "502 5.5.1 STARTTLS not supported", backend: goBackend(modernGo(t))})
	o := testOptions(t, f.port(), ProtoSMTP)
	o.Role = RoleMX
	rep, _ := runScan(t, o)
	wantFinding(t, rep, "tls.starttls.rejected", report.Warn)
}

// A server that starts refusing after a few connections (a rate limit):
// the enumeration says it is incomplete instead of reporting a short list
// as the truth.
func TestRateLimitedMidScan(t *testing.T) {
	f := startFront(t, frontOpts{proto: ProtoSMTP, refuseAfter: 4, refusal: "421 4.7.0 Error: too many connections from 127.0.0.1",
		backend: goBackend(modernGo(t))})
	o := testOptions(t, f.port(), ProtoSMTP)
	o.Parallel = 1
	rep, res := runScan(t, o)
	if res.Complete {
		t.Errorf("scan claims to be complete")
	}
	f1 := wantFinding(t, rep, "tls.probe.incomplete", report.Warn)
	if !strings.Contains(f1.Detail, "too many connections") {
		t.Errorf("detail does not say why: %s", f1.Detail)
	}
	if !rep.Incomplete || rep.ExitCode(report.Fail) != report.ExitIncomplete {
		t.Errorf("exit code %d, want %d", rep.ExitCode(report.Fail), report.ExitIncomplete)
	}
}

func TestHostileServers(t *testing.T) {
	short := netx.Timeouts{Connect: time.Second, Banner: 500 * time.Millisecond, Command: 500 * time.Millisecond, TLS: 500 * time.Millisecond}
	readHello := func(c net.Conn) { readClientHello(bufio.NewReader(c)) }
	cases := []struct {
		name    string
		o       frontOpts
		code    string
		stage   string
		maxTime time.Duration
		check   func(t *testing.T, rep *report.Report, res *Result)
	}{
		{name: "garbage instead of ServerHello", o: frontOpts{proto: ProtoSMTP, backend: func(f *front, c net.Conn, _ []byte) {
			readHello(c)
			io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
		}}, code: "tls.handshake.not-tls", stage: "handshake"},
		{name: "alert to every ClientHello", o: frontOpts{proto: ProtoNone, backend: func(f *front, c net.Conn, _ []byte) {
			readHello(c)
			c.Write([]byte{recordAlert, 3, 3, 0, 2, 2, 40})
		}}, code: "tls.handshake.failed", stage: "handshake", check: func(t *testing.T, rep *report.Report, res *Result) {
			if len(res.Supported()) != 0 {
				t.Errorf("versions %v from a server that refuses everything", res.Supported())
			}
			if res.Handshakes != 1+len(AllVersions)+1 {
				t.Errorf("%d handshakes, want one per version, the SSLv2 probe and crypto/tls", res.Handshakes)
			}
		}},
		{name: "reset after ClientHello", o: frontOpts{proto: ProtoIMAP, backend: func(f *front, c net.Conn, _ []byte) {
			readHello(c)
			c.(*net.TCPConn).SetLinger(0) // close with RST
		}}, code: "tls.handshake.failed", stage: "handshake"},
		{name: "silent after STARTTLS", o: frontOpts{proto: ProtoSMTP, backend: func(f *front, c net.Conn, _ []byte) {
			io.Copy(io.Discard, c)
		}}, code: "tls.conn.timeout", stage: "handshake", maxTime: 3 * time.Second},
		{name: "silent server", o: frontOpts{proto: ProtoSMTP, silent: true}, code: "tls.conn.timeout", stage: "banner", maxTime: 3 * time.Second},
		{name: "silent implicit TLS", o: frontOpts{proto: ProtoNone, silent: true}, code: "tls.conn.timeout", stage: "handshake", maxTime: 3 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := startFront(t, c.o)
			o := testOptions(t, f.port(), c.o.proto)
			o.Timeouts = short
			start := time.Now()
			rep, res := runScan(t, o)
			took := time.Since(start)
			got := wantFinding(t, rep, c.code, report.Fail)
			if got.Stage != c.stage {
				t.Errorf("%s at stage %s, want %s", c.code, got.Stage, c.stage)
			}
			if c.code == "tls.conn.timeout" && !strings.Contains(got.Detail, "stage "+c.stage) {
				t.Errorf("timeout finding does not name the stage: %s", got.Detail)
			}
			if c.maxTime > 0 && took > c.maxTime {
				t.Errorf("took %s, want under %s: a silent server must cost one deadline, not one per probe", took, c.maxTime)
			}
			if c.check != nil {
				c.check(t, rep, res)
			}
		})
	}
	// Nothing listening.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	rep, _ := runScan(t, testOptions(t, port, ProtoSMTP))
	wantFinding(t, rep, "tls.connect.failed", report.Fail)
	if rep.ExitCode(report.Fail) != report.ExitIncomplete {
		t.Errorf("exit %d for an unreachable port", rep.ExitCode(report.Fail))
	}
}

// --starttls auto on a port that is not a well-known mail port: the
// greeting decides, and silence means implicit TLS.
func TestAutoDetect(t *testing.T) {
	for _, c := range []struct {
		proto Proto
		role  Role
	}{{ProtoSMTP, RoleSubmission}, {ProtoIMAP, RoleIMAP}, {ProtoPOP3, RolePOP3}, {ProtoNone, RoleSubmission}} {
		t.Run(string(c.proto), func(t *testing.T) {
			f := startFront(t, frontOpts{proto: c.proto, backend: goBackend(modernGo(t))})
			o := testOptions(t, f.port(), ProtoAuto)
			o.Quick = true
			o.Timeouts.Banner = time.Second // silence means implicit TLS; long enough for a loaded machine
			rep, res := runScan(t, o)
			if res.StartTLS != c.proto || res.Role != c.role {
				t.Errorf("detected %s/%s, want %s/%s; %v", res.StartTLS, res.Role, c.proto, c.role, codes(rep))
			}
			wantFinding(t, rep, "tls.handshake.ok", report.Pass)
		})
	}
}

// An implicit-TLS port outside netx.MailPorts, with no --tls mode and the
// default 30 s greeting deadline: the silence plus a second connection
// that answers a ClientHello find it, one info finding says so, and the
// scan goes on over TLS instead of waiting for a greeting.
func TestAutoDetect_implicitTLSWithoutWaitingForTheBanner(t *testing.T) {
	f := startFront(t, frontOpts{proto: ProtoNone, backend: goBackend(modernGo(t))})
	o := testOptions(t, f.port(), ProtoAuto)
	o.Quick = true
	o.Timeouts = netx.Timeouts{} // the defaults: a 30 s banner deadline
	start := time.Now()
	rep, res := runScan(t, o)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %s: implicit TLS must be found without waiting out the banner deadline", took)
	}
	got := wantFinding(t, rep, "tls.implicit-detected", report.Info)
	if code, _ := report.Lookup(got.Code); got.Stage != "banner" || !strings.Contains(code.Fix, "--tls implicit") {
		t.Errorf("finding %+v: want stage banner and a fix naming --tls implicit", got)
	}
	if res.StartTLS != ProtoNone {
		t.Errorf("went on as %q, want implicit TLS", res.StartTLS)
	}
	wantFinding(t, rep, "tls.handshake.ok", report.Pass)
}

// A silent server that does not speak TLS either is not taken for
// implicit TLS: the banner stage times out as before.
func TestAutoDetect_silentPlaintextIsNotTLS(t *testing.T) {
	f := startFront(t, frontOpts{proto: ProtoSMTP, silent: true})
	o := testOptions(t, f.port(), ProtoAuto)
	o.Quick = true
	rep, _ := runScan(t, o)
	got := wantFinding(t, rep, "tls.conn.timeout", report.Fail)
	if got.Stage != "banner" {
		t.Errorf("timeout at stage %s, want banner", got.Stage)
	}
	for _, f := range rep.Findings {
		if f.Code == "tls.implicit-detected" {
			t.Errorf("a silent plaintext port was reported as implicit TLS")
		}
	}
}

func TestNotEnforced(t *testing.T) {
	for _, c := range []frontOpts{
		{proto: ProtoSMTP, authBeforeTLS: true},
		{proto: ProtoIMAP, caps: []string{"IMAP4rev1", "STARTTLS", "AUTH=PLAIN"}},
		{proto: ProtoPOP3, caps: []string{"STLS", "USER"}},
	} {
		t.Run(string(c.proto), func(t *testing.T) {
			c.backend = goBackend(modernGo(t))
			f := startFront(t, c)
			o := testOptions(t, f.port(), c.proto)
			o.Quick = true
			rep, _ := runScan(t, o)
			wantFinding(t, rep, "tls.starttls.not-enforced", report.Warn)
		})
	}
	// Not advertised, but works when asked.
	f := startFront(t, frontOpts{proto: ProtoIMAP, caps: []string{"IMAP4rev1", "LOGINDISABLED"}, backend: goBackend(modernGo(t))})
	o := testOptions(t, f.port(), ProtoIMAP)
	o.Quick = true
	rep, _ := runScan(t, o)
	wantFinding(t, rep, "tls.starttls.not-advertised", report.Fail)
	wantFinding(t, rep, "tls.handshake.ok", report.Pass)
}

// countingDial tracks how many connections are open at once.
type countingDial struct {
	mu      sync.Mutex
	open    int
	maxOpen int
	total   int
}

type countedConn struct {
	net.Conn
	d    *countingDial
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.d.mu.Lock()
		c.d.open--
		c.d.mu.Unlock()
	})
	return c.Conn.Close()
}

func (d *countingDial) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.open++
	d.total++
	d.maxOpen = max(d.maxOpen, d.open)
	d.mu.Unlock()
	return &countedConn{Conn: c, d: d}, nil
}

func TestParallelBound(t *testing.T) {
	for _, n := range []int{1, 2, 4} {
		// A server that takes 5 ms per answer, so that chains overlap.
		rs := weakServer(t, true)
		rs.delay = 5 * time.Millisecond
		f := startFront(t, frontOpts{proto: ProtoNone, backend: rawBackend(rs)})
		d := &countingDial{}
		o := testOptions(t, f.port(), ProtoNone)
		o.Parallel, o.Dial = n, d.dial
		_, res := runScan(t, o)
		if d.maxOpen > n {
			t.Errorf("--parallel %d: %d connections open at once", n, d.maxOpen)
		}
		if n > 1 && d.maxOpen < 2 {
			t.Errorf("--parallel %d: never more than one connection", n)
		}
		if d.open != 0 {
			t.Errorf("--parallel %d: %d connections left open", n, d.open)
		}
		if d.total != res.Handshakes {
			t.Errorf("%d connections for %d handshakes", d.total, res.Handshakes)
		}
	}
}

// A server that answers the pipelined NOOP in plaintext a moment after
// its go-ahead: the reply lands where the ServerHello should be. Safe,
// and said so, with the bytes as evidence.
func TestInjection_lateAnswerInPlaintext(t *testing.T) {
	cfg := modernGo(t)
	f := startFront(t, frontOpts{proto: ProtoSMTP, backend: func(f *front, c net.Conn, leftover []byte) {
		if len(leftover) > 0 {
			time.Sleep(20 * time.Millisecond)
			io.WriteString(c, "250 2.0.0 Ok\r\n")
			io.Copy(io.Discard, c)
			return
		}
		goBackend(cfg)(f, c, leftover)
	}})
	o := testOptions(t, f.port(), ProtoSMTP)
	o.Quick = true
	rep, res := runScan(t, o)
	if res.Injection != "safe" {
		t.Errorf("injection %q, want safe; %v", res.Injection, codes(rep))
	}
	wantFinding(t, rep, "tls.starttls.pipelined-plaintext", report.Info)
	wantFinding(t, rep, "tls.starttls.injection-safe", report.Pass)
	wantFinding(t, rep, "tls.handshake.ok", report.Pass)
}
