package tlsprobe

// A minimal TLS 1.2 client (RFC 5246) for the checks that need a
// finished handshake crypto/tls cannot be made to do: client-initiated
// renegotiation (RFC 5746: Go's client renegotiates only when the server
// asks), session-ID resumption (Go's client resumes by ticket only) and
// a session ticket it may offer with a session ID of its own choosing
// (Ticketbleed). It speaks ECDHE (X25519, P-256, P-384) and static RSA
// key exchange with AES-GCM (RFC 5288, RFC 5289), the suites every TLS
// 1.2 server has, and extended master secret (RFC 7627).
//
// It never verifies the server's signature or certificate: it is a
// probe, never used to carry data, and the certificate is judged by the
// primary crypto/tls handshake. It does verify the server's Finished,
// which proves both sides derived the same keys. Every read has a byte
// cap (maxSession12) and the caller's deadline.

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"slices"

	"golang.org/x/crypto/cryptobyte"
)

// suite12 is a suite the minimal client implements.
type suite12 struct {
	id     uint16
	ecdhe  bool
	keyLen int
	sha384 bool
}

// suites12 are offered in this order: forward-secret first.
var suites12 = []suite12{
	{0xC02B, true, 16, false},  // ECDHE-ECDSA-AES128-GCM-SHA256
	{0xC02F, true, 16, false},  // ECDHE-RSA-AES128-GCM-SHA256
	{0xC02C, true, 32, true},   // ECDHE-ECDSA-AES256-GCM-SHA384
	{0xC030, true, 32, true},   // ECDHE-RSA-AES256-GCM-SHA384
	{0x009C, false, 16, false}, // AES128-GCM-SHA256
	{0x009D, false, 32, true},  // AES256-GCM-SHA384
}

func suite12IDs() []uint16 {
	ids := make([]uint16, len(suites12))
	for i, s := range suites12 {
		ids[i] = s.id
	}
	return ids
}

// groups12 are the curves the client can compute a shared secret on.
var groups12 = []uint16{groupX25519, groupSecp256r1, groupSecp384r1}

// maxSession12 caps the bytes one connection of the minimal client reads.
const maxSession12 = 1 << 20

// Handshake message types only the full handshake sees.
const (
	hsHelloRequest      uint8 = 0
	hsNewSessionTicket  uint8 = 4
	hsClientKeyExchange uint8 = 16
	hsFinished          uint8 = 20
)

// AlertError is an alert the server sent.
type AlertError struct{ Alert Alert }

func (e *AlertError) Error() string { return "alert " + e.Alert.String() }

// errCCS is readHandshake's signal that a ChangeCipherSpec came instead.
var errCCS = errors.New("ChangeCipherSpec")

// session12 is what resumption needs of a finished handshake.
type session12 struct {
	id       []byte
	ticket   []byte
	lifetime uint32 // ticket_lifetime_hint, seconds (RFC 5077 §3.3)
	master   []byte
	suite    suite12
	ems      bool
}

// conn12 is one connection of the minimal client.
type conn12 struct {
	c   net.Conn
	br  *bufio.Reader
	sni string
	rnd io.Reader
	// noTicket: do not offer session_ticket (session-ID checks).
	noTicket bool

	suite        suite12
	hs           []byte // this handshake's messages, for Finished and EMS
	buf          []byte // handshake bytes read, not yet a whole message
	cr, sr       []byte
	master       []byte
	ems          bool
	w, r         *gcm12 // nil before ChangeCipherSpec
	pendW, pendR *gcm12
	clientVerify []byte
	serverVerify []byte
	read         int

	// What the last handshake showed.
	hello   *ServerHello
	certs   [][]byte
	resumed bool
	sess    session12
	// renegotiations counts completed renegotiations on this connection.
	renegotiations int
}

type gcm12 struct {
	aead cipher.AEAD
	salt []byte
	seq  uint64
}

func newConn12(c net.Conn, sni string) *conn12 {
	return &conn12{c: c, br: bufio.NewReaderSize(c, 8192), sni: sni, rnd: rand.Reader}
}

