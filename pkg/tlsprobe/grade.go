package tlsprobe

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// mxReason explains why weaknesses on a port-25 MX are information only.
// testssl.sh and sslscan grade an MX like a web server and call Debian's
// default Postfix critical; refusing old senders there would not protect
// anyone, it would push them to plaintext.
const mxReason = "On a port-25 MX listener TLS is opportunistic (RFC 3207, RFC 7435 §3): a sender that cannot use anything better would otherwise deliver in plaintext, so accepting this is better than refusing it."

// MX fixes: port 25 uses the non-mandatory Postfix settings.
const (
	fixProtocolsMX = "No change is needed for opportunistic TLS. To refuse them anyway: Postfix smtpd_tls_protocols = >=TLSv1.2 (port 25 uses the non-mandatory settings; smtpd_tls_mandatory_protocols applies where TLS is required)."
	fixCiphersMX   = "No change is needed for opportunistic TLS. To restrict anyway: Postfix smtpd_tls_ciphers = medium and smtpd_tls_exclude_ciphers = EXPORT, LOW, RC4, 3DES, MD5, eNULL (keep aNULL: senders that do not verify certificates lose nothing with it)."
)

// suiteSeen is an accepted suite and the versions it was accepted in.
type suiteSeen struct {
	Suite
	versions []uint16
}

func (s suiteSeen) line() string {
	vs := make([]string, len(s.versions))
	for i, v := range s.versions {
		vs[i] = VersionName(v)
	}
	return s.Display() + " — " + strings.Join(vs, ", ")
}

