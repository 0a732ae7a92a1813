package capture

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/internal/lazyre"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resetmail"
)

// The HTTP side of capture: a JSON API under /api/v1 for an app's
// end-to-end tests (list, search, get, raw, links, the reset link, wait
// for a message, delete, faults, release) and a web view at / for the
// developer (web.go). Bad input gets a JSON error with a stable code,
// never a 500 with a stack; bodies are bounded, every request has a
// deadline, and a listener off loopback needs credentials.

// HTTPOptions configure the HTTP API and web view.
type HTTPOptions struct {
	// Addr is where to listen; default 127.0.0.1:8025. An address that is
	// not loopback needs User and Password: captured mail holds live
	// reset tokens.
	Addr string
	// User and Password, when set, are required (HTTP Basic) on every
	// route.
	User, Password string
	// Release, when set, sends a captured message on to a real server
	// (POST /api/v1/messages/{id}/release) and reports how it went;
	// ReleaseTarget names that server in the API's answers.
	Release       func(ctx context.Context, raw []byte, from string, to []string) (*report.Report, error)
	ReleaseTarget string
	// Version is shown by /api/v1/info.
	Version string
}

// Bounds of the HTTP side.
const (
	maxBodyBytes   = 64 << 10
	defaultWait    = 30 * time.Second
	maxWait        = 5 * time.Minute
	defaultLimit   = 50
	maxLimit       = 1000
	releaseTimeout = 2 * time.Minute
	sseHeartbeat   = 20 * time.Second
)

// IsLoopback reports whether a listen address stays on this machine.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// StartHTTP serves the API and the web view until the capture server is
// closed, and returns the address it listens on.
func (s *Server) StartHTTP(o HTTPOptions) (string, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:8025"
	}
	if !IsLoopback(o.Addr) && (o.User == "" || o.Password == "") {
		return "", fmt.Errorf("--http %s is not a loopback address: captured mail holds live reset tokens, so set --http-auth USER with the password from --http-password-env or --http-password-file", o.Addr)
	}
	l, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return "", fmt.Errorf("HTTP listener: %w", err)
	}
	hs := &http.Server{
		Handler:           s.Handler(o),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Long enough for the longest wait; the event stream moves its
		// own deadline on with every write.
		WriteTimeout:   maxWait + 30*time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       nil,
	}
	s.mu.Lock()
	s.httpSrv = append(s.httpSrv, hs)
	s.mu.Unlock()
	s.wg.Add(1)
	go func() { defer s.wg.Done(); _ = hs.Serve(l) }()
	return l.Addr().String(), nil
}

// apiError is every error the API answers.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func fail(w http.ResponseWriter, status int, code, format string, args ...any) {
	writeJSON(w, status, apiError{Error: fmt.Sprintf(format, args...), Code: code})
}

// Handler is the API and the web view, for tests and for embedding.
func (s *Server) Handler(o HTTPOptions) http.Handler {
	h := &api{s: s, o: o}
	mux := http.NewServeMux()
	h.mux = mux
	for _, r := range h.routes() {
		mux.HandleFunc(r.pattern, r.fn)
	}
	mux.HandleFunc("/api/", h.notFound)
	s.webRoutes(mux, h)
	return h.guard(mux)
}

type route struct {
	pattern string
	fn      http.HandlerFunc
}

type api struct {
	s   *Server
	o   HTTPOptions
	mux *http.ServeMux
}

// APIRoutes lists the API's method and path patterns (the OpenAPI file
// is checked against it).
func APIRoutes() []string {
	var out []string
	for _, r := range (&api{}).routes() {
		out = append(out, r.pattern)
	}
	return out
}

