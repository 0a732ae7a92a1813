package dkimkey

import (
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/mailprobe/mailprobe/pkg/dnsauth"
)

const msg = "From: a@example.com\r\nTo: b@example.org\r\nSubject: hi\r\nDate: Fri, 04 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n\r\nbody\r\n"

// A generated key writes, loads back, publishes a record that parses, and
// signs a message that verifies against that record.
func TestGenerateWriteLoadSignVerify(t *testing.T) {
	for _, typ := range []string{TypeRSA, TypeEd25519} {
		t.Run(typ, func(t *testing.T) {
			key, rec, err := Generate(typ, 2048)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := dnsauth.ParseDKIMKey(rec); err != nil {
				t.Fatalf("record %q does not parse: %v", rec, err)
			}
			path := filepath.Join(t.TempDir(), "k.pem")
			if err := Write(path, key); err != nil {
				t.Fatal(err)
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v", fi.Mode().Perm())
			}
			if err := Write(path, key); !errors.Is(err, ErrExists) {
				t.Errorf("overwrite: %v", err)
			}
			loaded, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			signed, err := Signer("example.com", "s1", loaded)([]byte(msg))
			if err != nil {
				t.Fatal(err)
			}
			vs, err := dkim.VerifyWithOptions(strings.NewReader(string(signed)), &dkim.VerifyOptions{
				LookupTXT: func(name string) ([]string, error) {
					if name != "s1._domainkey.example.com" {
						return nil, errors.New("NXDOMAIN " + name)
					}
					return []string{rec}, nil
				},
			})
			if err != nil || len(vs) != 1 || vs[0].Err != nil {
				t.Fatalf("verify: %v %+v", err, vs)
			}
		})
	}
}

func TestGenerate_refusesWeakOrUnknown(t *testing.T) {
	for _, c := range []struct {
		typ  string
		bits int
	}{{TypeRSA, 1024}, {TypeRSA, 8192}, {"dsa", 2048}} {
		if _, _, err := Generate(c.typ, c.bits); err == nil {
			t.Errorf("%s/%d accepted", c.typ, c.bits)
		}
	}
}

// Load reads the PKCS#1 form openssl genrsa writes too, and says what is
// wrong with anything else.
func TestParse(t *testing.T) {
	k, _, err := Generate(TypeRSA, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.(*rsa.PrivateKey))})
	if got, err := Parse(pkcs1); err != nil || !got.(*rsa.PrivateKey).Equal(k) {
		t.Errorf("PKCS#1: %v", err)
	}
	_, priv, _ := ed25519.GenerateKey(nil)
	b, _ := Marshal(priv)
	if got, err := Parse(b); err != nil || !got.(ed25519.PrivateKey).Equal(priv) {
		t.Errorf("PKCS#8 ed25519: %v", err)
	}
	for in, want := range map[string]string{
		"not pem": "no PEM block",
		string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}})):  "not a private key",
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})): "asn1",
	} {
		if _, err := Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in[:min(len(in), 20)], err, want)
		}
	}
}

func TestZoneLine_splitsAt255(t *testing.T) {
	txt := strings.Repeat("a", 300)
	got := ZoneLine("s._domainkey.example.com", txt)
	want := `s._domainkey.example.com. IN TXT ( "` + strings.Repeat("a", 255) + `" "` + strings.Repeat("a", 45) + `" )`
	if got != want {
		t.Errorf("got %s", got)
	}
}
