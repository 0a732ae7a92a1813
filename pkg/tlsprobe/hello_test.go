package tlsprobe

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

func TestClientHello_roundTrip(t *testing.T) {
	for _, v := range AllVersions {
		t.Run(VersionName(v), func(t *testing.T) {
			h := ClientHello{Version: v, Suites: SuitesFor(v), ServerName: "mail.example.com."}
			if v == VersionTLS13 {
				h.KeyShares = []uint16{groupX25519, groupSecp256r1, 30}
			}
			rec, err := h.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			ch, err := readClientHello(bytes.NewReader(rec))
			if err != nil {
				t.Fatal(err)
			}
			wantRec := VersionTLS10
			if v == VersionSSL30 {
				wantRec = VersionSSL30
			}
			if ch.recordVersion != wantRec || ch.legacyVersion != min(v, VersionTLS12) {
				t.Errorf("record %04X legacy %04X", ch.recordVersion, ch.legacyVersion)
			}
			wantSuites := h.Suites
			if v == VersionSSL30 {
				wantSuites = append(slices.Clone(wantSuites), scsvRenegotiation)
			}
			if !slices.Equal(ch.suites, wantSuites) {
				t.Errorf("suites differ")
			}
			if slices.Contains(ch.suites, scsvFallback) {
				t.Errorf("TLS_FALLBACK_SCSV offered: a server would refuse every lower version on purpose")
			}
			if !bytes.Equal(ch.compression, []byte{0}) {
				t.Errorf("compression %v", ch.compression)
			}
			if v == VersionSSL30 {
				if ch.hasExtensions {
					t.Errorf("SSL 3.0 hello carries extensions")
				}
				return
			}
			if ch.serverName != "mail.example.com" {
				t.Errorf("SNI %q", ch.serverName)
			}
			if !slices.Equal(ch.groups, groupsFor(v)) || !bytes.Equal(ch.pointFormats, []byte{0, 1, 2}) || !ch.reneg {
				t.Errorf("groups %v point formats %v reneg %v", ch.groups, ch.pointFormats, ch.reneg)
			}
			if (v >= VersionTLS12) != (ch.sigAlgs != nil) {
				t.Errorf("signature_algorithms present=%v for %s", ch.sigAlgs != nil, VersionName(v))
			}
			if v == VersionTLS13 {
				if !slices.Equal(ch.versions, []uint16{VersionTLS13}) || len(ch.sessionID) != 32 {
					t.Errorf("supported_versions %v, session ID %d bytes", ch.versions, len(ch.sessionID))
				}
				// x448 has no Go implementation: no share, HRR will ask.
				if !slices.Equal(ch.keyShares, []uint16{groupX25519, groupSecp256r1}) {
					t.Errorf("key shares %v", ch.keyShares)
				}
			} else if ch.versions != nil || ch.keyShares != nil {
				t.Errorf("TLS 1.3 extensions in a %s hello", VersionName(v))
			}
			if ch.msgLen < 512 {
				t.Errorf("hello of %d bytes; pad to 512 (RFC 7685)", ch.msgLen)
			}
			if ch.exts[len(ch.exts)-1] != extPadding && ch.paddingLen > 0 {
				t.Errorf("padding is not the last extension")
			}
		})
	}
}

