package render

import (
	"strings"
	"unicode/utf8"

	"github.com/mattn/go-runewidth"

	"github.com/mailprobe/mailprobe/pkg/termsafe"
)

// cells measures display width. The condition is fixed rather than taken
// from the locale (runewidth's default reads LC_ALL and friends): ambiguous
// characters such as "→" and "§" would otherwise count double under a CJK
// locale and the same report would wrap differently on another machine.
var cells = &runewidth.Condition{EastAsianWidth: false, StrictEmojiNeutral: true}

// textWidth is the number of terminal cells s takes (s holds no escapes:
// wrapping always happens before styling).
func textWidth(s string) int {
	w := 0
	for _, r := range s {
		w += cells.RuneWidth(r)
	}
	return w
}

func padRight(s string, n int) string {
	if w := textWidth(s); w < n {
		return s + strings.Repeat(" ", n-w)
	}
	return s
}

func padLeft(s string, n int) string {
	if w := textWidth(s); w < n {
		return strings.Repeat(" ", n-w) + s
	}
	return s
}

// clean makes a string from an engine safe for a terminal. Details and
// evidence often quote what a server sent, and a hostile server can send
// escape sequences that recolour, retitle or rewrite a terminal, C1
// controls (U+009B is a CSI) or bidi overrides that reorder what is read:
// every one is shown escaped (termsafe, the one escaping function), and
// tabs become spaces because their width depends on the column they land
// in. Newlines are kept: callers split on them into paragraphs.
func clean(s string) string {
	if termsafe.Safe(s) && !strings.ContainsAny(s, "\t") {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		l = strings.TrimSuffix(l, "\r")
		lines[i] = termsafe.Line(strings.ReplaceAll(l, "\t", " "))
	}
	return strings.Join(lines, "\n")
}

// wrapWords breaks s into lines of at most width cells, at spaces where it
// can and mid-word where a word is longer than the line. Newlines in s start
// new lines. Spacing inside a line is kept as is (a server reply is
// evidence, and its spacing can matter); only the space at a break goes.
func wrapWords(s string, width int) []string {
	var out []string
	for _, para := range strings.Split(s, "\n") {
		out = append(out, wrapParagraph(para, width, width)...)
	}
	return out
}

// wrapParagraph wraps one line of text: the first piece at most first
// cells wide, the others at most rest (a hanging indent leaves less room on
// the first line when a label or a suffix shares it, or on the others when
// they are indented further).
func wrapParagraph(s string, first, rest int) []string {
	var out []string
	width := max(first, 1)
	for textWidth(s) > width {
		cut, lastSpace, w := len(s), -1, 0
		for i, r := range s {
			rw := cells.RuneWidth(r)
			if w+rw > width {
				cut = i
				break
			}
			if r == ' ' {
				lastSpace = i
			}
			w += rw
		}
		if s[cut] == ' ' {
			lastSpace = cut // the break falls exactly on a space
		}
		width = max(rest, 1)
		if lastSpace > 0 {
			if head := strings.TrimRight(s[:lastSpace], " "); head != "" {
				out = append(out, head)
				s = strings.TrimLeft(s[lastSpace:], " ")
				continue
			}
		}
		if cut == 0 { // a single rune wider than the line: take it anyway
			_, cut = utf8.DecodeRuneInString(s)
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	return append(out, s)
}

// wrapKeep wraps without dropping any character: used for transcript lines,
// where every byte is data and a swallowed space would misreport what went
// over the wire. It breaks before a space when one is in the second half of
// the piece (the space then starts the next piece, visibly), else mid-word.
func wrapKeep(s string, width int) []string {
	width = max(width, 1)
	var out []string
	for textWidth(s) > width {
		cut, lastSpace, w := 0, -1, 0
		for i, r := range s {
			rw := cells.RuneWidth(r)
			if w+rw > width {
				cut = i
				break
			}
			if r == ' ' && i > 0 {
				lastSpace = i
			}
			w += rw
		}
		if cut == 0 { // a single rune wider than the line
			_, cut = utf8.DecodeRuneInString(s)
		}
		if lastSpace > 0 && lastSpace >= cut/2 {
			cut = lastSpace
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	return append(out, s)
}

// hang writes text after a first-line prefix, wrapped to the writer's
// width, continuation lines indented by the prefix's width (a hanging
// indent). The prefix is already styled; prefixWidth is its display width.
// style colours each wrapped piece.
func (t *textWriter) hang(prefix string, prefixWidth int, text string, style func(string) string) {
	for i, para := range strings.Split(text, "\n") {
		if i > 0 {
			prefix = strings.Repeat(" ", prefixWidth)
		}
		t.hangLine(prefix, prefixWidth, prefixWidth, para, style, "", 0)
	}
}

// hangLine writes one paragraph: continuation lines are indented contWidth
// cells; suffix (styled, suffixWidth cells wide) ends the first line.
func (t *textWriter) hangLine(prefix string, prefixWidth, contWidth int, text string, style func(string) string, suffix string, suffixWidth int) {
	first := max(t.width-prefixWidth-suffixWidth, minText)
	rest := max(t.width-contWidth, minText)
	cont := strings.Repeat(" ", contWidth)
	for i, l := range wrapParagraph(text, first, rest) {
		line := cont + style(l)
		if i == 0 {
			line = prefix + style(l) + suffix
		}
		t.println(strings.TrimRight(line, " "))
	}
}

// minText is the least room left for text after an indent: on a narrow
// terminal a line overflows rather than becoming a column of single words.
const minText = 20
