package cli

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

// loadDKIMSigner reads a PEM private key: PKCS#1 RSA ("RSA PRIVATE KEY")
// or PKCS#8 RSA/Ed25519 ("PRIVATE KEY"), as openssl and `mailprobe dkim
// keygen` write them.
func loadDKIMSigner(path string) (crypto.Signer, error) {
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
