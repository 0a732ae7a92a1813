package dnsauth

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// mailprobe's own DKIM verifier (RFC 6376 §6.1), used only where
// go-msgauth v0.7.0 stops a signature before its cryptography for reasons
// RFC 6376 does not give:
//
//   - its i= check compares the raw i= value with "@"+d= / "."+d=
//     case-sensitively and without decoding dkim-quoted-printable, so
//     i=User@Example.COM (d=example.com), i=user=40example.com and
//     i=@sub.EXAMPLE.com are "domain mismatch" (§3.5 says the i= domain is
//     d= or a subdomain of it, and domain names compare case-insensitively);
//   - its x= check reads the wall clock, with no option to judge a
//     signature at another time (an archived message, a test vector).
//
// Everything else (canonicalization, the header hash, RFC 8301's rules)
// matches go-msgauth, and a test checks that both verifiers agree on
// every signature go-msgauth does judge. When go-msgauth's checks are
// fixed upstream this file can go.

// ownVerdict is a verification result in go-msgauth's terms.
type ownVerdict struct {
	result DKIMVerdict
	reason string
	rule   string // the RFC 8301 rule that refused the signature, if any
}

func dkimPerm(format string, args ...any) ownVerdict {
	return ownVerdict{result: DKIMPermError, reason: fmt.Sprintf(format, args...)}
}

// sigTimes reads t= and x= (seconds since the epoch).
func sigTimes(tags map[string]string) (signed, expires time.Time, err error) {
	parse := func(tag string) (time.Time, error) {
		v, ok := tags[tag]
		if !ok {
			return time.Time{}, nil
		}
		n, err := strconv.ParseInt(stripWSP(v), 10, 64)
		if err != nil || n < 0 {
			return time.Time{}, fmt.Errorf("%s=%s is not a number of seconds", tag, stripWSP(v))
		}
		return time.Unix(n, 0).UTC(), nil
	}
	if signed, err = parse("t"); err != nil {
		return
	}
	expires, err = parse("x")
	return
}

// decodeDKIMQP decodes dkim-quoted-printable (RFC 6376 §2.11): "=XX"
// hexadecimal escapes, whitespace ignored.
func decodeDKIMQP(s string) (string, error) {
	s = stripWSP(s)
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("truncated escape at %q", s[i:])
		}
		n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("bad escape %q", s[i:i+3])
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), nil
}

// checkIdentity applies RFC 6376 §3.5 to i=: dkim-quoted-printable, with
// a domain that is d= or a subdomain of it, compared case-insensitively.
// It returns the decoded identity.
func checkIdentity(i, d string) (string, error) {
	id, err := decodeDKIMQP(i)
	if err != nil {
		return "", fmt.Errorf("i=%s is not dkim-quoted-printable: %v", stripWSP(i), err)
	}
	at := strings.LastIndexByte(id, '@')
	if at < 0 {
		return id, fmt.Errorf("i=%s has no \"@\" (RFC 6376 §3.5)", id)
	}
	idom := strings.TrimSuffix(strings.ToLower(id[at+1:]), ".")
	d = strings.TrimSuffix(strings.ToLower(stripWSP(d)), ".")
	if idom != d && !strings.HasSuffix(idom, "."+d) {
		return id, fmt.Errorf("domain mismatch: the i= domain %s is neither d=%s nor a subdomain of it (RFC 6376 §3.5)", idom, d)
	}
	return id, nil
}

