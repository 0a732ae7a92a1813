package exporter

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mailprobe/mailprobe/pkg/certcheck"
	"github.com/mailprobe/mailprobe/pkg/report"
)

const testConfig = `
modules:
  submission:
    run: smtp check --tls starttls --no-ptr --password-env SMTP_PW --user probe
    timeout: 20s
  domain:
    run: dns {target} --no-dkim
    fail_on: warn
allow:
  - 127.0.0.0/8
  - "*.example.com"
  - example.org
limits:
  concurrency: 4
  per_target: 2
`

func parseMetrics(t *testing.T, body string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("not the Prometheus text format: %v\n%s", err, body)
	}
	return mf
}

// value is the metric's value for the labels given as name=value pairs,
// and whether such a series exists.
func value(mf map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f, ok := mf[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		}
	}
	return 0, false
}

func get(t *testing.T, srv *httptest.Server, path string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func mustConfig(t *testing.T, s string) *Config {
	t.Helper()
	c, err := ParseConfig([]byte(s), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A report with TLS, a certificate chain, stages and findings becomes the
// documented series.
func TestProbeMetricsFromReport(t *testing.T) {
	notAfter := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	var gotArgs []string
	run := func(ctx context.Context, args []string) *report.Report {
		gotArgs = args
		r := report.NewReport("smtp check", args[len(args)-1], time.Now())
		r.AddStage(report.Stage{Name: "connect", Status: report.StatusOK, Duration: 12 * time.Millisecond})
		r.AddStage(report.Stage{Name: "starttls", Status: report.StatusFail, Duration: 30 * time.Millisecond})
		r.Add(report.New("smtp.starttls.missing", "starttls", "no STARTTLS"))
		r.Add(report.New("spf.record.ok", "spf", "ok"))
		r.Add(report.New("dmarc.record.missing", "dmarc", "none"))
		r.SetFact("tls", map[string]any{"version": "TLS 1.3", "cipher": "TLS_AES_128_GCM_SHA256", "implicit": false})
		r.SetFact("certificate", certcheck.Facts{Subject: "CN=mx", NotAfter: notAfter, Chain: []certcheck.ChainCert{
			{Subject: "CN=mx", Issuer: "CN=ca", Serial: "1f", NotAfter: notAfter},
			{Subject: "CN=ca", Issuer: "CN=root", Serial: "2", NotAfter: notAfter.AddDate(5, 0, 0)},
		}})
		r.SetFact("latency_ms", 1234.5)
		return r
	}
	s := NewServer(mustConfig(t, testConfig), run)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	code, body := get(t, srv, "/probe?module=submission&target=127.0.0.1:2525")
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	if strings.Join(gotArgs, " ") != "smtp check --tls starttls --no-ptr --password-env SMTP_PW --user probe 127.0.0.1:2525" {
		t.Errorf("command line %q", gotArgs)
	}
	mf := parseMetrics(t, body)
	want := []struct {
		name   string
		labels []string
		v      float64
	}{
		{"mailprobe_probe_success", nil, 0},
		{"mailprobe_probe_exit_code", nil, 1},
		{"mailprobe_stage_ok", []string{"stage=connect", "status=ok"}, 1},
		{"mailprobe_stage_ok", []string{"stage=starttls", "status=fail"}, 0},
		{"mailprobe_stage_duration_seconds", []string{"stage=starttls"}, 0.03},
		{"mailprobe_findings", []string{"severity=fail", "code=smtp.starttls.missing"}, 1},
		{"mailprobe_tls_version_info", []string{"version=TLS 1.3", "cipher=TLS_AES_128_GCM_SHA256"}, 1},
		{"mailprobe_cert_not_after_seconds", []string{"position=0", "subject=CN=mx", "serial=1f"}, float64(notAfter.Unix())},
		{"mailprobe_cert_not_after_seconds", []string{"position=1", "subject=CN=ca"}, float64(notAfter.AddDate(5, 0, 0).Unix())},
		{"mailprobe_dns_record_present", []string{"record=spf"}, 1},
		{"mailprobe_dns_record_present", []string{"record=dmarc"}, 0},
		{"mailprobe_reset_delivery_seconds", nil, 1.2345},
	}
	for _, w := range want {
		v, ok := value(mf, w.name, w.labels...)
		if !ok || v != w.v {
			t.Errorf("%s%v = %v (present %v), want %v", w.name, w.labels, v, ok, w.v)
		}
	}
	if _, ok := value(mf, "mailprobe_dns_record_present", "record=mta-sts"); ok {
		t.Error("an area the check did not cover is exported")
	}
	// The exporter's own metrics count it.
	_, body = get(t, srv, "/metrics")
	own := parseMetrics(t, body)
	if v, _ := value(own, "mailprobe_exporter_probes_total", "module=submission", "result=failure"); v != 1 {
		t.Errorf("probes_total{failure} = %v, want 1", v)
	}
	if _, ok := own["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics on /metrics")
	}
	if code, body := get(t, srv, "/-/healthy"); code != 200 || !strings.Contains(body, "Healthy") {
		t.Errorf("/-/healthy: %d %q", code, body)
	}
}

// fail_on decides success: a warning fails a module with fail_on: warn.
func TestProbeSuccessFollowsFailOn(t *testing.T) {
	run := func(ctx context.Context, args []string) *report.Report {
		r := report.NewReport("dns", "example.com", time.Now())
		r.AddStage(report.Stage{Name: "spf", Status: report.StatusOK})
		r.Add(report.New("spf.all.neutral", "spf", "?all"))
		return r
	}
	srv := httptest.NewServer(NewServer(mustConfig(t, testConfig), run).Handler())
	defer srv.Close()
	_, body := get(t, srv, "/probe?module=domain&target=mail.example.com")
	if v, _ := value(parseMetrics(t, body), "mailprobe_probe_success"); v != 0 {
		t.Errorf("success %v with a warning under fail_on: warn", v)
	}
}

// Nothing outside the allow list is probed, nothing that could be a flag
// or a URL is accepted as a target, and an unknown module says which exist.
func TestProbeRefusals(t *testing.T) {
	var ran atomic.Int32
	run := func(ctx context.Context, args []string) *report.Report {
		ran.Add(1)
		return report.NewReport("x", "y", time.Now())
	}
	srv := httptest.NewServer(NewServer(mustConfig(t, testConfig), run).Handler())
	defer srv.Close()
	cases := []struct {
		query  string
		status int
		says   string
	}{
		{"module=submission&target=10.0.0.1:25", 403, "not in the config's allow list"},
		{"module=submission&target=evil.example.net", 403, "allow list"},
		{"module=submission&target=example.com.evil.net", 403, "allow list"},
		{"module=submission&target=--resolver=10.0.0.1", 400, "starts with '-'"},
		{"module=submission&target=http://127.0.0.1/", 400, "not a host"},
		{"module=submission&target=", 400, "empty"},
		{"module=nope&target=127.0.0.1", 400, "modules: domain, submission"},
	}
	for _, c := range cases {
		code, body := get(t, srv, "/probe?"+c.query)
		if code != c.status || !strings.Contains(body, c.says) {
			t.Errorf("%s: %d %q, want %d %q", c.query, code, body, c.status, c.says)
		}
	}
	if n := ran.Load(); n != 0 {
		t.Errorf("%d refused probes ran", n)
	}
	for _, ok := range []string{"127.0.0.1:25", "[::ffff:127.0.0.2]:25", "mx.example.com", "EXAMPLE.ORG"} {
		if !mustConfig(t, testConfig).allow.allows(ok) {
			t.Errorf("%s refused", ok)
		}
	}
}

// Prometheus' scrape timeout shortens the probe's deadline, leaving a
// margin for the answer; the module's timeout caps it.
func TestProbeDeadline(t *testing.T) {
	var left atomic.Int64
	run := func(ctx context.Context, args []string) *report.Report {
		d, ok := ctx.Deadline()
		if !ok {
			left.Store(-1)
		} else {
			left.Store(int64(time.Until(d)))
		}
		return report.NewReport("x", "y", time.Now())
	}
	srv := httptest.NewServer(NewServer(mustConfig(t, testConfig), run).Handler())
	defer srv.Close()
	get(t, srv, "/probe?module=submission&target=127.0.0.1", "X-Prometheus-Scrape-Timeout-Seconds", "5")
	if l := time.Duration(left.Load()); l <= 0 || l > 5*time.Second-scrapeMargin {
		t.Errorf("deadline %v after a 5s scrape timeout, want at most %v", l, 5*time.Second-scrapeMargin)
	}
	get(t, srv, "/probe?module=submission&target=127.0.0.1", "X-Prometheus-Scrape-Timeout-Seconds", "600")
	if l := time.Duration(left.Load()); l <= 0 || l > 20*time.Second {
		t.Errorf("deadline %v, want the module's 20s at most", l)
	}
}

// At most per_target probes of one target run at once, whatever the
// number of scrapes; other targets are not held up by it.
func TestProbePerTargetBound(t *testing.T) {
	var mu sync.Mutex
	now, peak := map[string]int{}, map[string]int{}
	release := make(chan struct{})
	started := make(chan string, 16)
	run := func(ctx context.Context, args []string) *report.Report {
		target := args[len(args)-1]
		mu.Lock()
		now[target]++
		peak[target] = max(peak[target], now[target])
		mu.Unlock()
		started <- target
		<-release
		mu.Lock()
		now[target]--
		mu.Unlock()
		return report.NewReport("x", target, time.Now())
	}
	srv := httptest.NewServer(NewServer(mustConfig(t, testConfig), run).Handler())
	defer srv.Close()
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); get(t, srv, "/probe?module=submission&target=127.0.0.1:25") }()
	}
	// Two of them start; then a probe of another target starts too (the
	// waiting ones hold no total slot: concurrency is 4).
	<-started
	<-started
	wg.Add(1)
	go func() { defer wg.Done(); get(t, srv, "/probe?module=submission&target=127.0.0.2:25") }()
	if got := <-started; got != "127.0.0.2:25" {
		t.Errorf("a third probe of %s started while two were running", got)
	}
	close(release)
	wg.Wait()
	if peak["127.0.0.1:25"] != 2 {
		t.Errorf("peak %d probes of one target at once, want 2 (the bound, reached)", peak["127.0.0.1:25"])
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct{ body, want string }{
		{"modules: {}\nallow: ['*']\n", "no modules"},
		{"modules:\n  a: {run: smtp check}\n", "allow: list the targets"},
		{"modules:\n  a: {run: smtp check --password s3cret}\nallow: ['*']\n", "--password puts a password in the config"},
		{"modules:\n  a: {run: smtp check --imap-password=s3cret}\nallow: ['*']\n", "--imap-password-env"},
		{"modules:\n  a: {run: capture}\nallow: ['*']\n", `"capture" is not a check command`},
		{"modules:\n  a: {run: dns, fail_on: pass}\nallow: ['*']\n", "fail_on must be"},
		{"modules:\n  a: {run: dns}\nallow: ['10.0.0.0/33']\n", "allow"},
		{"modules:\n  a: {run: dns, timout: 3s}\nallow: ['*']\n", "timout"},
	}
	for _, c := range cases {
		_, err := ParseConfig([]byte(c.body), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.body, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: the password is in the error", c.body)
		}
	}
	// validate sees the command line with a target in place.
	var seen []string
	_, err := ParseConfig([]byte("modules:\n  a: {run: 'mailprobe tls {target}:993 --quick'}\nallow: ['*']\n"), func(a []string) error { seen = a; return nil })
	if err != nil || strings.Join(seen, " ") != "tls example.com:993 --quick" {
		t.Errorf("validate got %q (%v)", seen, err)
	}
	_, err = ParseConfig([]byte("modules:\n  a: {run: 'dns --bogus'}\nallow: ['*']\n"), func(a []string) error { return fmt.Errorf("unknown flag: --bogus") })
	if err == nil || !strings.Contains(err.Error(), "module a: run: unknown flag: --bogus") {
		t.Errorf("validation error not reported: %v", err)
	}
}
