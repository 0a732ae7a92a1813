package dnsauth

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

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
}

// DKIMVerification is the result of VerifyDKIM.
type DKIMVerification struct {
	Signatures []DKIMSignature `json:"signatures"`
	findings   []report.Finding
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

// VerifyDKIM verifies every DKIM-Signature of msg. The error is for an
// unreadable message only.
func VerifyDKIM(ctx context.Context, r resolver.Interface, msg []byte) (*DKIMVerification, error) {
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
	v := &DKIMVerification{}
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
		keyName := strings.ToLower(s.Selector + "._domainkey." + s.Domain)
		var key *DKIMKey
		if rec, ok := keys[keyName]; ok {
			key, _ = ParseDKIMKey(rec)
		}
		if key != nil {
			s.KeyType, s.KeyBits, s.Testing = key.KeyType, key.Bits, key.Testing
		}
		s.Result, s.Reason = classifyDKIM(ver.Err)
		if s.Result == DKIMPass && key != nil && key.Strict {
			// t=s: "any DKIM-Signature header fields using the i= tag
			// MUST have the same domain value on the right-hand side of
			// the @ in the i= tag and the value of the d= tag".
			if _, idom, _ := strings.Cut(s.Identifier, "@"); !strings.EqualFold(idom, s.Domain) {
				s.Result, s.Reason = DKIMPermError, fmt.Sprintf("the key has t=s but i=%s is not in d=%s exactly (RFC 6376 §3.6.1)", s.Identifier, s.Domain)
			}
		}
		v.Signatures = append(v.Signatures, s)
		v.findings = append(v.findings, signatureFinding(s))
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

func signatureFinding(s DKIMSignature) report.Finding {
	who := fmt.Sprintf("signature %d (d=%s s=%s a=%s", s.Index, s.Domain, s.Selector, s.Algorithm)
	if s.KeyType != "" {
		who += fmt.Sprintf(", %s key", strings.ToUpper(s.KeyType))
		if s.KeyType == "rsa" {
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
