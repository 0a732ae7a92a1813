package tlsprobe

import (
	"crypto/tls"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

func TestSuiteTable(t *testing.T) {
	names, ossl := map[string]uint16{}, map[string]uint16{}
	for _, s := range Suites() {
		if prev, dup := names[s.Name]; dup {
			t.Errorf("IANA name %s used by 0x%04X and 0x%04X", s.Name, prev, s.ID)
		}
		names[s.Name] = s.ID
		if s.OpenSSL != "" {
			if prev, dup := ossl[s.OpenSSL]; dup {
				t.Errorf("OpenSSL name %s used by 0x%04X and 0x%04X", s.OpenSSL, prev, s.ID)
			}
			ossl[s.OpenSSL] = s.ID
		}
		if s.Kx == "" || s.Auth == "" || s.Enc == "" || s.Mac == "" {
			t.Errorf("0x%04X %s: incomplete %+v", s.ID, s.Name, s)
		}
		if s.MinVersion > s.MaxVersion {
			t.Errorf("0x%04X: min version above max", s.ID)
		}
	}
	if len(names) < 340 {
		t.Errorf("only %d suites in the table", len(names))
	}
	for id, want := range map[uint16]Flag{
		0xC02F: FlagAEAD | FlagFS, 0x000A: FlagBlock64 | FlagCBC, 0x0003: FlagExport | FlagRC4, 0x0034: FlagAnon | FlagCBC,
		0x1301: FlagTLS13 | FlagAEAD | FlagFS, 0x0002: FlagNull, 0xC013: FlagFS | FlagCBC, 0x0014: FlagExport | FlagBlock64,
		0x0062: FlagExport | FlagUnofficial, 0xCCA8: FlagAEAD | FlagFS, 0x008C: FlagSpecial, 0xC0B4: FlagNull | FlagTLS13,
	} {
		s, ok := LookupSuite(id)
		if !ok || !s.Has(want) {
			t.Errorf("0x%04X %s: flags %v, want at least %v", id, s.Name, s.Flags.Names(), want.Names())
		}
	}
	for id, bad := range map[uint16]Flag{0xC02F: FlagCBC | FlagExport, 0x002F: FlagFS, 0x0034: FlagFS, 0x0005: FlagExport, 0x0009: FlagExport} {
		if s, _ := LookupSuite(id); s.Flags&bad != 0 {
			t.Errorf("0x%04X %s: unexpected flags %v", id, s.Name, (s.Flags & bad).Names())
		}
	}
	for id, want := range map[uint16][2]uint16{
		0x0005: {VersionSSL30, VersionTLS12}, 0xC013: {VersionTLS10, VersionTLS12}, 0x009C: {VersionTLS12, VersionTLS12},
		0x1303: {VersionTLS13, VersionTLS13}, 0x00AE: {VersionTLS10, VersionTLS12}, 0xC105: {VersionTLS13, VersionTLS13},
	} {
		if s, _ := LookupSuite(id); s.MinVersion != want[0] || s.MaxVersion != want[1] {
			t.Errorf("0x%04X %s: versions %s-%s", id, s.Name, VersionName(s.MinVersion), VersionName(s.MaxVersion))
		}
	}
	if s, _ := LookupSuite(0x000A); s.Bits != 112 || s.Display() != "DES-CBC3-SHA (TLS_RSA_WITH_3DES_EDE_CBC_SHA, 0x000A)" {
		t.Errorf("3DES: %d bits, %s", s.Bits, s.Display())
	}
	if s, ok := LookupSuite(0xFEFE); ok || !strings.Contains(s.Name, "0xFEFE") {
		t.Errorf("unknown code: %+v", s)
	}
	if n := len(SuitesFor(VersionTLS13)); n != 13 {
		t.Errorf("%d TLS 1.3 suites offered, want 13", n)
	}
	for _, v := range AllVersions {
		for _, id := range SuitesFor(v) {
			if id == 0 || id == scsvFallback {
				t.Errorf("%s offers 0x%04X", VersionName(v), id)
			}
		}
	}
}

// Go names suites by their IANA names: the table must agree for every
// suite crypto/tls knows.
func TestSuiteTable_matchesGo(t *testing.T) {
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		s, ok := LookupSuite(cs.ID)
		if !ok || s.Name != cs.Name {
			t.Errorf("0x%04X: table %q, Go %q", cs.ID, s.Name, cs.Name)
		}
	}
}

