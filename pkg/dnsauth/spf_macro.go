package dnsauth

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// SPF macros, RFC 7208 §7:
//
//	macro-string = *( macro-expand / macro-literal )
//	macro-expand = ( "%{" macro-letter transformers *delimiter "}" )
//	               / "%%" / "%_" / "%-"
//	macro-literal = %x21-24 / %x26-7E    ; visible characters except "%"
//	macro-letter = "s" / "l" / "o" / "d" / "i" / "p" / "h" / "c" / "r" / "t" / "v"
//	transformers = *DIGIT [ "r" ]
//	delimiter    = "." / "-" / "+" / "," / "/" / "_" / "="
//
// c, r and t are allowed only in explanation text (§7.2); an explanation
// may also contain spaces (explain-string = *( macro-string / SP )).

type macroPart struct {
	lit     string // literal text (for %% %_ %- the expansion)
	special bool   // %% %_ %- : a macro-expand that expands to a constant
	letter  byte   // lower-case macro letter, 0 for literals
	upper   bool   // upper-case letter: URL-escape the result
	digits  int    // keep this many right-hand parts (0: all)
	reverse bool
	delims  string
}

func (p macroPart) isMacro() bool { return p.letter != 0 || p.special }

// parseMacroString parses a macro-string (explain=false) or an
// explain-string (explain=true).
func parseMacroString(s string, explain bool) ([]macroPart, error) {
	var parts []macroPart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, macroPart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			if (c < 0x21 || c > 0x7e) && !(explain && c == ' ') {
				return nil, fmt.Errorf("character %q not allowed (RFC 7208 §7.1)", c)
			}
			lit.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return nil, fmt.Errorf("%q: \"%%\" at the end (write \"%%%%\" for a literal %%)", s)
		}
		switch s[i+1] {
		case '%', '_', '-':
			flush()
			exp := map[byte]string{'%': "%", '_': " ", '-': "%20"}[s[i+1]]
			parts = append(parts, macroPart{lit: exp, special: true})
			i++
			continue
		case '{':
		default:
			return nil, fmt.Errorf("%q: \"%%\" must be followed by \"{\", \"%%\", \"_\" or \"-\" (RFC 7208 §7.1)", s)
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return nil, fmt.Errorf("%q: unterminated macro", s)
		}
		body := s[i+2 : i+end]
		p, err := parseMacroBody(body, explain)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", s, err)
		}
		flush()
		parts = append(parts, p)
		i += end
	}
	flush()
	return parts, nil
}

func parseMacroBody(body string, explain bool) (macroPart, error) {
	if body == "" {
		return macroPart{}, fmt.Errorf("empty macro")
	}
	p := macroPart{}
	l := body[0]
	lower := l | 0x20
	switch lower {
	case 's', 'l', 'o', 'd', 'i', 'p', 'h', 'v':
	case 'c', 'r', 't':
		if !explain {
			return p, fmt.Errorf("macro %%{%c} is allowed only in explanation text (RFC 7208 §7.2)", l)
		}
	default:
		return p, fmt.Errorf("unknown macro letter %q", l)
	}
	p.letter = lower
	p.upper = l != lower
	rest := body[1:]
	j := 0
	for j < len(rest) && isDigit(rest[j]) {
		j++
	}
	if j > 0 {
		n, err := strconv.Atoi(rest[:j])
		if err != nil || n == 0 {
			// "%{d0}" is meaningless: the number of parts kept must be
			// at least one.
			return p, fmt.Errorf("bad transformer %q", rest[:j])
		}
		p.digits = n
	}
	rest = rest[j:]
	if strings.HasPrefix(rest, "r") || strings.HasPrefix(rest, "R") {
		p.reverse = true
		rest = rest[1:]
	}
	for k := 0; k < len(rest); k++ {
		if !strings.ContainsRune(".-+,/_=", rune(rest[k])) {
			return p, fmt.Errorf("bad delimiter %q", rest[k])
		}
	}
	p.delims = rest
	return p, nil
}

// macroEnv holds the values macros expand to.
type macroEnv struct {
	sender   string // <sender>
	local    string // local-part of <sender>
	domain   string // <domain>, the current domain
	senderD  string // domain of <sender>
	ip       netip.Addr
	helo     string
	receiver string
	now      int64
	// ptr returns the validated domain name of the IP for %{p}; it does
	// DNS work, so it is called only when a record uses %{p}.
	ptr func() string
}

// maxMacroExpansion bounds one expansion: a record (or an exp= text) of
// thousands of %{s} with a long sender would otherwise build megabytes.
// Domains are cut to 253 octets afterwards and explanations are shown
// clipped, so nothing real comes near it.
const maxMacroExpansion = 16 << 10

// expand expands a parsed macro string (RFC 7208 §7.3), up to
// maxMacroExpansion bytes.
func (e *macroEnv) expand(parts []macroPart) string {
	var b strings.Builder
	for _, p := range parts {
		if b.Len() > maxMacroExpansion {
			break
		}
		if !p.isMacro() || p.special {
			b.WriteString(p.lit)
			continue
		}
		var v string
		switch p.letter {
		case 's':
			v = e.sender
		case 'l':
			v = e.local
		case 'o':
			v = e.senderD
		case 'd':
			v = e.domain
		case 'i':
			v = dottedIP(e.ip)
		case 'p':
			v = "unknown"
			if e.ptr != nil {
				v = e.ptr()
			}
		case 'h':
			v = e.helo
		case 'v':
			v = "in-addr"
			if e.ip.Is6() {
				v = "ip6"
			}
		case 'c':
			v = e.ip.String()
		case 'r':
			v = e.receiver
			if v == "" {
				v = "unknown"
			}
		case 't':
			v = strconv.FormatInt(e.now, 10)
		}
		v = transform(v, p)
		if p.upper {
			v = urlEscape(v)
		}
		b.WriteString(v)
	}
	return b.String()
}

// transform splits on the delimiters (default "."), reverses if asked,
// keeps the right-most digits parts and joins with "." (RFC 7208 §7.3).
func transform(v string, p macroPart) string {
	if p.digits == 0 && !p.reverse && p.delims == "" {
		return v
	}
	delims := p.delims
	if delims == "" {
		delims = "."
	}
	parts := splitAny(v, delims)
	if p.reverse {
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
	}
	if p.digits > 0 && p.digits < len(parts) {
		parts = parts[len(parts)-p.digits:]
	}
	return strings.Join(parts, ".")
}

func splitAny(s, delims string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(delims, s[i]) >= 0 {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// dottedIP is the %{i} form: dotted decimal for IPv4, dot-separated
// nibbles for IPv6 (RFC 7208 §7.3), lower case as in §7.4's example.
func dottedIP(ip netip.Addr) string {
	if ip.Is4() {
		return ip.String()
	}
	b := ip.As16()
	const hexd = "0123456789abcdef"
	out := make([]byte, 0, 63)
	for i, x := range b {
		if i > 0 {
			out = append(out, '.')
		}
		out = append(out, hexd[x>>4], '.', hexd[x&0xf])
	}
	return string(out)
}

// urlEscape escapes everything but the RFC 3986 unreserved characters, as
// upper-case macros require (RFC 7208 §7.3).
func urlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlpha(c) || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// truncateDomain shortens an expanded domain over 253 characters by
// dropping labels from the left (RFC 7208 §7.3).
func truncateDomain(d string) string {
	d = strings.TrimSuffix(d, ".")
	for len(d) > 253 {
		i := strings.IndexByte(d, '.')
		if i < 0 {
			return d
		}
		d = d[i+1:]
	}
	return d
}
