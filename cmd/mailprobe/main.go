// Command mailprobe tells exactly why mail does not arrive, or is not safe.
package main

import (
	"os"

	"github.com/mailprobe/mailprobe/pkg/cli"
	"github.com/mailprobe/mailprobe/pkg/iostreams"
)

func main() {
	// go install/go build leave Version "dev": take what the toolchain
	// recorded (module version or VCS revision) instead.
	cli.Version = cli.ResolveVersion(cli.Version)
	os.Exit(cli.Main(os.Args[1:], &cli.Env{IO: iostreams.System()}))
}
