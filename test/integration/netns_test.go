//go:build integration

package integration

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/internal/testserver"
)

// netnsChildEnv marks the copy of this test that runs inside the network
// namespace.
const netnsChildEnv = "MP_IT_NETNS_CHILD"

// TestResolverFlag_loopbackOnlyNamespace proves that `smtp check` given
// --resolver resolves the target through that server and talks to nobody
// else: this test binary runs itself again inside a new network namespace
// (unshare -n) whose only interface is loopback, with a DNS server and an
// SMTP server of its own on 127.0.0.1. The system's resolver (whatever
// /etc/resolv.conf names) cannot be reached from there, so a run that
// succeeds resolved through --resolver; the DNS server's log shows it was
// asked exactly the questions the check needs.
func TestResolverFlag_loopbackOnlyNamespace(t *testing.T) {
	if os.Getenv(netnsChildEnv) == "1" {
		netnsChild(t)
		return
	}
	if err := exec.Command("unshare", "-n", "true").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("unshare -n is not available (%v): this test needs root and util-linux's unshare", err)
		}
		t.Skipf("unshare -n is not available (%v); run as root (CI=true makes this a failure)", err)
	}
	cmd := exec.Command("unshare", "-n", os.Args[0], "-test.run", "^TestResolverFlag_loopbackOnlyNamespace$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), netnsChildEnv+"=1", "MAILPROBE_BIN="+Bin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the check inside the namespace failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestResolverFlag_loopbackOnlyNamespace") {
		t.Fatalf("the namespace copy of the test did not run:\n%s", out)
	}
	t.Logf("inside the namespace:\n%s", out)
}

// netnsChild is the part that runs inside the namespace.
func netnsChild(t *testing.T) {
	// A new namespace's loopback is down.
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v\n%s", err, out)
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifaces {
		if i.Flags&net.FlagLoopback == 0 {
			t.Fatalf("the namespace has a non-loopback interface %s: the test would prove nothing", i.Name)
		}
	}
	srv := testserver.Start(t, testserver.SMTP{}.Handler())
	_, port, _ := net.SplitHostPort(srv)
	dnsSrv := dnstest.Start(t, dnstest.NewZone().MustAdd(
		"mail.test.example. 300 IN A 127.0.0.1",
		"1.0.0.127.in-addr.arpa. 300 IN PTR mail.test.example.",
	))
	r := RunWith(t, RunOptions{Timeout: 30 * time.Second}, "smtp", "check", "mail.test.example:"+port,
		"--resolver", dnsSrv.Addr, "--tls", "none", "--format", "json")
	if r.Code != 0 && r.Code != 1 {
		t.Fatalf("want a completed check (exit 0 or 1):\n%s", r)
	}
	var rep struct {
		Stages []struct{ Name, Status string } `json:"stages"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("JSON: %v\n%s", err, r)
	}
	statuses := map[string]string{}
	for _, s := range rep.Stages {
		statuses[s.Name] = s.Status
	}
	if statuses["connect"] != "ok" || statuses["banner"] != "ok" {
		t.Errorf("connect %q, banner %q: the server was not reached by its name\n%s", statuses["connect"], statuses["banner"], r)
	}
	asked := dnsSrv.Count("mail.test.example.", dns.TypeA)
	if asked == 0 {
		t.Errorf("mail.test.example A was not asked at --resolver")
	}
	// Every question the DNS server received is one the check needs: the
	// target's addresses and the reverse name of the address it reached.
	known := int64(asked + dnsSrv.Count("mail.test.example.", dns.TypeAAAA) + dnsSrv.Count("1.0.0.127.in-addr.arpa.", dns.TypePTR))
	if total := dnsSrv.Queries(); total != known {
		t.Errorf("--resolver got %d questions, %d of them expected", total, known)
	}
}
