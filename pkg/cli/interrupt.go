package cli

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// ExitInterrupted is the exit code of a run the user stopped (Ctrl-C or
// SIGTERM): 128 + SIGINT, what a shell reports for a process killed by
// Ctrl-C, so scripts see the same code whether or not mailprobe caught it.
const ExitInterrupted = report.ExitInterrupted

// errInterrupted is the cause of a run context cancelled by a signal.
var errInterrupted = errors.New("interrupted")

// interruptible returns a context that the first signal on sigs cancels
// (with errInterrupted as its cause); a second signal calls exit(130) at
// once, for a run that does not stop quickly enough. stop releases the
// watcher.
func interruptible(parent context.Context, sigs <-chan os.Signal, exit func(int)) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	quit := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			cancel(errInterrupted)
		case <-quit:
			return
		}
		select {
		case <-sigs:
			exit(ExitInterrupted)
		case <-quit:
		}
	}()
	return ctx, func() { close(quit); cancel(nil) }
}

// processSignals delivers this process's SIGINT and SIGTERM.
func processSignals() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	return ch, func() { signal.Stop(ch) }
}

// wasInterrupted reports whether ctx was cancelled by a signal.
func wasInterrupted(ctx context.Context) bool {
	return ctx != nil && errors.Is(context.Cause(ctx), errInterrupted)
}

// markInterrupted makes a report of an interrupted run say so, whether or
// not its engine did: the stage that was running when the signal came is
// marked interrupted (with the run.interrupted finding naming it), and the
// failures that stage reported because its connection was cut are dropped:
// they describe the Ctrl-C, not the server.
func markInterrupted(r *report.Report) {
	r.Interrupted, r.Incomplete = true, true
	if r.Has(report.CodeInterrupted) {
		return
	}
	stage := "run"
	last := -1
	for i, s := range r.Stages {
		if s.Status == report.StatusInterrupted {
			last = i
			break
		}
		if s.Status != report.StatusSkipped {
			last = i
		}
	}
	switch {
	case last >= 0 && (r.Stages[last].Status == report.StatusError || r.Stages[last].Status == report.StatusInterrupted):
		stage = r.Stages[last].Name
		r.Stages[last].Status = report.StatusInterrupted
		r.Stages[last].Summary = "interrupted (Ctrl-C)"
		kept := r.Findings[:0]
		for _, f := range r.Findings {
			if f.Stage != stage || f.Severity == report.Pass {
				kept = append(kept, f)
			}
		}
		r.Findings = kept
	default:
		// Every stage recorded had finished: the run was stopped between
		// stages, or before the first.
		r.AddStage(report.Stage{Name: stage, Status: report.StatusInterrupted, Summary: "interrupted (Ctrl-C)"})
	}
	r.Add(report.Interrupted(stage))
}
