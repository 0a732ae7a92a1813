//go:build integration

package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Debian's Prometheus scrapes `mailprobe exporter` probing the real
// Postfix, Dovecot and NSD (and a closed port), and its HTTP API returns
// the series with the values the servers warrant.
func TestExporterScrapedByPrometheus(t *testing.T) {
	for _, bin := range []string{"prometheus", "promtool"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is not installed (env.sh install installs Debian's prometheus package): %v", bin, err)
		}
	}
	dir := t.TempDir()
	cfg := writeFile(t, "exporter.yaml", fmt.Sprintf(`
modules:
  submission:
    run: smtp check --tls starttls --role submission --no-ptr --ca-file %[1]s --servername %[2]s
    timeout: 15s
  imaps:
    run: tls {target} --tls implicit --quick --ca-file %[1]s --servername %[2]s
    timeout: 15s
  domain:
    run: dns {target} --resolver %[3]s --selector %[4]s
    timeout: 15s
allow: [127.0.0.0/8, %[5]s]
`, E.CA, E.ServerName, E.DNS, E.DKIMSelector, E.Domain))

	// The exporter, on a port the kernel picks; it says which on stderr.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exp := exec.CommandContext(ctx, Bin, "exporter", "-f", cfg, "--listen", "127.0.0.1:0")
	exp.Env = append(os.Environ(), "NO_COLOR=1")
	stderr, err := exp.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stderr)
	var addr string
	for lines.Scan() {
		if _, rest, ok := strings.Cut(lines.Text(), "listening on http://"); ok {
			addr = strings.SplitN(rest, "/", 2)[0]
			break
		}
	}
	if addr == "" {
		t.Fatalf("the exporter did not say where it listens")
	}
	go io.Copy(io.Discard, stderr)

	// Prometheus, scraping every second in the blackbox_exporter layout.
	closed := freeAddr(t)
	promAddr := freeAddr(t)
	target := func(module string, targets ...string) string {
		return fmt.Sprintf(`
  - job_name: %[1]s
    scrape_interval: 1s
    scrape_timeout: 1s
    metrics_path: /probe
    params: {module: [%[1]s]}
    static_configs: [{targets: [%[2]s]}]
    relabel_configs:
      - {source_labels: [__address__], target_label: __param_target}
      - {source_labels: [__param_target], target_label: instance}
      - {target_label: __address__, replacement: "%[3]s"}`, module, strings.Join(targets, ", "), addr)
	}
	promCfg := writeFile(t, "prometheus.yml", "scrape_configs:"+
		target("submission", quote(E.Addr(E.SubmissionPort)), quote(closed))+
		target("imaps", quote(E.Addr(E.IMAPSPort)))+
		target("domain", quote(E.Domain))+fmt.Sprintf(`
  - job_name: exporter
    scrape_interval: 1s
    static_configs: [{targets: ["%s"]}]
`, addr))
	prom := exec.CommandContext(ctx, "prometheus", "--config.file", promCfg, "--storage.tsdb.path", filepath.Join(dir, "tsdb"),
		"--web.listen-address", promAddr, "--log.level", "warn")
	promLog, _ := os.Create(filepath.Join(dir, "prometheus.log"))
	prom.Stdout, prom.Stderr = promLog, promLog
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = prom.Process.Signal(syscall.SIGTERM)
		_ = prom.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", tail(promLog.Name(), 30))
		}
	}()

	// query returns the value of each series of expr, by instance.
	query := func(expr string) (map[string]float64, error) {
		resp, err := http.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(expr))
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var body struct {
			Status string
			Data   struct {
				Result []struct {
					Metric map[string]string
					Value  [2]any
				}
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return nil, err
		}
		out := map[string]float64{}
		for _, r := range body.Data.Result {
			s, _ := r.Value[1].(string)
			v, _ := strconv.ParseFloat(s, 64)
			out[r.Metric["instance"]] = v
		}
		return out, nil
	}
	// Wait (bounded) until every target has been scraped once.
	want := []string{E.Addr(E.SubmissionPort), closed, E.Addr(E.IMAPSPort), E.Domain}
	deadline := time.Now().Add(60 * time.Second)
	var success map[string]float64
	for {
		// Every probe target and the exporter's own /metrics scraped at
		// least once: the jobs run on their own schedules.
		success, err = query("mailprobe_probe_success")
		own, err2 := query("mailprobe_exporter_probes_in_flight")
		if err == nil && err2 == nil && len(success) == len(want) && len(own) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s Prometheus has mailprobe_probe_success for %v (err %v), want %v", success, err, want)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for inst, v := range map[string]float64{E.Addr(E.SubmissionPort): 1, closed: 0, E.Addr(E.IMAPSPort): 1} {
		if success[inst] != v {
			t.Errorf("mailprobe_probe_success{instance=%q} = %v, want %v", inst, success[inst], v)
		}
	}
	checks := []struct {
		expr string
		inst string
		ok   func(float64) bool
		what string
	}{
		{`mailprobe_stage_ok{stage="starttls"}`, E.Addr(E.SubmissionPort), func(v float64) bool { return v == 1 }, "1"},
		{`mailprobe_stage_ok{stage="connect"}`, closed, func(v float64) bool { return v == 0 }, "0 (refused)"},
		{`mailprobe_probe_exit_code`, closed, func(v float64) bool { return v == 3 }, "3 (incomplete)"},
		{`mailprobe_cert_not_after_seconds{position="0"} - time()`, E.Addr(E.IMAPSPort), func(v float64) bool { return v > 86400 }, "> 1 day (the run's certificate)"},
		{`mailprobe_tls_version_info`, E.Addr(E.SubmissionPort), func(v float64) bool { return v == 1 }, "1"},
		{`mailprobe_dns_record_present{record="spf"}`, E.Domain, func(v float64) bool { return v == 1 }, "1 (NSD serves it)"},
		{`mailprobe_dns_record_present{record="dkim"}`, E.Domain, func(v float64) bool { return v == 1 }, "1"},
		{`mailprobe_exporter_probes_in_flight`, addr, func(v float64) bool { return v >= 0 }, "present"},
	}
	for _, c := range checks {
		got, err := query(c.expr)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := got[c.inst]; !ok || !c.ok(v) {
			t.Errorf("%s{instance=%q} = %v (present %v), want %s; all: %v", c.expr, c.inst, v, ok, c.what, got)
		}
	}
	// No secret or command line in any series the exporter produced.
	series, err := http.Get("http://" + promAddr + "/api/v1/label/__name__/values")
	if err == nil {
		b, _ := io.ReadAll(series.Body)
		series.Body.Close()
		if strings.Contains(string(b), E.Pass1) {
			t.Error("a password appears in Prometheus")
		}
	}

	// Ctrl-C/SIGTERM: the exporter stops taking requests and exits 0.
	_ = exp.Process.Signal(syscall.SIGTERM)
	if err := exp.Wait(); err != nil {
		t.Errorf("exporter after SIGTERM: %v", err)
	}
}

// The example alerting rules are valid and do what docs/monitoring.md says.
func TestExporterAlertRules(t *testing.T) {
	dir := filepath.Join(moduleRoot(), "deploy", "prometheus")
	for _, args := range [][]string{
		{"check", "rules", "mailprobe-rules.yml"},
		{"test", "rules", "mailprobe-rules_test.yml"},
	} {
		cmd := exec.Command("promtool", args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SUCCESS") {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func quote(s string) string { return strconv.Quote(s) }

// freeAddr is a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