func (h *api) routes() []route {
	return []route{
		{"GET /api/v1/info", h.info},
		{"GET /api/v1/messages", h.list},
		{"DELETE /api/v1/messages", h.deleteMany},
		{"GET /api/v1/messages/wait", h.wait},
		{"GET /api/v1/messages/{id}", h.get},
		{"DELETE /api/v1/messages/{id}", h.deleteOne},
		{"GET /api/v1/messages/{id}/raw", h.raw},
		{"GET /api/v1/messages/{id}/links", h.links},
		{"GET /api/v1/messages/{id}/reset", h.reset},
		{"POST /api/v1/messages/{id}/release", h.release},
		{"GET /api/v1/events", h.events},
		{"GET /api/v1/faults", h.getFaults},
		{"POST /api/v1/faults", h.setFaults},
		{"DELETE /api/v1/faults", h.clearFaults},
		// Mailpit's paths (its API v1), for test helpers written for it.
		{"GET /api/v1/message/{id}", h.mailpitGet},
		{"GET /api/v1/message/{id}/raw", h.raw},
		{"GET /api/v1/message/{id}/headers", h.mailpitHeaders},
		{"GET /api/v1/search", h.mailpitSearch},
		{"DELETE /api/v1/search", h.mailpitDeleteSearch},
	}
}

// guard is the same on every route: credentials, the Host and Origin
// checks, no panics reaching the client.
func (h *api) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				h.s.o.Logf("capture: HTTP %s %s: internal error: %v", r.Method, r.URL.Path, v)
				fail(w, http.StatusInternalServerError, "internal", "internal error")
			}
		}()
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if h.o.User != "" {
			u, p, ok := r.BasicAuth()
			if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(h.o.User)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(h.o.Password)) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="mailprobe capture", charset="UTF-8"`)
				fail(w, http.StatusUnauthorized, "unauthorized", "credentials required")
				return
			}
		} else if !loopbackHost(r.Host) {
			// Without credentials only loopback names are answered: a web
			// page elsewhere that re-points its own name at 127.0.0.1 (DNS
			// rebinding) must not read captured mail.
			fail(w, http.StatusForbidden, "bad_host", "Host %q is not a loopback name; use 127.0.0.1, [::1] or localhost", r.Host)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// A page on another origin may send a form POST without a
			// preflight; it must not set faults or release mail.
			if origin := r.Header.Get("Origin"); origin != "" {
				u, err := url.Parse(origin)
				if err != nil || !strings.EqualFold(u.Host, r.Host) {
					fail(w, http.StatusForbidden, "cross_origin", "requests from %s are refused", origin)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// notFound answers unknown API paths, and methods a path does not have.
func (h *api) notFound(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		rr := r.Clone(r.Context())
		rr.Method = m
		if _, p := h.mux.Handler(rr); p != "/api/" && p != "" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		fail(w, http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allowed, " or "))
		return
	}
	fail(w, http.StatusNotFound, "no_route", "no API route %s %s (see docs/capture.md)", r.Method, r.URL.Path)
}

func (h *api) info(w http.ResponseWriter, r *http.Request) {
	st := h.s.Stats()
	writeJSON(w, http.StatusOK, map[string]any{
		"version":        h.o.Version,
		"smtp":           h.s.SMTPAddr(),
		"imap":           h.s.IMAPAddr(),
		"messages":       st.Messages,
		"received":       st.Received,
		"dropped":        st.Dropped,
		"max_messages":   st.MaxMessages,
		"store":          h.s.o.StoreDir,
		"expect":         h.s.o.Expect,
		"release_target": h.o.ReleaseTarget,
		"faults":         faultSpec(h.s.Faults()),
	})
}

// Summary is a message in a list.
type Summary struct {
	ID          string    `json:"id"`
	Seq         int       `json:"seq"`
	Received    time.Time `json:"received"`
	From        string    `json:"from"`
	To          []string  `json:"to"`
	MailFrom    string    `json:"mail_from"`
	Rcpt        []string  `json:"rcpt"`
	Subject     string    `json:"subject"`
	Size        int       `json:"size"`
	Kind        string    `json:"kind"`
	TLS         bool      `json:"tls"`
	Worst       string    `json:"worst"` // the most severe finding: pass, info, warn, fail
	HasReset    bool      `json:"has_reset"`
	Attachments int       `json:"attachments"`
	Snippet     string    `json:"snippet"`
}

func summarize(m *Message) Summary {
	ix := m.index()
	return Summary{ID: m.ID, Seq: m.Seq, Received: m.Received, From: ix.fromHdr, To: ix.toHdr, MailFrom: m.MailFrom,
		Rcpt: m.Rcpt, Subject: m.Analysis.Subject, Size: m.Size, Kind: m.Kind, TLS: m.TLS, Worst: m.worst().String(),
		HasReset: m.Analysis.ResetLink != "" || m.Analysis.Code != "", Attachments: ix.attachments, Snippet: ix.snippet}
}

// filter is a search: every field given must match (case-insensitive
// substring).
type filter struct {
	to, from, subject, text string
	since                   time.Time
	afterSeq                int
}

func (f filter) empty() bool { return f == filter{} }

func (f filter) String() string {
	var p []string
	for _, kv := range [][2]string{{"to", f.to}, {"from", f.from}, {"subject", f.subject}, {"text", f.text}} {
		if kv[1] != "" {
			p = append(p, kv[0]+"="+strconv.Quote(kv[1]))
		}
	}
	if len(p) == 0 {
		return "any message"
	}
	return strings.Join(p, " ")
}

func (f filter) match(m *Message) bool {
	if f.afterSeq > 0 && m.Seq <= f.afterSeq {
		return false
	}
	if !f.since.IsZero() && m.Received.Before(f.since) {
		return false
	}
	ix := m.index()
	has := func(hay, needle string) bool { return needle == "" || strings.Contains(hay, strings.ToLower(needle)) }
	return has(ix.to, f.to) && has(ix.from, f.from) && has(ix.subject, f.subject) && has(ix.text, f.text)
}

// filterFrom reads to, from, subject, text (and q, Mailpit's query
// syntax) from the query string.
func (h *api) filterFrom(q url.Values) (filter, error) {
	f := filter{to: q.Get("to"), from: q.Get("from"), subject: q.Get("subject"), text: q.Get("text")}
	if s := q.Get("q"); s != "" {
		f = mergeQuery(f, s)
	}
	if s := q.Get("since"); s != "" {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			f.since = t
		} else if m := h.s.messages.get(s); m != nil {
			f.afterSeq = m.Seq
		} else {
			return f, fmt.Errorf("since=%q is neither an RFC 3339 time nor the id of a message kept", s)
		}
	}
	for k, v := range q {
		if len(v) > 1 {
			return f, fmt.Errorf("%s is given %d times", k, len(v))
		}
	}
	return f, nil
}

var queryToken = lazyre.New(`(\w+:)?("[^"]*"|\S+)`)

