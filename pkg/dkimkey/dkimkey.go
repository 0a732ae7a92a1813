// Package dkimkey makes, stores, loads and signs with DKIM keys: what
// `dkim keygen` writes and what --dkim-key of `smtp send` and `reset
// send` read. Keys are RSA (RFC 6376 §3.3.1, at least 2048 bits as RFC
// 8301 §3.2 asks) or Ed25519 (RFC 8463); the public half is published as
// a TXT record at SELECTOR._domainkey.DOMAIN (RFC 6376 §3.6.2).
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
	TypeRSA     = "rsa"
	TypeEd25519 = "ed25519"
)

// RSA key sizes accepted by Generate.
const (
	MinRSABits = 2048 // RFC 8301 §3.2
	MaxRSABits = 4096
)

// ErrExists is returned by Write when the key file already exists: a key
// file is never overwritten.
var ErrExists = errors.New("key file exists")

// Generate makes a key of type typ (rsa or ed25519; bits only for rsa) and
// returns it with its DNS record text ("v=DKIM1; k=...; p=...").
func Generate(typ string, bits int) (crypto.Signer, string, error) {
	switch typ {
	case TypeRSA:
		if bits < MinRSABits || bits > MaxRSABits {
			return nil, "", fmt.Errorf("RSA keys must have %d to %d bits (RFC 8301 §3.2 asks for at least 2048)", MinRSABits, MaxRSABits)
		}
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			return nil, "", err
		}
		rec, err := Record(k)
		return k, rec, err
	case TypeEd25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, "", err
		}
		rec, err := Record(priv)
		return priv, rec, err
	}
	return nil, "", fmt.Errorf("unknown key type %q (want rsa or ed25519)", typ)
}

// Record is the TXT record text publishing key's public half.
func Record(key crypto.Signer) (string, error) {
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		// RFC 8463 §4.2: the bare 32-octet key, not SubjectPublicKeyInfo.
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	}
	return "", fmt.Errorf("unsupported key type %T", key.Public())
}

// Marshal encodes key as a PKCS#8 PEM block ("PRIVATE KEY"), the form
// openssl writes and Load reads.
func Marshal(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Write stores key at path, readable by its owner only, and never over an
// existing file (ErrExists). The written file is loaded back, so a key
// that would not load is an error now rather than at the first send.
func Write(path string, key crypto.Signer) error {
	b, err := Marshal(key)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s: %w", path, ErrExists)
		}
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if _, err := Load(path); err != nil {
		return fmt.Errorf("the written key does not load: %v", err)
	}
	return nil
}

// Load reads a PEM private key file: PKCS#1 RSA ("RSA PRIVATE KEY") or
// PKCS#8 RSA/Ed25519 ("PRIVATE KEY"), as openssl and Write produce.
func Load(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return k, nil
}

// Parse reads the first PEM block of b as a private key.
func Parse(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block")
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
			return nil, fmt.Errorf("unsupported key type %T", k)
		}
		return s, nil
	}
	return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
}

// SignedHeaders are the header fields a signature covers: the ones a
// reader sees and a forwarder must not change (RFC 6376 §5.4.1).
var SignedHeaders = []string{"From", "To", "Subject", "Date", "Message-ID", "Reply-To", "MIME-Version", "Content-Type"}

// Signer returns a function that DKIM-signs a message for domain and
// selector with key (relaxed/relaxed canonicalization, RFC 6376 §3.4,
// which survives the whitespace changes relays make).
func Signer(domain, selector string, key crypto.Signer) func([]byte) ([]byte, error) {
	return func(msg []byte) ([]byte, error) {
		var out strings.Builder
		err := dkim.Sign(&out, strings.NewReader(string(msg)), &dkim.SignOptions{
			Domain: domain, Selector: selector, Signer: key,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
			HeaderKeys: SignedHeaders,
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
