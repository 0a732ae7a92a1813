package dnsauth_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/pkg/dnsauth"
)

// Messages signed in the test with go-msgauth, then altered, verified
// through the loopback DNS server.

type signer struct {
	key      crypto.Signer
	selector string
}

func rsaKey(t *testing.T, bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keyRecord(t *testing.T, k crypto.Signer, extra string) string {
	switch pub := k.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return "v=DKIM1; k=rsa; " + extra + "p=" + base64.StdEncoding.EncodeToString(der)
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; " + extra + "p=" + base64.StdEncoding.EncodeToString(pub)
	}
	t.Fatalf("unknown key %T", k)
	return ""
}

const testMessage = "From: Alice <alice@sign.test>\r\n" +
	"To: Bob <bob@example.net>\r\n" +
	"Subject: Reset your password\r\n" +
	"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n" +
	"Message-ID: <1@sign.test>\r\n" +
	"\r\n" +
	"Your reset link: https://sign.test/reset?token=abc\r\n"

func sign(t *testing.T, msg string, s signer, identifier string) string {
	t.Helper()
	var out bytes.Buffer
	err := dkim.Sign(&out, strings.NewReader(msg), &dkim.SignOptions{
		Domain: "sign.test", Selector: s.selector, Signer: s.key, Identifier: identifier,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestVerifyDKIM_signedAndAltered(t *testing.T) {
	rsa2048, rsa1024 := rsaKey(t, 2048), rsaKey(t, 1024)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	z := dnstest.NewZone()
	add := func(sel, rec string) { z.Add(txtRR(sel+"._domainkey.sign.test.", rec)) }
	add("rsa", keyRecord(t, rsa2048, ""))
	add("short", keyRecord(t, rsa1024, ""))
	add("ed", keyRecord(t, ed, ""))
	add("strict", keyRecord(t, rsa2048, "t=s; "))
	add("testing", keyRecord(t, rsa2048, "t=y; "))
	add("revoked", "v=DKIM1; k=rsa; p=")
	add("other", keyRecord(t, rsaKey(t, 2048), "")) // a key that is not the signer's
	z.Mark("servfail._domainkey.sign.test.", 0, dnstest.ServFail)
	z.Mark("timeout._domainkey.sign.test.", 0, dnstest.Timeout)
	srv := dnstest.Start(t, z)

	alterBody := func(m string) string { return strings.Replace(m, "token=abc", "token=abd", 1) }
	alterHeader := func(m string) string { return strings.Replace(m, "Subject: Reset", "Subject: RESET!", 1) }
	toLF := func(m string) string { return strings.ReplaceAll(m, "\r\n", "\n") }
	cases := []struct {
		name   string
		msg    string
		result dnsauth.DKIMVerdict
		reason string
	}{
		{"rsa 2048", sign(t, testMessage, signer{rsa2048, "rsa"}, ""), dnsauth.DKIMPass, ""},
		{"rsa 1024", sign(t, testMessage, signer{rsa1024, "short"}, ""), dnsauth.DKIMPass, ""},
		{"ed25519", sign(t, testMessage, signer{ed, "ed"}, ""), dnsauth.DKIMPass, ""},
		{"testing key", sign(t, testMessage, signer{rsa2048, "testing"}, ""), dnsauth.DKIMPass, ""},
		{"LF line ends", toLF(sign(t, testMessage, signer{rsa2048, "rsa"}, "")), dnsauth.DKIMPass, ""},
		{"body altered", alterBody(sign(t, testMessage, signer{rsa2048, "rsa"}, "")), dnsauth.DKIMFail, "body hash did not verify"},
		{"header altered", alterHeader(sign(t, testMessage, signer{rsa2048, "rsa"}, "")), dnsauth.DKIMFail, "signature did not verify"},
		{"ed25519 body altered", alterBody(sign(t, testMessage, signer{ed, "ed"}, "")), dnsauth.DKIMFail, "body hash"},
		{"wrong key published", sign(t, testMessage, signer{rsa2048, "other"}, ""), dnsauth.DKIMFail, "signature did not verify"},
		{"revoked", sign(t, testMessage, signer{rsa2048, "revoked"}, ""), dnsauth.DKIMPermError, "key revoked"},
		{"missing key", sign(t, testMessage, signer{rsa2048, "nokey"}, ""), dnsauth.DKIMPermError, "NXDOMAIN"},
		{"t=s with subdomain i=", sign(t, testMessage, signer{rsa2048, "strict"}, "alice@sub.sign.test"), dnsauth.DKIMPermError, "t=s"},
		{"t=s with exact i=", sign(t, testMessage, signer{rsa2048, "strict"}, "alice@sign.test"), dnsauth.DKIMPass, ""},
		{"SERVFAIL", sign(t, testMessage, signer{rsa2048, "servfail"}, ""), dnsauth.DKIMTempError, "SERVFAIL"},
		{"timeout", sign(t, testMessage, signer{rsa2048, "timeout"}, ""), dnsauth.DKIMTempError, "timed out"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := dnsauth.VerifyDKIM(context.Background(), newResolver(t, srv), []byte(c.msg))
			if err != nil {
				t.Fatal(err)
			}
			if len(v.Signatures) != 1 {
				t.Fatalf("%d signatures", len(v.Signatures))
			}
			s := v.Signatures[0]
			if s.Result != c.result || !strings.Contains(s.Reason, c.reason) {
				t.Errorf("%s %q, want %s containing %q", s.Result, s.Reason, c.result, c.reason)
			}
			if s.Domain != "sign.test" || s.Selector == "" || s.Algorithm == "" {
				t.Errorf("signature identity not reported: %+v", s)
			}
			code := "dkim.signature." + string(c.result)
			if _, ok := find(v.Findings(), code); !ok {
				t.Errorf("no %s finding: %v", code, codes(v.Findings()))
			}
		})
	}

	// Two signatures, one good and one broken: each gets its own result,
	// in header order.
	both := sign(t, sign(t, testMessage, signer{rsa2048, "rsa"}, ""), signer{ed, "revoked"}, "")
	v, err := dnsauth.VerifyDKIM(context.Background(), newResolver(t, srv), []byte(both))
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Signatures) != 2 || v.Signatures[0].Result != dnsauth.DKIMPermError || v.Signatures[1].Result != dnsauth.DKIMPass || !v.Pass() {
		t.Errorf("two signatures: %+v", v.Signatures)
	}
	if v.Signatures[1].KeyType != "rsa" || v.Signatures[1].KeyBits != 2048 {
		t.Errorf("key not reported: %+v", v.Signatures[1])
	}
	if got := v.PassingDomains(); len(got) != 1 || got[0] != "sign.test" {
		t.Errorf("passing domains %v", got)
	}

	// Unsigned.
	v, _ = dnsauth.VerifyDKIM(context.Background(), newResolver(t, srv), []byte(testMessage))
	if _, ok := find(v.Findings(), "dkim.signature.missing"); !ok || len(v.Signatures) != 0 {
		t.Errorf("unsigned: %v", codes(v.Findings()))
	}
}

func TestDKIMVerifyReport_alignment(t *testing.T) {
	rsa2048 := rsaKey(t, 2048)
	z := dnstest.NewZone()
	z.Add(txtRR("rsa._domainkey.sign.test.", keyRecord(t, rsa2048, "")))
	z.Add(txtRR("_dmarc.sign.test.", "v=DMARC1; p=reject"))
	srv := dnstest.Start(t, z)
	msg := sign(t, testMessage, signer{rsa2048, "rsa"}, "")
	rep, err := dnsauth.DMARCReport(context.Background(), dnsauth.DMARCOptions{Resolver: newResolver(t, srv), Message: []byte(msg)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Target != "sign.test" || !rep.Has("dmarc.result.pass") || !rep.Has("dkim.signature.pass") {
		t.Errorf("target %s codes %v", rep.Target, codes(rep.Findings))
	}
	rep, _ = dnsauth.DMARCReport(context.Background(), dnsauth.DMARCOptions{Resolver: newResolver(t, srv), Message: []byte(strings.Replace(msg, "token=abc", "token=x", 1))})
	if !rep.Has("dmarc.result.fail") || rep.Findings[0].Code != "dmarc.result.fail" {
		t.Errorf("altered: %v", codes(rep.Findings))
	}
}
