package resetmail

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"mime"
	"net/mail"
	"net/textproto"
	"net/url"
	"sort"
	"strings"

	"github.com/mailprobe/mailprobe/internal/lazyre"
	"github.com/mailprobe/mailprobe/pkg/dnsauth"
	"github.com/mailprobe/mailprobe/pkg/report"
)

func init() {
	report.Register(
		report.Code{Code: "reset.link.https", Severity: report.Pass, Title: "Reset link uses HTTPS"},
		report.Code{Code: "reset.link.insecure", Severity: report.Fail, Title: "Reset link is not HTTPS",
			Fix:  "Serve the reset page over HTTPS and put an https:// link in the email: anyone on the user's network can read a token sent over plain HTTP and take over the account.",
			Refs: []string{"OWASP Forgot Password Cheat Sheet"}},
		report.Code{Code: "reset.link.missing", Severity: report.Fail, Title: "No reset link or code found",
			Fix:  "The email must carry a link with a single-use token (or a recovery code) in its text part, where every mail client shows it.",
			Refs: []string{"OWASP Forgot Password Cheat Sheet"}},
		report.Code{Code: "reset.link.rewritten", Severity: report.Warn, Title: "Reset link was rewritten on the way",
			Fix:  "A link tracker or a security gateway replaced the link. Tracking redirects leak the token to a third party and break when it is down: turn click tracking off for transactional mail (most ESPs have a per-message switch).",
			Refs: nil},
		report.Code{Code: "reset.token.strong", Severity: report.Pass, Title: "Reset token is long and random"},
		report.Code{Code: "reset.token.weak", Severity: report.Warn, Title: "Reset token is short or guessable",
			Fix:  "Generate at least 128 bits with a cryptographic random generator (e.g. 32 random bytes, base64url-encoded), store only its hash, and make it single-use.",
			Refs: []string{"OWASP Forgot Password Cheat Sheet", "NIST SP 800-63B §5.1.1.2"}},
		report.Code{Code: "reset.code.found", Severity: report.Info, Title: "Recovery code found",
			Fix:  "Short codes are only safe with few attempts allowed: limit tries per code and per account, and expire the code within minutes.",
			Refs: []string{"NIST SP 800-63B §5.1.3.2"}},
		report.Code{Code: "reset.expiry.missing", Severity: report.Warn, Title: "Email does not say when the link expires",
			Fix:  "State the expiry (\"This link expires in 30 minutes\"): users who see it act at once, and a short expiry limits what a leaked token is worth.",
			Refs: []string{"OWASP Forgot Password Cheat Sheet"}},
		report.Code{Code: "reset.text.missing", Severity: report.Warn, Title: "No plain-text part",
			Fix:  "Send multipart/alternative with a text/plain part next to the HTML: text-only clients and screen readers need it, and HTML-only mail scores worse with spam filters.",
			Refs: []string{"RFC 2046 §5.1.4"}},
		report.Code{Code: "reset.password.in-body", Severity: report.Fail, Title: "Email contains a password",
			Fix:  "Never mail a password (new, temporary or old): mail is stored unencrypted in many places. Send a single-use link instead.",
			Refs: []string{"OWASP Forgot Password Cheat Sheet"}},
		report.Code{Code: "reset.dkim.unsigned", Severity: report.Info, Title: "Email is not DKIM-signed",
			Fix:  "Sign with a key of your From domain (--dkim-key, or your provider's DKIM setup); without DKIM, DMARC rests on SPF alone, which forwarding breaks.",
			Refs: []string{"RFC 6376", "RFC 7489 §3.1"}},
		report.Code{Code: "reset.dkim.unaligned", Severity: report.Warn, Title: "DKIM domain is not aligned with the From domain",
			Fix:  "DMARC only counts a DKIM signature whose d= is the From domain or shares its organizational domain: sign with d= your From domain.",
			Refs: []string{"RFC 7489 §3.1.1"}},
	)
}

// Analysis is what a reset email says to its reader, read from the raw
// message the way a mail client would show it (transfer encodings undone).
type Analysis struct {
	Size         int      `json:"size"`
	Subject      string   `json:"subject,omitempty"`
	From         string   `json:"from,omitempty"`
	FromDomain   string   `json:"from_domain,omitempty"`
	HasText      bool     `json:"has_text"`
	HasHTML      bool     `json:"has_html"`
	Links        []string `json:"links,omitempty"`
	ResetLink    string   `json:"reset_link,omitempty"`
	Token        string   `json:"token,omitempty"`
	TokenBits    float64  `json:"token_bits,omitempty"`
	Code         string   `json:"code,omitempty"`
	ExpiryStated bool     `json:"expiry_stated"`
	Password     bool     `json:"password_in_body"`
	DKIMDomains  []string `json:"dkim_domains,omitempty"`
}

