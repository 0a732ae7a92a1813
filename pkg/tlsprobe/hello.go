package tlsprobe

import (
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"strings"

	"golang.org/x/crypto/cryptobyte"
)

// TLS record content types (RFC 5246 §6.2.1, RFC 8446 §5.1).
const (
	recordChangeCipherSpec uint8 = 20
	recordAlert            uint8 = 21
	recordHandshake        uint8 = 22
	recordApplicationData  uint8 = 23
)

// Handshake message types (RFC 5246 §7.4, RFC 8446 §4, RFC 6066 §8).
const (
	hsClientHello        uint8 = 1
	hsServerHello        uint8 = 2
	hsCertificate        uint8 = 11
	hsServerKeyExchange  uint8 = 12
	hsCertificateRequest uint8 = 13
	hsServerHelloDone    uint8 = 14
	hsCertificateStatus  uint8 = 22
)

// Extension types (IANA "TLS ExtensionType Values").
const (
	extServerName           uint16 = 0
	extStatusRequest        uint16 = 5
	extSupportedGroups      uint16 = 10
	extECPointFormats       uint16 = 11
	extSignatureAlgorithms  uint16 = 13
	extPadding              uint16 = 21
	extExtendedMasterSecret uint16 = 23
	extSessionTicket        uint16 = 35
	extSupportedVersions    uint16 = 43
	extPSKKeyExchangeModes  uint16 = 45
	extKeyShare             uint16 = 51
	extRenegotiationInfo    uint16 = 0xff01
)

// maxPlaintext is the largest record fragment a peer may send (RFC 8446
// §5.1); TLS 1.2 allows 2048 more for compression or ciphertext expansion.
const maxPlaintext = 16384

// ClientHello describes a hand-built ClientHello. Unlike crypto/tls it can
// offer anything: SSL 3.0, export and anonymous suites, suites no Go code
// implements. Only the fields a server reads before choosing a version,
// a suite and a group matter, because the scanner never finishes the
// handshake.
type ClientHello struct {
	// Version is the highest version offered: legacy_version for SSL 3.0
	// to TLS 1.2; for TLS 1.3 legacy_version is TLS 1.2 and the real
	// offer is the supported_versions extension (RFC 8446 §4.2.1).
	Version uint16
	Suites  []uint16
	// Groups fills supported_groups (RFC 8422 §5.1.1, RFC 8446 §4.2.7);
	// nil means every group defined for Version.
	Groups []uint16
	// KeyShares lists the groups to send a TLS 1.3 key share for. Only
	// x25519 and secp256r1 shares can be generated; other groups in
	// Groups are reached by HelloRetryRequest. Empty forces an HRR,
	// which is how a server names its preferred group.
	KeyShares []uint16
	// ServerName is sent as SNI (RFC 6066 §3) unless it is empty or an
	// IP address, which SNI does not allow.
	ServerName string
	SigAlgs    []uint16 // nil = defaultSigAlgs
	// Compression lists the compression methods offered; nil is null
	// only (CRIME). The compression check offers DEFLATE (1) and null.
	Compression []uint8
	// Extra are further extensions, sent after the standard ones and
	// before the padding (the heartbeat check's heartbeat extension).
	Extra []Extension
	// SessionID, when set, is offered for resumption (RFC 5246
	// §7.4.1.2); otherwise TLS 1.3 sends 32 random bytes and older
	// versions none.
	SessionID []byte
	// Ticket is the session_ticket extension's content (RFC 5077 §3.2):
	// empty asks for a ticket, a ticket offers it for resumption.
	Ticket []byte
	// NoTicket leaves the session_ticket extension out: a server that
	// issues tickets sends no session ID to a client that asks for one
	// (RFC 5077 §3.4), so session IDs are checked without it.
	NoTicket bool
	// RenegInfo is renegotiation_info's content: empty on a first
	// handshake, the previous client Finished verify_data when
	// renegotiating (RFC 5746 §3.5).
	RenegInfo []byte
	// Rand supplies the random, the session ID and key shares; nil =
	// crypto/rand.
	Rand io.Reader
}

