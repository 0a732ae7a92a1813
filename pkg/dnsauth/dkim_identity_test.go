package dnsauth_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/pkg/dnsauth"
	"github.com/mailprobe/mailprobe/pkg/report"
)

// signWith signs msg for sign.test with go-msgauth's signer, i= and x=
// as given.
func signWith(t *testing.T, msg string, s signer, identifier string, expires time.Time) string {
	t.Helper()
	var out bytes.Buffer
	err := dkim.Sign(&out, strings.NewReader(msg), &dkim.SignOptions{
		Domain: "sign.test", Selector: s.selector, Signer: s.key, Identifier: identifier, Expiration: expires,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestVerifyDKIM_identity: RFC 6376 §3.5, i= is dkim-quoted-printable and
// its domain is d= or a subdomain of it, compared case-insensitively.
// go-msgauth v0.7.0 calls the first three "domain mismatch".
func TestVerifyDKIM_identity(t *testing.T) {
	key := rsaKey(t, 2048)
	z := dnstest.NewZone()
	z.Add(txtRR("rsa._domainkey.sign.test.", keyRecord(t, key, "")))
	srv := dnstest.Start(t, z)
	s := signer{key, "rsa"}
	cases := []struct {
		i      string
		result dnsauth.DKIMVerdict
		id     string
	}{
		{"User@Sign.TEST", dnsauth.DKIMPass, "User@Sign.TEST"},
		{"user=40sign.test", dnsauth.DKIMPass, "user@sign.test"},
		{"@sub.SIGN.test", dnsauth.DKIMPass, "@sub.SIGN.test"},
		{"user@sign.test", dnsauth.DKIMPass, "user@sign.test"},
		{"user@other.test", dnsauth.DKIMPermError, ""},
		{"user@notsign.test", dnsauth.DKIMPermError, ""}, // a suffix, not a subdomain
		{"user=40other.test", dnsauth.DKIMPermError, ""},
	}
	for _, c := range cases {
		msg := signWith(t, testMessage, s, c.i, time.Time{})
		v, err := dnsauth.VerifyDKIM(context.Background(), newResolver(t, srv), []byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		sig := v.Signatures[0]
		if sig.Result != c.result {
			t.Errorf("i=%s: %s %q, want %s", c.i, sig.Result, sig.Reason, c.result)
		}
		if c.id != "" && sig.Identifier != c.id {
			t.Errorf("i=%s: identifier reported as %q, want %q", c.i, sig.Identifier, c.id)
		}
		if c.result == dnsauth.DKIMPermError && !strings.Contains(sig.Reason, "domain mismatch") {
			t.Errorf("i=%s: reason %q", c.i, sig.Reason)
		}
		// The identity being accepted must not skip the cryptography:
		// the same message altered fails.
		if c.result == dnsauth.DKIMPass {
			alt := strings.Replace(msg, "token=abc", "token=abd", 1)
			v, _ := dnsauth.VerifyDKIM(context.Background(), newResolver(t, srv), []byte(alt))
			if got := v.Signatures[0]; got.Result != dnsauth.DKIMFail || !strings.Contains(got.Reason, "body hash") {
				t.Errorf("i=%s, body altered: %s %q", c.i, got.Result, got.Reason)
			}
			alt = strings.Replace(msg, "Subject: Reset", "Subject: RESET", 1)
			v, _ = dnsauth.VerifyDKIM(context.Background(), newResolver(t, srv), []byte(alt))
			if got := v.Signatures[0]; got.Result != dnsauth.DKIMFail || !strings.Contains(got.Reason, "signature did not verify") {
				t.Errorf("i=%s, header altered: %s %q", c.i, got.Result, got.Reason)
			}
		}
	}
}

// TestVerifyDKIM_identityCorpus: Mail::DKIM's i= cases. good_qp_2
// (i=jlong@messiah=2Eedu), good_qp_3 (i=jlong=40messiah.edu) and
// good_rfc4871_4 (i=JLong@Messiah.Edu) have valid identities; their
// 512-bit rsa-sha1 signatures are then refused by RFC 8301, not by i=.
// ignore_8 (i=jon@example.org, d=messiah.edu) is a real mismatch.
func TestVerifyDKIM_identityCorpus(t *testing.T) {
	srv := dnstest.Start(t, fakeDNSZone(t))
	for file, want := range map[string]string{
		"good_qp_2.txt":      "jlong@messiah.edu",
		"good_qp_3.txt":      "jlong@messiah.edu",
		"good_rfc4871_4.txt": "JLong@Messiah.Edu",
		"ignore_8.txt":       "",
	} {
		msg, err := os.ReadFile(filepath.Join(dkimCorpus, "corpus", file))
		if err != nil {
			t.Fatal(err)
		}
		v, err := dnsauth.VerifyDKIM(context.Background(), newResolver(t, srv), msg)
		if err != nil {
			t.Fatal(err)
		}
		s := v.Signatures[0]
		if want == "" {
			if !strings.Contains(s.Reason, "domain mismatch") {
				t.Errorf("%s: %s %q, want domain mismatch", file, s.Result, s.Reason)
			}
			continue
		}
		if strings.Contains(s.Reason, "domain mismatch") || s.Identifier != want {
			t.Errorf("%s: %s %q identity %q, want the i= accepted as %q", file, s.Result, s.Reason, s.Identifier, want)
		}
		if s.Rule == "" || !strings.HasPrefix(s.Rule, "RFC 8301") {
			t.Errorf("%s: refused by %q (%s), want an RFC 8301 rule", file, s.Rule, s.Reason)
		}
	}
}

// TestVerifyDKIM_at: x= is judged at the time given, not the clock.
func TestVerifyDKIM_at(t *testing.T) {
	key := rsaKey(t, 2048)
	z := dnstest.NewZone()
	z.Add(txtRR("rsa._domainkey.sign.test.", keyRecord(t, key, "")))
	srv := dnstest.Start(t, z)
	s := signer{key, "rsa"}
	ctx := context.Background()
	now := time.Now()
	past := now.Add(-time.Hour).Truncate(time.Second)
	expired := signWith(t, testMessage, s, "", past)
	// Now: expired, with its own finding.
	v, _ := dnsauth.VerifyDKIM(ctx, newResolver(t, srv), []byte(expired))
	if sig := v.Signatures[0]; sig.Result != dnsauth.DKIMPermError || !strings.Contains(sig.Reason, "expired") {
		t.Errorf("expired now: %+v", sig)
	}
	if _, ok := find(v.Findings(), "dkim.signature.expired"); !ok {
		t.Errorf("no dkim.signature.expired: %v", codes(v.Findings()))
	}
	// Before x=: it verifies, and the report says when it was judged.
	at := past.Add(-time.Minute)
	v, _ = dnsauth.VerifyDKIMAt(ctx, newResolver(t, srv), []byte(expired), at)
	if sig := v.Signatures[0]; sig.Result != dnsauth.DKIMPass || !sig.Expires.Equal(past) {
		t.Errorf("at %s: %+v", at, sig)
	}
	// ... and an altered copy still fails.
	v, _ = dnsauth.VerifyDKIMAt(ctx, newResolver(t, srv), []byte(strings.Replace(expired, "token=abc", "token=x", 1)), at)
	if sig := v.Signatures[0]; sig.Result != dnsauth.DKIMFail {
		t.Errorf("altered, at %s: %+v", at, sig)
	}
	// A signature valid now, judged after its x=, has expired.
	future := now.Add(time.Hour).Truncate(time.Second)
	fresh := signWith(t, testMessage, s, "", future)
	v, _ = dnsauth.VerifyDKIMAt(ctx, newResolver(t, srv), []byte(fresh), future.Add(time.Minute))
	if sig := v.Signatures[0]; sig.Result != dnsauth.DKIMPermError || !strings.Contains(sig.Reason, "expired") {
		t.Errorf("after x=: %+v", sig)
	}
	// Judged before it was signed (t=): a note says so.
	v, _ = dnsauth.VerifyDKIMAt(ctx, newResolver(t, srv), []byte(fresh), now.Add(-24*time.Hour))
	if f, ok := find(v.Findings(), "dkim.signature.pass"); !ok || !strings.Contains(fmt.Sprint(f.Evidence), "from the future") {
		t.Errorf("before t=: %v %+v", codes(v.Findings()), f.Evidence)
	}
	// The report names the time used.
	rep, err := dnsauth.DKIMVerifyReport(ctx, dnsauth.DKIMVerifyOptions{Resolver: newResolver(t, srv), Name: "m.eml", Message: []byte(expired), At: at})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Has("dkim.signature.pass") || !strings.Contains(rep.Stages[0].Summary, at.UTC().Format(time.RFC3339)) {
		t.Errorf("report at %s: %v %q", at, codes(rep.Findings), rep.Stages[0].Summary)
	}
	// dmarc --message takes the same time.
	z2 := dnstest.NewZone()
	z2.Add(txtRR("rsa._domainkey.sign.test.", keyRecord(t, key, "")))
	z2.Add(txtRR("_dmarc.sign.test.", "v=DMARC1; p=reject"))
	srv2 := dnstest.Start(t, z2)
	rep, _ = dnsauth.DMARCReport(ctx, dnsauth.DMARCOptions{Resolver: newResolver(t, srv2), Message: []byte(expired), At: at})
	if !rep.Has("dmarc.result.pass") {
		t.Errorf("dmarc at %s: %v", at, codes(rep.Findings))
	}
	rep, _ = dnsauth.DMARCReport(ctx, dnsauth.DMARCOptions{Resolver: newResolver(t, srv2), Message: []byte(expired)})
	if !rep.Has("dmarc.result.fail") || rep.ExitCode(report.Fail) != report.ExitFindings {
		t.Errorf("dmarc now: %v", codes(rep.Findings))
	}
}

// TestVerifyDKIM_rfc8301: rsa-sha1 and RSA keys under 1024 bits have
// their own findings, apart from broken signatures, and the key size is
// one figure.
func TestVerifyDKIM_rfc8301(t *testing.T) {
	srv := dnstest.Start(t, fakeDNSZone(t))
	for file, code := range map[string]string{
		"good_83176.txt": "dkim.signature.sha1",     // rsa-sha1, 1024-bit key
		"badkey_11.txt":  "dkim.signature.weak-key", // 512-bit key, h=sha1 record
		"goodkey_2.txt":  "dkim.signature.weak-key",
		"goodkey_1.txt":  "dkim.signature.weak-key",
	} {
		msg, err := os.ReadFile(filepath.Join(dkimCorpus, "corpus", file))
		if err != nil {
			t.Fatal(err)
		}
		v, err := dnsauth.VerifyDKIM(context.Background(), newResolver(t, srv), msg)
		if err != nil {
			t.Fatal(err)
		}
		f, ok := find(v.Findings(), code)
		if !ok {
			t.Errorf("%s: no %s: %v", file, code, codes(v.Findings()))
			continue
		}
		if !strings.Contains(f.Detail, "RFC 8301") || strings.Contains(f.Detail, " 0 bits") {
			t.Errorf("%s: %s", file, f.Detail)
		}
		if code == "dkim.signature.weak-key" && strings.Count(f.Detail, "512 bits") < 1 {
			t.Errorf("%s: key size not 512 bits: %s", file, f.Detail)
		}
		if _, ok := find(v.Findings(), "dkim.signature.permerror"); ok {
			t.Errorf("%s: also a generic permerror: %v", file, codes(v.Findings()))
		}
	}
}

// TestVerifyOwn_agreesWithGoMsgauth: mailprobe's verifier, used where
// go-msgauth's i= and x= checks are wrong, gives go-msgauth's verdict on
// every signature go-msgauth judges: generated ones and the corpus.
func TestVerifyOwn_agreesWithGoMsgauth(t *testing.T) {
	rsa2048 := rsaKey(t, 2048)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	z := fakeDNSZone(t)
	z.Add(txtRR("rsa._domainkey.sign.test.", keyRecord(t, rsa2048, "")))
	z.Add(txtRR("ed._domainkey.sign.test.", keyRecord(t, ed, "")))
	z.Add(txtRR("other._domainkey.sign.test.", keyRecord(t, rsaKey(t, 2048), "")))
	srv := dnstest.Start(t, z)
	msgs := map[string][]byte{}
	for _, sel := range []string{"rsa", "ed", "other", "nokey"} {
		k := signer{rsa2048, sel}
		if sel == "ed" {
			k = signer{ed, sel}
		}
		m := sign(t, testMessage, k, "")
		msgs[sel] = []byte(m)
		msgs[sel+" body"] = []byte(strings.Replace(m, "token=abc", "token=abd", 1))
		msgs[sel+" header"] = []byte(strings.Replace(m, "Subject: Reset", "Subject:  Reset", 1))
		msgs[sel+" LF"] = []byte(strings.ReplaceAll(m, "\r\n", "\n"))
		var simple bytes.Buffer
		if err := dkim.Sign(&simple, strings.NewReader(testMessage+"\r\n\r\n"), &dkim.SignOptions{Domain: "sign.test", Selector: sel, Signer: k.key}); err != nil {
			t.Fatal(err)
		}
		msgs[sel+" simple"] = simple.Bytes()
		msgs[sel+" simple altered"] = bytes.Replace(simple.Bytes(), []byte("Subject: Reset"), []byte("Subject:  Reset"), 1)
	}
	files, _ := filepath.Glob(filepath.Join(dkimCorpus, "corpus", "*.txt"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		msgs[filepath.Base(f)] = b
	}
	compared := 0
	for name, msg := range msgs {
		v, err := dnsauth.VerifyDKIM(context.Background(), newResolver(t, srv), msg)
		if err != nil {
			t.Fatal(err)
		}
		own := dnsauth.VerifyOwnForTest(newResolver(t, srv), msg, time.Now())
		if len(own) != len(v.Signatures) {
			t.Errorf("%s: %d signatures, go-msgauth %d", name, len(own), len(v.Signatures))
			continue
		}
		for i, s := range v.Signatures {
			if s.Verifier != "" {
				continue // judged by the own verifier already
			}
			compared++
			if own[i] != s.Result {
				t.Errorf("%s signature %d: own %s, go-msgauth %s (%s)", name, i+1, own[i], s.Result, s.Reason)
			}
		}
	}
	if compared < 50 {
		t.Errorf("only %d signatures compared", compared)
	}
}

// TestVerifyDKIMAt_malformed: broken tags reach mailprobe's own verifier
// (--at forces it) and give a verdict with a reason, never a panic.
func TestVerifyDKIMAt_malformed(t *testing.T) {
	key := rsaKey(t, 2048)
	z := dnstest.NewZone()
	z.Add(txtRR("rsa._domainkey.sign.test.", keyRecord(t, key, "")))
	srv := dnstest.Start(t, z)
	msg := signWith(t, testMessage, signer{key, "rsa"}, "u@sign.test", time.Now().Add(time.Hour))
	at := time.Now()
	for _, c := range []struct{ from, to string }{
		{"i=u@sign.test", "i=u=4"},
		{"i=u@sign.test", "i=u=ZZ@sign.test"},
		{"i=u@sign.test", "i=nodomain"},
		{"x=", "x=abc; y="},
		{"bh=", "bh=!!!; z="},
		{"a=rsa-sha256", "a=rsa"},
		{"c=relaxed/relaxed", "c=fancy/relaxed"},
		{"h=", "h=to:"},
		{"s=rsa", "s=missing"},
		{"d=sign.test", "d=sign.test; l=10"},
	} {
		bad := strings.Replace(msg, c.from, c.to, 1)
		v, err := dnsauth.VerifyDKIMAt(context.Background(), newResolver(t, srv), []byte(bad), at)
		if err != nil {
			t.Errorf("%s: %v", c.to, err)
			continue
		}
		if s := v.Signatures[0]; s.Result == dnsauth.DKIMPass || s.Reason == "" {
			t.Errorf("%s: %s %q", c.to, s.Result, s.Reason)
		}
	}
	// A message without a body separator.
	if _, err := dnsauth.VerifyDKIMAt(context.Background(), newResolver(t, srv), []byte(strings.Split(msg, "\r\n\r\n")[0]), at); err != nil {
		t.Logf("header only: %v", err)
	}
}
