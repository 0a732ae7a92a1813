package arc

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// A test sealer: ed25519-sha256 (RFC 8463) sets made with this package's
// canonicalization, for chains the suite has no message for. The suite
// anchors the canonicalization itself; these tests are about the rules
// applied to a chain (RFC 8617 §5.2), the verification time and the
// bounds.

var testSeed = sha256.Sum256([]byte("mailprobe arc test key"))

var testKey = ed25519.NewKeyFromSeed(testSeed[:])

const testDomain = "seal.example"

func testLookup() func(context.Context, string) ([]string, error) {
	rec := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(testKey.Public().(ed25519.PublicKey))
	return lookupFrom(map[string]string{"t._domainkey." + testDomain: rec})
}

func sign(input string) string {
	sum := sha256.Sum256([]byte(input))
	return base64.StdEncoding.EncodeToString(ed25519.Sign(testKey, sum[:]))
}

type hop struct {
	cv       string // cv= of the seal
	amsExtra string // tags added to the AMS, e.g. "x=1000; "
}

// seal adds one ARC set on top of msg (CRLF line ends) and returns the
// new message.
func seal(t *testing.T, msg string, h hop) string {
	t.Helper()
	fields, body, err := splitMessage([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	sets, err := collect(fields)
	if err != nil {
		t.Fatal(err)
	}
	i := len(sets) + 1
	aar := fmt.Sprintf("ARC-Authentication-Results: i=%d; mx.%s; spf=pass smtp.mailfrom=example.com", i, testDomain)
	bh := sha256.Sum256(canonBody(body, true))
	ams := fmt.Sprintf("ARC-Message-Signature: i=%d; a=ed25519-sha256; c=relaxed/relaxed; d=%s; s=t; %sh=from:subject; bh=%s; b=",
		i, testDomain, h.amsExtra, base64.StdEncoding.EncodeToString(bh[:]))
	var in strings.Builder
	for _, name := range []string{"from", "subject"} {
		for k := len(fields) - 1; k >= 0; k-- {
			if strings.EqualFold(fields[k].Name, name) {
				in.WriteString(canonHeader(fields[k].Raw, true))
				break
			}
		}
	}
	in.WriteString(strings.TrimSuffix(canonHeader(ams, true), "\r\n"))
	ams += sign(in.String())
	in.Reset()
	for _, s := range sets {
		in.WriteString(canonHeader(s.aar.Raw, true) + canonHeader(s.ams.Raw, true) + canonHeader(s.as.Raw, true))
	}
	as := fmt.Sprintf("ARC-Seal: i=%d; a=ed25519-sha256; cv=%s; d=%s; s=t; t=1700000000; b=", i, h.cv, testDomain)
	in.WriteString(canonHeader(aar, true) + canonHeader(ams, true))
	in.WriteString(strings.TrimSuffix(canonHeader(as, true), "\r\n"))
	as += sign(in.String())
	return as + "\r\n" + ams + "\r\n" + aar + "\r\n" + msg
}

const baseMsg = "From: Alice <alice@example.com>\r\nSubject: reset your password\r\nTo: bob@example.net\r\n\r\nHello,\r\nthe link.\r\n"

func chain(t *testing.T, hops ...hop) string {
	m := baseMsg
	for _, h := range hops {
		m = seal(t, m, h)
	}
	return m
}

func verifyAt(msg string, at time.Time) *Result {
	return Verify(context.Background(), []byte(msg), Options{LookupTXT: testLookup(), At: at})
}

// The test sealer makes chains that validate (ed25519-sha256, RFC 8463).
func TestSealedChainPasses(t *testing.T) {
	r := verifyAt(chain(t, hop{cv: "none"}, hop{cv: "pass"}, hop{cv: "pass"}), time.Time{})
	if r.Status != Pass || r.OldestPass != 1 || len(r.Instances) != 3 {
		t.Fatalf("cv=%s oldest-pass=%d instances=%d (%s)", r.Status, r.OldestPass, len(r.Instances), r.Reason)
	}
	// A changed body after the last hop breaks its AMS.
	m := chain(t, hop{cv: "none"}, hop{cv: "pass"})
	r = verifyAt(strings.Replace(m, "the link.", "the l1nk.", 1), time.Time{})
	if r.Status != Fail || r.Broken != 2 || r.Instances[1].AMSResult != "fail" {
		t.Fatalf("modified body: cv=%s broken=%d (%s)", r.Status, r.Broken, r.Reason)
	}
}

// RFC 8617 §5.2 step 3: every seal after the first says cv=pass. A
// cv=fail on an older seal breaks the structure even when every
// signature verifies; on the newest seal it ends the chain (step 2).
func TestOlderSealWithCVFail(t *testing.T) {
	r := verifyAt(chain(t, hop{cv: "none"}, hop{cv: "fail"}, hop{cv: "pass"}), time.Time{})
	if r.Status != Fail || r.Broken != 2 || !strings.Contains(r.Reason, "cv=fail") {
		t.Fatalf("cv=%s broken=%d (%s)", r.Status, r.Broken, r.Reason)
	}
	if codes := findingCodes(r); codes != "arc.structure.invalid" {
		t.Errorf("findings %s", codes)
	}
	r = verifyAt(chain(t, hop{cv: "none"}, hop{cv: "fail"}), time.Time{})
	if r.Status != Fail || !r.SealedFail || r.Broken != 2 {
		t.Fatalf("newest cv=fail: cv=%s sealed-fail=%v broken=%d (%s)", r.Status, r.SealedFail, r.Broken, r.Reason)
	}
	if codes := findingCodes(r); codes != "arc.chain.sealed-fail" {
		t.Errorf("findings %s", codes)
	}
}

func findingCodes(r *Result) string {
	var c []string
	for _, f := range r.Findings("arc") {
		c = append(c, f.Code)
	}
	return strings.Join(c, " ")
}

// x= on an AMS (RFC 6376 §3.5 by RFC 8617 §4.1.2) is judged at
// Options.At: the same message passes before its expiry and fails after.
func TestAMSExpiry(t *testing.T) {
	x := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := chain(t, hop{cv: "none", amsExtra: fmt.Sprintf("t=1700000000; x=%d; ", x.Unix())})
	if r := verifyAt(m, x.Add(-time.Hour)); r.Status != Pass {
		t.Fatalf("before x=: cv=%s (%s)", r.Status, r.Reason)
	}
	r := verifyAt(m, x.Add(time.Hour))
	if r.Status != Fail || r.Broken != 1 || !strings.Contains(r.Instances[0].AMSError, "expired") {
		t.Fatalf("after x=: cv=%s broken=%d (%s)", r.Status, r.Broken, r.Reason)
	}
	if codes := findingCodes(r); codes != "arc.ams.fail" {
		t.Errorf("findings %s", codes)
	}
	// An older AMS past its expiry no longer counts for oldest-pass.
	m = seal(t, m, hop{cv: "pass"})
	if r := verifyAt(m, x.Add(time.Hour)); r.Status != Pass || r.OldestPass != 2 || r.Instances[0].AMSResult != "fail" {
		t.Fatalf("expired older AMS: cv=%s oldest-pass=%d (%s)", r.Status, r.OldestPass, r.Reason)
	}
	// x= before t= is not a valid signature.
	m = chain(t, hop{cv: "none", amsExtra: "t=1700000000; x=1600000000; "})
	if r := verifyAt(m, time.Unix(1500000000, 0)); r.Status != Fail || !strings.Contains(r.Reason, "before t=") {
		t.Fatalf("x<t: cv=%s (%s)", r.Status, r.Reason)
	}
}

// An ARC field longer than MaxFieldSize is refused before anything is
// hashed or looked up.
func TestOversizedField(t *testing.T) {
	m := chain(t, hop{cv: "none"})
	huge := "ARC-Authentication-Results: i=1; mx.example;" + strings.Repeat("\r\n spf=pass", MaxFieldSize/10)
	m = strings.Replace(m, "ARC-Authentication-Results: i=1; mx."+testDomain+"; spf=pass smtp.mailfrom=example.com", huge, 1)
	calls := 0
	r := Verify(context.Background(), []byte(m), Options{LookupTXT: func(context.Context, string) ([]string, error) {
		calls++
		return nil, ErrNotFound
	}})
	if r.Status != Fail || !strings.Contains(r.Reason, "bytes") || calls != 0 {
		t.Fatalf("cv=%s (%s), %d lookups", r.Status, r.Reason, calls)
	}
}

// A long h= (names signed many times over, names absent) among 2000
// header fields is read through to the signature check, quickly. The
// selection is indexed by name; this bounds the time loosely (5 s), it is
// not a benchmark.
func TestLongHeaderList(t *testing.T) {
	var b strings.Builder
	for k := 0; k < maxHeaderFields-10; k++ {
		fmt.Fprintf(&b, "X-Filler-%d: x\r\n", k)
	}
	names := strings.Repeat("from:x-absent:", (MaxFieldSize-200)/14)
	msg := "ARC-Message-Signature: i=1; a=ed25519-sha256; d=" + testDomain + "; s=t; h=" + names + "from; bh=AAAA; b=AAAA\r\n" +
		"ARC-Seal: i=1; a=ed25519-sha256; cv=none; d=" + testDomain + "; s=t; b=AAAA\r\n" +
		"ARC-Authentication-Results: i=1; mx.example; none\r\n" + b.String() + baseMsg
	start := time.Now()
	r := verifyAt(msg, time.Time{})
	if r.Status != Fail || r.Broken != 1 {
		t.Fatalf("cv=%s broken=%d (%s)", r.Status, r.Broken, r.Reason)
	}
	fields, _, _ := splitMessage([]byte(msg))
	s, _ := collect(fields)
	v := &verifier{ctx: context.Background(), o: Options{LookupTXT: testLookup()}, fields: fields, at: time.Now(), keys: map[string]keyResult{}}
	// Body hash aside, the header selection runs: make the body match.
	bh := sha256.Sum256(canonBody(nil, false))
	s[0].amsTags.vals["bh"] = base64.StdEncoding.EncodeToString(bh[:])
	if err := v.verifyAMS(s[0]); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("verifyAMS: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestTable(t *testing.T) {
	m := chain(t, hop{cv: "none"}, hop{cv: "pass"})
	r := verifyAt(strings.Replace(m, "the link.", "the l1nk.", 1), time.Time{})
	tab := r.Table()
	if len(tab) != 2 || !strings.Contains(tab["i=02"], "AMS seal.example (s=t): fail (body hash") ||
		!strings.Contains(tab["i=02"], "broke the chain") || !strings.Contains(tab["i=01"], "cv=none: unchecked") {
		t.Errorf("table %q", tab)
	}
	if tab := verifyAt(baseMsg, time.Time{}).Table(); tab != nil {
		t.Errorf("no chain: %q", tab)
	}
}

// testdata/expiring-i2.eml is a two-hop chain from the test sealer whose
// newest AMS expires at 2026-01-01T00:00:00Z (x=1767225600): the CLI's
// --at test reads it. ed25519 signatures are deterministic, so the file
// is exactly what the sealer makes (go test -run TestExpiringFixture
// -update-fixture rewrites it).
func TestExpiringFixture(t *testing.T) {
	m := chain(t, hop{cv: "none"}, hop{cv: "pass", amsExtra: "t=1700000000; x=1767225600; "})
	path := "testdata/expiring-i2.eml"
	if *updateFixture {
		if err := os.WriteFile(path, []byte(m), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != m {
		t.Fatalf("%s differs from what the test sealer makes (%v)", path, err)
	}
	if r := verifyAt(m, time.Unix(1767225600, 0)); r.Status != Pass {
		t.Errorf("at x=: cv=%s (%s)", r.Status, r.Reason)
	}
	if r := verifyAt(m, time.Unix(1767225601, 0)); r.Status != Fail || r.Broken != 2 {
		t.Errorf("after x=: cv=%s (%s)", r.Status, r.Reason)
	}
	t.Logf("key record: %s", "v=DKIM1; k=ed25519; p="+base64.StdEncoding.EncodeToString(testKey.Public().(ed25519.PublicKey)))
}

var updateFixture = flag.Bool("update-fixture", false, "rewrite testdata/expiring-i2.eml")

// A key record limited to another hash (h=) or service (s=) does not
// validate an ARC signature (RFC 6376 §3.6.1).
func TestKeyRecordRestrictions(t *testing.T) {
	m := chain(t, hop{cv: "none"})
	p := base64.StdEncoding.EncodeToString(testKey.Public().(ed25519.PublicKey))
	for rec, want := range map[string]string{
		"v=DKIM1; k=ed25519; h=sha256; s=email; p=" + p:   "",
		"v=DKIM1; k=ed25519; h=sha1:sha256; s=*; p=" + p:  "",
		"v=DKIM1; k=ed25519; h=sha1; p=" + p:              "allows only h=sha1",
		"v=DKIM1; k=ed25519; s=tlsrpt; p=" + p:            "not email",
		"v=DKIM1; k=rsa; p=" + p:                          "key at t._domainkey.seal.example",
		"v=DKIM1; k=ed25519; p=":                          "revoked",
		"v=DKIM2; k=ed25519; p=" + p:                      `v="DKIM2"`,
		"v=DKIM1; k=ed25519; p=" + p[:20]:                 "ed25519 key is 32 bytes",
		"v=DKIM1; k=ed25519; p=" + p + "; p=" + p:         "appears twice",
		"v=DKIM1; k=ed25519; h=sha256; s=email:*; p=" + p: "",
	} {
		r := Verify(context.Background(), []byte(m), Options{LookupTXT: lookupFrom(map[string]string{"t._domainkey." + testDomain: rec})})
		if want == "" {
			if r.Status != Pass {
				t.Errorf("%s: cv=%s (%s)", rec, r.Status, r.Reason)
			}
			continue
		}
		if r.Status != Fail || r.TempError || !strings.Contains(r.Reason, want) {
			t.Errorf("%s: cv=%s (%s), want fail with %q", rec, r.Status, r.Reason, want)
		}
	}
}

// Several TXT records at the key's name: each is read on its own and the
// usable one is the key (RFC 6376 §3.6.2.2).
func TestSeveralKeyRecords(t *testing.T) {
	m := chain(t, hop{cv: "none"})
	good := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(testKey.Public().(ed25519.PublicKey))
	lookup := func(recs ...string) func(context.Context, string) ([]string, error) {
		return func(context.Context, string) ([]string, error) { return recs, nil }
	}
	if r := Verify(context.Background(), []byte(m), Options{LookupTXT: lookup("v=spf1 -all", good)}); r.Status != Pass {
		t.Errorf("unrelated record first: cv=%s (%s)", r.Status, r.Reason)
	}
	if r := Verify(context.Background(), []byte(m), Options{LookupTXT: lookup("v=DKIM1; k=ed25519; p=", "junk")}); r.Status != Fail || !strings.Contains(r.Reason, "revoked") {
		t.Errorf("no usable record: cv=%s (%s)", r.Status, r.Reason)
	}
}

// 50 sets is the most a chain may have (RFC 8617 §4.2.1): 50 valid sets
// pass, a 51st makes the chain fail before any key is fetched.
func TestFiftySets(t *testing.T) {
	hops := []hop{{cv: "none"}}
	for len(hops) < MaxInstances {
		hops = append(hops, hop{cv: "pass"})
	}
	m := chain(t, hops...)
	r := verifyAt(m, time.Time{})
	if r.Status != Pass || len(r.Instances) != MaxInstances || r.OldestPass != 1 {
		t.Fatalf("50 sets: cv=%s instances=%d oldest-pass=%d (%s)", r.Status, len(r.Instances), r.OldestPass, r.Reason)
	}
	// A 51st set, signed like the others (the sealer's collect would
	// refuse the chain, so it is added by hand).
	m = "ARC-Seal: i=51; a=ed25519-sha256; cv=pass; d=seal.example; s=t; b=AAAA\r\n" +
		"ARC-Message-Signature: i=51; a=ed25519-sha256; d=seal.example; s=t; h=from; bh=AAAA; b=AAAA\r\n" +
		"ARC-Authentication-Results: i=51; mx.seal.example; none\r\n" + m
	calls := 0
	r = Verify(context.Background(), []byte(m), Options{LookupTXT: func(ctx context.Context, n string) ([]string, error) {
		calls++
		return testLookup()(ctx, n)
	}})
	if r.Status != Fail || !strings.Contains(r.Reason, "at most 50") || calls != 0 {
		t.Fatalf("51 sets: cv=%s (%s), %d lookups", r.Status, r.Reason, calls)
	}
}
