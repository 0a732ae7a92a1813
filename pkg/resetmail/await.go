package resetmail

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/smtpclient"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// IMAPOptions say how to reach the recipient's mailbox.
type IMAPOptions struct {
	Host string
	Port int // default 993 (implicit TLS)
	// TLS is the --imap-tls value: auto (""), starttls, implicit or none,
	// in netx.ParseTLSMode's spellings. Auto takes the mode of a port in
	// netx.MailPorts (993 implicit, 143 STARTTLS) and detects it on any
	// other port.
	TLS            string
	User, Password string
	// OAuth says Password is an OAuth 2.0 access token: the login is
	// AUTHENTICATE OAuthMech (XOAUTH2 or OAUTHBEARER; "" = OAUTHBEARER
	// when advertised, else XOAUTH2), as Microsoft 365 and Gmail need.
	OAuth              bool
	OAuthMech          string
	ServerName         string
	RootCAs            *x509.CertPool
	Insecure           bool
	AllowPlaintextAuth bool
	Dial               netx.DialFunc
	Timeouts           netx.Timeouts
}

// Mailbox is a logged-in IMAP session, recorded into the run's transcript.
type Mailbox struct {
	c   *imapclient.Client
	rec *transcript.Recorder
	raw net.Conn
	tls *tls.ConnectionState
	// dead is set when a bounded operation had to close the connection.
	dead bool
	// detected is the silence after which implicit TLS was detected on a
	// port of unknown mode, or 0.
	detected time.Duration
	// idle is true when the server offers IDLE (RFC 2177), so waiting can
	// be pushed instead of polled.
	idle bool
	// exists receives a value when the server announces new messages;
	// existsAt is when the newest announcement arrived.
	exists   chan struct{}
	existsMu sync.Mutex
	existsAt time.Time
	// idling is the IDLE command in progress, nil when none; idleOn is
	// true while it runs (read by the unilateral data handler).
	idling *imapclient.IdleCommand
	idleOn atomic.Bool
}

// ErrPlaintextRefused is returned when the mailbox would need a password
// sent without TLS and the user did not allow it.
var ErrPlaintextRefused = fmt.Errorf("refusing to send the IMAP password without TLS (use --imap-allow-plaintext-auth to allow)")

// imapTLSMode is how the mailbox connection gets TLS: the mode given,
// else the one netx.MailPorts knows for the port (any known port: an
// implicit-TLS one is TLS from the first byte, RFC 8314 §3.3; the others
// upgrade, RFC 9051 §6.2.1). Auto is left only for an unknown port,
// where DialMailbox detects the mode.
func imapTLSMode(o IMAPOptions) (netx.TLSMode, error) {
	m, err := netx.ParseTLSMode(o.TLS)
	if err != nil {
		return "", fmt.Errorf("--imap-tls: %w", err)
	}
	if m != netx.TLSAuto {
		return m, nil
	}
	if p, ok := netx.PortInfo(o.Port); ok {
		return netx.TLSAuto.Resolve(p.Number), nil
	}
	return netx.TLSAuto, nil
}

