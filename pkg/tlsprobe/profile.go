package tlsprobe

// Grade profiles (--profile): a grade for the port under a published
// guideline, with every rule that lowered it, beside the role grading
// of the findings (which stays: port 25 keeps its opportunistic-TLS
// severities whatever the profile says).
//
//   - internet.nl: NCSC-NL "IT Security Guidelines for Transport Layer
//     Security (TLS)" v2.1 (2021), as internet.nl's mail test applies
//     them to every MX; levels good, sufficient, phase out, insufficient.
//   - bsi: BSI TR-03108-1 (Secure E-Mail Transport) with the TLS of
//     TR-02102-2 (2024): TLS 1.2 and 1.3 only, forward secrecy, AEAD or
//     CBC with SHA-2, DH of 3000 bits or more, RSA keys of 3000 bits or
//     more; compliant or not compliant.

import (
	"fmt"
	"strings"

	"github.com/mailprobe/mailprobe/pkg/certcheck"
	"github.com/mailprobe/mailprobe/pkg/report"
)

// Profiles.
const (
	ProfileInternetNL = "internet.nl"
	ProfileBSI        = "bsi"
)

// ParseProfile reads a --profile value ("" = none).
func ParseProfile(s string) (string, error) {
	switch strings.ToLower(s) {
	case "":
		return "", nil
	case "internet.nl", "internetnl", "ncsc", "ncsc-nl":
		return ProfileInternetNL, nil
	case "bsi", "tr-03108":
		return ProfileBSI, nil
	}
	return "", fmt.Errorf("unknown --profile %q (want internet.nl or bsi)", s)
}

// Levels, best first (internet.nl's names; BSI uses the first and last).
const (
	LevelGood         = "good"
	LevelSufficient   = "sufficient"
	LevelPhaseOut     = "phase out"
	LevelInsufficient = "insufficient"
	LevelCompliant    = "compliant"
	LevelNotCompliant = "not compliant"
)

var levelRank = map[string]int{LevelGood: 0, LevelCompliant: 0, LevelSufficient: 1, LevelPhaseOut: 2, LevelInsufficient: 3, LevelNotCompliant: 3}

// Grade is the profile grade (JSON: facts.scan.grade).
type Grade struct {
	Profile string `json:"profile"`
	Level   string `json:"level"`
	// Rules are the rules that lowered the grade, worst first.
	Rules []GradeRule `json:"rules,omitempty"`
}

// GradeRule is one rule that applied, with its level and what matched.
type GradeRule struct {
	Rule  string `json:"rule"`
	Level string `json:"level"`
	What  string `json:"what"`
}

type grader struct {
	g Grade
}

func (gr *grader) hit(rule, level, what string) {
	gr.g.Rules = append(gr.g.Rules, GradeRule{Rule: rule, Level: level, What: what})
	if levelRank[level] > levelRank[gr.g.Level] {
		gr.g.Level = level
	}
}

// suiteLevel is internet.nl's level of a TLS 1.2-and-older suite (NCSC-NL
// v2.1 table 4): ECDHE with AEAD good; ECDHE-CBC and DHE sufficient;
// static RSA and 3DES phase out; the rest insufficient.
func suiteLevelNL(s Suite) string {
	switch {
	case s.Has(FlagTLS13):
		return LevelGood
	case s.Has(FlagNull) || s.Has(FlagAnon) || s.Has(FlagExport) || s.Has(FlagRC4) || s.Enc == "DES_CBC" || s.Enc == "DES40_CBC" || s.Has(FlagSpecial):
		return LevelInsufficient
	case s.Has(FlagBlock64) || s.Kx == "RSA":
		return LevelPhaseOut
	case s.isECDHE() && s.Has(FlagAEAD) && (strings.HasPrefix(s.Enc, "AES") || strings.HasPrefix(s.Enc, "CHACHA20")):
		return LevelGood
	case (s.isECDHE() || s.isDHE()) && (strings.HasPrefix(s.Enc, "AES") || strings.HasPrefix(s.Enc, "CHACHA20")):
		return LevelSufficient
	}
	return LevelInsufficient // Camellia, ARIA, SEED, IDEA: not on the list
}

