package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/report"
)

func writeSuite(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mailprobe.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckSuite(t *testing.T) {
	bad := testserver.Start(t, testserver.SMTP{Banner: []string{"554 5.7.1 go away"}}.Handler())
	silent := testserver.Start(t, testserver.Silent)
	good := writeSuite(t, "checks:\n  - name: demo\n    run: mailprobe reset send --embedded\n  - reset send --embedded --code\n")
	r := run(t, nil, "check", "-f", good, "--format", "json")
	if r.code != 0 {
		t.Fatalf("good suite: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	var doc struct {
		SchemaVersion int `json:"schema_version"`
		Reports       []struct {
			Name, Command, Target string
			Source                struct {
				File string
				Line int
			}
		}
	}
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil || len(doc.Reports) != 2 || doc.Reports[0].Name != "demo" ||
		doc.Reports[0].Command != "reset send" || !strings.HasPrefix(doc.Reports[0].Target, "embedded SMTP 127.0.0.1:") ||
		doc.Reports[1].Name != "reset send" || doc.Reports[0].Source.File != good || doc.Reports[0].Source.Line != 3 || doc.Reports[1].Source.Line != 4 {
		t.Fatalf("json %v: %+v\n%s", err, doc, r.out)
	}

	findings := writeSuite(t, "checks:\n  - reset send --embedded\n  - smtp check "+bad+"\n")
	if r := run(t, nil, "check", "-f", findings); r.code != report.ExitFindings {
		t.Errorf("suite with a 554 banner: exit %d", r.code)
	}
	incomplete := writeSuite(t, "timeout: 500ms\nchecks:\n  - smtp check "+bad+"\n  - smtp check ${SILENT}\n")
	if r := run(t, map[string]string{"SILENT": silent}, "check", "-f", incomplete); r.code != report.ExitIncomplete {
		t.Errorf("suite with a silent server: exit %d\n%s", r.code, r.out)
	}
	for _, body := range []string{
		"checks:\n  - smtp check\n",                           // missing argument
		"checks:\n  - smtp check x --no-such-flag\n",          // bad flag
		"checks:\n  - capture\n",                              // not a check
		"checks: []\n",                                        // empty
		"chekcs:\n  - dns x\n",                                // typo in a key
		"timeout: soon\nchecks:\n  - reset send --embedded\n", // bad duration
	} {
		if r := run(t, nil, "check", "-f", writeSuite(t, body)); r.code != report.ExitUsage {
			t.Errorf("%q: exit %d, want 2\n%s", body, r.code, r.errOut)
		}
	}
}

func TestBatch(t *testing.T) {
	bad := testserver.Start(t, testserver.SMTP{Banner: []string{"554 5.7.1 go away"}}.Handler())
	good := testserver.Start(t, testserver.SMTP{Caps: []string{"SIZE 20000000"}}.Handler())
	input := writeSuite(t, "# hosts\n"+good+"\n\n"+bad+"\n")
	r := run(t, nil, "batch", "-i", input, "--", "smtp", "check", "{}", "--role", "mx")
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines:\n%s\n%s", len(lines), r.out, r.errOut)
	}
	for i, want := range []string{good, bad} {
		var rep struct{ Target, Command string }
		if err := json.Unmarshal([]byte(lines[i]), &rep); err != nil || rep.Target != want || rep.Command != "smtp check" {
			t.Errorf("line %d: %v %+v", i, err, rep)
		}
	}
	if r.code != report.ExitFindings {
		t.Errorf("exit %d", r.code)
	}
	if r := run(t, nil, "batch", "-i", input, "--", "smtp", "chek"); r.code != report.ExitUsage {
		t.Errorf("bad command: exit %d", r.code)
	}
	if r := run(t, nil, "batch", "-i", input, "--", "smtp", "check", "--format", "text"); r.code != report.ExitUsage {
		t.Errorf("--format in batch: exit %d", r.code)
	}
}

// A batch target starting with "-" is an error for that line, reported in
// its JSON line and not run (it was parsed as a flag of the command); the
// other lines run (issue 15).
func TestBatch_targetStartingWithDash(t *testing.T) {
	good := testserver.Start(t, testserver.SMTP{Caps: []string{"SIZE 20000000"}}.Handler())
	input := writeSuite(t, "--help\n"+good+"\n--resolver=127.0.0.1:9\n")
	r := run(t, nil, "batch", "-i", input, "--", "smtp", "check", "{}", "--role", "mx")
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s\n%s", len(lines), r.out, r.errOut)
	}
	for i, want := range []string{"--help", good, "--resolver=127.0.0.1:9"} {
		var rep struct {
			Target   string
			Findings []struct{ Code string }
			Stages   []struct{ Name, Status string }
		}
		if err := json.Unmarshal([]byte(lines[i]), &rep); err != nil || rep.Target != want {
			t.Fatalf("line %d: %v %+v", i, err, rep)
		}
		invalid := len(rep.Findings) > 0 && rep.Findings[0].Code == "batch.target.invalid"
		if (i != 1) != invalid {
			t.Errorf("line %d (%s): findings %+v", i, want, rep.Findings)
		}
		if i == 1 && (len(rep.Stages) < 3 || rep.Stages[0].Status != "ok") {
			t.Errorf("the good target did not run: %+v", rep.Stages)
		}
	}
	if r.code != report.ExitIncomplete || strings.Contains(r.out, "Usage:") {
		t.Errorf("exit %d\n%s", r.code, r.out)
	}
}

