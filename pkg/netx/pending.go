package netx

import (
	"net"
	"syscall"
)

// MaxPendingSample bounds the unsolicited bytes Pending returns as
// evidence (what arrived is counted up to this, and quoted up to it).
const MaxPendingSample = 512

// Pending reports bytes the peer sent that no request asked for yet,
// without waiting and without consuming them: what the line reader has
// buffered, and, on a plaintext TCP connection, what already sits in the
// socket (a peek that returns at once). A request-response protocol
// calls it just before it sends a command that is not pipelined: after
// the previous reply was read whole, anything pending is a reply to no
// command, and every reply read from then on would be attributed to the
// wrong command. Inside TLS only the line reader's buffer is looked at:
// bytes in the socket may be TLS records the peer may send at any time
// (a TLS 1.3 session ticket), not application data. n is at most
// MaxPendingSample more than what was buffered; sample is at most
// MaxPendingSample bytes.
func (c *Conn) Pending() (n int, sample []byte) {
	if b := c.lr.Buffered(); b > 0 {
		p, _ := c.lr.br.Peek(min(b, MaxPendingSample))
		return b, append([]byte(nil), p...)
	}
	if c.tlsState != nil {
		return 0, nil
	}
	sc, ok := c.raw.(syscall.Conn)
	if !ok {
		return 0, nil
	}
	buf := make([]byte, MaxPendingSample)
	m := peekNow(sc, buf)
	if m <= 0 {
		return 0, nil
	}
	return m, buf[:m]
}

var _ syscall.Conn = (*net.TCPConn)(nil)
