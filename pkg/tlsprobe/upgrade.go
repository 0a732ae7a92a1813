package tlsprobe

import (
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

// Failure kinds of a stage, beside netx's kinds (timeout, reset, closed,
// protocol, ...): the server answered, but with a refusal.
const (
	kindProtocol = string(netx.KindProtocol) // the server said something that is not the protocol
	kindRefused  = "service-refused"         // the server refused service: SMTP 421, IMAP BYE, POP3 -ERR greeting
	kindRejected = "rejected"                // the server refused one command (STARTTLS, EHLO)
)

// Every failure of a stage is a *netx.OpError whose Op is the stage
// (connect, banner, capabilities, starttls, handshake): findings name it,
// Waited says how long a timeout waited, and Partial holds what the
// server said (a refusal, a half line), with the transcript entries that
// hold it. An answer the scanner cannot go on from is a *refusal as the
// cause.

// refusal is the cause of a stage that failed on an answer, not on the
// wire: a greeting that refuses service, a STARTTLS the server will not
// do, a greeting of no known protocol.
type refusal struct {
	kind  string // kindRefused, kindRejected or kindProtocol
	why   string
	reply string // what the server said, printable
}

// Error quotes the server's answer when there is one: the probe
// findings ("too many connections") are worded from it.
func (r *refusal) Error() string {
	if r.reply != "" {
		return fmt.Sprintf("%s: %q", r.kind, r.reply)
	}
	return r.why
}

// refused is the stage error for an answer the scan cannot go on from.
func refused(stage, kind, why, reply string, seq []int) *netx.OpError {
	reply = transcript.Printable(reply)
	oe := &netx.OpError{Op: stage, Err: &refusal{kind: kind, why: why, reply: reply}}
	if reply != "" {
		oe.Partial = &netx.Partial{Text: reply, Seq: seq}
	}
	return oe
}

// atStage names the stage err happened in: netx names its operations
// (read, write, tls handshake), the scan's findings name stages.
func atStage(stage string, err error) error {
	if err == nil {
		return nil
	}
	var oe *netx.OpError
	if errors.As(err, &oe) {
		oe.Op = stage
		return oe
	}
	return &netx.OpError{Op: stage, Err: err}
}

// kindOf is the failure kind of a stage error: a refusal's, else netx's.
func kindOf(err error) string {
	var r *refusal
	if errors.As(err, &r) {
		return r.kind
	}
	return string(netx.Classify(err))
}

// session is one plaintext connection on its way to TLS, on a
// netx.Conn: every byte recorded, lines bounded by maxLine, a deadline on
// every operation (the stage's timeout or the context's deadline).
type session struct {
	c     *netx.Conn
	proto Proto
	helo  string
}

// dialSession connects to addr. Its error is the connect stage's.
func dialSession(ctx context.Context, dial netx.DialFunc, addr string, rec *transcript.Recorder, t netx.Timeouts) (*session, error) {
	c, err := netx.Dial(ctx, addr, rec, netx.ConnOptions{Dial: dial, Timeouts: t, MaxLine: maxLine})
	if err != nil {
		return nil, atStage("connect", err)
	}
	return &session{c: c}, nil
}

func (s *session) close() { _ = s.c.Close() }

// maxLine bounds one line before TLS: SMTP's reply limit
// (smtpclient.MaxReplyLine) serves IMAP and POP3 greetings and
// capabilities as well.
const maxLine = smtpclient.MaxReplyLine

// readError is the stage error of a failed read begun at start.
func (s *session) readError(ctx context.Context, stage string, start time.Time, err error) error {
	return s.c.ReadError(ctx, stage, start, err)
}

func (s *session) send(ctx context.Context, stage, data string) error {
	return atStage(stage, s.c.Write(ctx, s.c.Timeouts().Command, []byte(data)))
}

// greeting holds what the plaintext phase learned.
type greeting struct {
	Proto    Proto
	Banner   string
	Seq      []int
	Caps     []string // upper case
	CapsSeen bool     // the capability list was read (not the same as empty)
	CapsSeq  []int    // transcript entries of the capability list
	ehlo     *smtpclient.Capabilities
}

// readGreeting reads the server's greeting. With proto auto it decides
// the protocol from the greeting itself: "220" is SMTP, "* OK" IMAP,
// "+OK" POP3 (RFC 5321 §4.2, RFC 9051 §7.1, RFC 1939 §4). wait bounds
// the wait (the banner timeout, or a short sniff for unknown ports).
func (s *session) readGreeting(ctx context.Context, proto Proto, wait time.Duration) (*greeting, error) {
	const stage = "banner"
	disarm := s.c.Arm(ctx, wait)
	defer disarm()
	start := time.Now()
	l, err := s.c.Next()
	if err != nil {
		// A half greeting is quoted: OpError.Partial.
		return nil, s.readError(ctx, stage, start, err)
	}
	line := l.Text
	g := &greeting{Proto: proto, Banner: line, Seq: []int{l.Seq}}
	if proto == ProtoAuto || proto == "" {
		switch {
		case len(line) >= 3 && isDigits(line[:3]):
			g.Proto = ProtoSMTP
		case strings.HasPrefix(line, "* "):
			g.Proto = ProtoIMAP
		case strings.HasPrefix(line, "+OK") || strings.HasPrefix(line, "-ERR"):
			g.Proto = ProtoPOP3
		default:
			return nil, refused(stage, kindProtocol, "the greeting is not SMTP, IMAP or POP3", line, g.Seq)
		}
	}
	s.proto = g.Proto
	bad := func(kind string, why string) error {
		return refused(stage, kind, why, g.Banner, g.Seq)
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
			if l, err = s.c.Next(); err != nil {
				return nil, s.readError(ctx, stage, start, err)
			}
			line = l.Text
			g.Banner += "\n" + line
			g.Seq = append(g.Seq, l.Seq)
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
			g.CapsSeq = g.Seq
		}
	case ProtoPOP3:
		switch {
		case strings.HasPrefix(line, "-ERR"):
			return nil, bad(kindRefused, "the server answered -ERR to the connection")
		case !strings.HasPrefix(line, "+OK"):
			return nil, bad(kindProtocol, "the greeting is not a POP3 greeting")
		}
	}
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
		g.CapsSeq = rp.Seq
	case ProtoIMAP:
		if g.CapsSeen {
			return nil
		}
		lines, tagged, err := s.imapCmd(ctx, stage, "c", "c CAPABILITY")
		if err != nil {
			return err
		}
		for _, l := range lines {
			if f := strings.Fields(l.Text); len(f) > 1 && strings.EqualFold(f[1], "CAPABILITY") {
				g.Caps = append(g.Caps, strings.Fields(strings.ToUpper(strings.Join(f[2:], " ")))...)
				g.CapsSeq = append(g.CapsSeq, l.Seq)
			}
		}
		g.CapsSeq = append(g.CapsSeq, tagged.Seq)
		g.CapsSeen = imapOK(tagged.Text)
	case ProtoPOP3:
		status, err := s.pop3Cmd(ctx, stage, "CAPA")
		if err != nil {
			return err
		}
		if !strings.HasPrefix(status.Text, "+OK") {
			return nil // CAPA is optional (RFC 2449); STLS may still work
		}
		g.CapsSeq = []int{status.Seq}
		disarm := s.c.Arm(ctx, s.c.Timeouts().Command)
		defer disarm()
		start := time.Now()
		for n := 0; ; n++ {
			l, err := s.c.Next()
			if err != nil {
				return s.readError(ctx, stage, start, err)
			}
			g.CapsSeq = append(g.CapsSeq, l.Seq)
			if l.Text == "." {
				break
			}
			if n > 1000 {
				// Stopping here would leave the rest to be read as the
				// reply to STLS.
				return atStage(stage, netx.ProtocolError("CAPA list longer than 1000 lines"))
			}
			if f := strings.Fields(strings.ToUpper(l.Text)); len(f) > 0 {
				g.Caps = append(g.Caps, f[0])
			}
		}
		g.CapsSeen = true
	}
	return nil
}

