// Package formatcheck validates mailprobe's machine-readable outputs the
// way their consumers do, for tests: SARIF against the OASIS SARIF 2.1.0
// schema and against GitHub code scanning's documented upload rules,
// JUnit against the Ant JUnit XSD and the Jenkins xunit plugin's JUnit
// XSD (with xmllint), and JSON against docs/report.schema.json.
//
// The schemas live in the repository's testdata/schema (with their
// licences) and docs/; this package finds them from its own source file,
// so any package's test can call it.
package formatcheck

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Root is the repository's root directory: the nearest directory above
// the test's working directory (its package directory) that holds
// mailprobe's go.mod. (Not the source file's path: the integration suite
// is built with -trimpath.)
func Root() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/mailprobe/mailprobe\n") {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

var (
	schemaMu sync.Mutex
	schemas  = map[string]*jsonschema.Schema{}
)

// compile loads a JSON Schema file once per test binary.
func compile(t testing.TB, path string) *jsonschema.Schema {
	t.Helper()
	schemaMu.Lock()
	defer schemaMu.Unlock()
	if s, ok := schemas[path]; ok {
		return s
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	u := "file://" + filepath.ToSlash(path)
	if err := c.AddResource(u, doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	s, err := c.Compile(u)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	schemas[path] = s
	return s
}

func validateSchema(t testing.TB, what, path string, out []byte) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", what, err, out)
	}
	if err := compile(t, path).Validate(inst); err != nil {
		t.Errorf("%s does not validate against %s:\n%v", what, filepath.Base(path), err)
	}
}

