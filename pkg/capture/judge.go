package capture

import (
	"bufio"
	"bytes"
	"net/mail"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/mailprobe/mailprobe/internal/lazyre"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resetmail"
)

// Findings of the checks every captured message gets, whatever it is. The
// reset-email practices (pkg/resetmail's reset.* codes) are judged only
// for messages that look like a reset email, or for every message with
// Options.Expect "reset": a welcome email without a reset link is not a
// failure.
func init() {
	report.Register(
		report.Code{Code: "capture.header.from-missing", Severity: report.Fail, Title: "Message has no From header",
			Fix:  "Every message must have exactly one From field; set the From address in your mailer.",
			Refs: []string{"RFC 5322 §3.6"}},
		report.Code{Code: "capture.header.date-missing", Severity: report.Warn, Title: "Message has no Date header",
			Fix:  "The Date field is required; most libraries add it, a hand-built message must add it itself. Receivers may add their own or score the message as spam.",
			Refs: []string{"RFC 5322 §3.6.1"}},
		report.Code{Code: "capture.header.message-id-missing", Severity: report.Warn, Title: "Message has no Message-ID header",
			Fix:  "Add a unique Message-ID (<random@your-domain>): Gmail and others reject or spam-folder mail without one.",
			Refs: []string{"RFC 5322 §3.6.4"}},
		report.Code{Code: "capture.body.missing", Severity: report.Fail, Title: "Message has no readable text or HTML part",
			Fix:  "Send a text/plain part (and an HTML part if you like, as multipart/alternative).",
			Refs: []string{"RFC 2046 §5.1.4"}},
		report.Code{Code: "capture.text.missing", Severity: report.Warn, Title: "HTML without a plain-text part",
			Fix:  "Send multipart/alternative with a text/plain part next to the HTML: text-only clients and screen readers need it, and HTML-only mail scores worse with spam filters.",
			Refs: []string{"RFC 2046 §5.1.4"}},
		report.Code{Code: "capture.link.insecure", Severity: report.Warn, Title: "Links use plain HTTP",
			Fix:  "Link to https:// pages: a plain-HTTP link can be read and changed by anyone on the reader's network.",
			Refs: nil},
		report.Code{Code: "capture.link.invalid", Severity: report.Warn, Title: "Links that do not parse",
			Fix:  "A link with spaces, unescaped characters or a broken host does not open in every client; build links with a URL library.",
			Refs: []string{"RFC 3986"}},
		report.Code{Code: "capture.size.large", Severity: report.Warn, Title: "Message is large",
			Fix:  "Large messages are slow to deliver and may be refused (many servers stop at 10 to 25 MB); link to big files instead of attaching them.",
			Refs: []string{"RFC 1870"}},
		report.Code{Code: "capture.html.clipped", Severity: report.Info, Title: "HTML part is over 102 KB",
			Fix:  "Gmail clips HTML over about 102 KB behind a \"View entire message\" link, and what is below (often the unsubscribe link) is hidden; trim inline CSS and markup.",
			Refs: nil},
		report.Code{Code: "capture.unsubscribe.missing", Severity: report.Warn, Title: "Bulk message without List-Unsubscribe",
			Fix:  "Bulk senders must offer one-click unsubscription (List-Unsubscribe with an https URI and List-Unsubscribe-Post: List-Unsubscribe=One-Click): Gmail and Yahoo require it since 2024.",
			Refs: []string{"RFC 2369", "RFC 8058"}},
		report.Code{Code: "capture.unsubscribe.no-one-click", Severity: report.Warn, Title: "List-Unsubscribe without one-click",
			Fix:  "Add an https URI to List-Unsubscribe and the header List-Unsubscribe-Post: List-Unsubscribe=One-Click.",
			Refs: []string{"RFC 8058 §3.1"}},
		report.Code{Code: "capture.dkim.fail", Severity: report.Warn, Title: "DKIM signature did not verify",
			Fix:  "See the result's reason: a key not published in DNS, a body changed after signing, or a header list that includes fields your mailer rewrites.",
			Refs: []string{"RFC 6376 §6"}},
		report.Code{Code: "capture.dmarc.fail", Severity: report.Warn, Title: "Message would fail DMARC",
			Fix:  "Sign with DKIM using a key of the From domain (d= aligned with From); SPF alone cannot pass DMARC for mail sent from development.",
			Refs: []string{"RFC 7489 §3.1"}},
	)
}

// Expect values: what kind of message every captured message is judged
// as.
const (
	ExpectAuto  = ""      // reset checks when the message looks like a reset email
	ExpectReset = "reset" // every message is a reset email
)

