package capture

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/smtpprobe"
)

// apiServer is a capture server with its HTTP side on a loopback port.
func apiServer(t *testing.T, o Options, ho HTTPOptions) (*Server, string) {
	t.Helper()
	s := start(t, o)
	hs := httptest.NewServer(s.Handler(ho))
	t.Cleanup(hs.Close)
	return s, hs.URL
}

type resp struct {
	code int
	hdr  http.Header
	body []byte
}

func do(t *testing.T, method, url, body string, hdr ...string) resp {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("not JSON (%d): %v\n%s", r.code, err, r.body)
	}
}

// wantErr checks a JSON error answer: the status and the stable code.
func (r resp) wantErr(t *testing.T, status int, code string) {
	t.Helper()
	var e apiError
	if r.code != status {
		t.Fatalf("status %d, want %d: %s", r.code, status, r.body)
	}
	r.json(t, &e)
	if e.Code != code || e.Error == "" {
		t.Errorf("error %+v, want code %s", e, code)
	}
	if !strings.HasPrefix(r.hdr.Get("Content-Type"), "application/json") {
		t.Errorf("Content-Type %q", r.hdr.Get("Content-Type"))
	}
}

func msgText(subject, to, body string) string {
	return "From: App <no-reply@app.example>\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nDate: Mon, 1 Dec 2026 10:00:00 +0000\r\nMessage-ID: <" + subject[:3] + "@app.example>\r\n\r\n" + body + "\r\n"
}