// gradeProfile computes the grade and adds its finding.
func (sc *scanner) gradeProfile(cert *certcheck.Facts) {
	if sc.o.Profile == "" {
		return
	}
	r := sc.res
	if r.Quick {
		sc.add(report.Newf("tls.grade.skipped", "grade", "--quick: one handshake cannot be graded under the %s profile; run without --quick.", sc.o.Profile))
		return
	}
	var g Grade
	switch sc.o.Profile {
	case ProfileInternetNL:
		g = sc.gradeNL(cert)
	case ProfileBSI:
		g = sc.gradeBSI(cert)
	}
	r.Grade = &g
	code := "tls.grade.internet-nl"
	if g.Profile == ProfileBSI {
		code = "tls.grade.bsi"
	}
	sev := map[string]report.Severity{LevelGood: report.Pass, LevelCompliant: report.Pass, LevelSufficient: report.Pass,
		LevelPhaseOut: report.Warn, LevelInsufficient: report.Fail, LevelNotCompliant: report.Fail}[g.Level]
	detail := fmt.Sprintf("Grade under %s: %s.", profileName(g.Profile), g.Level)
	if len(g.Rules) > 0 {
		var worst []string
		for _, x := range g.Rules {
			if x.Level == g.Level {
				worst = append(worst, x.Rule+" ("+x.What+")")
			}
		}
		detail += " Set by: " + strings.Join(worst, "; ") + "."
	}
	f := report.New(code, "grade", detail).WithSeverity(sev)
	for _, x := range g.Rules {
		f = f.With("rule", fmt.Sprintf("%s: %s — %s", x.Level, x.Rule, x.What))
	}
	if sc.role == RoleMX {
		f.Detail += " The port's own findings stay graded as opportunistic TLS (port 25); the profile grades it as its guideline does."
	}
	sc.add(f)
	sc.rep.SetFact("grade", g.Profile+": "+g.Level)
}

func profileName(p string) string {
	if p == ProfileBSI {
		return "BSI TR-03108-1 / TR-02102-2"
	}
	return "internet.nl (NCSC-NL TLS guidelines v2.1)"
}

func (sc *scanner) gradeNL(cert *certcheck.Facts) Grade {
	gr := &grader{g: Grade{Profile: ProfileInternetNL, Level: LevelGood}}
	r := sc.res
	if r.SSLv2 != nil && r.SSLv2.Supported {
		gr.hit("TLS version", LevelInsufficient, "SSL 2.0 accepted")
	}
	for _, v := range r.Versions {
		if !v.Supported {
			continue
		}
		switch v.Code {
		case VersionSSL30:
			gr.hit("TLS version", LevelInsufficient, "SSL 3.0 accepted")
		case VersionTLS10, VersionTLS11:
			gr.hit("TLS version", LevelPhaseOut, v.Version+" accepted")
		}
	}
	worst := map[string][]string{}
	for _, v := range r.Versions {
		for _, s := range v.Suites {
			st := suiteOf(s.ID)
			if l := suiteLevelNL(st); l != LevelGood {
				worst[l] = appendUnique(worst[l], st.ShortName())
			}
		}
	}
	for _, l := range []string{LevelInsufficient, LevelPhaseOut, LevelSufficient} {
		if len(worst[l]) > 0 {
			gr.hit("cipher suites", l, shortList(worst[l], 5))
		}
	}
	// Cipher order: required once anything below good is accepted.
	if len(worst[LevelInsufficient])+len(worst[LevelPhaseOut])+len(worst[LevelSufficient]) > 0 {
		for _, v := range r.Versions {
			if v.Supported && v.Code < VersionTLS13 && v.ServerPreference != nil && !*v.ServerPreference {
				gr.hit("cipher order", LevelInsufficient, v.Version+": the server follows the client's order")
			}
		}
	}
	switch {
	case r.DHBits > 0 && r.DHBits < 2048:
		gr.hit("key exchange (DH)", LevelInsufficient, fmt.Sprintf("%d-bit DH group", r.DHBits))
	case r.DHBits > 0 && r.DHBits < 3072:
		gr.hit("key exchange (DH)", LevelPhaseOut, fmt.Sprintf("%d-bit DH group", r.DHBits))
	}
	for _, g := range append(append([]GroupResult(nil), r.ECDHEGroups...), r.Groups...) {
		switch g.Name {
		case "secp256r1", "secp384r1", "x25519", "x448", "secp521r1":
		default:
			if g.Kind == "ec" {
				gr.hit("key exchange (ECDHE)", LevelPhaseOut, g.Name)
			}
		}
	}
	if r.SecureRenegotiation != nil && !*r.SecureRenegotiation {
		gr.hit("secure renegotiation", LevelInsufficient, "not supported")
	}
	for _, vr := range sc.vulnResults {
		if vr.Status != VulnVulnerable {
			continue
		}
		switch vr.Check {
		case "compression":
			gr.hit("TLS compression", LevelInsufficient, "accepted")
		case "client-renegotiation":
			gr.hit("client-initiated renegotiation", LevelInsufficient, "accepted")
		case "heartbleed", "ccs-injection", "robot", "ticketbleed", "drown":
			gr.hit("known vulnerability", LevelInsufficient, vr.Testssl)
		}
	}
	if cert != nil {
		switch {
		case cert.KeyType == "RSA" && cert.KeyBits < 2048:
			gr.hit("certificate key", LevelInsufficient, fmt.Sprintf("RSA %d bits", cert.KeyBits))
		case strings.Contains(cert.Signature, "SHA1") || strings.Contains(cert.Signature, "MD5"):
			gr.hit("certificate signature", LevelInsufficient, cert.Signature)
		}
	}
	return gr.g
}

