// Package arc verifies Authenticated Received Chains (RFC 8617): the
// ARC-Seal, ARC-Message-Signature and ARC-Authentication-Results sets a
// forwarder or mailing list adds, so that a receiver can trust the
// authentication results it saw before it broke DKIM (the classic "why did
// my reset mail go to spam after the list forwarded it").
//
// Verify reads a whole message and returns the chain's validation status
// (cv=none|pass|fail), every instance, the oldest instance whose message
// signature still validates, and which instance broke the chain and why.
// Keys come from DNS through the caller's LookupTXT.
package arc

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Status is a chain validation status (RFC 8617 §4.4).
type Status string

const (
	None Status = "none" // no ARC sets
	Pass Status = "pass"
	Fail Status = "fail"
)

// MaxInstances is the most ARC sets a chain may have (RFC 8617 §4.2.1).
const MaxInstances = 50

// MaxFieldSize is the longest ARC header field read, folding included:
// real sets are a few KiB, and a seal hashes every older set, so the
// bound keeps a 50-instance chain's work small.
const MaxFieldSize = 32 << 10

// MaxMessageSize is the most bytes Verify reads.
const MaxMessageSize = 32 << 20

// Options are Verify's inputs besides the message.
type Options struct {
	// LookupTXT returns the TXT strings of a name (each record's strings
	// joined). An error wrapping ErrNotFound is "no record" (a permanent
	// failure); any other error is a temporary one.
	LookupTXT func(ctx context.Context, name string) ([]string, error)
	// At is the time signatures are judged at (t= in the future, x=);
	// zero means now.
	At time.Time
	// MinRSABits is the smallest RSA key accepted (default 1024; RFC 8301).
	MinRSABits int
}

// ErrNotFound is what LookupTXT wraps for a name with no TXT record.
var ErrNotFound = errors.New("no TXT record")

// Instance is one ARC set.
type Instance struct {
	I int `json:"i"`
	// Seal (AS)
	SealDomain   string `json:"seal_domain"`
	SealSelector string `json:"seal_selector"`
	CV           string `json:"cv"`
	SealResult   string `json:"seal_result"` // pass, fail, unchecked
	SealError    string `json:"seal_error,omitempty"`
	// Message signature (AMS)
	AMSDomain   string   `json:"ams_domain"`
	AMSSelector string   `json:"ams_selector"`
	AMSHeaders  []string `json:"ams_headers,omitempty"`
	AMSResult   string   `json:"ams_result"` // pass, fail, unchecked
	AMSError    string   `json:"ams_error,omitempty"`
	// Authentication results (AAR): the authserv-id and the results the
	// sealer saw.
	AuthServID string `json:"authserv_id"`
	Results    string `json:"results"`
}

// Result is a chain's validation.
type Result struct {
	Status Status `json:"cv"`
	// Reason says why the chain failed (or why it is none).
	Reason string `json:"reason,omitempty"`
	// Broken is the instance that broke the chain (0: none, or the
	// structure as a whole).
	Broken int `json:"broken_instance,omitempty"`
	// OldestPass is the lowest instance whose AMS still validates (RFC
	// 8617 §5.2): the hop up to which the message is unchanged. 0 when
	// not computed or none passes.
	OldestPass int        `json:"oldest_pass,omitempty"`
	Instances  []Instance `json:"instances,omitempty"`
	// TempError is set when a key could not be fetched for a temporary
	// reason: the status is then not a verdict on the message.
	TempError bool `json:"temperror,omitempty"`
	// SealedFail is set when the newest seal carries cv=fail.
	SealedFail bool      `json:"sealed_fail,omitempty"`
	At         time.Time `json:"verified_at"`
}

// structError is a structural fault of one instance.
type structError struct {
	i   int
	msg string
}

func (e *structError) Error() string { return e.msg }

type malformedError string

func (e malformedError) Error() string { return string(e) }

func errMalformed(format string, a ...any) error { return malformedError(fmt.Sprintf(format, a...)) }

const (
	hdrAS  = "arc-seal"
	hdrAMS = "arc-message-signature"
	hdrAAR = "arc-authentication-results"
)

// set is one instance's three fields as found.
type set struct {
	as, ams, aar      *field
	asTags, amsTags   tagList
	aarID, aarResults string
	n                 int
}