// A batch command holding a password that fails to parse does not print
// it (issue 15).
func TestBatch_commandSecretsRegistered(t *testing.T) {
	input := writeSuite(t, "127.0.0.1:1\n")
	r := run(t, nil, "batch", "-i", input, "--", "smtp", "check", "{}", "--user", "u", "-password=Zq9-batch-s3cret")
	if r.code != report.ExitUsage || strings.Contains(r.out+r.errOut, "s3cret") || !strings.Contains(r.errOut, "<redacted>") {
		t.Errorf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
}

// A suite's problems are listed at once, each with its line, and the
// check's own usage line instead of check's; --dry-run prints the suite
// as it would run with secrets masked, exit 0 (2 with problems).
func TestCheckSuite_problemsAndDryRun(t *testing.T) {
	bad := writeSuite(t, "checks:\n  - dns\n  - name: sub\n    run: smtp check ${SMTP_HOST}:587\n  - smtp check mx --pasword Zq9-pw-value\nchekcs: []\n")
	r := run(t, nil, "check", "-f", bad)
	want := []string{"4 problems:", "line 2: check 1: usage: mailprobe dns DOMAIN", "line 4: check 2: ${SMTP_HOST} is not set",
		"line 5: check 3: unknown flag: --pasword", `line 6: unknown key "chekcs" (did you mean "checks")`}
	for _, w := range want {
		if !strings.Contains(r.errOut, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.errOut)
		}
	}
	if r.code != report.ExitUsage || strings.Contains(r.errOut, "check -f FILE") || strings.Contains(r.errOut, "Zq9") || strings.Contains(r.errOut, "cli.") {
		t.Errorf("exit %d:\n%s", r.code, r.errOut)
	}
	good := writeSuite(t, "timeout: 9s\nchecks:\n  - name: demo\n    run: reset send --embedded\n  - smtp check ${HOST}:587 --user u --password=${MPW}\n")
	r = run(t, map[string]string{"HOST": "mx.test", "MPW": "Zq9-pw-value"}, "check", "-f", good, "--dry-run")
	if r.code != 0 || strings.Contains(r.out, "Zq9") || !strings.Contains(r.out, "run: mailprobe smtp check mx.test:587 --user u '--password=<redacted>' --timeout 9s") ||
		!strings.Contains(r.out, "- name: demo  # line 4") {
		t.Errorf("dry run: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if r := run(t, nil, "check", "-f", bad, "--dry-run"); r.code != report.ExitUsage || !strings.Contains(r.errOut, "4 problems") {
		t.Errorf("dry run of a bad suite: exit %d\n%s", r.code, r.errOut)
	}
}

// MAILPROBE_DRY_RUN does not turn a CI run into a dry run that passes.
func TestCheckSuite_dryRunNotFromEnvironment(t *testing.T) {
	suite := writeSuite(t, "checks:\n  - dns\n")
	r := run(t, map[string]string{"MAILPROBE_DRY_RUN": "true"}, "check", "-f", suite)
	if r.code != report.ExitUsage || strings.Contains(r.out, "checks:") {
		t.Errorf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
}
