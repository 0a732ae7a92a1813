// Package capture is mailprobe's in-process mail pair: an SMTP server
// (go-smtp) that accepts mail the way a submission server does — STARTTLS
// with a throw-away certificate, AUTH PLAIN and LOGIN — and delivers every
// message into an in-memory IMAP server (go-imap/v2) where clients read it
// back. It backs `reset send --embedded` (the zero-setup demo, which runs
// every real stage against it) and `mailprobe capture` (a development sink
// like Mailpit, with fault injection to test how an app handles a server
// that says no).
//
// On arrival each message gets the headers a receiving server adds —
// Received and Authentication-Results (RFC 8601) with DKIM, SPF and DMARC
// evaluated by pkg/dnsauth through Options.Resolver — and is judged
// against the reset-email practices (resetmail.Analyze).
package capture

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-smtp"

	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resetmail"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// Options configure a capture server. The zero value listens on random
// loopback ports and accepts any credentials.
type Options struct {
	// Hostname is the name in the banner, the certificate and the
	// Authentication-Results headers; default "localhost".
	Hostname string
	// SMTPAddr and IMAPAddr are where to listen; default 127.0.0.1:0.
	SMTPAddr, IMAPAddr string
	// Users maps an address to its password. Empty: any user name and
	// password are accepted (SMTP AUTH and IMAP LOGIN), and AUTH is
	// optional. Set: AUTH is required before MAIL, only these credentials
	// work, and IMAP LOGIN needs them too.
	Users map[string]string
	// AuthNeedsTLS refuses AUTH and IMAP LOGIN before STARTTLS, as a
	// production submission server does. Off by default: apps under
	// development often send without TLS.
	AuthNeedsTLS bool
	// Resolver answers every DNS question of the DKIM, SPF and DMARC
	// checks, which are mailprobe's own (pkg/dnsauth, as in `mailprobe
	// dkim verify`, `spf` and `dmarc`). Nil: nothing is looked up and the
	// results say NotChecked.
	Resolver resolver.Interface
	// CheckSPF evaluates SPF for the connecting IP. Off by default: a
	// development sink is reached over loopback, not from the app's
	// production address, so an SPF verdict would say nothing true.
	CheckSPF bool

	// Fault injection, to test how an app handles a server that says no.
	RejectRcpt    *smtp.SMTPError // answer every RCPT with this
	TempFail      *smtp.SMTPError // answer the end of DATA with this (nothing stored)
	Delay         time.Duration   // wait this long before answering the end of DATA
	DropAfterData bool            // read the message, then close without answering

	// Folder is the mailbox messages are delivered to: "INBOX" (default)
	// or "Junk", to see how an app's tests cope with spam-foldering.
	Folder string
	// Transform, when set, changes each message before it is stored, as
	// a security gateway or link tracker on the way would (tests).
	Transform func(raw []byte) []byte

	// CAOut, when set, gets the throw-away CA certificate (PEM) before
	// the ports open, so a client that waits for the port can trust it.
	CAOut string

	// StoreDir, when set, gets every accepted message as NNNN-ID.eml,
	// written before the 250 reply so nothing acknowledged is lost.
	StoreDir string
	// MaxMessages is how many messages are kept (in memory, in the IMAP
	// mailbox and in the HTTP API); for each one over, the oldest is
	// dropped and counted (StoreStats.Dropped). Default
	// DefaultMaxMessages; negative: no limit. Files in StoreDir are not
	// removed for the cap, only when a message is deleted.
	MaxMessages int
	// Expect is what every message is judged as: ExpectAuto (the reset
	// checks only for messages that look like a reset email) or
	// ExpectReset (every message must be a reset email).
	Expect          string
	MaxMessageBytes int64 // default 25 MiB
	// MaxConns bounds the connections open at once on each port (default
	// DefaultMaxConns): an excess SMTP client gets "421 4.7.0 too many
	// connections", an IMAP client "* BYE too many connections", and is
	// closed.
	MaxConns int
	// IdleTimeout is how long an SMTP client may take to send its next
	// command (default DefaultIdleTimeout); then it gets 421 and is closed.
	IdleTimeout time.Duration
	// DataTimeout bounds the DATA phase of one message, from the 354 to
	// the final dot (default DefaultDataTimeout); a client that has not
	// finished gets 421 and is closed, and nothing is stored.
	DataTimeout time.Duration
	Now         func() time.Time
	// OnMessage is called for every accepted message, in arrival order.
	OnMessage func(Message)
	// Logf receives server-side errors (default: dropped).
	Logf func(format string, args ...any)
}

