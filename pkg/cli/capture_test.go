package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/pkg/capture"
	"github.com/mailprobe/mailprobe/pkg/iostreams"
	"github.com/mailprobe/mailprobe/pkg/report"
)

// capture's limits are flags with defaults that reach the server; a
// limit of zero is a usage error.
func TestCapture_limitFlags(t *testing.T) {
	o, _ := parsed(t, nil, "capture")
	co, err := o.(*captureOptions).options(&Env{})
	if err != nil {
		t.Fatal(err)
	}
	if co.MaxConns != capture.DefaultMaxConns || co.IdleTimeout != capture.DefaultIdleTimeout || co.DataTimeout != capture.DefaultDataTimeout {
		t.Errorf("defaults %d %s %s", co.MaxConns, co.IdleTimeout, co.DataTimeout)
	}
	o, _ = parsed(t, nil, "capture", "--max-conns", "7", "--idle-timeout", "5s", "--data-timeout", "1m")
	co, err = o.(*captureOptions).options(&Env{})
	if err != nil || co.MaxConns != 7 || co.IdleTimeout != 5*time.Second || co.DataTimeout != time.Minute {
		t.Errorf("flags %d %s %s %v", co.MaxConns, co.IdleTimeout, co.DataTimeout, err)
	}
	for _, args := range [][]string{{"capture", "--max-conns", "0"}, {"capture", "--idle-timeout", "0s"}, {"capture", "--data-timeout", "-1s"}} {
		if r := run(t, nil, args...); r.code != report.ExitUsage {
			t.Errorf("%v: exit %d, want 2", args, r.code)
		}
	}
}

// --http: loopback without credentials; elsewhere only with --http-auth,
// whose password never comes from a flag value.
func TestCapture_httpFlags(t *testing.T) {
	for _, args := range [][]string{
		{"capture", "--http", "0.0.0.0:8025"},
		{"capture", "--http", ":8025"},
		{"capture", "--http", "nonsense"},
		{"capture", "--http", "127.0.0.1:8025", "--http-auth", "dev:secret-password"},
		{"capture", "--http", "127.0.0.1:8025", "--http-auth", "dev"},
		{"capture", "--http", "127.0.0.1:8025", "--http-auth", "dev", "--http-password-env", "UNSET_VAR"},
		{"capture", "--http", "127.0.0.1:8025", "--http-auth", "dev", "--http-password-env", "SHORT_PW"},
		{"capture", "--http", "127.0.0.1:8025", "--http-password-env", "CAPTURE_PW"},
		{"capture", "--http-auth", "dev", "--http-password-env", "CAPTURE_PW"},
		{"capture", "--release-smtp", "127.0.0.1:25"},
		{"capture", "--http", "127.0.0.1:8025", "--release-smtp", "127.0.0.1:25", "--release-tls", "sometimes"},
		{"capture", "--http", "127.0.0.1:8025", "--release-user", "u"},
		{"capture", "--expect", "welcome"},
		{"capture", "--max-messages", "0"},
	} {
		r := run(t, map[string]string{"CAPTURE_PW": "long-enough-pw", "SHORT_PW": "short"}, args...)
		if r.code != report.ExitUsage || strings.Contains(r.errOut, "secret-password") || strings.Contains(r.errOut, "long-enough-pw") {
			t.Errorf("%v: exit %d, want 2\n%s", args, r.code, r.errOut)
		}
	}
	vars := map[string]string{"CAPTURE_PW": "long-enough-pw", "RELAY_PW": "relay-pw"}
	o, _ := parsed(t, vars, "capture", "--http", "0.0.0.0:8025", "--http-auth", "dev", "--http-password-env", "CAPTURE_PW",
		"--release-smtp", "127.0.0.1:2525", "--release-user", "app", "--release-password-env", "RELAY_PW", "--max-messages", "7", "--expect", "reset")
	env := &Env{IO: testIO(vars)}
	ho, err := o.(*captureOptions).httpOptions(env)
	if err != nil || ho.User != "dev" || ho.Password != "long-enough-pw" || ho.ReleaseTarget != "127.0.0.1:2525" || ho.Release == nil {
		t.Errorf("http options %+v %v", ho, err)
	}
	co, err := o.(*captureOptions).options(env)
	if err != nil || co.MaxMessages != 7 || co.Expect != capture.ExpectReset {
		t.Errorf("capture options %+v %v", co, err)
	}
}

func testIO(vars map[string]string) *iostreams.IOStreams {
	io, _, _, _ := iostreams.Test()
	io.Getenv = func(k string) string { return vars[k] }
	return io
}