func (sc *scanner) gradeBSI(cert *certcheck.Facts) Grade {
	gr := &grader{g: Grade{Profile: ProfileBSI, Level: LevelCompliant}}
	bad := func(rule, what string) { gr.hit(rule, LevelNotCompliant, what) }
	r := sc.res
	if r.SSLv2 != nil && r.SSLv2.Supported {
		bad("TLS 1.2 and 1.3 only (TR-02102-2 §3.2)", "SSL 2.0 accepted")
	}
	for _, v := range r.Versions {
		if v.Supported && v.Code < VersionTLS12 {
			bad("TLS 1.2 and 1.3 only (TR-02102-2 §3.2)", v.Version+" accepted")
		}
	}
	var nonPFS, badEnc []string
	for _, v := range r.Versions {
		for _, s := range v.Suites {
			st := suiteOf(s.ID)
			if st.Has(FlagTLS13) {
				continue
			}
			if !st.Has(FlagFS) {
				nonPFS = appendUnique(nonPFS, st.ShortName())
				continue
			}
			// TR-02102-2 table 1: AES-GCM, AES-CCM, or AES-CBC with
			// SHA-256/384.
			if !strings.HasPrefix(st.Enc, "AES") || (st.Has(FlagCBC) && st.Mac == "SHA") {
				badEnc = appendUnique(badEnc, st.ShortName())
			}
		}
	}
	if len(nonPFS) > 0 {
		bad("forward secrecy (TR-03108-1, TR-02102-2 §3.3.1)", shortList(nonPFS, 5))
	}
	if len(badEnc) > 0 {
		bad("recommended suites (TR-02102-2 §3.3.1 table 1)", shortList(badEnc, 5))
	}
	if r.DHBits > 0 && r.DHBits < 3000 {
		bad("DH of 3000 bits or more (TR-02102-2 §3.6)", fmt.Sprintf("%d-bit DH group", r.DHBits))
	}
	for _, g := range append(append([]GroupResult(nil), r.ECDHEGroups...), r.Groups...) {
		switch g.Name {
		case "secp256r1", "secp384r1", "secp521r1", "brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1",
			"brainpoolP256r1tls13", "brainpoolP384r1tls13", "brainpoolP512r1tls13", "x25519", "x448", "ffdhe3072", "ffdhe4096", "ffdhe6144", "ffdhe8192":
		default:
			if g.Kind != "pq" {
				bad("recommended groups (TR-02102-2 §3.6)", g.Name)
			}
		}
	}
	if r.SecureRenegotiation != nil && !*r.SecureRenegotiation {
		bad("secure renegotiation (TR-02102-2 §3.5)", "not supported")
	}
	for _, vr := range sc.vulnResults {
		if vr.Status == VulnVulnerable {
			switch vr.Check {
			case "compression":
				bad("no TLS compression (TR-02102-2 §3.5)", "accepted")
			case "heartbleed", "ccs-injection", "robot", "ticketbleed", "drown", "client-renegotiation":
				bad("no known vulnerability", vr.Testssl)
			}
		}
	}
	if cert != nil {
		switch {
		case cert.KeyType == "RSA" && cert.KeyBits < 3000:
			bad("certificate key of 3000 bits or more (TR-02102-2 §3.4)", fmt.Sprintf("RSA %d bits", cert.KeyBits))
		case strings.HasPrefix(cert.KeyType, "ECDSA") && cert.KeyBits < 250:
			bad("certificate key (TR-02102-2 §3.4)", cert.KeyType)
		}
		if strings.Contains(cert.Signature, "SHA1") || strings.Contains(cert.Signature, "MD5") {
			bad("certificate signature with SHA-2", cert.Signature)
		}
		if !cert.Verified {
			bad("certificate from a trusted CA (TR-03108-1)", "the chain does not verify")
		}
	}
	return gr.g
}

// shortList joins at most n items and counts the rest.
func shortList(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(s[:n], ", "), len(s)-n)
}

func appendUnique(s []string, x string) []string {
	for _, y := range s {
		if y == x {
			return s
		}
	}
	return append(s, x)
}

func init() {
	report.Register(
		report.Code{Code: "tls.grade.internet-nl", Severity: report.Info, Title: "Grade under internet.nl's mail server guidelines",
			Fix:  "The rules that set the grade are listed with what matched; each has its own finding with the configuration change. Aim for \"good\": TLS 1.2 and 1.3 only, ECDHE with AES-GCM or ChaCha20-Poly1305, the server's own suite order. " + fixProtocols + " " + fixOrder,
			Refs: []string{"NCSC-NL IT Security Guidelines for TLS v2.1", "https://internet.nl/faqs/report/"}},
		report.Code{Code: "tls.grade.bsi", Severity: report.Info, Title: "Grade under BSI TR-03108-1 (Secure E-Mail Transport)",
			Fix:  "The rules that were not met are listed with what matched. TR-03108-1 wants TLS 1.2/1.3 only, forward-secret AES suites from TR-02102-2, DH and RSA of 3000 bits or more, and a certificate from a trusted CA. " + fixProtocols + " " + fixCiphers,
			Refs: []string{"BSI TR-03108-1", "BSI TR-02102-2"}},
		report.Code{Code: "tls.grade.skipped", Severity: report.Info, Title: "Profile grade not computed",
			Fix: "Run without --quick: a grade needs the full enumeration."},
	)
}
