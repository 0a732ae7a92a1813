package cli

import (
	"context"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/exporter"
	"github.com/mailprobe/mailprobe/pkg/iostreams"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/suite"
)

// The exporter runs real checks through the same path as check -f: a good
// STARTTLS server and one without STARTTLS, scraped over HTTP.
func TestExporterProbesRealServers(t *testing.T) {
	cert := testserver.NewCert(t, testserver.CertOptions{})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	writeCA(t, caFile, cert)
	good := testserver.Start(t, testserver.SMTP{Cert: &cert}.Handler())
	plain := testserver.Start(t, testserver.SMTP{}.Handler())

	ios, _, _, errOut := iostreams.Test()
	ios.Getenv = func(string) string { return "" }
	env := &Env{IO: ios, Now: time.Now, secrets: &secretSet{}, notices: &noticeSet{seen: map[string]bool{}}}
	cfg, err := exporter.ParseConfig([]byte(`
modules:
  submission:
    run: smtp check --tls starttls --no-ptr --ca-file `+caFile+` --role submission
    timeout: 10s
allow: [127.0.0.0/8]
`), func(args []string) error { return validateLine(env, args) })
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(exporter.NewServer(cfg, func(ctx context.Context, args []string) *report.Report {
		return runLine(ctx, env, suite.Run{Args: args})
	}).Handler())
	defer srv.Close()
	scrape := func(target string) map[string]float64 {
		resp, err := srv.Client().Get(srv.URL + "/probe?module=submission&target=" + target)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		parser := expfmt.NewTextParser(model.UTF8Validation)
		mf, err := parser.TextToMetricFamilies(strings.NewReader(string(b)))
		if err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		out := map[string]float64{}
		for name, f := range mf {
			for _, m := range f.Metric {
				key := name
				for _, l := range m.Label {
					if l.GetName() == "stage" || l.GetName() == "code" || l.GetName() == "position" {
						key += "{" + l.GetValue() + "}"
					}
				}
				if m.Gauge != nil {
					out[key] = m.Gauge.GetValue()
				}
			}
		}
		return out
	}
	g := scrape(good)
	if g["mailprobe_probe_success"] != 1 || g["mailprobe_stage_ok{starttls}"] != 1 || g["mailprobe_cert_not_after_seconds{0}"] != float64(cert.Leaf.NotAfter.Unix()) {
		t.Errorf("good server: %v\nstderr: %s", g, errOut)
	}
	if _, ok := g["mailprobe_cert_not_after_seconds{1}"]; !ok {
		t.Errorf("the intermediate of the chain has no expiry series: %v", g)
	}
	p := scrape(plain)
	if p["mailprobe_probe_success"] != 0 || p["mailprobe_findings{smtp.starttls.missing}"] != 1 {
		t.Errorf("server without STARTTLS: %v", p)
	}
}
