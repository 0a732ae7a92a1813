package mailversion

import (
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/pkg/report"
)

func TestDefault_loads(t *testing.T) {
	db, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range db.CVEs {
		if len(c.Ranges()) != len(c.Affected) || len(c.Ranges()) == 0 {
			t.Errorf("%s: %d ranges parsed of %d", c.ID, len(c.Ranges()), len(c.Affected))
		}
		if !strings.HasPrefix(c.Source, "https://") {
			t.Errorf("%s: source %q", c.ID, c.Source)
		}
	}
}

// rowCases holds, for every row of cves.yaml, a version the row must
// match and one (the fix, or just past it) it must not. A row without
// an entry here fails the test: each row is tested.
var rowCases = map[string]struct{ affected, fixed []string }{
	"CVE-2019-10149": {[]string{"4.87", "4.91"}, []string{"4.92", "4.86.2"}},
	"CVE-2019-15846": {[]string{"4.92.1", "4.80"}, []string{"4.92.2", "4.93"}},
	"CVE-2019-16928": {[]string{"4.92", "4.92.2"}, []string{"4.92.3", "4.91"}},
	"CVE-2018-6789":  {[]string{"4.90", "4.90_RC3"}, []string{"4.90.1", "4.92"}},
	"CVE-2020-28017": {[]string{"4.94", "4.94.1"}, []string{"4.94.2", "4.96"}},
	"CVE-2020-28018": {[]string{"4.94.1"}, []string{"4.94.2"}},
	"CVE-2020-28019": {[]string{"4.93"}, []string{"4.94.2"}},
	"CVE-2020-28020": {[]string{"4.91", "4.84_2"}, []string{"4.92", "4.94"}},
	"CVE-2020-28021": {[]string{"4.92.3"}, []string{"4.94.2"}},
	"CVE-2020-28022": {[]string{"4.94"}, []string{"4.95"}},
	"CVE-2020-28023": {[]string{"4.94.1"}, []string{"4.94.2"}},
	"CVE-2020-28024": {[]string{"4.90"}, []string{"4.94.2"}},
	"CVE-2020-28025": {[]string{"4.93"}, []string{"4.94.2"}},
	"CVE-2020-28026": {[]string{"4.94"}, []string{"4.94.2"}},
	"CVE-2023-42115": {[]string{"4.96", "4.94.2"}, []string{"4.96.1", "4.97"}},
	"CVE-2019-11500": {[]string{"2.3.7.1", "2.2.36.3", "2.3.0"}, []string{"2.3.7.2", "2.2.36.4", "2.3.8"}},
	"CVE-2019-7524":  {[]string{"2.3.5", "2.2.36.2"}, []string{"2.3.5.1", "2.2.36.3"}},
	"CVE-2022-30550": {[]string{"2.3.19.1", "2.2.0"}, []string{"2.3.20", "2.1.17"}},
	"CVE-2023-51764": {[]string{"3.8.4", "3.7.11"}, []string{"3.9.0", "3.10.1"}},
	"CVE-2002-1337":  {[]string{"8.12.7", "5.79"}, []string{"8.12.8", "5.78"}},
	"CVE-2003-0161":  {[]string{"8.12.8"}, []string{"8.12.9"}},
	"CVE-2003-0694":  {[]string{"8.12.9"}, []string{"8.12.10", "8.14.4"}},
	"CVE-2021-26855": {[]string{"15.1.2176.2", "15.2.792.3", "15.0.1497.2"}, []string{"15.1.2176.9", "15.1.2242.4", "15.2.792.10", "15.0.1497.12"}},
	"CVE-2021-34473": {[]string{"15.1.2176.9", "15.2.858.5", "15.1.2242.4"}, []string{"15.1.2176.12", "15.1.2242.8", "15.2.858.10", "15.2.922.7"}},
	"CVE-2022-41352": {[]string{"8.8.15.p33", "9.0.0.p26"}, []string{"8.8.15.p34", "9.0.0.p27"}},
	"CVE-2022-27925": {[]string{"8.8.15.p30", "9.0.0.p23"}, []string{"8.8.15.p31", "9.0.0.p24"}},
	"CVE-2022-37042": {[]string{"8.8.15.p32", "9.0.0.p25"}, []string{"8.8.15.p33", "9.0.0.p26"}},
	"CVE-2020-7247":  {[]string{"6.6.1p1", "6.4.0"}, []string{"6.6.2p1", "6.3.9"}},
	"CVE-2020-8794":  {[]string{"6.6.3p1", "6.0.2"}, []string{"6.6.4", "6.7.1"}},
}

