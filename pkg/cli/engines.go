package cli

// Engines whose finding codes belong in docs/findings.md before a command
// of this package calls them: mailversion's version.* codes are reported
// by the audit command being built on it (issue 17).
import _ "github.com/mailprobe/mailprobe/pkg/mailversion"
