package capture

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"strconv"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode the charsets apps send (ISO-8859-x, Windows-125x)
	"github.com/emersion/go-message/textproto"

	"github.com/mailprobe/mailprobe/internal/lazyre"
)

// Header is one header field, in the order of the message.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Attachment is a part that is not the text or HTML body.
type Attachment struct {
	Part        string `json:"part"` // 1.2: its place in the MIME tree
	Filename    string `json:"filename,omitempty"`
	ContentType string `json:"content_type"`
	ContentID   string `json:"content_id,omitempty"`
	Inline      bool   `json:"inline"`
	Size        int    `json:"size"`
}

// parts is what a message shows its reader: the first text and HTML
// bodies (transfer encodings and charsets undone), the header, and the
// other parts.
type parts struct {
	headers     []Header
	text, html  string
	htmlSize    int
	attachments []Attachment
}

// Bounds of the parse: a message is at most --max-size, but a hostile
// one must not make the view expand it without end.
const (
	maxPartBytes = 8 << 20
	maxParts     = 200
	maxDepth     = 10
)

// parseParts never fails: what it cannot read it leaves out.
func parseParts(raw []byte) parts {
	var p parts
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := textproto.ReadHeader(br)
	if err == nil || h.Len() > 0 {
		fs := h.Fields()
		for fs.Next() {
			v := fs.Value()
			if d, derr := new(mime.WordDecoder).DecodeHeader(v); derr == nil {
				v = d
			}
			p.headers = append(p.headers, Header{Name: fs.Key(), Value: v})
		}
	}
	e, err := message.Read(bytes.NewReader(raw))
	if e == nil || (err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err)) {
		return p
	}
	n := 0
	var walk func(e *message.Entity, path string, depth int)
	walk = func(e *message.Entity, path string, depth int) {
		if depth > maxDepth || n >= maxParts {
			return
		}
		n++
		if mr := e.MultipartReader(); mr != nil {
			for i := 1; ; i++ {
				part, err := mr.NextPart()
				if err == io.EOF || (err != nil && part == nil) {
					return
				}
				sub := path + "." + strconv.Itoa(i)
				if path == "" {
					sub = strconv.Itoa(i)
				}
				walk(part, sub, depth+1)
			}
		}
		t, params, _ := e.Header.ContentType()
		disp, dparams, _ := e.Header.ContentDisposition()
		name := dparams["filename"]
		if name == "" {
			name = params["name"]
		}
		if name != "" {
			if d, err := new(mime.WordDecoder).DecodeHeader(name); err == nil {
				name = d
			}
		}
		body, _ := io.ReadAll(io.LimitReader(e.Body, maxPartBytes))
		isAttachment := disp == "attachment" || name != ""
		switch {
		case !isAttachment && (t == "text/plain" || t == "") && p.text == "":
			p.text = string(body)
		case !isAttachment && t == "text/html" && p.html == "":
			p.html = string(body)
			p.htmlSize = len(body)
		case t != "" && !strings.HasPrefix(t, "multipart/"):
			if path == "" {
				path = "1"
			}
			p.attachments = append(p.attachments, Attachment{Part: path, Filename: name, ContentType: t,
				ContentID: strings.Trim(e.Header.Get("Content-Id"), "<> "), Inline: disp == "inline" || (disp == "" && e.Header.Get("Content-Id") != ""), Size: len(body)})
		}
	}
	walk(e, "", 0)
	return p
}

var (
	tagRe    = lazyre.New(`(?s)<(script|style|head)\b.*?</(script|style|head)>|<[^>]*>`)
	spacesRe = lazyre.New(`[ \t\r\n]+`)
)

// htmlText is the HTML part's text, roughly: for search and for telling
// what the message is about, not for display.
func (p parts) htmlText() string {
	if p.html == "" {
		return ""
	}
	s := tagRe.ReplaceAllString(clip(p.html, textLimit), " ")
	return spacesRe.ReplaceAllString(s, " ")
}
