package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/render"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
	"github.com/mailprobe/mailprobe/pkg/suite"
)

type batchOptions struct {
	FailOn        string
	Input         string
	Parallel      int
	Resolver      string
	Shard         string
	Resume        string
	DKIMSelectors []string
	failOn        report.Severity
	shard         shard
}

// maxBatchTargets bounds one batch run (a typo like `batch -i /dev/urandom`
// must not run forever): the targets left after --shard and --resume.
const maxBatchTargets = 100000

// maxTargetLine bounds one line of the input (and of a --resume file).
const maxTargetLine = 64 << 10

func newBatchCmd(env *Env) *cobra.Command {
	o := &batchOptions{}
	c := &cobra.Command{
		Use:   "batch [-i FILE] -- COMMAND [ARGS...] [{}]",
		Short: "Run one check over many domains or hosts, JSON lines out",
		Long: `Run a check command for every target read from FILE (or stdin): one
target per line, blank lines and # comments skipped. {} in the command is
replaced by the target; without {} the target is added as the last
argument. Each result is printed as one JSON object on its own line, in
input order, as soon as it and those before it are done: at most a few
hundred results wait in memory, never the whole list.

The checks share one DNS cache (answers kept for their TTL) and one
pacing of each DNS server: a name many targets share is asked once, and
a server that limits its answer rate is paced and told about once (on
stderr and in one report), instead of its drops turning into timeouts.
For dns, the DKIM selector sweep is off: name the selectors with
--dkim-selectors.

--shard I/N runs only the targets whose hash falls in part I of N (I from
0 to N-1): N machines given the same list and I = 0..N-1 run it all,
each target once, with no coordination. --resume FILE skips the targets
already in FILE, the JSON lines of an earlier run (a last line cut short
by a crash is ignored): append to it to go on where it stopped.

Exit code: 2 if the command line is not valid, else 3 if any check was
incomplete, else 1 if any has a finding at or above --fail-on, else 0.`,
		Example: `  mailprobe batch -i domains.txt -- dns
  cat mx-hosts.txt | mailprobe batch --parallel 8 -- smtp check {}:25 --timeout 20s
  mailprobe batch -i domains.txt --dkim-selectors google,selector1 -- dns {}
  mailprobe batch -i domains.txt --shard 2/8 -- dns >> part-2.jsonl
  mailprobe batch -i domains.txt --resume out.jsonl -- dns >> out.jsonl
  mailprobe batch -i domains.txt -- dmarc {} | jq -c '{target, fail: [.findings[] | select(.severity=="fail") | .code]}'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, env, args) },
	}
	c.Flags().StringVarP(&o.Input, "input", "i", "-", "file of targets, one per line (- for stdin)")
	c.Flags().IntVar(&o.Parallel, "parallel", defaultBatchParallel, "checks run at once (1 to 256)")
	c.Flags().StringVar(&o.FailOn, "fail-on", "fail", "lowest severity that makes the exit code 1: info, warn or fail")
	c.Flags().StringVar(&o.Shard, "shard", "", "run only part I of N of the targets (I/N, I from 0 to N-1), split by a stable hash of each target")
	c.Flags().StringVar(&o.Resume, "resume", "", "skip the targets already in this JSON-lines output of an earlier run")
	c.Flags().StringSliceVar(&o.DKIMSelectors, "dkim-selectors", nil, "DKIM selectors for dns and dkim check lines without --selector (comma-separated; default for dns: no DKIM sweep)")
	completeValues(c, "fail-on", "info", "warn", "fail")
	addLineResolverFlag(c, &o.Resolver)
	return c
}

// defaultBatchParallel is the default number of checks at once: enough
// to keep two cores busy while DNS answers and connections are awaited.
const defaultBatchParallel = 16

func (o *batchOptions) validate(command []string) error {
	s, err := report.ParseSeverity(o.FailOn)
	if err != nil || s == report.Pass {
		return usageErrorf("--fail-on must be info, warn or fail, not %q", o.FailOn)
	}
	o.failOn = s
	if o.Parallel < 1 || o.Parallel > 256 {
		return usageErrorf("--parallel must be between 1 and 256")
	}
	if o.Shard != "" {
		sh, err := parseShard(o.Shard)
		if err != nil {
			return usageErrorf("--shard: %v", err)
		}
		o.shard = sh
	}
	if len(o.DKIMSelectors) > 0 && !takesSelector(command) {
		return usageErrorf("--dkim-selectors is for dns and dkim check lines")
	}
	return checkLineResolver(o.Resolver)
}

func (o *batchOptions) run(cmd *cobra.Command, env *Env, command []string) error {
	if err := o.validate(command); err != nil {
		return err
	}
	// The command's secret-bearing values are registered before anything
	// can print them (a misspelt -password=X is quoted by the flag error).
	env.registerLineSecrets("", command, env.IO.Getenv)
	for _, a := range command {
		if a == "--format" || strings.HasPrefix(a, "--format=") {
			return usageErrorf("batch always writes JSON lines; drop --format from the command")
		}
	}
	var seen map[string]bool
	if o.Resume != "" {
		var err error
		if seen, err = resumeSet(o.Resume); err != nil {
			return usageErrorf("--resume: %v", err)
		}
	}
	targets, err := o.readTargets(env, seen)
	if err != nil {
		return err
	}
	argsFor := func(target string) []string {
		return withResolver(o.lineFor(command, target), o.Resolver)
	}
	// The command line is validated once, with the first target that can
	// be run.
	for _, t := range targets {
		if badTarget(t) == "" {
			if err := validateLine(env, argsFor(t)); err != nil {
				return usageErrorf("%v", err)
			}
			break
		}
	}

	// JSON lines go to stdout; the progress line to a terminal's stderr.
	// (Not when stdout is the same terminal: the lines would interleave.)
	var p *progress
	if !env.IO.StdoutTTY {
		p = newProgress(env, render.Text)
	}
	defer p.Done()
	// One DNS cache, one set of sockets and one pacing of each server for
	// every check of the run.
	var noticeMu sync.Mutex
	shared := resolver.NewShared(resolver.SharedOptions{OnRateLimit: func(rl resolver.RateLimit) {
		noticeMu.Lock()
		defer noticeMu.Unlock()
		p.Notice(env, fmt.Sprintf("mailprobe batch: the DNS server %s limits its answer rate (%d answers slipped, %d dropped so far): slipped answers are asked again over TCP, and questions to it are paced (%.0f a second, adjusting).", rl.Server, rl.Slipped, rl.Dropped, rl.Rate))
	}})
	defer shared.Close()
	benv := *env
	benv.dnsShared = shared
	defer tuneGC()()
	return o.runAll(cmd.Context(), &benv, p, command, targets, argsFor)
}

// runAll runs the targets, at most Parallel at once, and prints each
// result in input order as soon as it and those before it are done. At
// most window results are held (running, or done and waiting for an
// earlier one): memory stays flat whatever the length of the list.
func (o *batchOptions) runAll(ctx context.Context, env *Env, p *progress, command, targets []string, argsFor func(string) []string) error {
	window := max(64, 4*o.Parallel)
	slots := make(chan struct{}, window)
	sem := make(chan struct{}, o.Parallel)
	pending := make(chan chan *report.Report, window)
	stop := make(chan struct{}) // closed when the printer gives up
	defer close(stop)
	go func() {
		defer close(pending)
		for _, t := range targets {
			// After Ctrl-C no new target starts: those running finish
			// (interrupted) and are printed; --resume picks up the rest.
			select {
			case slots <- struct{}{}:
			case <-stop:
				return
			case <-ctx.Done():
				return
			}
			select {
			case sem <- struct{}{}:
			case <-stop:
				return
			}
			if ctx.Err() != nil {
				return
			}
			res := make(chan *report.Report, 1)
			pending <- res
			go func() {
				defer func() { <-sem }()
				var r *report.Report
				if why := badTarget(t); why != "" {
					r = invalidTarget(env, command, t, why)
				} else {
					r = runLine(ctx, env, suite.Run{Args: argsFor(t)})
				}
				r.Version = Version
				// The input line is the record's name (what --resume
				// matches); command and target are the engine's, as
				// fields of their own.
				r.Name = netx.Clip(t)
				res <- r
			}()
		}
	}()
	start := time.Now()
	code := report.ExitOK
	var lastDrawn time.Time
	done := 0
	for res := range pending {
		r := <-res
		<-slots
		done++
		code = worseExit(code, report.MergeExit([]*report.Report{r}, o.failOn))
		if now := time.Now(); now.Sub(lastDrawn) >= 100*time.Millisecond || done == len(targets) {
			lastDrawn = now
			p.Set(batchProgress(done, len(targets), now.Sub(start), r.Target))
		}
		r.SortFindings()
		env.scrubReport(r)
		// The report's own MarshalJSON is already compact: an Encoder
		// would only compact it again (a tenth of a batch's time).
		b, err := r.MarshalJSON()
		if err == nil {
			_, err = env.IO.Out.Write(env.scrub(append(b, '\n')))
		}
		if err != nil {
			return &exitError{code: report.ExitIncomplete, err: fmt.Errorf("writing output: %w", err)}
		}
	}
	if done < len(targets) {
		// Stopped (Ctrl-C) before every target ran.
		p.Done()
		fmt.Fprintf(env.IO.ErrOut, "mailprobe batch: stopped after %d of %d targets; run again with --resume FILE (the output so far) to go on.\n", done, len(targets))
		code = worseExit(code, report.ExitInterrupted)
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// tuneGC lets the heap grow further between collections during a batch
// (unless GOGC or GOMEMLIMIT say otherwise): a batch makes much short-lived
// garbage and keeps little, and collecting after every doubling of a
// small heap cost a tenth of its time. A memory limit keeps the peak
// bounded all the same. It returns the function that restores the
// settings.
func tuneGC() func() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	pct := debug.SetGCPercent(400)
	limit := debug.SetMemoryLimit(batchMemoryLimit)
	return func() {
		debug.SetGCPercent(pct)
		debug.SetMemoryLimit(limit)
	}
}

// batchMemoryLimit is the soft memory limit of a batch's Go runtime.
const batchMemoryLimit = 64 << 20

// batchProgress is the progress line: done/total, rate, time left.
func batchProgress(done, total int, el time.Duration, last string) string {
	line := fmt.Sprintf("mailprobe batch: %d/%d done", done, total)
	if el >= time.Second && done > 0 {
		rate := float64(done) / el.Seconds()
		line += fmt.Sprintf(", %.0f/s", rate)
		if left := total - done; left > 0 {
			eta := time.Duration(float64(left) / rate * float64(time.Second)).Round(time.Second)
			line += fmt.Sprintf(", %s left", eta)
		}
	}
	return line + " (" + netx.Clip(last) + ")"
}

// worseExit is the exit code of a run given the code so far and that of
// one more report: interrupted, then incomplete, then findings.
func worseExit(a, b int) int {
	rank := func(c int) int {
		switch c {
		case report.ExitInterrupted:
			return 3
		case report.ExitIncomplete:
			return 2
		case report.ExitFindings:
			return 1
		}
		return 0
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// readTargets reads the input's targets, keeping those of this shard
// not already in the --resume file.
func (o *batchOptions) readTargets(env *Env, seen map[string]bool) ([]string, error) {
	var in io.Reader = env.IO.In
	if o.Input != "-" {
		f, err := os.Open(o.Input)
		if err != nil {
			return nil, usageErrorf("%v", err)
		}
		defer f.Close()
		in = f
	}
	var targets []string
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 4096), maxTargetLine)
	for sc.Scan() {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") || !o.shard.has(t) || seen[netx.Clip(t)] {
			continue
		}
		if len(targets) == maxBatchTargets {
			return nil, usageErrorf("more than %d targets; split the input (--shard)", maxBatchTargets)
		}
		targets = append(targets, t)
	}
	if err := sc.Err(); err != nil {
		return nil, usageErrorf("reading targets: %v", err)
	}
	return targets, nil
}

// lineFor is the command line of one target: {} replaced (or the target
// appended), and for dns and dkim check without --selector, the
// --dkim-selectors (for dns without them, no sweep).
func (o *batchOptions) lineFor(command []string, target string) []string {
	var out []string
	found := false
	for _, a := range command {
		if strings.Contains(a, "{}") {
			found = true
			a = strings.ReplaceAll(a, "{}", target)
		}
		out = append(out, a)
	}
	if !found {
		out = append(out, target)
	}
	if takesSelector(command) && !suite.HasFlag(command, "--selector") && !hasShortFlag(command, "-s") {
		switch {
		case len(o.DKIMSelectors) > 0:
			out = append(out, "--selector", strings.Join(o.DKIMSelectors, ","))
		case command[0] == "dns" && !suite.HasFlag(command, "--dkim-sweep"):
			out = append(out, "--dkim-sweep=false")
		}
	}
	return out
}

// takesSelector reports whether the command is one whose DKIM selectors
// batch's --dkim-selectors sets: dns, dkim check.
func takesSelector(command []string) bool {
	return len(command) > 0 && command[0] == "dns" || len(command) > 1 && command[0] == "dkim" && command[1] == "check"
}

func hasShortFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == flag || strings.HasPrefix(a, flag) && len(a) > len(flag) && !strings.HasPrefix(a, "--") {
			return true
		}
	}
	return false
}

// shard is part I of N (N 0: the whole list).
type shard struct{ i, n uint64 }

// parseShard reads "I/N".
func parseShard(s string) (shard, error) {
	is, ns, ok := strings.Cut(s, "/")
	i, err1 := strconv.ParseUint(strings.TrimSpace(is), 10, 32)
	n, err2 := strconv.ParseUint(strings.TrimSpace(ns), 10, 32)
	if !ok || err1 != nil || err2 != nil || n == 0 {
		return shard{}, fmt.Errorf("%q is not I/N (e.g. 0/4: the first of four parts)", s)
	}
	if i >= n {
		return shard{}, fmt.Errorf("%q: I counts from 0 to N-1 (%d/%d is the last part)", s, n-1, n)
	}
	return shard{i, n}, nil
}

// has reports whether target is in the shard: FNV-1a (64 bits) of the
// target line as written, modulo N. The hash is fixed, so every machine
// and every version splits a list the same way.
func (s shard) has(target string) bool {
	if s.n <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(target))
	return h.Sum64()%s.n == s.i
}

// resumeSet reads the targets of an earlier run's JSON lines: each
// record's name (the input line) or, in records without one, its target.
// A last line cut short (the run was killed while writing it) is
// ignored; any other line that is not a record is an error: the file is
// not batch output.
func resumeSet(name string) (map[string]bool, error) {
	f, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]bool{}, nil // the first run: nothing done yet
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	seen := map[string]bool{}
	br := bufio.NewReaderSize(f, 64<<10)
	for ln := 1; ; ln++ {
		line, err := readLine(br, 64<<20)
		if err == io.EOF && len(line) == 0 {
			return seen, nil
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s: line %d: %v", name, ln, err)
		}
		last := err == io.EOF // no newline after it: perhaps cut short
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var rec struct {
			Name   string `json:"name"`
			Target string `json:"target"`
		}
		if jerr := json.Unmarshal(line, &rec); jerr != nil || rec.Name == "" && rec.Target == "" {
			if last {
				return seen, nil
			}
			return nil, fmt.Errorf("%s: line %d is not a batch record (a JSON object with a target)", name, ln)
		}
		if rec.Name != "" {
			seen[rec.Name] = true
		} else {
			seen[rec.Target] = true
		}
		if last {
			return seen, nil
		}
	}
}

// readLine reads one line without its newline, at most limit bytes.
func readLine(br *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > limit {
			return nil, fmt.Errorf("a line longer than %d bytes", limit)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == nil {
			return line[:len(line)-1], nil
		}
		return line, err
	}
}

// badTarget says why a target line cannot be run, or "". A target
// starting with "-" would be parsed as a flag of the command (batch --
// spf {} with a line "--help", or "--resolver=evil"): it is an error for
// that line, reported and not run.
func badTarget(t string) string {
	if strings.HasPrefix(t, "-") {
		return "a target may not start with \"-\": it would be read as a flag"
	}
	return ""
}

// invalidTarget is the report of a target line that was not run.
func invalidTarget(env *Env, command []string, target, why string) *report.Report {
	r := report.NewReport(netx.Clip(strings.Join(command[:min(2, len(command))], " ")), netx.Clip(target), env.Now())
	r.AddStage(report.Stage{Name: "run", Status: report.StatusError, Summary: "not run: " + why})
	r.Add(report.Newf("batch.target.invalid", "run", "%q was not run: %s.", netx.Clip(target), why))
	return r
}

func init() {
	report.Register(report.Code{Code: "batch.target.invalid", Severity: report.Fail, Title: "A batch target line could not be run",
		Fix: "Fix the line in the input: a target is a domain, host or address, and never starts with \"-\"."})
}
