package dnsauth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/pkg/dnsauth"
	"github.com/mailprobe/mailprobe/pkg/report"
)

func reportSize(t *testing.T, rep *report.Report) int {
	t.Helper()
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

// A 60 KB SPF record of 4,000 broad ip4: terms: 6.4 MB of JSON and 4,004
// findings before; now at most MaxFindingsPerCode of a kind, the record
// clipped in evidence and facts, and the rest counted.
func TestSPFReport_hugeRecordStaysSmall(t *testing.T) {
	var terms []string
	for i := 0; i < 4000; i++ {
		terms = append(terms, fmt.Sprintf("ip4:%d.0.0.0/8", i%223+1))
	}
	z := dnstest.NewZone()
	z.Add(txtRR("big.test.", "v=spf1 "+strings.Join(terms, " ")+" -all"))
	r, _ := boundsResolver(t, z)
	rep, err := dnsauth.SPFReport(context.Background(), dnsauth.SPFOptions{Resolver: r, Domain: "big.test"})
	if err != nil {
		t.Fatal(err)
	}
	broad := 0
	left := false
	for _, f := range rep.Findings {
		if f.Code == "spf.range.broad" {
			broad++
			for _, e := range f.Evidence {
				left = left || strings.Contains(e.Text, "3980 more spf.range.broad")
			}
		}
	}
	if broad != dnsauth.MaxFindingsPerCode || !left {
		t.Errorf("%d spf.range.broad findings shown (want %d), rest counted: %v", broad, dnsauth.MaxFindingsPerCode, left)
	}
	if n := reportSize(t, rep); n > 100<<10 {
		t.Errorf("the report is %d bytes", n)
	}
}

// Oversize MTA-STS, TLS-RPT and BIMI records are findings with the record
// clipped, not parsed.
func TestCheckTXT_oversizeRecords(t *testing.T) {
	big := strings.Repeat("x", 60000)
	z := dnstest.NewZone()
	z.Add(
		txtRR("_mta-sts.big.test.", "v=STSv1; id=1; x="+big),
		txtRR("_smtp._tls.big.test.", "v=TLSRPTv1; rua=mailto:a@big.test; x="+big),
		txtRR("default._bimi.big.test.", "v=BIMI1; l=https://big.test/"+big),
	)
	r, _ := boundsResolver(t, z)
	ctx := context.Background()
	check := func(what string, fs []report.Finding, code string) {
		t.Helper()
		f, ok := find(fs, code)
		if !ok || !strings.Contains(f.Detail, "more than any real one") {
			t.Errorf("%s: %v", what, fs)
			return
		}
		for _, e := range f.Evidence {
			if len(e.Text) > report.MaxRecordEvidence+32 {
				t.Errorf("%s: %d bytes of evidence", what, len(e.Text))
			}
		}
	}
	sts := dnsauth.CheckMTASTS(ctx, r, "big.test", nil, dnsauth.HTTPOptions{PolicyURL: func(string) string { return "https://127.0.0.1:1/" }})
	check("mta-sts", sts.Findings(), "mtasts.record.invalid")
	check("tls-rpt", dnsauth.CheckTLSRPT(ctx, r, "big.test", false).Findings(), "tlsrpt.record.invalid")
	check("bimi", dnsauth.CheckBIMI(ctx, r, "big.test", "reject").Findings(), "bimi.record.invalid")
}

// The MTA-STS policy fetch is bounded: body (64 KiB), header (16 KiB),
// time (the client's timeout; injected short here), redirects (none), and
// what a finding echoes of the server's answer.
func TestCheckMTASTS_hostilePolicyServer(t *testing.T) {
	block := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/huge-body", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		for i := 0; i < 200 && r.Context().Err() == nil; i++ {
			_, _ = w.Write([]byte(strings.Repeat("mx: a.big.test\n", 1000)))
		}
	})
	mux.HandleFunc("/huge-header", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Junk", strings.Repeat("j", 200<<10))
		_, _ = w.Write([]byte("version: STSv1\nmode: enforce\nmx: mx.big.test\nmax_age: 86400\n"))
	})
	mux.HandleFunc("/huge-type", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/"+strings.Repeat("h", 8000))
		_, _ = w.Write([]byte("version: STSv1\n"))
	})
	mux.HandleFunc("/huge-line", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("version: STSv1\nmode " + strings.Repeat("m", 60000) + "\n"))
	})
	mux.HandleFunc("/stall", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("version: STSv1\n"))
		w.(http.Flusher).Flush()
		<-block // until the test ends: the client's deadline must end the fetch
	})
	web := httptest.NewUnstartedServer(mux)
	web.Config.ErrorLog = log.New(io.Discard, "", 0)
	web.StartTLS()
	t.Cleanup(func() { close(block); web.Close() })

	z := dnstest.NewZone().MustAdd(`_mta-sts.sts.test. 300 IN TXT "v=STSv1; id=1"`)
	r, _ := boundsResolver(t, z)
	for _, path := range []string{"huge-body", "huge-header", "huge-type", "huge-line", "stall"} {
		client := web.Client() // the default deadline, 10 s: the caps end these fetches
		if path == "stall" {
			client.Timeout = 300 * time.Millisecond // the deadline of the whole fetch, body included
		}
		o := dnsauth.HTTPOptions{Client: client, PolicyURL: func(string) string { return web.URL + "/" + path }}
		sts := dnsauth.CheckMTASTS(context.Background(), r, "sts.test", []string{"mx.big.test"}, o)
		code := "mtasts.policy.fetch-failed"
		if path == "huge-line" {
			code = "mtasts.policy.invalid"
		}
		f, ok := find(sts.Findings(), code)
		if !ok {
			t.Errorf("%s: %v", path, sts.Findings())
			continue
		}
		size := len(f.Detail)
		for _, e := range f.Evidence {
			size += len(e.Text)
		}
		if size > 3000 {
			t.Errorf("%s: %d bytes of detail and evidence: %.300s", path, size, f.Detail)
		}
		t.Logf("%s: %.200s", path, f.Detail)
	}
}
