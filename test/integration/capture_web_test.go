//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// capture's web view in a real browser: Debian's chromium, headless,
// driven over the DevTools protocol (chromedp). A reset email sent with
// `mailprobe smtp send` appears in the open list without a reload; its
// page shows the HTML in the sandboxed iframe, where the email's script
// did not run and its remote image was not fetched, and the link list
// marks the reset link. A screenshot of each page goes to the test's
// artifact directory (go test -artifacts keeps it).

// browser starts headless chromium; it fails, not skips, when chromium
// is missing (env.sh installs it). The returned context has a deadline
// for the test's actions; the browser itself lives until cleanup.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (test/integration/env/env.sh installs Debian's chromium): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // as root in a container; the email's own sandbox is the iframe's
		chromedp.Flag("headless", true),
		chromedp.Flag("disable-gpu", true),
		// Keep the sandboxed iframe in the page's process, where the
		// DevTools DOM of the page reaches it.
		chromedp.Flag("disable-site-isolation-trials", true),
		chromedp.Flag("disable-features", "IsolateSandboxedIframes,site-per-process"),
		chromedp.WindowSize(1100, 1400),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelB := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	// The first Run starts the browser; it must not carry a deadline.
	if err := chromedp.Do(bctx); err != nil {
		cancelB()
		cancelA()
		t.Fatalf("starting chromium: %v", err)
	}
	ctx, cancelT := context.WithTimeout(bctx, 90*time.Second)
	t.Cleanup(func() { cancelT(); cancelB(); cancelA() })
	return ctx
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(90))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Error(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}

func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

