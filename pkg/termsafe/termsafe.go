// Package termsafe is the one escaping function for text that came from a
// server, a message or the user and is about to be printed where a
// terminal will interpret it.
//
// A server's reply, a header, a DNS TXT record or a pasted argument can
// carry ESC sequences (CSI, OSC 8 links, title changes), BEL, C1 controls
// such as U+009B (an 8-bit CSI) or Unicode bidirectional overrides that
// reorder what the reader sees. Printed raw they can recolour, hide or
// rewrite the report; escaped they become visible evidence. Every such
// string passes through String (multi-line text) or Line (one line) before
// it reaches the terminal, whatever the output format's own styling adds
// afterwards.
package termsafe

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// String returns s with every character a terminal would act on replaced by
// a visible escape: C0 controls other than tab and newline (\x1b, \a, \r …),
// DEL, C1 controls (U+0080–U+009F, as \u009b), the bidirectional embedding,
// override and isolate characters, and bytes that are not UTF-8 (\xff).
// Text with none of them is returned as it is, without allocating.
func String(s string) string { return escape(s, false) }

// Line is String for text that must stay on one line: newlines are escaped
// too (\n), so a hostile value cannot start a line of its own that looks
// like a finding or a transcript entry.
func Line(s string) string { return escape(s, true) }

// Safe reports whether s would be printed as it is by String.
func Safe(s string) bool { return firstUnsafe(s, false) < 0 }

func escape(s string, oneLine bool) string {
	i := firstUnsafe(s, oneLine)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unsafeRune(r, oneLine):
			writeEscape(&b, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func writeEscape(b *strings.Builder, r rune) {
	switch r {
	case '\n':
		b.WriteString(`\n`)
	case '\r':
		b.WriteString(`\r`)
	case '\t':
		b.WriteString(`\t`)
	case 0x1b:
		b.WriteString(`\e`)
	default:
		if r < 0x80 {
			fmt.Fprintf(b, `\x%02x`, r)
		} else {
			fmt.Fprintf(b, `\u%04x`, r)
		}
	}
}

// firstUnsafe is the byte offset of the first character String would
// change, or -1.
func firstUnsafe(s string, oneLine bool) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if unsafeRune(rune(c), oneLine) {
				return i
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size <= 1) || unsafeRune(r, oneLine) {
			return i
		}
		i += size
	}
	return -1
}

func unsafeRune(r rune, oneLine bool) bool {
	switch {
	case r == '\n':
		return oneLine
	case r == '\t':
		return false
	case r < 0x20, r == 0x7f:
		return true
	case r >= 0x80 && r <= 0x9f: // C1: U+009B is an 8-bit CSI
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f: // ALM, LRM, RLM
		return true
	case r >= 0x202a && r <= 0x202e: // LRE, RLE, PDF, LRO, RLO
		return true
	case r >= 0x2066 && r <= 0x2069: // LRI, RLI, FSI, PDI
		return true
	}
	return false
}
