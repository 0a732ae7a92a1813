package resolver_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/pkg/resolver"
)

func TestParseServer(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1":       "127.0.0.1:53",
		"127.0.0.1:5353":  "127.0.0.1:5353",
		"[::1]:53":        "[::1]:53",
		"[::1]":           "[::1]:53",
		"::1":             "[::1]:53",
		"dns.example":     "dns.example:53",
		"dns.example:53":  "dns.example:53",
		"dns.example.:54": "dns.example:54",
	} {
		got, err := resolver.ParseServer(in)
		if err != nil || got != want {
			t.Errorf("ParseServer(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{
		"", "nonsense", "localhost", "1.2.3.4:99999", "1.2.3.4:0", "1.2.3.4:053", ":53", "host name with spaces",
		"dns.example:port", "-bad.example", "a..example", "dns_x.example", "1.2.3.4:", "[::1]:99999",
	} {
		if got, err := resolver.ParseServer(bad); err == nil {
			t.Errorf("ParseServer(%q) = %q, accepted", bad, got)
		}
	}
}

func TestNew_badConfigurationIsOneClearError(t *testing.T) {
	_, err := resolver.New(resolver.Options{ResolvConf: filepath.Join(t.TempDir(), "missing.conf")})
	if err == nil || !strings.Contains(err.Error(), "missing.conf") || !strings.Contains(err.Error(), "--resolver") {
		t.Errorf("missing configuration: %v", err)
	}
	_, err = resolver.New(resolver.Options{Server: "nonsense"})
	if err == nil || !strings.Contains(err.Error(), "--resolver") || strings.Contains(err.Error(), "\n") {
		t.Errorf("--resolver nonsense: %v", err)
	}
}
