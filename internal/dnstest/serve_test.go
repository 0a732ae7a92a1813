package dnstest

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
)

// TestServe serves zone files until interrupted, for trying mailprobe by
// hand or from a script. It runs only when asked:
//
//	DNSTEST_SERVE='testdata/dns/*.zone' DNSTEST_ADDR=127.0.0.1:5353 \
//	  go test ./internal/dnstest -run TestServe -timeout 0 -v
//	mailprobe dns good.test --resolver 127.0.0.1:5353
//
// (paths are relative to internal/dnstest, or absolute). The address is
// printed and, with DNSTEST_ADDR_FILE, written to that file.
func TestServe(t *testing.T) {
	files := os.Getenv("DNSTEST_SERVE")
	if files == "" {
		t.Skip("set DNSTEST_SERVE to serve zone files")
	}
	z, err := LoadFiles(strings.Fields(files)...)
	if err != nil {
		t.Fatal(err)
	}
	addr := os.Getenv("DNSTEST_ADDR")
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	s, err := ListenAddr(z, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fmt.Println("dnstest: serving on", s.Addr)
	if f := os.Getenv("DNSTEST_ADDR_FILE"); f != "" {
		if err := os.WriteFile(f, []byte(s.Addr+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	<-c
}
