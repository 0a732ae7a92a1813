package arc

import (
	"fmt"
	"strings"

	"github.com/mailprobe/mailprobe/pkg/report"
)

func init() {
	P, I, W, F := report.Pass, report.Info, report.Warn, report.Fail
	c := func(code string, sev report.Severity, title, fix string, refs ...string) report.Code {
		return report.Code{Code: code, Severity: sev, Title: title, Fix: fix, Refs: refs}
	}
	report.Register(
		c("arc.chain.none", I, "No ARC chain", "", "RFC 8617 §4.4"),
		c("arc.chain.pass", P, "ARC chain validates", "", "RFC 8617 §5.2"),
		c("arc.chain.modified", I, "The message changed after an earlier ARC hop",
			"Expected behind a mailing list or forwarder that rewrites the subject or footer: receivers that trust the sealer use the ARC-Authentication-Results of the oldest passing hop.", "RFC 8617 §5.2"),
		c("arc.structure.invalid", F, "ARC header fields are malformed or incomplete",
			"The intermediary named in the detail adds broken ARC sets: each instance needs exactly one ARC-Seal, ARC-Message-Signature and ARC-Authentication-Results, numbered from 1 without gaps, with valid tags. Report it to its operator.", "RFC 8617 §4.1", "RFC 8617 §5.2"),
		c("arc.chain.sealed-fail", F, "An intermediary sealed the chain as failed",
			"A hop already found the chain broken (cv=fail): look at the hops before it; receivers will not use this chain.", "RFC 8617 §5.1.1"),
		c("arc.ams.fail", F, "ARC message signature does not validate",
			"The newest ARC-Message-Signature must validate: the message changed after the last intermediary sealed it, or that intermediary signs wrongly (key, canonicalization). Check hops after it that modify mail.", "RFC 8617 §5.1.2"),
		c("arc.as.fail", F, "ARC seal does not validate",
			"An ARC-Seal does not verify: its key is missing or wrong, or the ARC header fields were altered after sealing. The detail names the instance and its signing domain.", "RFC 8617 §5.1.1"),
		c("arc.key.temperror", W, "ARC key could not be fetched",
			"A DNS lookup for a sealer's key failed temporarily: the chain's status is unknown, not failed. Try again; check the --resolver.", "RFC 8617 §5.2"),
	)
}

// Findings reports the result as findings of stage.
func (r *Result) Findings(stage string) []report.Finding {
	var out []report.Finding
	hops := func() string {
		var hs []string
		for _, in := range r.Instances {
			hs = append(hs, fmt.Sprintf("i=%d %s (AAR by %s: %s)", in.I, in.SealDomain, in.AuthServID, clip(in.Results, 200)))
		}
		return strings.Join(hs, "\n")
	}
	switch r.Status {
	case None:
		out = append(out, report.New("arc.chain.none", stage, "The message has no ARC header fields: no intermediary sealed it."))
	case Pass:
		f := report.Newf("arc.chain.pass", stage, "The ARC chain of %d instance(s) validates (cv=pass); the newest seal is by %s.",
			len(r.Instances), r.Instances[len(r.Instances)-1].SealDomain).With("note", hops())
		out = append(out, f)
		if r.OldestPass > 1 {
			in := r.Instances[r.OldestPass-2]
			out = append(out, report.Newf("arc.chain.modified", stage,
				"The message signature of instance %d (%s) no longer validates: the message changed after that hop (%s); instance %d is the oldest whose signature still validates.",
				in.I, in.AMSDomain, in.AMSError, r.OldestPass))
		}
	case Fail:
		code := "arc.structure.invalid"
		switch {
		case r.TempError:
			code = "arc.key.temperror"
		case r.Broken > 0 && r.Broken <= len(r.Instances) && r.Instances[r.Broken-1].AMSResult == "fail":
			code = "arc.ams.fail"
		case r.Broken > 0 && r.Broken <= len(r.Instances) && r.Instances[r.Broken-1].SealResult == "fail":
			code = "arc.as.fail"
		case r.SealedFail:
			code = "arc.chain.sealed-fail"
		}
		f := report.Newf(code, stage, "The ARC chain fails (cv=fail): %s.", r.Reason)
		if len(r.Instances) > 0 {
			f = f.With("note", hops())
		}
		out = append(out, f)
	}
	return out
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Table is the chain one row per instance, for a text report's details:
// "i=01" → "seal example.org (s=dummy) cv=none: pass · AMS example.org
// (s=dummy): pass · AAR by lists.example.org: spf=pass …". Keys are
// zero-padded so that they sort in instance order. Nil without instances.
func (r *Result) Table() map[string]string {
	if len(r.Instances) == 0 {
		return nil
	}
	out := make(map[string]string, len(r.Instances))
	for _, in := range r.Instances {
		row := fmt.Sprintf("seal %s (s=%s) cv=%s: %s · AMS %s (s=%s): %s · AAR by %s: %s",
			in.SealDomain, in.SealSelector, in.CV, verdict(in.SealResult, in.SealError),
			in.AMSDomain, in.AMSSelector, verdict(in.AMSResult, in.AMSError),
			in.AuthServID, clip(in.Results, 200))
		if in.I == r.OldestPass {
			row += " · oldest pass"
		}
		if in.I == r.Broken {
			row += " · broke the chain"
		}
		out[fmt.Sprintf("i=%02d", in.I)] = row
	}
	return out
}

func verdict(result, err string) string {
	if err != "" {
		return result + " (" + err + ")"
	}
	return result
}
