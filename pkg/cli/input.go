package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// stdinName is how every file-reading flag and argument names stdin.
const stdinName = "-"

// stdinOnce remembers which flag read stdin in this run: stdin can be
// read once, so a second "-" is a usage error rather than an empty file.
type stdinOnce struct {
	mu   sync.Mutex
	used string
}

// readInput reads a file named by what (a flag or argument, for the
// error), or stdin when name is "-", at most limit bytes: a larger input
// is an error, never read in full. Every file-reading flag goes through
// it, so each takes "-" the same way.
func readInput(env *Env, what, name string, limit int64) ([]byte, error) {
	var r io.Reader
	shown := name
	if name == stdinName {
		if env.stdin == nil {
			env.stdin = &stdinOnce{}
		}
		env.stdin.mu.Lock()
		prev := env.stdin.used
		if prev == "" {
			env.stdin.used = what
		}
		env.stdin.mu.Unlock()
		if prev != "" {
			return nil, usageErrorf("%s -: stdin is already read by %s", what, prev)
		}
		r, shown = env.IO.In, "stdin"
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, usageErrorf("%s: %v", what, err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, usageErrorf("%s: reading %s: %v", what, shown, err)
	}
	if int64(len(b)) > limit {
		return nil, usageErrorf("%s: %s is larger than %s", what, shown, sizeText(limit))
	}
	return b, nil
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
