package dnsauth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// DKIM signature verification: go-msgauth does the cryptography and the
// canonicalization (RFC 6376 §3.4, §6), with RFC 8301's rules (rsa-sha1
// and RSA keys under 1024 bits are not accepted). Keys are fetched through
// mailprobe's resolver, so SERVFAIL and timeouts are temporary failures
// and NXDOMAIN a permanent one (§6.1.2). On top of go-msgauth, mailprobe
// applies the key's t=s flag (§3.6.1: the i= domain must equal d=) and
// says, per signature, which selector, algorithm and key were involved.

// DKIMVerdict is a signature's result (RFC 8601 §2.7.1 names).
type DKIMVerdict string

const (
	DKIMPass      DKIMVerdict = "pass"
	DKIMFail      DKIMVerdict = "fail"      // checked, did not verify (body or header changed, wrong key)
	DKIMPermError DKIMVerdict = "permerror" // unusable signature or key
	DKIMTempError DKIMVerdict = "temperror" // key could not be fetched now
	DKIMPolicy    DKIMVerdict = "policy"    // verifiable but refused by policy (l= tag)
)

// DKIMSignature is the verification of one DKIM-Signature header.
type DKIMSignature struct {
	Index      int         `json:"index"` // 1-based, top to bottom
	Domain     string      `json:"domain"`
	Selector   string      `json:"selector"`
	Algorithm  string      `json:"algorithm,omitempty"`
	Identifier string      `json:"identifier,omitempty"`
	Headers    []string    `json:"signed_headers,omitempty"`
	Result     DKIMVerdict `json:"result"`
	Reason     string      `json:"reason,omitempty"`
	KeyType    string      `json:"key_type,omitempty"`
	KeyBits    int         `json:"key_bits,omitempty"`
	Testing    bool        `json:"testing,omitempty"`
	// Rule is the RFC 8301 rule that refused an otherwise checkable
	// signature (rsa-sha1, an RSA key under 1024 bits).
	Rule string `json:"rule,omitempty"`
	// Signed and Expires are t= and x=, when given.
	Signed  time.Time `json:"signed,omitzero"`
	Expires time.Time `json:"expires,omitzero"`
	// Verifier is "mailprobe" when mailprobe's own verifier judged the
	// signature because go-msgauth's i= or x= check does not follow RFC
	// 6376 (see dkim_own.go); empty for go-msgauth.
	Verifier string `json:"verifier,omitempty"`
}

// DKIMVerification is the result of VerifyDKIM.
type DKIMVerification struct {
	Signatures []DKIMSignature `json:"signatures"`
	// At is the time the signatures were judged at (x= expiry).
	At       time.Time `json:"verified_at"`
	AtGiven  bool      `json:"verified_at_given,omitempty"`
	findings []report.Finding
}

// Findings returns one finding per signature (or one for "unsigned").
func (v *DKIMVerification) Findings() []report.Finding { return v.findings }

// Pass reports whether at least one signature verified.
func (v *DKIMVerification) Pass() bool {
	for _, s := range v.Signatures {
		if s.Result == DKIMPass {
			return true
		}
	}
	return false
}

// PassingDomains lists the d= of passing signatures (for DMARC alignment).
func (v *DKIMVerification) PassingDomains() []string {
	var out []string
	for _, s := range v.Signatures {
		if s.Result == DKIMPass {
			out = append(out, s.Domain)
		}
	}
	return out
}

// VerifyDKIM verifies every DKIM-Signature of msg now. The error is for an
// unreadable message only.
func VerifyDKIM(ctx context.Context, r resolver.Interface, msg []byte) (*DKIMVerification, error) {
	return verifyDKIMAt(ctx, r, msg, time.Now(), false)
}

// VerifyDKIMAt verifies every DKIM-Signature of msg as at time at: a
// signature whose x= is before at has expired, one whose x= is after it
// has not, whatever the clock says.
func VerifyDKIMAt(ctx context.Context, r resolver.Interface, msg []byte, at time.Time) (*DKIMVerification, error) {
	return verifyDKIMAt(ctx, r, msg, at, true)
}

