package resolver

import (
	"testing"
	"time"
)

// The pace is additive increase, multiplicative decrease: nothing until
// the second loss, then half the rate asked at, halved again by a later
// burst of losses (once per burst), growing by paceIncrease a second
// while answers come, never below minPace.
func TestPacer_AIMD(t *testing.T) {
	p := &pacer{}
	p.cur, p.bucket = 400, time.Now()
	if first, _ := p.loss(true); first || p.rate != 0 {
		t.Fatalf("one loss engaged the pacer: rate %v", p.rate)
	}
	if first, rl := p.loss(false); !first || p.rate != 200 || rl.Slipped != 1 || rl.Dropped != 1 {
		t.Fatalf("second loss: first %v, rate %v, %+v", first, p.rate, rl)
	}
	if first, _ := p.loss(false); first || p.rate != 200 {
		t.Fatalf("a loss in the same burst cut again: %v", p.rate)
	}
	p.lastCut = time.Now().Add(-time.Second)
	p.loss(true)
	if p.rate != 100 {
		t.Fatalf("a later burst: rate %v, want 100", p.rate)
	}
	for i := 0; i < 100; i++ { // a second's worth of answers at 100/s
		p.answered(time.Millisecond)
	}
	if p.rate < 140 || p.rate > 150 {
		t.Fatalf("after a second of answers: rate %v, want about 100+%v", p.rate, paceIncrease)
	}
	// Answers in a millisecond: a drop is presumed after minDropWait,
	// never later than the configured timeout.
	if got := p.attemptTimeout(2 * time.Second); got != minDropWait {
		t.Errorf("attempt timeout %v, want %v", got, minDropWait)
	}
	if got := p.attemptTimeout(100 * time.Millisecond); got != 100*time.Millisecond {
		t.Errorf("attempt timeout %v, want the configured 100ms", got)
	}
	if got := (&pacer{}).attemptTimeout(2 * time.Second); got != 2*time.Second {
		t.Errorf("before any loss: %v, want the configured 2s", got)
	}
	for i := 0; i < 20; i++ {
		p.lastCut = time.Time{}
		p.loss(false)
	}
	if p.rate != minPace || p.slowest != minPace {
		t.Fatalf("rate %v, slowest %v, want the floor %v", p.rate, p.slowest, minPace)
	}
}
