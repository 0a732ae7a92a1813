// Package transcript records protocol conversations line by line, as data.
//
// Every protocol client in mailprobe talks through a Conn made by a
// Recorder, so every report can carry the exact dialogue with sequence
// numbers that findings cite, and time offsets that show where a server
// stalled. Redaction happens here, at recording time, so that no renderer,
// log or error path can leak a credential that was never stored:
//
//   - SASL exchanges (SMTP AUTH, RFC 4954; IMAP AUTHENTICATE, RFC 9051 §6.2.2;
//     POP3 AUTH, RFC 5034): the initial response and every client line until
//     the server stops sending continuations (334 / "+ ") are replaced.
//   - IMAP LOGIN (RFC 9051 §6.2.3): everything after the user name.
//   - POP3 PASS and APOP (RFC 1939 §7).
//   - Any registered secret (AddSecret), and its base64 forms, anywhere in
//     any line, in either direction: defence in depth against a server that
//     echoes what it was sent.
package transcript

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Dir is the direction of an entry.
type Dir string

const (
	Client Dir = "C" // sent by mailprobe
	Server Dir = "S" // received from the server
	Event  Dir = "*" // something that is not a line: connect, TLS handshake, close, timeout
)

// Redacted replaces secrets in recorded lines.
const Redacted = "<redacted>"

// Limits that keep a hostile server from growing a transcript without end.
const (
	MaxLine    = 2048 // bytes of one line that are kept
	MaxEntries = 4000 // entries kept; later ones are counted, not stored
)

// Entry is one recorded line or event.
type Entry struct {
	Seq  int           `json:"seq"`
	T    time.Duration `json:"-"`
	Dir  Dir           `json:"dir"`
	Line string        `json:"line"`
	// EOL says how the line ended when it was not CRLF: "LF" (bare LF),
	// "none" (connection closed or read timed out mid-line), "truncated".
	EOL      string `json:"eol,omitempty"`
	TLS      bool   `json:"tls,omitempty"`
	Redacted bool   `json:"redacted,omitempty"`
}

// MarshalJSON writes the offset as t_ms.
func (e Entry) MarshalJSON() ([]byte, error) {
	type plain Entry
	return json.Marshal(struct {
		plain
		TMS float64 `json:"t_ms"`
	}{plain(e), float64(e.T.Microseconds()) / 1000})
}

// Recorder collects the entries of one report. It is safe for concurrent
// use: a check may run several connections, each wrapped by the same
// recorder, and their lines interleave by time.
type Recorder struct {
	mu      sync.Mutex
	now     func() time.Time
	start   time.Time
	entries []Entry
	seq     int
	dropped int
	secrets []string
}

// saslState is one connection's credential-exchange state: per
// connection, because a recorder may watch several at once and one
// server's reply must not end another connection's exchange.
type saslState struct {
	// in is true between a client AUTH/AUTHENTICATE/LOGIN and the first
	// server line that is not a continuation request.
	in bool
	// mech and responses let the recorder learn the password from a
	// typed exchange (PLAIN's third field, LOGIN's second response), so
	// a server that echoes it back is scrubbed too.
	mech      string
	responses int
	// data is true while a message body is sent (SMTP DATA): its lines
	// are text, not commands, and a line saying "auth" must not start
	// redacting the rest of the message.
	data bool
}

// New returns a recorder whose offsets count from now().
func New(now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	return &Recorder{now: now, start: now()}
}

// AddSecret registers a value that must never appear in the transcript,
// together with its standard and raw base64 encodings. Values shorter than
// three bytes are ignored: scrubbing every "a" would make the transcript
// unreadable and protects nothing.
func (r *Recorder) AddSecret(s string) {
	if len(s) < 3 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addSecretLocked(s)
}

func (r *Recorder) addSecretLocked(s string) {
	if len(s) < 3 {
		return
	}
	for _, have := range r.secrets {
		if have == s {
			return
		}
	}
	r.secrets = dedupLongestFirst(append(r.secrets, SecretForms(s)...))
}

// SecretForms are the ways a secret can appear on the wire or in output,
// derived here and nowhere else: itself; its base64 encodings (standard,
// raw, URL: SASL LOGIN's password step, RFC 4954); an IMAP quoted string's
// content (RFC 9051 §4.3: \" and \\; an IMAP literal carries the raw
// bytes); SMTP xtext (RFC 3461 §4: +XX); its escapes inside a JSON string
// (with and without HTML escaping) and in XML or HTML text. Each form is
// listed once, longest first, so that scrubbing a shorter form never
// leaves the remains of a longer one.
func SecretForms(s string) []string {
	b := []byte(s)
	return dedupLongestFirst([]string{s,
		base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
		IMAPQuoted(s), XText(s), jsonEscape(s, true), jsonEscape(s, false), xmlEscape(s), html.EscapeString(s)})
}