// Verify validates the ARC chain of msg (RFC 8617 §5.2).
func Verify(ctx context.Context, msg []byte, o Options) *Result {
	r := &Result{At: o.At}
	if r.At.IsZero() {
		r.At = time.Now()
	}
	if o.MinRSABits == 0 {
		o.MinRSABits = 1024
	}
	if len(msg) > MaxMessageSize {
		return r.fail(0, "the message is larger than %d MiB", MaxMessageSize>>20)
	}
	fields, body, err := splitMessage(msg)
	if err != nil {
		// No parseable header: no chain to speak of, unless ARC fields
		// were there.
		if bytes.Contains(bytes.ToLower(msg), []byte("arc-seal:")) {
			return r.fail(0, "%v", err)
		}
		r.Status, r.Reason = None, "no ARC header fields"
		return r
	}
	sets, err := collect(fields)
	if err != nil {
		var se *structError
		if errors.As(err, &se) {
			return r.fail(se.i, "%v", err)
		}
		return r.fail(0, "%v", err)
	}
	if len(sets) == 0 {
		r.Status, r.Reason = None, "no ARC header fields"
		return r
	}
	n := len(sets)
	for i := 1; i <= n; i++ {
		s := sets[i-1]
		r.Instances = append(r.Instances, Instance{
			I: i, SealDomain: tag(s.asTags, "d"), SealSelector: tag(s.asTags, "s"), CV: tag(s.asTags, "cv"),
			AMSDomain: tag(s.amsTags, "d"), AMSSelector: tag(s.amsTags, "s"), AMSHeaders: headerList(tag(s.amsTags, "h")),
			AuthServID: s.aarID, Results: s.aarResults, SealResult: "unchecked", AMSResult: "unchecked",
		})
	}
	// The newest seal says what the sealer concluded; a sealer that
	// already saw the chain fail ends it.
	if cv := tag(sets[n-1].asTags, "cv"); cv == "fail" {
		r.SealedFail = true
		return r.fail(n, "instance %d sealed the chain with cv=fail", n)
	}
	v := &verifier{ctx: ctx, o: o, fields: fields, body: body, at: r.At, keys: map[string]keyResult{}}
	// The newest AMS must validate.
	if err := v.verifyAMS(sets[n-1]); err != nil {
		r.Instances[n-1].AMSResult, r.Instances[n-1].AMSError = "fail", err.Error()
		if isTemp(err) {
			r.TempError = true
		}
		return r.fail(n, "the message signature of instance %d does not validate: %v", n, err)
	}
	r.Instances[n-1].AMSResult = "pass"
	// Every seal, newest first.
	for i := n; i >= 1; i-- {
		if err := v.verifyAS(sets, i); err != nil {
			r.Instances[i-1].SealResult, r.Instances[i-1].SealError = "fail", err.Error()
			if isTemp(err) {
				r.TempError = true
			}
			return r.fail(i, "the seal of instance %d does not validate: %v", i, err)
		}
		r.Instances[i-1].SealResult = "pass"
	}
	// Oldest pass: walk the older AMSs down while they still validate.
	r.OldestPass = n
	for i := n - 1; i >= 1; i-- {
		if err := v.verifyAMS(sets[i-1]); err != nil {
			r.Instances[i-1].AMSResult, r.Instances[i-1].AMSError = "fail", err.Error()
			break
		}
		r.Instances[i-1].AMSResult = "pass"
		r.OldestPass = i
	}
	r.Status = Pass
	return r
}

func (r *Result) fail(instance int, format string, a ...any) *Result {
	r.Status, r.Broken, r.Reason = Fail, instance, fmt.Sprintf(format, a...)
	return r
}

func tag(t tagList, k string) string {
	v, _ := t.get(k)
	return v
}

func headerList(h string) []string {
	var out []string
	for _, n := range strings.Split(stripWSP(h), ":") {
		if n != "" {
			out = append(out, strings.ToLower(n))
		}
	}
	return out
}

