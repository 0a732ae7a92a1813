package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/internal/formatcheck"
	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/capture"
)

// Every check command's JSON, JUnit and SARIF, complete and incomplete
// runs alike, is what its consumers accept: JSON against
// docs/report.schema.json with no null anywhere, JUnit against the Ant
// and Jenkins xunit XSDs, SARIF against the 2.1.0 schema and GitHub code
// scanning's upload rules (internal/formatcheck).
func TestEveryCommandEveryFormatValidates(t *testing.T) {
	dnsAddr := dnsServer(t)
	arcDNS := dnstest.Start(t, dnstest.NewZone().MustAdd(arcSuiteKey)).Addr
	good := testserver.Start(t, testserver.SMTP{Banner: []string{"220 mx.test.example ESMTP"}, Caps: []string{"SIZE 10240000", "PIPELINING"}}.Handler())
	silent := testserver.Start(t, testserver.Silent)
	eml := filepath.Join("testdata", "arc", "pass-i2.eml")
	// capture's SMTP and IMAP servers (STARTTLS, a CA of their own) for
	// smtp send, imap audit and tls.
	const user, secret = "ci@test.example", "Fmt-Check-pw-1"
	pair, err := capture.Start(context.Background(), capture.Options{Hostname: "localhost", Users: map[string]string{user: secret}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pair.Close() })
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pair.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	trust := []string{"--ca-file", ca, "--servername", "localhost"}
	suite := writeSuite(t, "timeout: 2s\nchecks:\n  - name: demo\n    run: reset send --embedded\n  - smtp check "+good+" --role mx\n  - name: silent\n    run: smtp check "+silent+" --timeout 300ms\n")
	cases := []struct {
		name string
		args []string
		exit int
	}{
		{"reset send", []string{"reset", "send", "--embedded"}, 0},
		{"smtp check", []string{"smtp", "check", good, "--role", "mx"}, -1},
		{"smtp check incomplete", []string{"smtp", "check", silent, "--timeout", "300ms"}, 3},
		{"dns", []string{"dns", "good.test", "--resolver", dnsAddr, "--mta-sts-url", "https://127.0.0.1:1/{domain}"}, -1},
		{"dns incomplete", []string{"dns", "good.test", "--resolver", "127.0.0.1:9", "--dns-timeout", "200ms"}, 3},
		{"spf", []string{"spf", "good.test", "--resolver", dnsAddr, "--ip", "198.51.100.20"}, -1},
		{"dmarc", []string{"dmarc", "good.test", "--resolver", dnsAddr}, -1},
		{"dkim check", []string{"dkim", "check", "dkim.test", "--resolver", dnsAddr, "-s", "rsa2048,rsa512"}, -1},
		{"dkim verify", []string{"dkim", "verify", eml, "--resolver", arcDNS}, -1},
		{"arc verify", []string{"arc", "verify", eml, "--resolver", arcDNS}, -1},
		{"arc verify incomplete", []string{"arc", "verify", eml, "--resolver", "127.0.0.1:9", "--dns-timeout", "200ms"}, 3},
		{"smtp send", append([]string{"smtp", "send", pair.SMTPAddr(), "--from", user, "--to", user, "--tls", "starttls"}, trust...), -1},
		{"imap audit", append([]string{"imap", "audit", pair.IMAPAddr(), "--user", user, "--password-env", "MP_PW", "--no-tls-scan"}, trust...), -1},
		{"pop3 audit incomplete", []string{"pop3", "audit", silent, "--timeout", "300ms"}, 3},
		{"tls", append([]string{"tls", pair.SMTPAddr(), "--starttls", "smtp", "--quick"}, trust...), -1},
		{"tls incomplete", []string{"tls", silent, "--tls", "implicit", "--quick", "--timeout", "300ms"}, 3},
		{"check -f", []string{"check", "-f", suite}, 3},
		{"audit", append([]string{"audit", "127.0.0.1", "--port", portOf(t, pair.SMTPAddr()) + "/submission", "--port", portOf(t, pair.IMAPAddr()) + "/imap", "--no-tls-scan"}, trust...), -1},
		{"audit incomplete", []string{"audit", "127.0.0.1", "--port", portOf(t, silent) + "/imaps", "--timeout", "300ms"}, 3},
	}
	for _, c := range cases {
		for _, format := range []string{"json", "junit", "sarif"} {
			r := run(t, map[string]string{"MP_PW": secret}, append(c.args, "--format", format)...)
			if c.exit >= 0 && r.code != c.exit || r.code == 2 {
				t.Errorf("%s --format %s: exit %d, want %d\n%s", c.name, format, r.code, c.exit, r.errOut)
				continue
			}
			switch format {
			case "json":
				formatcheck.JSON(t, []byte(r.out))
			case "junit":
				doc := formatcheck.JUnit(t, []byte(r.out))
				failures, errs := 0, 0
				for _, s := range doc.Suites {
					failures += s.Failures
					errs += s.Errors
				}
				// The JUnit verdict agrees with the exit code.
				if (r.code == 3) != (errs > 0) || (r.code == 1) != (failures > 0 && errs == 0) && r.code != 3 {
					t.Errorf("%s: exit %d but JUnit has %d failures, %d errors", c.name, r.code, failures, errs)
				}
			case "sarif":
				doc := formatcheck.SARIF(t, []byte(r.out))
				inv := doc["runs"].([]any)[0].(map[string]any)["invocations"].([]any)[0].(map[string]any)
				if inv["exitCode"].(float64) != float64(r.code) || inv["executionSuccessful"].(bool) != (r.code != 3) {
					t.Errorf("%s: exit %d but SARIF invocation %v", c.name, r.code, inv)
				}
			}
		}
	}
	// batch: JSON lines, each a report.
	r := runStdin(t, "good.test\nspf.test\n-bad\n", "batch", "--", "dns", "{}", "--resolver", dnsAddr, "--mta-sts-url", "https://127.0.0.1:1/{domain}")
	if n := formatcheck.JSONLines(t, []byte(r.out)); n != 3 {
		t.Errorf("batch: %d JSON lines, want 3", n)
	}
	// name (the input line), command and target are separate fields.
	var first struct{ Name, Command, Target string }
	if err := json.Unmarshal([]byte(strings.SplitN(r.out, "\n", 2)[0]), &first); err != nil || first.Name != "good.test" || first.Command != "dns" || first.Target != "good.test" {
		t.Errorf("batch record: %+v %v", first, err)
	}
}

// portOf is the port of a "host:port" address.
func portOf(t *testing.T, addr string) string {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		t.Fatalf("no port in %q", addr)
	}
	return addr[i+1:]
}
