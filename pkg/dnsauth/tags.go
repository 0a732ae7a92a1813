package dnsauth

import (
	"fmt"
	"strings"
)

// Tag lists are the record syntax of DKIM keys (RFC 6376 §3.2), DMARC
// (RFC 7489 §6.4), MTA-STS and TLS-RPT TXT records (RFC 8461 §3.1, RFC
// 8460 §3) and BIMI: "tag=value" separated by ";", whitespace around both
// allowed, a trailing ";" allowed.
//
//	tag-list  =  tag-spec *( ";" tag-spec ) [ ";" ]
//	tag-spec  =  [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
//	tag-name  =  ALPHA *ALNUMPUNC
//	tag-value =  [ tval *( 1*(WSP / FWS) tval ) ]
//	tval      =  1*VALCHAR         ; VALCHAR = %x21-3A / %x3C-7E

// Tag is one tag=value.
type Tag struct {
	Name  string `json:"name"`  // as written
	Value string `json:"value"` // without surrounding whitespace
}

// TagError is a problem with one tag (or the list as a whole when Tag is "").
type TagError struct {
	Tag    string `json:"tag,omitempty"`
	Reason string `json:"reason"`
}

func (e TagError) Error() string {
	if e.Tag == "" {
		return e.Reason
	}
	return e.Tag + ": " + e.Reason
}

// parseTagList splits a tag list. It keeps going after a bad tag so that
// every problem can be reported; the tags it could read are returned.
// Tag names are compared case-sensitively by DKIM and case-insensitively
// by DMARC; the caller decides.
func parseTagList(s string) ([]Tag, []TagError) {
	var tags []Tag
	var errs []TagError
	seen := map[string]bool{}
	specs := strings.Split(s, ";")
	for i, spec := range specs {
		if strings.TrimSpace(spec) == "" {
			if i == len(specs)-1 || strings.TrimSpace(strings.Join(specs[i+1:], "")) == "" {
				continue // trailing ";" (and any whitespace after it)
			}
			errs = append(errs, TagError{Reason: "empty tag between two \";\""})
			continue
		}
		name, value, ok := strings.Cut(spec, "=")
		name = strings.Trim(name, " \t\r\n")
		if !ok {
			errs = append(errs, TagError{Tag: name, Reason: "no \"=\" (expected tag=value)"})
			continue
		}
		if !validTagName(name) {
			errs = append(errs, TagError{Tag: name, Reason: fmt.Sprintf("%q is not a valid tag name", name)})
			continue
		}
		value = strings.Trim(value, " \t\r\n")
		if bad := badTagValueChar(value); bad >= 0 {
			errs = append(errs, TagError{Tag: name, Reason: fmt.Sprintf("character %q not allowed in a tag value", value[bad])})
			continue
		}
		if seen[name] {
			errs = append(errs, TagError{Tag: name, Reason: "appears more than once"})
			continue
		}
		seen[name] = true
		tags = append(tags, Tag{Name: name, Value: value})
	}
	return tags, errs
}

func validTagName(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isAlpha(s[i]) && !isDigit(s[i]) && s[i] != '_' {
			return false
		}
	}
	return true
}

// badTagValueChar returns the index of a byte not allowed in a tag value
// (VALCHAR or folding whitespace), or -1.
func badTagValueChar(v string) int {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			continue
		}
		if c < 0x21 || c > 0x7e || c == ';' {
			return i
		}
	}
	return -1
}

// TagValue returns the value of tag name (case-sensitive) in a tag list
// such as a DKIM-Signature header or a DMARC record, with folding
// whitespace removed ("" when absent). For reading, not validating: a
// malformed list yields what could be read.
func TagValue(list, name string) string {
	tags, _ := parseTagList(list)
	for _, t := range tags {
		if t.Name == name {
			return strings.Join(strings.Fields(t.Value), "")
		}
	}
	return ""
}

func tagMap(tags []Tag, fold bool) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		k := t.Name
		if fold {
			k = strings.ToLower(k)
		}
		m[k] = t.Value
	}
	return m
}

// splitList splits a colon- or comma-separated tag value, trimming
// whitespace and dropping empty items.
func splitList(v string, sep string) []string {
	var out []string
	for _, p := range strings.Split(v, sep) {
		p = strings.Join(strings.Fields(p), "")
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// stripWSP removes all whitespace (base64 in p= may be folded).
func stripWSP(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}