func verifyDKIMAt(ctx context.Context, r resolver.Interface, msg []byte, at time.Time, given bool) (*DKIMVerification, error) {
	msg = wireForm(msg)
	fields, err := headerFields(msg)
	if err != nil {
		return nil, err
	}
	var sigTags []map[string]string
	for _, f := range fields {
		name, value, _ := strings.Cut(f, ":")
		if strings.EqualFold(strings.TrimSpace(name), "DKIM-Signature") {
			tags, _ := parseTagList(value)
			sigTags = append(sigTags, tagMap(tags, false))
		}
	}
	v := &DKIMVerification{At: at.UTC(), AtGiven: given}
	if len(sigTags) == 0 {
		v.findings = append(v.findings, report.New("dkim.signature.missing", dkimStage, "The message has no DKIM-Signature header."))
		return v, nil
	}
	// Remember each key record fetched, to report its type and size and
	// apply t=s.
	var mu sync.Mutex
	keys := map[string]string{}
	lookup := func(name string) ([]string, error) {
		txts, err := r.LookupTXT(ctx, name)
		if err == nil && len(txts) == 1 {
			mu.Lock()
			keys[strings.ToLower(strings.TrimSuffix(name, "."))] = txts[0]
			mu.Unlock()
		}
		return txts, err
	}
	// The own verifier's view of the message: the header fields as
	// go-msgauth reads them (CRLF-separated), and where each signature is.
	ownFields, body, splitErr := splitMessage(msg)
	var ownSig []int
	for i, f := range ownFields {
		if name, _, _ := strings.Cut(f, ":"); strings.EqualFold(strings.TrimSpace(name), "DKIM-Signature") {
			ownSig = append(ownSig, i)
		}
	}
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{LookupTXT: lookup, MaxVerifications: 16})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		return nil, fmt.Errorf("reading the message: %w", err)
	}
	for i, ver := range verifs {
		s := DKIMSignature{Index: i + 1, Domain: ver.Domain, Identifier: ver.Identifier, Headers: ver.HeaderKeys}
		if i < len(sigTags) {
			t := sigTags[i]
			s.Selector = stripWSP(t["s"])
			s.Algorithm = stripWSP(t["a"])
			if s.Domain == "" {
				s.Domain = stripWSP(t["d"])
			}
		}
		s.Result, s.Reason = classifyDKIM(ver.Err)
		if i < len(sigTags) {
			t := sigTags[i]
			var terr error
			s.Signed, s.Expires, terr = sigTimes(t)
			if id, ok := t["i"]; ok {
				if dec, err := decodeDKIMQP(id); err == nil {
					s.Identifier = dec
				}
			}
			// go-msgauth judges i= and x= wrongly (see dkim_own.go):
			// where it stopped there, or where x= must be judged at
			// another time than now, mailprobe's verifier decides.
			stoppedEarly := ver.Err != nil && (ver.Err.Error() == "dkim: domain mismatch" || ver.Err.Error() == "dkim: signature has expired")
			expiredAt := terr == nil && !s.Expires.IsZero() && at.After(s.Expires)
			if splitErr == nil && i < len(ownSig) && (stoppedEarly || (expiredAt && s.Result != DKIMPermError) || (given && !s.Expires.IsZero())) {
				_, value, _ := strings.Cut(ownFields[ownSig[i]], ":")
				tags, _ := parseTagList(value)
				o := verifyOwn(ownFields, ownSig[i], body, tagMap(tags, false), lookup, at)
				s.Result, s.Reason, s.Rule, s.Verifier = o.result, o.reason, o.rule, "mailprobe"
			}
		}
		keyName := strings.ToLower(s.Selector + "._domainkey." + s.Domain)
		if rec, ok := keys[keyName]; ok {
			s.KeyType, s.KeyBits, s.Testing = keyFacts(rec)
		}
		if s.Rule == "" {
			switch {
			case strings.HasPrefix(s.Reason, "hash algorithm too weak"):
				s.Rule = "RFC 8301 §3.1"
			case strings.HasPrefix(s.Reason, "key is too short"):
				s.Rule = "RFC 8301 §3.2"
			}
		}
		var key *DKIMKey
		if rec, ok := keys[keyName]; ok {
			key, _ = ParseDKIMKey(rec)
		}
		if s.Result == DKIMPass && key != nil && key.Strict {
			// t=s: "any DKIM-Signature header fields using the i= tag
			// MUST have the same domain value on the right-hand side of
			// the @ in the i= tag and the value of the d= tag".
			if _, idom, _ := strings.Cut(s.Identifier, "@"); !strings.EqualFold(idom, s.Domain) {
				s.Result, s.Reason = DKIMPermError, fmt.Sprintf("the key has t=s but i=%s is not in d=%s exactly (RFC 6376 §3.6.1)", s.Identifier, s.Domain)
			}
		}
		v.Signatures = append(v.Signatures, s)
		f := signatureFinding(s)
		if !s.Signed.IsZero() && s.Signed.After(at.Add(5*time.Minute)) {
			// RFC 6376 §3.5: "Verifiers MAY ignore signatures with a
			// timestamp in the future."
			f = f.With("note", fmt.Sprintf("t=%s is after the time the signature was checked at (%s): verifiers may ignore signatures from the future (RFC 6376 §3.5)", s.Signed.Format(time.RFC3339), at.UTC().Format(time.RFC3339)))
		}
		v.findings = append(v.findings, f)
	}
	return v, nil
}

func classifyDKIM(err error) (DKIMVerdict, string) {
	switch {
	case err == nil:
		return DKIMPass, ""
	case dkim.IsTempFail(err):
		return DKIMTempError, strings.TrimPrefix(err.Error(), "dkim: ")
	case dkim.IsPermFail(err):
		return DKIMPermError, strings.TrimPrefix(err.Error(), "dkim: ")
	}
	msg := strings.TrimPrefix(err.Error(), "dkim: ")
	if strings.Contains(msg, "body length") {
		return DKIMPolicy, msg + " (l= lets anyone append content; mailprobe, like go-msgauth, does not accept it)"
	}
	return DKIMFail, msg
}

