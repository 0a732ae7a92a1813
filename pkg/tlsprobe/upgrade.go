package tlsprobe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/smtpclient"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// Proto is the plaintext protocol spoken before TLS.
type Proto string

const (
	ProtoAuto Proto = "auto" // by port, then by the greeting
	ProtoSMTP Proto = "smtp" // EHLO, STARTTLS (RFC 3207)
	ProtoIMAP Proto = "imap" // CAPABILITY, STARTTLS (RFC 9051 §6.2.1, RFC 2595)
	ProtoPOP3 Proto = "pop3" // CAPA, STLS (RFC 2595 §4, RFC 2449)
	ProtoNone Proto = "none" // implicit TLS from the first byte (RFC 8314)
)

// ParseProto reads a --starttls value.
func ParseProto(s string) (Proto, error) {
	switch p := Proto(strings.ToLower(strings.TrimSpace(s))); p {
	case "", ProtoAuto:
		return ProtoAuto, nil
	case ProtoSMTP, ProtoIMAP, ProtoPOP3, ProtoNone:
		return p, nil
	case "implicit", "tls":
		return ProtoNone, nil
	}
	return "", fmt.Errorf("unknown STARTTLS protocol %q (want auto, smtp, imap, pop3 or none)", s)
}

// protoForPort is what the scanner speaks before TLS on a port in
// netx.MailPorts: nothing on an implicit-TLS port, else its protocol. ok
// is false for other ports, where the server's behaviour decides, and
// for ManageSieve, whose STARTTLS (RFC 5804 §2.2) the scanner does not
// speak.
func protoForPort(port int) (p Proto, ok bool) {
	info, ok := netx.PortInfo(port)
	switch {
	case !ok:
		return "", false
	case info.Implicit:
		return ProtoNone, true
	}
	switch info.Proto {
	case netx.ProtoSMTP:
		return ProtoSMTP, true
	case netx.ProtoIMAP:
		return ProtoIMAP, true
	case netx.ProtoPOP3:
		return ProtoPOP3, true
	}
	return "", false
}

// Failure kinds of a stage. The network kinds come from netx.Classify.
const (
	kindProtocol = "protocol"        // the server said something that is not the protocol
	kindRefused  = "service-refused" // the server refused service: SMTP 421, IMAP BYE, POP3 -ERR greeting
	kindRejected = "rejected"        // the server refused one command (STARTTLS, EHLO)
)

// StageError is the failure of one stage of a connection: a network
// error, a deadline, or an answer the scanner cannot use. Findings name
// Stage and, for timeouts, Waited.
type StageError struct {
	Stage  string
	Kind   string // netx kinds ("timeout", "reset", "closed", ...) or protocol, refused, rejected
	Waited time.Duration
	Err    error
	Reply  string // what the server said, when it said something
	Seq    []int  // transcript range of Reply
}

func (e *StageError) Error() string {
	switch e.Kind {
	case kindRefused, kindRejected, kindProtocol:
		if e.Reply != "" {
			return fmt.Sprintf("%s: %s: %q", e.Stage, e.Kind, e.Reply)
		}
	}
	return fmt.Sprintf("%s: %s", e.Stage, netx.Describe(e.Err, e.Waited))
}

func (e *StageError) Unwrap() error { return e.Err }

// session is one plaintext connection on its way to TLS. Everything read
// and written goes through a transcript.Conn; deadlines go to the raw
// connection, one per operation.
type session struct {
	raw   net.Conn
	tc    *transcript.Conn
	br    *bufio.Reader
	rec   *transcript.Recorder
	t     netx.Timeouts
	proto Proto
	helo  string
}

// dialSession connects to addr.
func dialSession(ctx context.Context, dial netx.DialFunc, addr string, rec *transcript.Recorder, t netx.Timeouts) (*session, error) {
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, t.Connect)
	defer cancel()
	raw, err := dial(cctx, "tcp", addr)
	if err != nil {
		rec.Event("connect to %s failed: %s", addr, netx.Describe(err, t.Connect))
		if ctx.Err() == nil && cctx.Err() != nil {
			err = context.DeadlineExceeded
		}
		return nil, &StageError{Stage: "connect", Kind: string(netx.Classify(err)), Waited: time.Since(start), Err: err}
	}
	rec.Event("connected to %s", raw.RemoteAddr())
	s := &session{raw: raw, rec: rec, t: t}
	s.tc = rec.Wrap(raw, false)
	s.br = bufio.NewReaderSize(s.tc, 4096)
	return s, nil
}

