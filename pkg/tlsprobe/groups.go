package tlsprobe

import "fmt"

// Group is a key exchange group from the IANA "TLS Supported Groups"
// registry (RFC 8422 §5.1.1 for the elliptic curves, RFC 7919 for the
// finite-field groups, RFC 8446 §4.2.7 for their use in TLS 1.3,
// draft-ietf-tls-ecdhe-mlkem for the hybrid post-quantum groups).
type Group struct {
	ID   uint16
	Name string
	// Bits is the size that decides strength: the curve's field size,
	// or the finite-field modulus size.
	Bits int
	Kind string // "ec", "ffdhe", "pq" (hybrid or pure ML-KEM)
	// TLS13 is true for groups defined for TLS 1.3 key shares; the
	// binary and small prime curves are TLS 1.2-only (RFC 8446 §4.2.7).
	TLS13 bool
}

var groupTable = []Group{
	{1, "sect163k1", 163, "ec", false}, {2, "sect163r1", 163, "ec", false}, {3, "sect163r2", 163, "ec", false},
	{4, "sect193r1", 193, "ec", false}, {5, "sect193r2", 193, "ec", false}, {6, "sect233k1", 233, "ec", false},
	{7, "sect233r1", 233, "ec", false}, {8, "sect239k1", 239, "ec", false}, {9, "sect283k1", 283, "ec", false},
	{10, "sect283r1", 283, "ec", false}, {11, "sect409k1", 409, "ec", false}, {12, "sect409r1", 409, "ec", false},
	{13, "sect571k1", 571, "ec", false}, {14, "sect571r1", 571, "ec", false}, {15, "secp160k1", 160, "ec", false},
	{16, "secp160r1", 160, "ec", false}, {17, "secp160r2", 160, "ec", false}, {18, "secp192k1", 192, "ec", false},
	{19, "secp192r1", 192, "ec", false}, {20, "secp224k1", 224, "ec", false}, {21, "secp224r1", 224, "ec", false},
	{22, "secp256k1", 256, "ec", false}, {23, "secp256r1", 256, "ec", true}, {24, "secp384r1", 384, "ec", true},
	{25, "secp521r1", 521, "ec", true}, {26, "brainpoolP256r1", 256, "ec", false}, {27, "brainpoolP384r1", 384, "ec", false},
	{28, "brainpoolP512r1", 512, "ec", false}, {29, "x25519", 255, "ec", true}, {30, "x448", 448, "ec", true},
	{31, "brainpoolP256r1tls13", 256, "ec", true}, {32, "brainpoolP384r1tls13", 384, "ec", true},
	{33, "brainpoolP512r1tls13", 512, "ec", true},
	{256, "ffdhe2048", 2048, "ffdhe", true}, {257, "ffdhe3072", 3072, "ffdhe", true}, {258, "ffdhe4096", 4096, "ffdhe", true},
	{259, "ffdhe6144", 6144, "ffdhe", true}, {260, "ffdhe8192", 8192, "ffdhe", true},
	{0x0200, "MLKEM512", 512, "pq", true}, {0x0201, "MLKEM768", 768, "pq", true}, {0x0202, "MLKEM1024", 1024, "pq", true},
	{0x11EB, "SecP256r1MLKEM768", 256, "pq", true}, {0x11EC, "X25519MLKEM768", 255, "pq", true},
	{0x11ED, "SecP384r1MLKEM1024", 384, "pq", true}, {0x6399, "X25519Kyber768Draft00", 255, "pq", true},
}

var groupsByID = func() map[uint16]Group {
	m := make(map[uint16]Group, len(groupTable))
	for _, g := range groupTable {
		m[g.ID] = g
	}
	return m
}()

// LookupGroup returns the group with IANA code id.
func LookupGroup(id uint16) (Group, bool) {
	g, ok := groupsByID[id]
	if !ok {
		return Group{ID: id, Name: fmt.Sprintf("group 0x%04X", id)}, false
	}
	return g, true
}

// weak reports groups below 112-bit security: elliptic curves under 224
// bits and finite fields under 2048 (NIST SP 800-57 Part 1, Table 2).
func (g Group) weak() bool {
	switch g.Kind {
	case "ec":
		return g.Bits < 224
	case "ffdhe":
		return g.Bits < 2048
	}
	return false
}

// groupsFor returns the groups offered in supported_groups for version
// v: every elliptic curve for TLS 1.0-1.2 (a server that still uses a
// 163-bit binary curve must be found) plus the RFC 7919 groups for DHE;
// for TLS 1.3 only the groups TLS 1.3 defines.
func groupsFor(v uint16) []uint16 {
	var out []uint16
	for _, g := range groupTable {
		switch {
		case v >= VersionTLS13 && g.TLS13:
			out = append(out, g.ID)
		case v < VersionTLS13 && (g.Kind == "ec" && g.ID <= 30 || g.Kind == "ffdhe"):
			out = append(out, g.ID)
		}
	}
	return out
}

// ecGroupsFor is groupsFor without the finite-field groups: what ECDHE
// group enumeration offers.
func ecGroupsFor(v uint16) []uint16 {
	var out []uint16
	for _, id := range groupsFor(v) {
		if g := groupsByID[id]; g.Kind != "ffdhe" {
			out = append(out, id)
		}
	}
	return out
}

// Well-known group codes used directly.
const (
	groupX25519    uint16 = 29
	groupSecp256r1 uint16 = 23
	groupSecp384r1 uint16 = 24
)

// defaultSigAlgs is the signature_algorithms list (RFC 8446 §4.2.3, RFC
// 5246 §7.4.1.4.1): modern schemes first, then the SHA-1, SHA-224 and DSA
// ones old servers may insist on. Offering a weak algorithm is harmless:
// the scanner never verifies a signature with it.
var defaultSigAlgs = []uint16{
	0x0403, 0x0503, 0x0603, // ecdsa_secp256r1_sha256, secp384r1_sha384, secp521r1_sha512
	0x0807, 0x0808, // ed25519, ed448
	0x0804, 0x0805, 0x0806, // rsa_pss_rsae_sha256/384/512
	0x0809, 0x080a, 0x080b, // rsa_pss_pss_sha256/384/512
	0x081a, 0x081b, 0x081c, // ecdsa_brainpoolP256r1tls13_sha256 ... (RFC 8734)
	0x0401, 0x0501, 0x0601, // rsa_pkcs1_sha256/384/512
	0x0303, 0x0301, 0x0302, // ecdsa/rsa/dsa with SHA-224
	0x0203, 0x0201, 0x0202, // ecdsa_sha1, rsa_pkcs1_sha1, dsa_sha1
	0x0402, 0x0502, 0x0602, // dsa with SHA-2
}
