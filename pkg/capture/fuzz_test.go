package capture

import (
	"strings"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// The parsers fed by strangers: the MIME walk behind the API and the web
// view, the server-side transcript recorder, and the search syntax. None
// may panic, hang or keep more than its bounds.

func FuzzParseParts(f *testing.F) {
	f.Add([]byte(resetMsg))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--x\r\nContent-Disposition: attachment; filename=\"=?utf-8?q?a=C3=A9.pdf?=\"\r\n\r\nAAAA\r\n--x--\r\n"))
	f.Add([]byte("Content-Type: multipart/alternative; boundary=\"\"\r\n\r\n--\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p := parseParts(raw)
		if len(p.attachments) > maxParts {
			t.Fatalf("%d attachments over the bound", len(p.attachments))
		}
		_ = p.htmlText()
		m := &Message{Raw: raw, Size: len(raw)}
		(&Server{o: Options{}}).judge(m)
		_ = detail(m)
	})
}

func FuzzSessionLog(f *testing.F) {
	f.Add([]byte("EHLO x\r\nAUTH PLAIN AGFwcABodW50ZXIy\r\nMAIL FROM:<a@b>\r\nDATA\r\n"), []byte("220 hi\r\n250 ok\r\n235 ok\r\n250 ok\r\n354 go\r\n"))
	f.Add([]byte("AUTH LOGIN\r\ndXNlcg==\r\ncGFzc3dvcmQ=\r\n"), []byte("334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 ok\r\n"))
	f.Add([]byte("BDAT 5 LAST\r\nAUTH \r\nQUIT\r\n"), []byte("250 ok\r\n"))
	f.Fuzz(func(t *testing.T, in, out []byte) {
		l := newSessionLog(time.Now, "127.0.0.1:1")
		// Interleave the two directions in chunks, as reads and writes do.
		for i := 0; i < len(in) || i < len(out); i += 7 {
			if i < len(in) {
				l.feedIn(in[i:min(i+7, len(in))])
			}
			if i < len(out) {
				l.feedOut(out[i:min(i+7, len(out))])
			}
		}
		lines := l.snapshot()
		if len(lines) > maxTranscriptLines+1 {
			t.Fatalf("%d lines over the bound", len(lines))
		}
		for _, x := range lines {
			if len(x.Line) > 4*maxTranscriptLine+16 {
				t.Fatalf("line of %d bytes", len(x.Line))
			}
			// An AUTH line never shows more than its mechanism.
			if w := strings.Fields(x.Line); x.Dir == "C" && len(w) > 2 && strings.EqualFold(w[0], "AUTH") && w[2] != transcript.Redacted {
				t.Fatalf("AUTH initial response recorded: %q", x.Line)
			}
		}
	})
}

func FuzzMergeQuery(f *testing.F) {
	f.Add(`to:alice@example.org subject:"reset your" words from:x is:unread`)
	f.Add(`"unterminated to:`)
	f.Fuzz(func(t *testing.T, q string) {
		fl := mergeQuery(filter{}, q)
		_ = fl.match(&Message{})
	})
}
