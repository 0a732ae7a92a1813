//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// startNSD serves zone files with an NSD of its own (the environment's
// NSD keeps its defaults for the other tests), configured with extra
// server: lines, and returns its address. NSD is stopped when the test
// ends.
func startNSD(t *testing.T, serverConf string, zones map[string]string) string {
	t.Helper()
	if _, err := exec.LookPath("nsd"); err != nil {
		t.Fatalf("nsd is not installed (env.sh install installs it): %v", err)
	}
	dir := t.TempDir()
	_ = os.Chmod(dir, 0o755)
	addr := freeAddr(t)
	_, port, _ := strings.Cut(addr, ":")
	var zconf strings.Builder
	for name, body := range zones {
		file := name + "zone"
		if err := os.WriteFile(filepath.Join(dir, file), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&zconf, "zone:\n  name: %q\n  zonefile: %q\n", name, file)
	}
	conf := fmt.Sprintf(`server:
  ip-address: 127.0.0.1@%[1]s
  port: %[1]s
  do-ip6: no
  username: ""
  chroot: ""
  zonesdir: %[2]q
  pidfile: "%[2]s/nsd.pid"
  logfile: "%[2]s/nsd.log"
  database: ""
  zonelistfile: "%[2]s/zone.list"
  xfrdfile: "%[2]s/xfrd.state"
  xfrdir: %[2]q
  server-count: 1
  verbosity: 2
%[3]s
remote-control:
  control-enable: no
%[4]s`, port, dir, serverConf, zconf.String())
	cfg := filepath.Join(dir, "nsd.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("nsd-checkconf", cfg).CombinedOutput(); err != nil {
		t.Fatalf("nsd-checkconf: %v\n%s", err, out)
	}
	cmd := exec.Command("nsd", "-d", "-c", cfg)
	log, _ := os.Create(filepath.Join(dir, "nsd.out"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("nsd log:\n%s\n%s", tail(filepath.Join(dir, "nsd.log"), 20), tail(log.Name(), 20))
		}
	})
	// Ready once it answers over TCP (not rate-limited), within 10 s.
	c := &dns.Client{Net: "tcp", Timeout: 200 * time.Millisecond}
	m := new(dns.Msg)
	for name := range zones {
		m.SetQuestion(name, dns.TypeSOA)
		break
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if r, _, err := c.ExchangeContext(ctx, m, addr); err == nil && r.Rcode == dns.RcodeSuccess {
			return addr
		}
		if ctx.Err() != nil {
			t.Fatalf("nsd did not answer on %s within 10 s", addr)
		}
		time.Sleep(50 * time.Millisecond) // polling a starting daemon, not synchronising
	}
}

// rrlZones are n domains like a small organisation's, and the reverse
// zone of their MX addresses.
func rrlZones(n int) (map[string]string, []string) {
	var fwd, rev strings.Builder
	fwd.WriteString("$ORIGIN rrl.test.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n@ IN NS ns1\nns1 IN A 127.0.0.1\n")
	fwd.WriteString(`_spf.provider IN TXT "v=spf1 ip4:198.51.100.0/24 -all"` + "\n")
	rev.WriteString("$ORIGIN 127.in-addr.arpa.\n$TTL 300\n@ IN SOA ns1.rrl.test. hostmaster.rrl.test. 1 3600 600 86400 300\n@ IN NS ns1.rrl.test.\n")
	var names []string
	for i := 0; i < n; i++ {
		d := fmt.Sprintf("d%02d", i)
		names = append(names, d+".rrl.test")
		fmt.Fprintf(&fwd, "%[1]s IN MX 10 mx.%[1]s\nmx.%[1]s IN A 127.0.1.%[2]d\n%[1]s IN TXT \"v=spf1 mx include:_spf.provider.rrl.test -all\"\n_dmarc.%[1]s IN TXT \"v=DMARC1; p=reject\"\n", d, i+1)
		fmt.Fprintf(&rev, "%d.1.0 IN PTR mx.%s.rrl.test.\n", i+1, d)
	}
	return map[string]string{"rrl.test.": fwd.String(), "127.in-addr.arpa.": rev.String()}, names
}

// batch -- dns against an NSD with response-rate limiting (a low limit,
// so that it surely bites): the slipped answers are fetched over TCP and
// the dropped ones asked again at a pace the server accepts, every
// domain is checked completely, and the rate limit is told once, on
// stderr and in one record, instead of a flood of timeouts (issue 13:
// 4.6 domains/s with NXDOMAIN answers turned into 2-second timeouts).
func TestBatch_NSDRateLimited(t *testing.T) {
	zones, names := rrlZones(20)
	addr := startNSD(t, "  rrl-ratelimit: 5\n  rrl-slip: 2\n  rrl-whitelist-ratelimit: 5", zones)
	r := RunWith(t, RunOptions{Stdin: strings.Join(names, "\n") + "\n", Timeout: 3 * time.Minute},
		"batch", "--resolver", addr, "--", "dns", "{}", "--dns-timeout", "500ms", "--dns-retries", "3")
	if r.Code != 0 && r.Code != 1 {
		t.Errorf("exit %d, want 0 or 1 (complete); stderr:\n%s", r.Code, r.Stderr)
	}
	var got []string
	told := 0
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		var rec struct {
			Target   string
			Stages   []struct{ Name, Status, Summary string }
			Findings []struct{ Code string }
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		got = append(got, rec.Target)
		for _, s := range rec.Stages {
			if s.Status == "error" {
				t.Errorf("%s: stage %s incomplete: %s", rec.Target, s.Name, s.Summary)
			}
		}
		for _, f := range rec.Findings {
			if f.Code == "dns.resolver.rate-limited" {
				told++
			}
		}
	}
	if !slices.Equal(got, names) {
		t.Errorf("records for %v, want %v in input order", got, names)
	}
	if n := strings.Count(r.Stderr, "limits its answer rate"); n != 1 {
		t.Errorf("the rate limit was told %d times on stderr, want once:\n%s", n, r.Stderr)
	}
	if told != 1 {
		t.Errorf("%d records carry dns.resolver.rate-limited, want 1", told)
	}
}

// The same list against the same NSD without rate limiting: nothing is
// told, and the shared cache asks the provider's include once.
func TestBatch_NSDNoRateLimit(t *testing.T) {
	zones, names := rrlZones(20)
	addr := startNSD(t, "  rrl-ratelimit: 0", zones)
	r := RunWith(t, RunOptions{Stdin: strings.Join(names, "\n") + "\n"}, "batch", "--resolver", addr, "--", "dns", "{}")
	if r.Code != 0 && r.Code != 1 {
		t.Fatalf("exit %d:\n%s", r.Code, r)
	}
	if strings.Contains(r.Stdout+r.Stderr, "rate-limited") || strings.Contains(r.Stderr, "limits its answer rate") {
		t.Errorf("a rate limit was told:\n%s", r.Stderr)
	}
	if n := strings.Count(strings.TrimSpace(r.Stdout), "\n") + 1; n != len(names) {
		t.Errorf("%d records", n)
	}
}
