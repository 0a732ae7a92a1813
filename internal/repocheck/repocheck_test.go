package repocheck

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const root = "../.."

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dockerfile is what the release and CI rely on in the Dockerfile.
type dockerfile struct {
	from       string
	copies     map[string]string // source → destination
	user       string
	entrypoint string
}

func parseDockerfile(t *testing.T) dockerfile {
	d := dockerfile{copies: map[string]string{}}
	for _, l := range strings.Split(read(t, "Dockerfile"), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "FROM":
			d.from = f[1]
		case "COPY":
			d.copies[f[1]] = f[2]
		case "USER":
			d.user = f[1]
		case "ENTRYPOINT":
			m := regexp.MustCompile(`\["([^"]+)"`).FindStringSubmatch(l)
			if m != nil {
				d.entrypoint = m[1]
			}
		}
	}
	return d
}

func TestDockerfile(t *testing.T) {
	d := parseDockerfile(t)
	if d.from != "scratch" {
		t.Errorf("FROM %s: the image is the static binary on scratch", d.from)
	}
	if dst := d.copies["mailprobe"]; dst == "" || dst != d.entrypoint {
		t.Errorf("ENTRYPOINT %q is not where the binary is copied (%q)", d.entrypoint, dst)
	}
	if d.copies["ca-certificates.crt"] != "/etc/ssl/certs/ca-certificates.crt" {
		t.Errorf("the CA bundle must land where Go looks first: %v", d.copies)
	}
	if !regexp.MustCompile(`^[1-9][0-9]*:[1-9][0-9]*$`).MatchString(d.user) {
		t.Errorf("USER %q: a non-root numeric uid:gid (scratch has no /etc/passwd)", d.user)
	}
	// The test script builds the same context.
	script := read(t, "scripts/container-test.sh")
	for src := range d.copies {
		if !strings.Contains(script, `"$ctx/`+src+`"`) {
			t.Errorf("scripts/container-test.sh does not put %s in the build context", src)
		}
	}
}

// goreleaser models every key .goreleaser.yaml uses (goreleaser v2's
// names), so that KnownFields catches a misspelt one.
type goreleaser struct {
	Version     int    `yaml:"version"`
	ProjectName string `yaml:"project_name"`
	Before      struct {
		Hooks []string `yaml:"hooks"`
	} `yaml:"before"`
	Builds []struct {
		ID           string   `yaml:"id"`
		ModTimestamp string   `yaml:"mod_timestamp"`
		Main         string   `yaml:"main"`
		Binary       string   `yaml:"binary"`
		Env          []string `yaml:"env"`
		Flags        []string `yaml:"flags"`
		Ldflags      []string `yaml:"ldflags"`
		Goos         []string `yaml:"goos"`
		Goarch       []string `yaml:"goarch"`
	} `yaml:"builds"`
	Archives []struct {
		ID              string   `yaml:"id"`
		Formats         []string `yaml:"formats"`
		FormatOverrides []struct {
			Goos    string   `yaml:"goos"`
			Formats []string `yaml:"formats"`
		} `yaml:"format_overrides"`
		Files []string `yaml:"files"`
	} `yaml:"archives"`
	Nfpms []struct {
		ID          string   `yaml:"id"`
		PackageName string   `yaml:"package_name"`
		Homepage    string   `yaml:"homepage"`
		Maintainer  string   `yaml:"maintainer"`
		Description string   `yaml:"description"`
		Section     string   `yaml:"section"`
		Bindir      string   `yaml:"bindir"`
		Formats     []string `yaml:"formats"`
		License     string   `yaml:"license"`
		Contents    []struct {
			Src string `yaml:"src"`
			Dst string `yaml:"dst"`
		} `yaml:"contents"`
	} `yaml:"nfpms"`
	Sboms []struct {
		Artifacts string `yaml:"artifacts"`
	} `yaml:"sboms"`
	Dockers []struct {
		ID                 string   `yaml:"id"`
		Use                string   `yaml:"use"`
		BuildFlagTemplates []string `yaml:"build_flag_templates"`
		Goos               string   `yaml:"goos"`
		Goarch             string   `yaml:"goarch"`
		Dockerfile         string   `yaml:"dockerfile"`
		ExtraFiles         []string `yaml:"extra_files"`
		ImageTemplates     []string `yaml:"image_templates"`
	} `yaml:"dockers"`
	DockerManifests []struct {
		NameTemplate   string   `yaml:"name_template"`
		ImageTemplates []string `yaml:"image_templates"`
	} `yaml:"docker_manifests"`
	Checksum struct {
		NameTemplate string `yaml:"name_template"`
		Algorithm    string `yaml:"algorithm"`
	} `yaml:"checksum"`
	Changelog struct {
		Disable bool `yaml:"disable"`
	} `yaml:"changelog"`
}