// collect groups the ARC fields by instance and checks the structure
// (RFC 8617 §4.1, §5.2 steps 1–3): each instance 1..N exactly once per
// field, valid tags, cv=none on the first and pass on the others.
func collect(fields []field) ([]*set, error) {
	byI := map[int]*set{}
	get := func(i int) *set {
		if byI[i] == nil {
			byI[i] = &set{n: i}
		}
		return byI[i]
	}
	any := false
	for k := range fields {
		f := &fields[k]
		switch name := strings.ToLower(f.Name); name {
		case hdrAS, hdrAMS, hdrAAR:
			any = true
			if len(f.Raw) > MaxFieldSize {
				return nil, fmt.Errorf("an %s field of %d bytes (at most %d are read)", f.Name, len(f.Raw), MaxFieldSize)
			}
		}
		switch strings.ToLower(f.Name) {
		case hdrAS, hdrAMS:
			tags, err := parseTags(f.value())
			if err != nil {
				return nil, fmt.Errorf("%s: %v", f.Name, err)
			}
			i, err := instanceOf(tags)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", f.Name, err)
			}
			s := get(i)
			if strings.EqualFold(f.Name, hdrAS) {
				if s.as != nil {
					return nil, fmt.Errorf("two ARC-Seal fields for instance %d", i)
				}
				s.as, s.asTags = f, tags
			} else {
				if s.ams != nil {
					return nil, fmt.Errorf("two ARC-Message-Signature fields for instance %d", i)
				}
				s.ams, s.amsTags = f, tags
			}
		case hdrAAR:
			i, id, results, err := parseAAR(f.value())
			if err != nil {
				return nil, fmt.Errorf("%s: %v", f.Name, err)
			}
			s := get(i)
			if s.aar != nil {
				return nil, fmt.Errorf("two ARC-Authentication-Results fields for instance %d", i)
			}
			s.aar, s.aarID, s.aarResults = f, id, results
		}
		if len(byI) > MaxInstances {
			return nil, fmt.Errorf("more than %d ARC sets", MaxInstances)
		}
	}
	if !any {
		return nil, nil
	}
	ids := make([]int, 0, len(byI))
	for i := range byI {
		ids = append(ids, i)
	}
	sort.Ints(ids)
	sets := make([]*set, len(ids))
	for k, i := range ids {
		if i != k+1 {
			return nil, fmt.Errorf("ARC instances are not contiguous from 1 (instance %d missing)", k+1)
		}
		s := byI[i]
		switch {
		case s.as == nil:
			return nil, fmt.Errorf("instance %d has no ARC-Seal", i)
		case s.ams == nil:
			return nil, fmt.Errorf("instance %d has no ARC-Message-Signature", i)
		case s.aar == nil:
			return nil, fmt.Errorf("instance %d has no ARC-Authentication-Results", i)
		}
		if err := checkAS(s.asTags, i, i == len(ids)); err != nil {
			return nil, &structError{i, fmt.Sprintf("ARC-Seal i=%d: %v", i, err)}
		}
		if err := checkAMS(s.amsTags); err != nil {
			return nil, &structError{i, fmt.Sprintf("ARC-Message-Signature i=%d: %v", i, err)}
		}
		sets[k] = s
	}
	return sets, nil
}

