package tlsprobe

// A scripted raw-TLS responder: it reads a ClientHello, negotiates a
// version, a suite and a group the way a real server does (RFC 5246
// §7.4.1.3, RFC 8446 §4.1.1), and answers with a ServerHello,
// Certificate, ServerKeyExchange and ServerHelloDone, or an alert. It
// cannot finish a handshake, and need not: it exists to test enumeration
// of suites Go's crypto/tls does not implement (RC4, export, NULL,
// anonymous, SSL 3.0, DHE with a chosen prime size), with a preference
// order chosen by the test.

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// parsedHello is a ClientHello as a server sees it.
type parsedHello struct {
	recordVersion uint16
	legacyVersion uint16
	random        []byte
	sessionID     []byte
	suites        []uint16
	compression   []byte
	exts          []uint16
	serverName    string
	groups        []uint16
	pointFormats  []byte
	keyShares     []uint16
	versions      []uint16 // supported_versions
	sigAlgs       []uint16
	reneg         bool
	hasExtensions bool
	paddingLen    int
	msgLen        int // handshake message length including its 4-byte header
}

// readClientHello reads records until one complete ClientHello message.
func readClientHello(r io.Reader) (*parsedHello, error) {
	var hs []byte
	var recVer uint16
	hdr := make([]byte, 5)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return nil, err
		}
		if hdr[0] != recordHandshake {
			return nil, fmt.Errorf("record type %d, want handshake", hdr[0])
		}
		if recVer == 0 {
			recVer = uint16(hdr[1])<<8 | uint16(hdr[2])
		}
		body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, err
		}
		hs = append(hs, body...)
		if len(hs) >= 4 {
			n := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
			if len(hs) >= 4+n {
				ch, err := parseClientHelloMsg(hs[:4+n])
				if ch != nil {
					ch.recordVersion = recVer
				}
				return ch, err
			}
		}
	}
}

// parseClientHelloMsg parses a handshake message holding a ClientHello
// (RFC 8446 §4.1.2) strictly: any length that does not add up fails.
func parseClientHelloMsg(msg []byte) (*parsedHello, error) {
	s := cryptobyte.String(msg)
	var typ uint8
	var body cryptobyte.String
	if !s.ReadUint8(&typ) || typ != hsClientHello || !s.ReadUint24LengthPrefixed(&body) || !s.Empty() {
		return nil, errors.New("not a ClientHello message")
	}
	ch := &parsedHello{msgLen: len(msg)}
	var sid, suites, comp cryptobyte.String
	if !body.ReadUint16(&ch.legacyVersion) || !body.ReadBytes(&ch.random, 32) ||
		!body.ReadUint8LengthPrefixed(&sid) || !body.ReadUint16LengthPrefixed(&suites) ||
		!body.ReadUint8LengthPrefixed(&comp) {
		return nil, errors.New("ClientHello truncated")
	}
	ch.sessionID, ch.compression = sid, comp
	if len(suites)%2 != 0 {
		return nil, errors.New("odd cipher suite list")
	}
	for !suites.Empty() {
		var id uint16
		suites.ReadUint16(&id)
		ch.suites = append(ch.suites, id)
	}
	if body.Empty() {
		return ch, nil
	}
	ch.hasExtensions = true
	var exts cryptobyte.String
	if !body.ReadUint16LengthPrefixed(&exts) || !body.Empty() {
		return nil, errors.New("extensions malformed")
	}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return nil, errors.New("extension truncated")
		}
		if slices.Contains(ch.exts, typ) {
			return nil, fmt.Errorf("extension %d repeated", typ)
		}
		ch.exts = append(ch.exts, typ)
		ok := true
		switch typ {
		case extServerName:
			var list, name cryptobyte.String
			var nt uint8
			ok = data.ReadUint16LengthPrefixed(&list) && list.ReadUint8(&nt) && list.ReadUint16LengthPrefixed(&name) && list.Empty() && data.Empty()
			ch.serverName = string(name)
		case extSupportedGroups:
			ch.groups, ok = readU16List(&data)
		case extSignatureAlgorithms:
			ch.sigAlgs, ok = readU16List(&data)
		case extECPointFormats:
			var pf cryptobyte.String
			ok = data.ReadUint8LengthPrefixed(&pf) && data.Empty()
			ch.pointFormats = pf
		case extSupportedVersions:
			var l cryptobyte.String
			ok = data.ReadUint8LengthPrefixed(&l) && data.Empty()
			for ok && !l.Empty() {
				var v uint16
				ok = l.ReadUint16(&v)
				ch.versions = append(ch.versions, v)
			}
		case extKeyShare:
			var l cryptobyte.String
			ok = data.ReadUint16LengthPrefixed(&l) && data.Empty()
			for ok && !l.Empty() {
				var g uint16
				var k cryptobyte.String
				ok = l.ReadUint16(&g) && l.ReadUint16LengthPrefixed(&k) && len(k) > 0
				ch.keyShares = append(ch.keyShares, g)
			}
		case extRenegotiationInfo:
			var rc cryptobyte.String
			ok = data.ReadUint8LengthPrefixed(&rc) && data.Empty()
			ch.reneg = true
		case extPadding:
			ch.paddingLen = len(data)
		}
		if !ok {
			return nil, fmt.Errorf("extension %d malformed", typ)
		}
	}
	return ch, nil
}

