package capture

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Default bounds of a capture server: a development sink serves one app
// and its tests, not the Internet, and must not keep what a broken or
// hostile client leaves open.
const (
	// DefaultMaxConns bounds the connections open at once on each port;
	// the next one gets a refusal line and is closed.
	DefaultMaxConns = 100
	// DefaultIdleTimeout is how long a client may take to send its next
	// command (SMTP) before it gets 421 and is closed.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultDataTimeout bounds the whole DATA phase of one message, from
	// the 354 to the final dot, however slowly the client drips it.
	DefaultDataTimeout = 5 * time.Minute
)

// limitListener accepts at most max connections open at once; an excess
// connection is told refusal and closed at once, and accepting goes on.
type limitListener struct {
	net.Listener
	max     int
	refusal string

	mu   sync.Mutex
	open int
}

func newLimitListener(l net.Listener, max int, refusal string) *limitListener {
	return &limitListener{Listener: l, max: max, refusal: refusal}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if l.open >= l.max {
			l.mu.Unlock()
			// The refusal must not block the accept loop on a client
			// that does not read.
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte(l.refusal + "\r\n"))
			_ = c.Close()
			continue
		}
		l.open++
		l.mu.Unlock()
		return &countedConn{Conn: c, l: l}, nil
	}
}

// Open is the number of connections accepted and not yet closed.
func (l *limitListener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

type countedConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.open--
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// errDataTimeout is the answer to a client that did not finish its
// message within the DATA-phase deadline; the connection is closed.
var errDataTimeout = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "DATA timeout, closing connection"}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
