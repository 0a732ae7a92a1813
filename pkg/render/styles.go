package render

import (
	"io"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// Styles lets commands that print as they go (capture, smtp shell) use the
// same palette as the report renderer. With color false every method
// returns its input unchanged.
type Styles struct{ s *styler }

// NewStyles returns the styles for writing to w.
func NewStyles(w io.Writer, color bool) Styles {
	return Styles{newStyler(w, Options{Color: color})}
}

func (st Styles) Bold(s string) string    { return st.s.bold(s) }
func (st Styles) Dim(s string) string     { return st.s.dim(s) }
func (st Styles) Heading(s string) string { return st.s.heading(s) }
func (st Styles) Client(s string) string  { return st.s.client(s) }

// Severity colours s as a finding of severity sev.
func (st Styles) Severity(sev report.Severity, s string) string { return st.s.severity(sev)(s) }

// SeverityLabel is the fixed-width word for sev (FAIL, WARN, INFO, pass).
func SeverityLabel(sev report.Severity) string { return severityLabel(sev) }
