package smtpclient

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type dovecotCases struct {
	Valid []struct {
		Reply     string   `yaml:"reply"`
		Status    int      `yaml:"status"`
		Enhanced  string   `yaml:"enhanced_code"`
		TextLines []string `yaml:"text_lines"`
		EHLO      bool     `yaml:"ehlo"`
	} `yaml:"valid"`
	Invalid []struct {
		Reply   string `yaml:"reply"`
		MaxSize int    `yaml:"max_size"`
		EHLO    bool   `yaml:"ehlo"`
		Note    string `yaml:"note"`
	} `yaml:"invalid"`
}

func loadDovecot(t testing.TB) dovecotCases {
	b, err := os.ReadFile("testdata/dovecot-smtp-reply-parser-cases.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c dovecotCases
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func parseAll(s string) (Reply, error) {
	return ReadReply(NewLineReader(strings.NewReader(s)))
}

// The last reply of the input is the one Dovecot's test checks.
func parseLast(s string) (Reply, error) {
	br := bufio.NewReader(strings.NewReader(s))
	var r Reply
	var err error
	for {
		r, err = ReadReply(NewLineReader(br))
		if err != nil || br.Buffered() == 0 {
			return r, err
		}
	}
}

func TestReadReply_DovecotValid(t *testing.T) {
	c := loadDovecot(t)
	if len(c.Valid) < 5 {
		t.Fatalf("only %d valid cases loaded", len(c.Valid))
	}
	for _, v := range c.Valid {
		r, err := parseLast(v.Reply)
		if err != nil {
			t.Errorf("%q: %v", v.Reply, err)
			continue
		}
		if r.Code != v.Status || len(r.Lines) != len(v.TextLines) {
			t.Errorf("%q: got %d %q", v.Reply, r.Code, r.Lines)
			continue
		}
		if v.Enhanced != "" && r.Enhanced != v.Enhanced {
			t.Errorf("%q: enhanced %q, want %q", v.Reply, r.Enhanced, v.Enhanced)
		}
		// Dovecot's EHLO parser replaces control characters with spaces;
		// ours keeps them and lists a problem instead.
		if !v.EHLO && len(r.Problems) > 0 {
			t.Errorf("%q: unexpected problems %v", v.Reply, r.Problems)
		}
	}
}

func TestReadReply_DovecotInvalid(t *testing.T) {
	for _, v := range loadDovecot(t).Invalid {
		if v.MaxSize > 0 {
			continue // a size limit of 50 bytes is Dovecot's test knob; ours is MaxReplyLine
		}
		r, err := parseLast(v.Reply)
		if err == nil && len(r.Problems) == 0 {
			t.Errorf("%q (%s): accepted without a problem: %+v", v.Reply, v.Note, r)
		}
	}
}

func TestReadReply_MailKitReplies(t *testing.T) {
	files, _ := filepath.Glob("testdata/mailkit/*.txt")
	if len(files) < 20 {
		t.Fatalf("only %d mailkit files", len(files))
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		// MailKit stores LF endings; the wire has CRLF.
		s := strings.ReplaceAll(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n", "\r\n")
		br := bufio.NewReader(strings.NewReader(s))
		for br.Buffered() > 0 || strings.TrimSpace(s) != "" {
			r, err := ReadReply(NewLineReader(br))
			if err != nil {
				t.Errorf("%s: %v", filepath.Base(f), err)
				break
			}
			if r.Code < 200 || r.Code > 599 || len(r.Problems) > 0 {
				t.Errorf("%s: %+v", filepath.Base(f), r)
			}
			if _, err := br.Peek(1); err != nil {
				break
			}
		}
	}
}

func TestReadReply_Limits(t *testing.T) {
	_, err := parseAll(strings.Repeat("A", MaxReplyLine+100) + "\r\n")
	if !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("long line: %v", err)
	}
	_, err = parseAll(strings.Repeat("250-x\r\n", MaxReplyLines+5))
	if !errors.Is(err, ErrTooManyLines) {
		t.Fatalf("endless continuation: %v", err)
	}
	_, err = parseAll("\x16\x03\x01\x02\x00garbage\r\n")
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("garbage: %v", err)
	}
	r, err := parseAll("250 ok\n")
	if err != nil || len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "bare LF") {
		t.Fatalf("bare LF: %+v %v", r, err)
	}
	_, err = parseAll("220 half")
	if err == nil || !strings.Contains(err.Error(), "partial line") {
		t.Fatalf("partial: %v", err)
	}
}

func TestReadReply_EnhancedOnlyWhenClassMatches(t *testing.T) {
	r, _ := parseAll("550 5.7.26 Unauthenticated email\r\n")
	if r.Enhanced != "5.7.26" {
		t.Fatalf("%+v", r)
	}
	r, _ = parseAll("550 2.0.0 odd\r\n")
	if r.Enhanced != "" {
		t.Fatalf("class mismatch accepted: %+v", r)
	}
}

