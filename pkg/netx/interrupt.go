package netx

import "github.com/mailprobe/mailprobe/pkg/report"

// Interrupted reports whether a stage that failed with err was stopped by
// the user: Ctrl-C cancels the run's context, which the Conn turns into
// context.Canceled (KindCanceled) however the blocked read ended. Such a
// stage is neither the server's fault nor a network problem: engines end
// it with report.StatusInterrupted and the finding returned here, in this
// one place, instead of "network error … check connectivity".
func Interrupted(stage string, err error) (report.Finding, bool) {
	if err == nil || Classify(err) != KindCanceled {
		return report.Finding{}, false
	}
	return report.Interrupted(stage), true
}
