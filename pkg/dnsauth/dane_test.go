package dnsauth_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/pkg/dnsauth"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

func selfSigned(t *testing.T, host string) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// smtpServer is a minimal MX: greeting, EHLO (with or without STARTTLS),
// STARTTLS, QUIT. It speaks just enough SMTP for the DANE check.
func smtpServer(t *testing.T, cert tls.Certificate, starttls bool) int {
	return listenSMTP(t, "127.0.0.1:0", mxConfig{cert: cert, starttls: starttls})
}

// mxConfig shapes one listener of listenSMTP.
type mxConfig struct {
	cert     tls.Certificate
	starttls bool
	active   *atomic.Int32 // connections open now, when counted
	peak     *atomic.Int32 // the most ever open at once
	// waitFor holds the greeting until that many connections have been
	// open at once (at most 3 seconds), so that the first ones overlap.
	waitFor int32
}

// listenSMTP serves the minimal MX on addr ("127.0.0.2:PORT", "[::1]:0")
// and returns the port. It fails the test when addr cannot be bound;
// callers that can do without an address check first.
func listenSMTP(t *testing.T, addr string, mc mxConfig) int {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveMX(c, mc)
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func serveMX(c net.Conn, mc mxConfig) {
	defer c.Close()
	if mc.active != nil {
		n := mc.active.Add(1)
		defer mc.active.Add(-1)
		for {
			p := mc.peak.Load()
			if n <= p || mc.peak.CompareAndSwap(p, n) {
				break
			}
		}
	}
	for deadline := time.Now().Add(3 * time.Second); mc.active != nil && mc.peak.Load() < mc.waitFor && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	fmt.Fprint(c, "220 mx.dane.test ESMTP\r\n")
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			if mc.starttls {
				fmt.Fprint(c, "250-mx.dane.test\r\n250 STARTTLS\r\n")
			} else {
				fmt.Fprint(c, "250 mx.dane.test\r\n")
			}
		case cmd == "STARTTLS":
			fmt.Fprint(c, "220 go ahead\r\n")
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{mc.cert}})
			if tc.Handshake() != nil {
				return
			}
			c, br = tc, bufio.NewReader(tc)
		case cmd == "QUIT":
			fmt.Fprint(c, "221 bye\r\n")
			return
		default:
			fmt.Fprint(c, "502 no\r\n")
		}
	}
}

// samePort binds listeners for every address in addrs on one port (the
// port an MX's addresses share), retrying with a fresh port when another
// process holds it on one of the addresses.
func samePort(t *testing.T, addrs []string, mcs []mxConfig) int {
	t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		first, err := net.Listen("tcp", net.JoinHostPort(addrs[0], "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := first.Addr().(*net.TCPAddr).Port
		lns := []net.Listener{first}
		for _, a := range addrs[1:] {
			ln, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(port)))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		if len(lns) < len(addrs) {
			for _, ln := range lns {
				ln.Close()
			}
			continue
		}
		for i, ln := range lns {
			t.Cleanup(func() { ln.Close() })
			go func(ln net.Listener, mc mxConfig) {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go serveMX(c, mc)
				}
			}(ln, mcs[i])
		}
		return port
	}
	t.Fatalf("no port free on all of %v", addrs)
	return 0
}

