package arc

import (
	"fmt"
	"strings"
)

// tagList is a parsed tag=value list (RFC 6376 §3.2).
type tagList struct {
	vals  map[string]string
	order []string
}

func (t tagList) get(k string) (string, bool) {
	v, ok := t.vals[k]
	return v, ok
}

// parseTags reads "a=b; c=d". Tag names are case-sensitive; a tag that
// appears twice, a name that is not ALPHA *(ALPHA / DIGIT / "_"), or a
// pair without "=" is an error. Whitespace around names and values and
// folding are ignored.
func parseTags(s string) (tagList, error) {
	t := tagList{vals: map[string]string{}}
	s = strings.ReplaceAll(s, "\r\n", "")
	parts := strings.Split(s, ";")
	for i, p := range parts {
		if strings.TrimSpace(p) == "" {
			if i == len(parts)-1 {
				break // a trailing ";" is allowed
			}
			return t, fmt.Errorf("empty tag-spec")
		}
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return t, fmt.Errorf("tag-spec %q has no '='", strings.TrimSpace(p))
		}
		k = strings.Trim(k, " \t")
		if !validTagName(k) {
			return t, fmt.Errorf("invalid tag name %q", k)
		}
		if _, dup := t.vals[k]; dup {
			return t, fmt.Errorf("tag %q appears twice", k)
		}
		t.vals[k] = strings.Trim(v, " \t")
		t.order = append(t.order, k)
	}
	return t, nil
}

func validTagName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if i == 0 && !alpha || !(alpha || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// stripWSP removes all whitespace (b= and bh= values may be folded).
func stripWSP(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}

// emptyB returns the field with the value of its b= tag removed (the
// signature input of RFC 6376 §3.7), leaving everything else, folding
// included, as it was.
func emptyB(raw string) string {
	name, value, _ := strings.Cut(raw, ":")
	parts := strings.Split(value, ";")
	for i, p := range parts {
		k, _, ok := strings.Cut(p, "=")
		if ok && strings.Trim(k, " \t\r\n") == "b" {
			eq := strings.Index(p, "=")
			parts[i] = p[:eq+1]
		}
	}
	return name + ":" + strings.Join(parts, ";")
}
