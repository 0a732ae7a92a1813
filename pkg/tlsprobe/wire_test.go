package tlsprobe

import (
	"io"
	"net"
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// A server that sends half a greeting and hangs up: the finding names the
// banner stage and quotes the half, cited by its transcript entry (the
// partial line netx.Conn hands over in OpError.Partial).
func TestHalfGreetingIsQuoted(t *testing.T) {
	l := startListener(t, func(c net.Conn) {
		io.WriteString(c, "220 mail.test ESMTP half a gree")
	})
	rep, res := runScan(t, testOptions(t, l.port(), ProtoSMTP))
	f := wantFinding(t, rep, "tls.conn.closed", report.Fail)
	if f.Stage != "banner" {
		t.Errorf("stage %s, want banner", f.Stage)
	}
	if len(f.Evidence) == 0 || f.Evidence[0].Text != "220 mail.test ESMTP half a gree" || len(f.Evidence[0].Seq) != 1 {
		t.Fatalf("evidence %+v, want the half greeting and its entry", f.Evidence)
	}
	if e := rep.Transcript[f.Evidence[0].Seq[0]-1]; e.Line != "220 mail.test ESMTP half a gree" {
		t.Errorf("cites entry %+v", e)
	}
	if res.Handshakes != 0 || !rep.Incomplete {
		t.Errorf("%d handshakes, incomplete %v", res.Handshakes, rep.Incomplete)
	}
}

// An endless greeting line stops at the line limit as a protocol error of
// the banner stage: bounded memory, a quote of the start, no handshake.
func TestEndlessGreetingIsBounded(t *testing.T) {
	l := startListener(t, func(c net.Conn) {
		chunk := strings.Repeat("A", 4096)
		for i := 0; i < 64; i++ { // 256 KiB, far past maxLine
			if _, err := io.WriteString(c, chunk); err != nil {
				return
			}
		}
	})
	rep, res := runScan(t, testOptions(t, l.port(), ProtoSMTP))
	f := wantFinding(t, rep, "tls.banner.unexpected", report.Fail)
	if f.Stage != "banner" || !strings.Contains(f.Detail, "line too long") {
		t.Errorf("finding %+v", f)
	}
	if len(f.Detail) > 400 {
		t.Errorf("detail of %d bytes: the quote must be clipped", len(f.Detail))
	}
	if len(f.Evidence) == 0 || !strings.HasPrefix(f.Evidence[0].Text, "AAAA") {
		t.Errorf("evidence %+v, want the start of the line", f.Evidence)
	}
	if res.Handshakes != 0 {
		t.Errorf("%d handshakes", res.Handshakes)
	}
}