var (
	linkRe = lazyre.New(`(?i)\b(?:https?)://[^\s"'<>()\[\]{}]+`)
	// A token: a run of URL-safe characters long enough not to be a word.
	tokenRe = lazyre.New(`[A-Za-z0-9_\-.~%]{16,}`)
	// "Your code is: 7KQ2M9XP", "Code: 123456", the code on a line of its own.
	codeRe   = lazyre.New(`\b(?:[Cc]ode|CODE)(?:\s+(?:is|was))?\s*[:\-]?\s*([A-Z0-9]{6,12})\b`)
	expiryRe = lazyre.New(`(?i)\b(expire[sd]?|expiry|expiration|valid (?:for|until)|only (?:valid|works) for|within \d+ (?:minutes?|hours?))\b`)
	// "your password is X", "temporary password: X", "new password: X".
	// On one line, and the "password" must not be a link: "reset your
	// password:" followed by the link on the next line is the usual
	// wording of a good reset email.
	passwordRe = lazyre.New(`(?i)\b(?:new|temporary|temp|current|your) password(?: is)?[ \t]*(?:[:=][ \t]*|is[ \t]+)([^\s]{4,})`)
	resetWords = lazyre.New(`(?i)reset|token|recover|password|verify|confirm|key|code`)
)

// Analyze reads a raw message. It never fails: what it cannot parse it
// leaves out, and the findings say what is missing.
func Analyze(raw []byte) Analysis {
	a := Analysis{Size: len(raw)}
	hdr, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))).ReadMIMEHeader()
	if hdr != nil {
		a.Subject = decodeHeader(hdr.Get("Subject"))
		if addr, err := mail.ParseAddress(hdr.Get("From")); err == nil {
			a.From = addr.Address
			a.FromDomain = strings.ToLower(addr.Address[strings.LastIndexByte(addr.Address, '@')+1:])
		}
		for _, sig := range hdr.Values("Dkim-Signature") {
			if d := dnsauth.TagValue(sig, "d"); d != "" {
				a.DKIMDomains = append(a.DKIMDomains, strings.ToLower(d))
			}
		}
	}
	seen := map[string]bool{}
	var texts []string
	for _, p := range decodedTextParts(raw) {
		body := p.body
		if p.kind == "HTML part" {
			a.HasHTML = true
		} else {
			a.HasText = true
		}
		texts = append(texts, body)
		for _, l := range linkRe.FindAllString(body, -1) {
			l = strings.TrimRight(l, ".,;:!?")
			if !seen[l] {
				seen[l] = true
				a.Links = append(a.Links, l)
			}
		}
	}
	all := strings.Join(texts, "\n")
	a.ExpiryStated = expiryRe.MatchString(all)
	for _, m := range passwordRe.FindAllStringSubmatch(all, -1) {
		if v := strings.ToLower(m[1]); !strings.HasPrefix(v, "http") && !strings.HasPrefix(v, "<") && v != "will" && v != "has" && v != "was" {
			a.Password = true
		}
	}
	a.ResetLink, a.Token = pickResetLink(a.Links)
	if a.Token != "" {
		a.TokenBits = tokenBits(a.Token)
	} else if m := codeRe.FindStringSubmatch(all); m != nil {
		a.Code = m[1]
		a.TokenBits = tokenBits(m[1])
	}
	return a
}

// pickResetLink returns the link that most looks like a reset link and the
// token in it: the longest token-like run in its query or path, preferring
// links whose URL mentions reset words.
func pickResetLink(links []string) (link, token string) {
	type cand struct {
		link, token string
		score       int
	}
	var cs []cand
	for _, l := range links {
		u, err := url.Parse(l)
		if err != nil {
			continue
		}
		// Raw (still escaped) values, so the token is exactly what the
		// link carries.
		best := ""
		for _, kv := range strings.Split(u.RawQuery, "&") {
			_, v, _ := strings.Cut(kv, "=")
			if len(v) > len(best) && len(v) >= 16 && len(tokenRe.FindString(v)) == len(v) {
				best = v
			}
		}
		if best == "" {
			path := l[strings.Index(l, "://")+3:]
			if i := strings.IndexByte(path, '/'); i >= 0 {
				path = path[i:]
			} else {
				path = ""
			}
			if i := strings.IndexAny(path, "?#"); i >= 0 {
				path = path[:i]
			}
			for _, seg := range strings.Split(path, "/") {
				if len(seg) > len(best) && len(seg) >= 16 && len(tokenRe.FindString(seg)) == len(seg) {
					best = seg
				}
			}
		}
		if best == "" {
			continue
		}
		score := len(best)
		if resetWords.MatchString(u.Path + "?" + u.RawQuery) {
			score += 1000
		}
		cs = append(cs, cand{l, best, score})
	}
	if len(cs) == 0 {
		return "", ""
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].score > cs[j].score })
	return cs[0].link, cs[0].token
}