// keyFacts reads the type, size and testing flag of a key record, also
// from a record ParseDKIMKey refuses (a key limited to h=sha1 is still
// a key of a given size).
func keyFacts(rec string) (typ string, bits int, testing bool) {
	if k, err := ParseDKIMKey(rec); err == nil && k != nil {
		return k.KeyType, k.Bits, k.Testing
	}
	tags, _ := parseTagList(rec)
	m := tagMap(tags, false)
	typ = "rsa"
	if k := stripWSP(m["k"]); k != "" {
		typ = k
	}
	testing = contains(splitList(m["t"], ":"), "y")
	der, err := base64.StdEncoding.DecodeString(stripWSP(m["p"]))
	if err != nil || len(der) == 0 {
		return typ, 0, testing
	}
	switch typ {
	case "rsa":
		if pub, err := x509.ParsePKIXPublicKey(der); err == nil {
			if rk, ok := pub.(*rsa.PublicKey); ok {
				return typ, rk.N.BitLen(), testing
			}
		}
		if rk, err := x509.ParsePKCS1PublicKey(der); err == nil {
			return typ, rk.N.BitLen(), testing
		}
	case "ed25519":
		return typ, 256, testing
	}
	return typ, 0, testing
}

func signatureFinding(s DKIMSignature) report.Finding {
	who := fmt.Sprintf("signature %d (d=%s s=%s a=%s", s.Index, s.Domain, s.Selector, s.Algorithm)
	if s.KeyType != "" {
		who += fmt.Sprintf(", %s key", strings.ToUpper(s.KeyType))
		if s.KeyType == "rsa" && s.KeyBits > 0 {
			who += fmt.Sprintf(" %d bits", s.KeyBits)
		}
	}
	who += ")"
	switch s.Result {
	case DKIMPass:
		f := report.New("dkim.signature.pass", dkimStage, who+" verified")
		if s.Testing {
			f = f.With("note", "the key has t=y (testing)")
		}
		return f
	case DKIMFail:
		return report.New("dkim.signature.fail", dkimStage, who+": "+s.Reason+". The message was changed after signing (a mailing list footer, a rewritten header, a re-encoded body), or signed with another key than the one published.")
	case DKIMTempError:
		return report.New("dkim.signature.temperror", dkimStage, who+": "+s.Reason)
	case DKIMPolicy:
		return report.New("dkim.signature.policy", dkimStage, who+": "+s.Reason)
	}
	switch {
	case s.Rule == "RFC 8301 §3.1":
		return report.New("dkim.signature.sha1", dkimStage, who+": signed with rsa-sha1, which verifiers must not accept (RFC 8301 §3.1); whether the signature itself is intact was not checked.")
	case s.Rule == "RFC 8301 §3.2":
		bits := "under 1024"
		if s.KeyBits > 0 {
			bits = fmt.Sprintf("%d", s.KeyBits)
		}
		return report.New("dkim.signature.weak-key", dkimStage, who+": the RSA key has "+bits+" bits, and verifiers must not accept signatures made with keys under 1024 bits (RFC 8301 §3.2); whether the signature itself is intact was not checked.")
	case strings.HasPrefix(s.Reason, "signature has expired"):
		return report.New("dkim.signature.expired", dkimStage, who+": "+s.Reason+".")
	}
	return report.New("dkim.signature.permerror", dkimStage, who+": "+s.Reason)
}

// wireForm puts a message read from a file into its SMTP form, which is
// what was signed: a file with bare LF line ends (a Unix mailbox, most
// editors) gets CRLF, and a message that is only a header gets the empty
// line that ends it (an empty body canonicalizes like an absent one, RFC
// 6376 §3.4.3, §3.4.4).
func wireForm(msg []byte) []byte {
	if !bytes.Contains(msg, []byte("\r\n")) && bytes.Contains(msg, []byte("\n")) {
		msg = bytes.ReplaceAll(msg, []byte("\n"), []byte("\r\n"))
	}
	if !bytes.Contains(msg, []byte("\r\n\r\n")) && !bytes.HasPrefix(msg, []byte("\r\n")) {
		if !bytes.HasSuffix(msg, []byte("\r\n")) {
			msg = append(append([]byte(nil), msg...), '\r', '\n')
		}
		msg = append(append([]byte(nil), msg...), '\r', '\n')
	}
	return msg
}

// headerFields returns the raw header fields of msg
// (continuation lines kept), up to the blank line.
func headerFields(msg []byte) ([]string, error) {
	br := bufio.NewReader(bytes.NewReader(msg))
	var fields []string
	for {
		line, err := br.ReadString('\n')
		if line == "" && err != nil {
			if err == io.EOF {
				return fields, nil
			}
			return nil, err
		}
		trimmed := strings.TrimRight(line, "\r\n")
		if trimmed == "" {
			return fields, nil
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1] += line
		} else {
			fields = append(fields, line)
		}
		if err == io.EOF {
			return fields, nil
		}
	}
}
