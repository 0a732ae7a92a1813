package dnsauth

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// SPF record syntax, RFC 7208 §4.6.1 and §12 (collected ABNF):
//
//	record           = version terms *SP
//	version          = "v=spf1"
//	terms            = *( 1*SP ( directive / modifier ) )
//	directive        = [ qualifier ] mechanism
//	qualifier        = "+" / "-" / "?" / "~"
//	mechanism        = ( all / include / a / mx / ptr / ip4 / ip6 / exists )
//	modifier         = redirect / explanation / unknown-modifier
//	unknown-modifier = name "=" macro-string
//	name             = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
//
// A syntax error anywhere in the record makes check_host() return
// permerror before anything is evaluated (§4.6), so the whole record is
// parsed up front, macros included.

// SPFTerm is one directive or modifier of a record.
type SPFTerm struct {
	Raw       string `json:"raw"`
	Qualifier string `json:"qualifier,omitempty"` // "+", "-", "~", "?" (directives only; "+" when omitted)
	Name      string `json:"name"`                // mechanism or modifier name, lower case
	Modifier  bool   `json:"modifier,omitempty"`
	// Domain is the domain-spec (a macro-string) of include, a, mx, ptr,
	// exists, redirect and exp; "" when the mechanism uses <domain>.
	Domain string `json:"domain,omitempty"`
	// Prefix is the network of ip4 and ip6.
	Prefix netip.Prefix `json:"-"`
	// CIDR4 and CIDR6 are the dual-cidr-length of a and mx (RFC 7208
	// §5.6); -1 when absent (32 and 128 apply).
	CIDR4 int `json:"-"`
	CIDR6 int `json:"-"`
	// Value is an unknown modifier's value.
	Value string `json:"value,omitempty"`
}

// CountsLookup reports whether the term is one of those limited to 10 per
// evaluation (RFC 7208 §4.6.4).
func (t SPFTerm) CountsLookup() bool {
	switch t.Name {
	case "include", "a", "mx", "ptr", "exists":
		return !t.Modifier
	case "redirect":
		return t.Modifier
	}
	return false
}

// SPFRecord is a parsed SPF record.
type SPFRecord struct {
	Raw        string    `json:"raw"`
	Directives []SPFTerm `json:"directives"`
	Redirect   *SPFTerm  `json:"redirect,omitempty"`
	Exp        *SPFTerm  `json:"exp,omitempty"`
	Unknown    []SPFTerm `json:"unknown_modifiers,omitempty"`
}

// All returns the record's "all" directive, if any.
func (r *SPFRecord) All() *SPFTerm {
	for i := range r.Directives {
		if r.Directives[i].Name == "all" {
			return &r.Directives[i]
		}
	}
	return nil
}

// SPFSyntaxError is a record that does not follow the ABNF.
type SPFSyntaxError struct {
	Term   string // the offending term ("" for the record as a whole)
	Reason string
}

func (e *SPFSyntaxError) Error() string {
	if e.Term == "" {
		return e.Reason
	}
	return fmt.Sprintf("%q: %s", e.Term, e.Reason)
}

// IsSPFRecord reports whether a TXT string is an SPF record: "v=spf1"
// (any case) followed by a space or the end (RFC 7208 §4.5). "v=spf10" and
// "v=spf1mx" are not.
func IsSPFRecord(txt string) bool {
	return len(txt) >= 6 && strings.EqualFold(txt[:6], "v=spf1") && (len(txt) == 6 || txt[6] == ' ')
}

// ParseSPF parses a record, which must start with v=spf1.
func ParseSPF(record string) (*SPFRecord, error) {
	if !IsSPFRecord(record) {
		return nil, &SPFSyntaxError{Reason: "not an SPF record (must start with \"v=spf1\")"}
	}
	rec := &SPFRecord{Raw: record}
	// Terms are separated by SP only (§4.6.1): a tab or a newline is part
	// of a term, and makes it invalid.
	for _, raw := range strings.Split(record[6:], " ") {
		if raw == "" {
			continue
		}
		t, err := parseTerm(raw)
		if err != nil {
			return nil, err
		}
		switch {
		case !t.Modifier:
			rec.Directives = append(rec.Directives, t)
		case t.Name == "redirect":
			if rec.Redirect != nil {
				return nil, &SPFSyntaxError{Term: raw, Reason: "redirect appears twice (RFC 7208 §6)"}
			}
			rec.Redirect = &t
		case t.Name == "exp":
			if rec.Exp != nil {
				return nil, &SPFSyntaxError{Term: raw, Reason: "exp appears twice (RFC 7208 §6)"}
			}
			rec.Exp = &t
		default:
			rec.Unknown = append(rec.Unknown, t)
		}
	}
	return rec, nil
}

