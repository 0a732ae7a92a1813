package smtpclient

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// When reading a greeting may probe for implicit TLS: auto mode on a port
// the port table does not know, an explicit starttls anywhere; never for
// implicit or none, on a known port in auto mode, or when the caller
// allows no more than netx.GreetingWait for the greeting.
func TestGreetingOptions_Detects(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	s := &Session{conn: netx.NewConn(a, transcript.New(time.Now), netx.Timeouts{}, MaxReplyLine)}
	cases := []struct {
		mode netx.TLSMode
		port int
		wait time.Duration
		want bool
	}{
		{"", 2465, 0, true},
		{netx.TLSAuto, 2465, 5 * time.Second, true},
		{netx.TLSAuto, 587, 0, false},
		{netx.TLSAuto, 25, 0, false},
		{netx.TLSStartTLS, 587, 0, true},
		{netx.TLSImplicit, 2465, 0, false},
		{netx.TLSNone, 2465, 0, false},
		{netx.TLSAuto, 2465, netx.GreetingWait, false},
		{netx.TLSStartTLS, 2465, 300 * time.Millisecond, false},
	}
	for _, c := range cases {
		o := GreetingOptions{Mode: c.mode, Port: c.port, Wait: c.wait}
		if got := o.Detects(s); got != c.want {
			t.Errorf("mode %q port %d wait %s: Detects = %v, want %v", c.mode, c.port, c.wait, got, c.want)
		}
	}
}

// The notice and the finding name the flag; nothing detected, nothing
// to say.
func TestGreeting_NoticeAndFinding(t *testing.T) {
	g := Greeting{Addr: "127.0.0.1:2465", Implicit: true}
	f, ok := g.Finding("banner")
	if !ok || f.Code != "smtp.tls.implicit-detected" || f.Stage != "banner" || f.Detail != g.Notice() {
		t.Fatalf("finding %+v", f)
	}
	g = Greeting{Addr: "127.0.0.1:2465", Expected: true}
	if f, ok := g.Finding("banner"); !ok || f.Code != "smtp.tls.implicit-expected" {
		t.Fatalf("finding %+v", f)
	}
	for _, g := range []Greeting{{Addr: "a", Implicit: true}, {Addr: "a", Expected: true}} {
		if n := g.Notice(); !strings.Contains(n, "--tls implicit") || !strings.Contains(n, netx.GreetingWait.String()) {
			t.Errorf("notice %q", n)
		}
	}
	if _, ok := (Greeting{Addr: "a"}).Finding("banner"); ok || (Greeting{}).Notice() != "" {
		t.Error("a finding without a detection")
	}
}