// Extension is one extension for ClientHello.Extra: its type and its
// encoded data.
type Extension struct {
	Type uint16
	Data []byte
}

// Marshal returns the ClientHello as TLS records, ready to write.
func (h ClientHello) Marshal() ([]byte, error) {
	msg, err := h.handshakeMessage()
	if err != nil {
		return nil, err
	}
	// The record layer version: SSL 3.0 servers want 3.0; everyone else
	// gets TLS 1.0, which is what every modern client sends because some
	// servers reject a higher record version in the first flight
	// (RFC 8446 §5.1, RFC 5246 Appendix E.1).
	recVer := VersionTLS10
	if h.Version == VersionSSL30 {
		recVer = VersionSSL30
	}
	return appendRecords(nil, recordHandshake, recVer, msg), nil
}

// appendRecords fragments payload into records of at most maxPlaintext bytes.
func appendRecords(dst []byte, typ uint8, ver uint16, payload []byte) []byte {
	for len(payload) > 0 {
		n := min(len(payload), maxPlaintext)
		dst = append(dst, typ, byte(ver>>8), byte(ver), byte(n>>8), byte(n))
		dst = append(dst, payload[:n]...)
		payload = payload[n:]
	}
	return dst
}

func (h ClientHello) handshakeMessage() ([]byte, error) {
	if len(h.Suites) == 0 {
		return nil, errors.New("tlsprobe: ClientHello without cipher suites")
	}
	if len(h.Suites) > 32767 {
		return nil, errors.New("tlsprobe: too many cipher suites")
	}
	rnd := h.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	random := make([]byte, 32)
	if _, err := io.ReadFull(rnd, random); err != nil {
		return nil, err
	}
	legacy := h.Version
	if legacy > VersionTLS12 {
		legacy = VersionTLS12
	}
	// A 32-byte session ID makes a TLS 1.3 hello look like a resumption
	// attempt to middleboxes (RFC 8446 §D.4); older versions send none,
	// so no server tries to resume anything.
	sessionID := h.SessionID
	if sessionID == nil && h.Version >= VersionTLS13 {
		sessionID = make([]byte, 32)
		if _, err := io.ReadFull(rnd, sessionID); err != nil {
			return nil, err
		}
	}
	suites := h.Suites
	if h.Version == VersionSSL30 {
		// SSL 3.0 has no extensions to carry renegotiation_info, so the
		// signalling suite stands in for it (RFC 5746 §3.3).
		suites = append(append([]uint16(nil), suites...), scsvRenegotiation)
	}
	exts, err := h.extensions(rnd)
	if err != nil {
		return nil, err
	}

	body := cryptobyte.NewBuilder(make([]byte, 0, 512+2*len(suites)))
	body.AddUint16(legacy)
	body.AddBytes(random)
	body.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(sessionID) })
	body.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, s := range suites {
			b.AddUint16(s)
		}
	})
	compression := h.Compression
	if compression == nil {
		compression = []uint8{0} // null only (CRIME)
	}
	body.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(compression) })
	if exts != nil {
		// RFC 7685: pad a hello whose handshake message would be 256 to
		// 511 bytes long up to 512. Some load balancers (F5, among
		// others) hang on hellos in that range; every mainstream client
		// pads for them. The padding extension is always last.
		pre := body.BytesOrPanic()
		size := 4 + len(pre) + 2 + len(exts)
		if size < 512 {
			pad := 512 - size - 4
			if pad < 0 {
				pad = 0
			}
			exts = append(exts, byte(extPadding>>8), byte(extPadding), byte(pad>>8), byte(pad))
			exts = append(exts, make([]byte, pad)...)
		}
		body.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(exts) })
	}
	bodyBytes, err := body.Bytes()
	if err != nil {
		return nil, err
	}
	msg := cryptobyte.NewBuilder(make([]byte, 0, len(bodyBytes)+4))
	msg.AddUint8(hsClientHello)
	msg.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(bodyBytes) })
	return msg.Bytes()
}

