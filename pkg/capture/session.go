package capture

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailprobe/mailprobe/pkg/transcript"
)

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// smtpSession is one SMTP connection.
type smtpSession struct {
	s        *Server
	c        *smtp.Conn
	log      *sessionLog // nil when the connection is not recorded
	authUser string
	from     string
	rcpts    []string
}

func (s *Server) newSMTPSession(c *smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	s.smtpConns[c.Conn()] = true
	s.mu.Unlock()
	ss := &smtpSession{s: s, c: c, log: logOf(c.Conn())}
	if ss.log != nil {
		// Inside TLS the EHLO is not on the recorded wire: a new session
		// starts with each EHLO (go-smtp), so this is where it is seen.
		ss.log.parsed("C", "EHLO "+c.Hostname(), false)
	}
	return ss, nil
}

// note records a command understood inside TLS.
func (ss *smtpSession) note(line string, redacted bool) {
	if ss.log != nil {
		ss.log.parsed("C", line, redacted)
	}
}

var _ smtp.AuthSession = (*smtpSession)(nil)

func (ss *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

func (ss *smtpSession) Auth(mech string) (sasl.Server, error) {
	ss.note("AUTH "+mech+" "+transcript.Redacted, true)
	check := func(user, password string) error {
		if _, ok := ss.s.checkPassword(user, password); !ok {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		ss.authUser = user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, password string) error {
			if identity != "" && identity != user {
				return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authorization identity must match the user"}
			}
			return check(user, password)
		}), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// loginServer is the server side of AUTH LOGIN (draft-murchison-sasl-login),
// which go-sasl only has as a client.
type loginServer struct {
	check      func(user, password string) error
	user       string
	state      int
	gotInitial bool
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch l.state {
	case 0:
		l.state = 1
		if response != nil {
			l.user = string(response)
			l.state = 2
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.user = string(response)
		l.state = 2
		return []byte("Password:"), false, nil
	case 2:
		l.state = 3
		return nil, true, l.check(l.user, string(response))
	}
	return nil, true, errors.New("unexpected client response")
}

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.note("MAIL FROM:<"+from+">", false)
	if ss.s.catchAll == nil && ss.authUser == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	ss.from = from
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.note("RCPT TO:<"+to+">", false)
	if e := ss.s.faults.Load().RejectRcpt; e != nil {
		return e
	}
	ss.rcpts = append(ss.rcpts, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	o := ss.s.o
	f := ss.s.faults.Load()
	ss.note("DATA", false)
	// The DATA phase has its own deadline, from now to the final dot:
	// go-smtp's per-command timeout was armed when DATA was read, and a
	// client dripping its message must not hold the connection longer.
	_ = ss.c.Conn().SetReadDeadline(time.Now().Add(o.DataTimeout))
	raw, err := copyLimited(r, o.MaxMessageBytes)
	if err != nil {
		if isTimeout(err) {
			// The client is inside its message: nothing it sends can be
			// read as a command any more. Answer, then hang up.
			nc := ss.c.Conn()
			_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = fmt.Fprintf(nc, "%d %d.%d.%d %s\r\n", errDataTimeout.Code, errDataTimeout.EnhancedCode[0], errDataTimeout.EnhancedCode[1], errDataTimeout.EnhancedCode[2], errDataTimeout.Message)
			_ = nc.Close()
			return errDataTimeout
		}
		return err
	}
	if f.DropAfterData {
		_ = ss.c.Conn().Close()
		return errDropped
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-ss.s.closed:
			t.Stop()
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Shutting down"}
		}
	}
	if e := f.TempFail; e != nil {
		return e
	}
	m := &Message{
		ID:       queueID(),
		Received: o.Now(),
		Remote:   ss.c.Conn().RemoteAddr().String(),
		Helo:     ss.c.Hostname(),
		AuthUser: ss.authUser,
		MailFrom: ss.from,
		Rcpt:     append([]string(nil), ss.rcpts...),
	}
	if _, ok := ss.c.TLSConnectionState(); ok {
		m.TLS = true
	}
	ip := remoteIP(ss.c.Conn().RemoteAddr())
	if !o.CheckSPF {
		ip = netip.Addr{}
	}
	m.Auth = authenticate(context.Background(), o.Resolver, raw, ip, m.Helo, m.MailFrom, o.Hostname)
	if o.Transform != nil {
		raw = o.Transform(raw)
	}
	m.Raw = append([]byte(receivedHeaders(o.Hostname, *m)), raw...)
	m.Size = len(m.Raw)
	ss.s.judge(m)
	reply := &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "OK: queued as " + m.ID}
	if ss.log != nil {
		// The reply is written after Data returns: it is added here as
		// it will be sent.
		tr := ss.log.snapshot()
		next := 1
		if len(tr) > 0 {
			next = tr[len(tr)-1].Seq + 1
		}
		m.Transcript = append(tr, TranscriptLine{Seq: next, Dir: "S", Line: replyLine(reply), TLS: m.TLS})
	}
	if err := ss.s.deliver(m); err != nil {
		ss.s.o.Logf("capture: storing message: %v", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Local error storing the message"}
	}
	return reply
}

func (ss *smtpSession) Reset() {
	ss.from = ""
	ss.rcpts = nil
}

func (ss *smtpSession) Logout() error {
	ss.s.mu.Lock()
	delete(ss.s.smtpConns, ss.c.Conn())
	ss.s.mu.Unlock()
	return nil
}

func replyLine(e *smtp.SMTPError) string {
	return fmt.Sprintf("%d %d.%d.%d %s", e.Code, e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2], e.Message)
}

// queueID is short and unique: 10 base32 characters of randomness.
func queueID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return strings.TrimRight(base32.StdEncoding.EncodeToString(b), "=")
}

// receivedHeaders are the trace and result headers a receiving server
// prepends (RFC 5321 §4.4, RFC 8601).
func receivedHeaders(host string, m Message) string {
	proto := "ESMTP"
	if m.TLS {
		proto += "S"
	}
	if m.AuthUser != "" {
		proto += "A"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Authentication-Results: %s;%s\r\n", host, m.Auth.header())
	fmt.Fprintf(&b, "Received: from %s (%s)\r\n\tby %s (mailprobe capture) with %s id %s\r\n\tfor <%s>; %s\r\n",
		sanitize(m.Helo), sanitize(m.Remote), host, proto, m.ID, sanitize(strings.Join(m.Rcpt, ">, <")), m.Received.Format(time.RFC1123Z))
	return b.String()
}

// sanitize keeps client-supplied text from breaking the header it is put in.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// imapSession accepts LOGIN per the capture server's rules and then is a
// plain go-imap memory-backend session.
type imapSession struct {
	*imapmemserver.UserSession
	srv *Server
}

func (is *imapSession) Login(user, password string) error {
	u, ok := is.srv.checkPassword(user, password)
	if !ok || u == nil {
		return imapserver.ErrAuthFailed
	}
	is.UserSession = imapmemserver.NewUserSession(u)
	return nil
}

func (is *imapSession) Close() error {
	if is.UserSession == nil {
		return nil
	}
	return is.UserSession.Close()
}