// starttls sends the upgrade command, with inject appended in the same
// write when set, and reads the go-ahead. Bytes the server sent after it
// stay buffered in the netx.Conn: StartTLS or Detach returns them (they
// must be discarded, RFC 3207 §4.2, and they show a server that
// answered the injected command in plaintext).
func (s *session) starttls(ctx context.Context, inject bool) (reply string, err error) {
	const stage = "starttls"
	switch s.proto {
	case ProtoSMTP:
		cmd := "STARTTLS\r\n"
		if inject {
			cmd += "NOOP\r\n"
		}
		if err := s.send(ctx, stage, cmd); err != nil {
			return "", err
		}
		rp, err := s.smtpReply(ctx, stage)
		if err != nil {
			return "", err
		}
		if rp.Code != 220 {
			return "", replyErr(stage, rp, "the server refused STARTTLS")
		}
		return rp.String(), nil
	case ProtoIMAP:
		cmd := "a STARTTLS\r\n"
		if inject {
			cmd += "b NOOP\r\n"
		}
		if err := s.send(ctx, stage, cmd); err != nil {
			return "", err
		}
		_, tagged, err := s.imapRead(ctx, stage, "a")
		if err != nil {
			return "", err
		}
		if !imapOK(tagged.Text) {
			return "", refused(stage, kindRejected, "the server refused STARTTLS", tagged.Text, []int{tagged.Seq})
		}
		return tagged.Text, nil
	case ProtoPOP3:
		cmd := "STLS\r\n"
		if inject {
			cmd += "NOOP\r\n"
		}
		if err := s.send(ctx, stage, cmd); err != nil {
			return "", err
		}
		l, err := s.pop3Reply(ctx, stage)
		if err != nil {
			return "", err
		}
		if !strings.HasPrefix(l.Text, "+OK") {
			return "", refused(stage, kindRejected, "the server refused STLS", l.Text, []int{l.Seq})
		}
		return l.Text, nil
	}
	return "", fmt.Errorf("no STARTTLS for protocol %q", s.proto)
}

