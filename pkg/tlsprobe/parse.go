package tlsprobe

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
)

// helloRetryRandom is the ServerHello.random that marks a
// HelloRetryRequest: SHA-256("HelloRetryRequest") (RFC 8446 §4.1.3).
var helloRetryRandom = [32]byte{
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
}

// ServerHello is a parsed ServerHello or HelloRetryRequest.
type ServerHello struct {
	// Version is the negotiated version: the supported_versions
	// extension when present (TLS 1.3, RFC 8446 §4.2.1), else
	// legacy_version.
	Version       uint16
	LegacyVersion uint16
	Random        [32]byte
	SessionID     []byte
	CipherSuite   uint16
	Compression   uint8
	HelloRetry    bool
	Extensions    []uint16 // types, in the order sent
	// KeyShareGroup is the group of the server's TLS 1.3 key share, or
	// the group a HelloRetryRequest asks for.
	KeyShareGroup uint16
	// SecureRenegotiation: renegotiation_info was echoed (RFC 5746 §3.6).
	SecureRenegotiation  bool
	ExtendedMasterSecret bool
}

// ParseServerHello parses the body of a server_hello handshake message
// (without the 4-byte handshake header). It accepts the SSL 3.0 form with
// no extensions block and rejects anything malformed: a length that does
// not add up, trailing bytes, a repeated extension.
func ParseServerHello(body []byte) (*ServerHello, error) {
	s := cryptobyte.String(body)
	var sh ServerHello
	var random, sid []byte
	if !s.ReadUint16(&sh.LegacyVersion) || !s.ReadBytes(&random, 32) ||
		!s.ReadUint8LengthPrefixed((*cryptobyte.String)(&sid)) || !s.ReadUint16(&sh.CipherSuite) || !s.ReadUint8(&sh.Compression) {
		return nil, errors.New("ServerHello truncated")
	}
	if len(sid) > 32 {
		return nil, fmt.Errorf("ServerHello session ID of %d bytes (at most 32)", len(sid))
	}
	copy(sh.Random[:], random)
	sh.SessionID = append([]byte(nil), sid...)
	sh.Version = sh.LegacyVersion
	sh.HelloRetry = sh.Random == helloRetryRandom
	if s.Empty() {
		return &sh, nil // SSL 3.0 / early TLS: no extensions at all
	}
	var exts cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&exts) || !s.Empty() {
		return nil, errors.New("ServerHello extensions malformed")
	}
	seen := map[uint16]bool{}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return nil, errors.New("ServerHello extension truncated")
		}
		if seen[typ] {
			return nil, fmt.Errorf("ServerHello repeats extension %d", typ)
		}
		seen[typ] = true
		sh.Extensions = append(sh.Extensions, typ)
		switch typ {
		case extSupportedVersions:
			var v uint16
			if !data.ReadUint16(&v) || !data.Empty() {
				return nil, errors.New("supported_versions malformed")
			}
			sh.Version = v
		case extKeyShare:
			if !data.ReadUint16(&sh.KeyShareGroup) {
				return nil, errors.New("key_share malformed")
			}
			if !sh.HelloRetry {
				var key cryptobyte.String
				if !data.ReadUint16LengthPrefixed(&key) || len(key) == 0 {
					return nil, errors.New("key_share without a key")
				}
			}
			if !data.Empty() {
				return nil, errors.New("key_share has trailing bytes")
			}
		case extRenegotiationInfo:
			var rc cryptobyte.String
			if !data.ReadUint8LengthPrefixed(&rc) || !data.Empty() {
				return nil, errors.New("renegotiation_info malformed")
			}
			sh.SecureRenegotiation = true
		case extExtendedMasterSecret:
			sh.ExtendedMasterSecret = true
		}
	}
	return &sh, nil
}

// Alert is a TLS alert (RFC 8446 §6).
type Alert struct {
	Level       uint8
	Description uint8
}

var alertNames = map[uint8]string{
	0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 21: "decryption_failed",
	22: "record_overflow", 30: "decompression_failure", 40: "handshake_failure", 41: "no_certificate",
	42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked", 45: "certificate_expired",
	46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied",
	50: "decode_error", 51: "decrypt_error", 60: "export_restriction", 70: "protocol_version",
	71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback", 90: "user_canceled",
	100: "no_renegotiation", 109: "missing_extension", 110: "unsupported_extension", 112: "unrecognized_name",
	113: "bad_certificate_status_response", 115: "unknown_psk_identity", 116: "certificate_required",
	120: "no_application_protocol",
}

func (a Alert) String() string {
	name, ok := alertNames[a.Description]
	if !ok {
		name = fmt.Sprintf("alert %d", a.Description)
	}
	if a.Level == 1 {
		return name + " (warning)"
	}
	return name
}