func readU16List(data *cryptobyte.String) ([]uint16, bool) {
	var l cryptobyte.String
	if !data.ReadUint16LengthPrefixed(&l) || !data.Empty() || len(l)%2 != 0 {
		return nil, false
	}
	var out []uint16
	for !l.Empty() {
		var v uint16
		l.ReadUint16(&v)
		out = append(out, v)
	}
	return out, true
}

// rawServer is the scripted responder's configuration.
type rawServer struct {
	versions   []uint16      // supported versions
	suites     []uint16      // accepted suites, in the server's preference order
	serverPref bool          // choose by the server's order (else the client's)
	groups     []uint16      // curves / TLS 1.3 groups, in preference order
	dhBits     int           // DHE prime size (default 2048)
	exportRSA  int           // temporary RSA key size for export suites (default 512)
	certs      [][]byte      // DER chain sent in Certificate
	noReneg    bool          // do not echo renegotiation_info (pre-RFC 5746 server)
	delay      time.Duration // think before answering (a slow server)
	// hook, when set, replaces the answer (hostile behaviours).
	hook func(c net.Conn, ch *parsedHello) bool
}

// answer negotiates like a server would and returns the records to send.
func (rs *rawServer) answer(ch *parsedHello) []byte {
	// Version: supported_versions when present (RFC 8446 §4.2.1), else
	// everything up to legacy_version (RFC 5246 Appendix E.1).
	var offered []uint16
	if len(ch.versions) > 0 {
		offered = ch.versions
	} else {
		for _, v := range AllVersions {
			if v <= ch.legacyVersion && v < VersionTLS13 {
				offered = append(offered, v)
			}
		}
	}
	var v uint16
	for _, sv := range rs.versions {
		if slices.Contains(offered, sv) && sv > v {
			v = sv
		}
	}
	recVer := min(max(v, VersionTLS10), VersionTLS12)
	if v == VersionSSL30 {
		recVer = VersionSSL30
	}
	alert := func(desc uint8) []byte {
		rv := recVer
		if v == 0 {
			rv = VersionTLS10
		}
		return appendRecords(nil, recordAlert, rv, []byte{2, desc})
	}
	if v == 0 {
		return alert(70) // protocol_version
	}
	commonGroups := func() []uint16 {
		var out []uint16
		for _, g := range rs.groups {
			if slices.Contains(ch.groups, g) {
				out = append(out, g)
			}
		}
		return out
	}
	usable := func(id uint16) bool {
		s, ok := LookupSuite(id)
		if !ok || v < s.MinVersion || v > s.MaxVersion {
			return false
		}
		if s.isECDHE() && v < VersionTLS13 && len(commonGroups()) == 0 {
			return false
		}
		return true
	}
	var suite uint16
	if rs.serverPref {
		for _, id := range rs.suites {
			if slices.Contains(ch.suites, id) && usable(id) {
				suite = id
				break
			}
		}
	} else {
		for _, id := range ch.suites {
			if slices.Contains(rs.suites, id) && usable(id) {
				suite = id
				break
			}
		}
	}
	if suite == 0 {
		return alert(40) // handshake_failure
	}
	st := suiteOf(suite)

	sh := cryptobyte.NewBuilder(nil)
	random := make([]byte, 32)
	rand.Read(random)
	var exts []func(*cryptobyte.Builder)
	ext := func(typ uint16, f func(*cryptobyte.Builder)) {
		exts = append(exts, func(b *cryptobyte.Builder) { b.AddUint16(typ); b.AddUint16LengthPrefixed(f) })
	}
	legacy := v
	var sid []byte
	if v >= VersionTLS13 {
		legacy, sid = VersionTLS12, ch.sessionID
		common := commonGroups()
		if len(common) == 0 {
			return alert(40)
		}
		var share uint16
		for _, g := range common {
			if slices.Contains(ch.keyShares, g) {
				share = g
				break
			}
		}
		ext(extSupportedVersions, func(b *cryptobyte.Builder) { b.AddUint16(VersionTLS13) })
		if share == 0 {
			copy(random, helloRetryRandom[:])
			ext(extKeyShare, func(b *cryptobyte.Builder) { b.AddUint16(common[0]) })
		} else {
			ext(extKeyShare, func(b *cryptobyte.Builder) {
				b.AddUint16(share)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, 32)) })
			})
		}
	} else if !rs.noReneg && (ch.reneg || slices.Contains(ch.suites, scsvRenegotiation)) {
		ext(extRenegotiationInfo, func(b *cryptobyte.Builder) { b.AddUint8(0) })
	}
	sh.AddUint8(hsServerHello)
	sh.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint16(legacy)
		b.AddBytes(random)
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(sid) })
		b.AddUint16(suite)
		b.AddUint8(0)
		if len(exts) > 0 {
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
				for _, e := range exts {
					e(b)
				}
			})
		}
	})
	flight := sh.BytesOrPanic()
	if v >= VersionTLS13 {
		return appendRecords(nil, recordHandshake, recVer, flight)
	}
	if st.Auth != "anon" && st.Kx != "NULL" && len(rs.certs) > 0 {
		b := cryptobyte.NewBuilder(nil)
		b.AddUint8(hsCertificate)
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
			b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
				for _, c := range rs.certs {
					b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(c) })
				}
			})
		})
		flight = append(flight, b.BytesOrPanic()...)
	}
	if st.ephemeral() {
		b := cryptobyte.NewBuilder(nil)
		b.AddUint8(hsServerKeyExchange)
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
			if st.Kx == "DHE_PSK" || st.Kx == "ECDHE_PSK" {
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {})
			}
			switch {
			case st.isDHE():
				bits := rs.dhBits
				if bits == 0 {
					bits = 2048
				}
				p := make([]byte, bits/8)
				rand.Read(p)
				p[0] |= 0x80
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(p) })
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(2) })
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(p[1:]) })
			case st.isECDHE():
				b.AddUint8(3)
				b.AddUint16(commonGroups()[0])
				b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, 65)) })
			default: // export RSA
				bits := rs.exportRSA
				if bits == 0 {
					bits = 512
				}
				m := make([]byte, bits/8)
				m[0] = 0x80
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(m) })
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte{1, 0, 1}) })
			}
			if st.Auth != "anon" {
				b.AddUint16(0x0401)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, 256)) })
			}
		})
		flight = append(flight, b.BytesOrPanic()...)
	}
	flight = append(flight, hsServerHelloDone, 0, 0, 0)
	return appendRecords(nil, recordHandshake, recVer, flight)
}