// Kinds of message.
const (
	KindReset = "reset"
	KindOther = "other"
)

// resetSubject and resetText say a message is about a password reset or
// a sign-in code, in the wordings apps use.
var (
	resetSubject = lazyre.New(`(?i)\b(reset|forgot|forgotten|recover|recovery|password|passcode|one[- ]time (code|password|link)|verification code|security code|sign[- ]?in (link|code)|log[- ]?in (link|code)|magic link)\b`)
	resetText    = lazyre.New(`(?i)\b(reset (your|the|my) password|forgot (your|my) password|password reset|recover (your|the) account|change your password|sign[- ]?in link|magic link|one[- ]time (code|password))\b`)
	bulkBody     = lazyre.New(`(?i)\bunsubscribe\b`)
)

// textLimit bounds the body text kept for search and the kind decision.
const textLimit = 256 << 10

// judge analyses m and sets its kind and findings.
func (s *Server) judge(m *Message) {
	raw := m.Raw
	if m.Raw != nil {
		raw = bodyAfterTrace(m.Raw)
	}
	m.Analysis = resetmail.Analyze(raw)
	p := parseParts(raw)
	m.Kind = KindOther
	if s.o.Expect == ExpectReset || resetSubject.MatchString(m.Analysis.Subject) || resetText.MatchString(clip(p.text, textLimit)) || resetText.MatchString(clip(p.htmlText(), textLimit)) {
		m.Kind = KindReset
	}
	var fs []report.Finding
	if m.Kind == KindReset {
		fs = m.Analysis.Findings("analysis")
	}
	fs = append(fs, genericFindings(m, raw, p)...)
	m.Findings = fs
	m.ix = newIndex(m, p)
}

// msgIndex is what lists and searches read of a message, made once.
type msgIndex struct {
	to, from, subject, text   string // lower case, for search
	fromHdr                   string
	toHdr                     []string
	fromRaw, toRaw, messageID string
	snippet                   string
	attachments               int
}

// searchLimit bounds the text kept for search per message.
const searchLimit = 64 << 10

func newIndex(m *Message, p parts) *msgIndex {
	ix := &msgIndex{subject: strings.ToLower(m.Analysis.Subject), attachments: len(p.attachments)}
	ix.fromRaw, ix.toRaw = headerValue(p.headers, "From"), headerValue(p.headers, "To")
	ix.messageID = strings.Trim(headerValue(p.headers, "Message-Id"), "<> ")
	if a, err := mail.ParseAddress(ix.fromRaw); err == nil {
		ix.fromHdr = a.Address
	} else {
		ix.fromHdr = ix.fromRaw
	}
	ix.toHdr = []string{}
	if l, err := mail.ParseAddressList(ix.toRaw); err == nil {
		for _, a := range l {
			ix.toHdr = append(ix.toHdr, a.Address)
		}
	} else if ix.toRaw != "" {
		ix.toHdr = append(ix.toHdr, ix.toRaw)
	}
	ix.to = strings.ToLower(strings.Join(append(append([]string{ix.toRaw, headerValue(p.headers, "Cc")}, m.Rcpt...), ix.toHdr...), "\n"))
	ix.from = strings.ToLower(ix.fromRaw + "\n" + m.MailFrom)
	body := p.text
	if body == "" {
		body = p.htmlText()
	}
	ix.text = strings.ToLower(clip(m.Analysis.Subject+"\n"+p.text+"\n"+p.htmlText(), searchLimit))
	ix.snippet = clip(strings.Join(strings.Fields(clip(body, 2048)), " "), 250)
	return ix
}

// index is the message's index; a message that was never judged (built
// by hand) has an empty one.
func (m *Message) index() *msgIndex {
	if m.ix == nil {
		return &msgIndex{toHdr: []string{}}
	}
	return m.ix
}

// bodyAfterTrace skips the Authentication-Results and Received fields
// capture itself prepended, so the analysis sees the message the app sent.
func bodyAfterTrace(raw []byte) []byte {
	for _, name := range []string{"Authentication-Results:", "Received:"} {
		if !bytes.HasPrefix(raw, []byte(name)) {
			break
		}
		// A field ends at a line not starting with white space.
		i := 0
		for {
			j := bytes.IndexByte(raw[i:], '\n')
			if j < 0 {
				return raw
			}
			i += j + 1
			if i >= len(raw) || (raw[i] != ' ' && raw[i] != '\t') {
				break
			}
		}
		raw = raw[i:]
	}
	return raw
}

