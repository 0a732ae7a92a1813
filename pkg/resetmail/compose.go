// Package resetmail is mailprobe's main job: compose a realistic
// password-reset email, send it through an SMTP server stage by stage,
// find it in the recipient's mailbox over IMAP, and judge what arrived
// against what was sent (link intact, authentication results, folder).
package resetmail

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"fmt"
	htmltemplate "html/template"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
	"time"
)

//go:embed templates/*.tmpl
var defaultTemplates embed.FS

// ComposeOptions describe the email to build.
type ComposeOptions struct {
	From    string // "App <no-reply@app.example>"
	To      string
	ReplyTo string
	AppName string // default "Example App"
	// LinkBase is the reset URL the token is appended to, e.g.
	// "https://app.example/reset?token=". Ignored with Code.
	LinkBase string
	Code     bool          // send an 8-character recovery code instead of a link
	Expiry   time.Duration // stated in the email; default 30 minutes
	// TemplateDir holds subject.tmpl, text.tmpl and html.tmpl to use
	// instead of the built-in ones (Go templates; see docs/reset.md).
	TemplateDir string
	Now         func() time.Time
	Rand        io.Reader // default crypto/rand
	// Sign, when set, returns the message with a DKIM-Signature added.
	Sign func(msg []byte) ([]byte, error)
}

// Composed is the built message and what identifies it.
type Composed struct {
	Data      []byte
	MessageID string // without angle brackets
	Token     string // the random token in the link, or the code
	Link      string // the full reset link ("" with Code)
	Code      string
	Subject   string
	From, To  string
}

// codeAlphabet has no 0/O, 1/I/L: a code read off a phone must not be
// ambiguous. 32 symbols, so 8 characters carry 40 bits.
const codeAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

type tmplData struct {
	AppName, To, Link, Code, ExpiryText string
}

// Compose builds the message.
func Compose(o ComposeOptions) (*Composed, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.AppName == "" {
		o.AppName = "Example App"
	}
	if o.Expiry <= 0 {
		o.Expiry = 30 * time.Minute
	}
	from, err := mail.ParseAddress(o.From)
	if err != nil {
		return nil, fmt.Errorf("--from %q: %v", o.From, err)
	}
	to, err := mail.ParseAddress(o.To)
	if err != nil {
		return nil, fmt.Errorf("--to %q: %v", o.To, err)
	}
	c := &Composed{From: from.Address, To: to.Address}
	if o.Code {
		b := make([]byte, 8)
		if _, err := io.ReadFull(o.Rand, b); err != nil {
			return nil, err
		}
		for i := range b {
			b[i] = codeAlphabet[int(b[i])%len(codeAlphabet)]
		}
		c.Code, c.Token = string(b), string(b)
	} else {
		if o.LinkBase == "" {
			o.LinkBase = "https://app.example/reset?token="
		}
		// 32 random bytes: 256 bits, well beyond OWASP's 128-bit floor for
		// reset tokens, URL-safe without escaping.
		b := make([]byte, 32)
		if _, err := io.ReadFull(o.Rand, b); err != nil {
			return nil, err
		}
		c.Token = base64.RawURLEncoding.EncodeToString(b)
		c.Link = o.LinkBase + c.Token
	}
	idb := make([]byte, 12)
	if _, err := io.ReadFull(o.Rand, idb); err != nil {
		return nil, err
	}
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	c.MessageID = fmt.Sprintf("reset.%s.%d@%s", base64.RawURLEncoding.EncodeToString(idb), o.Now().Unix(), domain)

	data := tmplData{AppName: o.AppName, To: to.Address, Link: c.Link, Code: c.Code, ExpiryText: humanDuration(o.Expiry)}
	subject, text, html, err := render(o.TemplateDir, data)
	if err != nil {
		return nil, err
	}
	c.Subject = subject

	var buf bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&buf, "%s: %s\r\n", k, v) }
	h("Date", o.Now().Format(time.RFC1123Z))
	h("From", from.String())
	h("To", to.String())
	if o.ReplyTo != "" {
		h("Reply-To", o.ReplyTo)
	}
	h("Subject", mime.QEncoding.Encode("utf-8", subject))
	h("Message-ID", "<"+c.MessageID+">")
	h("MIME-Version", "1.0")
	// Auto-Submitted (RFC 3834) keeps vacation responders from answering
	// a transactional email.
	h("Auto-Submitted", "auto-generated")
	mw := multipart.NewWriter(&buf)
	h("Content-Type", `multipart/alternative; boundary="`+mw.Boundary()+`"`)
	buf.WriteString("\r\n")
	for _, part := range []struct{ ctype, body string }{{"text/plain; charset=utf-8", text}, {"text/html; charset=utf-8", html}} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(pw)
		if _, err := qp.Write([]byte(crlf(part.body))); err != nil {
			return nil, err
		}
		qp.Close()
	}
	mw.Close()
	c.Data = buf.Bytes()
	if o.Sign != nil {
		if c.Data, err = o.Sign(c.Data); err != nil {
			return nil, fmt.Errorf("DKIM signing: %w", err)
		}
	}
	return c, nil
}

func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

// render executes the three templates: HTML with html/template so the
// link and address are escaped correctly.
func render(dir string, d tmplData) (subject, text, html string, err error) {
	read := func(name string) (string, error) {
		if dir != "" {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err == nil {
				return string(b), nil
			}
			if !os.IsNotExist(err) {
				return "", err
			}
		}
		b, err := defaultTemplates.ReadFile("templates/" + name)
		return string(b), err
	}
	exec := func(name string, html bool) (string, error) {
		src, err := read(name)
		if err != nil {
			return "", err
		}
		var out bytes.Buffer
		if html {
			t, err := htmltemplate.New(name).Parse(src)
			if err != nil {
				return "", fmt.Errorf("template %s: %w", name, err)
			}
			err = t.Execute(&out, d)
			return out.String(), err
		}
		t, err := texttemplate.New(name).Parse(src)
		if err != nil {
			return "", fmt.Errorf("template %s: %w", name, err)
		}
		err = t.Execute(&out, d)
		return out.String(), err
	}
	if subject, err = exec("subject.tmpl", false); err != nil {
		return
	}
	subject = strings.TrimSpace(subject)
	if text, err = exec("text.tmpl", false); err != nil {
		return
	}
	html, err = exec("html.tmpl", true)
	return
}

func humanDuration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return plural(int(d/(24*time.Hour)), "day")
	case d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return plural(int(d/time.Minute), "minute")
	}
	return d.String()
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