// IMAPQuoted is s as it appears between the quotes of an IMAP quoted
// string (RFC 9051 §4.3): backslash and double quote escaped.
func IMAPQuoted(s string) string {
	if !strings.ContainsAny(s, `"\`) {
		return s
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}

// XText is s encoded as RFC 3461 §4 xtext (the AUTH= and ENVID
// parameters of SMTP): "+", "=" and every byte outside "!".."~" as +XX.
func XText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '!' || c > '~' || c == '+' || c == '=' {
			fmt.Fprintf(&b, "+%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func jsonEscape(s string, escapeHTML bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(s); err != nil {
		return s
	}
	out := strings.TrimSuffix(b.String(), "\n")
	return strings.TrimSuffix(strings.TrimPrefix(out, `"`), `"`)
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	if err := xml.EscapeText(&b, []byte(s)); err != nil {
		return s
	}
	return b.String()
}

func dedupLongestFirst(forms []string) []string {
	out := forms[:0:0]
	seen := map[string]bool{}
	for _, f := range forms {
		if len(f) >= 3 && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// CredentialForms are every form of a password given for user: the
// SecretForms of the password and the SASL encodings that contain it but
// not its own base64 as a substring: PLAIN ("\0user\0pass", with and
// without an authorization identity) and XOAUTH2, each in standard and raw
// base64. It is the one list both the recorder and the CLI's last scrub
// use.
func CredentialForms(user, password string) []string {
	if len(password) < 3 {
		return nil
	}
	out := SecretForms(password)
	for _, raw := range []string{"\x00" + user + "\x00" + password, user + "\x00" + user + "\x00" + password,
		"user=" + user + "\x01auth=Bearer " + password + "\x01\x01"} {
		out = append(out, base64.StdEncoding.EncodeToString([]byte(raw)), base64.RawStdEncoding.EncodeToString([]byte(raw)))
	}
	return dedupLongestFirst(out)
}

// AddCredential registers a password with every form CredentialForms
// knows for user.
func (r *Recorder) AddCredential(user, password string) {
	if len(password) < 3 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addSecretLocked(password)
	r.secrets = dedupLongestFirst(append(r.secrets, CredentialForms(user, password)...))
}

// Scrub replaces every registered secret in s: for text that reaches
// output by another way than the transcript (a reply a hostile server
// built from the credentials it was sent).
func (r *Recorder) Scrub(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sec := range r.secrets {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, Redacted)
		}
	}
	return s
}

// Event records something that is not a protocol line.
func (r *Recorder) Event(format string, args ...any) int {
	return r.add(nil, Event, fmt.Sprintf(format, args...), "", false)
}

// Entries returns a copy of what was recorded.
func (r *Recorder) Entries() []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Entry, len(r.entries))
	copy(out, r.entries)
	return out
}

// Entry returns the entry numbered seq, if it was kept.
func (r *Recorder) Entry(seq int) (Entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Entries are numbered from 1 in order; only those past MaxEntries
	// are dropped, so the index is seq-1.
	if seq < 1 || seq > len(r.entries) || r.entries[seq-1].Seq != seq {
		return Entry{}, false
	}
	return r.entries[seq-1], true
}

// Seq returns the sequence number of the last entry (0 when empty).
func (r *Recorder) Seq() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seq
}

// Elapsed is the time since the recorder started, on its clock.
func (r *Recorder) Elapsed() time.Duration { return r.now().Sub(r.start) }

// Start is the recorder's start time.
func (r *Recorder) Start() time.Time { return r.start }

// Dropped reports how many entries were over MaxEntries.
func (r *Recorder) Dropped() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// add records a raw line (without its line ending) and returns its seq.
func (r *Recorder) add(st *saslState, dir Dir, line, eol string, inTLS bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st == nil {
		st = &saslState{}
	}
	redacted := false
	switch dir {
	case Client:
		line, redacted = r.redactClient(st, line)
	case Server:
		trackServer(st, line)
	}
	for _, s := range r.secrets {
		if strings.Contains(line, s) {
			line = strings.ReplaceAll(line, s, Redacted)
			redacted = true
		}
	}
	r.seq++
	if len(r.entries) >= MaxEntries {
		r.dropped++
		return r.seq
	}
	r.entries = append(r.entries, Entry{Seq: r.seq, T: r.now().Sub(r.start), Dir: dir, Line: Printable(line), EOL: eol, TLS: inTLS, Redacted: redacted})
	return r.seq
}

// redactClient applies the protocol rules in the package comment. It is
// deliberately protocol-agnostic: the same keywords mean "credentials
// follow" in SMTP, IMAP and POP3, and redacting a harmless line is a far
// smaller fault than leaking a password.
func (r *Recorder) redactClient(st *saslState, line string) (string, bool) {
	if st.data {
		return line, false // message text; secrets are still scrubbed
	}
	if st.in {
		// A client line inside a SASL exchange is a credential response,
		// except "*" which cancels the exchange (RFC 4954 §4).
		if strings.TrimSpace(line) == "*" {
			return line, false
		}
		st.responses++
		r.learn(st, line)
		return Redacted, true
	}
	words := strings.Fields(line)
	if len(words) == 0 {
		return line, false
	}
	// IMAP commands carry a tag first; try the second word too.
	for i := 0; i < len(words) && i < 2; i++ {
		switch strings.ToUpper(words[i]) {
		case "AUTH", "AUTHENTICATE":
			st.in = true
			st.responses = 0
			st.mech = ""
			if len(words) > i+1 {
				st.mech = strings.ToUpper(words[i+1])
			}
			if len(words) > i+2 { // mechanism plus an initial response
				st.responses++
				r.learn(st, words[i+2])
				return strings.Join(words[:i+2], " ") + " " + Redacted, true
			}
			return line, false
		case "LOGIN":
			if i == 0 && len(words) > 1 && !isIMAPTag(words[0]) {
				// Not IMAP; fall through to the generic rule below.
				break
			}
			if len(words) > i+2 {
				r.addSecretLocked(unquote(strings.Join(words[i+2:], " ")))
				return strings.Join(words[:i+2], " ") + " " + Redacted, true
			}
			if len(words) == i+2 && strings.HasSuffix(words[i+1], "}") {
				// User name sent as a literal: the password follows in
				// later lines; treat them like a SASL exchange.
				st.in = true
				st.mech = "LITERAL"
			}
			return line, false
		case "PASS":
			if i == 0 && len(words) > 1 {
				r.addSecretLocked(strings.TrimSpace(line[strings.Index(strings.ToUpper(line), "PASS")+4:]))
				return "PASS " + Redacted, true
			}
		case "APOP":
			if i == 0 && len(words) > 2 {
				return "APOP " + words[1] + " " + Redacted, true
			}
		}
	}
	return line, false
}

// learn registers the password inside a typed SASL response: the third
// field of PLAIN, LOGIN's second response, the token of XOAUTH2. Then a
// server that echoes it back is scrubbed too.
func (r *Recorder) learn(st *saslState, resp string) {
	dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(resp))
	if err != nil {
		return
	}
	switch st.mech {
	case "PLAIN":
		if parts := strings.Split(string(dec), "\x00"); len(parts) == 3 {
			r.addSecretLocked(parts[2])
		}
	case "LOGIN":
		if st.responses == 2 {
			r.addSecretLocked(string(dec))
		}
	case "XOAUTH2", "OAUTHBEARER":
		if _, tok, ok := strings.Cut(string(dec), "auth=Bearer "); ok {
			tok, _, _ = strings.Cut(tok, "\x01")
			r.addSecretLocked(tok)
		}
	}
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(s[1 : len(s)-1])
	}
	return s
}

func isIMAPTag(s string) bool { return s != "" && !strings.ContainsAny(s, "(){ %*\"\\]") }

// trackServer ends a SASL exchange at the first server line that is not a
// continuation request (SMTP "334", IMAP/POP3 "+").
func trackServer(st *saslState, line string) {
	if !st.in {
		return
	}
	if line == "334" || strings.HasPrefix(line, "334 ") || line == "+" || strings.HasPrefix(line, "+ ") {
		return
	}
	st.in = false
}

// Printable escapes control bytes and invalid UTF-8 so that a transcript
// line is always one readable line: a bare CR inside a line (the stuff of
// SMTP smuggling) shows as \r instead of rewinding the terminal.
func Printable(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f || c >= 0x80 {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteByte('\t')
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		case c >= 0x80:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size <= 1 {
				fmt.Fprintf(&b, `\x%02x`, c)
				i++
				continue
			}
			b.WriteString(s[i : i+size])
			i += size
			continue
		default:
			b.WriteByte(c)
		}
		i++
	}
	return b.String()
}