// KeyExchange is what a ServerKeyExchange revealed (RFC 5246 §7.4.3,
// RFC 8422 §5.4, RFC 4279 §2 for the PSK variants).
type KeyExchange struct {
	Kind     string // "dh", "ecdh" or "rsa" (export)
	DHBits   int    // size of the DH prime p
	Group    uint16 // named curve (ECDHE)
	Explicit bool   // explicit curve parameters instead of a named curve
	RSABits  int    // temporary RSA key of an export suite
}

// Flight is what a server sent in answer to one ClientHello, up to the
// point where the scanner knows what it wanted: the ServerHello for TLS
// 1.3, the ServerKeyExchange or ServerHelloDone for older versions, or an
// alert.
type Flight struct {
	RecordVersion uint16
	Hello         *ServerHello
	Alert         *Alert
	Certificates  [][]byte // DER, leaf first (TLS 1.2 and older: sent in clear)
	KeyExchange   *KeyExchange
	HelloDone     bool
	Bytes         int // bytes read
}

// ErrNotTLS means the server answered with something that is not a TLS
// record: a plaintext error, an HTTP response, an SSLv2 record, noise.
type NotTLSError struct {
	Prefix []byte // the first bytes received
}

func (e *NotTLSError) Error() string {
	return fmt.Sprintf("not a TLS record: %q", e.Prefix)
}

// flightParser reassembles handshake messages from records and decides
// when the flight says enough. suiteKx tells how to read a
// ServerKeyExchange once the ServerHello named the suite.
type flightParser struct {
	f    Flight
	hs   []byte
	done bool
}

// maxFlight bounds what a probe reads: a certificate chain of a few
// certificates fits easily; a hostile server cannot make us buffer more.
const maxFlight = 256 << 10

func (p *flightParser) record(typ uint8, ver uint16, body []byte) error {
	if p.f.RecordVersion == 0 {
		p.f.RecordVersion = ver
	}
	p.f.Bytes += 5 + len(body)
	if p.f.Bytes > maxFlight {
		return fmt.Errorf("server flight larger than %d bytes", maxFlight)
	}
	switch typ {
	case recordAlert:
		if len(body) < 2 {
			return errors.New("alert record truncated")
		}
		p.f.Alert = &Alert{Level: body[0], Description: body[1]}
		p.done = true
		return nil
	case recordHandshake:
		p.hs = append(p.hs, body...)
		return p.messages()
	case recordChangeCipherSpec, recordApplicationData:
		if p.f.Hello != nil {
			// TLS 1.3 compatibility CCS or encrypted records after the
			// ServerHello: the flight is as complete as it gets in clear.
			p.done = true
			return nil
		}
		return fmt.Errorf("record type %d before the ServerHello", typ)
	}
	return fmt.Errorf("unknown record type %d", typ)
}

// messages consumes every complete handshake message in p.hs.
func (p *flightParser) messages() error {
	for !p.done && len(p.hs) >= 4 {
		n := int(p.hs[1])<<16 | int(p.hs[2])<<8 | int(p.hs[3])
		if len(p.hs) < 4+n {
			return nil
		}
		typ, body := p.hs[0], p.hs[4:4+n]
		p.hs = p.hs[4+n:]
		if p.f.Hello == nil && typ != hsServerHello {
			return fmt.Errorf("handshake message %d before the ServerHello", typ)
		}
		switch typ {
		case hsServerHello:
			if p.f.Hello != nil {
				return errors.New("second ServerHello")
			}
			sh, err := ParseServerHello(body)
			if err != nil {
				return err
			}
			p.f.Hello = sh
			// TLS 1.3 encrypts everything after the ServerHello; an HRR
			// ends the exchange until the client answers it.
			if sh.HelloRetry || sh.Version >= VersionTLS13 {
				p.done = true
			}
		case hsCertificate:
			certs, err := parseCertificateList(body)
			if err != nil {
				return err
			}
			p.f.Certificates = certs
		case hsServerKeyExchange:
			suite, _ := LookupSuite(p.f.Hello.CipherSuite)
			kx, err := parseServerKeyExchange(suite, body)
			if err != nil {
				return err
			}
			p.f.KeyExchange = kx
			p.done = true
		case hsServerHelloDone:
			p.f.HelloDone = true
			p.done = true
		case hsCertificateRequest, hsCertificateStatus:
			// Irrelevant to the scan; OCSP stapling is judged from the
			// full crypto/tls handshake.
		default:
			return fmt.Errorf("unexpected handshake message %d", typ)
		}
	}
	return nil
}

