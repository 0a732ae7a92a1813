package replycode

import (
	"strconv"
	"strings"
)

// ParseEnhanced parses an enhanced status code such as "5.7.26" with the
// strict grammar of RFC 3463 §2:
//
//	status-code = class "." subject "." detail
//	class       = "2" / "4" / "5"
//	subject     = 1*3digit
//	detail      = 1*3digit
//
// RFC 3463 §2 also says each sub-code "MUST be expressed without leading zero
// digits", so "5.07.1" and "5.7.01" are refused while "5.0.0" is fine. No
// white space is allowed anywhere inside the code.
func ParseEnhanced(s string) (class, subject, detail int, ok bool) {
	if len(s) < 5 || len(s) > 9 {
		return 0, 0, 0, false
	}
	switch s[0] {
	case '2', '4', '5':
		class = int(s[0] - '0')
	default:
		return 0, 0, 0, false
	}
	if s[1] != '.' {
		return 0, 0, 0, false
	}
	sub, det, found := strings.Cut(s[2:], ".")
	if !found {
		return 0, 0, 0, false
	}
	if subject, ok = subCode(sub); !ok {
		return 0, 0, 0, false
	}
	if detail, ok = subCode(det); !ok {
		return 0, 0, 0, false
	}
	return class, subject, detail, true
}

// subCode parses 1*3digit without a leading zero (RFC 3463 §2).
func subCode(s string) (int, bool) {
	if len(s) == 0 || len(s) > 3 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// EnhancedFromText splits a leading enhanced status code off reply text:
// "5.7.26 Unauthenticated email" gives ("5.7.26", "Unauthenticated email").
// RFC 2034 §4 puts the code first in the text, followed by a space; a token
// that is not a valid code (by ParseEnhanced) is left in the text, and then
// enh is "" and rest is text unchanged.
func EnhancedFromText(text string) (enh string, rest string) {
	s := strings.TrimLeft(text, " \t")
	end := strings.IndexAny(s, " \t")
	tok := s
	if end >= 0 {
		tok = s[:end]
	}
	if _, _, _, ok := ParseEnhanced(tok); !ok {
		return "", text
	}
	return tok, strings.TrimLeft(s[len(tok):], " \t")
}

// ParseReplyLine parses one SMTP reply as a client sees it: a single line
// ("421 Service not available", "550 5.7.1 ...") or a whole multi-line reply
// ("550-5.7.26 first\n550-5.7.26 second\n550 5.7.26 last"), which is what
// users paste from a bounce or a log.
//
// The code must follow RFC 5321 §4.2 (Reply-code = %x32-35 %x30-35 %x30-39)
// and be followed by a space, a hyphen (continuation, §4.2.1) or the end of
// the line. Every line of a multi-line reply must carry the same code. The
// enhanced code, when the text starts with one, is split off each line (RFC
// 2034 §4 repeats it on every line) and the lines' texts are joined with a
// space. CR before LF is tolerated; blank lines are skipped.
func ParseReplyLine(s string) (code int, enhanced, text string, ok bool) {
	lines := strings.Split(s, "\n")
	var texts []string
	for _, line := range lines {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		c, t, lok := parseOneLine(line)
		if !lok || (code != 0 && c != code) {
			return 0, "", "", false
		}
		first := code == 0
		code = c
		enh, rest := EnhancedFromText(t)
		switch {
		case first:
			// The first line decides whether the reply has an enhanced code.
			enhanced = enh
		case enh == "" || enh != enhanced:
			// A different code on a later line is text, not a new code.
			rest = t
		}
		if rest = strings.TrimSpace(rest); rest != "" {
			texts = append(texts, rest)
		}
	}
	if code == 0 {
		return 0, "", "", false
	}
	return code, enhanced, strings.Join(texts, " "), true
}

// parseOneLine checks the code and separator of one reply line.
func parseOneLine(line string) (code int, text string, ok bool) {
	line = strings.TrimLeft(line, " \t")
	if len(line) < 3 {
		return 0, "", false
	}
	d0, d1, d2 := line[0], line[1], line[2]
	if d0 < '2' || d0 > '5' || d1 < '0' || d1 > '5' || d2 < '0' || d2 > '9' {
		return 0, "", false
	}
	code, _ = strconv.Atoi(line[:3])
	if len(line) == 3 {
		return code, "", true
	}
	if line[3] != ' ' && line[3] != '-' {
		return 0, "", false
	}
	return code, strings.TrimSpace(line[4:]), true
}
