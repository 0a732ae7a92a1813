package cli

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLogs_flags(t *testing.T) {
	opts, _ := parsed(t, nil, "logs", "a.log", "-", "--maxretry", "3", "--findtime", "1h", "--bantime", "5m", "--alarm-after", "10",
		"--top", "20", "--year", "2025", "--max-sources", "50", "--max-accounts", "60", "--max-line-bytes", "4096")
	r := opts.(logsRun)
	o := r.Options
	if strings.Join(r.Files, ",") != "a.log,-" || r.Year != 2025 || o.MaxRetry != 3 || o.FindTime != time.Hour || o.BanTime != 5*time.Minute ||
		o.AlarmAfter != 10 || o.Top != 20 || o.MaxSources != 50 || o.MaxAccounts != 60 || o.MaxLineBytes != 4096 {
		t.Errorf("options %+v", r)
	}
	for _, bad := range [][]string{
		{"logs"}, {"logs", "x", "--maxretry", "0"}, {"logs", "x", "--findtime", "0s"}, {"logs", "x", "--year", "20"},
		{"logs", "x", "--max-line-bytes", "10"}, {"logs", "/nonexistent/mail.log"}, {"logs", "-", "-"}, {"logs", "."},
		{"logs", "x", "--format", "yaml"},
	} {
		if r := run(t, nil, bad...); r.code != 2 {
			t.Errorf("mailprobe %s: exit %d, want 2\n%s", strings.Join(bad, " "), r.code, r.errOut)
		}
	}
}

// The real burst of the integration environment, in every format, with
// the exit code contract: a login after failures is a fail (exit 1).
func TestLogs_formats(t *testing.T) {
	dir := filepath.Join("..", "maillog", "testdata")
	pf, dc := filepath.Join(dir, "postfix-burst.log"), filepath.Join(dir, "dovecot-burst.log")
	r := run(t, nil, "logs", pf, dc)
	if r.code != 1 || !strings.Contains(r.out, "logs.login.after-failures") || !strings.Contains(r.out, "127.0.0.2: 120 failed authentications") {
		t.Errorf("text: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	r = run(t, nil, "logs", pf, dc, "--format", "json")
	var doc struct {
		Command  string
		Findings []struct{ Code, Severity string }
		Facts    struct {
			Summary struct {
				TopSources []struct {
					Address  string
					Failures int
					Accounts []string
				} `json:"top_sources"`
			}
		}
	}
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil || r.code != 1 {
		t.Fatalf("json: exit %d, %v\n%s", r.code, err, r.out)
	}
	if doc.Command != "logs" || len(doc.Facts.Summary.TopSources) != 1 || doc.Facts.Summary.TopSources[0].Address != "127.0.0.2" || doc.Facts.Summary.TopSources[0].Failures != 120 {
		t.Errorf("json: %+v", doc)
	}
	for _, format := range []string{"junit", "sarif"} {
		r = run(t, nil, "logs", pf, dc, "--format", format)
		if r.code != 1 || !strings.Contains(r.out, "logs.source.brute-force") {
			t.Errorf("%s: exit %d\n%.300s", format, r.code, r.out)
		}
		if format == "junit" {
			if err := xml.Unmarshal([]byte(r.out), new(struct{})); err != nil {
				t.Errorf("junit: %v", err)
			}
		}
	}
	// From standard input, journalctl -o short-iso output; --fail-on warn
	// makes the brute force alone exit 1, --alarm-after above the count
	// removes the fail.
	b, err := os.ReadFile(filepath.Join(dir, "journal-short-iso.log"))
	if err != nil {
		t.Fatal(err)
	}
	r = runStdin(t, string(b), "logs", "-", "--alarm-after", "1000", "--format", "json")
	if r.code != 0 || strings.Contains(r.out, "logs.login.after-failures") || !strings.Contains(r.out, `"target": "-"`) {
		t.Errorf("stdin: exit %d\n%.500s%s", r.code, r.out, r.errOut)
	}
	r = runStdin(t, string(b), "logs", "-", "--alarm-after", "1000", "--fail-on", "warn")
	if r.code != 1 {
		t.Errorf("--fail-on warn: exit %d", r.code)
	}
}
