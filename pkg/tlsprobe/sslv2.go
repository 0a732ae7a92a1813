package tlsprobe

// SSL 2.0 (draft-hickman-netscape-ssl-00; prohibited by RFC 6176),
// testssl.sh's SSLv2 and DROWN: one hand-built SSLv2 CLIENT-HELLO in
// the SSLv2 record format (a 2-byte header with the high bit set),
// offering the seven SSLv2 cipher kinds, independent of what any TLS
// library still speaks. A SERVER-HELLO with version 2 means the server
// speaks SSLv2; its cipher specs are the kinds it accepts. A TLS alert,
// an SSLv2 ERROR or a hang-up means it does not.
//
// A server that speaks SSLv2 with the same RSA key as its TLS
// certificate lets an attacker decrypt recorded TLS sessions of that key
// (DROWN, CVE-2016-0800), whatever version those sessions used: so SSLv2
// is a failure on every port, including port 25.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/mailprobe/mailprobe/pkg/netx"
)

// SSLv2 message types and the cipher kinds (3-byte codes).
const (
	ssl2ClientHello = 1
	ssl2ServerHello = 4
	ssl2Error       = 0
)

var ssl2Ciphers = []struct {
	code [3]byte
	name string
}{
	{[3]byte{0x01, 0x00, 0x80}, "SSL_CK_RC4_128_WITH_MD5"},
	{[3]byte{0x02, 0x00, 0x80}, "SSL_CK_RC4_128_EXPORT40_WITH_MD5"},
	{[3]byte{0x03, 0x00, 0x80}, "SSL_CK_RC2_128_CBC_WITH_MD5"},
	{[3]byte{0x04, 0x00, 0x80}, "SSL_CK_RC2_128_CBC_EXPORT40_WITH_MD5"},
	{[3]byte{0x05, 0x00, 0x80}, "SSL_CK_IDEA_128_CBC_WITH_MD5"},
	{[3]byte{0x06, 0x00, 0x40}, "SSL_CK_DES_64_CBC_WITH_MD5"},
	{[3]byte{0x07, 0x00, 0xC0}, "SSL_CK_DES_192_EDE3_CBC_WITH_MD5"},
}

// SSLv2Result is what the SSLv2 probe found (JSON: facts.scan.sslv2).
type SSLv2Result struct {
	Supported bool     `json:"supported"`
	Ciphers   []string `json:"ciphers,omitempty"`
	// SameKey: the SSLv2 certificate has the public key of the TLS
	// certificate (DROWN applies to the TLS sessions too).
	SameKey *bool  `json:"same_key_as_tls,omitempty"`
	Note    string `json:"note,omitempty"` // why it was not decided, or how it was refused
	cert    *x509.Certificate
}

// ssl2ClientHelloMsg builds the CLIENT-HELLO record: header, type,
// version 0x0002, the three lengths, cipher specs, no session ID, a
// 16-byte challenge.
func ssl2ClientHelloMsg(challenge []byte) []byte {
	body := []byte{ssl2ClientHello, 0x00, 0x02, 0, byte(3 * len(ssl2Ciphers)), 0, 0, 0, byte(len(challenge))}
	for _, c := range ssl2Ciphers {
		body = append(body, c.code[:]...)
	}
	body = append(body, challenge...)
	return append([]byte{0x80 | byte(len(body)>>8), byte(len(body))}, body...)
}

// maxSSL2Record caps an SSLv2 record (the format allows 32767 bytes).
const maxSSL2Record = 32767

