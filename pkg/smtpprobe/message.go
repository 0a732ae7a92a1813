package smtpprobe

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"path/filepath"
	"strings"
	"time"
)

// Attachment is a file to attach to a composed message.
type Attachment struct {
	Name        string
	ContentType string // "" = from the file extension, else application/octet-stream
	Data        []byte
}

// SimpleMessage is what `smtp send` composes when not given a raw .eml.
type SimpleMessage struct {
	From        string
	To          []string
	Subject     string
	Body        string
	Headers     []string // "Name: value" lines, added as given
	Attachments []Attachment
	Date        time.Time
	HeloDomain  string // for the Message-ID when From has no domain
	MessageID   string // "<id@domain>"; "" = a random one
}

// Compose builds an RFC 5322 message: a text/plain body (quoted-printable
// when it needs to be), or multipart/mixed with attachments in base64.
func Compose(m SimpleMessage) ([]byte, error) {
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return nil, fmt.Errorf("--from %q: %v", m.From, err)
	}
	var to []string
	for _, t := range m.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return nil, fmt.Errorf("--to %q: %v", t, err)
		}
		to = append(to, a.String())
	}
	if m.Date.IsZero() {
		m.Date = time.Now()
	}
	idb := make([]byte, 12)
	_, _ = rand.Read(idb)
	domain := m.HeloDomain
	if i := strings.LastIndexByte(from.Address, '@'); i >= 0 {
		domain = from.Address[i+1:]
	}
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("Date", m.Date.Format(time.RFC1123Z))
	h("From", from.String())
	h("To", strings.Join(to, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	if m.MessageID == "" {
		m.MessageID = fmt.Sprintf("<%s@%s>", base64.RawURLEncoding.EncodeToString(idb), domain)
	}
	h("Message-ID", m.MessageID)
	h("MIME-Version", "1.0")
	for _, line := range m.Headers {
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) == "" || strings.ContainsAny(k, " \t\r\n") || strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("--header %q: want \"Name: value\" on one line", line)
		}
		h(textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k)), strings.TrimSpace(v))
	}
	body := strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n")
	if len(m.Attachments) == 0 {
		h("Content-Type", "text/plain; charset=utf-8")
		writeTextBody(&b, h, body)
		return b.Bytes(), nil
	}
	mw := multipart.NewWriter(&b)
	h("Content-Type", `multipart/mixed; boundary="`+mw.Boundary()+`"`)
	b.WriteString("\r\n")
	pw, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"text/plain; charset=utf-8"}, "Content-Transfer-Encoding": {"quoted-printable"}})
	qp := quotedprintable.NewWriter(pw)
	_, _ = qp.Write([]byte(body))
	qp.Close()
	for _, a := range m.Attachments {
		ct := a.ContentType
		if ct == "" {
			ct = mime.TypeByExtension(filepath.Ext(a.Name))
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		name := mime.QEncoding.Encode("utf-8", filepath.Base(a.Name))
		pw, _ := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {ct + `; name="` + name + `"`},
			"Content-Disposition":       {`attachment; filename="` + name + `"`},
			"Content-Transfer-Encoding": {"base64"},
		})
		enc := base64.StdEncoding.EncodeToString(a.Data)
		for len(enc) > 76 {
			fmt.Fprintf(pw, "%s\r\n", enc[:76])
			enc = enc[76:]
		}
		fmt.Fprintf(pw, "%s\r\n", enc)
	}
	mw.Close()
	return b.Bytes(), nil
}

// writeTextBody sends 7-bit text as is and anything else, or any line
// over 998 octets (RFC 5322 §2.1.1), as quoted-printable.
func writeTextBody(b *bytes.Buffer, h func(k, v string), body string) {
	needQP := false
	for _, line := range strings.Split(body, "\r\n") {
		if len(line) > 998 {
			needQP = true
		}
		for i := 0; i < len(line); i++ {
			if line[i] >= 0x80 || line[i] == 0 {
				needQP = true
			}
		}
	}
	if !needQP {
		h("Content-Transfer-Encoding", "7bit")
		b.WriteString("\r\n" + body)
		return
	}
	h("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(b)
	_, _ = qp.Write([]byte(body))
	qp.Close()
}