// Message is one accepted message.
type Message struct {
	Seq      int         `json:"seq"`
	ID       string      `json:"id"` // the queue id given in the 250 reply
	Received time.Time   `json:"received"`
	Remote   string      `json:"remote"`
	Helo     string      `json:"helo"`
	TLS      bool        `json:"tls"`
	AuthUser string      `json:"auth_user,omitempty"`
	MailFrom string      `json:"mail_from"`
	Rcpt     []string    `json:"rcpt"`
	Size     int         `json:"size"`
	Auth     AuthResults `json:"auth"`
	// Kind is what the message was judged as: KindReset (the reset-email
	// practices apply) or KindOther (the generic checks only).
	Kind      string             `json:"kind"`
	Analysis  resetmail.Analysis `json:"analysis"`
	Findings  []report.Finding   `json:"findings,omitempty"`
	StoredAs  string             `json:"stored_as,omitempty"`
	Raw       []byte             `json:"-"` // as delivered, with the added headers
	Delivered []string           `json:"delivered_to"`
	// Transcript is the SMTP session up to this message's reply, with
	// credentials redacted.
	Transcript []TranscriptLine `json:"transcript,omitempty"`
	// Restored marks a message read back from --store at start.
	Restored bool `json:"restored,omitempty"`

	imap []imapRef
	ix   *msgIndex
}

// Server is a running capture pair.
type Server struct {
	o     Options
	certs *certs
	smtp  *smtp.Server
	imap  *imapserver.Server
	mem   *imapmemserver.Server
	smtpL net.Listener
	// smtpServing is closed when go-smtp's Serve has returned.
	smtpServing chan struct{}
	imapL       net.Listener
	// imapServing is closed when go-imap's Serve has returned: its Serve
	// records the listener without a lock that its Close takes, so Close
	// must not run before Serve is done with it.
	imapServing chan struct{}

	mu       sync.Mutex
	users    map[string]*imapmemserver.User // by lower-case address
	catchAll *imapmemserver.User            // used when Options.Users is empty
	// smtpConns are the open SMTP connections, closed by Close when
	// their clients do not finish within the grace period.
	smtpConns map[net.Conn]bool
	seq       int
	// toExpunge are messages dropped for the cap whose IMAP copies are
	// not expunged yet (expungeBatch).
	toExpunge []*Message

	messages *store
	faults   atomic.Pointer[Faults]
	httpSrv  []*http.Server

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup
}