// SARIF validates a SARIF document against the SARIF 2.1.0 schema and
// GitHub code scanning's upload requirements, and returns it decoded.
func SARIF(t testing.TB, out []byte) map[string]any {
	t.Helper()
	validateSchema(t, "SARIF", filepath.Join(Root(), "testdata", "schema", "sarif-schema-2.1.0.json"), out)
	for _, p := range GitHubSARIFProblems(out) {
		t.Errorf("SARIF breaks a GitHub code scanning rule: %s", p)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// GitHub's requirements for an uploaded SARIF file, from "SARIF support
// for code scanning" and "About code scanning limits on SARIF results"
// (docs.github.com, code-security/code-scanning):
const (
	ghMaxGzipBytes   = 10 << 20 // a gzip-compressed SARIF file of at most 10 MB
	ghMaxRuns        = 20       // runs per file
	ghMaxResults     = 25000    // results per run (only the top 5000 are shown)
	ghMaxRules       = 25000    // rules per run
	ghMaxExtensions  = 100      // tool extensions per run
	ghMaxLocations   = 1000     // locations per result (only 100 are shown)
	ghMaxTags        = 20       // tags per rule (only 10 are shown)
	ghMaxShownTags   = 10
	ghMaxDescription = 1024 // rule shortDescription and fullDescription, characters
)

// GitHubSARIFProblems lists every way out breaks GitHub's documented
// rules for code scanning uploads, plus mailprobe's own contract (one run
// per invocation, a location and fingerprint on every result). Each check
// cites the rule it stands for.
func GitHubSARIFProblems(out []byte) []string {
	var ps []string
	bad := func(format string, args ...any) { ps = append(ps, fmt.Sprintf(format, args...)) }

	// Size: "SARIF upload supports a maximum size of 10 MB" gzip-compressed.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(out)
	zw.Close()
	if gz.Len() > ghMaxGzipBytes {
		bad("gzip-compressed size %d bytes > 10 MB", gz.Len())
	}

	type text struct {
		Text *string `json:"text"`
	}
	type loc struct {
		PhysicalLocation *struct {
			ArtifactLocation *struct {
				URI       string `json:"uri"`
				URIBaseID string `json:"uriBaseId"`
			} `json:"artifactLocation"`
			Region *struct {
				StartLine *int `json:"startLine"`
			} `json:"region"`
		} `json:"physicalLocation"`
	}
	var doc struct {
		Schema  string `json:"$schema"`
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID               string         `json:"id"`
						ShortDescription *text          `json:"shortDescription"`
						FullDescription  *text          `json:"fullDescription"`
						Help             *text          `json:"help"`
						HelpURI          string         `json:"helpUri"`
						Properties       map[string]any `json:"properties"`
					} `json:"rules"`
				} `json:"driver"`
				Extensions []any `json:"extensions"`
			} `json:"tool"`
			Invocations []struct {
				ExecutionSuccessful *bool `json:"executionSuccessful"`
			} `json:"invocations"`
			AutomationDetails *struct {
				ID string `json:"id"`
			} `json:"automationDetails"`
			Results []struct {
				RuleID              string            `json:"ruleId"`
				RuleIndex           *int              `json:"ruleIndex"`
				Level               string            `json:"level"`
				Message             text              `json:"message"`
				Locations           []loc             `json:"locations"`
				PartialFingerprints map[string]string `json:"partialFingerprints"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return []string{"not JSON: " + err.Error()}
	}
	// "you'll need to ensure that uploaded files use the SARIF 2.1.0 version"
	if doc.Version != "2.1.0" {
		bad("version %q, want 2.1.0", doc.Version)
	}
	if doc.Schema == "" {
		bad("$schema missing")
	}
	// Runs per file: 20. mailprobe: one run per invocation (GitHub rejects
	// several runs of one tool and category in one upload).
	if len(doc.Runs) > ghMaxRuns {
		bad("%d runs > %d", len(doc.Runs), ghMaxRuns)
	}
	if len(doc.Runs) != 1 {
		bad("%d runs, want one per invocation", len(doc.Runs))
	}
	for ri, run := range doc.Runs {
		// tool.driver.name is required: "The name of the analysis tool".
		if run.Tool.Driver.Name == "" {
			bad("run %d: tool.driver.name empty", ri)
		}
		if n := len(run.Tool.Driver.Rules); n > ghMaxRules {
			bad("run %d: %d rules > %d", ri, n, ghMaxRules)
		}
		if n := len(run.Tool.Extensions); n > ghMaxExtensions {
			bad("run %d: %d tool extensions > %d", ri, n, ghMaxExtensions)
		}
		if n := len(run.Results); n > ghMaxResults {
			bad("run %d: %d results > %d", ri, n, ghMaxResults)
		}
		// mailprobe: every run says how the invocation went.
		if len(run.Invocations) != 1 || run.Invocations[0].ExecutionSuccessful == nil {
			bad("run %d: want one invocation with executionSuccessful", ri)
		}
		// automationDetails.id: the category is what precedes the last
		// "/"; it must be set so two mailprobe checks do not replace
		// each other's alerts.
		if run.AutomationDetails == nil || !strings.Contains(run.AutomationDetails.ID, "/") {
			bad("run %d: automationDetails.id missing or without a category", ri)
		}
		ids := map[string]int{}
		for i, rule := range run.Tool.Driver.Rules {
			// reportingDescriptor.id is required and identifies the rule.
			if rule.ID == "" {
				bad("rule %d: id empty", i)
			}
			if _, dup := ids[rule.ID]; dup {
				bad("rule %s listed twice", rule.ID)
			}
			ids[rule.ID] = i
			// shortDescription / fullDescription: "maximum of 1024 characters".
			for name, d := range map[string]*text{"shortDescription": rule.ShortDescription, "fullDescription": rule.FullDescription} {
				if d == nil || d.Text == nil || *d.Text == "" {
					bad("rule %s: %s missing (GitHub shows it at the top of an alert)", rule.ID, name)
				} else if n := len([]rune(*d.Text)); n > ghMaxDescription {
					bad("rule %s: %s is %d characters > %d", rule.ID, name, n, ghMaxDescription)
				}
			}
			// help.text: "Documentation for the rule"; mailprobe always gives it.
			if rule.Help == nil || rule.Help.Text == nil || *rule.Help.Text == "" {
				bad("rule %s: help.text missing", rule.ID)
			}
			if u, err := url.Parse(rule.HelpURI); err != nil || u.Scheme != "https" || u.Fragment == "" {
				bad("rule %s: helpUri %q is not an https link to the code's anchor", rule.ID, rule.HelpURI)
			}
			tags, _ := rule.Properties["tags"].([]any)
			// Tags per rule: 20 accepted, 10 shown.
			if len(tags) > ghMaxTags || len(tags) > ghMaxShownTags {
				bad("rule %s: %d tags > %d shown", rule.ID, len(tags), ghMaxShownTags)
			}
			for _, tag := range tags {
				if tag != "security" {
					continue
				}
				// "security-severity: a value between 0.0 and 10.0" for
				// rules tagged security; without it GitHub shows no
				// security severity.
				s, _ := rule.Properties["security-severity"].(string)
				v, err := strconv.ParseFloat(s, 64)
				if err != nil || v <= 0 || v > 10 {
					bad("rule %s: tagged security but security-severity %q is not in (0, 10]", rule.ID, s)
				}
			}
			if p, ok := rule.Properties["precision"]; ok {
				switch p {
				case "very-high", "high", "medium", "low":
				default:
					bad("rule %s: precision %v", rule.ID, p)
				}
			}
		}
		fps := map[string]bool{}
		for i, res := range run.Results {
			// "ruleId: the unique identifier of the rule"; required, and
			// the same across analyses.
			j, known := ids[res.RuleID]
			if res.RuleID == "" || !known {
				bad("result %d: ruleId %q names no rule", i, res.RuleID)
			}
			if res.RuleIndex != nil && (!known || *res.RuleIndex != j) {
				bad("result %d: ruleIndex %d does not point at %s", i, *res.RuleIndex, res.RuleID)
			}
			// message.text is required: "A message that describes the result".
			if res.Message.Text == nil || strings.TrimSpace(*res.Message.Text) == "" {
				bad("result %d (%s): message.text empty", i, res.RuleID)
			}
			switch res.Level {
			case "note", "warning", "error", "none":
			default:
				bad("result %d (%s): level %q", i, res.RuleID, res.Level)
			}
			// "At least one location is required for code scanning to
			// display a result"; at most 1000 (100 shown).
			if n := len(res.Locations); n < 1 || n > ghMaxLocations {
				bad("result %d (%s): %d locations", i, res.RuleID, n)
			}
			for _, l := range res.Locations {
				// physicalLocation.artifactLocation.uri: "a URI
				// indicating the location of an artifact ... we
				// recommend that this is a relative path"; region.startLine
				// is the 1-based line GitHub annotates.
				p := l.PhysicalLocation
				if p == nil || p.ArtifactLocation == nil || p.ArtifactLocation.URI == "" {
					bad("result %d (%s): no physicalLocation.artifactLocation.uri", i, res.RuleID)
					continue
				}
				u, err := url.Parse(p.ArtifactLocation.URI)
				if err != nil || (u.Scheme != "" && u.Scheme != "file") || strings.HasPrefix(u.Path, "../") || strings.Contains(u.Path, "/../") {
					bad("result %d (%s): artifact uri %q is not a relative path or file: URI", i, res.RuleID, p.ArtifactLocation.URI)
				}
				if p.Region == nil || p.Region.StartLine == nil || *p.Region.StartLine < 1 {
					bad("result %d (%s): region.startLine missing or < 1", i, res.RuleID)
				}
			}
			// partialFingerprints: "used to track alerts across runs";
			// mailprobe gives its own, and one per result (two results
			// with one fingerprint would be one alert).
			fp := res.PartialFingerprints["mailprobe/v1"]
			if fp == "" {
				bad("result %d (%s): no mailprobe/v1 partial fingerprint", i, res.RuleID)
			} else if fps[fp] {
				bad("result %d (%s): fingerprint %s used twice", i, res.RuleID, fp)
			}
			fps[fp] = true
		}
	}
	return ps
}
