package dialogue

// This file holds the script language's syntax tree. The language itself is
// documented for users in docs/script-language.md; the parser is in
// script_parse.go, expectations in script_expect.go, variables and escapes
// in script_vars.go and the runner in script_run.go.
//
// A script is a list of steps, one per line, some of which (if-capability,
// if-reply, repeat, pipeline) hold nested steps. Scripts are data: the
// parser never touches the network, and everything that can be checked
// before connecting (syntax, block structure, regular expressions, variable
// names, durations, bounds on loops) is checked there, so that a broken
// script is a usage error (exit 2) and never a half-run dialogue.

import (
	"fmt"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// Step kinds, as written in scripts.
const (
	KindConnect     = "connect"
	KindExpect      = "expect"
	KindExpectClose = "expect-close"
	KindSend        = "send"
	KindSendRaw     = "sendraw"
	KindEHLO        = "ehlo"
	KindSTARTTLS    = "starttls"
	KindAuth        = "auth"
	KindData        = "data"
	KindBody        = "body"
	KindPause       = "pause"
	KindTimeout     = "timeout"
	KindQuit        = "quit"
	KindClose       = "close"
	KindNote        = "note"
	KindRequireCap  = "require-capability"
	KindIfCap       = "if-capability"
	KindIfReply     = "if-reply"
	KindRepeat      = "repeat"
	KindPipeline    = "pipeline"
	KindDefault     = "default"
)

// Limits that keep a script, and what it makes mailprobe do, bounded.
const (
	MaxScriptBytes = 1 << 20 // a script file larger than this is refused
	MaxRepeat      = 100     // iterations of one repeat block
	MaxIterations  = 1000    // product of the counts of nested repeat blocks
	MaxNesting     = 8       // depth of nested blocks
	MaxPause       = 10 * time.Minute
	MinTimeout     = 10 * time.Millisecond
	MaxTimeout     = 10 * time.Minute
	// DefaultStepTimeout is every step's deadline until a timeout step or
	// --step-timeout changes it: long enough for a greeting delay, short
	// enough to report a dead server in seconds.
	DefaultStepTimeout = 30 * time.Second
)

// Script is a parsed dialogue script.
type Script struct {
	File  string  // file name, for messages
	Steps []*Step // top-level steps in order
	// Vars are the default lines, in file order. They are evaluated
	// before the script runs (see Bind), which is why they are only
	// allowed at the top level.
	Vars []*Step
}

// Step is one line of a script, or one block with the lines it holds.
type Step struct {
	Line   int    // 1-based line number of the step's first line
	Kind   string // one of the Kind constants
	Source string // the line as written, without indentation: names the stage

	// Text is the argument template: the line to send (send, sendraw), the
	// EHLO name, the connect address, the note, the AUTH user, the value
	// of default, the pause/timeout duration. It may hold ${VARS} (and
	// escapes, for send and sendraw).
	Text string
	// Name is the AUTH mechanism, the capability keyword or the variable name.
	Name string
	// Param is an optional capability parameter (if-capability AUTH PLAIN).
	Param string
	TLS   bool // connect tls: implicit TLS (RFC 8314)
	// Negate inverts an if-capability or if-reply condition (written "!").
	Negate bool

	// Expect is what the step must see: for expect, expect-close and
	// if-reply the written expectation; for compound steps (ehlo, starttls,
	// auth, data, quit) their built-in one.
	Expect *Expectation
	// Else is the severity of a failed expectation when the script goes on
	// after it (else fail|warn|info); nil means "fail and stop the script".
	Else *report.Severity
	// Message is the optional quoted text that words a failed expectation.
	Message string

	Body       []string // data and body: the message lines, as written
	Terminator string   // data and body: the line that ends the body ("." unless <<WORD)

	Count     int     // repeat
	Then      []*Step // block contents (if-*, repeat, pipeline)
	Otherwise []*Step // the else branch of if-capability and if-reply
	EndLine   int     // line of the block's end
}

// stopsOnMismatch reports whether a failed expectation stops the script.
func (s *Step) stopsOnMismatch() bool { return s.Else == nil }

// mismatchSeverity is the severity of a failed expectation.
func (s *Step) mismatchSeverity() report.Severity {
	if s.Else != nil {
		return *s.Else
	}
	return report.Fail
}

// needsConnection reports whether the step talks to the server.
func (s *Step) needsConnection() bool {
	switch s.Kind {
	case KindExpect, KindExpectClose, KindSend, KindSendRaw, KindEHLO, KindSTARTTLS,
		KindAuth, KindData, KindBody, KindQuit, KindPipeline:
		return true
	}
	return false
}

// Walk calls f for every step in file order, blocks before their contents.
func (sc *Script) Walk(f func(*Step)) { walkSteps(sc.Steps, f) }

func walkSteps(steps []*Step, f func(*Step)) {
	for _, s := range steps {
		f(s)
		walkSteps(s.Then, f)
		walkSteps(s.Otherwise, f)
	}
}

// UsesAuth returns the first auth step, or nil: the command line needs a
// password only for scripts that log in.
func (sc *Script) UsesAuth() *Step {
	var first *Step
	sc.Walk(func(s *Step) {
		if s.Kind == KindAuth && first == nil {
			first = s
		}
	})
	return first
}

// SyntaxError is one problem found before the script ran, with its place.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// ScriptErrors is every problem found in a script (at most maxErrors).
type ScriptErrors []*SyntaxError

// maxErrors bounds the list: after a few, more errors are usually echoes
// of the first (an unclosed block), and a binary file would produce one
// per line.
const maxErrors = 20

func (es ScriptErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}
