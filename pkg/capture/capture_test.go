package capture

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	netsmtp "net/smtp"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

const resetMsg = "From: App <no-reply@app.example>\r\n" +
	"To: user@example.org\r\n" +
	"Subject: Reset your password\r\n" +
	"Message-ID: <t1@app.example>\r\n" +
	"\r\n" +
	"Open https://app.example/reset?token=Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eA within 30 minutes.\r\n" +
	"This link expires in 30 minutes.\r\n"

func start(t *testing.T, o Options) *Server {
	t.Helper()
	s, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func tlsConf(s *Server) *tls.Config {
	return &tls.Config{RootCAs: s.CertPool(), ServerName: "localhost"}
}

// send submits msg with STARTTLS and, when user is set, AUTH PLAIN.
func send(t *testing.T, s *Server, user, pass string, msg string) error {
	t.Helper()
	c, err := smtp.DialStartTLS(s.SMTPAddr(), tlsConf(s))
	if err != nil {
		return err
	}
	defer c.Close()
	if user != "" {
		if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
			return err
		}
	}
	return c.SendMail("no-reply@app.example", []string{"user@example.org"}, strings.NewReader(msg))
}

// fetchAll logs in over IMAP with STARTTLS and returns INBOX's messages.
func fetchAll(t *testing.T, s *Server, user, pass string) [][]byte {
	t.Helper()
	c, err := imapclient.DialStartTLS(s.IMAPAddr(), &imapclient.Options{TLSConfig: tlsConf(s)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatalf("IMAP login: %v", err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	msgs, err := c.Fetch(imap.SeqSetNum(seqRange(sel.NumMessages)...), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, m := range msgs {
		for _, b := range m.BodySection {
			out = append(out, b.Bytes)
		}
	}
	return out
}

func seqRange(n uint32) []uint32 {
	var s []uint32
	for i := uint32(1); i <= n; i++ {
		s = append(s, i)
	}
	return s
}

func TestCapture_acceptsAnyCredentialsAndServesOverIMAP(t *testing.T) {
	var got []Message
	s := start(t, Options{OnMessage: func(m Message) { got = append(got, m) }})
	if err := send(t, s, "anyone", "anything", resetMsg); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("OnMessage called %d times", len(got))
	}
	m := got[0]
	if !m.TLS || m.AuthUser != "anyone" || m.MailFrom != "no-reply@app.example" || len(m.Rcpt) != 1 {
		t.Errorf("message facts: %+v", m)
	}
	if m.Analysis.ResetLink == "" || m.Analysis.TokenBits < 128 || !m.Analysis.ExpiryStated {
		t.Errorf("analysis: %+v", m.Analysis)
	}
	msgs := fetchAll(t, s, "someone-else", "x")
	if len(msgs) != 1 {
		t.Fatalf("IMAP has %d messages, want 1", len(msgs))
	}
	raw := string(msgs[0])
	for _, want := range []string{"Authentication-Results: localhost;", "Received: from ", "with ESMTPSA id " + m.ID, "token=Zm9vYmFy"} {
		if !strings.Contains(raw, want) {
			t.Errorf("delivered message lacks %q:\n%s", want, raw)
		}
	}
}

func TestCapture_usersAreEnforced(t *testing.T) {
	s := start(t, Options{Users: map[string]string{"app": "s3cret"}, AuthNeedsTLS: true})
	// No AUTH: MAIL is refused.
	err := send(t, s, "", "", resetMsg)
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 530 {
		t.Fatalf("unauthenticated send: %v, want 530", err)
	}
	// Wrong password.
	err = send(t, s, "app", "wrong", resetMsg)
	if !errors.As(err, &se) || se.Code != 535 {
		t.Fatalf("wrong password: %v, want 535", err)
	}
	if err := send(t, s, "app", "s3cret", resetMsg); err != nil {
		t.Fatal(err)
	}
	// AUTH before STARTTLS is not offered.
	c, err := smtp.Dial(s.SMTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hello("test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH advertised before STARTTLS with AuthNeedsTLS")
	}
	c.Close()
	// IMAP: the same credentials.
	ic, err := imapclient.DialStartTLS(s.IMAPAddr(), &imapclient.Options{TLSConfig: tlsConf(s)})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login("app", "nope").Wait(); err == nil {
		t.Error("IMAP login with a wrong password succeeded")
	}
	if n := len(fetchAll(t, s, "app", "s3cret")); n != 1 {
		t.Errorf("IMAP has %d messages, want 1", n)
	}
}

func TestCapture_authLogin(t *testing.T) {
	s := start(t, Options{Users: map[string]string{"app": "pw"}})
	c, err := smtp.DialStartTLS(s.SMTPAddr(), tlsConf(s))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewLoginClient("app", "pw")); err != nil {
		t.Fatalf("AUTH LOGIN: %v", err)
	}
}

func TestCapture_faults(t *testing.T) {
	reject, err := ParseFault("550:5.1.1:No such user here")
	if err != nil {
		t.Fatal(err)
	}
	temp, _ := ParseFault("451:4.7.1")
	cases := []struct {
		name string
		o    Options
		want int // SMTP code, 0 for a dropped connection
	}{
		{"reject-rcpt", Options{RejectRcpt: reject}, 550},
		{"tempfail", Options{TempFail: temp}, 451},
		{"drop", Options{DropAfterData: true}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, tc.o)
			err := send(t, s, "", "", resetMsg)
			var se *smtp.SMTPError
			switch {
			case tc.want == 0:
				if err == nil || errors.As(err, &se) {
					t.Fatalf("got %v, want a connection error", err)
				}
			case !errors.As(err, &se) || se.Code != tc.want:
				t.Fatalf("got %v, want %d", err, tc.want)
			}
			if tc.name == "reject-rcpt" && (se.EnhancedCode != smtp.EnhancedCode{5, 1, 1} || se.Message != "No such user here") {
				t.Errorf("reply %+v", se)
			}
			if n := len(s.Messages()); n != 0 {
				t.Errorf("%d messages stored after a fault, want 0", n)
			}
		})
	}
}