func TestDefault_everyRow(t *testing.T) {
	db, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range db.CVEs {
		tc, ok := rowCases[c.ID]
		if !ok {
			t.Errorf("%s (%s): no test case in rowCases", c.ID, c.Product)
			continue
		}
		for _, v := range tc.affected {
			if !hasCVE(db.Match(Software{Product: c.Product, Version: v}), c.ID, Affected) {
				t.Errorf("%s: %s %s should be affected (ranges %v)", c.ID, c.Product, v, c.Affected)
			}
		}
		for _, v := range tc.fixed {
			if hasCVE(db.Match(Software{Product: c.Product, Version: v}), c.ID, "") {
				t.Errorf("%s: %s %s should not be affected (ranges %v)", c.ID, c.Product, v, c.Affected)
			}
		}
	}
	if len(rowCases) != len(db.CVEs) {
		t.Errorf("rowCases has %d entries for %d rows: remove cases of deleted rows", len(rowCases), len(db.CVEs))
	}
}

func hasCVE(ms []Match, id string, certainty Certainty) bool {
	for _, m := range ms {
		if m.CVE.ID == id && (certainty == "" || m.Certainty == certainty) {
			return true
		}
	}
	return false
}

func TestMatch_unknownAndPartial(t *testing.T) {
	db, _ := Default()
	if ms := db.Match(Software{Product: Exim}); len(ms) != 0 {
		t.Errorf("an unknown version matched %d rows", len(ms))
	}
	if ms := db.Match(Software{Product: Postfix, Version: "3.8.4"}); !hasCVE(ms, "CVE-2023-51764", Affected) || len(ms) != 1 {
		t.Errorf("Postfix 3.8.4: %+v", ms)
	}
	// Zimbra's banner shows 8.8.15 but not the patch: possibly affected,
	// never "affected", by every 8.8.15 row; 9.0.0 rows do not match.
	ms := db.Match(Software{Product: Zimbra, Version: "8.8.15_GA_3869", Partial: true})
	if len(ms) != 3 {
		t.Fatalf("Zimbra 8.8.15 partial: %d matches, want 3", len(ms))
	}
	for _, m := range ms {
		if m.Certainty != Possible || !strings.HasPrefix(m.Range, ">=8.8.15") {
			t.Errorf("Zimbra 8.8.15 partial: %+v", m)
		}
	}
	// 8.7 is older than every listed range.
	if ms := db.Match(Software{Product: Zimbra, Version: "8.7.11", Partial: true}); len(ms) != 0 {
		t.Errorf("Zimbra 8.7.11: %+v", ms)
	}
	// Another product's version never matches.
	if ms := db.Match(Software{Product: Dovecot, Version: "4.91"}); len(ms) != 0 {
		t.Errorf("Dovecot 4.91 matched Exim rows: %+v", ms)
	}
}

func TestLoad_rejects(t *testing.T) {
	row := `cves:
  - id: CVE-2019-10149
    product: Exim
    affected: [">=4.87,<4.92"]
    severity: critical
    fixed: "4.92"
    summary: s
    source: https://example.org/a
`
	if _, err := Load([]byte(row)); err != nil {
		t.Fatalf("valid row rejected: %v", err)
	}
	for name, bad := range map[string]string{
		"bad id":        strings.Replace(row, "CVE-2019-10149", "CVE-19-1", 1),
		"product":       strings.Replace(row, "product: Exim", "product: Eximm", 1),
		"no upper":      strings.Replace(row, `">=4.87,<4.92"`, `">=4.87"`, 1),
		"inverted":      strings.Replace(row, `">=4.87,<4.92"`, `">=4.92,<4.87"`, 1),
		"severity":      strings.Replace(row, "critical", "severe", 1),
		"http source":   strings.Replace(row, "https://", "http://", 1),
		"no source":     strings.Replace(row, "    source: https://example.org/a\n", "", 1),
		"no summary":    strings.Replace(row, "summary: s", "summary: ''", 1),
		"unknown field": strings.Replace(row, "summary: s", "summary: s\n    afected: [\"<1\"]", 1),
		"no ranges":     strings.Replace(row, `affected: [">=4.87,<4.92"]`, "affected: []", 1),
		"empty":         "cves: []",
		"not yaml":      "cves: [",
		"duplicate":     row + strings.TrimPrefix(row, "cves:\n"),
	} {
		if _, err := Load([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestReportSeverity(t *testing.T) {
	for sev, want := range map[string]report.Severity{"critical": report.Fail, "high": report.Fail, "medium": report.Warn, "low": report.Info} {
		if got := (CVE{Severity: sev}).ReportSeverity(); got != want {
			t.Errorf("%s: %v", sev, got)
		}
	}
}
