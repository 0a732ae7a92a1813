package smtpclient

import (
	"strings"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// ReplyFinding makes a finding whose detail and fix come from the reply
// knowledge base (replycode.Explain), so every command explains the same
// reply the same way.
func ReplyFinding(code, stage string, rp Reply) report.Finding {
	ex := rp.Explain()
	detail := ex.Summary
	// The knowledge base's causes explain refusals; for a positive reply
	// that was not expected, they would explain the wrong thing.
	if ex.Cause != "" && rp.Class() >= 4 {
		detail += " Likely cause: " + ex.Cause
	}
	if ex.Provider != "" {
		detail = "(" + ex.Provider + ") " + detail
	}
	f := report.New(code, stage, detail).With("reply", rp.Excerpt(12), rp.Seq...)
	if ex.Fix != "" && rp.Class() >= 4 {
		f = f.WithFix(ex.Fix)
	}
	f.Refs = dedupeRefs(append(append([]string{}, f.Refs...), ex.Refs...))
	return f
}

// dedupeRefs keeps the first of equal references, and drops a bare
// "RFC 4954" when a section of it ("RFC 4954 §6") is cited too.
func dedupeRefs(refs []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range refs {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	kept := out[:0]
	for _, r := range out {
		general := false
		for _, o := range out {
			if o != r && strings.HasPrefix(o, r+" §") {
				general = true
			}
		}
		if !general {
			kept = append(kept, r)
		}
	}
	return kept
}
