package netx_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

func dialT(t *testing.T, addr string, o netx.ConnOptions) (*netx.Conn, *transcript.Recorder) {
	t.Helper()
	rec := transcript.New(nil)
	c, err := netx.Dial(context.Background(), addr, rec, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, rec
}

// entryLine returns the transcript line numbered seq.
func entryLine(t *testing.T, rec *transcript.Recorder, seq int) string {
	t.Helper()
	e, ok := rec.Entry(seq)
	if !ok {
		t.Fatalf("no transcript entry %d", seq)
	}
	return e.Line
}

// Several lines arriving in one read each carry the seq of their own
// transcript entry, not the recorder's position after the read.
func TestConn_ReadLine_seqOfEachLine(t *testing.T) {
	addr := testserver.Start(t, func(c *testserver.Conn) {
		if _, err := c.Line(); err != nil {
			return
		}
		_, _ = c.Write([]byte("250 first\r\n250 second\r\n250 third\n"))
		_, _ = c.Line()
	})
	c, rec := dialT(t, addr, netx.ConnOptions{})
	ctx := context.Background()
	if err := c.WriteLine(ctx, 0, "GO"); err != nil {
		t.Fatal(err)
	}
	var got []netx.Line
	for i := 0; i < 3; i++ {
		l, err := c.ReadLine(ctx, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, l)
	}
	for i, want := range []string{"250 first", "250 second", "250 third"} {
		if got[i].Text != want || entryLine(t, rec, got[i].Seq) != want {
			t.Errorf("line %d: %+v cites %q", i, got[i], entryLine(t, rec, got[i].Seq))
		}
	}
	if got[0].Seq == got[1].Seq || got[1].Seq == got[2].Seq {
		t.Errorf("lines share a seq: %+v", got)
	}
	if got[0].BareLF || got[1].BareLF || !got[2].BareLF {
		t.Errorf("bare LF marks: %+v", got)
	}
}

func TestConn_ReadLine_tooLongIsProtocolError(t *testing.T) {
	addr := testserver.Start(t, testserver.EndlessLine)
	c, _ := dialT(t, addr, netx.ConnOptions{MaxLine: 1000})
	_, err := c.ReadLine(context.Background(), 5*time.Second)
	var oe *netx.OpError
	if !errors.As(err, &oe) || !errors.Is(err, netx.ErrLineTooLong) || oe.Kind() != netx.KindProtocol {
		t.Fatalf("got %v", err)
	}
}

// A server that sends half a line and hangs up: the half is recorded and
// cited by the error, which classifies as "closed".
func TestConn_ReadLine_partialLineRecordedOnError(t *testing.T) {
	addr := testserver.Start(t, func(c *testserver.Conn) {
		_, _ = c.Write([]byte("220 half a gree"))
	})
	c, rec := dialT(t, addr, netx.ConnOptions{})
	_, err := c.ReadLine(context.Background(), 5*time.Second)
	var oe *netx.OpError
	if !errors.As(err, &oe) || oe.Kind() != netx.KindClosed {
		t.Fatalf("got %v", err)
	}
	if oe.Partial == nil || len(oe.Partial.Seq) != 1 || oe.Partial.Text != "220 half a gree" {
		t.Fatalf("partial: %+v", oe.Partial)
	}
	if got := entryLine(t, rec, oe.Partial.Seq[0]); got != "220 half a gree" {
		t.Fatalf("cites %q", got)
	}
	if !strings.Contains(err.Error(), "closed") {
		t.Fatalf("described as %q", err)
	}
}

func TestConn_ReadLine_stageTimeout(t *testing.T) {
	addr := testserver.Start(t, testserver.Silent)
	c, _ := dialT(t, addr, netx.ConnOptions{})
	_, err := c.ReadLine(context.Background(), 50*time.Millisecond)
	var oe *netx.OpError
	if !errors.As(err, &oe) || oe.Kind() != netx.KindTimeout || oe.Waited <= 0 {
		t.Fatalf("got %v", err)
	}
	if _, interrupted := netx.Interrupted("banner", err); interrupted {
		t.Fatal("a stage timeout is not an interruption")
	}
}

// Ctrl-C cancels the context: a read blocked on a silent server returns
// at once as KindCanceled, and the shared helper calls it an
// interruption of the stage.
func TestConn_ReadLine_cancelInterruptsAtOnce(t *testing.T) {
	addr := testserver.Start(t, testserver.Silent)
	c, _ := dialT(t, addr, netx.ConnOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.ReadLine(ctx, time.Minute)
	if time.Since(start) > 10*time.Second {
		t.Fatalf("cancel did not interrupt the read: %v", time.Since(start))
	}
	var oe *netx.OpError
	if !errors.As(err, &oe) || oe.Kind() != netx.KindCanceled {
		t.Fatalf("got %v", err)
	}
	f, ok := netx.Interrupted("banner", err)
	if !ok || f.Code != report.CodeInterrupted || f.Stage != "banner" {
		t.Fatalf("finding %+v %v", f, ok)
	}
}

func TestConn_ReadLine_ctxDeadlineCapsStage(t *testing.T) {
	addr := testserver.Start(t, testserver.Silent)
	c, _ := dialT(t, addr, netx.ConnOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.ReadLine(ctx, time.Minute)
	if time.Since(start) > 10*time.Second {
		t.Fatal("the context deadline did not cap the stage")
	}
	if netx.Classify(err) != netx.KindTimeout {
		t.Fatalf("got %v", err)
	}
}

// The bytes a server sends after its go-ahead and before the handshake
// come back from StartTLS (the injection signal) and never reach a
// reader; what follows is read inside TLS and recorded as such.
func TestConn_StartTLS_returnsPreHandshakeBytes(t *testing.T) {
	c, rec, cert := goAheadWithBurst(t)
	ctx := context.Background()
	pre, err := c.StartTLS(ctx, &tls.Config{ServerName: "mail.test.example", RootCAs: cert.Pool})
	if err != nil {
		t.Fatal(err)
	}
	if string(pre) != "250 injected\r\n" {
		t.Fatalf("pre-handshake bytes %q", pre)
	}
	if c.TLS() == nil {
		t.Fatal("no TLS state")
	}
	l, err := c.ReadLine(ctx, 5*time.Second)
	if err != nil || l.Text != "250 inside" {
		t.Fatalf("%+v %v", l, err)
	}
	if e, _ := rec.Entry(l.Seq); !e.TLS || e.Line != "250 inside" {
		t.Fatalf("entry %+v", e)
	}
}

// goAheadWithBurst connects to a server that answers STARTTLS with its
// go-ahead and an injected line in one write, then takes a TLS handshake
// and sends "250 inside". It returns the connection after the go-ahead
// was read, the injected line still buffered.
func goAheadWithBurst(t *testing.T) (*netx.Conn, *transcript.Recorder, testserver.Cert) {
	t.Helper()
	const burst = "220 go ahead\r\n250 injected\r\n"
	cert := testserver.NewCert(t, testserver.CertOptions{})
	addr := testserver.Start(t, func(c *testserver.Conn) {
		if _, err := c.Line(); err != nil {
			return
		}
		_, _ = c.Write([]byte(burst))
		if err := c.UpgradeTLS(cert.TLS); err != nil {
			return
		}
		c.Send("250 inside")
		_, _ = c.Line()
	})
	// Both lines must reach the client before the upgrade, whatever the
	// packets: the first read waits for all of them.
	dial := func(ctx context.Context, network, a string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, a)
		if err != nil {
			return nil, err
		}
		return &firstReadFull{Conn: nc, n: len(burst)}, nil
	}
	c, rec := dialT(t, addr, netx.ConnOptions{Dial: dial})
	ctx := context.Background()
	if err := c.WriteLine(ctx, 0, "STARTTLS"); err != nil {
		t.Fatal(err)
	}
	l, err := c.ReadLine(ctx, 5*time.Second)
	if err != nil || l.Text != "220 go ahead" {
		t.Fatalf("%+v %v", l, err)
	}
	return c, rec, cert
}

// firstReadFull makes the first Read return exactly n bytes, so a test
// controls what one read brings in instead of the packet boundaries.
type firstReadFull struct {
	net.Conn
	n    int
	done bool
}

func (f *firstReadFull) Read(p []byte) (int, error) {
	if !f.done && len(p) >= f.n {
		f.done = true
		return io.ReadFull(f.Conn, p[:f.n])
	}
	return f.Conn.Read(p)
}

func TestConn_Dial_implicitTLS(t *testing.T) {
	cert := testserver.NewCert(t, testserver.CertOptions{})
	addr := testserver.Start(t, func(c *testserver.Conn) {
		if err := c.UpgradeTLS(cert.TLS); err != nil {
			return
		}
		c.Send("220 over tls")
		_, _ = c.Line()
	})
	c, _ := dialT(t, addr, netx.ConnOptions{ImplicitTLS: &tls.Config{ServerName: "mail.test.example", RootCAs: cert.Pool}})
	l, err := c.ReadLine(context.Background(), 5*time.Second)
	if err != nil || l.Text != "220 over tls" || c.TLS() == nil {
		t.Fatalf("%+v %v", l, err)
	}
}

func TestConn_Dial_tlsFailureIsKindTLS(t *testing.T) {
	cert := testserver.NewCert(t, testserver.CertOptions{})
	addr := testserver.Start(t, func(c *testserver.Conn) { _ = c.UpgradeTLS(cert.TLS) })
	rec := transcript.New(nil)
	// No RootCAs: the test CA is unknown, verification fails.
	_, err := netx.Dial(context.Background(), addr, rec, netx.ConnOptions{ImplicitTLS: &tls.Config{ServerName: "mail.test.example"}})
	var oe *netx.OpError
	if !errors.As(err, &oe) || oe.Op != "tls handshake" || oe.Kind() != netx.KindTLS {
		t.Fatalf("got %v (kind %v)", err, netx.Classify(err))
	}
}

func TestConn_Dial_refused(t *testing.T) {
	rec := transcript.New(nil)
	_, err := netx.Dial(context.Background(), testserver.ClosedPort(t), rec, netx.ConnOptions{})
	var oe *netx.OpError
	if !errors.As(err, &oe) || oe.Op != "connect" || oe.Kind() != netx.KindRefused {
		t.Fatalf("got %v", err)
	}
}

// Replies are scrubbed of registered secrets like the transcript, so a
// server echoing a password cannot leak it through a finding.
func TestConn_ReadLine_scrubsSecrets(t *testing.T) {
	addr := testserver.Start(t, func(c *testserver.Conn) {
		c.Send("535 bad password hunter2-secret")
		_, _ = c.Line()
	})
	c, rec := dialT(t, addr, netx.ConnOptions{})
	rec.AddSecret("hunter2-secret")
	l, err := c.ReadLine(context.Background(), 5*time.Second)
	if err != nil || strings.Contains(l.Text, "hunter2") {
		t.Fatalf("%+v %v", l, err)
	}
}

func TestLineReader_limitAndBareLF(t *testing.T) {
	lr := netx.NewLineReader(strings.NewReader("ok\r\nbare\n"+strings.Repeat("x", 100)+"\r\n"), 50)
	l, err := lr.Next()
	if err != nil || l.Text != "ok" || l.BareLF {
		t.Fatalf("%+v %v", l, err)
	}
	l, err = lr.Next()
	if err != nil || l.Text != "bare" || !l.BareLF {
		t.Fatalf("%+v %v", l, err)
	}
	if _, err = lr.Next(); !errors.Is(err, netx.ErrLineTooLong) || netx.Classify(err) != netx.KindProtocol {
		t.Fatalf("%v", err)
	}
}

// A secret in a partial line is scrubbed before the error quoting the line
// is clipped: clipped first, the secret's start would survive (issue 15).
func TestConn_ReadLine_partialLineErrorScrubbedBeforeClip(t *testing.T) {
	const secret = "Zq9-Secr3t-Pw-unique"
	addr := testserver.Start(t, func(c *testserver.Conn) {
		_, _ = c.Write([]byte("535 5.7.8 " + strings.Repeat("x", 62) + secret + " more"))
	})
	c, rec := dialT(t, addr, netx.ConnOptions{})
	rec.AddSecret(secret)
	_, err := c.ReadLine(context.Background(), 5*time.Second)
	var oe *netx.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("got %v", err)
	}
	if msg := oe.Err.Error(); strings.Contains(msg, "Zq9") || !strings.Contains(msg, "partial line") {
		t.Fatalf("error quotes the secret's start: %q", msg)
	}
}

func TestClip_characterBoundary(t *testing.T) {
	s := strings.Repeat("a", 79) + "é" + strings.Repeat("b", 10) // é straddles byte 80
	got := netx.Clip(s)
	if !utf8.ValidString(got) || got != strings.Repeat("a", 79)+"…" {
		t.Errorf("Clip = %q", got)
	}
	if netx.Clip("short") != "short" {
		t.Error("short text changed")
	}
}