// verifyOwn verifies the signature in header field fields[sig] of a
// message (fields as read, each ending in CRLF; body after the blank
// line) at time at.
func verifyOwn(fields []string, sig int, body []byte, tags map[string]string, lookup func(string) ([]string, error), at time.Time) ownVerdict {
	if tags["v"] != "1" {
		return dkimPerm("incompatible signature version")
	}
	for _, t := range []string{"v", "a", "b", "bh", "d", "h", "s"} {
		if _, ok := tags[t]; !ok {
			return dkimPerm("signature missing required tag %s=", t)
		}
	}
	d, s := stripWSP(tags["d"]), stripWSP(tags["s"])
	if i, ok := tags["i"]; ok {
		if _, err := checkIdentity(i, d); err != nil {
			return dkimPerm("%v", err)
		}
	}
	hkeys := splitList(tags["h"], ":")
	fromSigned := false
	for _, k := range hkeys {
		fromSigned = fromSigned || strings.EqualFold(k, "from")
	}
	if !fromSigned {
		return dkimPerm("From field not signed")
	}
	_, expires, err := sigTimes(tags)
	if err != nil {
		return dkimPerm("%v", err)
	}
	if !expires.IsZero() && at.After(expires) {
		return ownVerdict{result: DKIMPermError, reason: fmt.Sprintf("signature has expired (x=%s, checked at %s)", expires.Format(time.RFC3339), at.UTC().Format(time.RFC3339))}
	}
	if q, ok := tags["q"]; ok && !contains(splitList(q, ":"), "dns/txt") {
		return dkimPerm("unsupported public key query method")
	}
	keyAlgo, hashAlgo, ok := strings.Cut(stripWSP(tags["a"]), "-")
	if !ok {
		return dkimPerm("malformed algorithm name")
	}
	// The key.
	txts, err := lookup(s + "._domainkey." + d)
	if err != nil {
		if resolver.IsNotFound(err) {
			return dkimPerm("no key for signature: %v", err)
		}
		return ownVerdict{result: DKIMTempError, reason: "key unavailable: " + err.Error()}
	}
	if len(txts) == 0 {
		return dkimPerm("no valid key found")
	}
	if len(txts) > 1 {
		return dkimPerm("multiple TXT records found for key")
	}
	key, kerr := ParseDKIMKey(txts[0])
	if key == nil {
		return dkimPerm("key syntax error: %v", kerr)
	}
	if key.Revoked {
		return dkimPerm("key revoked")
	}
	if len(key.Hashes) > 0 && !contains(key.Hashes, hashAlgo) {
		return dkimPerm("inappropriate hash algorithm")
	}
	if kerr != nil {
		return dkimPerm("key syntax error: %v", kerr)
	}
	if hashAlgo == "sha1" {
		return ownVerdict{result: DKIMPermError, reason: "hash algorithm too weak: sha1", rule: "RFC 8301 §3.1"}
	}
	if hashAlgo != "sha256" {
		return dkimPerm("unsupported hash algorithm")
	}
	if key.KeyType != keyAlgo {
		return dkimPerm("inappropriate key algorithm")
	}
	if key.KeyType == "rsa" && key.Bits < 1024 {
		return ownVerdict{result: DKIMPermError, reason: fmt.Sprintf("key is too short: want 1024 bits, has %d bits", key.Bits), rule: "RFC 8301 §3.2"}
	}
	hc, bc, ok := canonModes(tags["c"])
	if !ok {
		return dkimPerm("unsupported canonicalization %s", stripWSP(tags["c"]))
	}
	if _, ok := tags["l"]; ok {
		return ownVerdict{result: DKIMPolicy, reason: "message contains an insecure body length tag (l= lets anyone append content; mailprobe, like go-msgauth, does not accept it)"}
	}
	bh, err := base64.StdEncoding.DecodeString(stripWSP(tags["bh"]))
	if err != nil {
		return dkimPerm("malformed body hash: %v", err)
	}
	sigBytes, err := base64.StdEncoding.DecodeString(stripWSP(tags["b"]))
	if err != nil {
		return dkimPerm("malformed signature: %v", err)
	}
	got := sha256.Sum256(canonBody(body, bc))
	if subtle.ConstantTimeCompare(got[:], bh) != 1 {
		return ownVerdict{result: DKIMFail, reason: "body hash did not verify"}
	}
	h := sha256.New()
	used := make([]bool, len(fields))
	for _, k := range hkeys {
		// Each name takes the next instance from the bottom (§5.4.2).
		for j := len(fields) - 1; j >= 0; j-- {
			name, _, _ := strings.Cut(fields[j], ":")
			if !used[j] && j != sig && strings.EqualFold(strings.TrimRight(name, " \t"), k) {
				used[j] = true
				h.Write([]byte(canonHeader(fields[j], hc)))
				break
			}
		}
	}
	h.Write([]byte(strings.TrimRight(canonHeader(removeBValue(fields[sig]), hc), "\r\n")))
	hashed := h.Sum(nil)
	switch pub := key.PublicKey.(type) {
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, hashed, sigBytes); err != nil {
			return ownVerdict{result: DKIMFail, reason: "signature did not verify: " + err.Error()}
		}
	case ed25519.PublicKey:
		if !ed25519.Verify(pub, hashed, sigBytes) {
			return ownVerdict{result: DKIMFail, reason: "signature did not verify: invalid Ed25519 signature"}
		}
	default:
		return dkimPerm("unsupported key algorithm")
	}
	return ownVerdict{result: DKIMPass}
}