// serve answers one connection whose next bytes are a ClientHello.
func (rs *rawServer) serve(c net.Conn, br *bufio.Reader) {
	ch, err := readClientHello(br)
	if err != nil {
		return
	}
	if rs.hook != nil && rs.hook(c, ch) {
		return
	}
	time.Sleep(rs.delay)
	c.Write(rs.answer(ch))
	// Wait for the client's next flight (a ClientKeyExchange) or its
	// hang-up, then give up like a server that cannot go on: the
	// responder never finishes a handshake.
	hdr := make([]byte, 5)
	io.ReadFull(br, hdr)
}

// listener is a loopback server that runs handle for each connection
// and counts connections, including the most at once.
type listener struct {
	ln      net.Listener
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   map[net.Conn]bool
	total   int
	active  int
	maxSeen int
}

func startListener(t testing.TB, handle func(c net.Conn)) *listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{ln: ln, conns: map[net.Conn]bool{}}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.mu.Lock()
			l.conns[c] = true
			l.total++
			l.active++
			l.maxSeen = max(l.maxSeen, l.active)
			l.mu.Unlock()
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				defer func() {
					c.Close()
					l.mu.Lock()
					delete(l.conns, c)
					l.active--
					l.mu.Unlock()
				}()
				handle(c)
			}()
		}
	}()
	t.Cleanup(l.close)
	return l
}

func (l *listener) close() {
	l.ln.Close()
	l.mu.Lock()
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

func (l *listener) port() int { return l.ln.Addr().(*net.TCPAddr).Port }

func (l *listener) stats() (total, maxActive int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.maxSeen
}
