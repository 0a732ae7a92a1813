package cli

import "testing"

// The accounts --default-credentials tries are LOCAL@DOMAIN; without
// --domain, DOMAIN is the host's registrable domain.
func TestParentDomain(t *testing.T) {
	for host, want := range map[string]string{
		"mail.example.org":    "example.org",
		"mx1.eu.example.org.": "example.org",
		"MAIL.Example.co.uk":  "example.co.uk",
		"example.org":         "example.org",
		"localhost":           "",
		"127.0.0.1":           "",
		"[::1]":               "",
		"co.uk":               "",
	} {
		if got := parentDomain(host); got != want {
			t.Errorf("parentDomain(%q) = %q, want %q", host, got, want)
		}
	}
}
