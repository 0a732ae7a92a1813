package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/pkg/iostreams"
	"github.com/mailprobe/mailprobe/pkg/report"
)

// batchZone serves n small domains that all include one provider's SPF
// record, as a hosting provider's customers do.
func batchZone(n int) (*dnstest.Zone, []string) {
	z := dnstest.NewZone()
	z.MustAdd(`_spf.provider.test. 300 IN TXT "v=spf1 ip4:198.51.100.0/24 -all"`)
	var names []string
	for i := 0; i < n; i++ {
		d := fmt.Sprintf("d%03d.batch.test.", i)
		names = append(names, strings.TrimSuffix(d, "."))
		z.MustAdd(
			d+" 300 IN MX 10 mx."+d,
			"mx."+d+" 300 IN A 192.0.2.1",
			d+` 300 IN TXT "v=spf1 mx include:_spf.provider.test -all"`,
			"_dmarc."+d+` 300 IN TXT "v=DMARC1; p=reject"`,
			"s1._domainkey."+d+` 300 IN TXT "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="`,
		)
	}
	return z, names
}

type batchRecord struct {
	Name, Target, Command string
	Stages                []struct{ Name, Status, Summary string }
	Findings              []struct{ Code string }
}

func batchRecords(t *testing.T, out string) []batchRecord {
	t.Helper()
	var recs []batchRecord
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var r batchRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not a JSON line: %v\n%s", err, line)
		}
		recs = append(recs, r)
	}
	return recs
}

func (r batchRecord) stage(name string) (status, summary string) {
	for _, s := range r.Stages {
		if s.Name == name {
			return s.Status, s.Summary
		}
	}
	return "", ""
}

// One batch asks a name its targets share (the provider's SPF include)
// once, skips the DKIM selector sweep unless --dkim-selectors names some,
// and prints one line per target in input order.
func TestBatch_dnsSharesOneCacheAndSkipsTheSweep(t *testing.T) {
	z, names := batchZone(20)
	srv := dnstest.Start(t, z)
	input := writeSuite(t, strings.Join(names, "\n")+"\n")
	r := run(t, nil, "batch", "-i", input, "--resolver", srv.Addr, "--", "dns", "{}")
	recs := batchRecords(t, r.out)
	if len(recs) != len(names) || r.code == report.ExitIncomplete || r.code == report.ExitUsage {
		t.Fatalf("exit %d, %d records\n%s", r.code, len(recs), r.errOut)
	}
	for i, rec := range recs {
		if rec.Target != names[i] {
			t.Errorf("line %d is %s, want %s (input order)", i, rec.Target, names[i])
		}
		if st, sum := rec.stage("dkim"); st != "skipped" || !strings.Contains(sum, "--dkim-selectors") {
			t.Errorf("%s: dkim stage %s %q, want skipped", rec.Target, st, sum)
		}
	}
	if n := srv.Count("_spf.provider.test", dns.TypeTXT); n != 1 {
		t.Errorf("the shared include was asked %d times, want 1", n)
	}
	if n := srv.Count("default._domainkey.d000.batch.test", dns.TypeTXT); n != 0 {
		t.Errorf("the selector sweep ran (%d)", n)
	}
	if rep := srv.Repeated(); len(rep) != 0 {
		t.Errorf("questions asked twice: %v", rep)
	}

	r = run(t, nil, "batch", "-i", input, "--resolver", srv.Addr, "--dkim-selectors", "s1,s2", "--", "dns", "{}")
	for _, rec := range batchRecords(t, r.out) {
		// s2 is named and missing: a failure, where the sweep would
		// have said nothing.
		if st, sum := rec.stage("dkim"); st != "fail" || !strings.Contains(sum, "1 key(s) at 2 selector(s)") {
			t.Errorf("%s: dkim stage %s %q", rec.Target, st, sum)
		}
	}
	if n := srv.Count("default._domainkey.d000.batch.test", dns.TypeTXT); n != 0 {
		t.Errorf("the selector sweep ran (%d)", n)
	}
	if r := run(t, nil, "batch", "-i", input, "--dkim-selectors", "s1", "--", "spf", "{}"); r.code != report.ExitUsage {
		t.Errorf("--dkim-selectors with spf: exit %d", r.code)
	}
}

