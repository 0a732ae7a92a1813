package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestManPages(t *testing.T) {
	dir := t.TempDir()
	if err := generate(dir, "1767225600"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mailprobe.1", "mailprobe-smtp-check.1", "mailprobe-reset-send.1", "mailprobe-dns.1", "mailprobe-audit.1"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.Contains(string(b), ".TH \"MAILPROBE\" \"1\" \"Jan 2026\"") || !strings.Contains(string(b), ".SH OPTIONS") {
			t.Errorf("%s is not a dated section-1 man page with options:\n%.300s", name, b)
		}
	}
	if err := generate(t.TempDir(), "yesterday"); err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
		t.Errorf("a bad SOURCE_DATE_EPOCH: %v", err)
	}
}
