package report

import (
	"fmt"
	"time"
)

// The one stage timer. Every engine reports its run as stages, and every
// stage is timed the same way: when it begins, the progress display is
// told and the clock and the transcript position are noted; when it ends,
// the stage is added with its status, summary, duration and the range of
// transcript entries it covers (so a reader can jump from a stage to its
// lines). Stages that never ran are added as skipped, at the time they
// were given up.

// Sequencer is what the timer needs of a transcript: the seq of its last
// entry (transcript.Recorder has it).
type Sequencer interface{ Seq() int }

// Stages times the stages of one run into a report. Its fields are the
// run's effects, injected: the clock, an optional progress display and an
// optional transcript. Stages is used by one goroutine at a time.
type Stages struct {
	Report *Report
	// Now is the clock; nil = time.Now.
	Now func() time.Time
	// Progress, when set, is told each stage's name as it begins (the CLI
	// shows it on a terminal's stderr).
	Progress func(stage string)
	// Transcript, when set, gives each stage its seq range.
	Transcript Sequencer
}

// NewStages times stages into rep with the clock now (nil = time.Now),
// the transcript seq (nil = no seq ranges) and progress (nil = none).
func NewStages(rep *Report, now func() time.Time, seq Sequencer, progress func(stage string)) *Stages {
	return &Stages{Report: rep, Now: now, Transcript: seq, Progress: progress}
}

func (s *Stages) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// StageTimer is one stage being timed, from Stages.Begin to End.
type StageTimer struct {
	Name    string
	Started time.Time
	// FirstSeq is the seq the stage's first transcript entry will have.
	FirstSeq int

	s     *Stages
	ended bool
}

// Begin starts the stage name: tells the progress display and notes the
// time and the transcript position.
func (s *Stages) Begin(name string) *StageTimer {
	if s.Progress != nil {
		s.Progress(name)
	}
	t := &StageTimer{Name: name, Started: s.now(), s: s}
	if s.Transcript != nil {
		t.FirstSeq = s.Transcript.Seq() + 1
	}
	return t
}

// End adds the stage to the report with its status, its summary (format
// is formatted only when args are given, so a summary holding a % is
// kept as it is), its duration and the transcript entries recorded since
// Begin. Only the first End of a stage counts: an engine may end a stage
// early on a failure path and again on the way out.
func (t *StageTimer) End(status Status, format string, args ...any) {
	if t.ended {
		return
	}
	t.ended = true
	summary := format
	if len(args) > 0 {
		summary = fmt.Sprintf(format, args...)
	}
	st := Stage{Name: t.Name, Status: status, Start: t.Started.Sub(t.s.Report.StartedAt), Duration: t.s.now().Sub(t.Started), Summary: summary}
	if t.s.Transcript != nil {
		if last := t.s.Transcript.Seq(); last >= t.FirstSeq {
			st.Seq = []int{t.FirstSeq, last}
		}
	}
	t.s.Report.AddStage(st)
}

// Ended reports whether End was called.
func (t *StageTimer) Ended() bool { return t.ended }

// Skip adds stages that were not attempted, with why, at the current time.
func (s *Stages) Skip(why string, names ...string) {
	for _, n := range names {
		s.Report.AddStage(Stage{Name: n, Status: StatusSkipped, Summary: why, Start: s.now().Sub(s.Report.StartedAt)})
	}
}