// instanceOf reads i= (1..50).
func instanceOf(t tagList) (int, error) {
	v, ok := t.get("i")
	if !ok {
		return 0, fmt.Errorf("no i= tag")
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 1 || strconv.Itoa(i) != v {
		return 0, fmt.Errorf("invalid instance i=%q", v)
	}
	if i > MaxInstances {
		return 0, fmt.Errorf("instance i=%d: a chain has at most %d ARC sets (RFC 8617 §4.2.1)", i, MaxInstances)
	}
	return i, nil
}

// parseAAR reads "i=N; authserv-id; results" (RFC 8617 §4.1.1).
func parseAAR(v string) (int, string, string, error) {
	v = strings.TrimLeft(strings.ReplaceAll(v, "\r\n", ""), " \t")
	if !strings.HasPrefix(v, "i") {
		return 0, "", "", fmt.Errorf("does not start with i=")
	}
	head, rest, ok := strings.Cut(v, ";")
	if !ok {
		return 0, "", "", fmt.Errorf("no ';' after the instance")
	}
	k, num, ok := strings.Cut(head, "=")
	if !ok || strings.TrimSpace(k) != "i" {
		return 0, "", "", fmt.Errorf("does not start with i=")
	}
	num = strings.TrimSpace(num)
	i, err := strconv.Atoi(num)
	if err != nil || i < 1 || i > MaxInstances || strconv.Itoa(i) != num {
		return 0, "", "", fmt.Errorf("invalid instance i=%q", num)
	}
	id, results, _ := strings.Cut(rest, ";")
	return i, strings.TrimSpace(id), collapseWSP(strings.TrimSpace(results)), nil
}

// checkAS checks one seal's tags. cv=fail is allowed on the newest seal
// only (Verify ends the chain there, RFC 8617 §5.2 step 2); on an older
// one it breaks the structure (step 3.3: every cv of i > 1 is pass).
func checkAS(t tagList, i int, newest bool) error {
	for _, k := range []string{"a", "b", "cv", "d", "s"} {
		if v, ok := t.get(k); !ok || v == "" {
			return fmt.Errorf("no %s= tag", k)
		}
	}
	if _, ok := t.get("h"); ok {
		return fmt.Errorf("has an h= tag (a seal covers the ARC fields only)")
	}
	switch cv := tag(t, "cv"); {
	case cv != "none" && cv != "pass" && cv != "fail":
		return fmt.Errorf("invalid cv=%q", cv)
	case cv == "fail" && newest:
		// Step 2 comes before the structure's cv rules: the newest
		// seal's cv=fail ends the chain, whatever its instance.
	case i == 1 && cv != "none":
		return fmt.Errorf("cv=%s on the first instance (must be none)", cv)
	case i > 1 && cv == "none":
		return fmt.Errorf("cv=none on instance %d (only the first may be none)", i)
	case cv == "fail" && !newest:
		return fmt.Errorf("cv=fail on instance %d, which is not the newest (RFC 8617 §5.2 step 3)", i)
	}
	return checkCommon(t)
}

func checkAMS(t tagList) error {
	for _, k := range []string{"a", "b", "bh", "d", "h", "s"} {
		if v, ok := t.get(k); !ok || (v == "" && k != "h") {
			return fmt.Errorf("no %s= tag", k)
		}
	}
	if c, ok := t.get("c"); ok {
		if _, _, err := canonModes(c); err != nil {
			return err
		}
	}
	from := false
	for _, h := range headerList(tag(t, "h")) {
		if h == hdrAS {
			return fmt.Errorf("h= includes ARC-Seal (RFC 8617 §4.1.2)")
		}
		from = from || h == "from"
	}
	if !from {
		// RFC 6376 §6.1.1, which RFC 8617 §4.1.2 imports.
		return fmt.Errorf("h= does not include From (RFC 6376 §6.1.1)")
	}
	return checkCommon(t)
}

func checkCommon(t tagList) error {
	if _, err := algorithm(tag(t, "a")); err != nil {
		return err
	}
	if _, err := base64.StdEncoding.DecodeString(stripWSP(tag(t, "b"))); err != nil {
		return fmt.Errorf("b= is not base64")
	}
	if bh, ok := t.get("bh"); ok {
		if _, err := base64.StdEncoding.DecodeString(stripWSP(bh)); err != nil {
			return fmt.Errorf("bh= is not base64")
		}
	}
	if ts, ok := t.get("t"); ok {
		if _, err := strconv.ParseUint(ts, 10, 63); err != nil {
			return fmt.Errorf("invalid t=%q", ts)
		}
	}
	if d := tag(t, "d"); !validDomain(d) {
		return fmt.Errorf("invalid d=%q", d)
	}
	if s := tag(t, "s"); !validDomain(s) {
		return fmt.Errorf("invalid s=%q", s)
	}
	return nil
}

func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

type algo struct {
	hash crypto.Hash
	newH func() hash.Hash
	ed   bool
}

func algorithm(a string) (algo, error) {
	switch a {
	case "rsa-sha256":
		return algo{hash: crypto.SHA256, newH: sha256.New}, nil
	case "ed25519-sha256":
		return algo{hash: crypto.SHA256, newH: sha256.New, ed: true}, nil
	case "rsa-sha1":
		// RFC 8617 §4.1.3 (by RFC 8301): SHA-1 is not acceptable.
		return algo{}, fmt.Errorf("a=rsa-sha1 is not acceptable (RFC 8301)")
	}
	return algo{}, fmt.Errorf("unknown algorithm a=%q", a)
}

func canonModes(c string) (header, body bool, err error) {
	h, b, _ := strings.Cut(c, "/")
	if b == "" {
		b = "simple"
	}
	mode := func(s string) (bool, error) {
		switch s {
		case "simple":
			return false, nil
		case "relaxed":
			return true, nil
		}
		return false, fmt.Errorf("invalid canonicalization c=%q", c)
	}
	if header, err = mode(h); err != nil {
		return
	}
	body, err = mode(b)
	return
}

type tempError struct{ error }

func isTemp(err error) bool {
	var t tempError
	return errors.As(err, &t)
}

type keyResult struct {
	pub any
	err error
}

type verifier struct {
	ctx    context.Context
	o      Options
	fields []field
	body   []byte
	at     time.Time
	keys   map[string]keyResult
	byName map[string][]int // lower-case field name → positions, bottom first
}

// key fetches and parses selector._domainkey.domain (cached per run).
func (v *verifier) key(selector, domain string) (any, error) {
	name := selector + "._domainkey." + domain
	if k, ok := v.keys[name]; ok {
		return k.pub, k.err
	}
	pub, err := v.fetchKey(name)
	v.keys[name] = keyResult{pub, err}
	return pub, err
}

func (v *verifier) fetchKey(name string) (any, error) {
	if v.o.LookupTXT == nil {
		return nil, tempError{fmt.Errorf("no DNS resolver to fetch the key %s", name)}
	}
	txts, err := v.o.LookupTXT(v.ctx, name)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("no key record at %s", name)
		}
		return nil, tempError{fmt.Errorf("key %s: %v", name, err)}
	}
	if len(txts) == 0 {
		return nil, fmt.Errorf("no key record at %s", name)
	}
	// Several records: each is tried on its own, the first usable one is
	// the key (RFC 6376 §3.6.2.2); joined they would be neither.
	var first error
	for k, txt := range txts {
		if k == maxKeyRecords {
			break
		}
		pub, err := v.parseKey(name, txt)
		if err == nil {
			return pub, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

// maxKeyRecords bounds the TXT records tried at one name.
const maxKeyRecords = 8

// parseKey reads one DKIM key record (RFC 6376 §3.6.1).
func (v *verifier) parseKey(name, txt string) (any, error) {
	t, err := parseTags(txt)
	if err != nil {
		return nil, fmt.Errorf("key record at %s: %v", name, err)
	}
	if ver, ok := t.get("v"); ok && ver != "DKIM1" {
		return nil, fmt.Errorf("key record at %s: v=%q", name, ver)
	}
	// h= and s= (RFC 6376 §3.6.1): the key may be limited to other hash
	// algorithms (every ARC algorithm is SHA-256) or other services.
	if h, ok := t.get("h"); ok && !listHas(h, "sha256") {
		return nil, fmt.Errorf("key record at %s allows only h=%s, not sha256", name, stripWSP(h))
	}
	if sv, ok := t.get("s"); ok && !listHas(sv, "*") && !listHas(sv, "email") {
		return nil, fmt.Errorf("key record at %s is for s=%s, not email", name, stripWSP(sv))
	}
	p, ok := t.get("p")
	if !ok {
		return nil, fmt.Errorf("key record at %s has no p=", name)
	}
	p = stripWSP(p)
	if p == "" {
		return nil, fmt.Errorf("the key at %s is revoked (empty p=)", name)
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return nil, fmt.Errorf("key at %s: p= is not base64", name)
	}
	switch k := tag(t, "k"); k {
	case "", "rsa":
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			if rk, err2 := x509.ParsePKCS1PublicKey(der); err2 == nil {
				pub = rk
			} else {
				return nil, fmt.Errorf("key at %s: %v", name, err)
			}
		}
		rk, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("key at %s is not RSA", name)
		}
		if rk.N.BitLen() < v.o.MinRSABits {
			return nil, fmt.Errorf("the key at %s has %d bits, fewer than %d (RFC 8301)", name, rk.N.BitLen(), v.o.MinRSABits)
		}
		return rk, nil
	case "ed25519":
		if len(der) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("key at %s: an ed25519 key is %d bytes", name, ed25519.PublicKeySize)
		}
		return ed25519.PublicKey(der), nil
	default:
		return nil, fmt.Errorf("key at %s: unknown key type k=%q", name, k)
	}
}

