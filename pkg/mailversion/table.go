package mailversion

import (
	"bytes"
	_ "embed"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/mailprobe/mailprobe/internal/lazyre"
	"github.com/mailprobe/mailprobe/pkg/report"
)

//go:embed cves.yaml
var cvesYAML []byte

// CVE is one row of the vulnerability table.
type CVE struct {
	ID        string   `yaml:"id" json:"id"`
	Name      string   `yaml:"name" json:"name,omitempty"`
	Product   string   `yaml:"product" json:"product"`
	Affected  []string `yaml:"affected" json:"affected"`
	Severity  string   `yaml:"severity" json:"severity"`
	Fixed     string   `yaml:"fixed" json:"fixed"`
	Condition string   `yaml:"condition" json:"condition,omitempty"`
	Summary   string   `yaml:"summary" json:"summary"`
	Source    string   `yaml:"source" json:"source"`

	ranges []Range
}

// Ranges are the parsed affected ranges.
func (c CVE) Ranges() []Range { return c.ranges }

// ReportSeverity maps the CVSS rating to a finding severity: critical and
// high fail, medium warns, low is information.
func (c CVE) ReportSeverity() report.Severity {
	switch c.Severity {
	case "critical", "high":
		return report.Fail
	case "medium":
		return report.Warn
	}
	return report.Info
}

// DB is a loaded, validated vulnerability table.
type DB struct {
	CVEs []CVE
}

var (
	cveID      = lazyre.New(`^CVE-\d{4}-\d{4,7}$`)
	severities = map[string]bool{"critical": true, "high": true, "medium": true, "low": true}
)

// Load parses and validates a table in the cves.yaml format: every row
// has a well-formed id, a product Identify can name, at least one range
// that parses (with an upper bound), a severity, a fix, a summary and an
// https source. Unknown fields are errors, so a misspelt key cannot
// silently drop a range.
func Load(b []byte) (*DB, error) {
	var doc struct {
		CVEs []CVE `yaml:"cves"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("vulnerability table: %w", err)
	}
	if len(doc.CVEs) == 0 {
		return nil, fmt.Errorf("vulnerability table: no rows")
	}
	known := map[string]bool{}
	for _, p := range Products() {
		known[p] = true
	}
	seen := map[string]bool{}
	var errs []string
	for i := range doc.CVEs {
		c := &doc.CVEs[i]
		where := fmt.Sprintf("row %d (%s)", i+1, c.ID)
		switch {
		case !cveID.MatchString(c.ID):
			errs = append(errs, where+": id is not CVE-YYYY-NNNN")
		case seen[c.ID+"|"+c.Product]:
			errs = append(errs, where+": listed twice")
		}
		seen[c.ID+"|"+c.Product] = true
		if !known[c.Product] {
			errs = append(errs, fmt.Sprintf("%s: product %q is not one mailversion identifies", where, c.Product))
		}
		if !severities[c.Severity] {
			errs = append(errs, fmt.Sprintf("%s: severity %q (want critical, high, medium or low)", where, c.Severity))
		}
		if strings.TrimSpace(c.Summary) == "" || strings.TrimSpace(c.Fixed) == "" {
			errs = append(errs, where+": summary and fixed are required")
		}
		if u, err := url.Parse(c.Source); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Sprintf("%s: source %q is not an https URL", where, c.Source))
		}
		if len(c.Affected) == 0 {
			errs = append(errs, where+": no affected ranges")
		}
		for _, a := range c.Affected {
			r, err := ParseRange(a)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", where, err))
				continue
			}
			c.ranges = append(c.ranges, r)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("vulnerability table: %s", strings.Join(errs, "; "))
	}
	return &DB{CVEs: doc.CVEs}, nil
}

var (
	defaultOnce sync.Once
	defaultDB   *DB
	defaultErr  error
)

// Default is the table embedded in the binary. A broken table is a
// build mistake the tests catch; at run time it is returned as an error.
func Default() (*DB, error) {
	defaultOnce.Do(func() { defaultDB, defaultErr = Load(cvesYAML) })
	return defaultDB, defaultErr
}

// Certainty says how sure a match is.
type Certainty string

const (
	// Affected: the upstream version lies in an affected range.
	Affected Certainty = "affected"
	// Possible: the version lacks a part the range needs (Zimbra's patch
	// level): some builds of it are affected, some are not.
	Possible Certainty = "possible"
)

// Match is one CVE whose ranges hold a version.
type Match struct {
	CVE       CVE       `json:"cve"`
	Range     string    `json:"range"`
	Certainty Certainty `json:"certainty"`
}

// Match returns the rows whose ranges hold the software's version, worst
// first. Unknown versions match nothing: a hidden version is never
// guessed.
func (db *DB) Match(sw Software) []Match {
	if db == nil || !sw.Known() {
		return nil
	}
	v, err := ParseVersion(sw.Version)
	if err != nil {
		return nil
	}
	var out []Match
	for _, c := range db.CVEs {
		if c.Product != sw.Product {
			continue
		}
		for _, r := range c.ranges {
			lo, hi := r.Contains(v), r.Contains(upperEnd(v))
			switch {
			case !sw.Partial && lo, sw.Partial && lo && hi:
				out = append(out, Match{CVE: c, Range: r.Text, Certainty: Affected})
			case sw.Partial && (lo || hi):
				out = append(out, Match{CVE: c, Range: r.Text, Certainty: Possible})
			default:
				continue
			}
			break
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Certainty != b.Certainty {
			return a.Certainty == Affected
		}
		return a.CVE.ReportSeverity() > b.CVE.ReportSeverity()
	})
	return out
}

// upperEnd is the highest build a partial version can stand for: the
// version with a last part above any patch number.
func upperEnd(v Version) Version {
	u := v
	u.Parts = append(append([]int64(nil), v.Parts...), 1<<40)
	return u
}
