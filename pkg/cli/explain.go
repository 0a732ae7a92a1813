package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"github.com/spf13/cobra"

	"github.com/mailprobe/mailprobe/pkg/replycode"
)

type explainOptions struct {
	Format  string
	NoColor bool
}

func newExplainCmd(env *Env) *cobra.Command {
	o := &explainOptions{}
	c := &cobra.Command{
		Use:   "explain CODE [ENHANCED] [TEXT...]",
		Short: "Explain an SMTP reply: meaning, likely cause and fix",
		Long: `Explain an SMTP reply from its basic code (RFC 5321), its enhanced status
code (RFC 3463 and the IANA registry) and its text, matched against known
replies of Gmail, Microsoft 365, Yahoo, iCloud, Postfix, Exim, Sendmail and
others. A whole reply line can be given as one argument.`,
		Example: `  mailprobe explain 550 5.7.26
  mailprobe explain 535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant
  mailprobe explain "451 4.7.1 Greylisted, see http://postgrey.schweikert.ch/help/example.com.html"
  mailprobe explain 5.7.1`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			code, enh, text, err := parseExplainArgs(args)
			if err != nil {
				return err
			}
			ex := replycode.Explain(code, enh, text)
			switch o.Format {
			case "json":
				enc := json.NewEncoder(env.IO.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(ex)
			case "text", "":
				printExplanation(env.IO.Out, ex, !o.NoColor && env.IO.ColorEnabled())
				return nil
			}
			return usageErrorf("--format must be text or json for explain")
		},
	}
	c.Flags().StringVar(&o.Format, "format", "text", "output format: text or json")
	c.Flags().BoolVar(&o.NoColor, "no-color", false, "never style the output")
	return c
}

// parseExplainArgs accepts "550", "550 5.7.26", "550 5.7.26 text...",
// "5.7.26" alone, and a whole reply line in one argument.
func parseExplainArgs(args []string) (code int, enh, text string, err error) {
	all := strings.TrimSpace(strings.Join(args, " "))
	if c, e, t, ok := replycode.ParseReplyLine(all); ok {
		return c, e, t, nil
	}
	first, rest, _ := strings.Cut(all, " ")
	if _, _, _, ok := replycode.ParseEnhanced(first); ok {
		// An enhanced code alone: infer the basic class from its first digit.
		return 0, first, strings.TrimSpace(rest), nil
	}
	if n, e := strconv.Atoi(first); e == nil {
		return 0, "", "", usageErrorf("%d is not an SMTP reply code (they run from 200 to 599)", n)
	}
	return 0, "", "", usageErrorf("%q is not an SMTP reply code: give a code like 550, optionally an enhanced code like 5.7.26, and the reply text", first)
}

func printExplanation(w io.Writer, ex replycode.Explanation, color bool) {
	r := lipgloss.NewRenderer(w)
	if color {
		r.SetColorProfile(termenv.ANSI256)
	} else {
		r.SetColorProfile(noColorProfile)
	}
	head := r.NewStyle().Bold(true)
	label := r.NewStyle().Faint(true)
	sev := r.NewStyle().Bold(true)
	switch {
	case ex.Code >= 500 || strings.HasPrefix(ex.Enhanced, "5."):
		sev = sev.Foreground(lipgloss.Color("1"))
	case ex.Code >= 400 || strings.HasPrefix(ex.Enhanced, "4."):
		sev = sev.Foreground(lipgloss.Color("3"))
	default:
		sev = sev.Foreground(lipgloss.Color("2"))
	}
	reply := strings.TrimSpace(strings.Join([]string{codeString(ex.Code), ex.Enhanced, ex.Text}, " "))
	fmt.Fprintln(w, sev.Render(reply))
	fmt.Fprintln(w, head.Render(ex.Summary))
	fmt.Fprintln(w)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%s %s\n", label.Render(fmt.Sprintf("%-9s", k+":")), v)
		}
	}
	line("class", ex.Class)
	if ex.Code != 0 {
		line("code", fmt.Sprintf("%d: %s", ex.Code, ex.Meaning))
	}
	if ex.Enhanced != "" {
		m := ex.EnhancedMeaning
		if ex.EnhancedSubject != "" {
			m = ex.EnhancedSubject + " — " + m
		}
		line("enhanced", ex.Enhanced+": "+m)
	}
	line("provider", ex.Provider)
	line("cause", ex.Cause)
	line("fix", ex.Fix)
	if ex.Temporary {
		line("retry", "temporary failure: the sender retries; the message may still arrive")
	}
	if len(ex.Refs) > 0 {
		line("see", strings.Join(ex.Refs, "; "))
	}
}

func codeString(c int) string {
	if c == 0 {
		return ""
	}
	return strconv.Itoa(c)
}
