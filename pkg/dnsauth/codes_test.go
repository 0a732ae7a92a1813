package dnsauth

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// TestRegistry_everyCodeRegistered reads the package's sources for every
// code it reports and checks that each is registered: an unregistered
// code would surface as a "fail" finding with no title.
func TestRegistry_everyCodeRegistered(t *testing.T) {
	files, _ := os.ReadDir(".")
	re := regexp.MustCompile(`report\.New\("([a-z0-9.\-_]+)"`)
	n := 0
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".go") || strings.HasSuffix(f.Name(), "_test.go") {
			continue
		}
		b, _ := os.ReadFile(f.Name())
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			n++
			if _, ok := report.Lookup(m[1]); !ok {
				t.Errorf("%s: code %s is not registered", f.Name(), m[1])
			}
		}
	}
	for _, r := range []SPFResult{SPFNone, SPFNeutral, SPFPass, SPFFail, SPFSoftFail, SPFTempError, SPFPermError} {
		if _, ok := report.Lookup("spf.result." + string(r)); !ok {
			t.Errorf("spf.result.%s is not registered", r)
		}
	}
	if n < 100 {
		t.Errorf("found only %d report.New calls; the scan is broken", n)
	}
}