func (s *session) close() {
	if s.tc != nil {
		s.tc.Flush()
	}
	_ = s.raw.Close()
}

// arm sets the deadline for one operation: the stage's timeout or the
// context's deadline, whichever comes first; cancelling ctx interrupts a
// blocked read at once.
func arm(ctx context.Context, c net.Conn, d time.Duration) func() {
	dl := time.Now().Add(d)
	if cd, ok := ctx.Deadline(); ok && cd.Before(dl) {
		dl = cd
	}
	_ = c.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	return func() { stop(); _ = c.SetDeadline(time.Time{}) }
}

// netErr wraps a read or write failure of stage.
func netErr(ctx context.Context, stage string, start time.Time, err error) *StageError {
	if ctx.Err() != nil && netx.Classify(err) == netx.KindTimeout {
		err = ctx.Err()
	}
	return &StageError{Stage: stage, Kind: string(netx.Classify(err)), Waited: time.Since(start), Err: err}
}

const maxLine = 8192

// readLine reads one line (without CRLF) of at most maxLine bytes.
func (s *session) readLine() (string, error) {
	var line []byte
	for {
		chunk, err := s.br.ReadSlice('\n')
		line = append(line, chunk...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(line) > maxLine {
				return "", fmt.Errorf("line longer than %d bytes", maxLine)
			}
			continue
		}
		return string(line), err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

func (s *session) send(ctx context.Context, stage, data string) error {
	done := arm(ctx, s.raw, s.t.Command)
	defer done()
	start := time.Now()
	if _, err := s.tc.Write([]byte(data)); err != nil {
		return netErr(ctx, stage, start, err)
	}
	return nil
}

// greeting holds what the plaintext phase learned.
type greeting struct {
	Proto    Proto
	Banner   string
	Seq      []int
	Caps     []string // upper case
	CapsSeen bool     // the capability list was read (not the same as empty)
	CapsSeq  []int    // transcript range of the capability list
	ehlo     *smtpclient.Capabilities
}

// silentFor reports whether the server sent nothing within wait. It
// only peeks, so the greeting, when there is one, is still read whole by
// readGreeting. A failure other than the deadline (a reset, a close) is
// returned as the banner stage's error.
func (s *session) silentFor(ctx context.Context, wait time.Duration) (bool, error) {
	done := arm(ctx, s.raw, wait)
	defer done()
	start := time.Now()
	_, err := s.br.Peek(1)
	switch {
	case err == nil:
		return false, nil
	case ctx.Err() == nil && netx.Classify(err) == netx.KindTimeout:
		return true, nil
	}
	s.tc.Flush()
	return false, netErr(ctx, "banner", start, err)
}

// readGreeting reads the server's greeting. With proto auto it decides
// the protocol from the greeting itself: "220" is SMTP, "* OK" IMAP,
// "+OK" POP3 (RFC 5321 §4.2, RFC 9051 §7.1, RFC 1939 §4). wait bounds
// the wait (the banner timeout, or a short sniff for unknown ports).
func (s *session) readGreeting(ctx context.Context, proto Proto, wait time.Duration) (*greeting, error) {
	done := arm(ctx, s.raw, wait)
	defer done()
	start := time.Now()
	first := s.rec.Seq() + 1
	line, err := s.readLine()
	if err != nil {
		s.tc.Flush()
		se := netErr(ctx, "banner", start, err)
		if line != "" {
			se.Reply = transcript.Printable(line)
		}
		return nil, se
	}
	g := &greeting{Proto: proto, Banner: line}
	if proto == ProtoAuto || proto == "" {
		switch {
		case len(line) >= 3 && isDigits(line[:3]):
			g.Proto = ProtoSMTP
		case strings.HasPrefix(line, "* "):
			g.Proto = ProtoIMAP
		case strings.HasPrefix(line, "+OK") || strings.HasPrefix(line, "-ERR"):
			g.Proto = ProtoPOP3
		default:
			return nil, &StageError{Stage: "banner", Kind: kindProtocol, Reply: transcript.Printable(line), Seq: []int{first, s.rec.Seq()},
				Err: errors.New("the greeting is not SMTP, IMAP or POP3")}
		}
	}
	s.proto = g.Proto
	bad := func(kind string, why string) error {
		return &StageError{Stage: "banner", Kind: kind, Reply: transcript.Printable(g.Banner), Seq: []int{first, s.rec.Seq()}, Err: errors.New(why)}
	}
	switch g.Proto {
	case ProtoSMTP:
		if len(line) < 3 || !isDigits(line[:3]) {
			return nil, bad(kindProtocol, "the greeting is not an SMTP reply")
		}
		// A multi-line greeting continues while the separator is "-".
		for n := 0; len(line) >= 4 && line[3] == '-'; n++ {
			if n > 100 {
				return nil, bad(kindProtocol, "the greeting never ends")
			}
			if line, err = s.readLine(); err != nil {
				return nil, netErr(ctx, "banner", start, err)
			}
			g.Banner += "\n" + line
		}
		if !strings.HasPrefix(g.Banner, "220") {
			// 421 (busy, rate limited) and 554 (no service for you) in the
			// greeting are refusals, RFC 5321 §3.1.
			return nil, bad(kindRefused, "the server refused service in its greeting")
		}
	case ProtoIMAP:
		upper := strings.ToUpper(line)
		switch {
		case strings.HasPrefix(upper, "* BYE"):
			return nil, bad(kindRefused, "the server said BYE")
		case strings.HasPrefix(upper, "* PREAUTH"):
			// STARTTLS is only valid in the not-authenticated state
			// (RFC 9051 §6.2.1); a pre-authenticated session cannot
			// upgrade.
			return nil, bad(kindRejected, "the server pre-authenticated the session; STARTTLS is not possible")
		case !strings.HasPrefix(upper, "* OK"):
			return nil, bad(kindProtocol, "the greeting is not an IMAP greeting")
		}
		if caps, ok := imapCapCode(line); ok {
			g.Caps, g.CapsSeen = caps, true
			g.CapsSeq = []int{first, s.rec.Seq()}
		}
	case ProtoPOP3:
		switch {
		case strings.HasPrefix(line, "-ERR"):
			return nil, bad(kindRefused, "the server answered -ERR to the connection")
		case !strings.HasPrefix(line, "+OK"):
			return nil, bad(kindProtocol, "the greeting is not a POP3 greeting")
		}
	}
	g.Seq = []int{first, s.rec.Seq()}
	return g, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// imapCapCode extracts a [CAPABILITY ...] response code (RFC 9051 §7.1).
func imapCapCode(line string) ([]string, bool) {
	i := strings.Index(strings.ToUpper(line), "[CAPABILITY ")
	if i < 0 {
		return nil, false
	}
	rest := line[i+len("[CAPABILITY "):]
	if j := strings.IndexByte(rest, ']'); j >= 0 {
		rest = rest[:j]
	}
	return strings.Fields(strings.ToUpper(rest)), true
}

// capabilities asks for the capability list: EHLO for SMTP (which is
// also required before STARTTLS, RFC 3207 §4), CAPABILITY for IMAP unless
// the greeting carried it, CAPA for POP3.
func (s *session) capabilities(ctx context.Context, g *greeting) error {
	const stage = "capabilities"
	first := s.rec.Seq() + 1
	defer func() {
		if g.CapsSeq == nil && g.CapsSeen {
			g.CapsSeq = []int{first, s.rec.Seq()}
		}
	}()
	switch s.proto {
	case ProtoSMTP:
		rp, err := s.smtpCmd(ctx, stage, "EHLO "+s.helo)
		if err != nil {
			return err
		}
		if rp.Code != 250 {
			return replyErr(stage, rp, "the server refused EHLO")
		}
		caps := smtpclient.ParseEHLO(rp)
		g.Caps, g.CapsSeen, g.ehlo = caps.Keywords, true, &caps
	case ProtoIMAP:
		if g.CapsSeen {
			return nil
		}
		lines, tagged, err := s.imapCmd(ctx, stage, "c", "c CAPABILITY")
		if err != nil {
			return err
		}
		for _, l := range lines {
			if f := strings.Fields(l); len(f) > 1 && strings.EqualFold(f[1], "CAPABILITY") {
				g.Caps = append(g.Caps, strings.Fields(strings.ToUpper(strings.Join(f[2:], " ")))...)
			}
		}
		g.CapsSeen = imapOK(tagged)
	case ProtoPOP3:
		line, err := s.pop3Cmd(ctx, stage, "CAPA")
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, "+OK") {
			return nil // CAPA is optional (RFC 2449); STLS may still work
		}
		done := arm(ctx, s.raw, s.t.Command)
		defer done()
		start := time.Now()
		for n := 0; ; n++ {
			l, err := s.readLine()
			if err != nil {
				return netErr(ctx, stage, start, err)
			}
			if l == "." {
				break
			}
			if n > 1000 {
				// Stopping here would leave the rest to be read as the
				// reply to STLS.
				return &StageError{Stage: stage, Kind: kindProtocol, Err: errors.New("CAPA list longer than 1000 lines")}
			}
			if f := strings.Fields(strings.ToUpper(l)); len(f) > 0 {
				g.Caps = append(g.Caps, f[0])
			}
		}
		g.CapsSeen = true
	}
	return nil
}

// starttls sends the upgrade command, with inject appended in the same
// write when set, and reads the go-ahead. It returns the reply and any
// bytes the server sent after it before the handshake (which must be
// discarded, RFC 3207 §4.2, and which show a server that answered the
// injected command in plaintext).
func (s *session) starttls(ctx context.Context, inject bool) (reply string, seq []int, pipelined []byte, err error) {
	const stage = "starttls"
	first := s.rec.Seq() + 1
	switch s.proto {
	case ProtoSMTP:
		cmd := "STARTTLS\r\n"
		if inject {
			cmd += "NOOP\r\n"
		}
		if err := s.send(ctx, stage, cmd); err != nil {
			return "", nil, nil, err
		}
		rp, err := s.smtpReply(ctx, stage)
		if err != nil {
			return "", nil, nil, err
		}
		if rp.Code != 220 {
			return "", nil, nil, replyErr(stage, rp, "the server refused STARTTLS")
		}
		reply = rp.String()
	case ProtoIMAP:
		cmd := "a STARTTLS\r\n"
		if inject {
			cmd += "b NOOP\r\n"
		}
		if err := s.send(ctx, stage, cmd); err != nil {
			return "", nil, nil, err
		}
		_, tagged, err := s.imapRead(ctx, stage, "a")
		if err != nil {
			return "", nil, nil, err
		}
		if !imapOK(tagged) {
			return "", nil, nil, &StageError{Stage: stage, Kind: kindRejected, Reply: tagged, Seq: []int{first, s.rec.Seq()}, Err: errors.New("the server refused STARTTLS")}
		}
		reply = tagged
	case ProtoPOP3:
		cmd := "STLS\r\n"
		if inject {
			cmd += "NOOP\r\n"
		}
		if err := s.send(ctx, stage, cmd); err != nil {
			return "", nil, nil, err
		}
		line, err := s.pop3Reply(ctx, stage)
		if err != nil {
			return "", nil, nil, err
		}
		if !strings.HasPrefix(line, "+OK") {
			return "", nil, nil, &StageError{Stage: stage, Kind: kindRejected, Reply: line, Seq: []int{first, s.rec.Seq()}, Err: errors.New("the server refused STLS")}
		}
		reply = line
	default:
		return "", nil, nil, fmt.Errorf("no STARTTLS for protocol %q", s.proto)
	}
	seq = []int{first, s.rec.Seq()}
	if n := s.br.Buffered(); n > 0 {
		pipelined, _ = s.br.Peek(n)
		pipelined = append([]byte(nil), pipelined...)
		_, _ = s.br.Discard(n)
		s.tc.Flush()
	}
	// From here the raw connection carries TLS records, not lines.
	s.tc.Pause()
	return reply, seq, pipelined, nil
}

// smtpReply reads one SMTP reply with the command timeout.
func (s *session) smtpReply(ctx context.Context, stage string) (smtpclient.Reply, error) {
	done := arm(ctx, s.raw, s.t.Command)
	defer done()
	start := time.Now()
	first := s.rec.Seq() + 1
	rp, err := smtpclient.ReadReply(smtpclient.NewLineReader(s.br))
	rp.Seq = []int{first, s.rec.Seq()}
	if err != nil {
		s.tc.Flush()
		kind := string(netx.Classify(err))
		if errors.Is(err, smtpclient.ErrMalformed) || errors.Is(err, smtpclient.ErrLineTooLong) || errors.Is(err, smtpclient.ErrTooManyLines) {
			kind = kindProtocol
		}
		se := netErr(ctx, stage, start, err)
		se.Kind = kind
		if rp.Code != 0 || len(rp.Lines) > 0 {
			se.Reply = rp.String()
		}
		return rp, se
	}
	if rp.Code == 421 {
		return rp, replyErr(stage, rp, "the server is closing the connection")
	}
	return rp, nil
}

func (s *session) smtpCmd(ctx context.Context, stage, line string) (smtpclient.Reply, error) {
	if err := s.send(ctx, stage, line+"\r\n"); err != nil {
		return smtpclient.Reply{}, err
	}
	return s.smtpReply(ctx, stage)
}

// replyErr turns an SMTP reply into a stage error: 421 (and 554 in a
// greeting) refuse service, anything else rejects the command.
func replyErr(stage string, rp smtpclient.Reply, why string) *StageError {
	kind := kindRejected
	if rp.Code == 421 {
		kind = kindRefused
	}
	return &StageError{Stage: stage, Kind: kind, Reply: rp.String(), Seq: rp.Seq, Err: errors.New(why)}
}

// imapRead reads lines until the tagged response for tag; untagged lines
// are returned. An untagged BYE refuses service (RFC 9051 §7.1.5).
func (s *session) imapRead(ctx context.Context, stage, tag string) (untagged []string, tagged string, err error) {
	done := arm(ctx, s.raw, s.t.Command)
	defer done()
	start := time.Now()
	first := s.rec.Seq() + 1
	// At most 200 untagged lines before the tagged one: a CAPABILITY or
	// STARTTLS exchange has one or two, and each line is bounded by
	// readLine.
	for n := 0; n < 200; n++ {
		line, err := s.readLine()
		if err != nil {
			s.tc.Flush()
			return untagged, "", netErr(ctx, stage, start, err)
		}
		if strings.HasPrefix(strings.ToUpper(line), "* BYE") {
			return untagged, "", &StageError{Stage: stage, Kind: kindRefused, Reply: line, Seq: []int{first, s.rec.Seq()}, Err: errors.New("the server said BYE")}
		}
		if strings.HasPrefix(line, tag+" ") {
			return untagged, line, nil
		}
		untagged = append(untagged, line)
	}
	return untagged, "", &StageError{Stage: stage, Kind: kindProtocol, Err: errors.New("no tagged response")}
}

func (s *session) imapCmd(ctx context.Context, stage, tag, line string) ([]string, string, error) {
	if err := s.send(ctx, stage, line+"\r\n"); err != nil {
		return nil, "", err
	}
	return s.imapRead(ctx, stage, tag)
}

func imapOK(tagged string) bool {
	f := strings.Fields(tagged)
	return len(f) > 1 && strings.EqualFold(f[1], "OK")
}

// pop3Reply reads one status line (RFC 1939 §3).
func (s *session) pop3Reply(ctx context.Context, stage string) (string, error) {
	done := arm(ctx, s.raw, s.t.Command)
	defer done()
	start := time.Now()
	first := s.rec.Seq() + 1
	line, err := s.readLine()
	if err != nil {
		s.tc.Flush()
		return "", netErr(ctx, stage, start, err)
	}
	if !strings.HasPrefix(line, "+OK") && !strings.HasPrefix(line, "-ERR") {
		return "", &StageError{Stage: stage, Kind: kindProtocol, Reply: line, Seq: []int{first, s.rec.Seq()}, Err: errors.New("not a POP3 status line")}
	}
	return line, nil
}

func (s *session) pop3Cmd(ctx context.Context, stage, line string) (string, error) {
	if err := s.send(ctx, stage, line+"\r\n"); err != nil {
		return "", err
	}
	return s.pop3Reply(ctx, stage)
}

// starttlsAdvertised reports whether the capability list offers the
// upgrade: STARTTLS (SMTP, IMAP) or STLS (POP3).
func starttlsAdvertised(p Proto, caps []string) bool {
	want := "STARTTLS"
	if p == ProtoPOP3 {
		want = "STLS"
	}
	for _, c := range caps {
		if strings.EqualFold(c, want) {
			return true
		}
	}
	return false
}

// hostPort joins host and port for display and dialing.
func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
