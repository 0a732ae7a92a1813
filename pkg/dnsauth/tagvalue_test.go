package dnsauth

import "testing"

func TestTagValue(t *testing.T) {
	sig := "v=1; a=rsa-sha256; d=App.example; s=s1;\r\n\th=from:to; bh=abc\r\n\t def=; b=AAA\r\n\t BBB"
	for tag, want := range map[string]string{"d": "App.example", "s": "s1", "bh": "abcdef=", "b": "AAABBB", "x": "", "D": ""} {
		if got := TagValue(sig, tag); got != want {
			t.Errorf("TagValue(%q) = %q, want %q", tag, got, want)
		}
	}
}
