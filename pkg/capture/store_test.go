package capture

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

func numbered(i int) string {
	return fmt.Sprintf("From: a@app.example\r\nTo: u@example.org\r\nSubject: Welcome %d\r\nDate: Mon, 1 Dec 2026 10:00:00 +0000\r\nMessage-ID: <%d@app.example>\r\n\r\nHello %d.\r\n", i, i, i)
}

// The cap keeps the newest messages, in the store and the IMAP mailbox,
// and counts what it dropped.
func TestStore_capDropsOldestAndCounts(t *testing.T) {
	s := start(t, Options{MaxMessages: 3})
	for i := 1; i <= 5; i++ {
		if err := send(t, s, "", "", numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	ms := s.Messages()
	if len(ms) != 3 || ms[0].Analysis.Subject != "Welcome 3" || ms[2].Analysis.Subject != "Welcome 5" {
		t.Fatalf("kept %d: %+v", len(ms), ms)
	}
	st := s.Stats()
	if st.Dropped != 2 || st.Received != 5 || st.Messages != 3 || st.MaxMessages != 3 {
		t.Errorf("stats %+v", st)
	}
	if got := fetchAll(t, s, "any", "thing"); len(got) != 3 || !strings.Contains(string(got[0]), "Welcome 3") {
		t.Errorf("IMAP has %d messages", len(got))
	}
	if s.Message(ms[0].ID) == nil || s.Message("NOPE") != nil {
		t.Error("Message lookup by id")
	}
	if n := s.Delete([]string{ms[0].ID, "NOPE"}); n != 1 {
		t.Errorf("deleted %d", n)
	}
	if got := fetchAll(t, s, "any", "thing"); len(got) != 2 {
		t.Errorf("IMAP has %d messages after a delete", len(got))
	}
	if n := s.Delete(nil); n != 2 || len(s.Messages()) != 0 {
		t.Errorf("delete all: %d, left %d", n, len(s.Messages()))
	}
}

// --store: a restarted server serves what the last one stored, under the
// same ids, with envelope and transcript, and numbers on from there.
func TestStore_restartServesStoredMessages(t *testing.T) {
	dir := t.TempDir()
	s1, err := Start(context.Background(), Options{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		if err := send(t, s1, "app", "s3cret-pass", numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	before := s1.Messages()
	s1.Close()

	s2 := start(t, Options{StoreDir: dir, MaxMessages: 5})
	after := s2.Messages()
	if len(after) != 2 {
		t.Fatalf("restored %d messages", len(after))
	}
	for i := range after {
		a, b := after[i], before[i]
		if a.ID != b.ID || a.Seq != b.Seq || a.MailFrom != b.MailFrom || strings.Join(a.Rcpt, ",") != strings.Join(b.Rcpt, ",") || !a.Restored || string(a.Raw) != string(b.Raw) {
			t.Errorf("restored %d: %+v\nwas %+v", i, a, b)
		}
		if len(a.Transcript) == 0 {
			t.Errorf("restored %d has no transcript", i)
		}
	}
	if err := send(t, s2, "", "", numbered(3)); err != nil {
		t.Fatal(err)
	}
	if ms := s2.Messages(); ms[2].Seq != 3 {
		t.Errorf("next seq %d, want 3", ms[2].Seq)
	}
	if got := fetchAll(t, s2, "any", "thing"); len(got) != 3 {
		t.Errorf("IMAP has %d messages after restart", len(got))
	}
	// A deleted message is gone from the directory too.
	s2.Delete([]string{after[0].ID})
	s2.Close()
	s3 := start(t, Options{StoreDir: dir, MaxMessages: 1})
	if ms := s3.Messages(); len(ms) != 1 || ms[0].Seq != 3 {
		t.Errorf("after delete and restart with a cap of 1: %+v", ms)
	}
}

// The transcript shows the dialogue with the AUTH exchange redacted and
// the body summarised; a plaintext session is recorded from the wire.
func TestTranscript_plaintextRedactsAuth(t *testing.T) {
	s := start(t, Options{})
	c, err := smtp.Dial(s.SMTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("app.local"); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "app", "hunter2-secret")); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@app.example", []string{"u@example.org"}, strings.NewReader(numbered(1))); err != nil {
		t.Fatal(err)
	}
	m := s.Messages()[0]
	var b strings.Builder
	for _, l := range m.Transcript {
		fmt.Fprintf(&b, "%s: %s\n", l.Dir, l.Line)
	}
	tr := b.String()
	for _, want := range []string{"*: connect from 127.0.0.1:", "C: EHLO app.local", "C: AUTH PLAIN <redacted>", "S: 235 ", "C: MAIL FROM:<a@app.example>", "C: DATA", "S: 354 ", "*: message body: 7 lines", "C: .", "S: 250 2.0.0 OK: queued as " + m.ID} {
		if !strings.Contains(tr, want) {
			t.Errorf("transcript lacks %q:\n%s", want, tr)
		}
	}
	if strings.Contains(tr, "hunter2") || strings.Contains(tr, "Hello 1") || strings.Contains(tr, "aHVudGVyMi") {
		t.Errorf("transcript leaks the password or repeats the body:\n%s", tr)
	}
}

// Inside TLS the commands are recorded as understood, marked parsed.
func TestTranscript_starttlsIsParsed(t *testing.T) {
	s := start(t, Options{})
	if err := send(t, s, "app", "hunter2-secret", numbered(1)); err != nil {
		t.Fatal(err)
	}
	m := s.Messages()[0]
	var b strings.Builder
	parsed := 0
	for _, l := range m.Transcript {
		fmt.Fprintf(&b, "%s: %s\n", l.Dir, l.Line)
		if l.Parsed {
			parsed++
			if !l.TLS {
				t.Errorf("parsed line outside TLS: %+v", l)
			}
		}
	}
	tr := b.String()
	for _, want := range []string{"C: STARTTLS", "S: 220 ", "*: TLS handshake", "C: AUTH PLAIN <redacted>", "C: MAIL FROM:<no-reply@app.example>", "C: RCPT TO:<user@example.org>", "C: DATA", "S: 250 2.0.0 OK: queued as"} {
		if !strings.Contains(tr, want) {
			t.Errorf("transcript lacks %q:\n%s", want, tr)
		}
	}
	if parsed < 4 || strings.Contains(tr, "hunter2") {
		t.Errorf("%d parsed lines, or a leak:\n%s", parsed, tr)
	}
}

// A message that is not a reset email gets the generic checks, not "no
// reset link"; --expect reset judges it as one.
func TestJudge_resetChecksAreOptIn(t *testing.T) {
	welcome := "From: a@app.example\r\nTo: u@example.org\r\nSubject: Welcome aboard\r\n\r\nSee http://app.example/start and unsubscribe at https://app.example/u.\r\n"
	s := start(t, Options{})
	if err := send(t, s, "", "", welcome); err != nil {
		t.Fatal(err)
	}
	if err := send(t, s, "", "", resetMsg); err != nil {
		t.Fatal(err)
	}
	ms := s.Messages()
	codes := func(m Message) string {
		var c []string
		for _, f := range m.Findings {
			c = append(c, f.Code)
		}
		return strings.Join(c, " ")
	}
	w, r := ms[0], ms[1]
	if w.Kind != KindOther || strings.Contains(codes(w), "reset.") {
		t.Errorf("welcome email judged as %s: %s", w.Kind, codes(w))
	}
	for _, want := range []string{"capture.header.date-missing", "capture.header.message-id-missing", "capture.link.insecure", "capture.unsubscribe.missing"} {
		if !strings.Contains(codes(w), want) {
			t.Errorf("welcome email lacks %s: %s", want, codes(w))
		}
	}
	if r.Kind != KindReset || !strings.Contains(codes(r), "reset.link.https") || !strings.Contains(codes(r), "reset.token.strong") {
		t.Errorf("reset email judged as %s: %s", r.Kind, codes(r))
	}
	if strings.Contains(codes(r), "capture.unsubscribe") || strings.Contains(codes(r), "capture.header.message-id-missing") {
		t.Errorf("reset email: %s", codes(r))
	}

	s2 := start(t, Options{Expect: ExpectReset})
	if err := send(t, s2, "", "", welcome); err != nil {
		t.Fatal(err)
	}
	if m := s2.Messages()[0]; m.Kind != KindReset || !strings.Contains(codes(m), "reset.link.missing") {
		t.Errorf("--expect reset: %s %s", m.Kind, codes(m))
	}
}

// With PIPELINING the replies to MAIL and RCPT come after the client sent
// DATA: the body starts at the 354, whatever came between.
func TestTranscript_pipelinedBodyIsSummarised(t *testing.T) {
	s := start(t, Options{})
	c := dialRaw(t, s.SMTPAddr())
	c.line(t) // greeting
	c.send(t, "EHLO app.local")
	for !strings.HasPrefix(c.line(t), "250 ") {
	}
	c.send(t, "MAIL FROM:<a@app.example>\r\nRCPT TO:<u@example.org>\r\nDATA")
	for _, want := range []string{"250 ", "250 ", "354 "} {
		if l := c.line(t); !strings.HasPrefix(l, want) {
			t.Fatalf("got %q, want %s", l, want)
		}
	}
	c.send(t, "Subject: pipelined\r\n\r\nAUTH PLAIN is just text here\r\n.")
	if l := c.line(t); !strings.HasPrefix(l, "250 ") {
		t.Fatalf("end of data: %q", l)
	}
	var b strings.Builder
	for _, l := range s.Messages()[0].Transcript {
		fmt.Fprintf(&b, "%s: %s\n", l.Dir, l.Line)
	}
	tr := b.String()
	if !strings.Contains(tr, "*: message body: 3 lines") || strings.Contains(tr, "Subject: pipelined") || strings.Contains(tr, "is just text") {
		t.Errorf("pipelined body not summarised:\n%s", tr)
	}
}

// Copies dropped for the cap leave the IMAP mailbox in batches: never more
// than expungeBatch over the cap, and a delete flushes the rest.
func TestStore_imapExpungedInBatches(t *testing.T) {
	s := start(t, Options{MaxMessages: 40}) // batches of 3
	c, err := smtp.Dial(s.SMTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 1; i <= 42; i++ {
		if err := c.SendMail("a@app.example", []string{"u@example.org"}, strings.NewReader(numbered(i))); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(fetchAll(t, s, "any", "thing")); n != 42 {
		t.Errorf("IMAP holds %d with 2 dropped and a batch of %d, want 42", n, expungeBatch(40))
	}
	if err := c.SendMail("a@app.example", []string{"u@example.org"}, strings.NewReader(numbered(43))); err != nil {
		t.Fatal(err)
	}
	if n := len(fetchAll(t, s, "any", "thing")); n != 40 {
		t.Errorf("IMAP holds %d after the batch, want 40", n)
	}
	s.Delete([]string{s.Messages()[0].ID})
	if n, kept := len(fetchAll(t, s, "any", "thing")), len(s.Messages()); n != 39 || kept != 39 {
		t.Errorf("after a delete: IMAP %d, store %d, want 39", n, kept)
	}
}

// What counts as a reset email: the subject or the text, in the wordings
// apps use; other mail with a token link is not one.
func TestJudge_kinds(t *testing.T) {
	s := &Server{o: Options{}}
	for _, c := range []struct{ subject, body, want string }{
		{"Reset your password", "x", KindReset},
		{"Forgot your password?", "x", KindReset},
		{"Your sign-in link", "x", KindReset},
		{"Your verification code", "Code: 7KQ2M9XP", KindReset},
		{"Account help", "Someone asked to reset your password. Open the link.", KindReset},
		{"Welcome aboard", "Confirm at https://app.example/confirm?t=Zm9vYmFyYmF6cXV4cXV1eHF1dXhx", KindOther},
		{"Weekly news", "Unsubscribe: https://app.example/u/Zm9vYmFyYmF6cXV4cXV1eHF1dXhx", KindOther},
		{"Invoice 42", "Your invoice is attached.", KindOther},
	} {
		m := &Message{Raw: []byte("From: a@app.example\r\nSubject: " + c.subject + "\r\n\r\n" + c.body + "\r\n")}
		s.judge(m)
		if m.Kind != c.want {
			t.Errorf("%q / %q: kind %s, want %s", c.subject, c.body, m.Kind, c.want)
		}
	}
}
