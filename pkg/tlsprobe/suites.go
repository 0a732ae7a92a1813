package tlsprobe

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Protocol versions as they appear on the wire (RFC 8446 §4.1.2 and its
// predecessors). SSL 3.0 is RFC 6101; TLS 1.0 RFC 2246; 1.1 RFC 4346;
// 1.2 RFC 5246; 1.3 RFC 8446.
const (
	VersionSSL30 uint16 = 0x0300
	VersionTLS10 uint16 = 0x0301
	VersionTLS11 uint16 = 0x0302
	VersionTLS12 uint16 = 0x0303
	VersionTLS13 uint16 = 0x0304
)

// AllVersions is every version the scanner probes, oldest first.
var AllVersions = []uint16{VersionSSL30, VersionTLS10, VersionTLS11, VersionTLS12, VersionTLS13}

// VersionName is "SSL 3.0", "TLS 1.0" ... "TLS 1.3", or the hex code: the
// one naming of protocol versions in every output (text, JSON facts,
// finding titles), as the RFCs write them.
func VersionName(v uint16) string {
	switch v {
	case VersionSSL30:
		return "SSL 3.0"
	case VersionTLS10:
		return "TLS 1.0"
	case VersionTLS11:
		return "TLS 1.1"
	case VersionTLS12:
		return "TLS 1.2"
	case VersionTLS13:
		return "TLS 1.3"
	}
	return fmt.Sprintf("0x%04X", v)
}

// versionKey is the stable snake_case key of a version in JSON facts.
func versionKey(v uint16) string {
	switch v {
	case VersionSSL30:
		return "ssl3"
	case VersionTLS10:
		return "tls1_0"
	case VersionTLS11:
		return "tls1_1"
	case VersionTLS12:
		return "tls1_2"
	case VersionTLS13:
		return "tls1_3"
	}
	return fmt.Sprintf("v%04x", v)
}

// Signalling cipher suite values: never negotiated, only offered.
const (
	scsvRenegotiation uint16 = 0x00FF // RFC 5746 §3.3
	scsvFallback      uint16 = 0x5600 // RFC 7507; never sent by the scanner (it would fail lower versions on purpose)
)

// Flag is a property of a cipher suite that grading cares about.
type Flag uint32

const (
	FlagExport     Flag = 1 << iota // export-grade (40/56-bit keys or 512-bit RSA/DH): FREAK, Logjam
	FlagNull                        // no encryption at all
	FlagAnon                        // no server authentication: a MITM can read everything
	FlagRC4                         // RC4 stream cipher, RFC 7465 forbids it
	FlagBlock64                     // 64-bit block cipher (3DES, DES, IDEA, RC2, GOST 28147): SWEET32
	FlagCBC                         // CBC mode with MAC-then-encrypt (Lucky13, POODLE-TLS class)
	FlagAEAD                        // GCM, CCM, ChaCha20-Poly1305
	FlagFS                          // forward secrecy: ephemeral, authenticated key exchange
	FlagTLS13                       // a TLS 1.3 suite (RFC 8446 §B.4)
	FlagSpecial                     // needs a pre-shared key, SRP, Kerberos or GOST setup
	FlagUnofficial                  // a pre-standard code point IANA never assigned
)

var flagNames = []struct {
	f    Flag
	name string
}{
	{FlagExport, "export"}, {FlagNull, "null"}, {FlagAnon, "anon"}, {FlagRC4, "rc4"},
	{FlagBlock64, "64bit-block"}, {FlagCBC, "cbc"}, {FlagAEAD, "aead"}, {FlagFS, "fs"},
	{FlagTLS13, "tls13"}, {FlagSpecial, "special"}, {FlagUnofficial, "unofficial"},
}

// Names lists the flags set, in a fixed order.
func (f Flag) Names() []string {
	var out []string
	for _, n := range flagNames {
		if f&n.f != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// Suite describes one cipher suite.
type Suite struct {
	ID      uint16
	Name    string // IANA name, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
	OpenSSL string // OpenSSL name, e.g. ECDHE-RSA-AES128-GCM-SHA256; "" if none
	Kx      string // RSA, DH, DHE, ECDH, ECDHE, PSK, DHE_PSK, RSA_PSK, ECDHE_PSK, SRP, KRB5, ECCPWD, GOST, any (TLS 1.3), NULL
	Auth    string // RSA, DSS, ECDSA, anon, PSK, KRB5, SRP, PWD, GOST, any, NULL
	Enc     string // AES_128_GCM, 3DES_EDE_CBC, RC4_128, CHACHA20_POLY1305, NULL ...
	Bits    int    // symmetric key bits (0 for NULL; 112 for 3DES's effective strength)
	Mac     string // MD5, SHA, SHA256, SHA384, SM3, GOST or AEAD
	Flags   Flag
	// MinVersion and MaxVersion bound the versions the suite is defined for.
	MinVersion, MaxVersion uint16
}

// Has reports whether all of fl are set.
func (s Suite) Has(fl Flag) bool { return s.Flags&fl == fl }

// Display is "OpenSSL-NAME (IANA_NAME, 0xNNNN)": what a sysadmin writes in a
// config first, what the RFCs say second.
func (s Suite) Display() string {
	if s.OpenSSL == "" {
		return fmt.Sprintf("%s (0x%04X)", s.Name, s.ID)
	}
	return fmt.Sprintf("%s (%s, 0x%04X)", s.OpenSSL, s.Name, s.ID)
}

// ShortName is the OpenSSL name, or the IANA name when OpenSSL has none.
func (s Suite) ShortName() string {
	if s.OpenSSL != "" {
		return s.OpenSSL
	}
	return s.Name
}

// ephemeral reports key exchanges whose parameters arrive in a
// ServerKeyExchange (RFC 5246 §7.4.3), so a probe reads that far.
func (s Suite) ephemeral() bool {
	switch s.Kx {
	case "DHE", "ECDHE", "DHE_PSK", "ECDHE_PSK":
		return true
	}
	return s.Has(FlagExport) && s.Kx == "RSA" // temporary 512-bit RSA key (RFC 2246 §7.4.3)
}

func (s Suite) isECDHE() bool { return s.Kx == "ECDHE" || s.Kx == "ECDHE_PSK" }
func (s Suite) isDHE() bool   { return s.Kx == "DHE" || s.Kx == "DHE_PSK" }

// The suite table is parsed on first use, not at process start: its 350
// names cost a millisecond that every command paid (issue 16).
var suiteTables = sync.OnceValues(func() (map[uint16]Suite, []Suite) {
	byID := make(map[uint16]Suite, len(suiteTable))
	list := make([]Suite, 0, len(suiteTable)) // ascending code order
	for _, e := range suiteTable {
		s := parseSuiteName(e.id, e.iana)
		s.OpenSSL = e.openssl
		if _, dup := byID[e.id]; dup {
			panic(fmt.Sprintf("tlsprobe: suite 0x%04X listed twice", e.id))
		}
		byID[e.id] = s
		list = append(list, s)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	return byID, list
})

// LookupSuite returns the suite with IANA code id. Unknown codes yield a
// Suite whose Name is "unknown 0xNNNN" and ok=false.
func LookupSuite(id uint16) (Suite, bool) {
	byID, _ := suiteTables()
	s, ok := byID[id]
	if !ok {
		return Suite{ID: id, Name: fmt.Sprintf("unknown 0x%04X", id)}, false
	}
	return s, true
}

// Suites returns every known suite in code order.
func Suites() []Suite {
	_, list := suiteTables()
	return append([]Suite(nil), list...)
}

// SuitesFor lists the codes of the suites defined for version v, in the
// order the scanner offers them: ascending code, which puts old and weak
// suites first. A server that honours the client's order therefore picks
// the weakest it accepts, and one that enforces its own order stands out
// at once (see enumerate).
func SuitesFor(v uint16) []uint16 {
	var out []uint16
	_, list := suiteTables()
	for _, s := range list {
		if s.ID == 0x0000 { // TLS_NULL_WITH_NULL_NULL is the initial state, never negotiable
			continue
		}
		if v >= s.MinVersion && v <= s.MaxVersion {
			out = append(out, s.ID)
		}
	}
	return out
}

// parseSuiteName derives the properties of a suite from its IANA name,
// whose grammar is TLS_{KX}[_{AUTH}][_EXPORT]_WITH_{CIPHER}_{MAC} for TLS
// 1.0-1.2 (RFC 5246 Appendix A.5) and TLS_{AEAD}_{HASH} for TLS 1.3
// (RFC 8446 §B.4).
func parseSuiteName(id uint16, name string) Suite {
	s := Suite{ID: id, Name: name, MinVersion: VersionSSL30, MaxVersion: VersionTLS12}
	n := strings.TrimPrefix(name, "TLS_")
	if strings.HasSuffix(n, "_OLD") {
		s.Flags |= FlagUnofficial
		n = strings.TrimSuffix(n, "_OLD")
	}
	if id >= 0x0060 && id <= 0x0066 {
		s.Flags |= FlagUnofficial // 56-bit export drafts (draft-ietf-tls-56-bit-ciphersuites), never assigned
	}
	kxauth, rest, ok := strings.Cut(n, "_WITH_")
	switch {
	case !ok:
		// TLS 1.3: key exchange and authentication are negotiated by
		// extensions, the suite only names the AEAD and the HKDF hash.
		s.Kx, s.Auth = "any", "any"
		s.Flags |= FlagTLS13 | FlagFS
		s.MinVersion, s.MaxVersion = VersionTLS13, VersionTLS13
		rest = n
	case id >= 0xC103 && id <= 0xC106:
		// The TLS 1.3 GOST suites (RFC 9367) kept a _WITH_ in their names.
		s.Kx, s.Auth = "any", "any"
		s.Flags |= FlagTLS13 | FlagFS | FlagSpecial
		s.MinVersion, s.MaxVersion = VersionTLS13, VersionTLS13
	default:
		s.parseKx(kxauth)
	}
	s.parseCipher(rest)

	// Forward secrecy: an ephemeral key exchange that is also
	// authenticated (anonymous DH is ephemeral, but anyone can be the
	// other end, so calling it forward secret would mislead).
	switch s.Kx {
	case "DHE", "ECDHE", "DHE_PSK", "ECDHE_PSK", "ECCPWD":
		if s.Auth != "anon" && !s.Has(FlagExport) {
			s.Flags |= FlagFS
		}
	}
	// Minimum versions: AEAD modes and SHA-2 MACs arrived with TLS 1.2
	// (RFC 5246, 5288, 5289); the PSK suites with SHA-2 MACs were defined
	// for TLS 1.0 and later (RFC 5487 §3.2); elliptic curves start with
	// TLS 1.0 (RFC 8422, formerly RFC 4492).
	if !s.Has(FlagTLS13) {
		psk := strings.Contains(s.Kx, "PSK")
		switch {
		case s.Has(FlagAEAD), (s.Mac == "SHA256" || s.Mac == "SHA384") && !psk, s.Kx == "GOST" && id >= 0xC100, s.Kx == "ECCPWD":
			s.MinVersion = VersionTLS12
		case s.Mac == "SHA256" || s.Mac == "SHA384", strings.Contains(s.Kx, "ECDH"):
			s.MinVersion = VersionTLS10
		}
	}
	if s.Auth == "anon" || s.Kx == "NULL" {
		s.Flags |= FlagAnon
	}
	if s.Kx == "PSK" || s.Kx == "DHE_PSK" || s.Kx == "RSA_PSK" || s.Kx == "ECDHE_PSK" || s.Kx == "SRP" || s.Kx == "KRB5" || s.Kx == "ECCPWD" || s.Kx == "GOST" {
		s.Flags |= FlagSpecial
	}
	return s
}

func (s *Suite) parseKx(k string) {
	if strings.Contains(k, "_EXPORT") {
		s.Flags |= FlagExport
		k = k[:strings.Index(k, "_EXPORT")]
	}
	switch k {
	case "NULL":
		s.Kx, s.Auth = "NULL", "NULL"
	case "RSA":
		s.Kx, s.Auth = "RSA", "RSA"
	case "DH_DSS", "DH_RSA":
		s.Kx, s.Auth = "DH", k[3:]
	case "DHE_DSS", "DHE_RSA":
		s.Kx, s.Auth = "DHE", k[4:]
	case "DH_anon":
		s.Kx, s.Auth = "DHE", "anon" // anonymous DH is ephemeral: its parameters come in ServerKeyExchange
	case "ECDH_ECDSA", "ECDH_RSA":
		s.Kx, s.Auth = "ECDH", k[5:]
	case "ECDHE_ECDSA", "ECDHE_RSA":
		s.Kx, s.Auth = "ECDHE", k[6:]
	case "ECDH_anon":
		s.Kx, s.Auth = "ECDHE", "anon"
	case "KRB5":
		s.Kx, s.Auth = "KRB5", "KRB5"
	case "PSK":
		s.Kx, s.Auth = "PSK", "PSK"
	case "DHE_PSK", "PSK_DHE": // 0xC0AA/0xC0AB are registered as TLS_PSK_DHE_... (RFC 6655)
		s.Kx, s.Auth = "DHE_PSK", "PSK"
	case "RSA_PSK":
		s.Kx, s.Auth = "RSA_PSK", "RSA"
	case "ECDHE_PSK":
		s.Kx, s.Auth = "ECDHE_PSK", "PSK"
	case "SRP_SHA":
		s.Kx, s.Auth = "SRP", "SRP"
	case "SRP_SHA_RSA", "SRP_SHA_DSS":
		s.Kx, s.Auth = "SRP", k[8:]
	case "ECCPWD":
		s.Kx, s.Auth = "ECCPWD", "PWD"
	default:
		if strings.HasPrefix(k, "GOSTR") {
			s.Kx, s.Auth = "GOST", "GOST"
		} else {
			s.Kx, s.Auth = k, k
		}
	}
}

// parseCipher reads "{CIPHER}_{MAC}" (or a TLS 1.3 "{AEAD}_{HASH}").
func (s *Suite) parseCipher(r string) {
	toks := strings.Split(r, "_")
	last := toks[len(toks)-1]
	aead := strings.Contains(r, "GCM") || strings.Contains(r, "CCM") || strings.Contains(r, "POLY1305") || strings.Contains(r, "MGM")
	switch {
	case r == "SHA256_SHA256" || r == "SHA384_SHA384":
		// RFC 9150 integrity-only TLS 1.3 suites: authenticated, not encrypted.
		s.Enc, s.Mac = "NULL", toks[0]
	case aead:
		s.Mac = "AEAD"
		if last == "SHA256" || last == "SHA384" || last == "SM3" {
			toks = toks[:len(toks)-1]
		}
		s.Enc = strings.Join(toks, "_")
		s.Flags |= FlagAEAD
	case s.Kx == "GOST" || strings.HasPrefix(r, "28147") || strings.Contains(r, "GOSTR3411"):
		s.Mac = "GOST"
		s.Enc = strings.TrimSuffix(strings.TrimSuffix(r, "_IMIT"), "_GOSTR3411")
		if strings.HasSuffix(r, "_OMAC") {
			s.Enc = strings.TrimSuffix(r, "_OMAC")
		}
	default:
		switch last {
		case "SHA", "SHA256", "SHA384", "MD5", "SM3", "NULL":
			s.Mac = last
			toks = toks[:len(toks)-1]
		}
		s.Enc = strings.Join(toks, "_")
	}
	e := s.Enc
	switch {
	case e == "NULL" || strings.HasPrefix(e, "NULL"):
		s.Enc, s.Bits = "NULL", 0
		s.Flags |= FlagNull
	case strings.HasPrefix(e, "RC4"):
		s.Flags |= FlagRC4
	case strings.HasPrefix(e, "3DES"):
		s.Bits = 112 // three-key 3DES gives 112 bits against meet-in-the-middle
		s.Flags |= FlagBlock64
	case strings.HasPrefix(e, "DES"), strings.HasPrefix(e, "IDEA"), strings.HasPrefix(e, "RC2"),
		strings.HasPrefix(e, "28147"), strings.HasPrefix(e, "MAGMA"):
		s.Flags |= FlagBlock64
	}
	if strings.Contains(e, "CBC") {
		s.Flags |= FlagCBC
	}
	if s.Bits == 0 && s.Enc != "NULL" {
		s.Bits = cipherBits(e)
	}
	if s.Bits > 0 && s.Bits <= 56 && (strings.Contains(e, "40") || strings.Contains(e, "56")) {
		s.Flags |= FlagExport
	}
}

// cipherBits finds the key size in a cipher name: AES_128_GCM → 128,
// DES40_CBC → 40, RC2_CBC_40 → 40; names without a number use the
// algorithm's fixed size.
func cipherBits(e string) int {
	for _, t := range strings.Split(e, "_") {
		t = strings.TrimPrefix(t, "DES")
		if n, err := strconv.Atoi(t); err == nil && n >= 40 && n <= 512 && n != 28147 {
			return n
		}
	}
	switch {
	case strings.HasPrefix(e, "DES"):
		return 56
	case strings.HasPrefix(e, "IDEA"), strings.HasPrefix(e, "SEED"), strings.HasPrefix(e, "SM4"), strings.HasPrefix(e, "RC2"):
		return 128
	case strings.HasPrefix(e, "CHACHA20"), strings.HasPrefix(e, "28147"), strings.HasPrefix(e, "KUZNYECHIK"), strings.HasPrefix(e, "MAGMA"):
		return 256
	}
	return 0
}
