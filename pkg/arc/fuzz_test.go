package arc

import (
	"strings"
	"testing"
)

// The parsers take whatever a forwarder wrote: they return an error, never
// panic, and what they return holds together.

func FuzzParseTags(f *testing.F) {
	f.Add("i=1; a=rsa-sha256; cv=none; d=example.org; s=dummy; b=AA\r\n BB==")
	f.Add("a=b;;c=d")
	f.Add("v=DKIM1; k=ed25519; p=; ")
	f.Add("9x=1; =2; a")
	f.Fuzz(func(t *testing.T, s string) {
		tags, err := parseTags(s)
		if err != nil {
			return
		}
		if len(tags.order) != len(tags.vals) {
			t.Fatalf("order %v vs values %v", tags.order, tags.vals)
		}
		for _, k := range tags.order {
			if !validTagName(k) {
				t.Fatalf("invalid name %q accepted", k)
			}
			v := tags.vals[k]
			if strings.Contains(v, ";") || strings.TrimLeft(v, " \t") != v || strings.TrimRight(v, " \t") != v {
				t.Fatalf("value %q of %q not trimmed or split", v, k)
			}
		}
		// emptyB keeps the field but the b= value.
		out := emptyB("X:" + s)
		if len(out) > len(s)+2 {
			t.Fatalf("emptyB grew the field: %q → %q", s, out)
		}
		if after, err := parseTags(strings.TrimPrefix(out, "X:")); err == nil {
			if b, ok := after.get("b"); ok && b != "" {
				t.Fatalf("b=%q left in %q", b, out)
			}
		}
	})
}

func FuzzParseAAR(f *testing.F) {
	f.Add(" i=1; lists.example.org;\r\n spf=pass smtp.mfrom=jqd@d1.example")
	f.Add("i=50; x; none")
	f.Add("i=051;")
	f.Add("i = 2 ; ")
	f.Fuzz(func(t *testing.T, s string) {
		i, id, results, err := parseAAR(s)
		if err != nil {
			return
		}
		if i < 1 || i > MaxInstances {
			t.Fatalf("instance %d accepted from %q", i, s)
		}
		if strings.Contains(id, ";") || strings.Contains(id, "\r\n") || strings.Contains(results, "\r\n") {
			t.Fatalf("id %q results %q from %q", id, results, s)
		}
	})
}

func FuzzCanonHeader(f *testing.F) {
	f.Add("Subject :  a \t b\r\n\t c  ", true)
	f.Add("From:x", false)
	f.Add("ARC-Seal:i=1;\r\n b=", true)
	f.Fuzz(func(t *testing.T, raw string, relaxed bool) {
		if !strings.Contains(raw, ":") {
			return
		}
		c := canonHeader(raw, relaxed)
		if !strings.HasSuffix(c, "\r\n") {
			t.Fatalf("no CRLF: %q", c)
		}
		if !relaxed {
			if c != raw+"\r\n" {
				t.Fatalf("simple changed the field: %q → %q", raw, c)
			}
			return
		}
		body := strings.TrimSuffix(c, "\r\n")
		name, value, _ := strings.Cut(body, ":")
		if name != strings.ToLower(name) || strings.ContainsAny(name, " \t") && strings.TrimRight(name, " \t") != name {
			t.Fatalf("name %q not lower-cased and trimmed", name)
		}
		if strings.Contains(value, "\r\n") || strings.Contains(value, "  ") || strings.Contains(value, "\t") ||
			strings.TrimSpace(value) != value && strings.Trim(value, " ") != value {
			t.Fatalf("value %q not unfolded, collapsed and trimmed", value)
		}
		// Relaxed canonicalization is idempotent.
		if again := canonHeader(body, true); again != c {
			t.Fatalf("not idempotent: %q → %q", c, again)
		}
	})
}

// splitMessage and collect together: bounded, and every set they return
// is complete and numbered 1..N.
func FuzzCollect(f *testing.F) {
	f.Add([]byte("ARC-Seal: i=1; a=rsa-sha256; cv=none; d=example.org; s=dummy; b=AAAA\r\n" +
		"ARC-Message-Signature: i=1; a=rsa-sha256; d=example.org; s=dummy; h=from; bh=AAAA; b=AAAA\r\n" +
		"ARC-Authentication-Results: i=1; mx.example; none\r\nFrom: a@example.org\r\n\r\nbody\r\n"))
	f.Add([]byte("arc-seal:i=2\n\tcv=pass\nFrom: x\n\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		fields, _, err := splitMessage(msg)
		if err != nil {
			return
		}
		if len(fields) > maxHeaderFields {
			t.Fatalf("%d fields", len(fields))
		}
		sets, err := collect(fields)
		if err != nil {
			return
		}
		if len(sets) > MaxInstances {
			t.Fatalf("%d sets", len(sets))
		}
		for k, s := range sets {
			if s == nil || s.n != k+1 || s.as == nil || s.ams == nil || s.aar == nil {
				t.Fatalf("set %d: %+v", k+1, s)
			}
			cv := tag(s.asTags, "cv")
			if cv == "fail" && k == len(sets)-1 {
				continue // the newest may say fail (RFC 8617 §5.2 step 2)
			}
			if k == 0 && cv != "none" || k > 0 && cv != "pass" {
				t.Fatalf("set %d has cv=%s", k+1, cv)
			}
		}
	})
}
