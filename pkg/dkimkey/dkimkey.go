// Package dkimkey makes, stores, loads and signs with DKIM keys (RFC 6376;
// RSA per RFC 8301, Ed25519 per RFC 8463): what `dkim keygen` writes and
// what --dkim-key of `smtp send` and `reset send` reads. It prints nothing
// and knows no flags; the commands in pkg/cli do.
package dkimkey

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

// Key types.
const (
	RSA     = "rsa"
	Ed25519 = "ed25519"
)

// ErrBits is returned for an RSA size outside 2048..4096 bits.
var ErrBits = errors.New("RSA keys must be 2048 to 4096 bits (RFC 8301 §3.2 asks for at least 2048)")

// Generate makes a key of type typ (RSA with bits, or Ed25519) and returns
// it with the text of the TXT record that publishes its public half.
func Generate(typ string, bits int) (crypto.Signer, string, error) {
	switch typ {
	case RSA:
		if bits < 2048 || bits > 4096 {
			return nil, "", ErrBits
		}
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			return nil, "", err
		}
		der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			return nil, "", err
		}
		return k, "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case Ed25519:
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, "", err
		}
		// RFC 8463 §4.2: the bare 32-octet key, not SubjectPublicKeyInfo.
		return priv, "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	}
	return nil, "", fmt.Errorf("unknown key type %q (want rsa or ed25519)", typ)
}

// WritePEM writes key as PKCS#8 PEM to a new file at path, readable by its
// owner only. An existing file is never overwritten: the error then
// satisfies errors.Is(err, os.ErrExist).
func WritePEM(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Load reads a PEM private key: PKCS#1 RSA ("RSA PRIVATE KEY") or PKCS#8
// RSA/Ed25519 ("PRIVATE KEY"), as openssl and WritePEM write them.
func Load(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%s: unsupported key type %T", path, k)
		}
		return s, nil
	}
	return nil, fmt.Errorf("%s: PEM block %q is not a private key", path, block.Type)
}

// SignFunc returns a function that adds a DKIM-Signature for domain and
// selector to a message, with go-msgauth (relaxed/relaxed canonicalization,
// RFC 6376 §3.4, over the headers a reset email carries).
func SignFunc(domain, selector string, key crypto.Signer) func([]byte) ([]byte, error) {
	return func(msg []byte) ([]byte, error) {
		var out strings.Builder
		err := dkim.Sign(&out, strings.NewReader(string(msg)), &dkim.SignOptions{
			Domain: domain, Selector: selector, Signer: key,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
			HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID", "Reply-To", "MIME-Version", "Content-Type"},
		})
		return []byte(out.String()), err
	}
}

// ZoneLine writes a TXT record in zone-file syntax, its text split into
// character-strings of at most 255 octets (RFC 1035 §3.3.14).
func ZoneLine(name, txt string) string {
	var parts []string
	for len(txt) > 255 {
		parts = append(parts, `"`+txt[:255]+`"`)
		txt = txt[255:]
	}
	parts = append(parts, `"`+txt+`"`)
	return name + ". IN TXT ( " + strings.Join(parts, " ") + " )"
}
