package tlsprobe

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/pkg/report"
	"golang.org/x/crypto/cryptobyte"
)

// OpenSSL's s_server caches sessions and issues tickets (lifetime hint
// 7200 s) by default; -no_cache -no_ticket turns both off.
func TestOpenSSL_resumption(t *testing.T) {
	ctx := context.Background()
	p := vulnProber(startOpenSSL(t, "-tls1_2"))
	r := p.resumption(ctx, true, false, "mail.test")
	if r.SessionID != ResumeResumed || r.Ticket != ResumeResumed || r.TicketLifetime == nil || *r.TicketLifetime != 7200 || r.Connections != 4 {
		t.Fatalf("default: %+v", r)
	}
	sc := &scanner{rep: report.NewReport("tls", "x", time.Now()), res: &Result{Resumption: r}}
	sc.gradeResumption()
	if f := wantFinding(t, sc.rep, "tls.resumption.ok", report.Pass); !strings.Contains(f.Detail, "7200 s (2 h)") {
		t.Errorf("detail %q", f.Detail)
	}
	noFinding(t, sc.rep, "tls.resumption.ticket-lifetime")
	// OpenSSL accepts the ticket and echoes the 6-byte session ID.
	tb := p.ticketbleed(ctx, r, "mail.test")
	if tb.Status != VulnNotVulnerable || !strings.Contains(tb.Detail, "echoed exactly those bytes") {
		t.Errorf("ticketbleed: %+v", tb)
	}

	none := vulnProber(startOpenSSL(t, "-tls1_2", "-no_cache", "-no_ticket"))
	r = none.resumption(ctx, true, false, "mail.test")
	if r.SessionID == ResumeResumed || r.Ticket != ResumeNotIssued || r.TicketLifetime != nil {
		t.Fatalf("-no_cache -no_ticket: %+v", r)
	}
	sc = &scanner{rep: report.NewReport("tls", "x", time.Now()), res: &Result{Resumption: r}}
	sc.gradeResumption()
	wantFinding(t, sc.rep, "tls.resumption.none", report.Info)
	if tb := none.ticketbleed(ctx, r, "mail.test"); tb.Status != VulnNotApplicable || tb.Connections != 0 {
		t.Errorf("ticketbleed without tickets: %+v", tb)
	}
}

// A long ticket lifetime is a note; a result with nothing tested says why.
func TestGradeResumption_lifetimeAndUntestable(t *testing.T) {
	lt := uint32(7 * 24 * 3600)
	sc := &scanner{rep: report.NewReport("tls", "x", time.Now()), res: &Result{Resumption: &ResumptionResult{SessionID: ResumeNotIssued, Ticket: ResumeResumed, TicketLifetime: &lt, Connections: 2}}}
	sc.gradeResumption()
	wantFinding(t, sc.rep, "tls.resumption.ticket-lifetime", report.Info)
	sc = &scanner{rep: report.NewReport("tls", "x", time.Now()), res: &Result{Resumption: &ResumptionResult{SessionID: ResumeNotTested, Ticket: ResumeNotTested, TLS13: ResumeNotTested, Note: "no TLS 1.2"}}}
	sc.gradeResumption()
	wantFinding(t, sc.rep, "tls.resumption.untestable", report.Info)
}

// ticketbleedServer answers every ClientHello with a ServerHello whose
// session ID is the client's padded to 32 bytes with "memory", as F5's
// BIG-IP did (CVE-2016-9244).
func ticketbleedServer(t *testing.T) *listener {
	return startListener(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		ch, err := readClientHello(br)
		if err != nil {
			return
		}
		sid := append([]byte(nil), ch.sessionID...)
		for len(sid) < 32 {
			sid = append(sid, 'M')
		}
		b := cryptobyte.NewBuilder(nil)
		b.AddUint8(hsServerHello)
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
			b.AddUint16(VersionTLS12)
			b.AddBytes(make([]byte, 32))
			b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(sid) })
			b.AddUint16(0xC02F)
			b.AddUint8(0)
		})
		c.Write(appendRecords(nil, recordHandshake, VersionTLS12, append(b.BytesOrPanic(), hsServerHelloDone, 0, 0, 0)))
		readHeartbeat(br) // wait for the client to hang up
	})
}

