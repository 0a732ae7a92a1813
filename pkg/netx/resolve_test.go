package netx

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestResolvingDialer_usesLookupOnly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	var asked []string
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		asked = append(asked, host)
		if host == "mail.test.example" {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		return nil, errors.New("NXDOMAIN")
	}
	var dialed []string
	base := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialed = append(dialed, addr)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	d := ResolvingDialer(base, lookup)
	c, err := d(context.Background(), "tcp", net.JoinHostPort("mail.test.example", port))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if len(asked) != 1 || asked[0] != "mail.test.example" || len(dialed) != 1 || dialed[0] != "127.0.0.1:"+port {
		t.Fatalf("asked %v, dialed %v", asked, dialed)
	}
	// An IP literal is not looked up.
	asked = nil
	if c, err := d(context.Background(), "tcp", "127.0.0.1:"+port); err != nil {
		t.Fatal(err)
	} else {
		c.Close()
	}
	if len(asked) != 0 {
		t.Fatalf("IP literal looked up: %v", asked)
	}
	// A failed lookup is a DNS error, not a dial.
	dialed = nil
	_, err = d(context.Background(), "tcp", net.JoinHostPort("nx.test.example", port))
	if Classify(err) != KindDNS || len(dialed) != 0 {
		t.Fatalf("err %v (kind %s), dialed %v", err, Classify(err), dialed)
	}
}

func TestParseTLSMode(t *testing.T) {
	for in, want := range map[string]TLSMode{"": TLSAuto, "AUTO": TLSAuto, "starttls": TLSStartTLS, "implicit": TLSImplicit, "tls": TLSImplicit, "none": TLSNone} {
		if got, err := ParseTLSMode(in); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	if _, err := ParseTLSMode("maybe"); err == nil {
		t.Error("maybe accepted")
	}
	if TLSAuto.Resolve(465) != TLSImplicit || TLSAuto.Resolve(587) != TLSStartTLS || TLSAuto.Resolve(2465) != TLSStartTLS || TLSNone.Resolve(465) != TLSNone {
		t.Error("Resolve")
	}
}

func TestProbeImplicitTLS_plaintextGreetingIsNo(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("220 plain ESMTP\r\n"))
			go func() { b := make([]byte, 512); _, _ = c.Read(b); c.Close() }()
		}
	}()
	if ProbeImplicitTLS(context.Background(), nil, ln.Addr().String(), "x", 5*time.Second) {
		t.Fatal("a plaintext greeting was taken for TLS")
	}
}
