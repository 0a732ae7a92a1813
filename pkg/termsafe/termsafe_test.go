package termsafe

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	cases := []struct{ in, want string }{
		{"250 mail.example.com ESMTP", "250 mail.example.com ESMTP"},
		{"line one\nline two\tcol", "line one\nline two\tcol"},
		{"550 \x1b[31mred\x1b[0m", `550 \e[31mred\e[0m`},
		{"\x1b]8;;http://evil/\x07click\x1b]8;;\x07", `\e]8;;http://evil/\x07click\e]8;;\x07`},
		{"a\u009b31mb", `a\u009b31mb`},
		{"user\u202etxt.exe", `user\u202etxt.exe`},
		{"iso\u2066x\u2069", `iso\u2066x\u2069`},
		{"cr\rover", `cr\rover`},
		{"del\x7f", `del\x7f`},
		{"bad\xffutf8", `bad\xffutf8`},
		{"héllo wörld ✓", "héllo wörld ✓"},
	}
	for _, c := range cases {
		if got := String(c.in); got != c.want {
			t.Errorf("String(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestLine(t *testing.T) {
	if got, want := Line("a\nFAIL  fake"), `a\nFAIL  fake`; got != want {
		t.Errorf("Line = %q, want %q", got, want)
	}
	if got := String("a\nb"); got != "a\nb" {
		t.Errorf("String kept newline? %q", got)
	}
}

func TestSafeNoAlloc(t *testing.T) {
	s := "250-PIPELINING"
	if !Safe(s) || Safe("x\x1b") {
		t.Fatal("Safe wrong")
	}
	if n := testing.AllocsPerRun(100, func() { _ = String(s) }); n != 0 {
		t.Errorf("String allocated %v times on safe text", n)
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{"", "a\x1b[1m", "\u009b", "\u202e", "\xff\xfe", "ok\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := String(s)
		if !utf8.ValidString(out) {
			t.Fatalf("output not UTF-8: %q", out)
		}
		if firstUnsafe(out, false) >= 0 {
			t.Fatalf("output still unsafe: %q", out)
		}
		line := Line(s)
		if strings.ContainsAny(line, "\n\r\x1b") {
			t.Fatalf("Line left a control: %q", line)
		}
	})
}