// smtpReply reads one SMTP reply with the command timeout.
func (s *session) smtpReply(ctx context.Context, stage string) (smtpclient.Reply, error) {
	disarm := s.c.Arm(ctx, s.c.Timeouts().Command)
	defer disarm()
	start := time.Now()
	rp, err := smtpclient.ReadReply(s.c)
	if err != nil {
		oe := s.c.ReadError(ctx, stage, start, err)
		// The lines read so far are the reply to quote, with the half
		// line after them when there is one.
		if rp.Code != 0 || len(rp.Lines) > 0 {
			p := &netx.Partial{Text: rp.String(), Seq: rp.Seq}
			if oe.Partial != nil {
				p.Seq = append(p.Seq, oe.Partial.Seq...)
			}
			oe.Partial = p
		}
		return rp, oe
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
func replyErr(stage string, rp smtpclient.Reply, why string) error {
	kind := kindRejected
	if rp.Code == 421 {
		kind = kindRefused
	}
	return refused(stage, kind, why, rp.String(), rp.Seq)
}

// imapRead reads lines until the tagged response for tag; untagged lines
// are returned. An untagged BYE refuses service (RFC 9051 §7.1.5).
func (s *session) imapRead(ctx context.Context, stage, tag string) (untagged []netx.Line, tagged netx.Line, err error) {
	disarm := s.c.Arm(ctx, s.c.Timeouts().Command)
	defer disarm()
	start := time.Now()
	// At most 200 untagged lines before the tagged one: a CAPABILITY or
	// STARTTLS exchange has one or two, and each line is bounded.
	for n := 0; n < 200; n++ {
		l, err := s.c.Next()
		if err != nil {
			return untagged, netx.Line{}, s.readError(ctx, stage, start, err)
		}
		if strings.HasPrefix(strings.ToUpper(l.Text), "* BYE") {
			return untagged, netx.Line{}, refused(stage, kindRefused, "the server said BYE", l.Text, []int{l.Seq})
		}
		if strings.HasPrefix(l.Text, tag+" ") {
			return untagged, l, nil
		}
		untagged = append(untagged, l)
	}
	return untagged, netx.Line{}, atStage(stage, netx.ProtocolError("no tagged response"))
}

func (s *session) imapCmd(ctx context.Context, stage, tag, line string) ([]netx.Line, netx.Line, error) {
	if err := s.send(ctx, stage, line+"\r\n"); err != nil {
		return nil, netx.Line{}, err
	}
	return s.imapRead(ctx, stage, tag)
}

func imapOK(tagged string) bool {
	f := strings.Fields(tagged)
	return len(f) > 1 && strings.EqualFold(f[1], "OK")
}

// pop3Reply reads one status line (RFC 1939 §3).
func (s *session) pop3Reply(ctx context.Context, stage string) (netx.Line, error) {
	l, err := s.c.ReadLine(ctx, s.c.Timeouts().Command)
	if err != nil {
		return l, atStage(stage, err)
	}
	if !strings.HasPrefix(l.Text, "+OK") && !strings.HasPrefix(l.Text, "-ERR") {
		return l, refused(stage, kindProtocol, "not a POP3 status line", l.Text, []int{l.Seq})
	}
	return l, nil
}

func (s *session) pop3Cmd(ctx context.Context, stage, line string) (netx.Line, error) {
	if err := s.send(ctx, stage, line+"\r\n"); err != nil {
		return netx.Line{}, err
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
