package netx

import (
	"context"
	"time"
)

// WaitForData reports whether the peer sent anything within d, without
// consuming it: the next ReadLine still reads the whole line. It is the
// first half of implicit-TLS detection (a plaintext greeting arrives in
// milliseconds; an implicit-TLS server, RFC 8314 §3, says nothing until
// it gets a ClientHello). The deadline passing is (false, nil); a close,
// reset or cancelled ctx is an OpError for the caller's greeting stage.
func (c *Conn) WaitForData(ctx context.Context, d time.Duration) (arrived bool, err error) {
	disarm := c.Arm(ctx, d)
	defer disarm()
	start := time.Now()
	if _, err := c.lr.br.Peek(1); err != nil {
		if ctx.Err() == nil && Classify(err) == KindTimeout {
			return false, nil
		}
		return false, c.ReadError(ctx, "read", start, err)
	}
	return true, nil
}