// mergeQuery reads Mailpit's search syntax: to:addr from:addr
// subject:"two words" and free words searched in the text.
func mergeQuery(f filter, q string) filter {
	var free []string
	for _, m := range queryToken.FindAllStringSubmatch(q, 20) {
		v := strings.Trim(m[2], `"`)
		switch strings.ToLower(strings.TrimSuffix(m[1], ":")) {
		case "to":
			f.to = v
		case "from":
			f.from = v
		case "subject":
			f.subject = v
		case "":
			free = append(free, v)
		default:
			free = append(free, m[0])
		}
	}
	if len(free) > 0 {
		f.text = strings.Join(free, " ")
	}
	return f
}

func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s=%q: want a whole number from %d to %d", name, s, lo, hi)
	}
	return n, nil
}

// ListResult is a page of the list, newest first.
type ListResult struct {
	Total    int       `json:"total"` // messages matching
	Count    int       `json:"count"` // on this page
	Start    int       `json:"start"`
	Limit    int       `json:"limit"`
	Stats    any       `json:"stats"`
	Messages []Summary `json:"messages"`
}

func (h *api) page(r *http.Request, f filter) (ListResult, []*Message, error) {
	q := r.URL.Query()
	start, err := intParam(q, "start", 0, 0, 1<<30)
	if err != nil {
		return ListResult{}, nil, err
	}
	limit, err := intParam(q, "limit", defaultLimit, 1, maxLimit)
	if err != nil {
		return ListResult{}, nil, err
	}
	all, _ := h.s.messages.newestFirst()
	var hit []*Message
	for _, m := range all {
		if f.match(m) {
			hit = append(hit, m)
		}
	}
	res := ListResult{Total: len(hit), Start: start, Limit: limit, Messages: []Summary{}}
	st := h.s.Stats()
	res.Stats = map[string]int{"messages": st.Messages, "received": st.Received, "dropped": st.Dropped, "max_messages": st.MaxMessages}
	if start < len(hit) {
		hit = hit[start:min(len(hit), start+limit)]
	} else {
		hit = nil
	}
	for _, m := range hit {
		res.Messages = append(res.Messages, summarize(m))
	}
	res.Count = len(res.Messages)
	return res, hit, nil
}

