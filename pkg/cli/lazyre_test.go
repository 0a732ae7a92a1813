package cli

import (
	"testing"

	"github.com/mailprobe/mailprobe/internal/lazyre"
)

// Every package's patterns compile on first use (internal/lazyre); pkg/cli
// links them all, so this is where a typo in any of them fails the build's
// tests instead of a user's run.
func TestEveryLazyRegexpCompiles(t *testing.T) {
	if n := lazyre.Count(); n < 40 {
		t.Fatalf("only %d lazy patterns registered: is a package no longer linked into the CLI?", n)
	}
	if err := lazyre.All(); err != nil {
		t.Fatal(err)
	}
}
