package smtpclient

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// Session is one SMTP client connection whose every byte is recorded and
// whose every operation has a deadline (a netx.Conn). It is deliberately
// lower level than net/smtp or go-smtp's client: a diagnostic tool must be
// able to send what a well-behaved client never would (bare LF, pipelined
// commands, AUTH without advertisement) and to see exactly what came back.
type Session struct {
	conn *netx.Conn
	rec  *transcript.Recorder
	addr string
	// observe, when set, sees every reply read (Observe); answering is
	// the verb of the command the next reply answers.
	observe   func(verb string, r Reply)
	answering string
	// serverName names the server to SASL (SetServerName); oauthErr is
	// the last OAuth error challenge, decoded (OAuthError).
	serverName, oauthErr string
}

// Observe makes fn see every reply the session reads, complete or not,
// with the verb of the command it answers ("MAIL", "RCPT", "DATA" for
// the reply to DATA, "." for the reply after the message; "" for the
// greeting or a reply read without a command): the way an engine
// notices protocol violations (lines whose codes differ) whichever
// command they answered. A replacement session made by AwaitGreeting
// inherits it.
func (s *Session) Observe(fn func(verb string, r Reply)) { s.observe = fn }

// verbOf is the command verb of line when it is one of SMTP's, else ""
// (a SASL step: base64 of a credential must never become a name in a
// finding or an event).
func verbOf(line string) string {
	v, _, _ := strings.Cut(line, " ")
	v = strings.ToUpper(v)
	if strings.HasPrefix(v, "MAIL") || strings.HasPrefix(v, "RCPT") {
		v = v[:4] // "MAIL FROM:<>" may come without the space
	}
	if knownVerbs[v] {
		return v
	}
	return ""
}

var knownVerbs = map[string]bool{"EHLO": true, "HELO": true, "LHLO": true, "MAIL": true, "RCPT": true, "DATA": true, "BDAT": true,
	"RSET": true, "VRFY": true, "EXPN": true, "HELP": true, "NOOP": true, "QUIT": true, "STARTTLS": true, "AUTH": true, "ETRN": true, "TURN": true, "ATRN": true}

// DialOptions configure Dial.
type DialOptions struct {
	Dial        netx.DialFunc // nil = net.Dialer
	Timeouts    netx.Timeouts
	ImplicitTLS *tls.Config // non-nil: TLS before the greeting (port 465, RFC 8314)
}

// Dial connects to addr ("ip:port") and records into rec. It does not
// read the greeting: call ReadReply for that, so the caller can time it.
// Its errors are *netx.OpError.
func Dial(ctx context.Context, addr string, rec *transcript.Recorder, o DialOptions) (*Session, error) {
	c, err := netx.Dial(ctx, addr, rec, netx.ConnOptions{Dial: o.Dial, Timeouts: o.Timeouts, ImplicitTLS: o.ImplicitTLS, MaxLine: MaxReplyLine})
	if err != nil {
		return nil, err
	}
	return &Session{conn: c, rec: rec, addr: addr}, nil
}

// Conn is the connection under the session.
func (s *Session) Conn() *netx.Conn { return s.conn }

// Recorder returns the session's recorder.
func (s *Session) Recorder() *transcript.Recorder { return s.rec }

// TLS returns the connection state after STARTTLS or implicit TLS, or nil.
func (s *Session) TLS() *tls.ConnectionState { return s.conn.TLS() }

// RemoteAddr is the server's address.
func (s *Session) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

// LocalAddr is our address.
func (s *Session) LocalAddr() net.Addr { return s.conn.LocalAddr() }

// Timeouts are the effective per-stage deadlines.
func (s *Session) Timeouts() netx.Timeouts { return s.conn.Timeouts() }

// ReadReply reads one reply within timeout (0 = the command timeout). The
// reply's Seq lists the transcript entries of its own lines. On error the
// reply read so far is returned too, and the *netx.OpError carries it as
// Partial when there was any.
func (s *Session) ReadReply(ctx context.Context, timeout time.Duration) (Reply, error) {
	disarm := s.conn.Arm(ctx, timeout)
	defer disarm()
	start := time.Now()
	r, err := ReadReply(s.conn)
	if s.observe != nil && len(r.Lines) > 0 {
		s.observe(s.answering, r)
	}
	s.answering = ""
	if err != nil {
		oe := s.conn.ReadError(ctx, "read reply", start, err)
		if oe.Partial != nil {
			// The half line the server left is part of this reply.
			r.Seq = append(r.Seq, oe.Partial.Seq...)
		}
		oe.Partial = nil
		if r.Code != 0 || len(r.Lines) > 0 {
			oe.Partial = &netx.Partial{Text: r.Excerpt(12), Seq: r.Seq}
		}
		return r, oe
	}
	return r, nil
}

// Send writes line followed by CRLF.
func (s *Session) Send(ctx context.Context, line string) error {
	return s.conn.WriteLine(ctx, 0, line)
}