func (h *api) list(w http.ResponseWriter, r *http.Request) {
	f, err := h.filterFrom(r.URL.Query())
	if err != nil {
		fail(w, http.StatusBadRequest, "bad_query", "%v", err)
		return
	}
	res, _, err := h.page(r, f)
	if err != nil {
		fail(w, http.StatusBadRequest, "bad_query", "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// message finds {id}; "latest" is the newest message (Mailpit's alias).
func (h *api) message(w http.ResponseWriter, r *http.Request) *Message {
	id := r.PathValue("id")
	var m *Message
	if id == "latest" {
		m = h.s.messages.latest()
	} else {
		m = h.s.messages.get(id)
	}
	if m == nil {
		fail(w, http.StatusNotFound, "not_found", "no message %q (it may have been deleted, or dropped for --max-messages)", id)
	}
	return m
}

// Detail is one message in full.
type Detail struct {
	Summary
	Envelope    Envelope           `json:"envelope"`
	Headers     []Header           `json:"headers"`
	Text        string             `json:"text"`
	HTML        string             `json:"html"`
	Attachments []Attachment       `json:"attachments"`
	Auth        AuthResults        `json:"auth"`
	Analysis    resetmail.Analysis `json:"analysis"`
	Reset       *Reset             `json:"reset"` // null when no link or code was found
	Links       []Link             `json:"links"`
	Findings    []report.Finding   `json:"findings"`
	Transcript  []TranscriptLine   `json:"transcript"`
	StoredAs    string             `json:"stored_as,omitempty"`
}

// Envelope is what the SMTP session said, as opposed to the headers.
type Envelope struct {
	MailFrom  string   `json:"mail_from"`
	Rcpt      []string `json:"rcpt"`
	Remote    string   `json:"remote"`
	Helo      string   `json:"helo"`
	TLS       bool     `json:"tls"`
	AuthUser  string   `json:"auth_user,omitempty"`
	Delivered []string `json:"delivered_to"`
}

func detail(m *Message) Detail {
	p := parseParts(m.Raw)
	d := Detail{Summary: summarize(m), Headers: p.headers, Text: p.text, HTML: p.html, Attachments: p.attachments,
		Envelope: Envelope{MailFrom: m.MailFrom, Rcpt: m.Rcpt, Remote: m.Remote, Helo: m.Helo, TLS: m.TLS, AuthUser: m.AuthUser, Delivered: m.Delivered},
		Auth:     m.Auth, Analysis: m.Analysis, Reset: resetOf(m, p), Links: linksOf(m), Findings: m.Findings, Transcript: m.Transcript, StoredAs: m.StoredAs}
	for _, s := range []*[]Header{&d.Headers} {
		if *s == nil {
			*s = []Header{}
		}
	}
	if d.Attachments == nil {
		d.Attachments = []Attachment{}
	}
	if d.Findings == nil {
		d.Findings = []report.Finding{}
	}
	if d.Transcript == nil {
		d.Transcript = []TranscriptLine{}
	}
	return d
}

func (h *api) get(w http.ResponseWriter, r *http.Request) {
	if m := h.message(w, r); m != nil {
		writeJSON(w, http.StatusOK, detail(m))
	}
}

func (h *api) raw(w http.ResponseWriter, r *http.Request) {
	m := h.message(w, r)
	if m == nil {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if r.URL.Query().Get("download") != "" {
		w.Header().Set("Content-Type", "message/rfc822")
		w.Header().Set("Content-Disposition", `attachment; filename="`+m.ID+`.eml"`)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(m.Raw)))
	_, _ = w.Write(m.Raw)
}

// Link is one link of a message.
type Link struct {
	URL   string `json:"url"`
	Host  string `json:"host"`
	HTTPS bool   `json:"https"`
	Valid bool   `json:"valid"`
	// Reset marks the link judged to be the reset link: the one carrying
	// the longest token, links whose path names a reset preferred.
	Reset bool `json:"reset"`
}

func linksOf(m *Message) []Link {
	out := []Link{}
	for _, l := range m.Analysis.Links {
		u, err := url.Parse(l)
		k := Link{URL: l, Reset: l == m.Analysis.ResetLink}
		if err == nil && u.Host != "" {
			k.Valid, k.Host, k.HTTPS = true, u.Hostname(), strings.EqualFold(u.Scheme, "https")
		}
		out = append(out, k)
	}
	return out
}

func (h *api) links(w http.ResponseWriter, r *http.Request) {
	if m := h.message(w, r); m != nil {
		writeJSON(w, http.StatusOK, map[string]any{"id": m.ID, "reset_link": m.Analysis.ResetLink, "links": linksOf(m)})
	}
}

// Reset is what an end-to-end test needs from a reset email.
type Reset struct {
	ID string `json:"id"`
	// Type is link or code.
	Type      string  `json:"type"`
	Link      string  `json:"link,omitempty"`
	Token     string  `json:"token,omitempty"`
	Code      string  `json:"code,omitempty"`
	TokenBits float64 `json:"token_bits"`
	// Strong: at least 128 bits (OWASP); an estimate from the alphabet,
	// an upper bound for a token that is not random.
	Strong bool `json:"strong"`
	HTTPS  bool `json:"https"`
	// ExpiryStated: the text says when the link expires; Expiry is the
	// sentence that says it.
	ExpiryStated bool   `json:"expiry_stated"`
	Expiry       string `json:"expiry,omitempty"`
	// LooksLikeReset: the subject or text is about a password reset or
	// a sign-in code (or capture runs with --expect reset).
	LooksLikeReset bool             `json:"looks_like_reset"`
	Findings       []report.Finding `json:"findings"`
}

var expirySentence = lazyre.New(`(?i)[^.!?\n]*\b(expire[sd]?|expiry|expiration|valid (?:for|until)|only (?:valid|works) for|within \d+ (?:minutes?|hours?))\b[^.!?\n]*[.!?]?`)

func resetOf(m *Message, p parts) *Reset {
	a := m.Analysis
	if a.ResetLink == "" && a.Code == "" {
		return nil
	}
	r := &Reset{ID: m.ID, TokenBits: a.TokenBits, Strong: a.TokenBits >= 128, ExpiryStated: a.ExpiryStated, LooksLikeReset: m.Kind == KindReset, Findings: []report.Finding{}}
	if a.ResetLink != "" {
		r.Type, r.Link, r.Token = "link", a.ResetLink, a.Token
		r.HTTPS = strings.HasPrefix(strings.ToLower(a.ResetLink), "https://")
	} else {
		r.Type, r.Code = "code", a.Code
	}
	for _, text := range []string{p.text, p.htmlText()} {
		if s := expirySentence.FindString(clip(text, textLimit)); s != "" {
			r.Expiry = strings.Join(strings.Fields(s), " ")
			break
		}
	}
	for _, f := range m.Findings {
		if strings.HasPrefix(f.Code, "reset.") {
			r.Findings = append(r.Findings, f)
		}
	}
	return r
}

func (h *api) reset(w http.ResponseWriter, r *http.Request) {
	m := h.message(w, r)
	if m == nil {
		return
	}
	if rs := resetOf(m, parseParts(m.Raw)); rs != nil {
		writeJSON(w, http.StatusOK, rs)
		return
	}
	fail(w, http.StatusNotFound, "no_reset", "message %s has no link with a token and no code (%d links)", m.ID, len(m.Analysis.Links))
}

// wait answers the newest message matching the filter, waiting for one
// to arrive: 200 with the message, or 408 (code "timeout") when none did
// within the timeout.
func (h *api) wait(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := h.filterFrom(q)
	if err != nil {
		fail(w, http.StatusBadRequest, "bad_query", "%v", err)
		return
	}
	timeout := defaultWait
	if s := q.Get("timeout"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			if n, nerr := strconv.Atoi(s); nerr == nil {
				d, err = time.Duration(n)*time.Second, nil
			}
		}
		if err != nil || d <= 0 || d > maxWait {
			fail(w, http.StatusBadRequest, "bad_query", "timeout=%q: want a duration such as 30s, at most %s", s, maxWait)
			return
		}
		timeout = d
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		all, changed := h.s.messages.newestFirst()
		for _, m := range all {
			if f.match(m) {
				writeJSON(w, http.StatusOK, detail(m))
				return
			}
		}
		select {
		case <-changed:
		case <-t.C:
			fail(w, http.StatusRequestTimeout, "timeout", "no message matching %s arrived within %s", f, timeout)
			return
		case <-r.Context().Done():
			return
		case <-h.s.closed:
			fail(w, http.StatusServiceUnavailable, "shutting_down", "capture is shutting down")
			return
		}
	}
}

// idsBody reads {"ids": [...]} (or Mailpit's {"IDs": [...]}); an empty
// body or list means every message.
func readIDs(r *http.Request) ([]string, error) {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	if err != nil {
		return nil, fmt.Errorf("request body: %v (at most %d bytes)", err, maxBodyBytes)
	}
	if strings.TrimSpace(string(b)) == "" {
		return nil, nil
	}
	var v struct {
		IDs     []string `json:"ids"`
		Mailpit []string `json:"IDs"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("request body: %v; want {\"ids\": [\"ID\", ...]}", err)
	}
	ids := append(v.IDs, v.Mailpit...)
	if len(ids) == 0 {
		return nil, nil
	}
	return ids, nil
}

func (h *api) deleteMany(w http.ResponseWriter, r *http.Request) {
	ids, err := readIDs(r)
	if err != nil {
		fail(w, http.StatusBadRequest, "bad_body", "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"deleted": h.s.Delete(ids)})
}

func (h *api) deleteOne(w http.ResponseWriter, r *http.Request) {
	if m := h.message(w, r); m != nil {
		h.s.Delete([]string{m.ID})
		w.WriteHeader(http.StatusNoContent)
	}
}

// FaultSpec is the faults as the API reads and writes them: the syntax of
// the flags.
type FaultSpec struct {
	RejectRcpt    string `json:"reject_rcpt"`
	TempFail      string `json:"tempfail"`
	Delay         string `json:"delay"`
	DropAfterData bool   `json:"drop_after_data"`
}

func faultSpec(f Faults) FaultSpec {
	var s FaultSpec
	if f.RejectRcpt != nil {
		s.RejectRcpt = faultText(f.RejectRcpt.Code, f.RejectRcpt.EnhancedCode, f.RejectRcpt.Message)
	}
	if f.TempFail != nil {
		s.TempFail = faultText(f.TempFail.Code, f.TempFail.EnhancedCode, f.TempFail.Message)
	}
	if f.Delay > 0 {
		s.Delay = f.Delay.String()
	}
	s.DropAfterData = f.DropAfterData
	return s
}

func faultText(code int, e [3]int, msg string) string {
	return fmt.Sprintf("%d:%d.%d.%d:%s", code, e[0], e[1], e[2], msg)
}

// MaxDelay bounds the delay fault.
const MaxDelay = 10 * time.Minute

// ParseFaults reads a FaultSpec into Faults.
func ParseFaults(s FaultSpec) (Faults, error) {
	var f Faults
	var err error
	if s.RejectRcpt != "" {
		if f.RejectRcpt, err = ParseFault(s.RejectRcpt); err != nil {
			return f, fmt.Errorf("reject_rcpt: %v", err)
		}
	}
	if s.TempFail != "" {
		if f.TempFail, err = ParseFault(s.TempFail); err != nil {
			return f, fmt.Errorf("tempfail: %v", err)
		}
	}
	if s.Delay != "" {
		if f.Delay, err = time.ParseDuration(s.Delay); err != nil || f.Delay < 0 || f.Delay > MaxDelay {
			return f, fmt.Errorf("delay %q: want a duration from 0s to %s", s.Delay, MaxDelay)
		}
	}
	f.DropAfterData = s.DropAfterData
	return f, nil
}

func (h *api) getFaults(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, faultSpec(h.s.Faults()))
}

func (h *api) setFaults(w http.ResponseWriter, r *http.Request) {
	var s FaultSpec
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		fail(w, http.StatusBadRequest, "bad_body", "request body: %v; want {\"reject_rcpt\": \"550:5.1.1\", \"tempfail\": \"\", \"delay\": \"2s\", \"drop_after_data\": false}", err)
		return
	}
	f, err := ParseFaults(s)
	if err != nil {
		fail(w, http.StatusBadRequest, "bad_fault", "%v", err)
		return
	}
	h.s.SetFaults(f)
	writeJSON(w, http.StatusOK, faultSpec(f))
}

func (h *api) clearFaults(w http.ResponseWriter, r *http.Request) {
	h.s.SetFaults(Faults{})
	writeJSON(w, http.StatusOK, faultSpec(Faults{}))
}

// release sends a captured message on through mailprobe's own SMTP
// sending path (the one behind `smtp send`) and answers its report.
func (h *api) release(w http.ResponseWriter, r *http.Request) {
	m := h.message(w, r)
	if m == nil {
		return
	}
	if h.o.Release == nil {
		fail(w, http.StatusConflict, "release_not_configured", "release needs a server: start capture with --release-smtp HOST:PORT")
		return
	}
	var body struct {
		From string   `json:"from"`
		To   []string `json:"to"`
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err == nil && strings.TrimSpace(string(b)) != "" {
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		err = dec.Decode(&body)
	}
	if err != nil {
		fail(w, http.StatusBadRequest, "bad_body", "request body: %v; want {\"to\": [\"addr\"], \"from\": \"addr\"} or nothing", err)
		return
	}
	from, to := m.MailFrom, m.Rcpt
	if body.From != "" {
		from = body.From
	}
	if len(body.To) > 0 {
		to = body.To
	}
	// Envelope addresses are bare (no display name); the sender may be
	// empty, as a bounce's is (RFC 5321 §4.5.5).
	bare := func(a string) bool {
		p, err := mail.ParseAddress(a)
		return err == nil && p.Address == a
	}
	if from != "" && !bare(from) {
		fail(w, http.StatusBadRequest, "bad_address", "sender %q: want a bare address such as app@example.org", from)
		return
	}
	for _, a := range to {
		if !bare(a) {
			fail(w, http.StatusBadRequest, "bad_address", "recipient %q: want a bare address such as alice@example.org", a)
			return
		}
	}
	if len(to) == 0 {
		fail(w, http.StatusBadRequest, "bad_address", "no recipient")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), releaseTimeout)
	defer cancel()
	rep, err := h.o.Release(ctx, bodyAfterTrace(m.Raw), from, to)
	if err != nil {
		fail(w, http.StatusBadRequest, "release_failed", "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": m.ID, "target": h.o.ReleaseTarget, "sent": rep.Has("smtp.data.queued"), "report": rep})
}

// events is a Server-Sent Events stream: "message" with a Summary for
// each new message (id: its seq, so a reconnecting client given
// Last-Event-ID or ?after=SEQ misses nothing), "deleted" when messages
// were deleted (reload the list).
func (h *api) events(w http.ResponseWriter, r *http.Request) {
	after := -1
	for _, s := range []string{r.Header.Get("Last-Event-ID"), r.URL.Query().Get("after")} {
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			fail(w, http.StatusBadRequest, "bad_query", "after=%q: want the seq of the last message seen", s)
			return
		}
		after = n
	}
	if after < 0 {
		if m := h.s.messages.latest(); m != nil {
			after = m.Seq
		} else {
			after = 0
		}
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	deletes := h.s.Stats().deletes
	write := func(format string, args ...any) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(": mailprobe capture events\nretry: 2000\n\n") {
		return
	}
	beat := time.NewTicker(sseHeartbeat)
	defer beat.Stop()
	for {
		all, changed := h.s.messages.newestFirst()
		for i := len(all) - 1; i >= 0; i-- {
			m := all[i]
			if m.Seq <= after {
				continue
			}
			b, _ := json.Marshal(summarize(m))
			if !write("id: %d\nevent: message\ndata: %s\n\n", m.Seq, b) {
				return
			}
			after = m.Seq
		}
		if st := h.s.Stats(); st.deletes != deletes {
			deletes = st.deletes
			if !write("event: deleted\ndata: {\"messages\": %d}\n\n", st.Messages) {
				return
			}
		}
		select {
		case <-changed:
		case <-beat.C:
			if !write(": keep-alive\n\n") {
				return
			}
		case <-r.Context().Done():
			return
		case <-h.s.closed:
			return
		}
	}
}

// Mailpit's message (its API v1 "Message" object), the fields test
// helpers read.
type mailpitAddress struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

func mailpitAddrs(v string) []mailpitAddress {
	out := []mailpitAddress{}
	if v == "" {
		return out
	}
	l, err := mail.ParseAddressList(v)
	if err != nil {
		return append(out, mailpitAddress{Address: v})
	}
	for _, a := range l {
		out = append(out, mailpitAddress{Name: a.Name, Address: a.Address})
	}
	return out
}

func headerValue(hs []Header, name string) string {
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

func (h *api) mailpitGet(w http.ResponseWriter, r *http.Request) {
	m := h.message(w, r)
	if m == nil {
		return
	}
	p := parseParts(m.Raw)
	from := mailpitAddrs(headerValue(p.headers, "From"))
	var fromOne any = mailpitAddress{}
	if len(from) > 0 {
		fromOne = from[0]
	}
	type mpAttachment struct {
		PartID      string `json:"PartID"`
		FileName    string `json:"FileName"`
		ContentType string `json:"ContentType"`
		ContentID   string `json:"ContentID"`
		Size        int    `json:"Size"`
	}
	inline, att := []mpAttachment{}, []mpAttachment{}
	for _, a := range p.attachments {
		x := mpAttachment{a.Part, a.Filename, a.ContentType, a.ContentID, a.Size}
		if a.Inline {
			inline = append(inline, x)
		} else {
			att = append(att, x)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"ID": m.ID, "MessageID": strings.Trim(headerValue(p.headers, "Message-Id"), "<>"),
		"From": fromOne, "To": mailpitAddrs(headerValue(p.headers, "To")), "Cc": mailpitAddrs(headerValue(p.headers, "Cc")),
		"Bcc": []mailpitAddress{}, "ReplyTo": mailpitAddrs(headerValue(p.headers, "Reply-To")), "ReturnPath": m.MailFrom,
		"Subject": m.Analysis.Subject, "Date": m.Received, "Tags": []string{}, "Text": p.text, "HTML": p.html,
		"Size": m.Size, "Inline": inline, "Attachments": att,
	})
}

func (h *api) mailpitHeaders(w http.ResponseWriter, r *http.Request) {
	m := h.message(w, r)
	if m == nil {
		return
	}
	out := map[string][]string{}
	for _, hd := range parseParts(m.Raw).headers {
		out[hd.Name] = append(out[hd.Name], hd.Value)
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *api) mailpitSearch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("query") == "" {
		fail(w, http.StatusBadRequest, "bad_query", "query is empty; e.g. query=to:alice@example.org subject:reset")
		return
	}
	f := mergeQuery(filter{}, q.Get("query"))
	res, hit, err := h.page(r, f)
	if err != nil {
		fail(w, http.StatusBadRequest, "bad_query", "%v", err)
		return
	}
	msgs := []map[string]any{}
	for i, m := range hit {
		s := res.Messages[i]
		ix := m.index()
		from := mailpitAddrs(ix.fromRaw)
		var fromOne any = mailpitAddress{}
		if len(from) > 0 {
			fromOne = from[0]
		}
		msgs = append(msgs, map[string]any{"ID": m.ID, "MessageID": ix.messageID, "Read": false, "From": fromOne,
			"To": mailpitAddrs(ix.toRaw), "Cc": []mailpitAddress{}, "Bcc": []mailpitAddress{}, "ReplyTo": []mailpitAddress{},
			"Subject": s.Subject, "Created": m.Received, "Tags": []string{}, "Size": m.Size, "Attachments": s.Attachments, "Snippet": s.Snippet})
	}
	writeJSON(w, http.StatusOK, map[string]any{"total": res.Total, "unread": 0, "count": len(msgs), "messages_count": h.s.Stats().Messages,
		"start": res.Start, "tags": []string{}, "messages": msgs})
}

func (h *api) mailpitDeleteSearch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("query")
	if q == "" {
		fail(w, http.StatusBadRequest, "bad_query", "query is empty")
		return
	}
	f := mergeQuery(filter{}, q)
	all, _ := h.s.messages.newestFirst()
	var ids []string
	for _, m := range all {
		if f.match(m) {
			ids = append(ids, m.ID)
		}
	}
	n := 0
	if len(ids) > 0 {
		n = h.s.Delete(ids)
	}
	writeJSON(w, http.StatusOK, map[string]int{"deleted": n})
}
