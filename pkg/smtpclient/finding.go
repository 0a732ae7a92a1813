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

// MismatchFinding is the protocol-violation finding for a reply whose
// lines carry different codes (Reply.CodeMismatch), quoting the lines as
// the server sent them; ok is false for a reply without the violation.
func MismatchFinding(stage string, rp Reply) (f report.Finding, ok bool) {
	if !rp.CodeMismatch || len(rp.Raw) == 0 {
		return report.Finding{}, false
	}
	first := rp.Raw[0]
	if len(first) > 3 {
		first = first[:3]
	}
	f = report.Newf("smtp.reply.code-mismatch", stage, "A reply at stage %s began with code %s and ended with %03d; mailprobe acted on %03d, the last line's code (RFC 5321 §4.2.1).", stage, first, rp.Code, rp.Code)
	return f.With("reply", rp.Excerpt(12), rp.Seq...), true
}

// InvalidGreeting is the finding for a greeting that is not one: a code
// outside 2xx–5xx is not an SMTP reply at all (RFC 5321 §4.2), and a
// server greets with 220 or refuses with 4xx/5xx (§3.1, §4.3.2), so a
// 250, 354 or 100 greeting means the port does not speak SMTP as it
// should; nothing that follows can be judged. ok is false for a 220,
// 4xx or 5xx greeting.
func InvalidGreeting(stage string, rp Reply) (f report.Finding, ok bool) {
	switch {
	case rp.Code == 220, rp.Class() == 4 || rp.Class() == 5:
		return report.Finding{}, false
	case rp.Code < 200 || rp.Code > 599:
		f = report.Newf("smtp.banner.invalid", stage, "The greeting's code %03d is not an SMTP reply code (2xx to 5xx, RFC 5321 §4.2): a protocol error, not a refusal.", rp.Code)
	default:
		f = report.Newf("smtp.banner.invalid", stage, "The greeting's code is %03d: a server greets with 220 or refuses with 4xx/5xx (RFC 5321 §3.1, §4.3.2); %03d is not a greeting, so the port does not speak SMTP as it should.", rp.Code, rp.Code)
	}
	return f.With("reply", rp.Excerpt(12), rp.Seq...), true
}