// grade turns the scan into findings, by the port's role.
func (sc *scanner) grade() {
	r := sc.res
	mx := sc.role == RoleMX
	// weak applies the role: strict severity where passwords travel,
	// information with the reason on an MX.
	weak := func(f report.Finding, strict report.Severity, mxFix string) report.Finding {
		if mx {
			f = f.WithSeverity(report.Info)
			f.Detail += " " + mxReason
			if mxFix != "" {
				f = f.WithFix(mxFix)
			}
			return f
		}
		return f.WithSeverity(strict)
	}

	if sc.state == nil {
		sc.handshakeFailed()
	}
	defer sc.gradeProfile(sc.certFacts)
	if r.Quick {
		sc.gradeQuick(weak)
		return
	}

	// Protocols.
	var sup []uint16
	for _, v := range r.Versions {
		if v.Supported {
			sup = append(sup, v.Code)
		}
	}
	has := func(v uint16) bool { return containsU16(sup, v) }
	if s := r.SSLv2; s != nil && s.Supported {
		// A failure on every port, MX too: DROWN turns SSLv2 into a way
		// to decrypt the port's TLS sessions, whatever their version.
		f := report.Newf("tls.protocol.sslv2", "protocols", "The server answered an SSLv2 CLIENT-HELLO with a SERVER-HELLO offering %d cipher kinds.", len(s.Ciphers))
		for _, c := range s.Ciphers {
			f = f.With("cipher", c)
		}
		sc.add(f)
	}
	old := map[uint16]string{VersionSSL30: "tls.protocol.sslv3", VersionTLS10: "tls.protocol.tls10", VersionTLS11: "tls.protocol.tls11"}
	oldSev := map[uint16]report.Severity{VersionSSL30: report.Fail, VersionTLS10: report.Warn, VersionTLS11: report.Warn}
	anyOld := false
	for _, v := range []uint16{VersionSSL30, VersionTLS10, VersionTLS11} {
		if !has(v) {
			continue
		}
		anyOld = true
		vr := r.Version(v)
		f := report.Newf(old[v], "protocols", "The server accepts %s (%d cipher suites).", VersionName(v), len(vr.Suites))
		for _, s := range vr.Suites {
			f = f.With("cipher", suiteOf(s.ID).Display())
		}
		if v == VersionSSL30 && mx {
			// SSL 3.0 stays a failure on an MX: no sender in use needs
			// it (OpenSSL builds have left it out since 1.1.0), and
			// POODLE makes it no better than plaintext.
			f.Detail += " Even on a port-25 MX this is a failure: no current sender needs SSL 3.0, and POODLE (CVE-2014-3566) breaks it."
			sc.add(f.WithFix(fixProtocolsMX))
			continue
		}
		sc.add(weak(f, oldSev[v], fixProtocolsMX))
	}
	switch {
	case len(sup) == 0:
		// Handled by handshakeFailed / the incomplete finding.
	case !has(VersionTLS12) && !has(VersionTLS13):
		f := report.Newf("tls.protocol.no-modern", "protocols", "The newest version the server speaks is %s.", VersionName(sup[len(sup)-1]))
		if mx {
			f = f.WithSeverity(report.Warn)
			f.Detail += " Even on an MX this matters: current senders (OpenSSL 3 at its default security level) refuse it and deliver in plaintext."
		}
		sc.add(f)
	case !anyOld && has(VersionTLS13):
		sc.add(report.Newf("tls.protocol.ok", "protocols", "%s.", strings.Join(r.Supported(), " and ")))
	case !anyOld:
		sc.add(report.Newf("tls.protocol.ok", "protocols", "%s only.", strings.Join(r.Supported(), ", ")))
	}
	if len(sup) > 0 && !has(VersionTLS13) && r.Version(VersionTLS13) != nil && r.Version(VersionTLS13).Note == "" {
		sc.add(report.New("tls.protocol.no-tls13", "protocols", "The server does not speak TLS 1.3."))
	}

	// Cipher suites, across versions.
	seen := map[uint16]*suiteSeen{}
	var order []uint16
	for _, v := range r.Versions {
		for _, s := range v.Suites {
			if seen[s.ID] == nil {
				seen[s.ID] = &suiteSeen{Suite: suiteOf(s.ID)}
				order = append(order, s.ID)
			}
			seen[s.ID].versions = append(seen[s.ID].versions, v.Code)
		}
	}
	all := make([]suiteSeen, 0, len(order))
	for _, id := range order {
		all = append(all, *seen[id])
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	flagged := false
	for _, c := range []struct {
		flag Flag
		code string
		what string
	}{
		{FlagExport, "tls.cipher.export", "export-grade"},
		{FlagNull, "tls.cipher.null", "unencrypted (NULL)"},
		{FlagAnon, "tls.cipher.anon", "anonymous (unauthenticated)"},
		{FlagRC4, "tls.cipher.rc4", "RC4"},
		{FlagBlock64, "tls.cipher.3des", "64-bit block cipher"},
	} {
		var hits []suiteSeen
		for _, s := range all {
			if s.Has(c.flag) {
				hits = append(hits, s)
			}
		}
		if len(hits) == 0 {
			continue
		}
		flagged = true
		f := report.Newf(c.code, "ciphers", "The server accepts %d %s suite%s: %s.", len(hits), c.what, plural(len(hits)), shortNames(hits))
		if c.flag == FlagExport && r.ExportRSABits > 0 {
			f.Detail += fmt.Sprintf(" Its temporary export RSA key has %d bits.", r.ExportRSABits)
		}
		for _, s := range hits {
			f = f.With("cipher", s.line())
		}
		sc.add(weak(f, report.Fail, fixCiphersMX))
	}
	if len(all) > 0 {
		var fs, nonFS, aead []suiteSeen
		for _, s := range all {
			switch {
			case s.Has(FlagFS):
				fs = append(fs, s)
			case !s.Has(FlagAnon) && !s.Has(FlagNull):
				nonFS = append(nonFS, s)
			}
			if s.Has(FlagAEAD) {
				aead = append(aead, s)
			}
		}
		best := sc.bestVersion()
		switch {
		case len(fs) == 0:
			flagged = true
			f := report.Newf("tls.cipher.no-fs", "ciphers", "No accepted suite has forward secrecy (%s): whoever gets the server's private key can decrypt recorded sessions.", shortNames(all))
			sc.add(weak(f, report.Warn, fixCiphersMX))
		case best != nil && best.ServerPreference != nil && *best.ServerPreference && len(best.Suites) > 0 && !suiteOf(best.Suites[0].ID).Has(FlagFS):
			flagged = true
			f := report.Newf("tls.cipher.no-fs", "ciphers", "With %s the server prefers %s, which has no forward secrecy, although it accepts forward-secret suites.", best.Version, suiteOf(best.Suites[0].ID).ShortName())
			sc.add(weak(f, report.Warn, fixCiphersMX).WithFix(fixOrder + " Put ECDHE suites first in the cipher list."))
		case len(nonFS) > 0 && !mx:
			f := report.Newf("tls.cipher.non-fs-accepted", "ciphers", "Besides forward-secret suites the server accepts %d without forward secrecy: %s.", len(nonFS), shortNames(nonFS))
			for _, s := range nonFS {
				f = f.With("cipher", s.line())
			}
			sc.add(f)
		}
		if len(aead) == 0 {
			flagged = true
			f := report.Newf("tls.cipher.cbc-only", "ciphers", "Every accepted suite uses CBC mode with MAC-then-encrypt (%s); no AES-GCM or ChaCha20-Poly1305.", shortNames(all))
			sc.add(weak(f, report.Warn, fixCiphersMX))
		}
		var client []string
		for _, v := range r.Versions {
			// TLS 1.3 has only strong suites; whose order wins there
			// does not matter (and Go's server deliberately follows the
			// client's AES-or-ChaCha hint).
			if v.Code < VersionTLS13 && v.ServerPreference != nil && !*v.ServerPreference {
				client = append(client, v.Version)
			}
		}
		if len(client) > 0 {
			sc.add(report.Newf("tls.cipher.client-order", "ciphers", "With %s the server picks the first suite the client offers that it accepts, so a client with a poor list gets a poor suite.", strings.Join(client, ", ")))
		}
		cbc := false
		for _, s := range all {
			cbc = cbc || s.Has(FlagCBC)
		}
		if !flagged && len(nonFS) == 0 && !cbc {
			sc.add(report.Newf("tls.cipher.ok", "ciphers", "%d suites accepted, all forward-secret AEAD or TLS 1.3: %s.", len(all), shortNames(all)))
		}
	}

	// Key exchange.
	if r.DHBits > 0 && r.DHBits < 2048 {
		sev := report.Warn
		if r.DHBits <= 1024 {
			sev = report.Fail // within reach of a nation-state precomputation (Logjam)
		}
		// Servers size DH per suite (OpenSSL's automatic parameters give
		// anonymous 128-bit suites 1024 bits): say which suites.
		var small []string
		for _, v := range r.Versions {
			for _, s := range v.Suites {
				if s.DHBits > 0 && s.DHBits < 2048 {
					small = append(small, fmt.Sprintf("%s %s (%d bits)", v.Version, suiteOf(s.ID).ShortName(), s.DHBits))
				}
			}
		}
		f := report.Newf("tls.dh.weak", "groups", "The smallest DH prime is %d bits, used with: %s.", r.DHBits, strings.Join(small, ", "))
		sc.add(weak(f, sev, ""))
	}
	var weakGroups []string
	for _, g := range r.ECDHEGroups {
		if gr, _ := LookupGroup(parseCode(g.Code)); gr.weak() {
			weakGroups = append(weakGroups, fmt.Sprintf("%s (%d bits)", g.Name, g.Bits))
		}
	}
	if len(weakGroups) > 0 {
		f := report.Newf("tls.group.weak", "groups", "ECDHE is accepted with %s.", strings.Join(weakGroups, ", "))
		sc.add(weak(f, report.Warn, ""))
	}
	if r.SecureRenegotiation != nil && !*r.SecureRenegotiation {
		f := report.New("tls.renegotiation.insecure", "protocols", "The ServerHello lacks renegotiation_info: the server does not support RFC 5746 secure renegotiation.")
		sc.add(weak(f, report.Warn, ""))
	}
	sc.gradeResumption()
	sc.incomplete()
}

// gradeQuick grades the one handshake of --quick: what a current client
// gets. Older versions and weaker suites the server also accepts are
// unknown, and the findings say only what the handshake proves.
func (sc *scanner) gradeQuick(weak func(report.Finding, report.Severity, string) report.Finding) {
	st := sc.state
	if st == nil {
		return
	}
	if st.Version < VersionTLS12 {
		f := report.Newf("tls.protocol.no-modern", "handshake", "Offered TLS 1.0 to 1.3, the server chose %s.", VersionName(st.Version))
		sc.add(f)
	}
	s := suiteOf(st.CipherSuite)
	for _, c := range []struct {
		flag Flag
		code string
	}{{FlagExport, "tls.cipher.export"}, {FlagNull, "tls.cipher.null"}, {FlagAnon, "tls.cipher.anon"}, {FlagRC4, "tls.cipher.rc4"}, {FlagBlock64, "tls.cipher.3des"}} {
		if s.Has(c.flag) {
			sc.add(weak(report.Newf(c.code, "handshake", "Offered every suite crypto/tls implements, the server chose %s.", s.Display()), report.Fail, fixCiphersMX))
		}
	}
	if !s.Has(FlagFS) {
		sc.add(weak(report.Newf("tls.cipher.no-fs", "handshake", "Offered forward-secret suites first, the server chose %s, which has none.", s.Display()), report.Warn, fixCiphersMX))
	}
}

// handshakeFailed reports a crypto/tls handshake that did not complete,
// explained by what the raw enumeration found.
func (sc *scanner) handshakeFailed() {
	err := sc.handshakeErr
	if err == nil {
		return
	}
	detail := fmt.Sprintf("A TLS 1.0-1.3 handshake offering every suite Go implements failed: %v.", err)
	var accepted []string
	for _, v := range sc.res.Versions {
		for _, s := range v.Suites {
			accepted = append(accepted, v.Version+" "+suiteOf(s.ID).ShortName())
		}
	}
	if len(accepted) > 0 {
		detail += fmt.Sprintf(" The server accepts only: %s.", strings.Join(accepted, ", "))
	} else {
		// No handshake completed at all, raw or crypto/tls: nothing about
		// the server's TLS could be judged (exit 3, as in every
		// protocol). With suites found, the check completed and what it
		// found is a weakness.
		sc.rep.Incomplete = true
	}
	sc.add(report.New("tls.handshake.failed", "handshake", detail))
}

// incomplete reports enumeration chains that ended abnormally.
func (sc *scanner) incomplete() {
	var notes []string
	notTLS := ""
	hard := false
	note := func(what string, stop string, kind outcome, stage string) {
		if stop == "" {
			return
		}
		if kind == outNotTLS {
			notTLS = stop
			return
		}
		hard = true
		notes = append(notes, fmt.Sprintf("%s: %s (stage %s)", what, stop, stage))
	}
	for _, vs := range sc.versions {
		note(VersionName(vs.version), vs.why, vs.kind, vs.stage)
	}
	if g := sc.groups13; g != nil {
		note("TLS 1.3 groups", g.why, g.kind, g.stage)
	}
	if g := sc.ecdhe; g != nil {
		note(VersionName(g.version)+" curves", g.why, g.kind, g.stage)
	}
	if notTLS != "" {
		sc.add(report.Newf("tls.handshake.not-tls", "handshake", "The server answered a ClientHello with %s.", notTLS))
		sc.rep.Incomplete = true
	}
	if hard {
		detail := fmt.Sprintf("Some probes ended early, so the lists may be incomplete: %s.", strings.Join(notes, "; "))
		if sc.probeRefusals > 0 {
			detail += fmt.Sprintf(" %d probe connections were refused before TLS (each retried once after 300 ms).", sc.probeRefusals)
		}
		sc.add(report.New("tls.probe.incomplete", "ciphers", detail))
		sc.rep.Incomplete = true
	}
}

// bestVersion is the newest supported version's result.
func (sc *scanner) bestVersion() *VersionResult {
	for i := len(sc.res.Versions) - 1; i >= 0; i-- {
		if v := sc.res.Versions[i]; v.Supported {
			return v
		}
	}
	return nil
}

func suiteOf(id uint16) Suite {
	s, _ := LookupSuite(id)
	return s
}

func shortNames(ss []suiteSeen) string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = s.ShortName()
	}
	return strings.Join(names, ", ")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func parseCode(s string) uint16 {
	var v uint16
	fmt.Sscanf(s, "0x%04X", &v)
	return v
}