// DialMailbox connects, upgrades to TLS and greets. It does not log in.
// The STARTTLS upgrade is done here rather than by imapclient so that the
// transcript records the plaintext inside TLS, not the ciphertext.
func DialMailbox(ctx context.Context, o IMAPOptions, rec *transcript.Recorder) (*Mailbox, error) {
	t := o.Timeouts.WithDefaults()
	if o.Port == 0 {
		o.Port = 993
	}
	addr := net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
	cfg := &tls.Config{ServerName: o.ServerName, RootCAs: o.RootCAs, InsecureSkipVerify: o.Insecure, MinVersion: tls.VersionTLS12} //nolint:gosec // --insecure is the user's explicit choice
	if cfg.ServerName == "" {
		cfg.ServerName = o.Host
	}
	mode, err := imapTLSMode(o)
	if err != nil {
		return nil, err
	}
	if mode == netx.TLSNone && !o.AllowPlaintextAuth {
		return nil, ErrPlaintextRefused
	}
	co := netx.ConnOptions{Dial: o.Dial, Timeouts: t}
	if mode == netx.TLSImplicit {
		co.ImplicitTLS = cfg
	}
	nc, err := netx.Dial(ctx, addr, rec, co)
	if err != nil {
		var oe *netx.OpError
		if errors.As(err, &oe) && oe.Op == "tls handshake" {
			return nil, tlsError(addr, err)
		}
		return nil, fmt.Errorf("connect to %s: %s", addr, netx.Describe(err, t.Connect))
	}
	m := &Mailbox{rec: rec, tls: nc.TLS(), exists: make(chan struct{}, 1)}
	if mode == netx.TLSAuto {
		// A port of unknown mode: the one detection (a silent port that
		// answers a ClientHello is implicit TLS), else STARTTLS. A close
		// or reset while waiting is reported by the greeting read.
		mode = netx.TLSStartTLS
		implicit, waited, err := nc.DetectImplicitTLS(ctx, o.Dial, addr, cfg.ServerName)
		if err == nil && implicit {
			if _, err := nc.StartTLS(ctx, cfg); err != nil {
				nc.Close()
				return nil, tlsError(addr, err)
			}
			m.tls, m.detected, mode = nc.TLS(), waited, netx.TLSImplicit
		}
	}
	var conn net.Conn
	if mode == netx.TLSStartTLS {
		greeting, err := startTLS(ctx, nc, cfg, addr, t)
		if err != nil {
			nc.Close()
			return nil, err
		}
		m.tls = nc.TLS()
		// imapclient expects a greeting first; after STARTTLS the server
		// sends none, so feed it the one already received (not recorded
		// twice: it is outside the recording conn).
		wc := nc.NetConn()
		conn = prefixConn{Conn: wc, r: io.MultiReader(strings.NewReader(greeting+"\r\n"), wc)}
	} else {
		conn = nc.NetConn()
	}
	// From here imapclient reads; the deadline bounds its greeting.
	m.raw = conn
	_ = conn.SetDeadline(time.Now().Add(t.Banner + t.TLS))
	m.c = imapclient.New(conn, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				// Only an announcement during IDLE times an arrival:
				// SELECT's own EXISTS says nothing about when.
				if d.NumMessages != nil && m.idleOn.Load() {
					m.existsMu.Lock()
					m.existsAt = time.Now()
					m.existsMu.Unlock()
					select {
					case m.exists <- struct{}{}:
					default:
					}
				}
			},
		},
	})
	if err := m.c.WaitGreeting(); err != nil {
		m.Close()
		return nil, fmt.Errorf("IMAP greeting from %s: %v", addr, err)
	}
	_ = m.raw.SetDeadline(time.Time{})
	return m, nil
}

// tlsError words a failed handshake with addr (a *netx.OpError of Op
// "tls handshake").
func tlsError(addr string, err error) error {
	var oe *netx.OpError
	if errors.As(err, &oe) {
		err = oe.Err
	}
	return fmt.Errorf("TLS handshake with %s: %w", addr, err)
}

// DetectedImplicitTLS is the silence after which DialMailbox found
// implicit TLS on a port of unknown mode (its caller says so in a
// finding), or 0 when the mode was known.
func (m *Mailbox) DetectedImplicitTLS() time.Duration { return m.detected }

// prefixConn reads from r (a replayed greeting, then the connection).
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (p prefixConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// Login authenticates; the password is registered as a secret first.
func (m *Mailbox) Login(ctx context.Context, user, password string, timeout time.Duration) error {
	m.rec.AddCredential(user, password)
	if err := m.run(ctx, timeout, func() error { return m.c.Login(user, password).Wait() }); err != nil {
		return err
	}
	caps := m.c.Caps()
	m.idle = caps.Has(imap.CapIdle) || caps.Has(imap.CapIMAP4rev2)
	return nil
}

// LoginOAuth authenticates with an OAuth 2.0 access token (XOAUTH2 or
// OAUTHBEARER over AUTHENTICATE, RFC 7628); the token is registered as
// a secret first. A refused token's JSON error challenge is decoded and
// explained in the error.
func (m *Mailbox) LoginOAuth(ctx context.Context, user, token, mech, host string, timeout time.Duration) error {
	m.rec.AddCredential(user, token)
	if mech == "" {
		mech = "XOAUTH2"
		if m.c.Caps().Has(imap.Cap("AUTH=OAUTHBEARER")) {
			mech = "OAUTHBEARER"
		}
	}
	cl := &smtpclient.OAuthClient{Mech: mech, User: user, Token: token, Host: host}
	err := m.run(ctx, timeout, func() error { return m.c.Authenticate(cl) })
	if err != nil {
		if _, why, ok := smtpclient.ExplainOAuthError(cl.Err); ok {
			return fmt.Errorf("AUTHENTICATE %s: %v; %s", mech, err, why)
		}
		return fmt.Errorf("AUTHENTICATE %s: %v", mech, err)
	}
	caps := m.c.Caps()
	m.idle = caps.Has(imap.CapIdle) || caps.Has(imap.CapIMAP4rev2)
	return nil
}

// run executes op within timeout. imapclient sets its own read deadlines
// (30 s per response, none while idle), overriding any set here, so the
// bound is enforced by closing the connection when it passes: a stalled
// server ends the operation at once, with an error that says so.
func (m *Mailbox) run(ctx context.Context, timeout time.Duration, op func() error) error {
	if m.dead {
		return errMailboxClosed
	}
	// An operation always gets a real chance: callers cap timeouts by
	// what is left of a wait, which can run out.
	timeout = max(timeout, minIMAPOpTimeout)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = m.raw.Close() })
	err := op()
	if !stop() {
		m.dead = true
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("the IMAP server did not answer within %s", timeout)
		}
		return ctx.Err()
	}
	return err
}

