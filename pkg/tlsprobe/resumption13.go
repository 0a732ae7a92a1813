package tlsprobe

// TLS 1.3 resumption (RFC 8446 §2.2, §4.6.1): the server sends
// NewSessionTicket after the handshake, and a client that offers the
// ticket as a pre-shared key on its next connection resumes without a
// certificate or a signature. Checked with Go's own TLS 1.3 client, which
// speaks everything a TLS 1.3 server may require: one full handshake,
// then the protocol's no-op (SMTP NOOP, IMAP NOOP, POP3 NOOP) or, on an
// implicit-TLS port, the greeting, whose answer cannot arrive before the
// tickets the server sent ahead of it; then a second connection offering
// the ticket.

import (
	"bufio"
	"context"
	"crypto/tls"
	"sync/atomic"
)

// ticketCache is a client session cache that counts the tickets it was
// given.
type ticketCache struct {
	tls.ClientSessionCache
	stored atomic.Int32
}

func (c *ticketCache) Put(key string, cs *tls.ClientSessionState) {
	if cs != nil {
		c.stored.Add(1)
	}
	c.ClientSessionCache.Put(key, cs)
}

// resumption13 returns the TLS 1.3 verdict (ResumeResumed, …) and, when
// it could not be tested, why; conns counts the connections opened.
func (p *prober) resumption13(ctx context.Context, sni string) (verdict, why string, conns int) {
	cache := &ticketCache{ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	cfg := &tls.Config{
		ServerName: sni, InsecureSkipVerify: true, //nolint:gosec // only resumption is judged here; the certificate is judged by the certificate stage
		MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS13, ClientSessionCache: cache,
	}
	first, why := p.full13(ctx, cfg, "full handshake")
	conns++
	switch {
	case why != "":
		return ResumeNotTested, "the full TLS 1.3 handshake: " + why, conns
	case cache.stored.Load() == 0:
		return ResumeNotIssued, "", conns
	case first:
		return ResumeNotTested, "the first TLS 1.3 connection claims to have resumed", conns
	}
	resumed, why := p.full13(ctx, cfg, "offering the ticket")
	conns++
	switch {
	case why != "":
		return ResumeNotTested, "resuming the TLS 1.3 ticket: " + why, conns
	case resumed:
		return ResumeResumed, "", conns
	}
	return ResumeNotResumed, "", conns
}

// full13 runs one TLS 1.3 handshake and reads the first answer after it,
// so that the tickets sent before it reach the cache; it reports whether
// the handshake resumed a session, or why it failed.
func (p *prober) full13(ctx context.Context, cfg *tls.Config, what string) (resumed bool, why string) {
	c, done, err := p.rawConn(ctx, "resumption")
	if err != nil {
		p.rec.Event("probe resumption TLS 1.3, %s: %s", what, ioVerdict(err))
		return false, "connection failed before TLS: " + ioVerdict(err)
	}
	defer done()
	stepDeadline(ctx, c, vulnWait)
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		p.rec.Event("probe resumption TLS 1.3, %s: %v", what, err)
		return false, err.Error()
	}
	resumed = tc.ConnectionState().DidResume
	var ask, bye string
	switch p.proto {
	case ProtoSMTP:
		ask, bye = "NOOP\r\n", "QUIT\r\n"
	case ProtoPOP3:
		ask, bye = "NOOP\r\n", "QUIT\r\n"
	case ProtoIMAP:
		ask, bye = "a NOOP\r\n", "z LOGOUT\r\n"
	}
	if ask != "" {
		if _, err := tc.Write([]byte(ask)); err != nil {
			p.rec.Event("probe resumption TLS 1.3, %s: %v", what, err)
			return false, err.Error()
		}
	}
	// One line of the answer (the greeting on an implicit-TLS port),
	// bounded: the tickets came before it.
	br := bufio.NewReaderSize(tc, 1024)
	if _, err := br.ReadSlice('\n'); err != nil && err != bufio.ErrBufferFull {
		p.rec.Event("probe resumption TLS 1.3, %s: no answer after the handshake: %s", what, ioVerdict(err))
		return false, "no answer after the handshake: " + ioVerdict(err)
	}
	p.rec.Event("probe resumption TLS 1.3, %s: resumed %v", what, resumed)
	if bye != "" {
		_, _ = tc.Write([]byte(bye))
	}
	_ = tc.Close()
	return resumed, ""
}