func TestTicketbleed_flips(t *testing.T) {
	srv := ticketbleedServer(t)
	r := vulnProber(srv.port()).ticketbleed(context.Background(), &ResumptionResult{ticket: &session12{ticket: []byte("a ticket")}}, "mail.test")
	if r.Status != VulnVulnerable || strings.Contains(r.Detail, "MMM") || r.Connections != 1 {
		t.Fatalf("%+v", r)
	}
	if f, _ := vulnFinding(r); f.Code != "tls.vuln.ticketbleed" || f.Severity != report.Fail {
		t.Errorf("finding %+v", f)
	}
}

// A stapled OCSP response and SCTs in the TLS extension are seen; a
// server without them gets the two information findings.
func TestScan_ocspAndCT(t *testing.T) {
	pki := getPKI(t)
	cert := pki.rsa
	cert.OCSPStaple = []byte{0x30, 0x03, 0x0a, 0x01, 0x00}
	cert.SignedCertificateTimestamps = [][]byte{{0, 1, 2}, {3, 4, 5}}
	f := startFront(t, frontOpts{proto: ProtoSMTP, backend: goBackend(&tls.Config{Certificates: []tls.Certificate{cert}})})
	o := testOptions(t, f.port(), ProtoSMTP)
	o.Quick = true
	rep, _ := runScan(t, o)
	wantFinding(t, rep, "cert.ocsp-stapled", report.Info)
	if f := wantFinding(t, rep, "tls.ct.ok", report.Pass); !strings.Contains(f.Detail, "2 in the TLS extension") {
		t.Errorf("ct: %s", f.Detail)
	}
	noFinding(t, rep, "tls.ocsp.not-stapled")

	plain := startFront(t, frontOpts{proto: ProtoSMTP, backend: goBackend(&tls.Config{Certificates: []tls.Certificate{pki.rsa}})})
	o = testOptions(t, plain.port(), ProtoSMTP)
	o.Quick = true
	rep, _ = runScan(t, o)
	wantFinding(t, rep, "tls.ocsp.not-stapled", report.Info)
	wantFinding(t, rep, "tls.ct.none", report.Info)
}

// TLS 1.3 tickets through a STARTTLS port: Go's TLS 1.3 server issues
// them and resumes them; with tickets disabled there is nothing to
// resume. The verdict alone makes the resumption finding pass.
func TestResumption13(t *testing.T) {
	ctx := context.Background()
	pki := getPKI(t)
	for _, c := range []struct {
		name     string
		disabled bool
		want     string
		finding  string
		sev      report.Severity
	}{
		{"tickets", false, ResumeResumed, "tls.resumption.ok", report.Pass},
		{"no tickets", true, ResumeNotIssued, "tls.resumption.none", report.Info},
	} {
		cfg := &tls.Config{Certificates: []tls.Certificate{pki.rsa}, MinVersion: tls.VersionTLS13, SessionTicketsDisabled: c.disabled}
		f := startFront(t, frontOpts{proto: ProtoSMTP, backend: goBackend(cfg)})
		p := vulnProber(f.port())
		p.proto, p.helo = ProtoSMTP, "mailprobe.test"
		r := p.resumption(ctx, false, true, "mail.test")
		if r.TLS13 != c.want || r.SessionID != ResumeNotTested || r.Connections != map[bool]int{false: 2, true: 1}[c.disabled] {
			t.Fatalf("%s: %+v", c.name, r)
		}
		sc := &scanner{rep: report.NewReport("tls", "x", time.Now()), res: &Result{Resumption: r}}
		sc.gradeResumption()
		if f := wantFinding(t, sc.rep, c.finding, c.sev); c.finding == "tls.resumption.ok" && !strings.Contains(f.Detail, "TLS 1.3 tickets: resumed") {
			t.Errorf("%s: detail %q", c.name, f.Detail)
		}
	}
}