func parseTerm(raw string) (SPFTerm, error) {
	t := SPFTerm{Raw: raw, CIDR4: -1, CIDR6: -1}
	bad := func(format string, args ...any) (SPFTerm, error) {
		return t, &SPFSyntaxError{Term: raw, Reason: fmt.Sprintf(format, args...)}
	}
	// A modifier is name "=" value, where name starts with a letter and
	// holds only letters, digits, "-", "_" and ".". Anything else with an
	// "=" (such as "moo.cow/far_out=man") is not a modifier, and as a
	// mechanism it is unknown.
	if i := strings.IndexByte(raw, '='); i > 0 && isModifierName(raw[:i]) {
		t.Modifier = true
		t.Name = strings.ToLower(raw[:i])
		val := raw[i+1:]
		switch t.Name {
		case "redirect", "exp":
			if val == "" {
				return bad("%s needs a domain", t.Name)
			}
			if err := checkDomainSpec(val); err != nil {
				return bad("%v", err)
			}
			t.Domain = val
		default:
			if _, err := parseMacroString(val, false); err != nil {
				return bad("%v", err)
			}
			t.Value = val
		}
		return t, nil
	}
	s := raw
	t.Qualifier = "+"
	if strings.ContainsRune("+-~?", rune(s[0])) {
		t.Qualifier = s[:1]
		s = s[1:]
	}
	name := s
	rest := ""
	if i := strings.IndexAny(s, ":/"); i >= 0 {
		name, rest = s[:i], s[i:]
	}
	t.Name = strings.ToLower(name)
	switch t.Name {
	case "all":
		if rest != "" {
			return bad("\"all\" takes no argument (RFC 7208 §5.1)")
		}
	case "include", "exists":
		if !strings.HasPrefix(rest, ":") || len(rest) == 1 {
			return bad("%s needs \":domain\" (RFC 7208 §5.2, §5.7)", t.Name)
		}
		if err := checkDomainSpec(rest[1:]); err != nil {
			return bad("%v", err)
		}
		t.Domain = rest[1:]
	case "a", "mx":
		dom, c4, c6, err := splitDualCIDR(rest)
		if err != nil {
			return bad("%v", err)
		}
		t.CIDR4, t.CIDR6 = c4, c6
		if dom != "" {
			if !strings.HasPrefix(dom, ":") || len(dom) == 1 {
				return bad("%s: expected \":domain\" or a CIDR length", t.Name)
			}
			if err := checkDomainSpec(dom[1:]); err != nil {
				return bad("%v", err)
			}
			t.Domain = dom[1:]
		}
	case "ptr":
		if rest != "" {
			if !strings.HasPrefix(rest, ":") || len(rest) == 1 {
				return bad("ptr takes only \":domain\" (RFC 7208 §5.5)")
			}
			if err := checkDomainSpec(rest[1:]); err != nil {
				return bad("%v", err)
			}
			t.Domain = rest[1:]
		}
	case "ip4", "ip6":
		if !strings.HasPrefix(rest, ":") || len(rest) == 1 {
			return bad("%s needs \":network\" (RFC 7208 §5.6)", t.Name)
		}
		p, err := parseIPNetwork(t.Name, rest[1:])
		if err != nil {
			return bad("%v", err)
		}
		t.Prefix = p
	default:
		if t.Name == "" {
			return bad("empty mechanism")
		}
		return bad("unknown mechanism %q", name)
	}
	return t, nil
}

