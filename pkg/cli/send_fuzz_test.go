package cli

import (
	"bytes"
	"testing"
)

// editHeaders parses whatever --eml holds: never a panic, and the body
// after the header block is kept byte for byte.
func FuzzEditHeaders(f *testing.F) {
	f.Add([]byte("Subject: a\r\nX: b\r\n  folded\r\n\r\nbody\r\n"), "Subject: new", "X-Add: 1")
	f.Add([]byte("no header block at all"), "A: b", "")
	f.Add([]byte("A: 1\n\nlf body\n"), "a: 2", "B: 3")
	f.Add([]byte(""), "Bad header", "")
	f.Fuzz(func(t *testing.T, msg []byte, replace, add string) {
		var rep, ad []string
		if replace != "" {
			rep = []string{replace}
		}
		if add != "" {
			ad = []string{add}
		}
		out, err := editHeaders(msg, rep, ad)
		if err != nil {
			return
		}
		if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 && bytes.Index(msg, []byte("\n\n")) > i+1 && !bytes.HasSuffix(out, msg[i+4:]) {
			t.Fatalf("body changed: %q → %q", msg, out)
		}
	})
}
