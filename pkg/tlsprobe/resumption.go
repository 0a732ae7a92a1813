package tlsprobe

// Session resumption (RFC 5246 §7.3 session IDs, RFC 5077 tickets),
// testssl.sh's SSL_sessionID_support, sessionresumption_ID,
// TLS_session_ticket and sessionresumption_ticket: one full TLS 1.2
// handshake with the minimal client (session12.go) without the ticket
// extension and one offering the session ID it got; then one asking for
// a ticket and one offering the ticket with a fresh session ID. A server that answers with
// ChangeCipherSpec (or NewSessionTicket) right after its ServerHello
// resumed: the abbreviated handshake, no key exchange, no certificate.
// Resumption is a performance feature, not a security one; what matters
// for security is a ticket lifetime beyond a day (the ticket key protects
// every session it wraps, RFC 5077 §5.6) and Ticketbleed (vuln.go).
// TLS 1.3 resumption, by pre-shared key from a ticket, is
// resumption13.go's.

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// Resumption verdicts (JSON facts.scan.resumption.session_id / ticket).
const (
	ResumeResumed    = "resumed"
	ResumeNotResumed = "issued, not resumed"
	ResumeNotIssued  = "not issued"
	ResumeNotTested  = "not testable"
)

// resumptionBudget: a full handshake and a resumption, for session IDs
// and for tickets in TLS 1.2, and for tickets in TLS 1.3.
const resumptionBudget = 6

// ticketLifetimeLong is testssl.sh's threshold for a ticket lifetime
// hint worth a note: more than a day.
const ticketLifetimeLong = 24 * 3600

// ResumptionResult is the resumption check (JSON: facts.scan.resumption).
type ResumptionResult struct {
	SessionID      string  `json:"session_id"`
	Ticket         string  `json:"ticket"`
	TLS13          string  `json:"tls13"`                          // the TLS 1.3 ticket (pre-shared key)
	TicketLifetime *uint32 `json:"ticket_lifetime_hint,omitempty"` // seconds; 0 = unspecified (RFC 5077 §3.3)
	Connections    int     `json:"connections"`
	Budget         int     `json:"budget"`
	Note           string  `json:"note,omitempty"`
	ticket         *session12
}

func (p *prober) resumption(ctx context.Context, tls12, tls13 bool, sni string) *ResumptionResult {
	r := &ResumptionResult{SessionID: ResumeNotTested, Ticket: ResumeNotTested, TLS13: ResumeNotTested, Budget: resumptionBudget}
	var notes []string
	if tls13 {
		var why string
		var n int
		r.TLS13, why, n = p.resumption13(ctx, sni)
		r.Connections += n
		if why != "" {
			notes = append(notes, why)
		}
	}
	if !tls12 {
		notes = append(notes, "session IDs and TLS 1.2 tickets not checked: the server does not accept TLS 1.2")
		r.Note = strings.Join(notes, "; ")
		return r
	}
	// Session IDs, without the ticket extension: a server that issues
	// tickets sends an empty session ID to a client asking for one.
	first, why := p.full12(ctx, nil, true, sni)
	r.Connections++
	switch {
	case first == nil:
		notes = append(notes, "the full TLS 1.2 handshake without a ticket did not complete: "+why)
	case len(first.sess.id) == 0:
		r.SessionID = ResumeNotIssued
	default:
		s := first.sess
		// The session ID alone: only the server's cache can resume it.
		k, why := p.full12(ctx, &session12{id: s.id, master: s.master, suite: s.suite, ems: s.ems}, true, sni)
		r.Connections++
		switch {
		case k == nil:
			notes = append(notes, "resuming the session ID: "+why)
		case k.resumed && sameSessionID(s.id, k.hello.SessionID):
			r.SessionID = ResumeResumed
		default:
			r.SessionID = ResumeNotResumed
		}
	}
	// Tickets.
	first, why = p.full12(ctx, nil, false, sni)
	r.Connections++
	switch {
	case first == nil:
		notes = append(notes, "the full TLS 1.2 handshake asking for a ticket did not complete: "+why)
	case len(first.sess.ticket) == 0:
		r.Ticket = ResumeNotIssued
	default:
		s := first.sess
		lt := s.lifetime
		r.TicketLifetime = &lt
		r.ticket = &s
		// A fresh session ID, so that only the ticket can resume.
		sid := make([]byte, 32)
		rand.Read(sid)
		k, why := p.full12(ctx, &session12{id: sid, ticket: s.ticket, master: s.master, suite: s.suite, ems: s.ems}, false, sni)
		r.Connections++
		switch {
		case k == nil:
			notes = append(notes, "resuming the ticket: "+why)
		case k.resumed:
			r.Ticket = ResumeResumed
		default:
			r.Ticket = ResumeNotResumed
		}
	}
	r.Note = strings.Join(notes, "; ")
	return r
}

