package smtpprobe

import (
	"errors"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/smtpclient"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// run is the state of one check: the report being built, its recorder,
// its clock and the stage timer (report.Stages, the one every engine
// uses) that times each stage from begin to End.
type run struct {
	rep    *report.Report
	rec    *transcript.Recorder
	now    func() time.Time
	stages *report.Stages
}

func newRun(rep *report.Report, rec *transcript.Recorder, now func() time.Time, progress func(stage string)) *run {
	return &run{rep: rep, rec: rec, now: now, stages: report.NewStages(rep, now, rec, progress)}
}

// stageRun is one timed stage of the check.
type stageRun struct {
	*report.StageTimer
	r *run
}

func (r *run) begin(name string) *stageRun {
	return &stageRun{StageTimer: r.stages.Begin(name), r: r}
}

// skip records a stage that was not attempted.
func (r *run) skip(name, why string) { r.stages.Skip(why, name) }

// replyFinding turns a server reply into a finding explained by the
// reply-code knowledge base.
func replyFinding(code, stage string, rp smtpclient.Reply) report.Finding {
	return smtpclient.ReplyFinding(code, stage, rp)
}

// refusal is the finding for a refused command: code when the refusal
// is permanent (5xx), smtp.reply.temporary when it is transient (4xx).
func refusal(code, stage string, rp smtpclient.Reply) report.Finding {
	if rp.Class() == 4 {
		code = "smtp.reply.temporary"
	}
	return replyFinding(code, stage, rp)
}

// errFinding turns a failed session operation into a finding naming the
// stage and what happened: timeout (with the time waited), closed, reset,
// garbage.
func errFinding(stage string, err error) report.Finding {
	oe, ok := err.(*netx.OpError)
	if !ok {
		return report.Newf("smtp.conn.error", stage, "%s: %v", stage, err)
	}
	var f report.Finding
	switch oe.Kind() {
	case netx.KindProtocol:
		if errors.Is(oe, smtpclient.ErrUnsolicited) {
			f = report.Newf("smtp.reply.unsolicited", stage, "At stage %s the server had sent data before the command (%v); the replies after it could not be matched to commands, so the run stopped judging them.", stage, oe.Err)
			break
		}
		f = report.Newf("smtp.reply.malformed", stage, "The server's answer at stage %s is not an SMTP reply: %v.", stage, oe.Err)
	case netx.KindTimeout:
		f = report.Newf("smtp.conn.timeout", stage, "No complete answer at stage %s: %s.", stage, netx.Describe(oe.Err, oe.Waited))
	case netx.KindClosed:
		f = report.Newf("smtp.conn.closed", stage, "The server closed the connection at stage %s without a reply.", stage)
	case netx.KindReset:
		f = report.Newf("smtp.conn.reset", stage, "The connection was reset at stage %s.", stage)
	default:
		f = report.Newf("smtp.conn.error", stage, "Stage %s failed: %v.", stage, oe)
	}
	if oe.Partial != nil {
		f = f.With("reply", oe.Partial.Text, oe.Partial.Seq...)
	}
	if msg := oe.Err.Error(); strings.Contains(msg, "partial line") {
		f = f.With("note", msg)
	}
	return f
}

// failed ends a stage whose session operation failed: a Ctrl-C is the
// stage's interruption (netx.Interrupted, the one mapping every engine
// shares), anything else an error with the finding errFinding makes.
func (s *stageRun) failed(err error) {
	if f, ok := netx.Interrupted(s.Name, err); ok {
		s.End(report.StatusInterrupted, "interrupted")
		s.r.rep.Add(f)
		return
	}
	s.End(report.StatusError, "%v", err)
	s.r.rep.Add(errFinding(s.Name, err))
}

// agreeWithFindings makes the status of every stage from stages on agree
// with the worst of that stage's findings from findings on, so that the
// stage list never says FAIL beside a finding that only warns (or OK
// beside one that fails). It runs once, at the end of a check, after the
// severities are final (a send lowers posture findings to warnings). A
// fail finding fails its stage; a warning makes it info (the stage list's
// middle mark: there is no "warn" status, and the dns command's areas map
// warnings the same way); a stage whose findings are all pass or info is
// not a failure. Stages that could not run (error, skipped, interrupted)
// and stages without findings keep the status the engine gave them.
func agreeWithFindings(rep *report.Report, stages, findings int) {
	worst := map[string]report.Severity{}
	for _, f := range rep.Findings[findings:] {
		if w, ok := worst[f.Stage]; !ok || f.Severity > w {
			worst[f.Stage] = f.Severity
		}
	}
	for i := stages; i < len(rep.Stages); i++ {
		st := &rep.Stages[i]
		w, ok := worst[st.Name]
		if !ok || (st.Status != report.StatusOK && st.Status != report.StatusFail && st.Status != report.StatusInfo) {
			continue
		}
		switch {
		case w >= report.Fail:
			st.Status = report.StatusFail
		case w == report.Warn:
			st.Status = report.StatusInfo
		case st.Status == report.StatusFail && w == report.Info:
			st.Status = report.StatusInfo
		case st.Status == report.StatusFail:
			st.Status = report.StatusOK
		}
	}
}
