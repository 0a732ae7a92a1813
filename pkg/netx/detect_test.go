package netx

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// serveLoopback serves h on a loopback port (internal/testserver).
func serveLoopback(t *testing.T, h func(net.Conn)) string {
	t.Helper()
	return testserver.Start(t, func(c *testserver.Conn) { h(c.Conn) })
}

// An implicit-TLS listener (RFC 8314 §3) completes the probe's handshake.
func TestProbeImplicitTLS_tlsListenerIsYes(t *testing.T) {
	cfg := &tls.Config{Certificates: []tls.Certificate{testserver.NewCert(t, testserver.CertOptions{SelfSign: true}).TLS}}
	addr := serveLoopback(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		tc := tls.Server(c, cfg)
		if tc.Handshake() == nil {
			// Hold the session until the client hangs up.
			_, _ = tc.Read(make([]byte, 1))
		}
	})
	if !ProbeImplicitTLS(context.Background(), nil, addr, "mail.test", 10*time.Second) {
		t.Fatal("a TLS listener was not recognised as implicit TLS")
	}
}

// A server that answers the ClientHello with a fatal alert still speaks
// TLS (RFC 8446 §6.2): it disliked the hello, not the protocol.
func TestProbeImplicitTLS_alertIsYes(t *testing.T) {
	addr := serveLoopback(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		// Read the ClientHello's record header and body, then answer
		// with alert(21), TLS 1.2 record version, fatal(2)
		// handshake_failure(40).
		hdr := make([]byte, 5)
		if _, err := readFull(c, hdr); err != nil || hdr[0] != 22 {
			return
		}
		if _, err := readFull(c, make([]byte, int(hdr[3])<<8|int(hdr[4]))); err != nil {
			return
		}
		_, _ = c.Write([]byte{21, 3, 3, 0, 2, 2, 40})
		_, _ = c.Read(make([]byte, 1))
	})
	if !ProbeImplicitTLS(context.Background(), nil, addr, "mail.test", 10*time.Second) {
		t.Fatal("a TLS alert was not taken as a TLS server")
	}
}

// A server that says nothing to the ClientHello is not TLS, and the probe
// gives up at its wait instead of hanging.
func TestProbeImplicitTLS_silenceIsNo(t *testing.T) {
	addr := serveLoopback(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = c.Read(make([]byte, 4096))
		_, _ = c.Read(make([]byte, 4096))
	})
	start := time.Now()
	if ProbeImplicitTLS(context.Background(), nil, addr, "mail.test", 200*time.Millisecond) {
		t.Fatal("silence was taken for TLS")
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("the probe took %s for a 200ms wait", d)
	}
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// WaitForData sees a greeting without consuming it, and reports a silent
// peer as (false, nil) at its deadline.
func TestConnWaitForData(t *testing.T) {
	greeting := serveLoopback(t, func(c net.Conn) {
		_, _ = c.Write([]byte("* OK ready\r\n"))
		_, _ = c.Read(make([]byte, 1))
	})
	silent := serveLoopback(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = c.Read(make([]byte, 1))
	})
	ctx := context.Background()
	c, err := Dial(ctx, greeting, transcript.New(nil), ConnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if arrived, err := c.WaitForData(ctx, 10*time.Second); !arrived || err != nil {
		t.Fatalf("greeting not seen: %v, %v", arrived, err)
	}
	if l, err := c.ReadLine(ctx, time.Second); err != nil || l.Text != "* OK ready" {
		t.Fatalf("the greeting was consumed by the wait: %q, %v", l.Text, err)
	}
	s, err := Dial(ctx, silent, transcript.New(nil), ConnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if arrived, err := s.WaitForData(ctx, 100*time.Millisecond); arrived || err != nil {
		t.Fatalf("silence: %v, %v; want false, nil", arrived, err)
	}
}
