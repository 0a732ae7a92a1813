package dnsauth

import (
	"context"
	"fmt"
	"time"

	"github.com/mailprobe/mailprobe/pkg/arc"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// arcStage is the stage ARC findings belong to.
const arcStage = "arc"

// ARCLookup adapts a resolver to arc.Options.LookupTXT: a name without a
// TXT record (NXDOMAIN, NODATA) is arc.ErrNotFound, anything else a
// temporary error.
func ARCLookup(r resolver.Interface) func(ctx context.Context, name string) ([]string, error) {
	return func(ctx context.Context, name string) ([]string, error) {
		txt, err := r.LookupTXT(ctx, name)
		if err != nil && resolver.IsNotFound(err) {
			return nil, fmt.Errorf("%v: %w", err, arc.ErrNotFound)
		}
		return txt, err
	}
}

// VerifyARC validates msg's ARC chain with keys from r, at `at`.
func VerifyARC(ctx context.Context, r resolver.Interface, msg []byte, at time.Time) *arc.Result {
	return arc.Verify(ctx, wireForm(msg), arc.Options{LookupTXT: ARCLookup(r), At: at})
}

// addARCStage adds an arc stage with res's findings to a report built
// for another stage (dkim verify, dmarc --message).
func addARCStage(rep *report.Report, res *arc.Result, start time.Time, took time.Duration) {
	st := report.Stage{Name: arcStage, Status: report.StatusOK, Start: start.Sub(rep.StartedAt), Duration: took}
	switch {
	case res.TempError:
		st.Status, st.Summary = report.StatusError, "a sealer's key could not be fetched: "+res.Reason
	case res.Status == arc.None:
		st.Status, st.Summary = report.StatusInfo, "no ARC chain"
	case res.Status == arc.Pass:
		st.Summary = fmt.Sprintf("cv=pass, %d instance(s), oldest pass i=%d", len(res.Instances), res.OldestPass)
	default:
		st.Status, st.Summary = report.StatusFail, "cv=fail: "+res.Reason
	}
	rep.AddStage(st)
	// The report was timed before this stage ran: it covers it too.
	rep.Duration = max(rep.Duration, st.Start+st.Duration)
	rep.Add(res.Findings(arcStage)...)
	rep.SetFact("arc", res)
}

// ARCOptions configure ARCReport.
type ARCOptions struct {
	Resolver resolver.Interface // fetches the sealers' keys (required)
	Name     string             // what the message is called in the report
	Message  []byte
	// At judges signatures at this time instead of now.
	At  time.Time
	Now func() time.Time
}

// ARCReport is `mailprobe arc verify`: the chain's status, each instance,
// the oldest passing hop and what broke it.
func ARCReport(ctx context.Context, o ARCOptions) (*report.Report, error) {
	run, ctx, err := beginFocused(ctx, "arc verify", arcStage, o.Resolver, o.Now)
	if err != nil {
		return nil, err
	}
	at := o.At
	if at.IsZero() {
		at = run.now()
	}
	res := VerifyARC(ctx, o.Resolver, o.Message, at)
	summary := "cv=" + string(res.Status)
	switch res.Status {
	case arc.Pass:
		summary += fmt.Sprintf(", %d instance(s), oldest pass i=%d", len(res.Instances), res.OldestPass)
	case arc.Fail:
		summary += ": " + res.Reason
	}
	if !o.At.IsZero() {
		summary += " at " + res.At.Format(time.RFC3339)
	}
	return run.report(o.Name, res.Findings(arcStage), summary, res.TempError, res), nil
}
