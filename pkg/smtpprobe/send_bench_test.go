package smtpprobe_test

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/smtpprobe"
)

// A go-smtp sink for the send benchmarks.
type sinkBackend struct{}
type sinkSession struct{}

func (sinkBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return sinkSession{}, nil }
func (sinkSession) Reset()                                      {}
func (sinkSession) Logout() error                               { return nil }
func (sinkSession) Mail(string, *smtp.MailOptions) error        { return nil }
func (sinkSession) Rcpt(string, *smtp.RcptOptions) error        { return nil }
func (sinkSession) Data(r io.Reader) error                      { _, err := io.Copy(io.Discard, r); return err }

func startSink(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := smtp.NewServer(sinkBackend{})
	s.Domain = "sink.test"
	go func() { _ = s.Serve(ln) }()
	b.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}

var benchMsg = []byte("From: a@bench.test\r\nTo: b@bench.test\r\nSubject: bench\r\n\r\nbench\r\n")

// BenchmarkSend_mailprobe is one whole `smtp send` (every stage judged,
// the transcript recorded) to a local go-smtp server.
func BenchmarkSend_mailprobe(b *testing.B) {
	host, port, _ := netx.SplitHostPort(startSink(b), 0)
	o := smtpprobe.Options{Host: host, Port: port, Role: smtpprobe.RoleMX, TLSMode: netx.TLSNone,
		MailFrom: "a@bench.test", RcptTo: []string{"b@bench.test"}, Message: benchMsg}
	for i := 0; i < b.N; i++ {
		r, err := smtpprobe.Check(context.Background(), o)
		if err != nil || r.Findings[len(r.Findings)-1].Code == "" {
			b.Fatal(err)
		}
	}
}

// BenchmarkSend_goSMTP is the floor: go-smtp's own client doing the same
// transaction (EHLO, MAIL, RCPT, DATA, QUIT) and nothing else.
func BenchmarkSend_goSMTP(b *testing.B) {
	addr := startSink(b)
	for i := 0; i < b.N; i++ {
		c, err := smtp.Dial(addr)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.SendMail("a@bench.test", []string{"b@bench.test"}, strings.NewReader(string(benchMsg))); err != nil {
			b.Fatal(err)
		}
		_ = c.Quit()
	}
}
