package replycode

import (
	"encoding/base64"
	"fmt"
	"strings"
	"unicode"
)

// Explanation is everything mailprobe knows about one SMTP reply.
type Explanation struct {
	Code            int    `json:"code"`                       // basic reply code, e.g. 550 (0 if unknown)
	Enhanced        string `json:"enhanced,omitempty"`         // "5.7.26" as given or found in Text
	Text            string `json:"text,omitempty"`             // server text as given
	Class           string `json:"class"`                      // "positive completion", "positive intermediate", "transient negative", "permanent negative", or "invalid"
	Meaning         string `json:"meaning"`                    // meaning of the basic code (RFC 5321 §4.2.2/4.2.3)
	EnhancedSubject string `json:"enhanced_subject,omitempty"` // e.g. "Security or Policy Status" (IANA X.7.XXX)
	EnhancedMeaning string `json:"enhanced_meaning,omitempty"` // IANA title of the exact code, e.g. "Multiple authentication checks failed" for X.7.26
	// EnhancedDescription is IANA's full description of the exact code.
	EnhancedDescription string   `json:"enhanced_description,omitempty"`
	Provider            string   `json:"provider,omitempty"` // "Gmail", "Microsoft 365", ... when a known provider reply matched
	Summary             string   `json:"summary"`            // one line a developer understands: what happened
	Cause               string   `json:"cause,omitempty"`    // likely cause
	Fix                 string   `json:"fix,omitempty"`      // what to do
	Refs                []string `json:"refs,omitempty"`     // "RFC 5321 §4.2.3", "RFC 3463 §3.8", provider doc titles/URLs
	Temporary           bool     `json:"temporary"`          // 4xx: retrying may help
	// Notes lists protocol problems noticed in the reply itself: an enhanced
	// code that is malformed or whose class contradicts the basic code, a
	// code outside 200-599.
	Notes []string `json:"notes,omitempty"`
}

// parsedEnhanced is an enhanced code split into its numbers.
type parsedEnhanced struct {
	ok                     bool
	class, subject, detail int
}

// Explain looks a reply up in the knowledge base. code is the basic reply
// code (0 when only an enhanced code is known); enhanced may be "", in which
// case a leading enhanced code is taken from text (RFC 2034 §4). Explain never
// fails: anything it cannot place gets Class "invalid" and a note.
//
// Precedence, most specific first: a known provider reply (code, enhanced
// code and text), then hand-written advice for the enhanced code, then the
// advice for the basic code (RFC 5321 §4.2.3), then the class of the first
// digit (RFC 5321 §4.2.1). One exception: an enhanced code with detail 0
// ("other or undefined" within its subject) yields to a specific basic code
// such as 530 or 535.
func Explain(code int, enhanced, text string) Explanation {
	ex := Explanation{Code: code, Enhanced: strings.TrimSpace(enhanced), Text: text}
	if ex.Enhanced == "" {
		ex.Enhanced, _ = EnhancedFromText(text)
	}
	var enh parsedEnhanced
	if ex.Enhanced != "" {
		enh.class, enh.subject, enh.detail, enh.ok = ParseEnhanced(ex.Enhanced)
		if !enh.ok {
			ex.Notes = append(ex.Notes, fmt.Sprintf("%q is not a valid enhanced status code (RFC 3463 §2: class.subject.detail, class 2, 4 or 5, up to three digits each, no leading zeros)", ex.Enhanced))
		}
	}

	// The class comes from the basic code; with no basic code, from the
	// enhanced code, whose class digit has the same meaning (RFC 3463 §3).
	classDigit := 0
	switch {
	case code >= 200 && code <= 599:
		classDigit = code / 100
	case code == 0 && enh.ok:
		classDigit = enh.class
	case code != 0:
		ex.Notes = append(ex.Notes, fmt.Sprintf("%d is not an SMTP reply code: RFC 5321 §4.2 codes run from 200 to 599", code))
	}
	ex.Class = classOf(classDigit)
	ex.Temporary = classDigit == 4
	if enh.ok && code != 0 && classDigit != 0 && enh.class != classDigit {
		// RFC 3463 §2 requires the class of the enhanced code to agree with
		// the basic code; a server that breaks this is confused, and the
		// basic code is the one clients act on.
		ex.Notes = append(ex.Notes, fmt.Sprintf("the enhanced code's class %d contradicts the reply code %d (RFC 3463 §2 requires them to agree); the reply code wins", enh.class, code))
	}

	basic, hasBasic := basicCodes[code]
	switch {
	case hasBasic:
		ex.Meaning = basic.Meaning
	case classDigit != 0 && code != 0:
		ex.Meaning = classMeanings[classDigit] + " (the code itself is not defined by RFC 5321)"
	case classDigit != 0:
		ex.Meaning = "No basic reply code given. Class of the enhanced code: " + classMeanings[classDigit]
	default:
		ex.Meaning = "Not an SMTP reply code"
	}

	var refs []string
	var enhAdvice advice
	hasEnhAdvice := false
	if enh.ok {
		reg := loadRegistry()
		if s, ok := reg.subjects[enh.subject]; ok {
			ex.EnhancedSubject = s.Title
			refs = append(refs, subjectSection(enh.subject))
		} else {
			ex.EnhancedSubject = fmt.Sprintf("unregistered subject %d", enh.subject)
		}
		if e, ok := reg.codes[[2]int{enh.subject, enh.detail}]; ok {
			ex.EnhancedMeaning = e.Title
			if ex.EnhancedMeaning == "" {
				ex.EnhancedMeaning = e.Description // X.6.10 has no title, only "deprecated"
			}
			ex.EnhancedDescription = e.Description
			for _, r := range e.Refs {
				// "RFC 3463" alone adds nothing to its section cited above.
				if r != "RFC 3463" {
					refs = append(refs, r)
				}
			}
		} else {
			ex.EnhancedMeaning = fmt.Sprintf("X.%d.%d is not in the IANA registry: a vendor-specific code", enh.subject, enh.detail)
		}
		// Hand-written advice speaks of failures, so it only applies to a
		// failure class that agrees with the reply's.
		if (enh.class == 4 || enh.class == 5) && enh.class == classDigit {
			enhAdvice, hasEnhAdvice = lookupEnhancedAdvice(enh.class, enh.subject, enh.detail)
		}
	}
	if hasBasic {
		refs = append(refs, basic.Refs...)
	}

	var adv advice
	i := matchProvider(classDigit, enh, normalizeText(text, ex.Enhanced))
	switch {
	case i >= 0:
		p := providerTable[i]
		ex.Provider = p.Provider
		adv = advice{Summary: p.Summary, Cause: p.Cause, Fix: p.Fix}
		refs = append(append([]string(nil), p.Refs...), refs...)
	case hasEnhAdvice && hasBasic && enh.detail == 0 && !catchAllCodes[code]:
		// X.Y.0 only names a subject ("other security status"); a specific
		// basic code such as 530 or 535 says more, so it leads here.
		adv = fillAdvice(basic.advice, enhAdvice)
	case hasEnhAdvice:
		adv = enhAdvice
	case hasBasic:
		adv = basic.advice
	}
	// Enhanced advice may leave Cause or Fix to the basic code. A provider
	// entry is complete on its own and is never mixed with generic text:
	// providers reuse registered codes for other things (Yahoo's 5.7.9 is
	// "unauthenticated", not "mechanism too weak").
	if i < 0 && hasBasic {
		adv = fillAdvice(adv, basic.advice)
	}
	if adv.Summary == "" {
		adv.Summary = fallbackSummary(ex)
	}
	if code == 334 {
		adv.Summary += decodeChallenge(text)
	}
	ex.Summary, ex.Cause, ex.Fix = adv.Summary, adv.Cause, adv.Fix
	ex.Refs = dedupe(refs)
	return ex
}

