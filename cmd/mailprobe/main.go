// Command mailprobe tells exactly why mail does not arrive, or is not safe.
package main

import (
	"os"

	"github.com/mailprobe/mailprobe/pkg/cli"
	"github.com/mailprobe/mailprobe/pkg/iostreams"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], &cli.Env{IO: iostreams.System()}))
}