// --shard I/N splits a list into N disjoint parts whose union is the
// whole, the same way on every run.
func TestBatch_shardsAreDisjointAndCoverTheList(t *testing.T) {
	z, names := batchZone(30)
	srv := dnstest.Start(t, z)
	input := writeSuite(t, strings.Join(names, "\n")+"\n")
	const n = 3
	var all []string
	for i := 0; i < n; i++ {
		r := run(t, nil, "batch", "-i", input, "--resolver", srv.Addr, "--shard", fmt.Sprintf("%d/%d", i, n), "--", "dns", "{}")
		recs := batchRecords(t, r.out)
		if len(recs) == 0 || len(recs) == len(names) {
			t.Errorf("shard %d/%d has %d of %d targets", i, n, len(recs), len(names))
		}
		for _, rec := range recs {
			all = append(all, rec.Target)
		}
	}
	slices.Sort(all)
	want := slices.Clone(names)
	slices.Sort(want)
	if !slices.Equal(all, want) {
		t.Fatalf("the shards together ran %d targets:\n%v\nwant each of the %d once", len(all), all, len(want))
	}
	// The split is a property of the target alone.
	for _, name := range names {
		in := 0
		for i := uint64(0); i < n; i++ {
			if (shard{i, n}).has(name) {
				in++
			}
		}
		if in != 1 {
			t.Errorf("%s is in %d shards", name, in)
		}
	}
	for _, bad := range []string{"3/3", "1", "a/b", "0/0", "-1/2"} {
		if r := run(t, nil, "batch", "-i", input, "--shard", bad, "--", "dns"); r.code != report.ExitUsage || !strings.Contains(r.errOut, "--shard") {
			t.Errorf("--shard %s: exit %d %s", bad, r.code, r.errOut)
		}
	}
}

// --resume skips the targets of an earlier run's output, whose last line
// may have been cut short; a file that is not batch output is refused.
func TestBatch_resume(t *testing.T) {
	z, names := batchZone(6)
	srv := dnstest.Start(t, z)
	dir := t.TempDir()
	input := filepath.Join(dir, "in.txt")
	os.WriteFile(input, []byte(strings.Join(names, "\n")+"\n"), 0o600)
	first := writeSuite(t, strings.Join(names[:3], "\n")+"\n")
	r := run(t, nil, "batch", "-i", first, "--resolver", srv.Addr, "--", "dns", "{}")
	lines := strings.SplitAfter(strings.TrimSpace(r.out), "\n")
	// The third record was being written when the run was killed.
	prev := filepath.Join(dir, "out.jsonl")
	os.WriteFile(prev, []byte(lines[0]+lines[1]+lines[2][:40]), 0o600)
	r = run(t, nil, "batch", "-i", input, "--resolver", srv.Addr, "--resume", prev, "--", "dns", "{}")
	var got []string
	for _, rec := range batchRecords(t, r.out) {
		got = append(got, rec.Target)
	}
	if want := names[2:]; !slices.Equal(got, want) {
		t.Fatalf("resumed run ran %v, want %v\n%s", got, want, r.errOut)
	}
	// A missing file is a first run.
	r = run(t, nil, "batch", "-i", input, "--resolver", srv.Addr, "--resume", filepath.Join(dir, "none.jsonl"), "--", "dns", "{}")
	if n := len(batchRecords(t, r.out)); n != len(names) {
		t.Errorf("with no earlier output: %d records", n)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("not json\n"+lines[0]), 0o600)
	if r := run(t, nil, "batch", "-i", input, "--resume", bad, "--", "dns", "{}"); r.code != report.ExitUsage || !strings.Contains(r.errOut, "line 1") {
		t.Errorf("bad --resume file: exit %d %s", r.code, r.errOut)
	}
}

