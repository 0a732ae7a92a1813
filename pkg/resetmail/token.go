package resetmail

import (
	"bytes"
	"io"
	"strings"

	"github.com/emersion/go-message"
)

// tokenIntact decodes every text part of raw (transfer encodings undone)
// and reports whether token appears whole in all of them. A token split by
// a quoted-printable soft line break is whole after decoding; one changed
// by a link rewriter or a broken re-encoder is not.
func tokenIntact(raw []byte, token string) (bool, string) {
	parts := decodedTextParts(raw)
	if len(parts) == 0 {
		return false, ""
	}
	var where []string
	for _, p := range parts {
		if !strings.Contains(p.body, token) {
			return false, ""
		}
		where = append(where, p.kind)
	}
	return true, strings.Join(where, " and ")
}

type textPart struct {
	kind string // "text part", "HTML part"
	body string
}

// decodedTextParts walks the MIME tree. Unknown charsets and malformed
// parts are skipped rather than failing: the point is to find the token.
func decodedTextParts(raw []byte) []textPart {
	e, err := message.Read(bytes.NewReader(raw))
	if e == nil || (err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err)) {
		return nil
	}
	var out []textPart
	var walk func(e *message.Entity, depth int)
	walk = func(e *message.Entity, depth int) {
		if depth > 10 {
			return
		}
		if mr := e.MultipartReader(); mr != nil {
			for {
				p, err := mr.NextPart()
				if err == io.EOF || (err != nil && p == nil) {
					return
				}
				walk(p, depth+1)
			}
		}
		t, _, _ := e.Header.ContentType()
		switch t {
		case "text/plain", "":
			b, _ := io.ReadAll(io.LimitReader(e.Body, 10<<20))
			out = append(out, textPart{"text part", string(b)})
		case "text/html":
			b, _ := io.ReadAll(io.LimitReader(e.Body, 10<<20))
			// HTML escapes & as &amp; in href attributes; undo the one
			// escape a URL token can contain.
			out = append(out, textPart{"HTML part", strings.ReplaceAll(string(b), "&amp;", "&")})
		}
	}
	walk(e, 0)
	return out
}
