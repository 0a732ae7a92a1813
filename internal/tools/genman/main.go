// Command genman writes mailprobe's man pages (section 1, one per
// command: mailprobe.1, mailprobe-smtp-check.1, …) into a directory:
//
//	go run ./internal/tools/genman DIR
//
// `make man` and the release archives use it. It is a program of its own,
// not a mailprobe command, so the markdown and man-page libraries it needs
// (cobra/doc, go-md2man, blackfriday) are not in the mailprobe binary:
// their package initialisation cost every command about 2 ms at start-up.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra/doc"

	"github.com/mailprobe/mailprobe/pkg/cli"
	"github.com/mailprobe/mailprobe/pkg/iostreams"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: genman DIR")
		os.Exit(2)
	}
	if err := generate(os.Args[1], os.Getenv("SOURCE_DATE_EPOCH")); err != nil {
		fmt.Fprintf(os.Stderr, "genman: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "man pages written to %s\n", os.Args[1])
}

// generate writes the pages into dir. A fixed date keeps them
// reproducible for a given version (SOURCE_DATE_EPOCH when the build sets
// it, as sourceDateEpoch).
func generate(dir, sourceDateEpoch string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	date := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if sourceDateEpoch != "" {
		sec, err := strconv.ParseInt(sourceDateEpoch, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: %v", sourceDateEpoch, err)
		}
		date = time.Unix(sec, 0).UTC()
	}
	version := cli.ResolveVersion(cli.Version)
	root := cli.NewRootCmd(&cli.Env{IO: iostreams.System()})
	root.DisableAutoGenTag = true
	hdr := &doc.GenManHeader{
		Title:   "MAILPROBE",
		Section: "1",
		Source:  "mailprobe " + version,
		Manual:  "mailprobe manual",
		Date:    &date,
	}
	return doc.GenManTree(root, hdr, dir)
}
