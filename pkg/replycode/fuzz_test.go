package replycode

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseReplyLine feeds arbitrary server output to the parser. Seeds are
// in testdata/fuzz/FuzzParseReplyLine. The parser must never panic, and what
// it accepts must obey the RFC 5321 §4.2 grammar it claims to enforce.
func FuzzParseReplyLine(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		code, enh, text, ok := ParseReplyLine(s)
		if !ok {
			if code != 0 || enh != "" || text != "" {
				t.Fatalf("ParseReplyLine(%q) failed but returned %d, %q, %q", s, code, enh, text)
			}
			return
		}
		if code < 200 || code > 559 || code/10%10 > 5 {
			t.Fatalf("ParseReplyLine(%q) accepted code %d", s, code)
		}
		if enh != "" {
			if _, _, _, eok := ParseEnhanced(enh); !eok {
				t.Fatalf("ParseReplyLine(%q) returned invalid enhanced code %q", s, enh)
			}
		}
		if strings.ContainsAny(text, "\n") || text != strings.TrimSpace(text) {
			t.Fatalf("ParseReplyLine(%q) returned untrimmed or multi-line text %q", s, text)
		}
		// Whatever parses must explain.
		if ex := Explain(code, enh, text); ex.Class == ClassInvalid || ex.Summary == "" {
			t.Fatalf("Explain(%d, %q, %q) = class %q summary %q", code, enh, text, ex.Class, ex.Summary)
		}
		// A reply rebuilt from the parts parses back to the same parts, as
		// long as the text cannot be mistaken for an enhanced code.
		if enh != "" && !strings.ContainsAny(text, "\r") {
			line := itoa3(code) + " " + enh
			if text != "" {
				line += " " + text
			}
			c2, e2, t2, ok2 := ParseReplyLine(line)
			if !ok2 || c2 != code || e2 != enh || t2 != text {
				t.Fatalf("round trip of %q via %q gave %d, %q, %q, %v", s, line, c2, e2, t2, ok2)
			}
		}
	})
}

// FuzzExplain checks that Explain never panics and always answers with one
// of the five classes, a summary and a meaning, whatever it is given.
// Seeds are in testdata/fuzz/FuzzExplain.
func FuzzExplain(f *testing.F) {
	f.Fuzz(func(t *testing.T, code int, enhanced, text string) {
		ex := Explain(code, enhanced, text)
		if !validClasses[ex.Class] {
			t.Fatalf("Explain(%d, %q, %q).Class = %q", code, enhanced, text, ex.Class)
		}
		if ex.Summary == "" || ex.Meaning == "" {
			t.Fatalf("Explain(%d, %q, %q): empty summary or meaning", code, enhanced, text)
		}
		if ex.Temporary != (ex.Class == ClassTransientNegative) {
			t.Fatalf("Explain(%d, %q, %q): temporary %v with class %q", code, enhanced, text, ex.Temporary, ex.Class)
		}
		if ex.Code != code || ex.Text != text {
			t.Fatalf("Explain(%d, %q, %q) changed the code or text it was given", code, enhanced, text)
		}
		if utf8.ValidString(text) && !utf8.ValidString(ex.Summary) {
			t.Fatalf("Explain(%d, %q, %q): invalid UTF-8 in summary %q", code, enhanced, text, ex.Summary)
		}
	})
}