// A DNS server that limits its rate (it slips and drops past its burst)
// is told about once, on stderr and in one report, and every target
// still gets its answers (slips over TCP, drops asked again).
func TestBatch_rateLimitedServerToldOnce(t *testing.T) {
	z, names := batchZone(5)
	srv := dnstest.Start(t, z)
	frozen := time.Unix(1e9, 0)
	srv.SetRateLimit(&dnstest.RateLimit{Burst: 30, Slip: 1, Now: func() time.Time { return frozen }})
	input := writeSuite(t, strings.Join(names, "\n")+"\n")
	r := run(t, nil, "batch", "-i", input, "--resolver", srv.Addr, "--", "dns", "{}", "--dns-timeout", "300ms")
	recs := batchRecords(t, r.out)
	if len(recs) != len(names) || r.code == report.ExitIncomplete {
		t.Fatalf("exit %d, %d records\n%s", r.code, len(recs), r.errOut)
	}
	if srv.Slipped() < 2 {
		t.Fatalf("the server slipped %d answers", srv.Slipped())
	}
	if n := strings.Count(r.errOut, "limits its answer rate"); n != 1 {
		t.Errorf("told %d times on stderr:\n%s", n, r.errOut)
	}
	told := 0
	for _, rec := range recs {
		for _, f := range rec.Findings {
			if f.Code == "dns.resolver.rate-limited" {
				told++
			}
		}
	}
	if told != 1 {
		t.Errorf("%d reports carry dns.resolver.rate-limited, want 1", told)
	}
}

// The progress line counts, gives the rate and the time left.
func TestBatchProgress(t *testing.T) {
	if got := batchProgress(3, 10, 500*time.Millisecond, "a.test"); got != "mailprobe batch: 3/10 done (a.test)" {
		t.Errorf("%q", got)
	}
	if got := batchProgress(100, 1000, 2*time.Second, "b.test"); got != "mailprobe batch: 100/1000 done, 50/s, 18s left (b.test)" {
		t.Errorf("%q", got)
	}
	// On a terminal's stderr only.
	z, names := batchZone(2)
	srv := dnstest.Start(t, z)
	io, in, _, errOut := iostreams.Test()
	in.WriteString(strings.Join(names, "\n"))
	Main([]string{"batch", "--resolver", srv.Addr, "--", "dns"}, &Env{IO: io})
	if errOut.Len() != 0 {
		t.Errorf("progress when stderr is not a terminal: %q", errOut.String())
	}
	io, in, _, errOut = iostreams.Test()
	io.StderrTTY = true
	in.WriteString(strings.Join(names, "\n"))
	Main([]string{"batch", "--resolver", srv.Addr, "--", "dns"}, &Env{IO: io})
	if !strings.Contains(errOut.String(), "mailprobe batch: 2/2 done") {
		t.Errorf("no progress on a terminal: %q", errOut.String())
	}
}

// Ctrl-C stops a batch: the target running is printed (interrupted), no
// other starts, stderr says how to go on, and the exit code is 130.
func TestBatch_interruptStopsStartingTargets(t *testing.T) {
	addr, accepted := stallingServer(t)
	input := writeSuite(t, addr+"\n"+addr+"\n"+addr+"\n")
	io, _, out, errOut := iostreams.Test()
	sigs := make(chan os.Signal, 2)
	done := make(chan int, 1)
	go func() {
		done <- Main([]string{"batch", "-i", input, "--parallel", "1", "--", "smtp", "check", "{}", "--no-ptr", "--tls", "none"}, &Env{IO: io, Signals: sigs})
	}()
	<-accepted
	sigs <- os.Interrupt
	var code int
	select {
	case code = <-done:
	case <-time.After(20 * time.Second): // a bound against a hang, not a timing assertion
		t.Fatal("batch did not stop within 20 s of Ctrl-C")
	}
	recs := batchRecords(t, out.String())
	if code != ExitInterrupted || len(recs) != 1 || !strings.Contains(errOut.String(), "stopped after 1 of 3 targets") {
		t.Fatalf("exit %d, %d records\n%s\n%s", code, len(recs), out.String(), errOut.String())
	}
}
