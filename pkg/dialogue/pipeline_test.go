package dialogue

import (
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/report"
)

// A pipeline step against a server that answers the whole group in one
// write (RFC 2920 §3.2, testserver's BatchReplies): every expectation's
// finding cites the transcript lines of its own reply, not the lines of
// whichever read happened to bring them in (issue 9: with seq numbers
// taken from the recorder's position, reply 1 cited every line and the
// others none). Every expectation is written to miss, "else warn", so
// that each one leaves a finding with evidence to check.
func TestRunScript_pipelineFindingsCiteTheirOwnReplies(t *testing.T) {
	addr := testserver.Start(t, testserver.SMTP{Pipelining: true, Hook: func(c *testserver.Conn, line string) bool {
		if strings.HasPrefix(line, "RCPT TO:<nobody@") {
			c.Send("550-5.1.1 nobody: user unknown", "550 5.1.1 try another")
			return true
		}
		return false
	}}.Handler())
	rep := run(t, addr, `connect
expect 220
ehlo
pipeline
  send MAIL FROM:<app@test.example>
  expect 251 else warn
  send RCPT TO:<user@test.example>
  expect 252 else warn
  send RCPT TO:<nobody@test.example>
  expect 250 else warn
  send RSET
  expect 354 else warn
end
quit
`)
	if s := stageByName(t, rep, "line 4: pipeline"); !strings.Contains(s.Summary, "4 commands in one write") {
		t.Fatalf("pipeline stage %+v", s)
	}
	want := map[string][]string{
		"line 6: expect 251":  {"250 2.1.0 Ok"},
		"line 8: expect 252":  {"250 2.1.5 Ok"},
		"line 10: expect 250": {"550-5.1.1 nobody: user unknown", "550 5.1.1 try another"},
		"line 12: expect 354": {"250 2.0.0 Ok"},
	}
	lineOf := map[int]string{}
	for _, e := range rep.Transcript {
		lineOf[e.Seq] = e.Line
	}
	for stage, lines := range want {
		f := requireFinding(t, rep, "script.expect.mismatch", stage)
		if f.Severity != report.Warn {
			t.Errorf("%s: severity %s", stage, f.Severity)
		}
		var cited []string
		for _, ev := range f.Evidence {
			if ev.Kind == "reply" {
				for _, seq := range ev.Seq {
					cited = append(cited, lineOf[seq])
				}
			}
		}
		if strings.Join(cited, "|") != strings.Join(lines, "|") {
			t.Errorf("%s cites %q, want %q", stage, cited, lines)
		}
	}
	// The replies fact (what the JSON report carries) agrees.
	facts, _ := rep.Facts["replies"].([]ReplyFact)
	got := map[int]string{}
	for _, rf := range facts {
		var ls []string
		for _, seq := range rf.Reply.Seq {
			ls = append(ls, lineOf[seq])
		}
		got[rf.Line] = strings.Join(ls, "|")
	}
	if got[6] != "250 2.1.0 Ok" || got[10] != "550-5.1.1 nobody: user unknown|550 5.1.1 try another" || got[12] != "250 2.0.0 Ok" {
		t.Errorf("replies fact %v", got)
	}
}
