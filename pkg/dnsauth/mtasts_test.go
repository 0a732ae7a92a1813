package dnsauth_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/dnsauth"
)

// policyServer serves MTA-STS policies over HTTPS (httptest's own CA,
// trusted by the client it returns) under /NAME, one per behaviour.
func policyServer(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	text := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte(body))
		}
	}
	mux.HandleFunc("/good.test", text("version: STSv1\r\nmode: enforce\r\nmx: *.good.test\r\nmax_age: 1209600\r\n"))
	mux.HandleFunc("/good", text("version: STSv1\r\nmode: enforce\r\nmx: mx1.sts.test\r\nmx: *.other.test\r\nmax_age: 604800\r\n"))
	mux.HandleFunc("/unmatched", text("version: STSv1\r\nmode: enforce\r\nmx: mx1.sts.test\r\nmax_age: 604800\r\n"))
	mux.HandleFunc("/unmatched-testing", text("version: STSv1\nmode: testing\nmx: mx1.sts.test\nmax_age: 604800\n"))
	mux.HandleFunc("/short", text("version: STSv1\nmode: enforce\nmx: mx1.sts.test\nmx: mx2.other.test\nmax_age: 300\n"))
	mux.HandleFunc("/none", text("version: STSv1\nmode: none\nmax_age: 86400\n"))
	mux.HandleFunc("/invalid", text("version: STSv1\nmode: strict\nmx: mx1.sts.test\nmax_age: 86400\n"))
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("version: STSv1\nmode: enforce\nmx: mx1.sts.test\nmax_age: 86400\n"))
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/good", http.StatusFound)
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted-certificate case logs a handshake error
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestCheckMTASTS(t *testing.T) {
	dns := zoneServer(t)
	web := policyServer(t)
	mx := []string{"mx1.sts.test", "mx2.other.test"}
	cases := []struct {
		path, domain string
		want, not    []string
	}{
		{"good", "sts.test", []string{"mtasts.policy.ok"}, []string{"mtasts.mx.unmatched"}},
		{"unmatched", "sts.test", []string{"mtasts.mx.unmatched"}, []string{"mtasts.policy.ok"}},
		{"unmatched-testing", "sts.test", []string{"mtasts.mx.unmatched", "mtasts.mode.testing"}, nil},
		{"short", "sts.test", []string{"mtasts.maxage.short"}, []string{"mtasts.policy.ok"}},
		{"none", "sts.test", []string{"mtasts.mode.none"}, []string{"mtasts.mx.unmatched"}},
		{"invalid", "sts.test", []string{"mtasts.policy.invalid"}, nil},
		{"html", "sts.test", []string{"mtasts.policy.fetch-failed"}, nil},
		{"redirect", "sts.test", []string{"mtasts.policy.fetch-failed"}, nil},
		{"missing", "sts.test", []string{"mtasts.policy.fetch-failed"}, nil},
		{"good", "badrec.sts.test", []string{"mtasts.record.invalid"}, nil},
		{"good", "two.sts.test", []string{"mtasts.record.invalid"}, nil},
		{"good", "nokeys.test", []string{"mtasts.record.missing"}, nil},
	}
	for _, c := range cases {
		t.Run(c.path+"/"+c.domain, func(t *testing.T) {
			o := dnsauth.HTTPOptions{Client: web.Client(), PolicyURL: func(string) string { return web.URL + "/" + c.path }}
			sc := dnsauth.CheckMTASTS(context.Background(), newResolver(t, dns), c.domain, mx, o)
			expectCodes(t, sc.Findings(), c.want, c.not)
		})
	}
	// The unmatched host is named; in testing mode it is a warning.
	o := dnsauth.HTTPOptions{Client: web.Client(), PolicyURL: func(string) string { return web.URL + "/unmatched-testing" }}
	sc := dnsauth.CheckMTASTS(context.Background(), newResolver(t, dns), "sts.test", mx, o)
	if !slices.Equal(sc.Unmatched, []string{"mx2.other.test"}) {
		t.Errorf("unmatched %v", sc.Unmatched)
	}
	// An untrusted certificate fails the fetch: the default client does
	// not trust httptest's CA.
	o = dnsauth.HTTPOptions{PolicyURL: func(string) string { return web.URL + "/good" }}
	sc = dnsauth.CheckMTASTS(context.Background(), newResolver(t, dns), "sts.test", mx, o)
	f, ok := find(sc.Findings(), "mtasts.policy.fetch-failed")
	if !ok {
		t.Fatalf("untrusted certificate accepted: %v", codes(sc.Findings()))
	}
	t.Log(f.Detail)
}