// Start listens on both ports and serves until Close or until ctx ends.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Hostname == "" {
		o.Hostname = "localhost"
	}
	if o.SMTPAddr == "" {
		o.SMTPAddr = "127.0.0.1:0"
	}
	if o.IMAPAddr == "" {
		o.IMAPAddr = "127.0.0.1:0"
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 25 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.DataTimeout <= 0 {
		o.DataTimeout = DefaultDataTimeout
	}
	if o.Folder != "" && o.Folder != "INBOX" && o.Folder != "Junk" {
		return nil, fmt.Errorf("folder %q: only INBOX and Junk exist", o.Folder)
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.MaxMessages == 0 {
		o.MaxMessages = DefaultMaxMessages
	}
	if o.Expect != ExpectAuto && o.Expect != ExpectReset {
		return nil, fmt.Errorf("expect %q: only reset, or nothing (judge by the message)", o.Expect)
	}
	if o.StoreDir != "" {
		if err := os.MkdirAll(o.StoreDir, 0o700); err != nil {
			return nil, fmt.Errorf("--store: %w", err)
		}
	}
	c, err := newCerts(o.Hostname, o.Now())
	if err != nil {
		return nil, fmt.Errorf("making the certificate: %w", err)
	}
	if o.CAOut != "" {
		if err := os.WriteFile(o.CAOut, c.caPEM, 0o644); err != nil {
			return nil, fmt.Errorf("--ca-out: %w", err)
		}
	}
	s := &Server{o: o, certs: c, mem: imapmemserver.New(), users: map[string]*imapmemserver.User{}, smtpConns: map[net.Conn]bool{}, closed: make(chan struct{}),
		messages: newStore(max(o.MaxMessages, 0))}
	s.faults.Store(&Faults{RejectRcpt: o.RejectRcpt, TempFail: o.TempFail, Delay: o.Delay, DropAfterData: o.DropAfterData})
	if len(o.Users) == 0 {
		s.catchAll = s.addUser("capture", "")
	}
	for addr, pw := range o.Users {
		s.addUser(addr, pw)
	}
	if o.StoreDir != "" {
		if err := s.load(o.StoreDir); err != nil {
			return nil, err
		}
	}
	tlsConf := &tls.Config{Certificates: []tls.Certificate{c.serverCert}, MinVersion: tls.VersionTLS12}

	s.smtpL, err = net.Listen("tcp", o.SMTPAddr)
	if err != nil {
		return nil, fmt.Errorf("SMTP listener: %w", err)
	}
	s.imapL, err = net.Listen("tcp", o.IMAPAddr)
	if err != nil {
		s.smtpL.Close()
		return nil, fmt.Errorf("IMAP listener: %w", err)
	}
	s.smtpL = recordingListener{newLimitListener(s.smtpL, o.MaxConns, "421 4.7.0 "+o.Hostname+" too many connections, try again later"), o.Now}
	s.imapL = newLimitListener(s.imapL, o.MaxConns, "* BYE too many connections, try again later")

	s.smtp = smtp.NewServer(smtp.BackendFunc(s.newSMTPSession))
	s.smtp.Domain = o.Hostname
	s.smtp.TLSConfig = tlsConf
	s.smtp.AllowInsecureAuth = !o.AuthNeedsTLS
	s.smtp.MaxMessageBytes = o.MaxMessageBytes
	s.smtp.MaxRecipients = 100
	s.smtp.ReadTimeout = o.IdleTimeout // per command: go-smtp answers 421 4.4.2 and closes
	s.smtp.WriteTimeout = time.Minute
	s.smtp.EnableSMTPUTF8 = true
	s.smtp.ErrorLog = logger{o.Logf}

	s.imap = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &imapSession{srv: s}, nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		TLSConfig:    tlsConf,
		InsecureAuth: !o.AuthNeedsTLS,
		Logger:       logger{o.Logf},
	})

	s.wg.Add(2)
	s.smtpServing = make(chan struct{})
	go func() { defer s.wg.Done(); defer close(s.smtpServing); _ = s.smtp.Serve(s.smtpL) }()
	s.imapServing = make(chan struct{})
	go func() { defer s.wg.Done(); defer close(s.imapServing); _ = s.imap.Serve(s.imapL) }()
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.closed:
		}
	}()
	return s, nil
}

type logger struct{ f func(string, ...any) }

func (l logger) Printf(format string, args ...any) { l.f(format, args...) }
func (l logger) Println(args ...any)               { l.f("%s", fmt.Sprintln(args...)) }

func (s *Server) addUser(name, password string) *imapmemserver.User {
	u := imapmemserver.NewUser(name, password)
	_ = u.Create("INBOX", nil)
	_ = u.Create("Junk", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttrJunk}})
	s.mem.AddUser(u)
	s.users[strings.ToLower(name)] = u
	return u
}

// SMTPAddr is the SMTP listener's address (host:port).
func (s *Server) SMTPAddr() string { return s.smtpL.Addr().String() }

// IMAPAddr is the IMAP listener's address (host:port).
func (s *Server) IMAPAddr() string { return s.imapL.Addr().String() }

