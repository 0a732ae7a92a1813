package tlsprobe

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rsa"
	"io"
	"math/big"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/pkg/report"
	"golang.org/x/crypto/cryptobyte"
)

// oracleServer answers a static-RSA handshake up to ServerHelloDone,
// decrypts the ClientKeyExchange with the test key and answers with the
// alert judge picks from the plaintext, as the oracles ROBOT found did.
// After refuseAfter connections (0 = never) it hangs up at once.
func oracleServer(t *testing.T, judge func(m []byte) uint8, refuseAfter int32) *listener {
	pki := getPKI(t)
	key := pki.rsa.PrivateKey.(*rsa.PrivateKey)
	var n atomic.Int32
	return startListener(t, func(c net.Conn) {
		if refuseAfter > 0 && n.Add(1) > refuseAfter {
			return
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		if _, err := readClientHello(br); err != nil {
			return
		}
		b := cryptobyte.NewBuilder(nil)
		b.AddUint8(hsServerHello)
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
			b.AddUint16(VersionTLS12)
			b.AddBytes(make([]byte, 32))
			b.AddUint8(0)
			b.AddUint16(0x002F)
			b.AddUint8(0)
		})
		b.AddUint8(hsCertificate)
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
			b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
				b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(pki.rsa.Certificate[0]) })
			})
		})
		c.Write(appendRecords(nil, recordHandshake, VersionTLS12, append(b.BytesOrPanic(), hsServerHelloDone, 0, 0, 0)))
		hdr := make([]byte, 5)
		if _, err := io.ReadFull(br, hdr); err != nil || hdr[0] != recordHandshake {
			return
		}
		body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
		if _, err := io.ReadFull(br, body); err != nil || len(body) < 6 || body[0] != hsClientKeyExchange {
			return
		}
		ct := new(big.Int).SetBytes(body[6:])
		m := new(big.Int).Exp(ct, key.D, key.N).FillBytes(make([]byte, (key.N.BitLen()+7)/8))
		c.Write(appendRecords(nil, recordAlert, VersionTLS12, []byte{2, judge(m)}))
	})
}

// robotVariant tells which of the five plaintexts m is.
func robotVariant(m []byte) int {
	k := len(m)
	switch {
	case m[0] == 0x41:
		return 1
	case m[k-49] == 0x11 && m[k-2] == 0x00:
		return 2
	case m[k-49] == 0x11:
		return 3
	case m[k-48] == 0x02:
		return 4
	}
	return 0
}

func TestRobot_flips(t *testing.T) {
	ctx := context.Background()
	// The plaintexts are what testssl.sh builds.
	for i := range 5 {
		if got := robotVariant(robotPlaintext(i, 256, VersionTLS12)); got != i {
			t.Fatalf("variant %d read back as %d", i, got)
		}
	}
	strong := oracleServer(t, func(m []byte) uint8 {
		if robotVariant(m) == 1 {
			return 51 // decrypt_error: the padding check shows
		}
		return 20 // bad_record_mac
	}, 0)
	r := vulnProber(strong.port()).robot(ctx, VersionTLS12, true, "mail.test")
	if r.Status != VulnVulnerable || !strings.Contains(r.Detail, "strong oracle") || !r.failHard || r.Connections != 5 {
		t.Fatalf("strong: %+v", r)
	}
	if f, _ := vulnFinding(r); f.Code != "tls.vuln.robot" || f.Severity != report.Fail || !strings.Contains(f.Evidence[0].Text, "5 of a budget of 15") {
		t.Errorf("finding %+v", f)
	}

	weak := oracleServer(t, func(m []byte) uint8 {
		if robotVariant(m) == 4 {
			return 47 // illegal_parameter: only the version check shows
		}
		return 20
	}, 0)
	r = vulnProber(weak.port()).robot(ctx, VersionTLS12, true, "mail.test")
	if r.Status != VulnVulnerable || !strings.Contains(r.Detail, "weak oracle") || r.failHard {
		t.Fatalf("weak: %+v", r)
	}
	if f, _ := vulnFinding(r); f.Severity != report.Warn {
		t.Errorf("weak finding %+v", f)
	}

	// The same answer to everything, in both rounds: ten connections.
	uniformSrv := oracleServer(t, func([]byte) uint8 { return 20 }, 0)
	r = vulnProber(uniformSrv.port()).robot(ctx, VersionTLS12, true, "mail.test")
	if r.Status != VulnNotVulnerable || r.Connections != 10 {
		t.Fatalf("uniform: %+v", r)
	}

	// A server that starts refusing after three connections: not
	// testable, never "not vulnerable".
	limited := oracleServer(t, func([]byte) uint8 { return 20 }, 3)
	r = vulnProber(limited.port()).robot(ctx, VersionTLS12, true, "mail.test")
	if r.Status != VulnNotTestable || !strings.Contains(r.Detail, "rate-limiting") || !strings.Contains(r.Detail, "3 of 5 answered") {
		t.Fatalf("rate-limited: %+v", r)
	}

	if r := vulnProber(uniformSrv.port()).robot(ctx, VersionTLS12, false, "mail.test"); r.Status != VulnNotApplicable || r.Connections != 0 {
		t.Errorf("no static RSA: %+v", r)
	}
}

// OpenSSL 3 with static RSA answers every variant alike. s_server serves
// one connection at a time, so the rounds run one connection at a time.
func TestOpenSSL_robot(t *testing.T) {
	p := vulnProber(startOpenSSL(t, "-tls1_2", "-cipher", "AES128-SHA:AES256-GCM-SHA384"))
	r := p.robot(context.Background(), VersionTLS12, true, "mail.test")
	if r.Status != VulnNotVulnerable {
		t.Fatalf("%+v", r)
	}
	t.Logf("%s", r.Detail)
	if bytes.Contains([]byte(r.Detail), []byte("timeout")) {
		t.Errorf("OpenSSL answers at once: %s", r.Detail)
	}
}
