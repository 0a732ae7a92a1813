package capture

import (
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"sync"
)

// The web view: server-rendered pages (html/template) and one small
// script for the live list. The email's HTML is served on its own URL
// with a Content-Security-Policy that allows no script and no remote
// fetch (remote images only when asked), and shown in an iframe whose
// sandbox attribute has no allow-scripts and no allow-same-origin: the
// email cannot run code, read the view or call the API.

//go:embed web/*.html web/*.css web/*.js
var webFS embed.FS

// pages parses the view's templates on first use, not at the start of
// every mailprobe command.
var pages = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("").Funcs(template.FuncMap{
		"join":  strings.Join,
		"bytes": humanSize,
	}).ParseFS(webFS, "web/*.html"))
})

func humanSize(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// Content-Security-Policy of the view's pages and of an email's HTML.
const (
	pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
	// The sandbox directive repeats the iframe's: the HTML opened on its
	// own (not in the frame) is sandboxed too.
	mailCSP       = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; form-action 'none'; base-uri 'none'; frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox"
	mailCSPImages = "default-src 'none'; style-src 'unsafe-inline'; img-src data: https: http:; font-src data:; form-action 'none'; base-uri 'none'; frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox"
)

// maxRawShown bounds the raw source put into the message page.
const maxRawShown = 256 << 10

type pageData struct {
	Title      string
	Stats      StoreStats
	SMTP, IMAP string
	// list
	NotFound string
	Query    string
	After    int
	Messages []Summary
	// message
	M      Detail
	Raw    string
	Images bool
}

func (s *Server) webRoutes(mux *http.ServeMux, h *api) {
	mux.HandleFunc("GET /{$}", h.pageList)
	mux.HandleFunc("GET /messages/{id}", h.pageMessage)
	mux.HandleFunc("GET /messages/{id}/html", h.pageHTML)
	mux.HandleFunc("POST /messages/{id}/delete", h.pageDelete)
	mux.HandleFunc("POST /messages/delete", h.pageDeleteAll)
	mux.HandleFunc("GET /static/{file}", h.static)
}

func (h *api) render(w http.ResponseWriter, status int, name string, d pageData) {
	d.Stats, d.SMTP, d.IMAP = h.s.Stats(), h.s.SMTPAddr(), h.s.IMAPAddr()
	var b strings.Builder
	if err := pages().ExecuteTemplate(&b, name, d); err != nil {
		h.s.o.Logf("capture: web view %s: %v", name, err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", pageCSP)
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

func (h *api) pageList(w http.ResponseWriter, r *http.Request) {
	h.render(w, http.StatusOK, "list.html", h.listData(r, r.URL.Query().Get("q")))
}

// listData is the newest 200 messages matching q.
func (h *api) listData(r *http.Request, q string) pageData {
	f := mergeQuery(filter{}, q)
	all, _ := h.s.messages.newestFirst()
	d := pageData{Title: "Messages", Query: q, Messages: []Summary{}}
	if len(all) > 0 {
		d.After = all[0].Seq
	}
	for _, m := range all {
		if len(d.Messages) >= 200 {
			break
		}
		if f.match(m) {
			d.Messages = append(d.Messages, summarize(m))
		}
	}
	return d
}

func (h *api) pageMessage(w http.ResponseWriter, r *http.Request) {
	m := h.s.messages.get(r.PathValue("id"))
	if m == nil {
		d := h.listData(r, "")
		d.Title, d.NotFound = "Not found", r.PathValue("id")
		h.render(w, http.StatusNotFound, "list.html", d)
		return
	}
	raw := string(m.Raw)
	if len(raw) > maxRawShown {
		raw = raw[:maxRawShown] + "\n… (cut here: open the raw message for the rest)"
	}
	d := pageData{Title: m.Analysis.Subject, M: detail(m), Raw: raw, Images: r.URL.Query().Get("images") == "1"}
	if d.Title == "" {
		d.Title = "(no subject)"
	}
	h.render(w, http.StatusOK, "message.html", d)
}

// pageHTML serves the email's HTML part for the sandboxed iframe.
func (h *api) pageHTML(w http.ResponseWriter, r *http.Request) {
	m := h.s.messages.get(r.PathValue("id"))
	if m == nil {
		http.Error(w, "no such message", http.StatusNotFound)
		return
	}
	csp := mailCSP
	if r.URL.Query().Get("images") == "1" {
		csp = mailCSPImages
	}
	w.Header().Set("Content-Security-Policy", csp)
	w.Header().Set("X-Frame-Options", "SAMEORIGIN")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(parseParts(m.Raw).html))
}

func (h *api) pageDelete(w http.ResponseWriter, r *http.Request) {
	h.s.Delete([]string{r.PathValue("id")})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (h *api) pageDeleteAll(w http.ResponseWriter, r *http.Request) {
	h.s.Delete(nil)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (h *api) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	types := map[string]string{"style.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8"}
	ct, ok := types[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	b, err := webFS.ReadFile("web/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}