func sendTo(t *testing.T, s *Server, rcpt, msg string) {
	t.Helper()
	c, err := smtp.Dial(s.SMTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("no-reply@app.example", []string{rcpt}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
}

func TestAPI_listPagingAndSearch(t *testing.T) {
	s, base := apiServer(t, Options{}, HTTPOptions{})
	for i := 1; i <= 5; i++ {
		sendTo(t, s, fmt.Sprintf("user%d@example.org", i), msgText(fmt.Sprintf("Newsletter %d", i), fmt.Sprintf("user%d@example.org", i), fmt.Sprintf("Issue number %d.", i)))
	}
	var l ListResult
	r := do(t, "GET", base+"/api/v1/messages?limit=2", "")
	r.json(t, &l)
	if r.code != 200 || l.Total != 5 || l.Count != 2 || l.Messages[0].Seq != 5 || l.Messages[1].Seq != 4 {
		t.Fatalf("first page %d: %+v", r.code, l)
	}
	do(t, "GET", base+"/api/v1/messages?limit=2&start=4", "").json(t, &l)
	if l.Count != 1 || l.Messages[0].Seq != 1 || l.Start != 4 {
		t.Errorf("last page %+v", l)
	}
	do(t, "GET", base+"/api/v1/messages?start=10", "").json(t, &l)
	if l.Count != 0 || l.Total != 5 || l.Messages == nil {
		t.Errorf("past the end %+v", l)
	}
	for q, want := range map[string]int{"to=user3@": 3, "subject=newsletter+2": 2, "text=number+4": 4, "from=no-reply&to=USER5": 5, "q=to:user1%40example.org": 1, "q=subject:%22Newsletter+3%22": 3} {
		do(t, "GET", base+"/api/v1/messages?"+q, "").json(t, &l)
		if l.Total != 1 || l.Messages[0].Seq != want {
			t.Errorf("%s: %+v", q, l)
		}
	}
	for _, q := range []string{"limit=0", "limit=1001", "start=-1", "limit=abc", "to=a&to=b", "since=nonsense"} {
		do(t, "GET", base+"/api/v1/messages?"+q, "").wantErr(t, 400, "bad_query")
	}
}

func TestAPI_getRawLinksReset(t *testing.T) {
	s, base := apiServer(t, Options{}, HTTPOptions{})
	reset := "From: App <no-reply@app.example>\r\nTo: alice@example.org\r\nSubject: Reset your password\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: multipart/alternative; boundary=b2\r\n\r\n" +
		"--b2\r\nContent-Type: text/plain\r\n\r\nReset: https://app.example/reset?token=Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eA\r\nThis link expires in 30 minutes.\r\nHelp: http://app.example/help\r\n" +
		"--b2\r\nContent-Type: text/html\r\n\r\n<p>Reset <a href=\"https://app.example/reset?token=Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eA\">here</a></p>\r\n--b2--\r\n" +
		"--b1\r\nContent-Type: application/pdf; name=\"terms.pdf\"\r\nContent-Disposition: attachment; filename=\"terms.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n"
	sendTo(t, s, "alice@example.org", reset)
	sendTo(t, s, "bob@example.org", msgText("Welcome", "bob@example.org", "Hello, see https://app.example/start"))
	ms := s.Messages()
	id, other := ms[0].ID, ms[1].ID

	var d Detail
	r := do(t, "GET", base+"/api/v1/messages/"+id, "")
	r.json(t, &d)
	if r.code != 200 || d.ID != id || d.Subject != "Reset your password" || !strings.Contains(d.Text, "expires in 30 minutes") || !strings.Contains(d.HTML, "<a href=") {
		t.Fatalf("get %d: %+v", r.code, d)
	}
	if len(d.Attachments) != 1 || d.Attachments[0].Filename != "terms.pdf" || d.Attachments[0].Size != 9 {
		t.Errorf("attachments %+v", d.Attachments)
	}
	if d.Envelope.MailFrom != "no-reply@app.example" || d.Envelope.Rcpt[0] != "alice@example.org" || len(d.Transcript) == 0 || d.Kind != KindReset {
		t.Errorf("envelope %+v kind %s transcript %d", d.Envelope, d.Kind, len(d.Transcript))
	}
	if headerValue(d.Headers, "Subject") != "Reset your password" || d.Headers[0].Name != "Authentication-Results" {
		t.Errorf("headers %+v", d.Headers)
	}
	if d.Reset == nil || d.Reset.Link == "" || !d.Reset.Strong {
		t.Errorf("reset in detail: %+v", d.Reset)
	}
	do(t, "GET", base+"/api/v1/messages/NOSUCHID", "").wantErr(t, 404, "not_found")
	do(t, "GET", base+"/api/v1/messages/latest", "").json(t, &d)
	if d.ID != other {
		t.Errorf("latest is %s, want %s", d.ID, other)
	}

	r = do(t, "GET", base+"/api/v1/messages/"+id+"/raw", "")
	if r.code != 200 || string(r.body) != string(ms[0].Raw) || !strings.HasPrefix(r.hdr.Get("Content-Type"), "text/plain") {
		t.Errorf("raw %d %q", r.code, r.hdr)
	}
	r = do(t, "GET", base+"/api/v1/messages/"+id+"/raw?download=1", "")
	if r.hdr.Get("Content-Type") != "message/rfc822" || !strings.Contains(r.hdr.Get("Content-Disposition"), id+".eml") {
		t.Errorf("download %q", r.hdr)
	}

	var links struct {
		ResetLink string `json:"reset_link"`
		Links     []Link `json:"links"`
	}
	do(t, "GET", base+"/api/v1/messages/"+id+"/links", "").json(t, &links)
	marked := 0
	for _, l := range links.Links {
		if l.Reset {
			marked++
			if l.URL != links.ResetLink || !l.HTTPS {
				t.Errorf("reset link %+v", l)
			}
		}
		if strings.HasPrefix(l.URL, "http://") && l.HTTPS {
			t.Errorf("http link marked https: %+v", l)
		}
	}
	if len(links.Links) != 2 || marked != 1 {
		t.Errorf("links %+v", links)
	}

	var rs Reset
	do(t, "GET", base+"/api/v1/messages/"+id+"/reset", "").json(t, &rs)
	if rs.Type != "link" || rs.Token != "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eA" || rs.TokenBits < 128 || !rs.HTTPS || !rs.ExpiryStated || rs.Expiry != "This link expires in 30 minutes." || !rs.LooksLikeReset {
		t.Errorf("reset %+v", rs)
	}
	do(t, "GET", base+"/api/v1/messages/"+other+"/reset", "").wantErr(t, 404, "no_reset")
	do(t, "GET", base+"/api/v1/messages/NOSUCHID/links", "").wantErr(t, 404, "not_found")
}

func TestAPI_wait(t *testing.T) {
	s, base := apiServer(t, Options{}, HTTPOptions{})
	// Nothing there: the bounded wait ends in 408 with a JSON error.
	do(t, "GET", base+"/api/v1/messages/wait?to=alice@example.org&timeout=50ms", "").wantErr(t, 408, "timeout")
	for _, q := range []string{"timeout=0s", "timeout=6m", "timeout=soon", "timeout=-1s", "since=NOSUCH"} {
		do(t, "GET", base+"/api/v1/messages/wait?"+q, "").wantErr(t, 400, "bad_query")
	}
	sendTo(t, s, "alice@example.org", msgText("Reset your password", "alice@example.org", "https://app.example/r?t=Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eA"))
	first := s.Messages()[0].ID
	// A message already there answers at once (seconds as a plain number).
	var d Detail
	r := do(t, "GET", base+"/api/v1/messages/wait?to=alice@example.org&subject=reset&timeout=5", "")
	r.json(t, &d)
	if r.code != 200 || d.ID != first || d.Reset == nil {
		t.Fatalf("wait %d: %+v", r.code, d)
	}
	// since=ID: only a message after it; it arrives while the call waits
	// (or before it starts: the answer is the same).
	done := make(chan resp, 1)
	go func() {
		done <- do(t, "GET", base+"/api/v1/messages/wait?to=alice@example.org&since="+first+"&timeout=30s", "")
	}()
	sendTo(t, s, "bob@example.org", msgText("Other", "bob@example.org", "not for alice"))
	sendTo(t, s, "alice@example.org", msgText("Second reset", "alice@example.org", "again"))
	r = <-done
	r.json(t, &d)
	if r.code != 200 || d.Subject != "Second reset" {
		t.Errorf("wait since: %d %s", r.code, d.Subject)
	}
	// Closing the server ends a wait.
	go func() { done <- do(t, "GET", base+"/api/v1/messages/wait?to=nobody@&timeout=1m", "") }()
	s.Close()
	if r := <-done; r.code != 503 && r.code != 408 {
		t.Errorf("wait across Close: %d %s", r.code, r.body)
	}
}

func TestAPI_delete(t *testing.T) {
	s, base := apiServer(t, Options{}, HTTPOptions{})
	for i := 0; i < 4; i++ {
		sendTo(t, s, "u@example.org", msgText(fmt.Sprintf("Msg %d", i), "u@example.org", "x"))
	}
	ms := s.Messages()
	if r := do(t, "DELETE", base+"/api/v1/messages/"+ms[0].ID, ""); r.code != 204 {
		t.Errorf("delete one: %d", r.code)
	}
	do(t, "DELETE", base+"/api/v1/messages/"+ms[0].ID, "").wantErr(t, 404, "not_found")
	var n map[string]int
	do(t, "DELETE", base+"/api/v1/messages", `{"ids": ["`+ms[1].ID+`", "NOSUCH"]}`).json(t, &n)
	if n["deleted"] != 1 {
		t.Errorf("delete by ids: %v", n)
	}
	do(t, "DELETE", base+"/api/v1/messages", `{"IDs": "not a list"}`).wantErr(t, 400, "bad_body")
	do(t, "DELETE", base+"/api/v1/messages", `{"nope": 1}`).wantErr(t, 400, "bad_body")
	do(t, "DELETE", base+"/api/v1/messages", strings.Repeat(" ", maxBodyBytes+10)+"{}").wantErr(t, 400, "bad_body")
	do(t, "DELETE", base+"/api/v1/messages", "").json(t, &n)
	if n["deleted"] != 2 || len(s.Messages()) != 0 {
		t.Errorf("delete all: %v, left %d", n, len(s.Messages()))
	}
}

func TestAPI_faults(t *testing.T) {
	s, base := apiServer(t, Options{}, HTTPOptions{})
	var f FaultSpec
	do(t, "GET", base+"/api/v1/faults", "").json(t, &f)
	if f != (FaultSpec{}) {
		t.Errorf("default faults %+v", f)
	}
	r := do(t, "POST", base+"/api/v1/faults", `{"reject_rcpt": "550:5.1.1:No such user"}`, "Content-Type", "application/json")
	r.json(t, &f)
	if r.code != 200 || f.RejectRcpt != "550:5.1.1:No such user" {
		t.Fatalf("set %d %+v", r.code, f)
	}
	c, err := smtp.Dial(s.SMTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.SendMail("a@app.example", []string{"u@example.org"}, strings.NewReader(msgText("Hi there", "u@example.org", "x")))
	var se *smtp.SMTPError
	if !errorsAs(err, &se) || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 1, 1}) {
		t.Errorf("RCPT with the fault set: %v", err)
	}
	do(t, "POST", base+"/api/v1/faults", `{"tempfail": "250"}`).wantErr(t, 400, "bad_fault")
	do(t, "POST", base+"/api/v1/faults", `{"delay": "11m"}`).wantErr(t, 400, "bad_fault")
	do(t, "POST", base+"/api/v1/faults", `{"delay": 5}`).wantErr(t, 400, "bad_body")
	do(t, "POST", base+"/api/v1/faults", `{"reject": "550"}`).wantErr(t, 400, "bad_body")
	do(t, "POST", base+"/api/v1/faults", `{`).wantErr(t, 400, "bad_body")
	if got := s.Faults(); got.RejectRcpt == nil {
		t.Error("a bad request changed the faults")
	}
	do(t, "DELETE", base+"/api/v1/faults", "").json(t, &f)
	if f != (FaultSpec{}) || s.Faults().RejectRcpt != nil {
		t.Errorf("cleared %+v", f)
	}
	// drop_after_data and delay reach the SMTP side.
	do(t, "POST", base+"/api/v1/faults", `{"delay": "1ms", "drop_after_data": true}`).json(t, &f)
	if got := s.Faults(); got.Delay != time.Millisecond || !got.DropAfterData {
		t.Errorf("faults %+v", got)
	}
}

// release sends through the injected sending path; here the real one
// (smtpprobe, as `smtp send`) to a second capture server.
func TestAPI_release(t *testing.T) {
	s, base := apiServer(t, Options{}, HTTPOptions{})
	sendTo(t, s, "u@example.org", msgText("Reset your password", "u@example.org", "x"))
	id := s.Messages()[0].ID
	do(t, "POST", base+"/api/v1/messages/"+id+"/release", "").wantErr(t, 409, "release_not_configured")

	target := start(t, Options{})
	host, port, _ := net.SplitHostPort(target.SMTPAddr())
	var portN int
	fmt.Sscan(port, &portN)
	ho := HTTPOptions{ReleaseTarget: target.SMTPAddr(), Release: func(ctx context.Context, raw []byte, from string, to []string) (*report.Report, error) {
		return smtpprobe.Check(ctx, smtpprobe.Options{Host: host, Port: portN, RootCAs: target.CertPool(), ServerName: "localhost", MailFrom: from, RcptTo: to, Message: raw, AllowNoTLS: true})
	}}
	hs := httptest.NewServer(s.Handler(ho))
	defer hs.Close()
	var out struct {
		Sent   bool           `json:"sent"`
		Target string         `json:"target"`
		Report map[string]any `json:"report"`
	}
	r := do(t, "POST", hs.URL+"/api/v1/messages/"+id+"/release", `{"to": ["carol@example.net"]}`)
	r.json(t, &out)
	if r.code != 200 || !out.Sent || out.Target != target.SMTPAddr() || out.Report == nil {
		t.Fatalf("release %d: %s", r.code, r.body)
	}
	got := target.Messages()
	if len(got) != 1 || got[0].Rcpt[0] != "carol@example.net" || got[0].Analysis.Subject != "Reset your password" {
		t.Fatalf("target got %+v", got)
	}
	if strings.Count(string(got[0].Raw), "(mailprobe capture)") != 1 {
		t.Error("the released message carries the first capture's trace headers")
	}
	do(t, "POST", hs.URL+"/api/v1/messages/"+id+"/release", `{"to": ["not an address"]}`).wantErr(t, 400, "bad_address")
	do(t, "POST", hs.URL+"/api/v1/messages/"+id+"/release", `{"to": ["Carol <carol@example.net>"]}`).wantErr(t, 400, "bad_address")
	do(t, "POST", hs.URL+"/api/v1/messages/"+id+"/release", `{"from": "x y", "to": ["carol@example.net"]}`).wantErr(t, 400, "bad_address")
	do(t, "POST", hs.URL+"/api/v1/messages/"+id+"/release", `{"cc": []}`).wantErr(t, 400, "bad_body")
	do(t, "POST", hs.URL+"/api/v1/messages/NOSUCH/release", "").wantErr(t, 404, "not_found")
}

func TestAPI_events(t *testing.T) {
	s, base := apiServer(t, Options{}, HTTPOptions{})
	sendTo(t, s, "u@example.org", msgText("First one", "u@example.org", "x"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/events?after=0", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	br := bufio.NewReader(res.Body)
	next := func() (event, data, id string) {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("stream ended: %v", err)
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case strings.HasPrefix(line, "event: "):
				event = line[7:]
			case strings.HasPrefix(line, "data: "):
				data = line[6:]
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case line == "" && event != "":
				return
			}
		}
	}
	ev, data, id := next()
	var sum Summary
	if err := json.Unmarshal([]byte(data), &sum); err != nil || ev != "message" || id != "1" || sum.Subject != "First one" {
		t.Fatalf("first event %s %s %s", ev, id, data)
	}
	sendTo(t, s, "u@example.org", msgText("Second one", "u@example.org", "x"))
	ev, data, id = next()
	if ev != "message" || id != "2" || !strings.Contains(data, `"Second one"`) {
		t.Errorf("second event %s %s %s", ev, id, data)
	}
	s.Delete(nil)
	if ev, data, _ = next(); ev != "deleted" || !strings.Contains(data, `"messages": 0`) {
		t.Errorf("delete event %s %s", ev, data)
	}
	do(t, "GET", base+"/api/v1/events?after=x", "").wantErr(t, 400, "bad_query")
}

func TestAPI_mailpitPaths(t *testing.T) {
	s, base := apiServer(t, Options{}, HTTPOptions{})
	sendTo(t, s, "alice@example.org", msgText("Reset your password", "Alice <alice@example.org>", "https://app.example/r?t=Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eA"))
	sendTo(t, s, "bob@example.org", msgText("Welcome", "bob@example.org", "hi"))
	var m struct {
		ID, MessageID, Subject, Text string
		From                         mailpitAddress
		To                           []mailpitAddress
	}
	do(t, "GET", base+"/api/v1/message/latest", "").json(t, &m)
	if m.Subject != "Welcome" || m.From.Address != "no-reply@app.example" || m.To[0].Address != "bob@example.org" || m.MessageID != "Wel@app.example" {
		t.Errorf("mailpit message %+v", m)
	}
	var sr struct {
		Total    int `json:"total"`
		Messages []struct {
			ID      string
			Subject string
			To      []mailpitAddress
		} `json:"messages"`
	}
	do(t, "GET", base+"/api/v1/search?query=to:alice@example.org", "").json(t, &sr)
	if sr.Total != 1 || sr.Messages[0].Subject != "Reset your password" || sr.Messages[0].To[0].Name != "Alice" {
		t.Fatalf("search %+v", sr)
	}
	var h map[string][]string
	do(t, "GET", base+"/api/v1/message/"+sr.Messages[0].ID+"/headers", "").json(t, &h)
	if h["Subject"][0] != "Reset your password" {
		t.Errorf("headers %v", h)
	}
	if r := do(t, "GET", base+"/api/v1/message/"+sr.Messages[0].ID+"/raw", ""); !strings.Contains(string(r.body), "Subject: Reset your password") {
		t.Errorf("raw %s", r.body)
	}
	do(t, "GET", base+"/api/v1/search", "").wantErr(t, 400, "bad_query")
	var n map[string]int
	do(t, "DELETE", base+"/api/v1/search?query=subject:welcome", "").json(t, &n)
	if n["deleted"] != 1 || len(s.Messages()) != 1 {
		t.Errorf("delete search %v", n)
	}
	do(t, "DELETE", base+"/api/v1/search", "").wantErr(t, 400, "bad_query")
	do(t, "GET", base+"/api/v1/message/NOSUCH", "").wantErr(t, 404, "not_found")
}

func TestAPI_guards(t *testing.T) {
	_, base := apiServer(t, Options{}, HTTPOptions{})
	do(t, "GET", base+"/api/v1/nothing", "").wantErr(t, 404, "no_route")
	r := do(t, "PUT", base+"/api/v1/faults", "{}")
	r.wantErr(t, 405, "method_not_allowed")
	if r.hdr.Get("Allow") != "GET, POST, DELETE" {
		t.Errorf("Allow %q", r.hdr.Get("Allow"))
	}
	do(t, "GET", base+"/api/v1/info", "", "Host", "evil.example:8025").wantErr(t, 403, "bad_host")
	do(t, "POST", base+"/api/v1/faults", `{"delay": "1s"}`, "Origin", "http://evil.example").wantErr(t, 403, "cross_origin")
	if r := do(t, "GET", base+"/api/v1/info", "", "Host", "localhost:8025"); r.code != 200 {
		t.Errorf("localhost Host: %d", r.code)
	}

	_, authed := apiServer(t, Options{}, HTTPOptions{User: "dev", Password: "long-enough-pw"})
	r = do(t, "GET", authed+"/api/v1/info", "")
	r.wantErr(t, 401, "unauthorized")
	if !strings.HasPrefix(r.hdr.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("WWW-Authenticate %q", r.hdr.Get("WWW-Authenticate"))
	}
	req, _ := http.NewRequest("GET", authed+"/", nil)
	req.SetBasicAuth("dev", "wrong")
	if res, _ := http.DefaultClient.Do(req); res.StatusCode != 401 {
		t.Errorf("wrong password: %d", res.StatusCode)
	}
	req.SetBasicAuth("dev", "long-enough-pw")
	req.Host = "mail-sink.internal:8025" // any Host once credentials are required
	if res, _ := http.DefaultClient.Do(req); res.StatusCode != 200 {
		t.Errorf("right password: %d", res.StatusCode)
	}
}

func TestStartHTTP_nonLoopbackNeedsCredentials(t *testing.T) {
	s := start(t, Options{})
	if _, err := s.StartHTTP(HTTPOptions{Addr: "0.0.0.0:0"}); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Errorf("0.0.0.0 without credentials: %v", err)
	}
	addr, err := s.StartHTTP(HTTPOptions{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if r := do(t, "GET", "http://"+addr+"/api/v1/info", ""); r.code != 200 {
		t.Errorf("info %d", r.code)
	}
	for addr, want := range map[string]bool{"127.0.0.1:1": true, "[::1]:1": true, "localhost:1": true, "0.0.0.0:1": false, ":8025": false, "192.0.2.1:1": false, "example.org:1": false, "nonsense": false} {
		if IsLoopback(addr) != want {
			t.Errorf("IsLoopback(%q) != %v", addr, want)
		}
	}
}

func TestWeb_pages(t *testing.T) {
	s, base := apiServer(t, Options{}, HTTPOptions{})
	html := "From: a@app.example\r\nTo: u@example.org\r\nSubject: Reset <b>now</b>\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n" +
		"<p id=marker>original</p><script>document.getElementById('marker').textContent='ran'</script><img src=\"https://tracker.example/p.png\"><a href=\"https://app.example/reset?token=Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eA\">Reset</a>\r\n"
	sendTo(t, s, "u@example.org", html)
	id := s.Messages()[0].ID
	r := do(t, "GET", base+"/", "")
	if r.code != 200 || !strings.Contains(string(r.body), "Reset &lt;b&gt;now&lt;/b&gt;") || !strings.Contains(r.hdr.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("list %d %s", r.code, r.body)
	}
	r = do(t, "GET", base+"/messages/"+id, "")
	page := string(r.body)
	if r.code != 200 || !strings.Contains(page, `sandbox="allow-popups allow-popups-to-escape-sandbox"`) || strings.Contains(page, "allow-scripts") || strings.Contains(page, "allow-same-origin") {
		t.Errorf("message page %d: iframe sandbox wrong", r.code)
	}
	if !strings.Contains(page, `id="reset-link" href="https://app.example/reset?token=`) || strings.Contains(page, "<script>document") {
		t.Error("message page: reset link missing or the email's script inlined")
	}
	r = do(t, "GET", base+"/messages/"+id+"/html", "")
	csp := r.hdr.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") || strings.Contains(csp, "https:") || !strings.Contains(csp, "sandbox") {
		t.Errorf("HTML CSP %q", csp)
	}
	if csp := do(t, "GET", base+"/messages/"+id+"/html?images=1", "").hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src data: https:") || strings.Contains(csp, "script-src") {
		t.Errorf("HTML CSP with images %q", csp)
	}
	if r := do(t, "GET", base+"/messages/NOSUCH", ""); r.code != 404 || !strings.Contains(string(r.body), "There is no message NOSUCH") {
		t.Errorf("unknown message page %d", r.code)
	}
	sendTo(t, s, "u@example.org", msgText("Weekly news", "u@example.org", "x"))
	if r := do(t, "GET", base+"/?q=subject:weekly", ""); !strings.Contains(string(r.body), "Weekly news") || strings.Contains(string(r.body), "Reset &lt;b&gt;") {
		t.Errorf("search in the view: %s", r.body)
	}
	if r := do(t, "GET", base+"/static/app.js", ""); r.code != 200 || !strings.HasPrefix(r.hdr.Get("Content-Type"), "text/javascript") {
		t.Errorf("app.js %d", r.code)
	}
	if r := do(t, "GET", base+"/static/nope.js", ""); r.code != 404 {
		t.Errorf("unknown static %d", r.code)
	}
	// The delete form works without script; the Go client follows the
	// 303 to the list.
	if r := do(t, "POST", base+"/messages/"+id+"/delete", ""); r.code != 200 || len(s.Messages()) != 1 {
		t.Errorf("delete form %d, %d left", r.code, len(s.Messages()))
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