func genericFindings(m *Message, raw []byte, p parts) []report.Finding {
	const stage = "analysis"
	var fs []report.Finding
	hdr, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))).ReadMIMEHeader()
	if hdr.Get("From") == "" {
		fs = append(fs, report.New("capture.header.from-missing", stage, "No From field."))
	}
	if hdr.Get("Date") == "" {
		fs = append(fs, report.New("capture.header.date-missing", stage, "No Date field."))
	}
	if hdr.Get("Message-Id") == "" {
		fs = append(fs, report.New("capture.header.message-id-missing", stage, "No Message-ID field."))
	}
	a := m.Analysis
	if m.Kind != KindReset { // the reset checks say this in their own words
		switch {
		case !a.HasText && !a.HasHTML:
			fs = append(fs, report.New("capture.body.missing", stage, "No text/plain or text/html part."))
		case !a.HasText:
			fs = append(fs, report.New("capture.text.missing", stage, "The message has an HTML part and no text/plain part."))
		}
	}
	var insecure, invalid []string
	for _, l := range a.Links {
		u, err := url.Parse(l)
		switch {
		case err != nil || u.Host == "":
			invalid = append(invalid, l)
		case strings.EqualFold(u.Scheme, "http"):
			insecure = append(insecure, l)
		}
	}
	if len(insecure) > 0 {
		f := report.Newf("capture.link.insecure", stage, "%d of %d links use http://.", len(insecure), len(a.Links))
		for _, l := range first(insecure, 5) {
			f = f.With("link", redactLink(l, a))
		}
		fs = append(fs, f)
	}
	if len(invalid) > 0 {
		f := report.Newf("capture.link.invalid", stage, "%d links do not parse as URLs.", len(invalid))
		for _, l := range first(invalid, 5) {
			f = f.With("link", l)
		}
		fs = append(fs, f)
	}
	if m.Size > 10<<20 {
		fs = append(fs, report.Newf("capture.size.large", stage, "%d bytes (%.1f MB).", m.Size, float64(m.Size)/(1<<20)))
	}
	if p.htmlSize > 102<<10 {
		fs = append(fs, report.Newf("capture.html.clipped", stage, "The HTML part is %d KB.", p.htmlSize>>10))
	}
	// Bulk mail: marked as such (RFC 2076 Precedence, RFC 2919 List-Id)
	// or offering to unsubscribe in the text.
	bulk := strings.EqualFold(hdr.Get("Precedence"), "bulk") || strings.EqualFold(hdr.Get("Precedence"), "list") || hdr.Get("List-Id") != "" ||
		(m.Kind != KindReset && (bulkBody.MatchString(clip(p.text, textLimit)) || bulkBody.MatchString(clip(p.htmlText(), textLimit))))
	lu := hdr.Get("List-Unsubscribe")
	switch {
	case bulk && lu == "":
		fs = append(fs, report.New("capture.unsubscribe.missing", stage, "The message looks like bulk mail (Precedence, List-Id or an unsubscribe link) and has no List-Unsubscribe field."))
	case lu != "" && (!strings.Contains(strings.ToLower(lu), "<https:") || !strings.EqualFold(strings.TrimSpace(hdr.Get("List-Unsubscribe-Post")), "List-Unsubscribe=One-Click")):
		fs = append(fs, report.New("capture.unsubscribe.no-one-click", stage, "List-Unsubscribe is present without an https URI and List-Unsubscribe-Post: List-Unsubscribe=One-Click."))
	}
	for _, d := range m.Auth.DKIM {
		if d.Result == "fail" || d.Result == "permerror" {
			fs = append(fs, report.Newf("capture.dkim.fail", stage, "dkim=%s for d=%s: %s", d.Result, d.Domain, d.Reason))
		}
	}
	if m.Auth.DMARC == "fail" {
		fs = append(fs, report.Newf("capture.dmarc.fail", stage, "dmarc=fail for header.from=%s.", m.Auth.DMARCDomain))
	}
	return fs
}

func first(l []string, n int) []string {
	if len(l) > n {
		return l[:n]
	}
	return l
}

// redactLink elides the middle of the reset token when the link carries
// it: findings are printed and logged, the token is a live credential.
func redactLink(l string, a resetmail.Analysis) string {
	if a.Token != "" && len(a.Token) >= 12 && strings.Contains(l, a.Token) {
		return strings.Replace(l, a.Token, a.Token[:4]+"…"+a.Token[len(a.Token)-4:], 1)
	}
	return l
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// worst is the highest severity among the findings.
func (m *Message) worst() report.Severity {
	w := report.Pass
	for _, f := range m.Findings {
		if f.Severity > w {
			w = f.Severity
		}
	}
	return w
}