// listHas reports whether the colon-separated list l holds v.
func listHas(l, v string) bool {
	for _, e := range strings.Split(stripWSP(l), ":") {
		if strings.EqualFold(e, v) {
			return true
		}
	}
	return false
}

// checkSig verifies sig over the canonical header input h.
func (v *verifier) checkSig(t tagList, input []byte) error {
	a, err := algorithm(tag(t, "a"))
	if err != nil {
		return err
	}
	pub, err := v.key(tag(t, "s"), tag(t, "d"))
	if err != nil {
		return err
	}
	sig, _ := base64.StdEncoding.DecodeString(stripWSP(tag(t, "b")))
	hh := a.newH()
	hh.Write(input)
	sum := hh.Sum(nil)
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if a.ed {
			return fmt.Errorf("a=%s but the key is RSA", tag(t, "a"))
		}
		if err := rsa.VerifyPKCS1v15(k, a.hash, sum, sig); err != nil {
			return fmt.Errorf("signature does not verify")
		}
	case ed25519.PublicKey:
		if !a.ed {
			return fmt.Errorf("a=%s but the key is ed25519", tag(t, "a"))
		}
		if !ed25519.Verify(k, sum, sig) {
			return fmt.Errorf("signature does not verify")
		}
	}
	return nil
}

