package smtpprobe_test

import (
	"context"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/smtpprobe"
)

// Ctrl-C while the greeting is awaited: the banner stage is interrupted
// (not a network error), the report says so, and the run ends at once.
func TestCheck_ctrlCInterruptsTheStage(t *testing.T) {
	addr := testserver.Start(t, testserver.Silent)
	host, port, _ := netx.SplitHostPort(addr, 25)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := smtpprobe.Options{Host: host, Port: port, Role: smtpprobe.RoleMX, TLSMode: netx.TLSStartTLS,
		Progress: func(stage string) {
			if stage == "banner" {
				cancel()
			}
		}}
	start := time.Now()
	r, err := smtpprobe.Check(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("cancel did not stop the run: %v", time.Since(start))
	}
	if got := stageStatus(r, "banner"); got != report.StatusInterrupted {
		t.Fatalf("banner stage %s; findings %v", got, codesOf(r))
	}
	f := finding(r, report.CodeInterrupted)
	if f == nil || f.Stage != "banner" || !r.Interrupted {
		t.Fatalf("findings %v interrupted=%v", codesOf(r), r.Interrupted)
	}
	if finding(r, "smtp.conn.error") != nil || finding(r, "smtp.conn.timeout") != nil {
		t.Fatalf("an interruption reported as a network failure: %v", codesOf(r))
	}
}
