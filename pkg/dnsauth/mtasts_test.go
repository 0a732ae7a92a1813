package dnsauth_test

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

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
