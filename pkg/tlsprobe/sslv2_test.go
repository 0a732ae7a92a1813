package tlsprobe

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// ssl2Server answers an SSLv2 CLIENT-HELLO as an SSLv2-enabled OpenSSL
// 0.9.8 did: a SERVER-HELLO with its certificate and the cipher kinds it
// shares with the client. A TLS hello goes to tls when set (else a
// hang-up): the same port speaks both, as such servers did.
func ssl2Server(t *testing.T, cert []byte, kinds [][3]byte, tls *rawServer) *listener {
	return startListener(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		if p, err := br.Peek(1); err != nil || p[0]&0x80 == 0 {
			if tls != nil && err == nil {
				tls.serve(c, br)
			}
			return
		}
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return
		}
		body := make([]byte, int(h[0]&0x7f)<<8|int(h[1]))
		if _, err := io.ReadFull(br, body); err != nil || body[0] != ssl2ClientHello || body[1] != 0 || body[2] != 2 {
			return
		}
		var specs []byte
		for _, k := range kinds {
			specs = append(specs, k[:]...)
		}
		connID := bytes.Repeat([]byte{7}, 16)
		sh := []byte{ssl2ServerHello, 0, 1, 0, 2, byte(len(cert) >> 8), byte(len(cert)), byte(len(specs) >> 8), byte(len(specs)), 0, byte(len(connID))}
		sh = append(append(append(sh, cert...), specs...), connID...)
		c.Write(append([]byte{0x80 | byte(len(sh)>>8), byte(len(sh))}, sh...))
		io.ReadFull(br, h[:])
	})
}

func TestSSLv2_flips(t *testing.T) {
	ctx := context.Background()
	leaf := getPKI(t).rsa.Certificate[0]
	vuln := ssl2Server(t, leaf, [][3]byte{{0x01, 0x00, 0x80}, {0x07, 0x00, 0xC0}, {0x09, 0x09, 0x09}}, nil)
	r := vulnProber(vuln.port()).sslv2(ctx)
	if !r.Supported || strings.Join(r.Ciphers, ",") != "SSL_CK_RC4_128_WITH_MD5,SSL_CK_DES_192_EDE3_CBC_WITH_MD5,0x090909" || r.cert == nil {
		t.Fatalf("SSLv2 server: %+v", r)
	}
	sc := &scanner{res: &Result{SSLv2: r}}
	same := true
	r.SameKey = &same
	if d := sc.drown(); d.Status != VulnVulnerable || !strings.Contains(d.Detail, "same public key") {
		t.Errorf("drown: %+v", d)
	}
	if f, _ := vulnFinding(sc.drown()); f.Code != "tls.vuln.drown" || f.Severity != report.Fail {
		t.Errorf("finding %+v", f)
	}

	// OpenSSL 3 cannot speak SSLv2: it closes or answers with a TLS alert.
	fixed := vulnProber(startOpenSSL(t))
	r = fixed.sslv2(ctx)
	if r.Supported || r.Note == "" || strings.HasPrefix(r.Note, "connection failed") {
		t.Fatalf("openssl: %+v", r)
	}
	t.Logf("openssl: %s", r.Note)
	sc = &scanner{res: &Result{SSLv2: r}}
	if d := sc.drown(); d.Status != VulnNotVulnerable {
		t.Errorf("drown: %+v", d)
	}
}

// The SSLv2 probe goes through the STARTTLS upgrade like every probe,
// and a port-25 MX speaking SSLv2 is a failure, not information.
func TestScan_sslv2OnMX(t *testing.T) {
	leaf := getPKI(t).rsa.Certificate[0]
	rs := &rawServer{versions: []uint16{VersionTLS12}, suites: []uint16{0x002F}, certs: [][]byte{leaf}}
	srv := ssl2Server(t, leaf, [][3]byte{{0x01, 0x00, 0x80}}, rs)
	f := startFront(t, frontOpts{proto: ProtoSMTP, backend: proxyBackend(srv.ln.Addr().String())})
	o := testOptions(t, f.port(), ProtoSMTP)
	o.Role = RoleMX
	rep, res := runScan(t, o)
	if res.SSLv2 == nil || !res.SSLv2.Supported {
		t.Fatalf("sslv2 %+v", res.SSLv2)
	}
	wantFinding(t, rep, "tls.protocol.sslv2", report.Fail)
	wantFinding(t, rep, "tls.vuln.drown", report.Fail)
	if got := res.Supported(); len(got) == 0 || got[0] != "SSL 2.0" {
		t.Errorf("protocols %v", got)
	}
}

func FuzzParseSSL2ServerHello(f *testing.F) {
	f.Add([]byte{0x80, 0x0e, 4, 0, 1, 0, 2, 0, 0, 0, 3, 0, 0, 1, 0, 0x80})
	f.Add([]byte{0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28})
	f.Add([]byte{0x80, 0x03, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, why, err := ParseSSL2ServerHello(bytes.NewReader(data))
		if r != nil && (why != "" || err != nil || !r.Supported) {
			t.Fatalf("inconsistent: %+v %q %v", r, why, err)
		}
	})
}
