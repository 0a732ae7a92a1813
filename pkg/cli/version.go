package cli

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// BuildInfo is what `mailprobe version` reports: the version set by the
// release build's -ldflags or, for `go install`/`go build`, what the Go
// toolchain recorded in the binary (module version, VCS revision and time).
type BuildInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Time     string `json:"commit_time,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// ResolveVersion is the version to print: v when -ldflags set it (not
// "dev" or empty), else the module version `go install …@v1.2.3` recorded,
// else the VCS revision a `go build` in a checkout recorded ("dev+3f2c1a9b0d4e",
// "-dirty" when the tree had changes), else "dev".
func ResolveVersion(v string) string {
	bi, _ := debug.ReadBuildInfo()
	return buildInfo(v, bi).Version
}

func buildInfo(v string, bi *debug.BuildInfo) BuildInfo {
	out := BuildInfo{Version: v, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi == nil {
		if out.Version == "" {
			out.Version = "dev"
		}
		return out
	}
	if bi.GoVersion != "" {
		out.Go = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			out.Commit = s.Value
		case "vcs.time":
			out.Time = s.Value
		case "vcs.modified":
			out.Modified = s.Value == "true"
		}
	}
	if v != "" && v != "dev" {
		return out
	}
	switch mv := bi.Main.Version; {
	case mv != "" && mv != "(devel)":
		// go install …@v1.2.3, or a pseudo-version for a commit.
		out.Version = mv
	case out.Commit != "":
		out.Version = "dev+" + short(out.Commit)
		if out.Modified {
			out.Version += "-dirty"
		}
	default:
		out.Version = "dev"
	}
	return out
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

func newVersionCmd(env *Env) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go toolchain of this binary",
		Example: `  mailprobe version
  mailprobe version --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			bi, _ := debug.ReadBuildInfo()
			info := buildInfo(Version, bi)
			switch format {
			case "json":
				b, err := json.MarshalIndent(info, "", "  ")
				if err != nil {
					return err
				}
				fmt.Fprintf(env.IO.Out, "%s\n", b)
			case "text", "":
				var b strings.Builder
				fmt.Fprintf(&b, "mailprobe %s\n", info.Version)
				if info.Commit != "" {
					fmt.Fprintf(&b, "commit    %s", info.Commit)
					if info.Modified {
						b.WriteString(" (modified)")
					}
					b.WriteByte('\n')
				}
				if info.Time != "" {
					fmt.Fprintf(&b, "built     %s\n", info.Time)
				}
				fmt.Fprintf(&b, "go        %s %s\n", info.Go, info.Platform)
				fmt.Fprint(env.IO.Out, b.String())
			default:
				return usageErrorf("--format must be text or json, not %q", format)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&format, "format", "o", "text", "output format: text or json")
	return c
}