// SendRaw writes bytes exactly as given: the way to send bare LF, bare CR
// or several pipelined commands in one packet.
func (s *Session) SendRaw(ctx context.Context, b []byte) error {
	return s.conn.Write(ctx, 0, b)
}

// ErrUnsolicited is Cmd's error (wrapped in a *netx.OpError, KindProtocol)
// when the server had sent something before the command was: a reply to
// no command, after which every reply would be read as the answer to the
// command before it (a desynchronised server).
var ErrUnsolicited error = netx.ProtocolError("the server sent data nobody asked for")

// Cmd sends one command and reads its reply. The command is not sent when
// the server has already sent something no command asked for
// (netx.Conn.Pending, without waiting): the error wraps ErrUnsolicited,
// and its Partial quotes what arrived.
func (s *Session) Cmd(ctx context.Context, line string) (Reply, error) {
	if err := s.unsolicited(verbOf(line)); err != nil {
		return Reply{}, err
	}
	if err := s.Send(ctx, line); err != nil {
		return Reply{}, err
	}
	s.answering = verbOf(line)
	return s.ReadReply(ctx, 0)
}

// unsolicited is the ErrUnsolicited error when the server has sent
// something no command asked for (netx.Conn.Pending, without waiting),
// about to send verb ("" for a SASL step); nil on a quiet connection.
func (s *Session) unsolicited(verb string) error {
	n, sample := s.conn.Pending()
	if n == 0 {
		return nil
	}
	if verb == "" {
		verb = "the next step"
	}
	text := transcript.Printable(s.rec.Scrub(string(sample)))
	s.rec.Event("the server sent %d bytes before %s that no command asked for: %s", n, verb, netx.Clip(text))
	return &netx.OpError{Op: "before " + verb, Err: fmt.Errorf("%w: %d bytes arrived before %s was sent", ErrUnsolicited, n, verb), Partial: &netx.Partial{Text: text}}
}

// Buffered reports bytes the server sent that were not yet read. After a
// 220 to STARTTLS this must be zero: anything else was sent before the
// handshake and would be trusted as if it came over TLS (CVE-2011-0411's
// mirror image, RFC 3207 §4.1 "the client MUST discard any knowledge").
func (s *Session) Buffered() int { return s.conn.Buffered() }

// StartTLS performs the TLS handshake after the server accepted STARTTLS
// (the caller sent the command and read the 220). Data the server sent
// before the handshake is discarded, as RFC 3207 §4.2 requires, and its
// size is returned so the caller can report it.
func (s *Session) StartTLS(ctx context.Context, cfg *tls.Config) (discarded int, err error) {
	pre, err := s.conn.StartTLS(ctx, cfg)
	return len(pre), err
}

// Close closes the connection without QUIT.
func (s *Session) Close() error { return s.conn.Close() }

// Quit sends QUIT, reads the reply (briefly) and closes.
func (s *Session) Quit(ctx context.Context) (Reply, error) {
	defer s.Close()
	if err := s.Send(ctx, "QUIT"); err != nil {
		return Reply{}, err
	}
	return s.ReadReply(ctx, 5*time.Second)
}

// AuthUnfinishedError is Auth's error when the server answered the
// exchange's last step with yet another 334 challenge: there is nothing
// more a client can send, so the exchange was cancelled with "*" (RFC
// 4954 §4) and Cancel holds the server's answer to that (501 expected).
// The credentials were neither accepted nor refused.
type AuthUnfinishedError struct {
	Mech      string
	Challenge Reply // the 334 after the last step
	Cancel    Reply // the reply to "*" (zero when it could not be read)
	// Usable is false when the cancel was not answered with a final
	// reply (the session is then still inside the exchange, or broken).
	Usable bool
}

func (e *AuthUnfinishedError) Error() string {
	return fmt.Sprintf("AUTH %s: the server answered the last step with another challenge (%s); the exchange was cancelled", e.Mech, e.Challenge.Short())
}

// Auth runs an SMTP AUTH exchange (RFC 4954) with mechanism mech (PLAIN,
// LOGIN, CRAM-MD5 or XOAUTH2; for XOAUTH2 the password is the token). The
// password and every encoded form of it are registered as secrets with the
// recorder before anything is sent, so they cannot reach the transcript.
// A 334 after the last step is an *AuthUnfinishedError: the exchange is
// cancelled with "*", never left open under the next command.
func (s *Session) Auth(ctx context.Context, mech, user, password string) (Reply, error) {
	mech = strings.ToUpper(mech)
	r, err := s.auth(ctx, mech, user, password)
	if err != nil || r.Code != 334 {
		return r, err
	}
	ue := &AuthUnfinishedError{Mech: mech, Challenge: r}
	if err := s.Send(ctx, "*"); err != nil {
		return r, err
	}
	s.answering = "*"
	c, err := s.ReadReply(ctx, 0)
	if err != nil {
		return r, err
	}
	ue.Cancel, ue.Usable = c, c.Code != 334
	return c, ue
}

