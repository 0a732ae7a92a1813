package resetmail

import (
	"bytes"
	"context"
	"time"

	"github.com/mailprobe/mailprobe/pkg/arc"
	"github.com/mailprobe/mailprobe/pkg/dnsauth"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// arcFindings validates the ARC chain of the message as received, when
// it has one and a resolver was given: a forwarder or list that broke
// DKIM but sealed ARC is why a receiver may still deliver it (or, with a
// broken chain, why it went to spam).
func arcFindings(ctx context.Context, r resolver.Interface, raw []byte, rep *report.Report) []report.Finding {
	if r == nil || !bytes.Contains(bytes.ToLower(raw), []byte("arc-seal:")) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res := dnsauth.VerifyARC(ctx, r, raw, time.Now())
	rep.SetFact("arc", res)
	if res.Status == arc.None {
		return nil
	}
	return res.Findings("analyze")
}