// ParseSSL2ServerHello reads an SSLv2 answer from r: the record header
// and a SERVER-HELLO. It returns (nil, reason) for an answer that is
// not a SERVER-HELLO: a TLS record, an SSLv2 ERROR.
func ParseSSL2ServerHello(r io.Reader) (*SSLv2Result, string, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, "", err
	}
	if h[0]&0x80 == 0 {
		if h[0] >= recordChangeCipherSpec && h[0] <= recordApplicationData && h[1] == 3 {
			// A TLS record: an alert or a TLS ServerHello (a server that
			// answers the SSLv2-format hello with TLS).
			if h[0] == recordAlert {
				var rest [5]byte
				if _, err := io.ReadFull(r, rest[:]); err == nil {
					return nil, "TLS alert " + Alert{Level: rest[3], Description: rest[4]}.String(), nil
				}
			}
			return nil, fmt.Sprintf("a TLS record (type %d) instead of an SSLv2 SERVER-HELLO", h[0]), nil
		}
		return nil, "", &NotTLSError{Prefix: h[:]}
	}
	n := int(h[0]&0x7f)<<8 | int(h[1])
	if n < 1 || n > maxSSL2Record {
		return nil, "", fmt.Errorf("SSLv2 record of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, "", err
	}
	switch body[0] {
	case ssl2Error:
		code := 0
		if len(body) >= 3 {
			code = int(body[1])<<8 | int(body[2])
		}
		return nil, fmt.Sprintf("SSLv2 ERROR %d", code), nil
	case ssl2ServerHello:
	default:
		return nil, "", fmt.Errorf("SSLv2 message type %d where SERVER-HELLO was expected", body[0])
	}
	// SERVER-HELLO: type, session_id_hit, certificate_type,
	// server_version, certificate_length, cipher_specs_length,
	// connection_id_length, then the three fields.
	if len(body) < 11 {
		return nil, "", errors.New("SSLv2 SERVER-HELLO truncated")
	}
	ver := int(body[3])<<8 | int(body[4])
	cl, sl, il := int(body[5])<<8|int(body[6]), int(body[7])<<8|int(body[8]), int(body[9])<<8|int(body[10])
	if 11+cl+sl+il != len(body) || sl%3 != 0 {
		return nil, "", errors.New("SSLv2 SERVER-HELLO lengths do not add up")
	}
	if ver != 2 {
		return nil, "", fmt.Errorf("SSLv2 SERVER-HELLO with version 0x%04X", ver)
	}
	res := &SSLv2Result{Supported: true}
	if body[2] == 1 && cl > 0 { // SSL_CT_X509_CERTIFICATE
		res.cert, _ = x509.ParseCertificate(body[11 : 11+cl])
	}
	specs := body[11+cl : 11+cl+sl]
	for i := 0; i+3 <= len(specs); i += 3 {
		name := fmt.Sprintf("0x%02X%02X%02X", specs[i], specs[i+1], specs[i+2])
		for _, c := range ssl2Ciphers {
			if bytes.Equal(c.code[:], specs[i:i+3]) {
				name = c.name
			}
		}
		res.Ciphers = append(res.Ciphers, name)
	}
	return res, "", nil
}

// sslv2 probes SSLv2 on one connection.
func (p *prober) sslv2(ctx context.Context) *SSLv2Result {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return &SSLv2Result{Note: "canceled"}
	}
	defer func() { <-p.sem }()
	c, done, err := p.rawConn(ctx, "SSLv2")
	if err != nil {
		return &SSLv2Result{Note: "connection failed before TLS: " + ioVerdict(err)}
	}
	defer done()
	res, why := sslv2Once(c)
	if res.Supported {
		p.rec.Event("probe SSLv2: SERVER-HELLO with %d cipher kinds", len(res.Ciphers))
	} else {
		p.rec.Event("probe SSLv2: not spoken (%s)", why)
	}
	return res
}

func sslv2Once(c net.Conn) (*SSLv2Result, string) {
	challenge := make([]byte, 16)
	rand.Read(challenge)
	if _, err := c.Write(ssl2ClientHelloMsg(challenge)); err != nil {
		return &SSLv2Result{Note: "write failed: " + ioVerdict(err)}, ""
	}
	res, why, err := ParseSSL2ServerHello(c)
	switch {
	case res != nil:
		return res, ""
	case why != "":
		return &SSLv2Result{Note: why}, why
	case errors.Is(err, io.EOF), kindOf(err) == string(netx.KindClosed), kindOf(err) == string(netx.KindReset):
		return &SSLv2Result{Note: "the server closed the connection on an SSLv2 CLIENT-HELLO"}, "closed"
	}
	// A timeout or garbage: not SSLv2 either, but say what happened.
	return &SSLv2Result{Note: "no SSLv2 SERVER-HELLO: " + ioVerdict(err)}, ioVerdict(err)
}
