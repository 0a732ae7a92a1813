package cli

import (
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/pkg/iostreams"
	"github.com/mailprobe/mailprobe/pkg/smtpprobe"
)

// --probe-smuggling delivers test messages, so it needs the user's own
// recipient: without --to it is a usage error and nothing is sent.
func TestSMTPCheck_probeSmugglingNeedsTo(t *testing.T) {
	r := run(t, nil, "smtp", "check", "127.0.0.1:1", "--probe-smuggling", "--no-ptr")
	if r.code != 2 || !strings.Contains(r.errOut, "--probe-smuggling needs --to") {
		t.Errorf("exit %d, stderr %q", r.code, r.errOut)
	}
}

// The probe flags reach the engine, and --to's domains are looked up
// through the run's resolver (--no-ptr turns off only the PTR check).
func TestSMTPCheck_probeFlagsReachTheEngine(t *testing.T) {
	io, _, _, errOut := iostreams.Test()
	var got smtpprobe.Options
	env := &Env{IO: io, inspect: func(v any) { got = v.(smtpprobe.Options) }}
	code := Main([]string{"smtp", "check", "127.0.0.1:1", "--probe-relay", "--probe-smuggling", "--to", "me@test.example",
		"--no-ptr", "--resolver", "127.0.0.1:1"}, env)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !got.ProbeRelay || !got.ProbeSmuggling || got.DomainResolver == nil || got.Resolver != nil {
		t.Errorf("relay %v smuggling %v domain resolver %v PTR resolver %v", got.ProbeRelay, got.ProbeSmuggling, got.DomainResolver, got.Resolver)
	}
}