// verifyAMS checks one AMS like a DKIM signature (RFC 8617 §5.1.2).
func (v *verifier) verifyAMS(s *set) error {
	t := s.amsTags
	if err := v.checkExpiry(t); err != nil {
		return err
	}
	hRelaxed, bRelaxed, _ := canonModes(tagOr(t, "c", "simple/simple"))
	// Body hash.
	body := canonBody(v.body, bRelaxed)
	if l, ok := t.get("l"); ok {
		n, err := strconv.ParseUint(l, 10, 63)
		if err != nil || n > uint64(len(body)) {
			return fmt.Errorf("invalid l=%q", l)
		}
		body = body[:n]
	}
	a, err := algorithm(tag(t, "a"))
	if err != nil {
		return err
	}
	bh := a.newH()
	bh.Write(body)
	want, _ := base64.StdEncoding.DecodeString(stripWSP(tag(t, "bh")))
	if !bytes.Equal(bh.Sum(nil), want) {
		return fmt.Errorf("body hash does not match (the body was changed after instance %d signed it)", s.n)
	}
	// Header hash: the h= fields, each name taking the bottom-most
	// instance not used yet; names with no field left count as empty.
	// The fields are indexed by name once, so a long h= costs its length.
	if v.byName == nil {
		v.byName = map[string][]int{}
		for k := len(v.fields) - 1; k >= 0; k-- {
			n := strings.ToLower(v.fields[k].Name)
			v.byName[n] = append(v.byName[n], k)
		}
	}
	next := map[string]int{}
	var input strings.Builder
	for _, name := range headerList(tag(t, "h")) {
		pos := v.byName[name]
		if next[name] < len(pos) {
			input.WriteString(canonHeader(v.fields[pos[next[name]]].Raw, hRelaxed))
			next[name]++
		}
	}
	self := canonHeader(emptyB(s.ams.Raw), hRelaxed)
	input.WriteString(strings.TrimSuffix(self, "\r\n"))
	return v.checkSig(t, []byte(input.String()))
}

// checkExpiry applies x= (RFC 6376 §3.5, which RFC 8617 §4.1.2 imports
// for the AMS) at the verification time: a signature past its expiry no
// longer validates.
func (v *verifier) checkExpiry(t tagList) error {
	xs, ok := t.get("x")
	if !ok {
		return nil
	}
	x, err := strconv.ParseInt(xs, 10, 64)
	if err != nil || x < 0 {
		return fmt.Errorf("invalid x=%q", xs)
	}
	if ts, ok := t.get("t"); ok {
		if tv, err := strconv.ParseInt(ts, 10, 64); err == nil && x < tv {
			return fmt.Errorf("x=%d is before t=%d", x, tv)
		}
	}
	if v.at.Unix() > x {
		// The verification time is Result.At, which reports show.
		return fmt.Errorf("the signature expired at %s (x=)", time.Unix(x, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

func tagOr(t tagList, k, def string) string {
	if v, ok := t.get(k); ok {
		return v
	}
	return def
}

// verifyAS checks the seal of instance i (RFC 8617 §5.1.1): over the
// AAR, AMS and AS of instances 1..i in that order, relaxed, the last AS
// with its b= emptied and without its CRLF.
func (v *verifier) verifyAS(sets []*set, i int) error {
	var input strings.Builder
	for k := 1; k <= i; k++ {
		s := sets[k-1]
		input.WriteString(canonHeader(s.aar.Raw, true))
		input.WriteString(canonHeader(s.ams.Raw, true))
		if k < i {
			input.WriteString(canonHeader(s.as.Raw, true))
		}
	}
	self := canonHeader(emptyB(sets[i-1].as.Raw), true)
	input.WriteString(strings.TrimSuffix(self, "\r\n"))
	return v.checkSig(sets[i-1].asTags, []byte(input.String()))
}