func isModifierName(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !isDigit(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// splitDualCIDR takes "[:domain][/cidr4][//cidr6]" from the end (the
// domain itself may contain "/" and ":", RFC 7208 §7.1 macro-literal).
func splitDualCIDR(s string) (rest string, c4, c6 int, err error) {
	c4, c6 = -1, -1
	if i := strings.LastIndex(s, "//"); i >= 0 && allDigits(s[i+2:]) && s[i+2:] != "" {
		if c6, err = cidrLen(s[i+2:], 128); err != nil {
			return "", 0, 0, err
		}
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '/'); i >= 0 && allDigits(s[i+1:]) && s[i+1:] != "" {
		if c4, err = cidrLen(s[i+1:], 32); err != nil {
			return "", 0, 0, err
		}
		s = s[:i]
	}
	if strings.HasPrefix(s, "/") {
		return "", 0, 0, fmt.Errorf("bad CIDR length %q", s)
	}
	return s, c4, c6, nil
}

// cidrLen parses a prefix length: no leading zeros ("/032" is invalid,
// RFC 7208 §5.6 ip4-cidr-length), at most max.
func cidrLen(s string, max int) (int, error) {
	if s == "" || !allDigits(s) || (len(s) > 1 && s[0] == '0') || len(s) > 3 {
		return 0, fmt.Errorf("bad CIDR length /%s", s)
	}
	n, _ := strconv.Atoi(s)
	if n > max {
		return 0, fmt.Errorf("CIDR length /%d is over %d", n, max)
	}
	return n, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// parseIPNetwork parses ip4-network [ip4-cidr-length] or ip6-network
// [ip6-cidr-length]. IPv4 must be four decimal numbers without leading
// zeros (RFC 7208 §5.6, qnum).
func parseIPNetwork(kind, s string) (netip.Prefix, error) {
	addr, cidr, hasCIDR := strings.Cut(s, "/")
	bits := 32
	if kind == "ip6" {
		bits = 128
	}
	if hasCIDR {
		n, err := cidrLen(cidr, bits)
		if err != nil {
			return netip.Prefix{}, err
		}
		bits = n
	}
	if kind == "ip4" {
		if !isQnumQuad(addr) {
			return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 address", addr)
		}
		ip, err := netip.ParseAddr(addr)
		if err != nil || !ip.Is4() {
			return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 address", addr)
		}
		return ip.Prefix(bits)
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil || !ip.Is6() || ip.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv6 address", addr)
	}
	return ip.Prefix(bits)
}

func isQnumQuad(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 || !allDigits(p) || (len(p) > 1 && p[0] == '0') {
			return false
		}
		if n, _ := strconv.Atoi(p); n > 255 {
			return false
		}
	}
	return true
}

// checkDomainSpec validates domain-spec = macro-string domain-end, where
// domain-end = ( "." toplabel [ "." ] ) / macro-expand (RFC 7208 §7.1).
// So "foo-bar" (no dot), "abc.123" (numeric top label), "museum" and
// "example.-com" are syntax errors, while "%{d}" and "x.%{h}" are fine.
func checkDomainSpec(s string) error {
	parts, err := parseMacroString(s, false)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		return fmt.Errorf("empty domain")
	}
	if last := parts[len(parts)-1]; last.isMacro() {
		return nil
	}
	// The trailing literal text holds the domain-end.
	lit := ""
	for i := len(parts) - 1; i >= 0 && !parts[i].isMacro(); i-- {
		lit = parts[i].lit + lit
	}
	lit = strings.TrimSuffix(lit, ".")
	dot := strings.LastIndexByte(lit, '.')
	if dot < 0 {
		return fmt.Errorf("%q is not a fully qualified domain name", s)
	}
	if !isTopLabel(lit[dot+1:]) {
		return fmt.Errorf("%q: invalid top-level label %q", s, lit[dot+1:])
	}
	return nil
}

// isTopLabel: ( *alphanum ALPHA *alphanum ) /
// ( 1*alphanum "-" *( alphanum / "-" ) alphanum ).
func isTopLabel(l string) bool {
	if l == "" {
		return false
	}
	hasAlpha, hasDash := false, false
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case isAlpha(c):
			hasAlpha = true
		case isDigit(c):
		case c == '-':
			hasDash = true
		default:
			return false
		}
	}
	if !hasDash {
		return hasAlpha
	}
	return l[0] != '-' && l[len(l)-1] != '-'
}
