package cli

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailprobe/mailprobe/pkg/render"
	"github.com/mailprobe/mailprobe/pkg/termsafe"
)

// progress is the one status line a long run draws on stderr (PRODUCT.md:
// "progress on stderr for anything that can take more than a second, only
// on a terminal"). A nil *progress draws nothing, so commands call it
// unconditionally: it is nil when stderr is not a terminal, under
// TERM=dumb, and when the output is for a machine (--format json, junit,
// sarif), whose reader may share the terminal.
type progress struct {
	env   *Env
	mu    sync.Mutex
	shown bool
	done  chan struct{}
	wg    sync.WaitGroup
}

// newProgress returns the progress line of a run rendered as format, or
// nil when none may be drawn.
func newProgress(env *Env, format render.Format) *progress {
	if !env.IO.ProgressEnabled() || (format != render.Text && format != "") {
		return nil
	}
	return &progress{env: env, done: make(chan struct{})}
}

// Set replaces the line with msg.
func (p *progress) Set(msg string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return // a late callback from an engine after Done
	default:
	}
	p.shown = true
	fmt.Fprintf(p.env.IO.ErrOut, "\r\x1b[K%s", termsafe.Line(p.env.scrubString(msg)))
}

// Notice prints msg on its own line of stderr, above the progress line
// (which the next Set redraws). Without a progress line it is printed
// all the same: a notice is for everyone reading stderr.
func (p *progress) Notice(env *Env, msg string) {
	msg = termsafe.Line(env.scrubString(msg))
	if p == nil {
		fmt.Fprintln(env.IO.ErrOut, msg)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.env.IO.ErrOut, "\r\x1b[K")
	}
	fmt.Fprintln(p.env.IO.ErrOut, msg)
}

// Stage is the callback shape of smtpprobe.Options.Progress: "TARGET:
// STAGE…".
func (p *progress) Stage(target string) func(string) {
	if p == nil {
		return nil
	}
	return func(stage string) { p.Set(target + ": " + stage + "…") }
}

// Ticking shows "label: STAGE, 3.2 s…", refreshed by Tick, for engines
// whose stages overlap work that reports none (the audits' TLS scans):
// the line names the latest stage and how long the run has taken. It
// returns the engine's Progress callback (safe from several goroutines;
// nil when there is no progress line), first being the stage shown
// before the engine names one.
func (p *progress) Ticking(label, first string) func(stage string) {
	if p == nil {
		return nil
	}
	start := time.Now()
	var stage atomic.Value
	stage.Store(first)
	p.Tick(func() string {
		return fmt.Sprintf("%s: %s, %s…", label, stage.Load().(string), elapsed(start))
	})
	return func(s string) { stage.Store(s) }
}

// Tick shows what(), refreshed every 200 ms, once the run has taken a
// second: for engines that report no stages of their own.
func (p *progress) Tick(what func() string) {
	if p == nil {
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		select {
		case <-p.done:
			return
		case <-time.After(time.Second):
		}
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			p.Set(what())
			select {
			case <-p.done:
				return
			case <-t.C:
			}
		}
	}()
}

// Done stops the ticker and clears the line; the report follows on a
// clean line.
func (p *progress) Done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	select {
	case <-p.done:
		p.mu.Unlock()
		return
	default:
	}
	close(p.done)
	p.mu.Unlock()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.env.IO.ErrOut, "\r\x1b[K")
	}
}

// elapsed words the time since start for a ticking progress line.
func elapsed(start time.Time) string {
	return time.Since(start).Round(time.Second).String()
}
