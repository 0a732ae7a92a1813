package netx_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// A half line before a close is the finding's quote even when the
// transcript could not keep it (the recorder is full): the line reader
// fills OpError.Partial from the bytes it consumed.
func TestConn_ReadLine_partialWithFullTranscript(t *testing.T) {
	addr := testserver.Start(t, func(c *testserver.Conn) {
		_, _ = c.Write([]byte("421 half a refus"))
	})
	c, rec := dialT(t, addr, netx.ConnOptions{})
	for rec.Seq() < transcript.MaxEntries {
		rec.Event("filler")
	}
	_, err := c.ReadLine(context.Background(), 5*time.Second)
	var oe *netx.OpError
	if !errors.As(err, &oe) || oe.Kind() != netx.KindClosed {
		t.Fatalf("got %v", err)
	}
	if oe.Partial == nil || oe.Partial.Text != "421 half a refus" {
		t.Fatalf("partial %+v, want the half line", oe.Partial)
	}
}

// LineReader.Partial keeps the unfinished line of a failed Next, at most
// the limit of an endless one, and forgets it after a good line.
func TestLineReader_Partial(t *testing.T) {
	lr := netx.NewLineReader(strings.NewReader("ok\r\nhalf"), 0)
	if _, err := lr.Next(); err != nil || lr.Partial() != nil {
		t.Fatalf("%v %q", err, lr.Partial())
	}
	if _, err := lr.Next(); !errors.Is(err, io.EOF) || string(lr.Partial()) != "half" {
		t.Fatalf("%v %q", err, lr.Partial())
	}
	lr = netx.NewLineReader(strings.NewReader(strings.Repeat("x", 10000)), 100)
	if _, err := lr.Next(); !errors.Is(err, netx.ErrLineTooLong) || len(lr.Partial()) != 100 {
		t.Fatalf("%v, partial of %d bytes", err, len(lr.Partial()))
	}
}

// Detach after a STARTTLS go-ahead: the bytes buffered with the go-ahead
// come back (the injection signal), the raw socket carries whatever the
// caller sends (here a ClientHello from crypto/tls over it), deadlines
// still come from Arm, and nothing after the detach is recorded.
func TestConn_Detach(t *testing.T) {
	c, rec, cert := goAheadWithBurst(t)
	ctx := context.Background()
	raw, pre := c.Detach()
	if string(pre) != "250 injected\r\n" {
		t.Fatalf("pre-handshake bytes %q", pre)
	}
	before := rec.Seq()
	disarm := c.Arm(ctx, 5*time.Second)
	defer disarm()
	tc := tls.Client(raw, &tls.Config{ServerName: "mail.test.example", RootCAs: cert.Pool})
	if err := tc.HandshakeContext(ctx); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(tc).ReadString('\n')
	if err != nil || line != "250 inside\r\n" {
		t.Fatalf("%q %v", line, err)
	}
	for _, e := range rec.Entries() {
		if e.Seq > before && e.Dir != transcript.Event {
			t.Errorf("recorded after Detach: %+v", e)
		}
	}
}