// haveIPv6Loopback reports whether ::1 can be bound here.
func haveIPv6Loopback() bool {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

func tlsaData(c *x509.Certificate, selector, matching uint8) string {
	content := c.Raw
	if selector == 1 {
		content = c.RawSubjectPublicKeyInfo
	}
	switch matching {
	case 1:
		h := sha256.Sum256(content)
		return hex.EncodeToString(h[:])
	case 2:
		h := sha512.Sum512(content)
		return hex.EncodeToString(h[:])
	}
	return hex.EncodeToString(content)
}

func TestCheckDANE_connect(t *testing.T) {
	cert := selfSigned(t, "mx.dane.test")
	other := selfSigned(t, "mx.dane.test")
	port := smtpServer(t, cert, true)
	noTLSPort := smtpServer(t, cert, false)
	cases := []struct {
		name   string
		tlsa   []string // usage selector matching data
		secure bool
		port   int
		want   []string
		not    []string
	}{
		{"DANE-EE SPKI SHA-256", []string{"3 1 1 " + tlsaData(cert.Leaf, 1, 1)}, true, port, []string{"dane.cert.match"}, []string{"dane.tlsa.insecure"}},
		{"DANE-EE full cert SHA-512", []string{"3 0 2 " + tlsaData(cert.Leaf, 0, 2)}, true, port, []string{"dane.cert.match"}, nil},
		{"DANE-EE exact", []string{"3 1 0 " + tlsaData(cert.Leaf, 1, 0)}, true, port, []string{"dane.cert.match"}, nil},
		{"DANE-TA self-issued", []string{"2 0 1 " + tlsaData(cert.Leaf, 0, 1)}, true, port, []string{"dane.cert.match"}, nil},
		{"rotated key", []string{"3 1 1 " + tlsaData(other.Leaf, 1, 1)}, true, port, []string{"dane.cert.mismatch"}, []string{"dane.cert.match"}},
		{"one of two matches", []string{"3 1 1 " + tlsaData(other.Leaf, 1, 1), "3 1 1 " + tlsaData(cert.Leaf, 1, 1)}, true, port, []string{"dane.cert.match"}, nil},
		{"not validated", []string{"3 1 1 " + tlsaData(cert.Leaf, 1, 1)}, false, port, []string{"dane.tlsa.insecure", "dane.cert.match"}, nil},
		{"PKIX-EE usage", []string{"1 1 1 " + tlsaData(cert.Leaf, 1, 1)}, true, port, []string{"dane.tlsa.pkix-usage"}, nil},
		{"short digest", []string{"3 1 1 abcdef"}, true, port, []string{"dane.tlsa.invalid", "dane.cert.mismatch"}, nil},
		{"no STARTTLS", []string{"3 1 1 " + tlsaData(cert.Leaf, 1, 1)}, true, noTLSPort, []string{"dane.cert.mismatch"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			z := dnstest.NewZone().MustAdd("mx.dane.test. 300 IN A 127.0.0.1")
			for _, rec := range c.tlsa {
				z.MustAdd("_" + strconv.Itoa(c.port) + "._tcp.mx.dane.test. 300 IN TLSA " + rec)
			}
			if c.secure {
				z.Mark("dane.test.", 0, dnstest.Secure)
			}
			srv := dnstest.Start(t, z)
			dc := dnsauth.CheckDANE(context.Background(), newResolver(t, srv), []string{"mx.dane.test"},
				dnsauth.DANEOptions{Connect: true, Port: c.port, Timeouts: netx.Timeouts{Connect: 2 * time.Second, Command: 2 * time.Second, TLS: 2 * time.Second}})
			expectCodes(t, dc.Findings(), c.want, c.not)
		})
	}
}

func TestCheckDANE_records(t *testing.T) {
	z := dnstest.NewZone().MustAdd(
		"_25._tcp.mx1.dane.test. 300 IN TLSA 3 1 1 "+strings.Repeat("ab", 32),
		"_25._tcp.mx2.dane.test. 300 IN TLSA 3 1 1 "+strings.Repeat("ab", 32),
	)
	z.Mark("dane.test.", 0, dnstest.Secure)
	z.Mark("_25._tcp.mx3.dane.test.", dns.TypeTLSA, dnstest.ServFail)
	srv := dnstest.Start(t, z)
	r := newResolver(t, srv)
	expectCodes(t, dnsauth.CheckDANE(context.Background(), r, []string{"mx1.dane.test", "mx2.dane.test"}, dnsauth.DANEOptions{}).Findings(),
		[]string{"dane.tlsa.ok"}, []string{"dane.tlsa.partial", "dane.tlsa.missing"})
	expectCodes(t, dnsauth.CheckDANE(context.Background(), r, []string{"mx1.dane.test", "none.dane.test"}, dnsauth.DANEOptions{}).Findings(),
		[]string{"dane.tlsa.partial"}, nil)
	expectCodes(t, dnsauth.CheckDANE(context.Background(), r, []string{"none.dane.test"}, dnsauth.DANEOptions{}).Findings(),
		[]string{"dane.tlsa.missing"}, nil)
	dc := dnsauth.CheckDANE(context.Background(), r, []string{"mx3.dane.test"}, dnsauth.DANEOptions{})
	expectCodes(t, dc.Findings(), []string{"dane.dns.error"}, nil)
	if dc.DNSError == "" {
		t.Error("DNS error not reported")
	}
}

func TestCheckTLSAParams(t *testing.T) {
	ok := dnsauth.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: strings.Repeat("00", 32)}
	if err := dnsauth.CheckTLSAParams(ok); err != nil {
		t.Error(err)
	}
	for _, bad := range []dnsauth.TLSA{
		{Usage: 4, Selector: 1, MatchingType: 1, Data: strings.Repeat("00", 32)},
		{Usage: 3, Selector: 2, MatchingType: 1, Data: strings.Repeat("00", 32)},
		{Usage: 3, Selector: 1, MatchingType: 3, Data: strings.Repeat("00", 32)},
		{Usage: 3, Selector: 1, MatchingType: 2, Data: strings.Repeat("00", 32)},
		{Usage: 3, Selector: 1, MatchingType: 0, Data: "zz"},
	} {
		if dnsauth.CheckTLSAParams(bad) == nil {
			t.Errorf("accepted %v", bad)
		}
	}
}