// Every suite the local OpenSSL knows has the same code, IANA name and
// OpenSSL name in the table.
func TestSuiteTable_matchesOpenSSL(t *testing.T) {
	out, err := exec.Command("openssl", "ciphers", "-V", "-stdname", "ALL:COMPLEMENTOFALL:@SECLEVEL=0").Output()
	if err != nil {
		skipOrFail(t, "openssl not available: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || !strings.HasPrefix(f[0], "0x") {
			continue
		}
		hi, _ := strconv.ParseUint(f[0][2:4], 16, 8)
		lo, _ := strconv.ParseUint(f[0][7:9], 16, 8)
		id := uint16(hi)<<8 | uint16(lo)
		s, ok := LookupSuite(id)
		if !ok || s.Name != f[2] || s.OpenSSL != f[4] {
			t.Errorf("0x%04X: table %s/%s, openssl %s/%s", id, s.Name, s.OpenSSL, f[2], f[4])
		}
		n++
	}
	if n < 100 {
		t.Errorf("only %d suites from openssl", n)
	}
}

func TestGroups(t *testing.T) {
	for id, weak := range map[uint16]bool{19: true, 1: true, 21: false, 23: false, 29: false, 256: false, 0x11EC: false} {
		g, ok := LookupGroup(id)
		if !ok || g.weak() != weak {
			t.Errorf("group %d %s: weak=%v", id, g.Name, g.weak())
		}
	}
	for _, id := range groupsFor(VersionTLS13) {
		if g, _ := LookupGroup(id); !g.TLS13 {
			t.Errorf("%s offered for TLS 1.3", g.Name)
		}
	}
	for _, id := range ecGroupsFor(VersionTLS12) {
		if g, _ := LookupGroup(id); g.Kind != "ec" {
			t.Errorf("%s offered as an ECDHE curve", g.Name)
		}
	}
}

func TestPortsRolesProtocols(t *testing.T) {
	for port, want := range map[int]Proto{25: ProtoSMTP, 587: ProtoSMTP, 2525: ProtoSMTP, 143: ProtoIMAP, 110: ProtoPOP3, 465: ProtoNone, 993: ProtoNone, 995: ProtoNone} {
		if p, ok := protoForPort(port); !ok || p != want {
			t.Errorf("port %d: %s", port, p)
		}
	}
	if _, ok := protoForPort(8025); ok {
		t.Errorf("8025 is not a known port")
	}
	for _, c := range []struct {
		port  int
		proto Proto
		want  Role
	}{{25, ProtoSMTP, RoleMX}, {587, ProtoSMTP, RoleSubmission}, {465, ProtoNone, RoleSubmission}, {993, ProtoNone, RoleIMAP},
		{995, ProtoNone, RolePOP3}, {143, ProtoIMAP, RoleIMAP}, {10143, ProtoIMAP, RoleIMAP}, {8025, ProtoSMTP, RoleSubmission}} {
		if got := roleFor(c.port, c.proto); got != c.want {
			t.Errorf("port %d %s: role %s, want %s", c.port, c.proto, got, c.want)
		}
	}
	for in, want := range map[string]Proto{"": ProtoAuto, "AUTO": ProtoAuto, "smtp": ProtoSMTP, "none": ProtoNone, "implicit": ProtoNone} {
		if p, err := ParseProto(in); err != nil || p != want {
			t.Errorf("ParseProto(%q) = %s, %v", in, p, err)
		}
	}
	if _, err := ParseProto("ftp"); err == nil {
		t.Errorf("ftp accepted")
	}
	if _, err := ParseRole("web"); err == nil {
		t.Errorf("role web accepted")
	}
}
