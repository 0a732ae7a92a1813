package replycode

import "testing"

// TestParseEnhanced pins the RFC 3463 §2 grammar: Explain relies on it to
// decide whether a leading token of the text is a status code or words.
func TestParseEnhanced(t *testing.T) {
	tests := []struct {
		in                     string
		class, subject, detail int
		ok                     bool
	}{
		{"5.7.26", 5, 7, 26, true},
		{"2.0.0", 2, 0, 0, true},
		{"4.2.1", 4, 2, 1, true},
		{"5.7.139", 5, 7, 139, true}, // Microsoft's private detail codes are valid syntax
		{"5.999.999", 5, 999, 999, true},
		{"4.10.0", 4, 10, 0, true},
		// Malformed: RFC 3463 §2 allows classes 2, 4 and 5 only.
		{"3.0.0", 0, 0, 0, false},
		{"1.1.1", 0, 0, 0, false},
		{"6.0.0", 0, 0, 0, false},
		// Leading zeros are forbidden ("MUST be expressed without leading zero digits").
		{"5.07.1", 0, 0, 0, false},
		{"5.7.01", 0, 0, 0, false},
		{"5.00.0", 0, 0, 0, false},
		// 1*3digit: at least one, at most three digits.
		{"5.1000.0", 0, 0, 0, false},
		{"5.7.1000", 0, 0, 0, false},
		{"5..1", 0, 0, 0, false},
		{"5.7.", 0, 0, 0, false},
		{"5.7", 0, 0, 0, false},
		{"5.7.1.2", 0, 0, 0, false},
		{"55.7.1", 0, 0, 0, false},
		// No white space, signs or other characters inside the code.
		{" 5.7.1", 0, 0, 0, false},
		{"5.7.1 ", 0, 0, 0, false},
		{"5. 7.1", 0, 0, 0, false},
		{"5.+7.1", 0, 0, 0, false},
		{"5.-7.1", 0, 0, 0, false},
		{"5.7.1a", 0, 0, 0, false},
		{"X.7.1", 0, 0, 0, false},
		{"#5.1.1", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	}
	for _, tt := range tests {
		c, s, d, ok := ParseEnhanced(tt.in)
		if c != tt.class || s != tt.subject || d != tt.detail || ok != tt.ok {
			t.Errorf("ParseEnhanced(%q) = %d, %d, %d, %v; want %d, %d, %d, %v", tt.in, c, s, d, ok, tt.class, tt.subject, tt.detail, tt.ok)
		}
	}
}

// TestEnhancedFromText covers RFC 2034 §4: the enhanced code is the first
// token of the text, followed by white space; anything else stays text.
func TestEnhancedFromText(t *testing.T) {
	tests := []struct{ in, enh, rest string }{
		{"5.7.26 Unauthenticated email", "5.7.26", "Unauthenticated email"},
		{"  2.1.5  recipient ok", "2.1.5", "recipient ok"},
		{"4.7.0\tTry later", "4.7.0", "Try later"},
		{"5.1.1", "5.1.1", ""},
		{"Service not available", "", "Service not available"},
		{"5.7.1: not a code token", "", "5.7.1: not a code token"},
		{"5.07.1 leading zero", "", "5.07.1 leading zero"},
		{"550 5.7.1 a reply line is not text", "", "550 5.7.1 a reply line is not text"},
		{"", "", ""},
	}
	for _, tt := range tests {
		enh, rest := EnhancedFromText(tt.in)
		if enh != tt.enh || rest != tt.rest {
			t.Errorf("EnhancedFromText(%q) = %q, %q; want %q, %q", tt.in, enh, rest, tt.enh, tt.rest)
		}
	}
}

// TestParseReplyLine covers what users paste into mailprobe explain: one
// line, a whole multi-line reply from a bounce, with CRLF or LF, and the
// malformed inputs that must not be mistaken for replies (the CLI then
// reports a usage error instead of explaining garbage).
func TestParseReplyLine(t *testing.T) {
	tests := []struct {
		name, in string
		code     int
		enh      string
		text     string
		ok       bool
	}{
		{"plain", "421 Service not available", 421, "", "Service not available", true},
		{"enhanced", "550 5.7.1 Relaying denied", 550, "5.7.1", "Relaying denied", true},
		{"continuation line alone", "550-5.7.26 Unauthenticated email", 550, "5.7.26", "Unauthenticated email", true},
		{"code only", "250", 250, "", "", true},
		{"code and space", "250 ", 250, "", "", true},
		{"code and enhanced only", "550 5.7.26", 550, "5.7.26", "", true},
		{"CRLF", "220 mx.example.com ESMTP\r\n", 220, "", "mx.example.com ESMTP", true},
		{"leading blanks tolerated", "  550 5.1.1 no such user", 550, "5.1.1", "no such user", true},
		{
			"multi-line Gmail reply, enhanced code repeated on each line",
			"550-5.7.26 This mail has been blocked because the sender is\r\n550-5.7.26 unauthenticated. Gmail requires all senders to authenticate with\r\n550 5.7.26 either SPF or DKIM. - gsmtp\r\n",
			550, "5.7.26",
			"This mail has been blocked because the sender is unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM. - gsmtp",
			true,
		},
		// Exim sends no enhanced codes by default: the lines are joined as is.
		{
			"multi-line Exim reply without enhanced codes",
			"550-Verification failed for <a@b.example>\n550-Unrouteable address\n550 Sender verify failed",
			550, "", "Verification failed for <a@b.example> Unrouteable address Sender verify failed", true,
		},
		{
			"later line with a different code keeps it as text",
			"550-5.7.1 first\n550 5.7.2 second",
			550, "5.7.1", "first 5.7.2 second", true,
		},
		{"blank lines skipped", "\n250-first\n\n250 last\n", 250, "", "first last", true},
		// Malformed: RFC 5321 §4.2 Reply-code = %x32-35 %x30-35 %x30-39.
		{"first digit 1", "199 preliminary", 0, "", "", false},
		{"first digit 6", "600 nope", 0, "", "", false},
		{"second digit 6", "260 nope", 0, "", "", false},
		{"two digits", "55 short", 0, "", "", false},
		{"four digits", "5500 long", 0, "", "", false},
		{"letters", "abc def", 0, "", "", false},
		{"no separator", "550x text", 0, "", "", false},
		{"tab separator", "550\ttext", 0, "", "", false},
		{"enhanced code alone", "5.7.26", 0, "", "", false},
		{"empty", "", 0, "", "", false},
		{"only blank lines", "\r\n\r\n", 0, "", "", false},
		{"codes differ between lines", "250-first\n550 last", 0, "", "", false},
		{"garbage second line", "250-first\nhello", 0, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, enh, text, ok := ParseReplyLine(tt.in)
			if code != tt.code || enh != tt.enh || text != tt.text || ok != tt.ok {
				t.Errorf("ParseReplyLine(%q) = %d, %q, %q, %v; want %d, %q, %q, %v", tt.in, code, enh, text, ok, tt.code, tt.enh, tt.text, tt.ok)
			}
		})
	}
}