// daneTimeouts and patientResolver leave room for a loaded test machine:
// these tests are about which addresses are dialed, not about speed.
var daneTimeouts = netx.Timeouts{Connect: 10 * time.Second, Command: 10 * time.Second, TLS: 10 * time.Second}

func patientResolver(t *testing.T, srv *dnstest.Server) *resolver.Resolver {
	t.Helper()
	r, err := resolver.New(resolver.Options{Server: srv.Addr, Timeout: 2 * time.Second, Retries: 2})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Every address of an MX is checked (A and AAAA), each with a finding
// of its own when it fails, and the dialogues are the check's transcript.
func TestCheckDANE_everyAddress(t *testing.T) {
	cert := selfSigned(t, "mx.dane.test")
	other := selfSigned(t, "mx.dane.test")
	addrs := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}
	mcs := []mxConfig{{cert: cert, starttls: true}, {cert: other, starttls: true}, {cert: cert, starttls: false}}
	v6 := haveIPv6Loopback()
	if v6 {
		addrs = append(addrs, "::1")
		mcs = append(mcs, mxConfig{cert: cert, starttls: true})
	} else {
		t.Log("no IPv6 loopback: checking A records only")
	}
	port := samePort(t, addrs, mcs)
	z := dnstest.NewZone().MustAdd(
		"mx.dane.test. 300 IN A 127.0.0.1",
		"mx.dane.test. 300 IN A 127.0.0.2",
		"mx.dane.test. 300 IN A 127.0.0.3",
		"mx.dane.test. 300 IN A 127.0.0.4", // nothing listens: refused
		"mx.dane.test. 300 IN AAAA ::1",
		fmt.Sprintf("_%d._tcp.mx.dane.test. 300 IN TLSA 3 1 1 %s", port, tlsaData(cert.Leaf, 1, 1)),
	)
	z.Mark("dane.test.", 0, dnstest.Secure)
	srv := dnstest.Start(t, z)
	dc := dnsauth.CheckDANE(context.Background(), patientResolver(t, srv), []string{"mx.dane.test"},
		dnsauth.DANEOptions{Connect: true, Port: port, Timeouts: daneTimeouts})

	hp := func(ip string) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }
	h := dc.Hosts[0]
	wantAddrs := []string{hp("127.0.0.1"), hp("127.0.0.2"), hp("127.0.0.3"), hp("127.0.0.4"), hp("::1")}
	var got []string
	for _, a := range h.Addrs {
		got = append(got, a.Addr)
	}
	if !slices.Equal(got, wantAddrs) {
		t.Fatalf("addresses checked %v, want %v", got, wantAddrs)
	}
	byAddr := map[string]dnsauth.DANEAddr{}
	for _, a := range h.Addrs {
		byAddr[a.Addr] = a
	}
	if a := byAddr[hp("127.0.0.1")]; !a.Checked || a.Matched == "" {
		t.Errorf("127.0.0.1: %+v", a)
	}
	if a := byAddr[hp("127.0.0.2")]; !a.Checked || a.Matched != "" || !strings.Contains(a.Mismatch, "no TLSA record matches") {
		t.Errorf("127.0.0.2 (rotated key): %+v", a)
	}
	if a := byAddr[hp("127.0.0.3")]; !a.Checked || !strings.Contains(a.Mismatch, "STARTTLS") {
		t.Errorf("127.0.0.3 (no STARTTLS): %+v", a)
	}
	if a := byAddr[hp("127.0.0.4")]; a.Checked || !strings.Contains(a.Error, "connecting") {
		t.Errorf("127.0.0.4 (refused): %+v", a)
	}
	if a := byAddr[hp("::1")]; v6 && (!a.Checked || a.Matched == "") {
		t.Errorf("::1: %+v", a)
	}
	if h.Matched == "" || h.Mismatch == "" || !h.Checked {
		t.Errorf("host summary %+v", h)
	}

	// One finding per failing address, naming it; one for the matches.
	perAddr := map[string][]string{}
	for _, f := range dc.Findings() {
		for _, a := range wantAddrs {
			if strings.Contains(f.Detail, a) {
				perAddr[a] = append(perAddr[a], f.Code)
			}
		}
	}
	for a, want := range map[string]string{hp("127.0.0.2"): "dane.cert.mismatch", hp("127.0.0.3"): "dane.cert.mismatch", hp("127.0.0.4"): "dane.connect.failed", hp("127.0.0.1"): "dane.cert.match"} {
		if !slices.Equal(perAddr[a], []string{want}) {
			t.Errorf("findings naming %s: %v, want [%s]", a, perAddr[a], want)
		}
	}
	if v6 && !slices.Equal(perAddr[hp("::1")], []string{"dane.cert.match"}) {
		t.Errorf("findings naming [::1]: %v", perAddr[hp("::1")])
	}
	n := 0
	for _, f := range dc.Findings() {
		if f.Code == "dane.cert.mismatch" || f.Code == "dane.connect.failed" {
			n++
		}
	}
	wantFailures := 3
	if !v6 {
		wantFailures++ // ::1 cannot be reached
	}
	if n != wantFailures {
		t.Errorf("%d failure findings, want %d (one per failing address): %v", n, wantFailures, codes(dc.Findings()))
	}

	// The transcript: every dialogue, numbered 1..n, each failure citing
	// its own.
	for i, e := range dc.Transcript {
		if e.Seq != i+1 {
			t.Fatalf("entry %d has seq %d", i, e.Seq)
		}
	}
	text := transcriptText(dc.Transcript)
	t.Log(text)
	for _, want := range []string{"DANE: MX mx.dane.test at " + hp("127.0.0.1"), "C: EHLO mailprobe.invalid", "C: STARTTLS", "S: 220 go ahead",
		"DANE: the certificate matches TLSA 3 1 1", "DANE: no TLSA record matches", "connect to " + hp("127.0.0.4") + " failed"} {
		if !strings.Contains(text, want) {
			t.Errorf("transcript lacks %q:\n%s", want, text)
		}
	}
	f, _ := find(dc.Findings(), "dane.cert.mismatch")
	var seq []int
	for _, ev := range f.Evidence {
		if ev.Kind == "transcript" {
			seq = ev.Seq
		}
	}
	if len(seq) == 0 {
		t.Fatalf("mismatch cites no transcript: %+v", f)
	}
	cited := transcriptText(dc.Transcript[seq[0]-1 : seq[len(seq)-1]])
	if !strings.Contains(cited, hp("127.0.0.2")) || strings.Contains(cited, hp("127.0.0.1")) {
		t.Errorf("the mismatch at 127.0.0.2 cites another dialogue:\n%s", cited)
	}
}

