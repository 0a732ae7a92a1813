package cli

import (
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// A domain argument no DNS name can be is a usage error (exit 2) in every
// command taking a domain, before anything is looked up, and the error
// does not echo the argument whole (issue 15: a 4 MB dns argument used
// 900 MB).
func TestDomainArgumentBounds(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	ok253 := strings.Join([]string{label63, label63, label63, strings.Repeat("b", 61)}, ".") // 253 octets
	if len(ok253) != 253 {
		t.Fatalf("fixture is %d octets", len(ok253))
	}
	if err := checkDomainName(ok253); err != nil {
		t.Errorf("253 octets: %v", err)
	}
	if err := checkDomainName(ok253 + "."); err != nil {
		t.Errorf("253 octets and the root dot: %v", err)
	}
	bad := map[string]string{
		"254 octets":    ok253 + "c",
		"label of 64":   strings.Repeat("a", 64) + ".example",
		"4 MB":          strings.Repeat("a.", 2<<20) + "example",
		"idna too long": strings.Repeat("ü", 70) + ".example", // 70 characters become a label over 63 octets
	}
	for what, name := range bad {
		if err := checkDomainName(name); err == nil {
			t.Errorf("%s: accepted", what)
		}
		for _, cmd := range [][]string{{"dns", name}, {"spf", name}, {"dkim", "check", name, "--selector", "s1"}, {"dmarc", name}} {
			args := append(cmd, "--resolver", "127.0.0.1:1", "--timeout", "2s")
			r := run(t, nil, args...)
			if r.code != report.ExitUsage {
				t.Errorf("%s %s: exit %d, want 2\n%.300s", cmd[0], what, r.code, r.errOut)
			}
			if len(r.errOut) > 600 || !strings.Contains(r.errOut, "at most") {
				t.Errorf("%s %s: stderr of %d bytes: %.300s", cmd[0], what, len(r.errOut), r.errOut)
			}
		}
	}
}

// Suite files and lines are bounded; a clear error, exit 2, without
// reading or echoing the whole thing.
func TestCheckSuite_bounds(t *testing.T) {
	big := writeSuite(t, "checks:\n  - dns "+strings.Repeat("a", 2<<20)+"\n")
	r := run(t, nil, "check", "-f", big)
	if r.code != report.ExitUsage || !strings.Contains(r.errOut, "larger than") || len(r.errOut) > 400 {
		t.Errorf("2 MiB suite: exit %d, %.300s", r.code, r.errOut)
	}
	long := writeSuite(t, "checks:\n  - dns "+strings.Repeat("a", 20<<10)+"\n")
	r = run(t, nil, "check", "-f", long)
	if r.code != report.ExitUsage || !strings.Contains(r.errOut, "check 1: the line is") || len(r.errOut) > 400 {
		t.Errorf("20 KiB line: exit %d, %.300s", r.code, r.errOut)
	}
	// A long (but bounded) target is clipped wherever the report echoes it.
	name := strings.Repeat("a", 60) + "." + strings.Repeat("b", 200) + ".example"
	r = run(t, nil, "check", "-f", writeSuite(t, "checks:\n  - dns "+name+" --resolver 127.0.0.1:1\n"), "--format", "json")
	if r.code == 0 || strings.Contains(r.out, strings.Repeat("b", 100)) {
		t.Errorf("long target: exit %d, echoed whole:\n%.600s", r.code, r.out)
	}
}