// parseCertificateList reads a TLS 1.2 Certificate message (RFC 5246
// §7.4.2): a 24-bit-length list of 24-bit-length DER certificates.
func parseCertificateList(body []byte) ([][]byte, error) {
	s := cryptobyte.String(body)
	var list cryptobyte.String
	if !s.ReadUint24LengthPrefixed(&list) || !s.Empty() {
		return nil, errors.New("Certificate message malformed")
	}
	var out [][]byte
	for !list.Empty() {
		var c cryptobyte.String
		if !list.ReadUint24LengthPrefixed(&c) || len(c) == 0 {
			return nil, errors.New("Certificate entry malformed")
		}
		out = append(out, append([]byte(nil), c...))
	}
	return out, nil
}

// parseServerKeyExchange reads the parameters of the key exchange the
// suite uses; the signature that follows is not checked (the scanner
// does not finish the handshake, and a bad signature changes nothing
// about which suites the server accepts).
func parseServerKeyExchange(suite Suite, body []byte) (*KeyExchange, error) {
	s := cryptobyte.String(body)
	if suite.Kx == "DHE_PSK" || suite.Kx == "ECDHE_PSK" {
		var hint cryptobyte.String
		if !s.ReadUint16LengthPrefixed(&hint) {
			return nil, errors.New("ServerKeyExchange: PSK identity hint truncated")
		}
	}
	switch {
	case suite.isDHE():
		var p, g, y cryptobyte.String
		if !s.ReadUint16LengthPrefixed(&p) || !s.ReadUint16LengthPrefixed(&g) || !s.ReadUint16LengthPrefixed(&y) || len(p) == 0 {
			return nil, errors.New("ServerKeyExchange: DH parameters malformed")
		}
		return &KeyExchange{Kind: "dh", DHBits: new(big.Int).SetBytes(p).BitLen()}, nil
	case suite.isECDHE():
		var curveType uint8
		if !s.ReadUint8(&curveType) {
			return nil, errors.New("ServerKeyExchange: curve type missing")
		}
		switch curveType {
		case 3: // named_curve
			var id uint16
			if !s.ReadUint16(&id) {
				return nil, errors.New("ServerKeyExchange: named curve truncated")
			}
			return &KeyExchange{Kind: "ecdh", Group: id}, nil
		case 1, 2: // explicit_prime, explicit_char2: deprecated by RFC 8422 §5.4
			return &KeyExchange{Kind: "ecdh", Explicit: true}, nil
		}
		return nil, fmt.Errorf("ServerKeyExchange: unknown curve type %d", curveType)
	case suite.Kx == "RSA":
		var mod, exp cryptobyte.String
		if !s.ReadUint16LengthPrefixed(&mod) || !s.ReadUint16LengthPrefixed(&exp) {
			return nil, errors.New("ServerKeyExchange: RSA parameters malformed")
		}
		return &KeyExchange{Kind: "rsa", RSABits: new(big.Int).SetBytes(mod).BitLen()}, nil
	}
	return &KeyExchange{Kind: suite.Kx}, nil
}

// validHeader reports whether a 5-byte record header is plausible: a
// known content type, major version 3, and a length a peer may send
// (RFC 5246 §6.2.3 allows 2048 bytes of expansion).
func validHeader(h []byte) bool {
	return h[0] >= recordChangeCipherSpec && h[0] <= recordApplicationData && h[1] == 3 && h[2] <= 4 &&
		int(h[3])<<8|int(h[4]) <= maxPlaintext+2048
}

// ParseFlight parses a server's first flight from raw bytes (records).
// It returns what it could read and io.ErrUnexpectedEOF when the data
// ends before the flight is complete. The network reader and the fuzzer
// share this code.
func ParseFlight(data []byte) (*Flight, error) {
	return readFlight(bufio.NewReader(bytes.NewReader(data)))
}

// readFlight reads records until the flight is complete.
func readFlight(br *bufio.Reader) (*Flight, error) {
	var p flightParser
	hdr := make([]byte, 5)
	for !p.done {
		n, err := io.ReadFull(br, hdr)
		if err != nil {
			if n > 0 && !validHeader(append(hdr[:n:n], make([]byte, 5-n)...)) {
				return &p.f, &NotTLSError{Prefix: append([]byte(nil), hdr[:n]...)}
			}
			if err == io.EOF && p.f.Bytes > 0 {
				err = io.ErrUnexpectedEOF
			}
			return &p.f, err
		}
		if !validHeader(hdr) {
			// Show what the server said: often a plaintext error line.
			extra, _ := br.Peek(min(br.Buffered(), 59))
			return &p.f, &NotTLSError{Prefix: append(append([]byte(nil), hdr...), extra...)}
		}
		body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
		if _, err := io.ReadFull(br, body); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return &p.f, err
		}
		if err := p.record(hdr[0], uint16(hdr[1])<<8|uint16(hdr[2]), body); err != nil {
			return &p.f, err
		}
	}
	return &p.f, nil
}
