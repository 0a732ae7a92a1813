package certcheck

import (
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/pkg/report"
)

func findingsByCode(fs []report.Finding) map[string]report.Finding {
	m := map[string]report.Finding{}
	for _, f := range fs {
		m[f.Code] = f
	}
	return m
}

// The certificate stage every engine shares: a trusted certificate is a
// passing stage; an untrusted one fails it, unless --insecure, which
// turns the trust findings into warnings that say so and adds
// cert.verify-skipped.
func TestStage(t *testing.T) {
	c := newCA(t)
	state := c.leaf(t, leafOpts{names: []string{"mail.test"}})
	o := Options{ServerName: "mail.test", Roots: c.pool, Now: now, Stage: "certificate:993"}

	good := Stage(state, StageOptions{Options: o})
	if good.Status != report.StatusOK || !good.Trusted || !good.Usable(false) || !strings.HasPrefix(good.Summary, "CN=mail.test, expires ") {
		t.Errorf("trusted: %+v", good)
	}
	if _, ok := findingsByCode(good.Findings)["cert.verify-skipped"]; ok {
		t.Error("cert.verify-skipped without --insecure")
	}

	o.ServerName = "other.test"
	bad := Stage(state, StageOptions{Options: o, Note: "from a raw probe"})
	mm, ok := findingsByCode(bad.Findings)["cert.name-mismatch"]
	if bad.Status != report.StatusFail || bad.Usable(false) || !ok || mm.Severity != report.Fail || mm.Stage != "certificate:993" {
		t.Errorf("name mismatch: status %s, finding %+v", bad.Status, mm)
	}
	if len(mm.Evidence) == 0 {
		t.Errorf("the note is not in the evidence: %+v", mm)
	}

	insecure := Stage(state, StageOptions{Options: o, Insecure: true})
	got := findingsByCode(insecure.Findings)
	if f := got["cert.name-mismatch"]; f.Severity != report.Warn || !strings.Contains(f.Detail, "--insecure") {
		t.Errorf("--insecure: %+v", f)
	}
	if f, ok := got["cert.verify-skipped"]; !ok || f.Stage != "certificate:993" {
		t.Errorf("--insecure: no cert.verify-skipped at the stage: %+v", insecure.Findings)
	}
	if !insecure.Usable(true) {
		t.Error("--insecure: not usable")
	}
}
