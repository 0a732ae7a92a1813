package netx_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/netx"
)

// Pending sees, without waiting and without consuming, what the peer
// sent unasked: bytes in the line reader's buffer, and bytes still in the
// socket. A quiet connection has nothing pending.
func TestConn_Pending(t *testing.T) {
	sent := make(chan struct{})
	addr := testserver.Start(t, func(c *testserver.Conn) {
		_, _ = c.Write([]byte("220 hello\r\n250 early\r\n"))
		if _, err := c.Line(); err != nil {
			return
		}
		_, _ = c.Write([]byte("421 out of turn\r\n"))
		close(sent)
		_, _ = c.Line()
	})
	c, _ := dialT(t, addr, netx.ConnOptions{})
	ctx := context.Background()
	if l, err := c.ReadLine(ctx, 5*time.Second); err != nil || l.Text != "220 hello" {
		t.Fatalf("%q %v", l.Text, err)
	}
	// In the line reader's buffer (one write, one read).
	if n, sample := c.Pending(); n != len("250 early\r\n") || string(sample) != "250 early\r\n" {
		t.Fatalf("buffered: %d %q", n, sample)
	}
	if l, _ := c.ReadLine(ctx, 5*time.Second); l.Text != "250 early" {
		t.Fatalf("Pending consumed the line: %q", l.Text)
	}
	if n, _ := c.Pending(); n != 0 {
		t.Fatalf("quiet connection: %d pending", n)
	}
	if err := c.WriteLine(ctx, 0, "GO"); err != nil {
		t.Fatal(err)
	}
	<-sent
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("no socket peek here")
	}
	// In the socket: the write has left the server; loopback delivers it
	// without any further action of ours, so this only waits for it.
	deadline := time.Now().Add(10 * time.Second)
	n, sample := c.Pending()
	for n == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		n, sample = c.Pending()
	}
	if n != len("421 out of turn\r\n") || string(sample) != "421 out of turn\r\n" {
		t.Fatalf("in the socket: %d %q", n, sample)
	}
	if l, _ := c.ReadLine(ctx, 5*time.Second); l.Text != "421 out of turn" {
		t.Fatalf("the peek consumed the line: %q", l.Text)
	}
}
