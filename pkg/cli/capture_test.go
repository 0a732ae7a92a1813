package cli

import (
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/pkg/capture"
	"github.com/mailprobe/mailprobe/pkg/report"
)

// capture's limits are flags with defaults that reach the server; a
// limit of zero is a usage error.
func TestCapture_limitFlags(t *testing.T) {
	o, _ := parsed(t, nil, "capture")
	co, err := o.(*captureOptions).options(&Env{})
	if err != nil {
		t.Fatal(err)
	}
	if co.MaxConns != capture.DefaultMaxConns || co.IdleTimeout != capture.DefaultIdleTimeout || co.DataTimeout != capture.DefaultDataTimeout {
		t.Errorf("defaults %d %s %s", co.MaxConns, co.IdleTimeout, co.DataTimeout)
	}
	o, _ = parsed(t, nil, "capture", "--max-conns", "7", "--idle-timeout", "5s", "--data-timeout", "1m")
	co, err = o.(*captureOptions).options(&Env{})
	if err != nil || co.MaxConns != 7 || co.IdleTimeout != 5*time.Second || co.DataTimeout != time.Minute {
		t.Errorf("flags %d %s %s %v", co.MaxConns, co.IdleTimeout, co.DataTimeout, err)
	}
	for _, args := range [][]string{{"capture", "--max-conns", "0"}, {"capture", "--idle-timeout", "0s"}, {"capture", "--data-timeout", "-1s"}} {
		if r := run(t, nil, args...); r.code != report.ExitUsage {
			t.Errorf("%v: exit %d, want 2", args, r.code)
		}
	}
}