// full12 runs one TLS 1.2 handshake with the minimal client on a probe
// connection, resuming resume when set. It returns the finished
// connection state (closed), or nil and why.
func (p *prober) full12(ctx context.Context, resume *session12, noTicket bool, sni string) (*conn12, string) {
	what := "full handshake"
	switch {
	case resume != nil && resume.ticket != nil:
		what = "offering the ticket"
	case resume != nil:
		what = "offering the session ID"
	case !noTicket:
		what = "full handshake asking for a ticket"
	}
	c, done, err := p.rawConn(ctx, "resumption")
	if err != nil {
		p.rec.Event("probe resumption, %s: %s", what, ioVerdict(err))
		return nil, "connection failed before TLS: " + ioVerdict(err)
	}
	defer done()
	k := newConn12(c, sni)
	k.noTicket = noTicket
	stepDeadline(ctx, c, vulnWait)
	if err := k.handshake(resume, nil); err != nil {
		p.rec.Event("probe resumption, %s: %s", what, renegWhy(err))
		return nil, renegWhy(err)
	}
	p.rec.Event("probe resumption, %s: session ID of %d bytes, ticket of %d bytes, resumed %v", what, len(k.sess.id), len(k.sess.ticket), k.resumed)
	// The protocol's goodbye, then close_notify: OpenSSL drops a session
	// from its cache when the connection ends without close_notify, and
	// Postfix when the SMTP session ends without QUIT.
	switch p.proto {
	case ProtoSMTP, ProtoPOP3:
		k.writeRecord(recordApplicationData, []byte("QUIT\r\n"))
	case ProtoIMAP:
		k.writeRecord(recordApplicationData, []byte("z LOGOUT\r\n"))
	}
	k.close()
	return k, ""
}

// gradeResumption turns the result into findings.
func (sc *scanner) gradeResumption() {
	r := sc.res.Resumption
	if r == nil {
		return
	}
	if r.SessionID == ResumeNotTested && r.Ticket == ResumeNotTested && r.TLS13 == ResumeNotTested {
		sc.add(report.New("tls.resumption.untestable", "resumption", r.Note))
		return
	}
	desc := fmt.Sprintf("Session IDs: %s; session tickets: %s", r.SessionID, r.Ticket)
	if r.TicketLifetime != nil {
		desc += fmt.Sprintf(" (lifetime hint %s)", lifetimeText(*r.TicketLifetime))
	}
	desc += fmt.Sprintf("; TLS 1.3 tickets: %s. Checked in %d connections.", r.TLS13, r.Connections)
	if r.Note != "" {
		desc += " " + r.Note + "."
	}
	if r.SessionID == ResumeResumed || r.Ticket == ResumeResumed || r.TLS13 == ResumeResumed {
		sc.add(report.New("tls.resumption.ok", "resumption", desc))
	} else {
		sc.add(report.New("tls.resumption.none", "resumption", desc))
	}
	if lt := r.TicketLifetime; lt != nil && *lt > ticketLifetimeLong {
		sc.add(report.Newf("tls.resumption.ticket-lifetime", "resumption", "The session ticket's lifetime hint is %s, more than a day.", lifetimeText(*lt)))
	}
}

func lifetimeText(s uint32) string {
	switch {
	case s == 0:
		return "0 (unspecified)"
	case s%3600 == 0:
		return fmt.Sprintf("%d s (%d h)", s, s/3600)
	}
	return fmt.Sprintf("%d s", s)
}

func init() {
	report.Register(
		report.Code{Code: "tls.resumption.ok", Severity: report.Pass, Title: "TLS sessions are resumed",
			Refs: []string{"RFC 5246 §7.3", "RFC 5077", "testssl.sh: sessionresumption_ID, sessionresumption_ticket"}},
		report.Code{Code: "tls.resumption.none", Severity: report.Info, Title: "TLS sessions are not resumed",
			Fix:  "Every connection pays for a full handshake. Harmless on a quiet server; on a busy one turn resumption on. Postfix: smtpd_tls_session_cache_database = btree:${data_directory}/smtpd_scache, and tickets with tls_session_ticket_cipher (the default). Dovecot: ssl sessions are cached per login process; keep login processes alive (service imap-login { service_count = 0 }).",
			Refs: []string{"RFC 5246 §7.3", "RFC 5077", "testssl.sh: sessionresumption_ID, sessionresumption_ticket"}},
		report.Code{Code: "tls.resumption.ticket-lifetime", Severity: report.Info, Title: "Session tickets live longer than a day",
			Fix:  "The ticket key decrypts every session whose ticket it wrapped, so a long-lived key weakens forward secrecy. Postfix rotates its ticket keys itself (smtpd_tls_session_cache_timeout, default 3600 s); elsewhere rotate ticket keys at least daily.",
			Refs: []string{"RFC 5077 §5.6", "RFC 9325 §3.4", "testssl.sh: TLS_session_ticket"}},
		report.Code{Code: "tls.resumption.untestable", Severity: report.Info, Title: "Session resumption could not be checked",
			Fix: "The detail says why: the check needs a TLS 1.2 handshake with an AES-GCM suite; a server without one, or a refused connection, leaves it untested."},
	)
}
