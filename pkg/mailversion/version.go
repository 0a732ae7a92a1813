package mailversion

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is an upstream release number reduced to comparable parts.
// The forms mail servers print are all read the same way:
//
//	Exim      4.92.3, 4.84_2 (= 4.84.2), 4.90_RC3 (before 4.90)
//	Dovecot   2.3.7.2
//	Postfix   3.8.4
//	Exchange  15.1.2176.9 (major.minor.build.revision)
//	Sendmail  8.11.6p2, OpenSMTPD 6.6.1p1 (portable patch 1 of 6.6.1)
//	Zimbra    8.8.15.p34 in the table (8.8.15 Patch 34)
//
// Missing trailing parts are zero (4.92 == 4.92.0). A distribution or
// build suffix (4.92-8+deb10u6, 2.4.8-Invoca-RPM, 7.0.0_GA_3079) is not
// part of the upstream version and is kept apart in Build.
type Version struct {
	Raw   string
	Parts []int64
	// Pre is set for a pre-release (RC, beta): it sorts before the
	// release of the same number (4.90_RC3 < 4.90).
	Pre int64
	// Build is what followed the upstream number: a distribution's
	// package revision, a build tag. Distributions backport fixes
	// without changing the upstream number, so a match on a version
	// with a Build is said to depend on the package.
	Build string
}

// preNone marks a final release (any pre-release sorts lower).
const preNone = 1 << 40

// ParseVersion reads the upstream part of a version string. It fails when
// s does not start with a number ("unknown", "" or "v" alone).
func ParseVersion(s string) (Version, error) {
	v := Version{Raw: s, Pre: preNone}
	rest := strings.TrimSpace(s)
	rest = strings.TrimPrefix(strings.TrimPrefix(rest, "v"), "V")
	i := 0
	readNum := func() (int64, bool) {
		j := i
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if j == i || j-i > 12 {
			return 0, false
		}
		n, err := strconv.ParseInt(rest[i:j], 10, 64)
		if err != nil {
			return 0, false
		}
		i = j
		return n, true
	}
	n, ok := readNum()
	if !ok {
		return Version{}, fmt.Errorf("version %q does not start with a number", s)
	}
	v.Parts = append(v.Parts, n)
	for i < len(rest) && len(v.Parts) < 8 {
		c := rest[i]
		switch {
		case c == '.' && i+1 < len(rest) && isDigit(rest[i+1]):
			i++
			n, _ := readNum()
			v.Parts = append(v.Parts, n)
			continue
		case c == '.' && i+2 < len(rest) && (rest[i+1] == 'p' || rest[i+1] == 'P') && isDigit(rest[i+2]):
			// 8.8.15.p34: the table's spelling of a numbered patch.
			i += 2
			n, _ := readNum()
			v.Parts = append(v.Parts, n)
			continue
		case c == '_' && i+1 < len(rest) && isDigit(rest[i+1]):
			// Exim's 4.84_2 is the second fix release of 4.84.
			i++
			n, _ := readNum()
			v.Parts = append(v.Parts, n)
			continue
		case (c == 'p' || c == 'P') && i+1 < len(rest) && isDigit(rest[i+1]):
			// Sendmail 8.11.6p2, OpenSMTPD portable 6.6.1p1.
			i++
			n, _ := readNum()
			v.Parts = append(v.Parts, n)
			continue
		case strings.HasPrefix(strings.ToLower(rest[i:]), " patch ") && i+7 < len(rest) && isDigit(rest[i+7]):
			// Kerio Connect 9.2.5 patch 3, Zimbra 8.8.15 Patch 34.
			i += 7
			n, _ := readNum()
			v.Parts = append(v.Parts, n)
			continue
		}
		if pre, n := preRelease(rest[i:]); n > 0 {
			v.Pre = pre
			i += n
		}
		break
	}
	v.Build = strings.TrimLeft(rest[i:], " -+_~")
	return v, nil
}

