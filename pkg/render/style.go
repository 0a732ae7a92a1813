package render

import (
	"io"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// styler colours single-line pieces of text. The plain styler returns its
// input unchanged, so the plain and styled outputs have exactly the same
// layout and differ only by escape sequences (and stage symbols).
//
// Only ever pass one line without tabs: lipgloss pads multi-line blocks to
// a rectangle and expands tabs, which would break the layout.
type styler struct {
	color bool

	bold, dim, heading                   func(string) string
	fail, warn, info, pass, errc, secure func(string) string
	client, event                        func(string) string
}

func identity(s string) string { return s }

func plainStyler() *styler {
	return &styler{
		bold: identity, dim: identity, heading: identity,
		fail: identity, warn: identity, info: identity, pass: identity, errc: identity, secure: identity,
		client: identity, event: identity,
	}
}

// newStyler returns the styler for o. The lipgloss renderer is bound to the
// output writer with its colour profile forced: lipgloss would otherwise
// probe the environment and the terminal, and only the caller (pkg/cli)
// knows about NO_COLOR, CLICOLOR_FORCE, TERM=dumb and --no-color.
func newStyler(w io.Writer, o Options) *styler {
	if !o.Color {
		return plainStyler()
	}
	// The 16-colour ANSI profile: every terminal that shows colour at all
	// supports it, and the user's theme picks the actual shades, so red
	// stays readable on both dark and light backgrounds.
	r := lipgloss.NewRenderer(w, termenv.WithProfile(termenv.ANSI))
	r.SetColorProfile(termenv.ANSI)
	// Fixed, so that nothing ever queries the terminal for its background
	// (an OSC 11 round trip that can hang on a pipe).
	r.SetHasDarkBackground(true)
	fg := func(c string) lipgloss.Style { return r.NewStyle().Foreground(lipgloss.Color(c)) }
	render := func(st lipgloss.Style) func(string) string {
		return func(s string) string {
			if strings.TrimSpace(s) == "" {
				return s // padding: nothing to see, so no escapes
			}
			return st.Render(s)
		}
	}
	return &styler{
		color: true,
		bold:  render(r.NewStyle().Bold(true)),
		dim:   render(r.NewStyle().Faint(true)),
		// Headings are bold only: lipgloss underlines rune by rune, which
		// quadruples the escapes for no visible gain.
		heading: render(r.NewStyle().Bold(true)),
		fail:    render(fg("1").Bold(true)),
		warn:    render(fg("3").Bold(true)),
		info:    render(fg("6")),
		pass:    render(fg("2")),
		errc:    render(fg("5").Bold(true)),
		secure:  render(fg("2")),
		client:  render(fg("6")),
		event:   render(r.NewStyle().Faint(true).Italic(true)),
	}
}

// severity returns the colour of a finding severity.
func (s *styler) severity(sev report.Severity) func(string) string {
	switch sev {
	case report.Fail:
		return s.fail
	case report.Warn:
		return s.warn
	case report.Info:
		return s.info
	}
	return s.pass
}

// severityLabel is the fixed-width word in front of a finding. Pass is lower
// case because pass findings are the quiet ones, collapsed at the end.
func severityLabel(sev report.Severity) string {
	switch sev {
	case report.Fail:
		return "FAIL"
	case report.Warn:
		return "WARN"
	case report.Info:
		return "INFO"
	}
	return "pass"
}

// stageMark is the status column of a stage: a symbol when styled, an ASCII
// word of fixed width when plain, so `grep -w FAIL` and column tools work on
// piped output whatever the terminal's font.
func (s *styler) stageMark(st report.Status) string {
	type mark struct {
		word, symbol string
		style        func(string) string
	}
	var m mark
	switch st {
	case report.StatusOK:
		m = mark{"ok", "✓", s.pass}
	case report.StatusFail:
		m = mark{"FAIL", "✗", s.fail}
	case report.StatusError:
		m = mark{"ERR", "!", s.errc}
	case report.StatusSkipped:
		m = mark{"skip", "–", s.dim}
	case report.StatusInfo:
		m = mark{"info", "·", s.info}
	case report.StatusInterrupted:
		m = mark{"STOP", "■", s.errc}
	default:
		m = mark{string(st), "?", identity}
	}
	if s.color {
		return m.style(m.symbol)
	}
	return padRight(m.word, stageMarkWidth)
}

// stageMarkWidth is the width of the plain status words ("FAIL", "skip").
const stageMarkWidth = 4

func (s *styler) stageMarkWidth() int {
	if s.color {
		return 1
	}
	return stageMarkWidth
}