// extensions returns the encoded extension block (without its length),
// or nil for SSL 3.0, which predates extensions.
func (h ClientHello) extensions(rnd io.Reader) ([]byte, error) {
	if h.Version == VersionSSL30 {
		return nil, nil
	}
	groups := h.Groups
	if groups == nil {
		groups = groupsFor(h.Version)
	}
	sig := h.SigAlgs
	if sig == nil {
		sig = defaultSigAlgs
	}
	b := cryptobyte.NewBuilder(nil)
	ext := func(typ uint16, f func(*cryptobyte.Builder)) {
		b.AddUint16(typ)
		b.AddUint16LengthPrefixed(f)
	}
	if name := sniName(h.ServerName); name != "" {
		// RFC 6066 §3: a list holding one host_name entry.
		ext(extServerName, func(b *cryptobyte.Builder) {
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
				b.AddUint8(0)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(name)) })
			})
		})
	}
	if len(groups) > 0 {
		ext(extSupportedGroups, func(b *cryptobyte.Builder) {
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
				for _, g := range groups {
					b.AddUint16(g)
				}
			})
		})
	}
	// uncompressed, ansiX962_compressed_prime, ansiX962_compressed_char2
	// (RFC 8422 §5.1.2): offering all lets a server with an old curve
	// configuration answer.
	ext(extECPointFormats, func(b *cryptobyte.Builder) {
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte{0, 1, 2}) })
	})
	if h.Version >= VersionTLS12 {
		// signature_algorithms is meaningless before TLS 1.2 and RFC
		// 5246 §7.4.1.4.1 forbids offering it with older versions.
		ext(extSignatureAlgorithms, func(b *cryptobyte.Builder) {
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
				for _, s := range sig {
					b.AddUint16(s)
				}
			})
		})
	}
	// Empty renegotiation_info: RFC 5746 §3.4. Its echo in the
	// ServerHello shows the server supports secure renegotiation.
	ext(extRenegotiationInfo, func(b *cryptobyte.Builder) {
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(h.RenegInfo) })
	})
	ext(extExtendedMasterSecret, func(b *cryptobyte.Builder) {}) // RFC 7627
	if !h.NoTicket {
		ext(extSessionTicket, func(b *cryptobyte.Builder) { b.AddBytes(h.Ticket) }) // RFC 5077: many stacks expect it
	}
	if h.Version >= VersionTLS13 {
		ext(extSupportedVersions, func(b *cryptobyte.Builder) {
			b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint16(VersionTLS13) })
		})
		ext(extPSKKeyExchangeModes, func(b *cryptobyte.Builder) {
			b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(1) }) // psk_dhe_ke
		})
		shares, err := keyShares(h.KeyShares, rnd)
		if err != nil {
			return nil, err
		}
		ext(extKeyShare, func(b *cryptobyte.Builder) {
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
				for _, s := range shares {
					b.AddUint16(s.group)
					b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(s.data) })
				}
			})
		})
	}
	for _, e := range h.Extra {
		ext(e.Type, func(b *cryptobyte.Builder) { b.AddBytes(e.Data) })
	}
	return b.Bytes()
}

type keyShare struct {
	group uint16
	data  []byte
}

// keyShares generates real public keys for the groups Go's crypto/ecdh
// implements; a server must be able to parse the share, and a random
// string is not a valid P-256 point. Other groups are skipped: a server
// that wants them asks by HelloRetryRequest, which is all the scanner
// needs to know.
func keyShares(groups []uint16, rnd io.Reader) ([]keyShare, error) {
	var out []keyShare
	for _, g := range groups {
		var curve ecdh.Curve
		switch g {
		case groupX25519:
			curve = ecdh.X25519()
		case groupSecp256r1:
			curve = ecdh.P256()
		default:
			continue
		}
		k, err := curve.GenerateKey(rnd)
		if err != nil {
			return nil, err
		}
		out = append(out, keyShare{g, k.PublicKey().Bytes()})
	}
	return out, nil
}

// sniName returns the name to put in SNI: not an IP literal, no trailing
// dot (RFC 6066 §3).
func sniName(s string) string {
	s = strings.TrimSuffix(s, ".")
	if s == "" || net.ParseIP(strings.Trim(s, "[]")) != nil {
		return ""
	}
	return s
}