// writeRecord sends one record, protected once a ChangeCipherSpec was sent.
func (k *conn12) writeRecord(typ uint8, payload []byte) error {
	ver := VersionTLS12
	if k.w == nil && k.hs == nil {
		ver = VersionTLS10 // the first ClientHello, as Marshal sends it
	}
	if k.w != nil {
		explicit := make([]byte, 8)
		binary.BigEndian.PutUint64(explicit, k.w.seq)
		ad := make([]byte, 13)
		binary.BigEndian.PutUint64(ad, k.w.seq)
		ad[8], ad[9], ad[10] = typ, byte(ver>>8), byte(ver)
		binary.BigEndian.PutUint16(ad[11:], uint16(len(payload)))
		nonce := append(slices.Clone(k.w.salt), explicit...)
		payload = k.w.aead.Seal(explicit, nonce, payload, ad)
		k.w.seq++
	}
	if len(payload) > maxPlaintext+2048 {
		return errors.New("record too large")
	}
	_, err := k.c.Write(append([]byte{typ, byte(ver >> 8), byte(ver), byte(len(payload) >> 8), byte(len(payload))}, payload...))
	return err
}

// readRecord reads one record and removes its protection.
func (k *conn12) readRecord() (uint8, []byte, error) {
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(k.br, hdr); err != nil {
		return 0, nil, err
	}
	if !validHeader(hdr) {
		return 0, nil, &NotTLSError{Prefix: hdr}
	}
	n := int(hdr[3])<<8 | int(hdr[4])
	if k.read += 5 + n; k.read > maxSession12 {
		return 0, nil, fmt.Errorf("the server sent more than %d bytes", maxSession12)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(k.br, body); err != nil {
		return 0, nil, err
	}
	if k.r != nil {
		if len(body) < 8+16 {
			return 0, nil, errors.New("protected record too short")
		}
		ad := make([]byte, 13)
		binary.BigEndian.PutUint64(ad, k.r.seq)
		ad[8], ad[9], ad[10] = hdr[0], hdr[1], hdr[2]
		binary.BigEndian.PutUint16(ad[11:], uint16(len(body)-8-16))
		nonce := append(slices.Clone(k.r.salt), body[:8]...)
		pt, err := k.r.aead.Open(nil, nonce, body[8:], ad)
		if err != nil {
			return 0, nil, errors.New("a record failed to decrypt (bad_record_mac)")
		}
		k.r.seq++
		body = pt
	}
	return hdr[0], body, nil
}

// readHandshake returns the next handshake message (header included),
// errCCS when a ChangeCipherSpec comes first, or an *AlertError.
// HelloRequest (RFC 5246 §7.4.1.1) is skipped and kept out of the
// transcript; application data between handshakes is skipped, bounded
// by maxSession12.
func (k *conn12) readHandshake() (uint8, []byte, error) {
	for {
		if len(k.buf) >= 4 {
			n := int(k.buf[1])<<16 | int(k.buf[2])<<8 | int(k.buf[3])
			if n > maxFlight {
				return 0, nil, errors.New("handshake message too large")
			}
			if len(k.buf) >= 4+n {
				msg := slices.Clone(k.buf[:4+n])
				k.buf = k.buf[4+n:]
				if msg[0] == hsHelloRequest {
					continue
				}
				return msg[0], msg, nil
			}
		}
		typ, body, err := k.readRecord()
		if err != nil {
			return 0, nil, err
		}
		switch typ {
		case recordHandshake:
			k.buf = append(k.buf, body...)
		case recordChangeCipherSpec:
			if len(k.buf) > 0 {
				return 0, nil, errors.New("ChangeCipherSpec inside a handshake message")
			}
			return 0, nil, errCCS
		case recordAlert:
			if len(body) < 2 {
				return 0, nil, errors.New("alert record truncated")
			}
			return 0, nil, &AlertError{Alert{Level: body[0], Description: body[1]}}
		case recordApplicationData:
		default:
			return 0, nil, fmt.Errorf("record type %d", typ)
		}
	}
}

// expect reads the next handshake message and checks its type.
func (k *conn12) expect(want uint8, what string) ([]byte, error) {
	typ, msg, err := k.readHandshake()
	if err != nil {
		return nil, fmt.Errorf("waiting for %s: %w", what, err)
	}
	if typ != want {
		return nil, fmt.Errorf("handshake message %d where %s was expected", typ, what)
	}
	return msg, nil
}

func (k *conn12) newHash() hash.Hash {
	if k.suite.sha384 {
		return sha512.New384()
	}
	return sha256.New()
}

func (k *conn12) transcriptHash() []byte {
	h := k.newHash()
	h.Write(k.hs)
	return h.Sum(nil)
}

// prf is the TLS 1.2 PRF, P_<hash> (RFC 5246 §5).
func (k *conn12) prf(secret []byte, label string, seed []byte, n int) []byte {
	newHash := sha256.New
	if k.suite.sha384 {
		newHash = sha512.New384
	}
	ls := append([]byte(label), seed...)
	out := make([]byte, 0, n+64)
	mac := hmac.New(newHash, secret)
	a := ls
	for len(out) < n {
		mac.Reset()
		mac.Write(a)
		a = mac.Sum(nil)
		mac.Reset()
		mac.Write(a)
		mac.Write(ls)
		out = mac.Sum(out)
	}
	return out[:n]
}

// keys derives the pending read and write states (RFC 5246 §6.3).
func (k *conn12) keys() error {
	n := k.suite.keyLen
	kb := k.prf(k.master, "key expansion", append(slices.Clone(k.sr), k.cr...), 2*n+8)
	mk := func(key, salt []byte) (*gcm12, error) {
		b, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		a, err := cipher.NewGCM(b)
		if err != nil {
			return nil, err
		}
		return &gcm12{aead: a, salt: slices.Clone(salt)}, nil
	}
	var err error
	if k.pendW, err = mk(kb[:n], kb[2*n:2*n+4]); err != nil {
		return err
	}
	k.pendR, err = mk(kb[n:2*n], kb[2*n+4:2*n+8])
	return err
}

func (k *conn12) finished(label string) []byte {
	return k.prf(k.master, label, k.transcriptHash(), 12)
}

// sendFinished sends ChangeCipherSpec and Finished under the new keys.
func (k *conn12) sendFinished() error {
	if err := k.writeRecord(recordChangeCipherSpec, []byte{1}); err != nil {
		return err
	}
	k.w = k.pendW
	k.clientVerify = k.finished("client finished")
	msg := append([]byte{hsFinished, 0, 0, 12}, k.clientVerify...)
	k.hs = append(k.hs, msg...)
	return k.writeRecord(recordHandshake, msg)
}

// readFinished reads [NewSessionTicket], ChangeCipherSpec and Finished.
func (k *conn12) readFinished() error {
	for {
		typ, msg, err := k.readHandshake()
		if errors.Is(err, errCCS) {
			break
		}
		if err != nil {
			return fmt.Errorf("waiting for the server's Finished: %w", err)
		}
		if typ != hsNewSessionTicket {
			return fmt.Errorf("handshake message %d before the server's ChangeCipherSpec", typ)
		}
		// RFC 5077 §3.3: lifetime hint, then the ticket.
		s := cryptobyte.String(msg[4:])
		var t cryptobyte.String
		if !s.ReadUint32(&k.sess.lifetime) || !s.ReadUint16LengthPrefixed(&t) || !s.Empty() {
			return errors.New("NewSessionTicket malformed")
		}
		k.sess.ticket = slices.Clone(t)
		k.hs = append(k.hs, msg...)
	}
	k.r = k.pendR
	want := k.finished("server finished")
	msg, err := k.expect(hsFinished, "the server's Finished")
	if err != nil {
		return err
	}
	if !hmac.Equal(msg[4:], want) {
		return errors.New("the server's Finished does not verify")
	}
	k.serverVerify = slices.Clone(msg[4:])
	k.hs = append(k.hs, msg...)
	return nil
}

// handshake runs one handshake (the first, or a renegotiation when keys
// are active), resuming resume when it is set.
func (k *conn12) handshake(resume *session12, sessionID []byte) error {
	h := ClientHello{Version: VersionTLS12, Suites: suite12IDs(), Groups: groups12, ServerName: k.sni, Rand: k.rnd, NoTicket: k.noTicket}
	if k.clientVerify != nil {
		h.RenegInfo = slices.Clone(k.clientVerify) // RFC 5746 §3.5
	}
	if resume != nil {
		h.Suites = []uint16{resume.suite.id}
		h.SessionID, h.Ticket = resume.id, resume.ticket
	}
	if sessionID != nil {
		h.SessionID = sessionID
	}
	msg, err := h.handshakeMessage()
	if err != nil {
		return err
	}
	k.hs, k.resumed, k.certs = nil, false, nil
	k.sess = session12{}
	if err := k.writeRecord(recordHandshake, msg); err != nil {
		return fmt.Errorf("sending the ClientHello: %w", err)
	}
	k.hs = msg
	k.cr = slices.Clone(msg[6 : 6+32])

	shMsg, err := k.expect(hsServerHello, "the ServerHello")
	if err != nil {
		return err
	}
	sh, err := ParseServerHello(shMsg[4:])
	if err != nil {
		return err
	}
	k.hello = sh
	if sh.Version != VersionTLS12 {
		return fmt.Errorf("the server answered %s", VersionName(sh.Version))
	}
	i := slices.IndexFunc(suites12, func(s suite12) bool { return s.id == sh.CipherSuite })
	if i < 0 || !slices.Contains(h.Suites, sh.CipherSuite) {
		return fmt.Errorf("the server chose suite 0x%04X, which was not offered", sh.CipherSuite)
	}
	k.suite, k.sr, k.ems = suites12[i], sh.Random[:], sh.ExtendedMasterSecret
	k.sr = slices.Clone(k.sr)
	k.hs = append(k.hs, shMsg...)
	k.sess.id, k.sess.suite, k.sess.ems = slices.Clone(sh.SessionID), k.suite, k.ems

	typ, next, err := k.readHandshake()
	if resume != nil && (errors.Is(err, errCCS) || (err == nil && typ == hsNewSessionTicket)) {
		// Abbreviated handshake (RFC 5246 §7.3, RFC 5077 §3.1): the
		// server resumed; its ChangeCipherSpec and Finished come first.
		k.resumed, k.master = true, resume.master
		if err := k.keys(); err != nil {
			return err
		}
		k.buf = append(next, k.buf...)
		if errors.Is(err, errCCS) {
			k.buf = nil
			k.r = k.pendR
			fin, err := k.expect(hsFinished, "the server's Finished")
			if err != nil {
				return err
			}
			if !hmac.Equal(fin[4:], k.finished("server finished")) {
				return errors.New("the server's Finished does not verify")
			}
			k.hs = append(k.hs, fin...)
		} else if err := k.readFinished(); err != nil {
			return err
		}
		if k.sess.ticket == nil {
			k.sess.ticket = resume.ticket
		}
		k.sess.master, k.sess.lifetime = k.master, max(k.sess.lifetime, resume.lifetime)
		return k.sendFinished()
	}
	if err != nil {
		return fmt.Errorf("waiting for the Certificate: %w", err)
	}
	// Full handshake: Certificate, [CertificateStatus],
	// [ServerKeyExchange], [CertificateRequest], ServerHelloDone.
	var kx []byte
	certReq := false
	for done := false; !done; {
		k.hs = append(k.hs, next...)
		switch typ {
		case hsCertificate:
			if k.certs, err = parseCertificateList(next[4:]); err != nil {
				return err
			}
		case hsCertificateStatus:
		case hsServerKeyExchange:
			kx = next[4:]
		case hsCertificateRequest:
			certReq = true
		case hsServerHelloDone:
			done = true
			continue
		default:
			return fmt.Errorf("unexpected handshake message %d", typ)
		}
		if typ, next, err = k.readHandshake(); err != nil {
			return fmt.Errorf("reading the server's hello flight: %w", err)
		}
	}
	pms, cke, err := k.keyExchange(kx)
	if err != nil {
		return err
	}
	if certReq {
		// An empty Certificate: no client certificate (RFC 5246 §7.4.6).
		empty := []byte{hsCertificate, 0, 0, 3, 0, 0, 0}
		k.hs = append(k.hs, empty...)
		if err := k.writeRecord(recordHandshake, empty); err != nil {
			return err
		}
	}
	k.hs = append(k.hs, cke...)
	if err := k.writeRecord(recordHandshake, cke); err != nil {
		return err
	}
	if k.ems {
		k.master = k.prf(pms, "extended master secret", k.transcriptHash(), 48) // RFC 7627 §4
	} else {
		k.master = k.prf(pms, "master secret", append(slices.Clone(k.cr), k.sr...), 48)
	}
	if err := k.keys(); err != nil {
		return err
	}
	if err := k.sendFinished(); err != nil {
		return err
	}
	if err := k.readFinished(); err != nil {
		return err
	}
	k.sess.master = k.master
	return nil
}

// keyExchange computes the premaster secret and the ClientKeyExchange.
func (k *conn12) keyExchange(ske []byte) (pms, cke []byte, err error) {
	if !k.suite.ecdhe {
		// Static RSA (RFC 5246 §7.4.7.1): 48 bytes, the offered version
		// first, encrypted to the certificate's key.
		if len(k.certs) == 0 {
			return nil, nil, errors.New("no certificate for RSA key exchange")
		}
		cert, err := x509.ParseCertificate(k.certs[0])
		if err != nil {
			return nil, nil, err
		}
		pub, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, nil, errors.New("RSA key exchange with a non-RSA certificate")
		}
		pms = make([]byte, 48)
		pms[0], pms[1] = 3, 3
		if _, err := io.ReadFull(k.rnd, pms[2:]); err != nil {
			return nil, nil, err
		}
		enc, err := rsa.EncryptPKCS1v15(k.rnd, pub, pms)
		if err != nil {
			return nil, nil, err
		}
		return pms, handshakeMsg(hsClientKeyExchange, append([]byte{byte(len(enc) >> 8), byte(len(enc))}, enc...)), nil
	}
	// ECDHE (RFC 8422 §5.4): named_curve, the curve, the point.
	s := cryptobyte.String(ske)
	var ct uint8
	var id uint16
	var point cryptobyte.String
	if !s.ReadUint8(&ct) || ct != 3 || !s.ReadUint16(&id) || !s.ReadUint8LengthPrefixed(&point) {
		return nil, nil, errors.New("ServerKeyExchange: not a named-curve ECDHE key")
	}
	var curve ecdh.Curve
	switch id {
	case groupX25519:
		curve = ecdh.X25519()
	case groupSecp256r1:
		curve = ecdh.P256()
	case groupSecp384r1:
		curve = ecdh.P384()
	default:
		return nil, nil, fmt.Errorf("ServerKeyExchange: curve 0x%04X was not offered", id)
	}
	peer, err := curve.NewPublicKey(point)
	if err != nil {
		return nil, nil, fmt.Errorf("ServerKeyExchange: %w", err)
	}
	priv, err := curve.GenerateKey(k.rnd)
	if err != nil {
		return nil, nil, err
	}
	if pms, err = priv.ECDH(peer); err != nil {
		return nil, nil, err
	}
	pub := priv.PublicKey().Bytes()
	return pms, handshakeMsg(hsClientKeyExchange, append([]byte{byte(len(pub))}, pub...)), nil
}

// close sends close_notify and reads until the server's own, or the
// first other record, or an error, bounded by the caller's deadline and
// maxSession12. Only a clean close keeps a session resumable on
// OpenSSL (RFC 5246 §7.2.1).
func (k *conn12) close() {
	if k.writeRecord(recordAlert, []byte{1, 0}) != nil {
		return
	}
	for range 8 {
		typ, _, err := k.readRecord()
		if err != nil || typ == recordAlert {
			return
		}
	}
}

func handshakeMsg(typ uint8, body []byte) []byte {
	return append([]byte{typ, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
}

// sameSessionID reports whether the server echoed the offered session ID.
func sameSessionID(offered, echoed []byte) bool {
	return len(offered) > 0 && bytes.Equal(offered, echoed)
}
