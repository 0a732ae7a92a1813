package cli

import (
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// "-" reads stdin for every file-reading flag: smtp send's --eml,
// --body-file and --attach, check -f, smtp script's FILE; only one of
// them may take stdin in a run.
func TestStdinDash(t *testing.T) {
	const eml = "From: a@test.example\r\nTo: b@test.example\r\nSubject: from stdin\r\n\r\nhello from stdin\r\n"
	base := []string{"smtp", "send", "127.0.0.1:1", "--from", "a@test.example", "--to", "b@test.example", "--print"}
	r := runStdin(t, eml, append(base, "--eml", "-")...)
	if r.code != 0 || !strings.Contains(r.out, "Subject: from stdin") || !strings.Contains(r.out, "hello from stdin") {
		t.Errorf("--eml -: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	r = runStdin(t, "a body read from stdin\n", append(base, "--body-file", "-")...)
	if r.code != 0 || !strings.Contains(r.out, "a body read from stdin") {
		t.Errorf("--body-file -: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	r = runStdin(t, "x", append(base, "--body-file", "-", "--attach", "-")...)
	if r.code != report.ExitUsage || !strings.Contains(r.errOut, "stdin is already read by --body-file") {
		t.Errorf("two flags reading stdin: exit %d\n%s", r.code, r.errOut)
	}
	r = runStdin(t, "checks:\n  - dns\n", "check", "-f", "-")
	if r.code != report.ExitUsage || !strings.Contains(r.errOut, "line 2: check 1: usage: mailprobe dns DOMAIN") {
		t.Errorf("check -f -: exit %d\n%s", r.code, r.errOut)
	}
	r = runStdin(t, strings.Repeat("x", maxMessageSize+2), append(base, "--eml", "-")...)
	if r.code != report.ExitUsage || !strings.Contains(r.errOut, "stdin is larger than 64 MiB") {
		t.Errorf("huge stdin: exit %d\n%.300s", r.code, r.errOut)
	}
}