// tokenBits estimates the entropy of a random-looking string from the
// alphabet its characters are drawn from. It is an upper bound: a token
// that is not random (a user id, a timestamp) is weaker than this.
func tokenBits(s string) float64 {
	var lower, upper, digit, other bool
	hex := true
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
			lower = true
			if r > 'f' {
				hex = false
			}
		case r >= 'A' && r <= 'Z':
			upper = true
			if r > 'F' {
				hex = false
			}
		case r >= '0' && r <= '9':
			digit = true
		default:
			other = true
			hex = false
		}
	}
	alphabet := 0
	switch {
	case hex && !(lower && upper):
		alphabet = 16
		if !lower && !upper {
			alphabet = 10
		}
	default:
		if lower {
			alphabet += 26
		}
		if upper {
			alphabet += 26
		}
		if digit {
			alphabet += 10
		}
		if other {
			alphabet += 2
		}
	}
	if alphabet < 2 {
		return 0
	}
	return math.Floor(float64(len(s)) * math.Log2(float64(alphabet)))
}

// Findings judges the analysis against the reset-email practices.
func (a Analysis) Findings(stage string) []report.Finding {
	var fs []report.Finding
	switch {
	case a.ResetLink != "":
		u, _ := url.Parse(a.ResetLink)
		if u != nil && strings.EqualFold(u.Scheme, "https") {
			fs = append(fs, report.Newf("reset.link.https", stage, "%s", redactToken(a.ResetLink, a.Token)))
		} else {
			fs = append(fs, report.Newf("reset.link.insecure", stage, "The reset link is %s.", redactToken(a.ResetLink, a.Token)))
		}
		switch {
		case a.TokenBits >= 128:
			fs = append(fs, report.Newf("reset.token.strong", stage, "%d characters, about %.0f bits.", len(a.Token), a.TokenBits))
		case a.TokenBits >= 64:
			fs = append(fs, report.Newf("reset.token.weak", stage, "The token has %d characters, at most %.0f bits; 128 bits is the floor for reset tokens.", len(a.Token), a.TokenBits))
		default:
			fs = append(fs, report.Newf("reset.token.weak", stage, "The token has %d characters, at most %.0f bits: it can be guessed.", len(a.Token), a.TokenBits).WithSeverity(report.Fail))
		}
	case a.Code != "":
		fs = append(fs, report.Newf("reset.code.found", stage, "Code of %d characters, at most %.0f bits.", len(a.Code), a.TokenBits))
	default:
		detail := "No link with a token and no recovery code was found in the text or HTML part."
		if len(a.Links) > 0 {
			detail = fmt.Sprintf("%d links, none carrying a token.", len(a.Links))
		}
		fs = append(fs, report.New("reset.link.missing", stage, detail))
	}
	if !a.ExpiryStated {
		fs = append(fs, report.New("reset.expiry.missing", stage, "No sentence such as \"expires in 30 minutes\" was found."))
	}
	if !a.HasText {
		detail := "The message has no text/plain part."
		if !a.HasHTML {
			detail = "The message has no readable text or HTML part."
		}
		fs = append(fs, report.New("reset.text.missing", stage, detail))
	}
	if a.Password {
		fs = append(fs, report.New("reset.password.in-body", stage, "The body contains a sentence that gives a password."))
	}
	if len(a.DKIMDomains) == 0 {
		fs = append(fs, report.New("reset.dkim.unsigned", stage, "No DKIM-Signature header."))
	} else if a.FromDomain != "" {
		aligned := false
		for _, d := range a.DKIMDomains {
			if dnsauth.Aligned(a.FromDomain, d, "r", dnsauth.OrgDomainPSL) {
				aligned = true
			}
		}
		if !aligned {
			fs = append(fs, report.Newf("reset.dkim.unaligned", stage, "Signed by d=%s, From domain %s.", strings.Join(a.DKIMDomains, ", d="), a.FromDomain))
		}
	}
	return fs
}

// redactToken shows a link with the middle of its token elided: the token
// is a live credential when the link is real.
func redactToken(link, token string) string {
	if len(token) < 12 {
		return link
	}
	return strings.Replace(link, token, token[:4]+"…"+token[len(token)-4:], 1)
}

func decodeHeader(s string) string {
	if d, err := new(mime.WordDecoder).DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// composedFindings judges the message as mailprobe built it.
func composedFindings(msg *Composed) []report.Finding {
	return Analyze(msg.Data).Findings("compose")
}

// receivedAnalysis judges what the receiver did to the message: whether
// the reset link is still the one that was sent.
func receivedAnalysis(raw []byte, msg *Composed) []report.Finding {
	if msg.Link == "" {
		return nil
	}
	a := Analyze(raw)
	for _, l := range a.Links {
		if l == msg.Link {
			return nil
		}
	}
	sent, _ := url.Parse(msg.Link)
	for _, l := range a.Links {
		u, err := url.Parse(l)
		if err != nil || sent == nil {
			continue
		}
		if !strings.EqualFold(u.Host, sent.Host) || strings.Contains(l, url.QueryEscape(msg.Link)) || strings.Contains(l, msg.Token) {
			return []report.Finding{report.Newf("reset.link.rewritten", "analyze", "The link now points at %s instead of %s.", u.Host, sent.Host).With("link", redactToken(l, msg.Token))}
		}
	}
	return nil
}