func TestCaptureWeb_chromium(t *testing.T) {
	// A remote image in the email points here: the view must not fetch
	// it unless asked.
	var beacon atomic.Int32
	bs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		beacon.Add(1)
		w.Header().Set("Content-Type", "image/gif")
		_, _ = w.Write([]byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"))
	}))
	defer bs.Close()

	p := startCapture(t, "--http", "127.0.0.1:0")
	ctx := browser(t)

	// The list, live: the script says so once its event stream is open.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(p.web+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#live[data-state="open"]`)),
		// A reload would forget this.
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[int](`window.__notReloaded = 42`)(ctx, tg)
			return err
		}),
	); err != nil {
		t.Fatalf("list page: %v", err)
	}

	link := "https://app.example/reset?token=" + strings.ReplaceAll(Unique(t), "_", "-") + "Zm9vYmFyYmF6cXV4cXV1eA"
	eml := "From: App <no-reply@app.example>\r\nTo: alice@example.org\r\nSubject: Reset your password\r\n" +
		"Date: " + time.Now().Format(time.RFC1123Z) + "\r\nMessage-ID: <" + Unique(t) + "@app.example>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nReset your password: " + link + "\r\nThis link expires in 30 minutes.\r\n" +
		"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
		`<h1 id="greeting">Reset your password</h1><p id="marker">script did not run</p>` +
		`<script>document.getElementById("marker").textContent = "SCRIPT RAN"; parent.document.title = "PWNED";</script>` +
		`<p><a id="cta" href="` + link + `">Choose a new password</a></p><img id="remote" alt="remote image" src="` + bs.URL + `/pixel.gif">` +
		`<p id="end">This link expires in 30 minutes.</p>` + "\r\n--b--\r\n"
	emlFile := writeFile(t, "reset.eml", eml)
	Run(t, "smtp", "send", p.smtp, "--tls", "starttls", "--ca-file", p.ca, "--servername", "localhost",
		"--from", "no-reply@app.example", "--to", "alice@example.org", "--eml", emlFile).WantExit(t, 0)
	m := p.next(t, 10*time.Second)

	// The row appears without a reload.
	row := chromedp.Search(`//tbody[@id="rows"]/tr/td/span/a[contains(., "Reset your password")]`)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(row)); err != nil {
		t.Fatalf("the message did not appear in the live list: %v", err)
	}
	if n := must[int](t, "reading the marker")(chromedp.Run(ctx, chromedp.Evaluate[int](`window.__notReloaded`))); n != 42 {
		t.Errorf("the page was reloaded (marker %d)", n)
	}
	screenshot(t, ctx, "capture-list.png")

	// Open it. The page's load event waits for the iframe's, which waits
	// for its images: once the page is complete, the remote image has
	// been fetched or refused.
	if err := chromedp.Do(ctx,
		chromedp.Click(row),
		chromedp.WaitVisible(chromedp.CSS(`#html-frame`)),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[bool](`document.readyState === "complete"`, chromedp.WithPollingTimeout(20*time.Second))(ctx, tg)
			return err
		}),
	); err != nil {
		t.Fatalf("message page: %v", err)
	}
	sandbox := must[chromedp.AttributeResult](t, "iframe sandbox")(chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`#html-frame`), "sandbox")))
	iframes := must[[]*chromedp.Node](t, "iframe node")(chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS(`#html-frame`))))
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#end`), chromedp.FromNode(iframes[0]))); err != nil {
		t.Fatalf("the email's HTML did not render in the iframe: %v", err)
	}
	marker := must[string](t, "marker")(chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#marker`), chromedp.FromNode(iframes[0]))))
	resetHref := must[chromedp.AttributeResult](t, "reset link")(chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`#reset-link`), "href")))
	listHref := must[chromedp.AttributeResult](t, "link list")(chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`#link-list li.reset a`), "href")))
	// The image's URL is listed too; one link is marked.
	listed := must[int](t, "links")(chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#link-list li.reset").length`)))
	title := must[string](t, "title")(chromedp.Run(ctx, chromedp.Title()))
	screenshot(t, ctx, "capture-message.png")
	if !sandbox.Exists || strings.Contains(sandbox.Value, "allow-scripts") || strings.Contains(sandbox.Value, "allow-same-origin") {
		t.Errorf("iframe sandbox %+v", sandbox)
	}
	if marker != "script did not run" || strings.Contains(title, "PWNED") {
		t.Errorf("the email's script ran: marker %q, title %q", marker, title)
	}
	if resetHref.Value != link || listHref.Value != link || listed != 1 {
		t.Errorf("reset link %q, marked in the list %q (%d links), want %q", resetHref.Value, listHref.Value, listed, link)
	}
	if n := beacon.Load(); n != 0 {
		t.Errorf("the remote image was fetched %d times with images blocked", n)
	}

	// Asked for, the remote image loads (so the check above could fail).
	if err := chromedp.Do(ctx,
		chromedp.Navigate(p.web+"/messages/"+m.ID+"?images=1"),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[bool](`document.readyState === "complete"`, chromedp.WithPollingTimeout(20*time.Second))(ctx, tg)
			return err
		}),
	); err != nil {
		t.Fatalf("message page with images: %v", err)
	}
	if beacon.Load() == 0 {
		t.Error("the remote image was not fetched when asked for")
	}

	// At phone width nothing scrolls sideways; the first Tab reaches the
	// skip link.
	for _, page := range []string{"/", "/messages/" + m.ID} {
		if err := chromedp.Do(ctx,
			chromedp.EmulateViewport(375, 812),
			chromedp.Navigate(p.web+page),
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := chromedp.Poll[bool](`document.readyState === "complete"`, chromedp.WithPollingTimeout(20*time.Second))(ctx, tg)
				return err
			}),
		); err != nil {
			t.Fatalf("%s at phone width: %v", page, err)
		}
		width := must[string](t, "widths")(chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.scrollWidth + " " + window.innerWidth`)))
		if f := strings.Fields(width); len(f) != 2 || f[0] != f[1] {
			t.Errorf("%s at 375 px: page width %s (scrollWidth innerWidth): it scrolls sideways", page, width)
		}
	}
	screenshot(t, ctx, "capture-message-phone.png")
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
		t.Fatal(err)
	}
	if got := must[string](t, "focus")(chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.className + "|" + document.activeElement.textContent`))); got != "skip|Skip to content" {
		t.Errorf("first Tab focuses %q, want the skip link", got)
	}

	// The same message over the API, as an app's test reads it.
	res, err := http.Get(p.web + "/api/v1/messages/" + m.ID + "/reset")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var rs struct {
		Link   string `json:"link"`
		Strong bool   `json:"strong"`
		Expiry string `json:"expiry"`
	}
	if err := json.NewDecoder(res.Body).Decode(&rs); err != nil || rs.Link != link || !rs.Strong || rs.Expiry != "This link expires in 30 minutes." {
		t.Errorf("reset over the API: %v %+v", err, rs)
	}
}