// CertPool trusts the throw-away CA that signed the server certificate.
func (s *Server) CertPool() *x509.CertPool { return s.certs.pool }

// CAPEM is the throw-away CA certificate in PEM, for clients in other
// processes (`capture --ca-out FILE`).
func (s *Server) CAPEM() []byte { return append([]byte(nil), s.certs.caPEM...) }

// Messages returns the messages kept, oldest first.
func (s *Server) Messages() []Message {
	l, _ := s.messages.newestFirst()
	out := make([]Message, len(l))
	for i, m := range l {
		out[len(l)-1-i] = *m
	}
	return out
}

// Message returns the message with this id, or nil.
func (s *Server) Message(id string) *Message { return s.messages.get(id) }

// Stats are the store's counters: messages kept, received, dropped.
func (s *Server) Stats() StoreStats { return s.messages.stats() }

// Delete removes the messages with these ids (every message when ids is
// nil) from the store, the IMAP mailbox and the --store directory, and
// returns how many there were.
func (s *Server) Delete(ids []string) int {
	gone := s.messages.remove(ids)
	s.forget(gone)
	return len(gone)
}

// Faults are the failures the SMTP side injects, changeable while it runs
// (the HTTP API's POST /api/v1/faults).
type Faults struct {
	RejectRcpt    *smtp.SMTPError // answer every RCPT with this
	TempFail      *smtp.SMTPError // answer the end of DATA with this (nothing stored)
	Delay         time.Duration   // wait this long before answering the end of DATA
	DropAfterData bool            // read the message, then close without answering
}

// Faults returns the faults in force.
func (s *Server) Faults() Faults { return *s.faults.Load() }

// SetFaults replaces the faults in force; sessions already past the
// stage a fault applies to are not affected.
func (s *Server) SetFaults(f Faults) { s.faults.Store(&f) }

// ShutdownGrace is how long Close lets SMTP clients finish their session
// (read the 250 to their message, send QUIT) before closing on them.
const ShutdownGrace = 2 * time.Second

// Close stops accepting, lets open SMTP sessions finish for up to
// ShutdownGrace, then closes everything and waits. Messages already
// acknowledged are in the store; a message in flight gets its reply if it
// is done within the grace period.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		// Stop go-smtp's accept loop before Shutdown: its Serve adds each
		// accepted connection to a WaitGroup that Shutdown waits on, and
		// an Add racing that Wait is a data race inside go-smtp (seen
		// under -race with a client connecting as Close begins).
		_ = s.smtpL.Close()
		<-s.smtpServing
		ctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
		defer cancel()
		if err := s.smtp.Shutdown(ctx); err != nil {
			// go-smtp's Close does nothing after Shutdown began, so the
			// connections still open are closed here.
			s.mu.Lock()
			for c := range s.smtpConns {
				_ = c.Close()
			}
			s.mu.Unlock()
		}
		_ = s.imapL.Close()
		<-s.imapServing
		_ = s.imap.Close()
		s.mu.Lock()
		hs := s.httpSrv
		s.mu.Unlock()
		for _, h := range hs {
			// Open waits and event streams end when closed is closed;
			// then the server has nothing left to wait for.
			hctx, hcancel := context.WithTimeout(context.Background(), ShutdownGrace)
			if h.Shutdown(hctx) != nil {
				_ = h.Close()
			}
			hcancel()
		}
	})
	s.wg.Wait()
	return nil
}

// checkPassword is the one credential check for SMTP AUTH and IMAP LOGIN.
func (s *Server) checkPassword(user, password string) (*imapmemserver.User, bool) {
	if s.catchAll != nil {
		return s.catchAll, true
	}
	want, ok := s.o.Users[user]
	if !ok {
		for k, v := range s.o.Users {
			if strings.EqualFold(k, user) {
				want, ok = v, true
			}
		}
	}
	if !ok || !constantTimeEqual(want, password) {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.users[strings.ToLower(user)], true
}

// mailboxesFor picks where a message for rcpt is delivered: the user of
// that address, else (a sink) every user.
func (s *Server) mailboxesFor(rcpt string) []*imapmemserver.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.catchAll != nil {
		return []*imapmemserver.User{s.catchAll}
	}
	if u, ok := s.users[strings.ToLower(rcpt)]; ok {
		return []*imapmemserver.User{u}
	}
	var all []*imapmemserver.User
	for _, u := range s.users {
		all = append(all, u)
	}
	return all
}

