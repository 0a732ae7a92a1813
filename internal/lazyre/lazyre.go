// Package lazyre holds regular expressions that compile on first use.
//
// A package-level regexp.MustCompile runs at process start in every
// command, whether or not the command ever matches that pattern: with a
// hundred of them across mailprobe's packages that was milliseconds of
// every `mailprobe smtp send` (issue 16's start-up budget). A Regexp here
// costs nothing until it is used; All lets a test compile every pattern of
// the binary, so a typo still fails `make test` rather than a user's run.
package lazyre

import (
	"regexp"
	"sync"
)

// Regexp is a regular expression compiled on first use. Its methods are
// those of regexp.Regexp that mailprobe calls; Get returns the compiled
// expression for anything else.
type Regexp struct {
	expr string
	once sync.Once
	re   *regexp.Regexp
}

var (
	allMu sync.Mutex
	all   []*Regexp
)

// New returns a Regexp for expr, to be assigned to a package-level
// variable. It panics on first use if expr does not compile (as
// regexp.MustCompile would at start-up); TestAll-style tests catch that.
func New(expr string) *Regexp {
	r := &Regexp{expr: expr}
	allMu.Lock()
	all = append(all, r)
	allMu.Unlock()
	return r
}

// Get returns the compiled expression.
func (r *Regexp) Get() *regexp.Regexp {
	r.once.Do(func() { r.re = regexp.MustCompile(r.expr) })
	return r.re
}

// String returns the source text.
func (r *Regexp) String() string { return r.expr }

// All compiles every Regexp created so far and returns the first pattern
// that does not compile with its error, or nil.
func All() error {
	allMu.Lock()
	list := append([]*Regexp(nil), all...)
	allMu.Unlock()
	return compileAll(list)
}

func compileAll(list []*Regexp) error {
	for _, r := range list {
		if _, err := regexp.Compile(r.expr); err != nil {
			return err
		}
	}
	return nil
}

// Count is the number of Regexps created so far.
func Count() int {
	allMu.Lock()
	defer allMu.Unlock()
	return len(all)
}

func (r *Regexp) MatchString(s string) bool            { return r.Get().MatchString(s) }
func (r *Regexp) FindString(s string) string           { return r.Get().FindString(s) }
func (r *Regexp) FindStringIndex(s string) []int       { return r.Get().FindStringIndex(s) }
func (r *Regexp) FindStringSubmatch(s string) []string { return r.Get().FindStringSubmatch(s) }
func (r *Regexp) FindStringSubmatchIndex(s string) []int {
	return r.Get().FindStringSubmatchIndex(s)
}
func (r *Regexp) FindAllString(s string, n int) []string { return r.Get().FindAllString(s, n) }
func (r *Regexp) FindAllStringSubmatch(s string, n int) [][]string {
	return r.Get().FindAllStringSubmatch(s, n)
}
func (r *Regexp) FindAllStringSubmatchIndex(s string, n int) [][]int {
	return r.Get().FindAllStringSubmatchIndex(s, n)
}
func (r *Regexp) ReplaceAllString(src, repl string) string {
	return r.Get().ReplaceAllString(src, repl)
}
func (r *Regexp) ReplaceAllStringFunc(src string, repl func(string) string) string {
	return r.Get().ReplaceAllStringFunc(src, repl)
}
func (r *Regexp) SubexpIndex(name string) int { return r.Get().SubexpIndex(name) }
