package report

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Code describes a finding code: its default severity, its generic title,
// the fix and the references. Codes are area.thing.problem, lower case,
// and never change meaning once released (JSON and SARIF consumers key on
// them).
type Code struct {
	Code     string
	Severity Severity
	Title    string
	Fix      string
	Refs     []string
}

// The registry is write-once static data filled by each engine package's
// init (report.Register). It is not a seam for tests: tests never replace
// it, they read it.
var (
	regMu sync.RWMutex
	reg   = map[string]Code{}
)

// Register adds codes to the registry. A duplicate registration with
// different content is a programming error and panics at init, before any
// user input is read.
func Register(codes ...Code) {
	regMu.Lock()
	defer regMu.Unlock()
	for _, c := range codes {
		if err := validCode(c.Code); err != nil {
			panic(err)
		}
		if old, ok := reg[c.Code]; ok && old.Title != c.Title {
			panic(fmt.Sprintf("report: finding code %s registered twice", c.Code))
		}
		reg[c.Code] = c
	}
}

func validCode(s string) error {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return fmt.Errorf("report: finding code %q must be area.thing[.problem]", s)
	}
	for _, p := range parts {
		if p == "" {
			return fmt.Errorf("report: finding code %q has an empty part", s)
		}
		for _, r := range p {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("report: finding code %q: %q not allowed", s, r)
			}
		}
	}
	return nil
}

// Lookup returns the registered code.
func Lookup(code string) (Code, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	c, ok := reg[code]
	return c, ok
}

// Codes returns every registered code, sorted.
func Codes() []Code {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]Code, 0, len(reg))
	for _, c := range reg {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

// FindingsDoc renders the registry as the Markdown of docs/findings.md.
// A test in pkg/cli (which links every engine) compares it with the file,
// so the documentation cannot drift from the code.
func FindingsDoc() string {
	var b strings.Builder
	b.WriteString("# Finding codes\n\n")
	b.WriteString("Every finding mailprobe reports has a stable code. This page is generated from the code registry\n")
	b.WriteString("(`go test ./pkg/cli -run TestFindingsDoc -update`); do not edit it by hand.\n\n")
	b.WriteString("Severity is the default; a few checks adjust it by context (for example TLS weaknesses on a\n")
	b.WriteString("port-25 MX listener, where TLS is opportunistic, are reported as info).\n")
	area := ""
	for _, c := range Codes() {
		a := c.Code[:strings.IndexByte(c.Code, '.')]
		if a != area {
			area = a
			fmt.Fprintf(&b, "\n## %s\n\n| code | severity | title | fix | references |\n| --- | --- | --- | --- | --- |\n", a)
		}
		// The anchor is what SARIF rules' helpUri point at
		// (docs/findings.md#smtp.starttls.missing).
		fmt.Fprintf(&b, "| <a id=\"%s\"></a>`%s` | %s | %s | %s | %s |\n", c.Code, c.Code, c.Severity, mdCell(c.Title), mdCell(c.Fix), mdCell(strings.Join(c.Refs, "; ")))
	}
	return b.String()
}

func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}