func (s *Session) auth(ctx context.Context, mech, user, password string) (Reply, error) {
	s.rec.AddCredential(user, password)
	s.oauthErr = ""
	switch mech {
	case "PLAIN":
		// RFC 4616: authzid NUL authcid NUL passwd, sent as an initial
		// response (RFC 4954 §4) to save a round trip.
		ir := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
		s.rec.AddSecret(ir)
		return s.Cmd(ctx, "AUTH PLAIN "+ir)
	case "XOAUTH2":
		ir := base64.StdEncoding.EncodeToString([]byte("user=" + user + "\x01auth=Bearer " + password + "\x01\x01"))
		s.rec.AddSecret(ir)
		r, err := s.Cmd(ctx, "AUTH XOAUTH2 "+ir)
		if err == nil && r.Code == 334 {
			// Google and Microsoft send a JSON error as a challenge; an
			// empty response ends the exchange with the real error code.
			if b, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(r.Text())); derr == nil {
				s.oauthErr = string(b)
			}
			return s.Cmd(ctx, "")
		}
		return r, err
	case "LOGIN":
		r, err := s.Cmd(ctx, "AUTH LOGIN")
		if err != nil || r.Code != 334 {
			return r, err
		}
		if r, err = s.Cmd(ctx, base64.StdEncoding.EncodeToString([]byte(user))); err != nil || r.Code != 334 {
			return r, err
		}
		return s.Cmd(ctx, base64.StdEncoding.EncodeToString([]byte(password)))
	case "CRAM-MD5":
		// RFC 2195: the response is user SP hex(HMAC-MD5(password, challenge)).
		r, err := s.Cmd(ctx, "AUTH CRAM-MD5")
		if err != nil || r.Code != 334 {
			return r, err
		}
		chal, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(r.Text()))
		if derr != nil {
			_ = s.Send(ctx, "*") // cancel the exchange (RFC 4954 §4)
			r2, _ := s.ReadReply(ctx, 0)
			return r2, fmt.Errorf("CRAM-MD5 challenge is not base64: %q", netx.Clip(r.Text()))
		}
		m := hmac.New(md5.New, []byte(password))
		m.Write(chal)
		resp := base64.StdEncoding.EncodeToString([]byte(user + " " + hex.EncodeToString(m.Sum(nil))))
		s.rec.AddSecret(resp)
		return s.Cmd(ctx, resp)
	}
	c, err := s.saslClient(mech, user, password)
	if err != nil {
		return Reply{}, err
	}
	return s.saslExchange(ctx, mech, c)
}

// Data sends DATA, the message with dot-stuffing (RFC 5321 §4.5.2) and
// normalised CRLF line endings, and the final dot; it returns the reply to
// DATA (354 expected) and the final reply.
func (s *Session) Data(ctx context.Context, msg []byte) (first, final Reply, err error) {
	first, err = s.Cmd(ctx, "DATA")
	if err != nil || first.Code != 354 {
		return first, Reply{}, err
	}
	final, err = s.sendBody(ctx, msg)
	return first, final, err
}

// sendBody sends the message after a 354 (RFC 5321 §4.1.1.4) and reads
// the final reply, both within the data timeout.
func (s *Session) sendBody(ctx context.Context, msg []byte) (Reply, error) {
	if err := s.writeBody(ctx, msg); err != nil {
		return Reply{}, err
	}
	s.answering = "."
	return s.ReadReply(ctx, s.Timeouts().Data)
}

// writeBody sends the message, dot-stuffed, and the final dot.
func (s *Session) writeBody(ctx context.Context, msg []byte) error {
	t := s.Timeouts().Data
	body := DotStuff(msg)
	s.conn.SetData(true)
	werr := s.conn.Write(ctx, t, body[:len(body)-3])
	s.conn.SetData(false)
	if werr == nil {
		werr = s.conn.Write(ctx, t, body[len(body)-3:]) // the final ".\r\n"
	}
	return werr
}

// DotStuff converts msg to CRLF line endings, doubles leading dots and
// appends the terminating "." line. Bare CR and bare LF are both turned
// into CRLF: a compliant client never sends them (RFC 5321 §2.3.8), and
// smuggling probes use SendRaw instead.
func DotStuff(msg []byte) []byte {
	var b strings.Builder
	b.Grow(len(msg) + len(msg)/40 + 8)
	lineStart := true
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if lineStart && c == '.' {
			b.WriteByte('.')
		}
		lineStart = false
		switch c {
		case '\r':
			if i+1 < len(msg) && msg[i+1] == '\n' {
				i++
			}
			b.WriteString("\r\n")
			lineStart = true
		case '\n':
			b.WriteString("\r\n")
			lineStart = true
		default:
			b.WriteByte(c)
		}
	}
	if !lineStart {
		b.WriteString("\r\n")
	}
	b.WriteString(".\r\n")
	return []byte(b.String())
}