func (s *Server) folder() string {
	if s.o.Folder == "" {
		return "INBOX"
	}
	return s.o.Folder
}

type literal struct {
	*bytes.Reader
	n int64
}

func (l literal) Size() int64 { return l.n }

// deliver stores an accepted message: the .eml first (so an acknowledged
// message survives a crash), then the IMAP mailboxes, then the store the
// API serves, then the callback.
func (s *Server) deliver(m *Message) error {
	s.mu.Lock()
	s.seq++
	m.Seq = s.seq
	s.mu.Unlock()
	if s.o.StoreDir != "" {
		name := filepath.Join(s.o.StoreDir, fmt.Sprintf("%04d-%s.eml", m.Seq, m.ID))
		if err := writeFileSync(name, m.Raw); err != nil {
			return err
		}
		m.StoredAs = name
		meta, err := json.Marshal(m)
		if err == nil {
			err = writeFileSync(metaName(name), meta)
		}
		if err != nil {
			return err
		}
	}
	if err := s.appendIMAP(m, m.Rcpt); err != nil {
		return err
	}
	m.Delivered = append([]string(nil), m.Rcpt...)
	if dropped := s.messages.add(m); len(dropped) > 0 {
		s.dropped(dropped)
	}
	if s.o.OnMessage != nil {
		s.o.OnMessage(*m)
	}
	return nil
}

// appendIMAP puts the message in the mailbox of each recipient (every
// mailbox of a sink), once per mailbox.
func (s *Server) appendIMAP(m *Message, rcpts []string) error {
	seen := map[*imapmemserver.User]bool{}
	for _, r := range rcpts {
		for _, u := range s.mailboxesFor(r) {
			if seen[u] {
				continue
			}
			seen[u] = true
			d, err := u.Append(s.folder(), literal{bytes.NewReader(m.Raw), int64(len(m.Raw))}, &imap.AppendOptions{Time: m.Received})
			if err != nil {
				return err
			}
			m.imap = append(m.imap, imapRef{u, d.UID})
		}
	}
	return nil
}

func writeFileSync(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ParseFault reads "550:5.1.1" or "451:4.7.1:Greylisted, try again" (the
// --reject-rcpt and --tempfail syntax) into an SMTP reply.
func ParseFault(s string) (*smtp.SMTPError, error) {
	parts := strings.SplitN(s, ":", 3)
	code, err := strconv.Atoi(parts[0])
	if err != nil || code < 400 || code > 599 {
		return nil, fmt.Errorf("%q: want CODE[:ENHANCED[:TEXT]] with a 4xx or 5xx code, e.g. 550:5.1.1", s)
	}
	e := &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 0, 0}, Message: "Rejected by mailprobe capture (fault injection)"}
	if len(parts) > 1 && parts[1] != "" {
		var a, b, c int
		if n, _ := fmt.Sscanf(parts[1], "%d.%d.%d", &a, &b, &c); n != 3 || a != code/100 || b < 0 || b > 999 || c < 0 || c > 999 {
			return nil, fmt.Errorf("%q: the enhanced code %q must be CLASS.SUBJECT.DETAIL with the class of %d", s, parts[1], code)
		}
		e.EnhancedCode = smtp.EnhancedCode{a, b, c}
	}
	if len(parts) > 2 && strings.TrimSpace(parts[2]) != "" {
		e.Message = strings.TrimSpace(parts[2])
	}
	return e, nil
}

var errDropped = errors.New("connection dropped after DATA (fault injection)")

// copyLimited reads r up to max bytes.
func copyLimited(r io.Reader, max int64) ([]byte, error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if n > max {
		return nil, &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big"}
	}
	return buf.Bytes(), nil
}
