package dkimkey

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

const message = "From: a@example.test\r\nTo: b@example.test\r\nSubject: hi\r\nDate: Fri, 4 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@example.test>\r\n\r\nhello\r\n"

// A generated key, written and loaded again, signs a message that
// verifies against the record Generate returned.
func TestGenerateWriteLoadSignVerify(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		bits int
	}{{RSA, 2048}, {Ed25519, 0}} {
		key, record, err := Generate(tc.typ, tc.bits)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "k.pem")
		if err := WritePEM(path, key); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: key file mode %v, %v", tc.typ, fi.Mode(), err)
		}
		if err := WritePEM(path, key); !errors.Is(err, os.ErrExist) {
			t.Errorf("%s: a second write gave %v, want os.ErrExist", tc.typ, err)
		}
		loaded, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		signed, err := SignFunc("example.test", "s1", loaded)([]byte(message))
		if err != nil {
			t.Fatal(err)
		}
		vs, err := dkim.VerifyWithOptions(strings.NewReader(string(signed)), &dkim.VerifyOptions{
			LookupTXT: func(name string) ([]string, error) {
				if name != "s1._domainkey.example.test" {
					t.Errorf("looked up %s", name)
				}
				return []string{record}, nil
			},
		})
		if err != nil || len(vs) != 1 || vs[0].Err != nil {
			t.Errorf("%s: verification %v %+v", tc.typ, err, vs)
		}
	}
}

func TestGenerate_refusesWeakOrUnknown(t *testing.T) {
	if _, _, err := Generate(RSA, 1024); !errors.Is(err, ErrBits) {
		t.Errorf("1024-bit RSA: %v", err)
	}
	if _, _, err := Generate("dsa", 0); err == nil {
		t.Error("dsa accepted")
	}
}

func TestLoad_badFiles(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "a")
	cert := filepath.Join(dir, "b")
	_ = os.WriteFile(notPEM, []byte("hello"), 0o600)
	_ = os.WriteFile(cert, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600)
	for _, p := range []string{notPEM, cert, filepath.Join(dir, "missing")} {
		if _, err := Load(p); err == nil {
			t.Errorf("%s loaded", p)
		}
	}
}

func TestZoneLine_splitsAt255(t *testing.T) {
	txt := strings.Repeat("a", 300)
	got := ZoneLine("s._domainkey.example.test", txt)
	want := `s._domainkey.example.test. IN TXT ( "` + strings.Repeat("a", 255) + `" "` + strings.Repeat("a", 45) + `" )`
	if got != want {
		t.Errorf("got %s", got)
	}
}
