package report

import (
	"testing"
	"time"
)

// fakeSeq is a transcript position the test moves by hand.
type fakeSeq int

func (f *fakeSeq) Seq() int { return int(*f) }

// A stage is timed on the injected clock, cites the transcript entries
// recorded between Begin and End, tells the progress display when it
// begins, and is added once however often it is ended.
func TestStages_timesAStage(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := t0
	clock := func() time.Time { return now }
	rep := NewReport("smtp check", "mx.test.example:25", t0)
	seq := fakeSeq(4)
	var told []string
	s := NewStages(rep, clock, &seq, func(name string) { told = append(told, name) })

	now = t0.Add(10 * time.Millisecond)
	st := s.Begin("banner")
	if len(told) != 1 || told[0] != "banner" || st.FirstSeq != 5 {
		t.Fatalf("told %v, first seq %d", told, st.FirstSeq)
	}
	seq = 7 // three lines recorded
	now = t0.Add(250 * time.Millisecond)
	st.End(StatusOK, "%s in %d lines", "220 ready", 3)
	now = t0.Add(time.Second)
	st.End(StatusFail, "again") // ignored
	if !st.Ended() || len(rep.Stages) != 1 {
		t.Fatalf("stages %+v", rep.Stages)
	}
	got := rep.Stages[0]
	if got.Name != "banner" || got.Status != StatusOK || got.Summary != "220 ready in 3 lines" ||
		got.Start != 10*time.Millisecond || got.Duration != 240*time.Millisecond || len(got.Seq) != 2 || got.Seq[0] != 5 || got.Seq[1] != 7 {
		t.Fatalf("stage %+v", got)
	}

	// No lines recorded: no seq range.
	st = s.Begin("ehlo")
	st.End(StatusInfo, "quiet")
	if got := rep.Stages[1]; got.Seq != nil || got.Summary != "quiet" {
		t.Fatalf("stage %+v", got)
	}

	// An error stage marks the report incomplete, as AddStage does.
	s.Begin("quit").End(StatusError, "closed")
	if !rep.Incomplete {
		t.Fatal("an error stage left the report complete")
	}
}

// Skipped stages are added in order at the current time; without a
// transcript, a clock or a progress display the timer still works.
func TestStages_skipAndDefaults(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := t0.Add(2 * time.Second)
	rep := NewReport("tls", "mx.test.example:25", t0)
	s := NewStages(rep, func() time.Time { return now }, nil, nil)
	s.Skip("no connection", "certificate", "ciphers")
	if len(rep.Stages) != 2 || rep.Stages[1].Name != "ciphers" || rep.Stages[1].Status != StatusSkipped ||
		rep.Stages[1].Summary != "no connection" || rep.Stages[1].Start != 2*time.Second {
		t.Fatalf("stages %+v", rep.Stages)
	}
	st := s.Begin("connect")
	st.End(StatusOK, "ok")
	if got := rep.Stages[2]; got.Seq != nil || got.Name != "connect" {
		t.Fatalf("stage %+v", got)
	}

	var zero Stages
	zero.Report = NewReport("x", "y", time.Now())
	zero.Begin("real clock").End(StatusOK, "done")
	if d := zero.Report.Stages[0].Duration; d < 0 || d > time.Minute {
		t.Fatalf("duration %v on the real clock", d)
	}
}