func TestParseEHLO(t *testing.T) {
	r, _ := parseAll("250-mx.example.com Hello\r\n250-SIZE 35882577\r\n250-AUTH LOGIN PLAIN\r\n250-AUTH=LOGIN\r\n250-8BITMIME\r\n250 STARTTLS\r\n")
	c := ParseEHLO(r)
	if c.Domain != "mx.example.com" || !c.Has("starttls") || strings.Join(c.AuthMechanisms(), " ") != "LOGIN PLAIN" {
		t.Fatalf("%+v", c)
	}
	if n, ok := c.Size(); !ok || n != 35882577 {
		t.Fatalf("size %d %v", n, ok)
	}
}

func TestDotStuff(t *testing.T) {
	got := string(DotStuff([]byte(".leading\nmid.dle\r\n..two\rlast")))
	want := "..leading\r\nmid.dle\r\n...two\r\nlast\r\n.\r\n"
	if got != want {
		t.Fatalf("%q", got)
	}
}

func FuzzReadReply(f *testing.F) {
	c := loadDovecot(f)
	for _, v := range c.Valid {
		f.Add([]byte(v.Reply))
	}
	for _, v := range c.Invalid {
		f.Add([]byte(v.Reply))
	}
	f.Add([]byte("250-a\r\n251 b\r\n"))
	f.Add([]byte("250-ok\r\n550 5.7.1 Relay access denied\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		lr := NewLineReader(strings.NewReader(string(b)))
		for i := 0; i < 50; i++ {
			r, err := ReadReply(lr)
			if err != nil {
				return
			}
			if len(r.Lines) == 0 || len(r.Lines) > MaxReplyLines {
				t.Fatalf("lines %d", len(r.Lines))
			}
			// The last line's code is the reply's; the raw lines are
			// what String renders, and a mismatch is flagged.
			if len(r.Raw) != len(r.Lines) || r.String() != strings.Join(r.Raw, "\n") {
				t.Fatalf("raw %q, lines %q", r.Raw, r.Lines)
			}
			last := r.Raw[len(r.Raw)-1]
			if code, _, _, err := parseLine(last); err != nil || code != r.Code {
				t.Fatalf("code %d, last line %q", r.Code, last)
			}
			mismatch := false
			for _, l := range r.Raw {
				if l[:3] != last[:3] {
					mismatch = true
				}
			}
			if mismatch != r.CodeMismatch {
				t.Fatalf("mismatch %v for %q", r.CodeMismatch, r.Raw)
			}
			_ = r.String()
			_ = r.Short()
		}
	})
}

// BenchmarkReadReply parses a typical 10-line EHLO reply.
func BenchmarkReadReply(b *testing.B) {
	raw := "250-mx.example.com Hello [192.0.2.1]\r\n250-SIZE 35882577\r\n250-8BITMIME\r\n250-AUTH LOGIN PLAIN XOAUTH2\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-SMTPUTF8\r\n250-DSN\r\n250 STARTTLS\r\n"
	b.SetBytes(int64(len(raw)))
	for i := 0; i < b.N; i++ {
		r, err := ReadReply(NewLineReader(strings.NewReader(raw)))
		if err != nil || len(r.Lines) != 10 {
			b.Fatal(err)
		}
	}
}

// The last line's code decides a multi-line reply whose codes disagree
// (RFC 5321 §4.2.1), and the reply still renders what the server sent.
func TestReadReply_codeMismatchLastLineDecides(t *testing.T) {
	r, err := parseAll("250-ok\r\n550 5.7.1 Relay access denied\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != 550 || r.Enhanced != "5.7.1" || !r.CodeMismatch || r.Positive() {
		t.Fatalf("%+v", r)
	}
	if got := r.String(); got != "250-ok\n550 5.7.1 Relay access denied" {
		t.Fatalf("String %q", got)
	}
	if got := r.Short(); !strings.HasPrefix(got, "550 5.7.1 Relay access denied (after \"250-ok\"") {
		t.Fatalf("Short %q", got)
	}
	if f, ok := MismatchFinding("rcpt", r); !ok || f.Code != "smtp.reply.code-mismatch" || f.Evidence[0].Text != r.String() {
		t.Fatalf("finding %+v", f)
	}
	r, _ = parseAll("250-a\r\n250 b\r\n")
	if r.CodeMismatch {
		t.Fatal("matching codes flagged")
	}
	if _, ok := MismatchFinding("x", r); ok {
		t.Fatal("finding without a mismatch")
	}
}

// A SASL step is never named as a verb: its text is a credential.
func TestVerbOf(t *testing.T) {
	for line, want := range map[string]string{"EHLO x": "EHLO", "mail FROM:<a@b>": "MAIL", "MAIL FROM:<>": "MAIL", "RCPT TO:<a@b>": "RCPT", "DATA": "DATA", "*": "", "": "",
		"WnE5LVNlLWNyM3QtUHc=": "", "AHVzZXIAWnE5LVNlLWNyM3QtUHc=": ""} {
		if got := verbOf(line); got != want {
			t.Errorf("verbOf(%q) = %q, want %q", line, got, want)
		}
	}
}
