package smtpclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/mailprobe/mailprobe/pkg/netx"
)

// Transports other than a TCP connection to HOST:PORT, as swaks has
// them: a UNIX socket (Postfix's and Dovecot's LMTP sockets), a local
// program speaking SMTP on its stdin and stdout (`sendmail -bs`), and a
// PROXY protocol header in front of the dialogue. Each is a
// netx.DialFunc, so the session, its transcript and its deadlines are the
// same whatever carries the bytes.

// UnixDialer dials the UNIX socket at path, whatever address it is asked
// for.
func UnixDialer(path string) netx.DialFunc {
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}
}

// PipeDialer runs command with /bin/sh -c and speaks to it over its
// stdin and stdout (swaks' --pipe). Its stderr is discarded: a program's
// diagnostics are not the server's replies. Closing the connection
// closes the pipes, waits up to grace for the program to exit (a program
// that got QUIT ends by itself) and then kills it, so it never outlives
// the run.
func PipeDialer(command string, grace time.Duration) netx.DialFunc {
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		if command == "" {
			return nil, errors.New("--pipe: no command")
		}
		inR, inW, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		outR, outW, err := os.Pipe()
		if err != nil {
			inR.Close()
			inW.Close()
			return nil, err
		}
		cmd := exec.Command("/bin/sh", "-c", command)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, nil
		if err := cmd.Start(); err != nil {
			for _, f := range []*os.File{inR, inW, outR, outW} {
				f.Close()
			}
			return nil, fmt.Errorf("--pipe %q: %v", command, err)
		}
		// The child holds its ends now.
		inR.Close()
		outW.Close()
		pc := &pipeConn{w: inW, r: outR, cmd: cmd, grace: grace, exited: make(chan struct{})}
		go func() { _ = cmd.Wait(); close(pc.exited) }()
		return pc, nil
	}
}

// pipeConn is a net.Conn over a child's stdin (w) and stdout (r). The
// os.File ends of pipes support deadlines, so every read and write of
// the session stays bounded.
type pipeConn struct {
	w, r   *os.File
	cmd    *exec.Cmd
	grace  time.Duration
	once   sync.Once
	exited chan struct{}
}

type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }

func (p *pipeConn) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p *pipeConn) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p *pipeConn) LocalAddr() net.Addr         { return pipeAddr("mailprobe") }
func (p *pipeConn) RemoteAddr() net.Addr {
	return pipeAddr(fmt.Sprintf("pipe:%d", p.cmd.Process.Pid))
}
func (p *pipeConn) SetDeadline(t time.Time) error {
	_ = p.w.SetWriteDeadline(t)
	return p.r.SetReadDeadline(t)
}
func (p *pipeConn) SetReadDeadline(t time.Time) error  { return p.r.SetReadDeadline(t) }
func (p *pipeConn) SetWriteDeadline(t time.Time) error { return p.w.SetWriteDeadline(t) }

// Close ends the conversation: stdin closed (EOF to the program), then
// the program gets grace to exit before it is killed.
func (p *pipeConn) Close() error {
	p.once.Do(func() {
		p.w.Close()
		select {
		case <-p.exited:
		case <-time.After(p.grace):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		p.r.Close()
	})
	return nil
}

// ProxyHeader is a PROXY protocol header (HAProxy's PROXY protocol,
// versions 1 and 2) sent before anything else on the connection, so that
// a server behind a load balancer (Postfix's smtpd_upstream_proxy_protocol)
// sees Source as the client.
type ProxyHeader struct {
	Version     int            // 1 (text) or 2 (binary)
	Source, Dst netip.AddrPort // zero: the connection's own addresses
}

// ProxyDialer wraps base so that every connection starts with h; note,
// when set, is told the header as sent (for the transcript: the header is
// not an SMTP line, and v2 is binary).
func ProxyDialer(base netx.DialFunc, h ProxyHeader, note func(string)) netx.DialFunc {
	if base == nil {
		base = (&net.Dialer{}).DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := base(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		src, dst := h.Source, h.Dst
		if !src.IsValid() {
			src = addrPortOf(c.LocalAddr())
		}
		if !dst.IsValid() {
			dst = addrPortOf(c.RemoteAddr())
		}
		if src.Addr().Is4() != dst.Addr().Is4() {
			c.Close()
			return nil, fmt.Errorf("PROXY header: source %s and destination %s are not of one address family", src, dst)
		}
		hdr := proxyproto.HeaderProxyFromAddrs(byte(h.Version), net.TCPAddrFromAddrPort(src), net.TCPAddrFromAddrPort(dst))
		b, err := hdr.Format()
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("PROXY header: %v", err)
		}
		if dl, ok := ctx.Deadline(); ok {
			_ = c.SetWriteDeadline(dl)
		}
		if _, err := c.Write(b); err != nil {
			c.Close()
			return nil, err
		}
		_ = c.SetWriteDeadline(time.Time{})
		if note != nil {
			note(fmt.Sprintf("sent a PROXY protocol v%d header: %s → %s", h.Version, src, dst))
		}
		return c, nil
	}
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
}