func transcriptText(es []transcript.Entry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "%d %s: %s\n", e.Seq, e.Dir, e.Line)
	}
	return strings.ReplaceAll(b.String(), "*: ", "")
}

// At most Concurrency connections are open at once, across MX hosts.
func TestCheckDANE_concurrencyBound(t *testing.T) {
	cert := selfSigned(t, "mx.dane.test")
	var active, peak atomic.Int32
	ips := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}
	mcs := make([]mxConfig, len(ips))
	for i := range mcs {
		mcs[i] = mxConfig{cert: cert, starttls: true, waitFor: 2, active: &active, peak: &peak}
	}
	port := samePort(t, ips, mcs)
	z := dnstest.NewZone()
	for i, ip := range ips {
		host := "mx1.dane.test."
		if i >= 3 {
			host = "mx2.dane.test."
		}
		z.MustAdd(host + " 300 IN A " + ip)
	}
	for _, host := range []string{"mx1", "mx2"} {
		z.MustAdd(fmt.Sprintf("_%d._tcp.%s.dane.test. 300 IN TLSA 3 1 1 %s", port, host, tlsaData(cert.Leaf, 1, 1)))
	}
	z.Mark("dane.test.", 0, dnstest.Secure)
	srv := dnstest.Start(t, z)
	// The bound is measured where the code under test keeps it: on the
	// client, from a dial to the Close of that connection. (The servers'
	// own count lags: a server notices a close only when it next reads.)
	var open, most atomic.Int32
	d := &net.Dialer{}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		n := open.Add(1)
		for p := most.Load(); n > p && !most.CompareAndSwap(p, n); p = most.Load() {
		}
		return &countedConn{Conn: c, open: &open}, nil
	}
	dc := dnsauth.CheckDANE(context.Background(), patientResolver(t, srv), []string{"mx1.dane.test", "mx2.dane.test"},
		dnsauth.DANEOptions{Connect: true, Port: port, Concurrency: 2, Dial: dial, Timeouts: daneTimeouts})
	checked := 0
	for _, h := range dc.Hosts {
		for _, a := range h.Addrs {
			if a.Matched != "" {
				checked++
			}
		}
	}
	if checked != len(ips) {
		t.Errorf("%d of %d addresses matched: %v", checked, len(ips), codes(dc.Findings()))
	}
	if p := most.Load(); p != 2 {
		t.Errorf("%d connections open at once, want 2 (the bound, reached)", p)
	}
	if n := open.Load(); n != 0 {
		t.Errorf("%d connections left open", n)
	}
}