// minIMAPOpTimeout is the least time one IMAP operation is given.
const minIMAPOpTimeout = time.Second

// errMailboxClosed is the error of an operation on a connection an earlier
// operation had to close.
var errMailboxClosed = errors.New("the IMAP connection was closed after an earlier operation failed")

// ExistsSince returns when the server last announced new messages, if that
// was after t.
func (m *Mailbox) ExistsSince(t time.Time) (time.Time, bool) {
	m.existsMu.Lock()
	defer m.existsMu.Unlock()
	return m.existsAt, !m.existsAt.Before(t)
}

// StartIdle selects INBOX and starts IDLE (RFC 2177), so that a new
// message is announced the moment it is delivered. It does nothing when
// the server has no IDLE.
func (m *Mailbox) StartIdle(ctx context.Context, timeout time.Duration) error {
	if !m.idle || m.idling != nil {
		return nil
	}
	return m.run(ctx, timeout, func() error {
		if _, err := m.c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			return err
		}
		var err error
		m.idling, err = m.c.Idle()
		if err == nil {
			m.idleOn.Store(true)
		}
		return err
	})
}

// StopIdle ends IDLE, if one is running.
func (m *Mailbox) StopIdle(ctx context.Context, timeout time.Duration) error {
	if m.idling == nil {
		return nil
	}
	idle := m.idling
	m.idling = nil
	m.idleOn.Store(false)
	return m.run(ctx, timeout, func() error {
		_ = idle.Close()
		return idle.Wait()
	})
}

// Idling reports whether an IDLE is running.
func (m *Mailbox) Idling() bool { return m.idling != nil }

// Close logs out (best effort) and closes.
func (m *Mailbox) Close() {
	if m.c == nil {
		m.raw.Close()
		return
	}
	_ = m.raw.SetDeadline(time.Now().Add(2 * time.Second))
	if m.idling != nil {
		_ = m.idling.Close()
		m.idling = nil
	}
	_ = m.c.Logout().Wait()
	m.c.Close()
	m.rec.Event("imap: connection closed")
}

// Folders returns the folders to search: INBOX first, then the junk
// folders (by the \Junk special-use attribute of RFC 6154, else by the
// names providers use).
func (m *Mailbox) Folders(ctx context.Context, timeout time.Duration) ([]string, error) {
	var list []*imap.ListData
	err := m.run(ctx, timeout, func() error {
		var err error
		list, err = m.c.List("", "*", nil).Collect()
		return err
	})
	if err != nil {
		return nil, err
	}
	out := []string{"INBOX"}
	for _, l := range list {
		if isJunk(l) {
			out = append(out, l.Mailbox)
		}
	}
	return out, nil
}

var junkNames = map[string]bool{"junk": true, "spam": true, "junk e-mail": true, "junk email": true, "bulk mail": true, "[gmail]/spam": true, "inbox.junk": true, "inbox.spam": true, "inbox/junk": true}

func isJunk(l *imap.ListData) bool {
	for _, a := range l.Attrs {
		if a == imap.MailboxAttrJunk {
			return true
		}
	}
	return junkNames[strings.ToLower(l.Mailbox)]
}

// IsJunkFolder reports whether name is INBOX's opposite.
func IsJunkFolder(name string) bool { return !strings.EqualFold(name, "INBOX") }

// Found is a message located in the mailbox.
type Found struct {
	Folder string
	UID    imap.UID
	Raw    []byte
}

