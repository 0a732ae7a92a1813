package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newManCmd writes one man page per command (mailprobe.1,
// mailprobe-smtp-check.1, …) into a directory: `make man` and the release
// archives use it.
func newManCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "Write the man pages (section 1) into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return usageErrorf("man: %v", err)
			}
			// A fixed date keeps the pages reproducible for a given
			// version (SOURCE_DATE_EPOCH when the build sets it).
			date := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
				var sec int64
				if _, err := fmt.Sscan(s, &sec); err == nil {
					date = time.Unix(sec, 0).UTC()
				}
			}
			root := cmd.Root()
			root.DisableAutoGenTag = true
			hdr := &doc.GenManHeader{
				Title:   "MAILPROBE",
				Section: "1",
				Source:  "mailprobe " + Version,
				Manual:  "mailprobe manual",
				Date:    &date,
			}
			if err := doc.GenManTree(root, hdr, dir); err != nil {
				return fmt.Errorf("man: %w", err)
			}
			fmt.Fprintf(env.IO.ErrOut, "man pages written to %s\n", dir)
			return nil
		},
	}
}
