// Package netx is the one place that decides how mailprobe reaches the
// network: which dialer (injectable, with an optional local address), and
// how long each stage may take. Library defaults wait for minutes (net/smtp
// has no deadline at all; RFC 5321 §4.5.3.2 suggests 5 minutes for a
// greeting); a diagnostic tool must answer in seconds and say which stage
// stalled.
package netx

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// Timeouts are the per-stage deadlines. Zero fields take the defaults.
type Timeouts struct {
	DNS     time.Duration // one DNS query
	Connect time.Duration // TCP connect
	Banner  time.Duration // wait for the greeting after connect
	Command time.Duration // one command and its reply
	TLS     time.Duration // a TLS handshake
	Data    time.Duration // sending a message body and reading the final reply
	Total   time.Duration // the whole run; 0 = no overall limit beyond the stages
}

// DefaultTimeouts are tuned for "answer in seconds": long enough for a slow
// real server (greeting delays of a few seconds are a known anti-spam
// trick), short enough that a dead one is reported quickly.
var DefaultTimeouts = Timeouts{
	DNS:     5 * time.Second,
	Connect: 10 * time.Second,
	Banner:  30 * time.Second,
	Command: 30 * time.Second,
	TLS:     15 * time.Second,
	Data:    60 * time.Second,
}

// WithDefaults fills zero fields from DefaultTimeouts, and caps every
// stage at Total when Total is set (a stage can never outlast the run).
func (t Timeouts) WithDefaults() Timeouts {
	d := DefaultTimeouts
	fill := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
		if t.Total > 0 && *v > t.Total {
			*v = t.Total
		}
	}
	fill(&t.DNS, d.DNS)
	fill(&t.Connect, d.Connect)
	fill(&t.Banner, d.Banner)
	fill(&t.Command, d.Command)
	fill(&t.TLS, d.TLS)
	fill(&t.Data, d.Data)
	return t
}

// DialFunc dials a network address. Engines receive one instead of calling
// net.Dial, so tests and --local-addr need no global state.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Dialer returns a DialFunc with an optional source address ("" = any).
func Dialer(localAddr string) (DialFunc, error) {
	d := &net.Dialer{}
	if localAddr != "" {
		ip := net.ParseIP(strings.Trim(localAddr, "[]"))
		if ip == nil {
			return nil, fmt.Errorf("--local-addr %q is not an IP address", localAddr)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return d.DialContext, nil
}

// SplitHostPort splits "host[:port]" with a default port and accepts
// "[v6]:port", bare IPv6 literals and "host:port".
func SplitHostPort(s string, defPort int) (host string, port int, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", 0, errors.New("empty host")
	}
	if ip := net.ParseIP(strings.Trim(s, "[]")); ip != nil && strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "[") {
		return ip.String(), defPort, nil
	}
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			return strings.Trim(s, "[]"), defPort, nil
		}
		return "", 0, fmt.Errorf("bad address %q: %v", s, err)
	}
	if h == "" {
		return "", 0, fmt.Errorf("bad address %q: empty host", s)
	}
	var n int
	if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n < 1 || n > 65535 || fmt.Sprint(n) != p {
		if sp, err := net.LookupPort("tcp", p); err == nil {
			return h, sp, nil
		}
		return "", 0, fmt.Errorf("bad port %q in %q", p, s)
	}
	return h, n, nil
}

// ErrKind classifies a network error for findings: what a user should
// understand from it, independent of Go's wording.
type ErrKind string

const (
	KindTimeout  ErrKind = "timeout"
	KindRefused  ErrKind = "refused"
	KindReset    ErrKind = "reset"
	KindClosed   ErrKind = "closed" // EOF: the server hung up
	KindNoRoute  ErrKind = "unreachable"
	KindDNS      ErrKind = "dns"
	KindCanceled ErrKind = "canceled"
	// KindProtocol: the peer broke the protocol (garbage, a line without
	// end), a ProtocolError.
	KindProtocol ErrKind = "protocol"
	// KindTLS: the TLS handshake failed for a TLS reason (an alert, a
	// record that is not TLS, a certificate that does not verify).
	KindTLS   ErrKind = "tls"
	KindOther ErrKind = "other"
)

// Classify maps err to a kind.
func Classify(err error) ErrKind {
	if err == nil {
		return ""
	}
	var dnsErr *net.DNSError
	var ne net.Error
	var pe ProtocolError
	var alert tls.AlertError
	var rh tls.RecordHeaderError
	var cv *tls.CertificateVerificationError
	switch {
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.As(err, &pe):
		return KindProtocol
	case errors.As(err, &alert), errors.As(err, &rh), errors.As(err, &cv):
		return KindTLS
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return KindTimeout
	case errors.As(err, &dnsErr):
		if dnsErr.IsTimeout {
			return KindTimeout
		}
		return KindDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return KindReset
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return KindNoRoute
	case errors.Is(err, net.ErrClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), isEOF(err):
		return KindClosed
	case errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	}
	return KindOther
}

func isEOF(err error) bool {
	return err != nil && (err.Error() == "EOF" || strings.HasSuffix(err.Error(), ": EOF") || strings.Contains(err.Error(), "unexpected EOF"))
}

// Describe words err for a person: "timed out after 10s", "connection
// refused", "server closed the connection".
func Describe(err error, waited time.Duration) string {
	switch Classify(err) {
	case KindTimeout:
		if waited > 0 {
			return fmt.Sprintf("timed out after %s", waited.Round(time.Millisecond))
		}
		return "timed out"
	case KindRefused:
		return "connection refused (nothing listens on that port, or a firewall rejects it)"
	case KindReset:
		return "connection reset by the server"
	case KindClosed:
		return "the server closed the connection"
	case KindNoRoute:
		return "no route to host"
	case KindCanceled:
		return "canceled"
	}
	return err.Error()
}