// Find searches folders for the Message-ID once.
func (m *Mailbox) Find(ctx context.Context, folders []string, messageID string, timeout time.Duration) (*Found, error) {
	for _, f := range folders {
		var uids []imap.UID
		err := m.run(ctx, timeout, func() error {
			if _, err := m.c.Select(f, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
				return err
			}
			data, err := m.c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: messageID}}}, nil).Wait()
			if err != nil {
				return err
			}
			uids = data.AllUIDs()
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("searching %s: %w", f, err)
		}
		if len(uids) == 0 {
			continue
		}
		var raw []byte
		err = m.run(ctx, timeout, func() error {
			section := &imap.FetchItemBodySection{Peek: true}
			msgs, err := m.c.Fetch(imap.UIDSetNum(uids[0]), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
			if err != nil {
				return err
			}
			if len(msgs) == 0 {
				return fmt.Errorf("message UID %d vanished before it could be fetched", uids[0])
			}
			raw = msgs[0].FindBodySection(section)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("fetching from %s: %w", f, err)
		}
		return &Found{Folder: f, UID: uids[0], Raw: raw}, nil
	}
	return nil, nil
}

// WaitNew blocks until the server announces a change (IDLE) or d passes.
// Without IDLE it simply sleeps: polling is the fallback RFC 2177 exists
// to replace.
func (m *Mailbox) WaitNew(ctx context.Context, d time.Duration, timeout time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	if !m.idle || m.dead {
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		return
	}
	var idle *imapclient.IdleCommand
	if err := m.run(ctx, timeout, func() error {
		if _, err := m.c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			return err
		}
		var err error
		idle, err = m.c.Idle()
		return err
	}); err != nil {
		return
	}
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-m.exists:
	}
	_ = m.run(ctx, timeout, func() error {
		_ = idle.Close()
		return idle.Wait()
	})
}

// Delete removes the test message (--cleanup).
func (m *Mailbox) Delete(ctx context.Context, f *Found, timeout time.Duration) error {
	return m.run(ctx, timeout, func() error {
		if _, err := m.c.Select(f.Folder, nil).Wait(); err != nil {
			return err
		}
		if err := m.c.Store(imap.UIDSetNum(f.UID), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			return err
		}
		if m.c.Caps().Has(imap.CapUIDPlus) {
			return m.c.UIDExpunge(imap.UIDSetNum(f.UID)).Close()
		}
		return m.c.Expunge().Close()
	})
}

// TLS is the connection state, nil without TLS.
func (m *Mailbox) TLS() *tls.ConnectionState { return m.tls }

// startTLS reads the greeting, sends STARTTLS (RFC 9051 §6.2.1) and
// upgrades nc. It returns the greeting for imapclient to read again.
func startTLS(ctx context.Context, nc *netx.Conn, cfg *tls.Config, addr string, t netx.Timeouts) (string, error) {
	g, err := nc.ReadLine(ctx, t.Banner)
	if err != nil {
		return "", fmt.Errorf("IMAP greeting from %s: %s", addr, netx.Describe(err, t.Banner))
	}
	greeting := g.Text
	if !strings.HasPrefix(greeting, "* OK") {
		return "", fmt.Errorf("IMAP greeting from %s: %s", addr, strings.TrimSpace(greeting))
	}
	if err := nc.WriteLine(ctx, t.Command, "S0 STARTTLS"); err != nil {
		return "", err
	}
	disarm := nc.Arm(ctx, t.Command)
	defer disarm()
	for i := 0; ; i++ {
		if i == 100 {
			return "", fmt.Errorf("IMAP STARTTLS: no tagged reply in 100 lines")
		}
		l, err := nc.Next()
		if err != nil {
			return "", fmt.Errorf("IMAP STARTTLS: %s", netx.Describe(err, t.Command))
		}
		if line := l.Text; strings.HasPrefix(line, "S0 ") {
			if !strings.HasPrefix(strings.ToUpper(line), "S0 OK") {
				return "", fmt.Errorf("IMAP STARTTLS refused: %s", strings.TrimSpace(line))
			}
			break
		}
	}
	disarm()
	pre, err := nc.StartTLS(ctx, cfg)
	if len(pre) > 0 {
		// RFC 9051 §11.1: nothing may follow the OK before the
		// handshake; such bytes could have been injected.
		return "", fmt.Errorf("IMAP server sent %d bytes after STARTTLS OK before the TLS handshake", len(pre))
	}
	if err != nil {
		return "", tlsError(addr, err)
	}
	return greeting, nil
}

// topReceivedTime is the date of the topmost Received: field (the one the
// final server added), RFC 5322 §3.6.7: after the last ";".
func topReceivedTime(raw []byte) (time.Time, bool) {
	hdr, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))).ReadMIMEHeader()
	if err != nil && len(hdr) == 0 {
		return time.Time{}, false
	}
	v := hdr.Get("Received")
	i := strings.LastIndexByte(v, ';')
	if i < 0 {
		return time.Time{}, false
	}
	t, err := mail.ParseDate(strings.TrimSpace(v[i+1:]))
	return t, err == nil
}
