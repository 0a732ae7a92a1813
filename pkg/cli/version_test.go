package cli

import (
	"encoding/json"
	"runtime/debug"
	"strings"
	"testing"
)

func TestBuildInfoVersion(t *testing.T) {
	vcs := func(rev, modified string) *debug.BuildInfo {
		return &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: rev}, {Key: "vcs.time", Value: "2026-12-04T18:00:00Z"}, {Key: "vcs.modified", Value: modified},
		}}
	}
	cases := []struct {
		name, ldflags string
		bi            *debug.BuildInfo
		want          string
	}{
		{"ldflags win", "v1.2.3", vcs("3f2c1a9b0d4e5f60", "false"), "v1.2.3"},
		{"go install @version", "dev", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "v1.4.0"},
		{"go build in a checkout", "dev", vcs("3f2c1a9b0d4e5f60718293a4", "false"), "dev+3f2c1a9b0d4e"},
		{"dirty checkout", "dev", vcs("3f2c1a9b0d4e5f60718293a4", "true"), "dev+3f2c1a9b0d4e-dirty"},
		{"nothing recorded", "dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
		{"no build info", "", nil, "dev"},
	}
	for _, c := range cases {
		if got := buildInfo(c.ldflags, c.bi).Version; got != c.want {
			t.Errorf("%s: version %q, want %q", c.name, got, c.want)
		}
	}
	if bi := buildInfo("dev", vcs("abc", "true")); bi.Commit != "abc" || !bi.Modified || bi.Time == "" || bi.Go != "go1.26.8" {
		t.Errorf("details lost: %+v", bi)
	}
}

func TestVersionCommand(t *testing.T) {
	r := run(t, nil, "version", "--format", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.errOut)
	}
	var bi BuildInfo
	if err := json.Unmarshal([]byte(r.out), &bi); err != nil || bi.Version == "" || !strings.Contains(bi.Platform, "/") {
		t.Fatalf("version json %q: %v", r.out, err)
	}
	if r := run(t, nil, "version", "--format", "xml"); r.code != 2 {
		t.Errorf("bad --format: exit %d, want 2", r.code)
	}
}

// The shell completes a flag's value from its list, files only for flags
// that take a path, and nothing for the rest (not the directory listing).
func TestCompletionOfFlagValues(t *testing.T) {
	complete := func(args ...string) (values []string, directive string) {
		t.Helper()
		r := run(t, nil, append([]string{"__complete"}, args...)...)
		lines := strings.Split(strings.TrimSpace(r.out), "\n")
		for _, l := range lines[:len(lines)-1] {
			values = append(values, strings.SplitN(l, "\t", 2)[0])
		}
		return values, lines[len(lines)-1]
	}
	const noFile, filterExt, dflt = ":4", ":8", ":0"
	cases := []struct {
		args      []string
		values    string
		directive string
	}{
		{[]string{"smtp", "check", "--format", ""}, "text json junit sarif", noFile},
		{[]string{"smtp", "check", "--fail-on", ""}, "info warn fail", noFile},
		{[]string{"smtp", "check", "--tls", ""}, "auto starttls implicit none", noFile},
		{[]string{"smtp", "check", "--from", ""}, "", noFile},
		{[]string{"smtp", "check", "--timeout", ""}, "", noFile},
		{[]string{"smtp", "send", "--password-file", ""}, "", dflt},
		{[]string{"smtp", "send", "--eml", ""}, "eml txt", filterExt},
	}
	for _, c := range cases {
		values, directive := complete(c.args...)
		if strings.Join(values, " ") != c.values || directive != c.directive {
			t.Errorf("%v: values %q directive %s, want %q %s", c.args, values, directive, c.values, c.directive)
		}
	}
}