func TestMTASTSPolicy_parseAndMatch(t *testing.T) {
	p, err := dnsauth.ParseMTASTSPolicy("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 31557600\r\nfuture: x\r\n")
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"mail.example.com": true, "MAIL.example.com.": true, "other.example.com": false,
		"mx1.example.net": true, "a.b.example.net": false, "example.net": false,
	} {
		if p.MatchMX(host) != want {
			t.Errorf("MatchMX(%q) = %v", host, !want)
		}
	}
	if !slices.Equal(p.Unknown, []string{"future"}) {
		t.Errorf("unknown %v", p.Unknown)
	}
	for _, bad := range []string{
		"mode: enforce\nmx: a\nmax_age: 1\n",                      // no version
		"version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n",      // wrong version
		"version: STSv1\nmode: enforce\nmax_age: 1\n",             // no mx
		"version: STSv1\nmode: enforce\nmx: a\nmax_age: -1\n",     // negative
		"version: STSv1\nmode: enforce\nmx: a\nmax_age: 31557601", // too long
		"version: STSv1\nmode: enforce\nmx: a\n",                  // no max_age
		"version: STSv1\nmode enforce\nmx: a\nmax_age: 1\n",       // no colon
		"version: STSv1\nmode: enforce\nmode: testing\nmx: a\nmax_age: 1\n",
	} {
		if _, err := dnsauth.ParseMTASTSPolicy(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if _, err := dnsauth.ParseMTASTSRecord("v=STSv1; id=20190429T010101;"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"v=STSv1", "v=STSv2; id=1", "id=1; v=STSv1", "v=STSv1; id=" + "123456789012345678901234567890123"} {
		if _, err := dnsauth.ParseMTASTSRecord(bad); err == nil {
			t.Errorf("accepted record %q", bad)
		}
	}
}

func TestCheckTLSRPT(t *testing.T) {
	dns := zoneServer(t)
	r := newResolver(t, dns)
	c := dnsauth.CheckTLSRPT(context.Background(), r, "sts.test", false)
	expectCodes(t, c.Findings(), []string{"tlsrpt.ok"}, nil)
	if len(c.Record.RUA) != 2 {
		t.Errorf("rua %v", c.Record.RUA)
	}
	expectCodes(t, dnsauth.CheckTLSRPT(context.Background(), r, "badrec.sts.test", false).Findings(), []string{"tlsrpt.record.invalid"}, nil)
	missing := dnsauth.CheckTLSRPT(context.Background(), r, "nokeys.test", true).Findings()
	if f, ok := find(missing, "tlsrpt.record.missing"); !ok || f.Severity.String() != "warn" {
		t.Errorf("with MTA-STS in use a missing TLS-RPT is a warning: %+v", missing)
	}
	for _, bad := range []string{"v=TLSRPTv1", "v=TLSRPTv1; rua=", "v=TLSRPTv2; rua=mailto:a@b.example", "v=TLSRPTv1; rua=mailto:nobody"} {
		if _, err := dnsauth.ParseTLSRPT(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestCheckBIMI(t *testing.T) {
	dns := zoneServer(t)
	r := newResolver(t, dns)
	cases := []struct {
		domain, dmarc string
		want, not     []string
	}{
		{"good.sts.test", "reject", []string{"bimi.ok"}, nil},
		{"good.sts.test", "none", []string{"bimi.dmarc.weak"}, []string{"bimi.ok"}},
		{"good.sts.test", "-", []string{"bimi.dmarc.weak"}, nil},
		{"noa.sts.test", "quarantine", []string{"bimi.evidence.missing"}, []string{"bimi.ok"}},
		{"nologo.sts.test", "reject", []string{"bimi.record.invalid"}, nil},
		{"declined.sts.test", "reject", []string{"bimi.declined"}, nil},
		{"nokeys.test", "reject", []string{"bimi.record.missing"}, nil},
	}
	for _, c := range cases {
		b := dnsauth.CheckBIMI(context.Background(), r, c.domain, c.dmarc)
		expectCodes(t, b.Findings(), c.want, c.not)
	}
}

// policyHostServer serves a good policy over HTTPS with a certificate
// for names (issued by a test CA), on 127.0.0.1.
func policyHostServer(t *testing.T, names ...string) (port string, pool *x509.CertPool) {
	t.Helper()
	cert := testserver.NewCert(t, testserver.CertOptions{Names: names})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("version: STSv1\r\nmode: enforce\r\nmx: mx1.resolved.test\r\nmax_age: 604800\r\n"))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ = net.SplitHostPort(srv.Listener.Addr().String())
	return port, cert.Pool
}

// The policy host is resolved by mailprobe's resolver (the zone server
// here; the system resolver knows nothing of .test), and the certificate
// is verified against the host name, not the address dialed.
func TestCheckMTASTS_policyHostThroughResolver(t *testing.T) {
	port, pool := policyHostServer(t, "mta-sts.resolved.test", "mta-sts.multi.test", "mta-sts.nohost.test")
	wrongPort, wrongPool := policyHostServer(t, "www.resolved.test")
	z := dnstest.NewZone().MustAdd(
		`_mta-sts.resolved.test. 300 IN TXT "v=STSv1; id=20240101"`,
		"mta-sts.resolved.test. 300 IN A 127.0.0.1",
		`_mta-sts.multi.test. 300 IN TXT "v=STSv1; id=20240101"`,
		"mta-sts.multi.test. 300 IN A 127.0.0.9", // refused: the next address is tried
		"mta-sts.multi.test. 300 IN A 127.0.0.1",
		`_mta-sts.nohost.test. 300 IN TXT "v=STSv1; id=20240101"`,
	)
	srv := dnstest.Start(t, z)
	client := func(pool *x509.CertPool) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	url := func(port string) func(string) string {
		return func(d string) string { return "https://mta-sts." + d + ":" + port + "/.well-known/mta-sts.txt" }
	}
	mx := []string{"mx1.resolved.test"}
	cases := []struct {
		domain string
		o      dnsauth.HTTPOptions
		want   string
		detail string
	}{
		{"resolved.test", dnsauth.HTTPOptions{Client: client(pool), PolicyURL: url(port)}, "mtasts.policy.ok", ""},
		{"multi.test", dnsauth.HTTPOptions{Client: client(pool), PolicyURL: url(port)}, "mtasts.policy.ok", ""},
		// No client: the default transport, still resolving through mailprobe
		// (and so reaching the server, whose CA it does not trust).
		{"resolved.test", dnsauth.HTTPOptions{PolicyURL: url(port)}, "mtasts.policy.fetch-failed", "unknown authority"},
		// The server's certificate is for another name (and for the
		// address 127.0.0.1): verification is against mta-sts.DOMAIN.
		{"resolved.test", dnsauth.HTTPOptions{Client: client(wrongPool), PolicyURL: url(wrongPort)}, "mtasts.policy.fetch-failed", "not mta-sts.resolved.test"},
		{"nohost.test", dnsauth.HTTPOptions{Client: client(pool), PolicyURL: url(port)}, "mtasts.policy.fetch-failed", "resolving mta-sts.nohost.test"},
	}
	for _, c := range cases {
		t.Run(c.domain+"/"+c.want, func(t *testing.T) {
			sc := dnsauth.CheckMTASTS(context.Background(), patientResolver(t, srv), c.domain, mx, c.o)
			f, ok := find(sc.Findings(), c.want)
			if !ok {
				t.Fatalf("no %s: %+v", c.want, sc.Findings())
			}
			if !strings.Contains(f.Detail, c.detail) {
				t.Errorf("detail %q lacks %q", f.Detail, c.detail)
			}
		})
	}
	if n := srv.Count("mta-sts.resolved.test.", dns.TypeA); n == 0 {
		t.Error("mta-sts.resolved.test was not asked of the zone server")
	}
	if n := srv.Count("mta-sts.multi.test.", dns.TypeAAAA); n == 0 {
		t.Error("no AAAA question for mta-sts.multi.test")
	}
}