func TestClientHello_padding(t *testing.T) {
	// A short hello is padded to exactly 512 bytes; a long one is not.
	short := ClientHello{Version: VersionTLS12, Suites: []uint16{0xC02F}}
	rec, _ := short.Marshal()
	ch, err := readClientHello(bytes.NewReader(rec))
	if err != nil {
		t.Fatal(err)
	}
	if ch.msgLen != 512 || ch.paddingLen == 0 {
		t.Errorf("short hello: %d bytes, padding %d", ch.msgLen, ch.paddingLen)
	}
	long := ClientHello{Version: VersionTLS12, Suites: SuitesFor(VersionTLS12)}
	rec, _ = long.Marshal()
	ch, _ = readClientHello(bytes.NewReader(rec))
	if ch.paddingLen != 0 || slices.Contains(ch.exts, extPadding) {
		t.Errorf("long hello padded")
	}
	// IP literals never go into SNI (RFC 6066 §3).
	ip := ClientHello{Version: VersionTLS12, Suites: []uint16{0xC02F}, ServerName: "192.0.2.1"}
	rec, _ = ip.Marshal()
	ch, _ = readClientHello(bytes.NewReader(rec))
	if slices.Contains(ch.exts, extServerName) {
		t.Errorf("SNI sent for an IP address")
	}
	if _, err := (ClientHello{Version: VersionTLS12}).Marshal(); err == nil {
		t.Errorf("a hello without suites was built")
	}
}

// Go's own TLS server must accept the hand-built hellos: every version
// it speaks answers with a ServerHello the parser understands.
func TestClientHello_goServerAnswers(t *testing.T) {
	cfg := goConfig(t, tls.VersionTLS10, tls.VersionTLS13, nil, nil)
	for _, v := range []uint16{VersionTLS10, VersionTLS11, VersionTLS12, VersionTLS13} {
		c1, c2 := net.Pipe()
		go func() {
			defer c2.Close()
			tls.Server(c2, cfg).Handshake()
		}()
		h := ClientHello{Version: v, Suites: SuitesFor(v), ServerName: "mail.test", KeyShares: []uint16{groupX25519}}
		rec, _ := h.Marshal()
		c1.SetDeadline(time.Now().Add(5 * time.Second))
		go c1.Write(rec)
		f, err := readFlight(bufio.NewReader(c1))
		c1.Close()
		if err != nil && f.Hello == nil {
			t.Fatalf("%s: %v", VersionName(v), err)
		}
		if f.Hello.Version != v {
			t.Errorf("offered %s, got %s", VersionName(v), VersionName(f.Hello.Version))
		}
		if v < VersionTLS13 && (len(f.Certificates) == 0 || f.KeyExchange == nil || f.KeyExchange.Group == 0) {
			t.Errorf("%s: flight without certificate or ECDHE parameters: %+v", VersionName(v), f)
		}
		if v < VersionTLS13 && !f.Hello.SecureRenegotiation {
			t.Errorf("%s: renegotiation_info not echoed", VersionName(v))
		}
	}
}

// serverHelloMsg builds a ServerHello handshake body for parser tests.
func serverHelloMsg(legacy uint16, random []byte, suite uint16, exts func(*cryptobyte.Builder)) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddUint16(legacy)
	b.AddBytes(random)
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) {})
	b.AddUint16(suite)
	b.AddUint8(0)
	if exts != nil {
		b.AddUint16LengthPrefixed(exts)
	}
	return b.BytesOrPanic()
}

func withExt(typ uint16, data []byte) func(*cryptobyte.Builder) {
	return func(b *cryptobyte.Builder) {
		b.AddUint16(typ)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(data) })
	}
}