func TestGoreleaser(t *testing.T) {
	var g goreleaser
	dec := yaml.NewDecoder(strings.NewReader(read(t, ".goreleaser.yaml")))
	dec.KnownFields(true) // a misspelt key fails here, as `goreleaser check` would
	if err := dec.Decode(&g); err != nil {
		// KnownFields rejects keys this test does not model: list them in the struct.
		t.Fatalf(".goreleaser.yaml: %v", err)
	}
	if g.Version != 2 {
		t.Errorf("version %d, want 2", g.Version)
	}
	if len(g.Builds) != 1 {
		t.Fatalf("%d builds, want 1", len(g.Builds))
	}
	b := g.Builds[0]
	if b.Main != "./cmd/mailprobe" || b.Binary != "mailprobe" || !slices.Contains(b.Env, "CGO_ENABLED=0") || !slices.Contains(b.Flags, "-trimpath") {
		t.Errorf("build: %+v", b)
	}
	if len(b.Ldflags) == 0 || !strings.Contains(b.Ldflags[0], "github.com/mailprobe/mailprobe/pkg/cli.Version={{.Version}}") {
		t.Errorf("ldflags do not set cli.Version: %v", b.Ldflags)
	}
	for _, os := range []string{"linux", "darwin", "windows"} {
		if !slices.Contains(b.Goos, os) {
			t.Errorf("no %s build", os)
		}
	}
	hooks := strings.Join(g.Before.Hooks, "\n")
	for _, want := range []string{"go run ./internal/tools/genman man", "go run ./cmd/mailprobe completion", "ca-certificates.crt"} {
		if !strings.Contains(hooks, want) {
			t.Errorf("before hooks do not run %q", want)
		}
	}
	if len(g.Archives) == 0 || !slices.Contains(g.Archives[0].Files, "man/*") || !slices.Contains(g.Archives[0].Files, "completions/*") {
		t.Errorf("archives must carry man pages and completions: %+v", g.Archives)
	}
	if len(g.Nfpms) == 0 {
		t.Fatal("no nfpms (packages)")
	}
	n := g.Nfpms[0]
	for _, f := range []string{"deb", "rpm"} {
		if !slices.Contains(n.Formats, f) {
			t.Errorf("no %s package", f)
		}
	}
	if !strings.HasPrefix(read(t, "LICENSE"), "\n                                 Apache License") || n.License != "Apache-2.0" {
		t.Errorf("package licence %q does not match LICENSE", n.License)
	}
	dsts := map[string]string{}
	for _, c := range n.Contents {
		dsts[c.Src] = c.Dst
	}
	for src, dst := range map[string]string{
		"man/*.1":                    "/usr/share/man/man1/",
		"completions/mailprobe.bash": "/usr/share/bash-completion/completions/mailprobe",
		"completions/mailprobe.zsh":  "/usr/share/zsh/vendor-completions/_mailprobe",
		"completions/mailprobe.fish": "/usr/share/fish/vendor_completions.d/mailprobe.fish",
	} {
		if dsts[src] != dst {
			t.Errorf("package content %s → %q, want %q", src, dsts[src], dst)
		}
	}
	// The Makefile's completions target writes the same names.
	if mk := read(t, "Makefile"); !strings.Contains(mk, "completions/mailprobe.$$sh") {
		t.Error("Makefile's completions target does not write completions/mailprobe.SHELL")
	}
	if len(g.Sboms) == 0 || g.Sboms[0].Artifacts != "archive" {
		t.Errorf("no SBOM per archive: %+v", g.Sboms)
	}
	d := parseDockerfile(t)
	var images []string
	for _, dk := range g.Dockers {
		if dk.Dockerfile != "Dockerfile" || dk.Goos != "linux" {
			t.Errorf("docker %+v", dk)
		}
		for src := range d.copies {
			if src != "mailprobe" && !slices.Contains(dk.ExtraFiles, src) {
				t.Errorf("docker %s: the Dockerfile copies %s, extra_files has %v", dk.Goarch, src, dk.ExtraFiles)
			}
		}
		images = append(images, dk.ImageTemplates...)
	}
	if len(g.Dockers) < 2 || len(g.DockerManifests) == 0 {
		t.Fatalf("want amd64 and arm64 images and a manifest")
	}
	for _, m := range g.DockerManifests {
		for _, it := range m.ImageTemplates {
			if !slices.Contains(images, it) {
				t.Errorf("manifest %s names image %s that no docker entry builds", m.NameTemplate, it)
			}
		}
	}
	if g.Checksum.NameTemplate != "checksums.txt" {
		t.Errorf("checksum file %q: action.yml downloads checksums.txt", g.Checksum.NameTemplate)
	}
}

func TestAction(t *testing.T) {
	src := read(t, "action.yml")
	var a struct {
		Name   string `yaml:"name"`
		Inputs map[string]struct {
			Description string `yaml:"description"`
			Default     string `yaml:"default"`
		} `yaml:"inputs"`
		Runs struct {
			Using string `yaml:"using"`
			Steps []struct {
				Name string            `yaml:"name"`
				Uses string            `yaml:"uses"`
				Run  string            `yaml:"run"`
				With map[string]string `yaml:"with"`
			} `yaml:"steps"`
		} `yaml:"runs"`
	}
	if err := yaml.Unmarshal([]byte(src), &a); err != nil {
		t.Fatal(err)
	}
	if a.Runs.Using != "composite" || len(a.Runs.Steps) == 0 {
		t.Fatalf("runs: %+v", a.Runs)
	}
	for _, m := range regexp.MustCompile(`inputs\.([a-z-]+)`).FindAllStringSubmatch(src, -1) {
		if _, ok := a.Inputs[m[1]]; !ok {
			t.Errorf("action.yml uses inputs.%s, which it does not define", m[1])
		}
	}
	docs := read(t, "docs/ci.md")
	for name, in := range a.Inputs {
		if in.Description == "" {
			t.Errorf("input %s has no description", name)
		}
		if !strings.Contains(docs, "`"+name+"`") {
			t.Errorf("docs/ci.md does not document the action's input %s", name)
		}
	}
	uploads := false
	for _, s := range a.Runs.Steps {
		if strings.HasPrefix(s.Uses, "github/codeql-action/upload-sarif@") {
			uploads = s.With["sarif_file"] == "${{ inputs.sarif }}"
		}
	}
	if !uploads {
		t.Error("the action does not upload the SARIF it writes")
	}
	// The archive name the install step looks for is goreleaser's default.
	if !strings.Contains(src, `mailprobe_*_${plat}.tar.gz`) {
		t.Error("the install step's archive pattern does not match goreleaser's default name")
	}
}
