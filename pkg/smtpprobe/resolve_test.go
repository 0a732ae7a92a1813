package smtpprobe_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
	"github.com/mailprobe/mailprobe/pkg/smtpprobe"
)

// The resolver of the reverse DNS check is not the one of the target
// host: without LookupIP the host is the operating system's to resolve
// (the hosts file knows "localhost", a DNS server need not), and with it
// only LookupIP is asked.
func TestCheck_targetHostLookup(t *testing.T) {
	addr := testserver.Start(t, testserver.SMTP{}.Handler())
	_, port, _ := netx.SplitHostPort(addr, 25)
	empty, err := resolver.NewStatic() // answers NXDOMAIN to everything
	if err != nil {
		t.Fatal(err)
	}
	base := smtpprobe.Options{Host: "localhost", Port: port, TLSMode: netx.TLSNone, Resolver: empty, PTRPrivate: true}

	r, err := smtpprobe.Check(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := r.Stage("resolve"); !ok || st.Status != report.StatusOK {
		t.Fatalf("localhost with a PTR resolver that knows nothing: resolve %+v; findings %v", st, codesOf(r))
	}

	var asked []string
	o := base
	o.Host = "mail.test.example"
	o.LookupIP = func(_ context.Context, host string) ([]netip.Addr, error) {
		asked = append(asked, host)
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	if r, err = smtpprobe.Check(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if st, ok := r.Stage("resolve"); !ok || st.Status != report.StatusOK || !strings.Contains(st.Summary, "127.0.0.1") || len(asked) != 1 || asked[0] != "mail.test.example" {
		t.Fatalf("resolve %+v, LookupIP asked %v", st, asked)
	}
}