func TestParseServerHello(t *testing.T) {
	r := make([]byte, 32)
	// SSL 3.0 style: no extensions block.
	sh, err := ParseServerHello(serverHelloMsg(VersionSSL30, r, 0x0005, nil))
	if err != nil || sh.Version != VersionSSL30 || sh.CipherSuite != 0x0005 || sh.HelloRetry {
		t.Errorf("SSL 3.0: %+v %v", sh, err)
	}
	// TLS 1.3 via supported_versions with a key share.
	tls13 := func(b *cryptobyte.Builder) {
		withExt(extSupportedVersions, []byte{3, 4})(b)
		withExt(extKeyShare, []byte{0, 29, 0, 32, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32})(b)
	}
	sh, err = ParseServerHello(serverHelloMsg(VersionTLS12, r, 0x1301, tls13))
	if err != nil || sh.Version != VersionTLS13 || sh.KeyShareGroup != 29 {
		t.Errorf("TLS 1.3: %+v %v", sh, err)
	}
	// HelloRetryRequest: the magic random, a key_share naming the group.
	hrr := func(b *cryptobyte.Builder) {
		withExt(extSupportedVersions, []byte{3, 4})(b)
		withExt(extKeyShare, []byte{0, 24})(b)
	}
	sh, err = ParseServerHello(serverHelloMsg(VersionTLS12, helloRetryRandom[:], 0x1302, hrr))
	if err != nil || !sh.HelloRetry || sh.KeyShareGroup != 24 {
		t.Errorf("HRR: %+v %v", sh, err)
	}
	sh, err = ParseServerHello(serverHelloMsg(VersionTLS12, r, 0xC02F, withExt(extRenegotiationInfo, []byte{0})))
	if err != nil || !sh.SecureRenegotiation {
		t.Errorf("renegotiation_info: %+v %v", sh, err)
	}
	for name, body := range map[string][]byte{
		"truncated":        serverHelloMsg(VersionTLS12, r, 0xC02F, nil)[:30],
		"trailing byte":    append(serverHelloMsg(VersionTLS12, r, 0xC02F, withExt(23, nil)), 0),
		"repeated ext":     serverHelloMsg(VersionTLS12, r, 0xC02F, func(b *cryptobyte.Builder) { withExt(23, nil)(b); withExt(23, nil)(b) }),
		"bad version ext":  serverHelloMsg(VersionTLS12, r, 0x1301, withExt(extSupportedVersions, []byte{3})),
		"key share no key": serverHelloMsg(VersionTLS12, r, 0x1301, withExt(extKeyShare, []byte{0, 29, 0, 0})),
		"empty":            nil,
	} {
		if _, err := ParseServerHello(body); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestParseFlight(t *testing.T) {
	// An alert.
	f, err := ParseFlight([]byte{21, 3, 1, 0, 2, 2, 70})
	if err != nil || f.Alert == nil || f.Alert.String() != "protocol_version" {
		t.Errorf("alert: %+v %v", f, err)
	}
	// Plaintext where TLS was expected.
	_, err = ParseFlight([]byte("554 5.7.0 Too many errors\r\n"))
	var nt *NotTLSError
	if !errors.As(err, &nt) || !strings.Contains(nt.Error(), "554 5.7.0") {
		t.Errorf("plaintext: %v", err)
	}
	// Nothing at all, and a flight cut in the middle.
	if _, err := ParseFlight(nil); err != io.EOF {
		t.Errorf("empty: %v", err)
	}
	rs := &rawServer{versions: []uint16{VersionTLS12}, suites: []uint16{0x0033}, dhBits: 1536, certs: [][]byte{{0x30, 0x03, 0x01, 0x01, 0xff}}}
	ch := &parsedHello{legacyVersion: VersionTLS12, suites: []uint16{0x0033}}
	full := rs.answer(ch)
	f, err = ParseFlight(full)
	if err != nil || f.Hello == nil || f.KeyExchange == nil || f.KeyExchange.DHBits != 1536 || len(f.Certificates) != 1 {
		t.Errorf("DHE flight: %+v %v", f, err)
	}
	// The ServerHello in a record of its own, the rest cut short: what
	// was chosen is still known.
	payload := full[5:]
	shLen := 4 + (int(payload[1])<<16 | int(payload[2])<<8 | int(payload[3]))
	rest := appendRecords(nil, recordHandshake, VersionTLS12, payload[shLen:])
	cut := append(appendRecords(nil, recordHandshake, VersionTLS12, payload[:shLen]), rest[:len(rest)-20]...)
	f, err = ParseFlight(cut)
	if err != io.ErrUnexpectedEOF || f.Hello == nil {
		t.Errorf("cut flight: %v, hello %v", err, f.Hello)
	}
	// A record length beyond what TLS allows is not TLS.
	if _, err := ParseFlight([]byte{22, 3, 3, 0xff, 0xff}); !errors.As(err, &nt) {
		t.Errorf("oversized record: %v", err)
	}
}

// FuzzParseServerHello feeds arbitrary bytes to the record and
// ServerHello parsers: they must never panic, never report a flight
// larger than its input, and a ServerHello they accept must re-encode to
// the same bytes.
func FuzzParseServerHello(f *testing.F) {
	r := make([]byte, 32)
	f.Add(serverHelloMsg(VersionTLS12, r, 0xC02F, withExt(extRenegotiationInfo, []byte{0})))
	f.Add(serverHelloMsg(VersionSSL30, r, 0x0005, nil))
	f.Add(serverHelloMsg(VersionTLS12, helloRetryRandom[:], 0x1302, func(b *cryptobyte.Builder) {
		withExt(extSupportedVersions, []byte{3, 4})(b)
		withExt(extKeyShare, []byte{0, 24})(b)
	}))
	for _, rs := range []*rawServer{
		{versions: []uint16{VersionTLS12}, suites: []uint16{0x0033}, dhBits: 1024, certs: [][]byte{{1, 2, 3}}},
		{versions: []uint16{VersionTLS12}, suites: []uint16{0xC02F}, groups: []uint16{23}},
		{versions: []uint16{VersionTLS13}, suites: []uint16{0x1301}, groups: []uint16{29}},
		{versions: []uint16{VersionSSL30}, suites: []uint16{0x0003}},
	} {
		f.Add(rs.answer(&parsedHello{legacyVersion: VersionTLS12, suites: rs.suites, groups: rs.groups, versions: rs.versions, keyShares: []uint16{29}}))
	}
	f.Add([]byte{21, 3, 1, 0, 2, 2, 40})
	f.Add([]byte("HTTP/1.1 400 Bad Request\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if sh, err := ParseServerHello(data); err == nil {
			if len(sh.SessionID) > 32 {
				t.Fatalf("session ID of %d bytes accepted", len(sh.SessionID))
			}
			// Without extensions the message re-encodes exactly.
			if sh.Extensions == nil && len(data) == 38+len(sh.SessionID) {
				b := cryptobyte.NewBuilder(nil)
				b.AddUint16(sh.LegacyVersion)
				b.AddBytes(sh.Random[:])
				b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(sh.SessionID) })
				b.AddUint16(sh.CipherSuite)
				b.AddUint8(sh.Compression)
				if again := b.BytesOrPanic(); !bytes.Equal(again, data) {
					t.Fatalf("re-encoding differs:\n%x\n%x", again, data)
				}
			}
		}
		fl, _ := ParseFlight(data)
		if fl != nil && fl.Bytes > len(data) {
			t.Fatalf("flight of %d bytes from %d bytes of input", fl.Bytes, len(data))
		}
	})
}

func BenchmarkClientHello(b *testing.B) {
	h := ClientHello{Version: VersionTLS12, Suites: SuitesFor(VersionTLS12), ServerName: "mail.example.com"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClientHello13(b *testing.B) {
	h := ClientHello{Version: VersionTLS13, Suites: SuitesFor(VersionTLS13), ServerName: "mail.example.com", KeyShares: []uint16{groupX25519, groupSecp256r1}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseFlight(b *testing.B) {
	p := getPKI(b)
	rs := &rawServer{versions: []uint16{VersionTLS12}, suites: []uint16{0xC02F}, groups: []uint16{29}, certs: p.rsa.Certificate}
	flight := rs.answer(&parsedHello{legacyVersion: VersionTLS12, suites: []uint16{0xC02F}, groups: []uint16{29}})
	b.SetBytes(int64(len(flight)))
	b.ReportAllocs()
	for b.Loop() {
		if f, err := ParseFlight(flight); err != nil || f.KeyExchange == nil {
			b.Fatal(err)
		}
	}
}