// countedConn counts itself out of open once, on its first Close.
type countedConn struct {
	net.Conn
	open *atomic.Int32
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.open.Add(-1) })
	return c.Conn.Close()
}

// An address this machine has no route to (no IPv6 here) is reported,
// as a warning: it says nothing about the MX.
func TestCheckDANE_unreachableNetwork(t *testing.T) {
	cert := selfSigned(t, "mx.dane.test")
	port := smtpServer(t, cert, true)
	z := dnstest.NewZone().MustAdd(
		"mx.dane.test. 300 IN A 127.0.0.1",
		"mx.dane.test. 300 IN AAAA 2001:db8::25",
		fmt.Sprintf("_%d._tcp.mx.dane.test. 300 IN TLSA 3 1 1 %s", port, tlsaData(cert.Leaf, 1, 1)),
	)
	z.Mark("dane.test.", 0, dnstest.Secure)
	srv := dnstest.Start(t, z)
	d := &net.Dialer{}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if strings.HasPrefix(addr, "[") {
			return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("connect", syscall.ENETUNREACH)}
		}
		return d.DialContext(ctx, network, addr)
	}
	dc := dnsauth.CheckDANE(context.Background(), patientResolver(t, srv), []string{"mx.dane.test"},
		dnsauth.DANEOptions{Connect: true, Port: port, Dial: dial, Timeouts: daneTimeouts})
	expectCodes(t, dc.Findings(), []string{"dane.cert.match", "dane.connect.failed"}, []string{"dane.cert.mismatch"})
	f, _ := find(dc.Findings(), "dane.connect.failed")
	if f.Severity != report.Warn || !strings.Contains(f.Detail, "[2001:db8::25]:") {
		t.Errorf("unreachable network: %s %s", f.Severity, f.Detail)
	}
}

// The TLSA records are looked up at the port asked for, which the
// connection uses too.
func TestCheckDANE_port(t *testing.T) {
	cert := selfSigned(t, "mx.dane.test")
	port := smtpServer(t, cert, true)
	z := dnstest.NewZone().MustAdd(
		"mx.dane.test. 300 IN A 127.0.0.1",
		fmt.Sprintf("_%d._tcp.mx.dane.test. 300 IN TLSA 3 1 1 %s", port, tlsaData(cert.Leaf, 1, 1)),
	)
	z.Mark("dane.test.", 0, dnstest.Secure)
	srv := dnstest.Start(t, z)
	r := patientResolver(t, srv)
	dc := dnsauth.CheckDANE(context.Background(), r, []string{"mx.dane.test"}, dnsauth.DANEOptions{Connect: true, Timeouts: daneTimeouts})
	expectCodes(t, dc.Findings(), []string{"dane.tlsa.missing"}, []string{"dane.cert.match"})
	if srv.Count("_25._tcp.mx.dane.test.", dns.TypeTLSA) != 1 {
		t.Error("the default port is not 25")
	}
	dc = dnsauth.CheckDANE(context.Background(), r, []string{"mx.dane.test"}, dnsauth.DANEOptions{Connect: true, Port: port, Timeouts: daneTimeouts})
	expectCodes(t, dc.Findings(), []string{"dane.cert.match"}, nil)
	if a := dc.Hosts[0].Addrs; len(a) != 1 || a[0].Addr != net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) {
		t.Errorf("dialed %+v", a)
	}
}
