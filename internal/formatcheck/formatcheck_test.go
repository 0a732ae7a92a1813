package formatcheck

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The checks can fail: documents that break each rule are caught.
func TestGitHubSARIFProblems_catches(t *testing.T) {
	for name, doc := range map[string]string{
		"two runs":          `{"$schema":"x","version":"2.1.0","runs":[{"tool":{"driver":{"name":"m"}}},{"tool":{"driver":{"name":"m"}}}]}`,
		"old version":       `{"$schema":"x","version":"2.0.0","runs":[]}`,
		"no location":       `{"$schema":"x","version":"2.1.0","runs":[{"tool":{"driver":{"name":"m","rules":[{"id":"a.b","shortDescription":{"text":"t"},"fullDescription":{"text":"t"},"help":{"text":"h"},"helpUri":"https://x/#a.b"}]}},"invocations":[{"executionSuccessful":true}],"automationDetails":{"id":"m/"},"results":[{"ruleId":"a.b","level":"error","message":{"text":"m"},"partialFingerprints":{"mailprobe/v1":"1"}}]}]}`,
		"empty message":     `{"$schema":"x","version":"2.1.0","runs":[{"tool":{"driver":{"name":"m","rules":[]}},"invocations":[{"executionSuccessful":true}],"automationDetails":{"id":"m/"},"results":[{"ruleId":"a.b","message":{"text":""}}]}]}`,
		"security no score": `{"$schema":"x","version":"2.1.0","runs":[{"tool":{"driver":{"name":"m","rules":[{"id":"a.b","shortDescription":{"text":"t"},"fullDescription":{"text":"t"},"help":{"text":"h"},"helpUri":"https://x/#a.b","properties":{"tags":["security"]}}]}},"invocations":[{"executionSuccessful":true}],"automationDetails":{"id":"m/"},"results":[]}]}`,
	} {
		if len(GitHubSARIFProblems([]byte(doc))) == 0 {
			t.Errorf("%s: no problem found", name)
		}
	}
}

// The XSDs reject what the issue measured: attributes on testsuites the
// Jenkins schema does not know, a testsuite without Ant's required
// attributes, a testcase system-out.
func TestJUnitProblems_catches(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("xmllint missing")
		}
		t.Skip("xmllint not installed")
	}
	bad := `<?xml version="1.0"?><testsuites skipped="0"><testsuite name="x" tests="1" failures="0" errors="0" time="0"><testcase name="a" classname="b" time="0"><system-out>x</system-out></testcase></testsuite></testsuites>`
	ps := JUnitProblems(xmllint, t.TempDir(), []byte(bad))
	if len(ps) != 2 || !strings.Contains(strings.Join(ps, ""), "junit-jenkins-xunit-10.xsd") {
		t.Errorf("problems: %q", ps)
	}
}