func TestCapture_delay(t *testing.T) {
	s := start(t, Options{Delay: 300 * time.Millisecond})
	t0 := time.Now()
	if err := send(t, s, "", "", resetMsg); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < 300*time.Millisecond {
		t.Errorf("answered after %v, want ≥ 300ms", d)
	}
}

func TestCapture_storeWritesBeforeAck(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail")
	s := start(t, Options{StoreDir: dir})
	if err := send(t, s, "", "", resetMsg); err != nil {
		t.Fatal(err)
	}
	m := s.Messages()[0]
	b, err := os.ReadFile(m.StoredAs)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(b), resetMsg) || filepath.Dir(m.StoredAs) != dir {
		t.Errorf("stored %s:\n%s", m.StoredAs, b)
	}
}

// senderDNS serves the sender domains of the auth tests from a real DNS
// server on loopback, through mailprobe's resolver: the path a capture
// run with --resolver takes.
func senderDNS(t *testing.T, records ...string) resolver.Interface {
	t.Helper()
	z := dnstest.NewZone()
	if err := z.AddString(records...); err != nil {
		t.Fatal(err)
	}
	srv := dnstest.Start(t, z)
	r, err := resolver.New(resolver.Options{Server: srv.Addr, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCapture_dkimSPFAndDMARC(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	r := senderDNS(t,
		`s1._domainkey.app.example. 300 IN TXT "v=DKIM1; k=ed25519; p=`+base64.StdEncoding.EncodeToString(pub)+`"`,
		`app.example. 300 IN TXT "v=spf1 ip4:127.0.0.0/8 -all"`,
		`_dmarc.app.example. 300 IN TXT "v=DMARC1; p=reject"`,
	)
	var signed strings.Builder
	if err := dkim.Sign(&signed, strings.NewReader(resetMsg), &dkim.SignOptions{Domain: "app.example", Selector: "s1", Signer: priv}); err != nil {
		t.Fatal(err)
	}
	s := start(t, Options{Resolver: r, CheckSPF: true})
	if err := send(t, s, "", "", signed.String()); err != nil {
		t.Fatal(err)
	}
	// A signature broken in transit: the body changed after signing.
	tampered := strings.Replace(signed.String(), "30 minutes.", "3 days.", 1)
	if err := send(t, s, "", "", tampered); err != nil {
		t.Fatal(err)
	}
	ms := s.Messages()
	good, bad := ms[0].Auth, ms[1].Auth
	if len(good.DKIM) != 1 || good.DKIM[0].Result != "pass" || good.DKIM[0].Selector != "s1" || good.SPF != "pass" || good.DMARC != "pass" {
		t.Errorf("signed message: %+v", good)
	}
	if len(bad.DKIM) != 1 || bad.DKIM[0].Result != "fail" || bad.DMARC != "pass" /* SPF still aligned */ {
		t.Errorf("tampered message: %+v", bad)
	}
	if !strings.Contains(string(ms[0].Raw), "dkim=pass header.d=app.example header.s=s1") {
		t.Errorf("Authentication-Results:\n%s", ms[0].Raw[:400])
	}
}

// sendFrom submits msg with the given MAIL FROM, without TLS.
func sendFrom(t *testing.T, s *Server, mailFrom, msg string) {
	t.Helper()
	c, err := smtp.Dial(s.SMTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail(mailFrom, []string{"user@example.org"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
}

// The SPF verdicts come from mailprobe's RFC 7208 evaluator
// (dnsauth.CheckHost) asking the given resolver: each sender domain's
// policy says something different about 127.0.0.1.
func TestCapture_spfVerdictsThroughTheResolver(t *testing.T) {
	r := senderDNS(t,
		`pass.example. 300 IN TXT "v=spf1 ip4:127.0.0.0/8 -all"`,
		`fail.example. 300 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"`,
		`soft.example. 300 IN TXT "v=spf1 ip4:192.0.2.0/24 ~all"`,
		`nospf.example. 300 IN TXT "just some verification token"`,
		// include: and a: need more than a TXT lookup (RFC 7208 §5.2, §5.3).
		`inc.example. 300 IN TXT "v=spf1 include:other.example -all"`,
		`other.example. 300 IN TXT "v=spf1 a:relay.other.example -all"`,
		`relay.other.example. 300 IN A 127.0.0.1`,
		`_dmarc.app.example. 300 IN TXT "v=DMARC1; p=reject"`,
	)
	s := start(t, Options{Resolver: r, CheckSPF: true})
	want := []struct{ from, spf, dmarc string }{
		{"a@pass.example", "pass", "fail"}, // pass, but pass.example is not aligned with app.example
		{"a@fail.example", "fail", "fail"},
		{"a@soft.example", "softfail", "fail"},
		{"a@nospf.example", "none", "fail"},
		{"a@inc.example", "pass", "fail"},
		{"a@app.example", "none", "fail"}, // app.example publishes no SPF here
	}
	for _, w := range want {
		sendFrom(t, s, w.from, resetMsg)
	}
	ms := s.Messages()
	if len(ms) != len(want) {
		t.Fatalf("%d messages, want %d", len(ms), len(want))
	}
	for i, w := range want {
		a := ms[i].Auth
		if a.SPF != w.spf || a.DMARC != w.dmarc || a.SPFDomain != w.from[2:] {
			t.Errorf("MAIL FROM %s: spf=%s (%s) dmarc=%s, want spf=%s dmarc=%s", w.from, a.SPF, a.SPFDomain, a.DMARC, w.spf, w.dmarc)
		}
		if want := "spf=" + w.spf + " smtp.mailfrom=" + w.from[2:]; !strings.Contains(string(ms[i].Raw), want) {
			t.Errorf("MAIL FROM %s: Authentication-Results lacks %q:\n%s", w.from, want, ms[i].Raw[:300])
		}
	}
}

// Without a resolver nothing is looked up anywhere: the results are what a
// receiver without DNS can say (no record retrieved; a signature that could
// not be processed), and say why.
func TestCapture_noResolverMeansNotChecked(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	var signed strings.Builder
	if err := dkim.Sign(&signed, strings.NewReader(resetMsg), &dkim.SignOptions{Domain: "app.example", Selector: "s1", Signer: priv}); err != nil {
		t.Fatal(err)
	}
	s := start(t, Options{CheckSPF: true})
	sendFrom(t, s, "a@app.example", signed.String())
	m := s.Messages()[0]
	a := m.Auth
	if a.SPF != "none" || a.DMARC != "none" || a.NotChecked != NotChecked || len(a.DKIM) != 1 || a.DKIM[0].Result != "neutral" || a.DKIM[0].Reason != NotChecked || a.DKIM[0].Domain != "app.example" || a.DKIM[0].Selector != "s1" {
		t.Errorf("auth without a resolver: %+v", a)
	}
	if !strings.Contains(string(m.Raw), "dkim=neutral header.d=app.example") || !strings.Contains(string(m.Raw), "spf=none (not checked: DNS checks are off)") {
		t.Errorf("Authentication-Results:\n%s", m.Raw[:300])
	}
}

func TestParseFault(t *testing.T) {
	for _, bad := range []string{"", "250", "550:4.1.1", "abc", "550:5.1", "999"} {
		if _, err := ParseFault(bad); err == nil {
			t.Errorf("ParseFault(%q) accepted", bad)
		}
	}
	e, err := ParseFault("421")
	if err != nil || e.Code != 421 || e.EnhancedCode != (smtp.EnhancedCode{4, 0, 0}) {
		t.Errorf("ParseFault(421) = %+v, %v", e, err)
	}
}

func TestCapture_closeIsPromptWithOpenConnections(t *testing.T) {
	s, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", s.SMTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs with an idle client connected")
	}
}

// The standard library's client, as many apps use it.
func TestCapture_netSMTP(t *testing.T) {
	s := start(t, Options{Users: map[string]string{"app": "pw"}})
	c, err := netsmtp.Dial(s.SMTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(tlsConf(s)); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(netsmtp.PlainAuth("", "app", "pw", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("no-reply@app.example"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("user@example.org"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write([]byte(resetMsg))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c.Quit()
	if n := len(fetchAll(t, s, "app", "pw")); n != 1 {
		t.Errorf("IMAP has %d messages", n)
	}
}

func TestCapture_junkFolderAndTransform(t *testing.T) {
	s := start(t, Options{Folder: "Junk", Transform: func(b []byte) []byte { return []byte(strings.ToUpper(string(b))) }})
	if err := send(t, s, "", "", resetMsg); err != nil {
		t.Fatal(err)
	}
	if n := len(fetchAll(t, s, "x", "y")); n != 0 {
		t.Errorf("INBOX has %d messages, want 0 (delivered to Junk)", n)
	}
	if !strings.Contains(string(s.Messages()[0].Raw), "RESET YOUR PASSWORD") {
		t.Error("Transform not applied")
	}
	if _, err := Start(context.Background(), Options{Folder: "Spam"}); err == nil {
		t.Error("unknown folder accepted")
	}
}

// BenchmarkIngest measures how many messages per second the capture
// server accepts from one client over one TLS connection, each analysed,
// stored in the IMAP mailbox and served by the HTTP API, with a client of
// the event stream (the web view's live list) reading along. The store is
// capped (--max-messages 500): the heap after the run stays that of 500
// messages however many were sent. Mailpit publishes 200–300 msgs/s.
func BenchmarkIngest(b *testing.B) {
	s, err := Start(context.Background(), Options{MaxMessages: 500})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	addr, err := s.StartHTTP(HTTPOptions{Addr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	res, err := http.Get("http://" + addr + "/api/v1/events")
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	go func() { _, _ = io.Copy(io.Discard, res.Body) }()
	c, err := smtp.DialStartTLS(s.SMTPAddr(), tlsConf(s))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := c.SendMail("no-reply@app.example", []string{"user@example.org"}, strings.NewReader(resetMsg)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	b.StopTimer()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
	if st := s.Stats(); st.Messages > 500 {
		b.Fatalf("%d messages kept over a cap of 500", st.Messages)
	}
}

// A message forwarded through two ARC hops (the ARC suite's cv_pass_i2_1,
// MIT licence, pkg/arc/testdata/LICENSE.txt): the chain validates, and a
// copy changed in transit fails at the newest hop.
func TestCapture_arc(t *testing.T) {
	r := senderDNS(t, `dummy._domainkey.example.org. 300 IN TXT "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"`)
	msg, err := os.ReadFile("testdata/arc-pass-i2.eml")
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, Options{Resolver: r})
	if err := send(t, s, "", "", string(msg)); err != nil {
		t.Fatal(err)
	}
	if err := send(t, s, "", "", strings.Replace(string(msg), "This is a test message", "This is a changed message", 1)); err != nil {
		t.Fatal(err)
	}
	ms := s.Messages()
	if a := ms[0].Auth; a.ARC != "pass" {
		t.Errorf("forwarded message: arc=%s (%s)", a.ARC, a.ARCReason)
	}
	if !strings.Contains(string(ms[0].Raw), "arc=pass") {
		t.Errorf("Authentication-Results has no arc=pass:\n%.600s", ms[0].Raw)
	}
	if a := ms[1].Auth; a.ARC != "fail" || !strings.Contains(a.ARCReason, "body hash") {
		t.Errorf("changed message: arc=%s (%s)", a.ARC, a.ARCReason)
	}
}
