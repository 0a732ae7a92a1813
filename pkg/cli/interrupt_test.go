package cli

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/iostreams"
	"github.com/mailprobe/mailprobe/pkg/report"
)

// stallingServer accepts connections and never says anything; accepted
// receives one value per connection.
func stallingServer(t *testing.T) (addr string, accepted chan struct{}) {
	accepted = make(chan struct{}, 8)
	release := make(chan struct{})
	addr = testserver.Start(t, func(c *testserver.Conn) {
		accepted <- struct{}{}
		<-release
	})
	t.Cleanup(func() { close(release) }) // runs before the server's own cleanup
	return addr, accepted
}

// stageWatch is a terminal's stderr that tells when the progress line
// names a stage: the run's own word for where it is.
type stageWatch struct {
	mu    sync.Mutex
	buf   strings.Builder
	stage string
	seen  chan struct{}
	once  sync.Once
}

func (w *stageWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), ": "+w.stage+"…") {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

// interruptRun starts mailprobe against a stalling server, delivers one
// Ctrl-C once the run is in stage (its progress line says so; "" waits
// only for the server to have the connection), and returns what it did.
func interruptRun(t *testing.T, stage string, args ...string) result {
	t.Helper()
	_, accepted := stallingServerFor(t, args)
	io, _, out, errOut := iostreams.Test()
	watch := &stageWatch{stage: stage, seen: make(chan struct{})}
	if stage != "" {
		io.StderrTTY, io.ErrOut = true, watch
	}
	sigs := make(chan os.Signal, 2)
	done := make(chan int, 1)
	go func() { done <- Main(args, &Env{IO: io, Signals: sigs}) }()
	<-accepted
	if stage != "" {
		<-watch.seen
	}
	sigs <- os.Interrupt
	select {
	case code := <-done:
		if stage != "" {
			return result{code, out.String(), watch.buf.String()}
		}
		return result{code, out.String(), errOut.String()}
	case <-time.After(20 * time.Second): // a bound against a hang, not a timing assertion
		t.Fatal("mailprobe did not stop within 20 s of Ctrl-C")
	}
	return result{}
}

// stallingServerFor replaces the ADDR placeholder in args.
func stallingServerFor(t *testing.T, args []string) (string, chan struct{}) {
	addr, accepted := stallingServer(t)
	host, port, _ := strings.Cut(addr, ":")
	for i, a := range args {
		args[i] = strings.NewReplacer("ADDR", addr, "HOST", host, "PORT", port).Replace(a)
	}
	return addr, accepted
}

func TestInterrupt_smtpCheckReportsStagesSoFarAndExits130(t *testing.T) {
	// JSON draws no progress line, so where the run is when the signal
	// lands is not known: whichever stage it is must be the one marked,
	// with every stage before it done and none after it run.
	r := interruptRun(t, "", "smtp", "check", "ADDR", "--no-ptr", "--tls", "none", "--format", "json")
	if r.code != ExitInterrupted {
		t.Fatalf("exit %d, want %d\n%s\n%s", r.code, ExitInterrupted, r.out, r.errOut)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
		t.Fatalf("JSON: %v\n%s", err, r.out)
	}
	f, ok := rep.Find(report.CodeInterrupted)
	if !rep.Interrupted || !ok {
		t.Fatalf("interrupted %v, finding %v\n%s", rep.Interrupted, ok, r.out)
	}
	seen := false
	for _, s := range rep.Stages {
		switch {
		case s.Status == report.StatusInterrupted:
			if seen || s.Name != f.Stage {
				t.Errorf("stage %s interrupted; the finding names %s", s.Name, f.Stage)
			}
			seen = true
		case !seen && s.Status != report.StatusOK:
			t.Errorf("stage %s before the interrupted one is %s", s.Name, s.Status)
		case seen && s.Status != report.StatusSkipped:
			t.Errorf("stage %s after the interrupted one is %s", s.Name, s.Status)
		}
	}
	if !seen {
		t.Errorf("no stage is marked interrupted\n%s", r.out)
	}
	for _, f := range rep.Findings {
		if f.Severity == report.Fail {
			t.Errorf("Ctrl-C reported as a failure of the server: %s %s", f.Code, f.Detail)
		}
	}

	// Text on a terminal: the progress line says when the banner is
	// awaited, so the stage is known.
	r = interruptRun(t, "banner", "smtp", "check", "ADDR", "--no-ptr", "--tls", "none")
	if r.code != ExitInterrupted {
		t.Fatalf("text: exit %d\n%s", r.code, r.out)
	}
	for _, want := range []string{"connect", "banner", "interrupted", report.CodeInterrupted} {
		if !strings.Contains(r.out, want) {
			t.Errorf("text output lacks %q\n%s", want, r.out)
		}
	}
}

// An engine that returns without marking the stage still yields an
// interrupted report: the CLI marks it.
func TestInterrupt_mailboxAuditMarkedByTheCLI(t *testing.T) {
	for _, format := range []string{"json", "junit", "sarif", "text"} {
		r := interruptRun(t, "", "imap", "audit", "HOST", "--port", "PORT", "--tls", "none", "--no-tls-scan", "--format", format)
		if r.code != ExitInterrupted {
			t.Errorf("%s: exit %d, want %d\n%s\n%s", format, r.code, ExitInterrupted, r.out, r.errOut)
		}
		if !strings.Contains(r.out, report.CodeInterrupted) && !strings.Contains(r.out, "interrupted") {
			t.Errorf("%s: the output does not say the run was interrupted\n%s", format, r.out)
		}
	}
}

func TestInterrupt_secondSignalExitsAtOnce(t *testing.T) {
	sigs := make(chan os.Signal, 2)
	exited := make(chan int, 1)
	ctx, stop := interruptible(context.Background(), sigs, func(code int) { exited <- code })
	defer stop()
	sigs <- os.Interrupt
	<-ctx.Done()
	if !wasInterrupted(ctx) {
		t.Fatalf("cause %v, want the interruption", context.Cause(ctx))
	}
	select {
	case code := <-exited:
		t.Fatalf("exit(%d) after one signal", code)
	default:
	}
	sigs <- os.Interrupt
	if code := <-exited; code != ExitInterrupted {
		t.Errorf("second signal: exit(%d), want %d", code, ExitInterrupted)
	}
}

func TestMergeExitCodes(t *testing.T) {
	mk := func(incomplete, interrupted bool, sev report.Severity) *report.Report {
		r := report.NewReport("x", "y", time.Time{})
		r.Incomplete, r.Interrupted = incomplete, interrupted
		if sev != report.Pass {
			r.Add(report.Finding{Code: "x.y", Severity: sev})
		}
		return r
	}
	for _, tc := range []struct {
		reports []*report.Report
		want    int
	}{
		{nil, 0},
		{[]*report.Report{mk(false, false, report.Pass), mk(false, false, report.Fail)}, 1},
		{[]*report.Report{mk(false, false, report.Fail), mk(true, false, report.Pass)}, 3},
		{[]*report.Report{mk(true, false, report.Fail), mk(true, true, report.Pass), mk(false, false, report.Fail)}, ExitInterrupted},
	} {
		if got := report.MergeExit(tc.reports, report.Fail); got != tc.want {
			t.Errorf("merge: %d, want %d", got, tc.want)
		}
	}
}

func TestProgress_onlyOnATerminalAndNeverForMachines(t *testing.T) {
	addr := testserver.Start(t, testserver.SMTP{}.Handler())
	for _, tc := range []struct {
		tty    bool
		term   string
		format string
		want   bool
	}{
		{true, "", "text", true},
		{false, "", "text", false},
		{true, "dumb", "text", false},
		{true, "", "json", false},
		{true, "", "junit", false},
		{true, "", "sarif", false},
	} {
		io, _, _, errOut := iostreams.Test()
		io.StderrTTY = tc.tty
		io.Getenv = func(k string) string {
			if k == "TERM" {
				return tc.term
			}
			return ""
		}
		Main([]string{"smtp", "check", addr, "--no-ptr", "--format", tc.format}, &Env{IO: io})
		got := strings.Contains(errOut.String(), ": banner…")
		if got != tc.want {
			t.Errorf("tty %v TERM=%q --format %s: progress shown %v, want %v (stderr %q)", tc.tty, tc.term, tc.format, got, tc.want, errOut)
		}
		if tc.want && !strings.HasSuffix(errOut.String(), "\r\x1b[K") {
			t.Errorf("the progress line is not cleared before the report: %q", errOut)
		}
	}
}