// catchAllCodes are the basic codes servers use for almost any refusal
// (RFC 5321 §4.2.2 lists policy reasons under 450/550 and 554 is "transaction
// failed"): with them, even a subject-only enhanced code says more.
var catchAllCodes = map[int]bool{450: true, 451: true, 550: true, 554: true}

// fillAdvice completes a with the fields of b that a lacks.
func fillAdvice(a, b advice) advice {
	if a.Summary == "" {
		a.Summary = b.Summary
	}
	if a.Cause == "" {
		a.Cause = b.Cause
	}
	if a.Fix == "" {
		a.Fix = b.Fix
	}
	return a
}

// fallbackSummary words a summary from what is known when no advice exists.
func fallbackSummary(ex Explanation) string {
	what := ex.EnhancedMeaning
	if what == "" || strings.HasPrefix(what, "X.") {
		what = ex.Meaning
	}
	switch ex.Class {
	case ClassPositiveCompletion:
		return "The server accepted: " + lowerFirst(what) + "."
	case ClassPositiveIntermediate:
		return "The server accepted and waits for more: " + lowerFirst(what) + "."
	case ClassTransientNegative:
		return "The server temporarily refused (retrying later may work): " + lowerFirst(what) + "."
	case ClassPermanentNegative:
		return "The server permanently refused: " + lowerFirst(what) + "."
	}
	return "This is not a valid SMTP reply: RFC 5321 §4.2 reply codes are three digits from 200 to 599."
}

// decodeChallenge shows what a 334 AUTH challenge says (RFC 4954 §4 sends it
// base64-encoded), when it decodes to short printable text.
func decodeChallenge(text string) string {
	s := strings.TrimSpace(text)
	if s == "" || len(s) > 200 {
		return ""
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return ""
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) {
			return ""
		}
	}
	return fmt.Sprintf(" The challenge decodes to %q.", string(b))
}

// maxMatchText bounds the text matched against provider expressions.
const maxMatchText = 4096

// normalizeText prepares reply text for the provider expressions: white space
// collapsed to single spaces, and the enhanced code removed wherever it
// repeats, because multi-line replies joined into one text repeat it at the
// start of every line ("... sender is 5.7.26 unauthenticated").
//
// Only the first maxMatchText bytes are considered: RFC 5321 §4.5.3.1.5 caps
// a reply line at 512 octets, every known provider text fits well within
// that, and a hostile server's megabyte of "text" must not cost a second of
// regular expression matching for each of the table's entries.
func normalizeText(text, enh string) string {
	if len(text) > maxMatchText {
		text = text[:maxMatchText]
	}
	fields := strings.Fields(text)
	out := fields[:0]
	for _, f := range fields {
		if enh != "" && f == enh {
			continue
		}
		out = append(out, f)
	}
	return strings.Join(out, " ")
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	// Leave acronyms and codes ("SMTP", "<domain>") alone.
	if len(s) > 1 && unicode.IsUpper(rune(s[1])) || !unicode.IsUpper(rune(s[0])) {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func dedupe(refs []string) []string {
	if len(refs) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(refs))
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}