// preRelease reads a pre-release tag (_RC3, rc1, -beta2) at the start of
// s: its rank and length.
func preRelease(s string) (int64, int) {
	l := strings.ToLower(s)
	skip := 0
	if len(l) > 0 && (l[0] == '_' || l[0] == '-' || l[0] == '.' || l[0] == '~') {
		skip = 1
	}
	for _, tag := range []struct {
		word string
		rank int64
	}{{"alpha", 0}, {"beta", 1000}, {"rc", 2000}} {
		if !strings.HasPrefix(l[skip:], tag.word) {
			continue
		}
		j := skip + len(tag.word)
		k := j
		for k < len(l) && isDigit(l[k]) && k-j < 9 {
			k++
		}
		n, _ := strconv.ParseInt(l[j:k], 10, 64)
		return tag.rank + n, k
	}
	return 0, 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// String is the upstream version as read ("4.84.2" for "4.84_2").
func (v Version) String() string {
	parts := make([]string, len(v.Parts))
	for i, p := range v.Parts {
		parts[i] = strconv.FormatInt(p, 10)
	}
	s := strings.Join(parts, ".")
	if v.Pre != preNone {
		s += fmt.Sprintf("-pre%d", v.Pre)
	}
	return s
}

// Compare orders two versions: -1, 0 or +1. Missing parts are zero.
func Compare(a, b Version) int {
	n := max(len(a.Parts), len(b.Parts))
	for i := 0; i < n; i++ {
		x, y := part(a.Parts, i), part(b.Parts, i)
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	switch {
	case a.Pre < b.Pre:
		return -1
	case a.Pre > b.Pre:
		return 1
	}
	return 0
}

func part(p []int64, i int) int64 {
	if i < len(p) {
		return p[i]
	}
	return 0
}

// Constraint is one comparison: an operator and a version.
type Constraint struct {
	Op string // <, <=, >, >=, =
	V  Version
}

func (c Constraint) holds(v Version) bool {
	r := Compare(v, c.V)
	switch c.Op {
	case "<":
		return r < 0
	case "<=":
		return r <= 0
	case ">":
		return r > 0
	case ">=":
		return r >= 0
	case "=":
		return r == 0
	}
	return false
}

// Range is a set of constraints that must all hold: ">=4.87,<4.92" is
// 4.87 up to, not including, 4.92. A version is in a Range when every
// constraint holds.
type Range struct {
	Text        string
	Constraints []Constraint
}

// ParseRange reads a comma-separated list of constraints. Each is an
// operator (<, <=, >, >=, =) and a version; a range needs an upper bound
// (< or <= or =) so that a new release is never affected by accident,
// and its lower bound must lie below its upper bound.
func ParseRange(s string) (Range, error) {
	r := Range{Text: s}
	var lower, upper *Constraint
	for _, raw := range strings.Split(s, ",") {
		t := strings.TrimSpace(raw)
		op := ""
		for _, o := range []string{"<=", ">=", "<", ">", "="} {
			if strings.HasPrefix(t, o) {
				op = o
				break
			}
		}
		if op == "" {
			return Range{}, fmt.Errorf("range %q: %q has no operator (<, <=, >, >=, =)", s, t)
		}
		vs := strings.TrimSpace(t[len(op):])
		v, err := ParseVersion(vs)
		if err != nil {
			return Range{}, fmt.Errorf("range %q: %v", s, err)
		}
		if v.Build != "" {
			return Range{}, fmt.Errorf("range %q: %q is not a plain version", s, vs)
		}
		c := Constraint{Op: op, V: v}
		switch op {
		case ">", ">=":
			if lower != nil {
				return Range{}, fmt.Errorf("range %q: two lower bounds", s)
			}
			lower = &c
		case "<", "<=", "=":
			if upper != nil {
				return Range{}, fmt.Errorf("range %q: two upper bounds", s)
			}
			upper = &c
		}
		r.Constraints = append(r.Constraints, c)
	}
	if upper == nil {
		return Range{}, fmt.Errorf("range %q: no upper bound (<, <= or =)", s)
	}
	if lower != nil && upper.Op == "=" {
		return Range{}, fmt.Errorf("range %q: = takes no other bound", s)
	}
	if lower != nil && Compare(lower.V, upper.V) >= 0 {
		return Range{}, fmt.Errorf("range %q: lower bound is not below the upper bound", s)
	}
	return r, nil
}

// Contains reports whether v is in the range.
func (r Range) Contains(v Version) bool {
	for _, c := range r.Constraints {
		if !c.holds(v) {
			return false
		}
	}
	return len(r.Constraints) > 0
}

func (r Range) String() string { return r.Text }