func canonModes(c string) (header, body string, ok bool) {
	header, body = "simple", "simple"
	c = strings.ToLower(stripWSP(c))
	if c != "" {
		h, b, two := strings.Cut(c, "/")
		header = h
		if two {
			body = b
		}
	}
	valid := func(m string) bool { return m == "simple" || m == "relaxed" }
	return header, body, valid(header) && valid(body)
}

// canonHeader canonicalizes one header field (RFC 6376 §3.4.1, §3.4.2).
func canonHeader(f, mode string) string {
	if mode == "simple" {
		return f
	}
	name, value, _ := strings.Cut(f, ":")
	name = strings.ToLower(strings.TrimRight(name, " \t"))
	value = strings.ReplaceAll(value, "\r\n", "")
	value = strings.Join(strings.FieldsFunc(value, func(r rune) bool { return r == ' ' || r == '\t' }), " ")
	return name + ":" + value + "\r\n"
}

// canonBody canonicalizes the body (RFC 6376 §3.4.3, §3.4.4).
func canonBody(body []byte, mode string) []byte {
	lines := bytes.Split(body, []byte("\r\n"))
	if mode == "relaxed" {
		for i, l := range lines {
			l = bytes.TrimRight(l, " \t")
			lines[i] = []byte(strings.Join(strings.FieldsFunc(string(l), func(r rune) bool { return r == ' ' || r == '\t' }), " "))
			if len(l) > 0 && (l[0] == ' ' || l[0] == '\t') {
				lines[i] = append([]byte(" "), lines[i]...)
			}
		}
	}
	// Drop the empty lines at the end.
	for len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	if len(lines) == 0 {
		if mode == "simple" {
			return []byte("\r\n")
		}
		return nil
	}
	return append(bytes.Join(lines, []byte("\r\n")), '\r', '\n')
}

// removeBValue empties the value of the b= tag of a DKIM-Signature field,
// whitespace around it included (RFC 6376 §3.7).
func removeBValue(f string) string {
	colon := strings.IndexByte(f, ':')
	if colon < 0 {
		return f
	}
	pos := colon + 1
	for pos <= len(f) {
		end := strings.IndexByte(f[pos:], ';')
		if end < 0 {
			end = len(f)
		} else {
			end += pos
		}
		spec := f[pos:end]
		if name, _, ok := strings.Cut(spec, "="); ok && strings.Trim(name, " \t\r\n") == "b" {
			eq := pos + strings.IndexByte(spec, '=') + 1
			rest := ""
			if end < len(f) {
				rest = f[end:]
			}
			return f[:eq] + rest
		}
		pos = end + 1
	}
	return f
}

// errNoBody is returned when a message has no header/body separator.
var errNoBody = errors.New("no blank line after the header")

// splitMessage returns the header fields (CRLF kept) and the body.
func splitMessage(msg []byte) ([]string, []byte, error) {
	i := bytes.Index(msg, []byte("\r\n\r\n"))
	if i < 0 {
		return nil, nil, errNoBody
	}
	var fields []string
	for _, line := range strings.SplitAfter(string(msg[:i+2]), "\r\n") {
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1] += line
		} else {
			fields = append(fields, line)
		}
	}
	return fields, msg[i+4:], nil
}
