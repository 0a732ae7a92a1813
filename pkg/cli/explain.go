package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"github.com/spf13/cobra"

	"github.com/mailprobe/mailprobe/pkg/replycode"
	"github.com/mailprobe/mailprobe/pkg/termsafe"
)

type explainOptions struct {
	Format  string
	NoColor bool
	File    string
}

func newExplainCmd(env *Env) *cobra.Command {
	o := &explainOptions{}
	c := &cobra.Command{
		Use:   "explain CODE [ENHANCED] [TEXT...] | explain - | explain --file BOUNCE.eml",
		Short: "Explain an SMTP reply: meaning, likely cause and fix",
		Long: `Explain an SMTP reply from its basic code (RFC 5321), its enhanced status
code (RFC 3463 and the IANA registry) and its text, matched against known
replies of Gmail, Microsoft 365, Yahoo, iCloud, Postmark, Postfix, Exim,
Sendmail and others.

Paste what you have: a reply line (or a whole multi-line reply), a DSN's
"Diagnostic-Code: smtp; 550 ..." or "Status: 5.1.1" line, a Postfix log line
("status=bounced (host ... said: 550 ...)"), an Exim log line ("SMTP error
from remote mail server after RCPT TO:<...>: 550 ..."). With "-" the text is
read from standard input, with --file from a file; a whole bounce message
(multipart/report, RFC 3464) is explained recipient by recipient.`,
		Example: `  mailprobe explain 550 5.7.26
  mailprobe explain "451 4.7.1 Greylisted, see http://postgrey.schweikert.ch/help/example.com.html"
  mailprobe explain 'status=bounced (host mx.example.com[192.0.2.1] said: 550 5.1.1 User unknown (in reply to RCPT TO command))'
  grep 4F1A2B3C4D /var/log/mail.log | mailprobe explain -
  mailprobe explain --file bounce.eml --format json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.File == "" && len(args) == 0 {
				return usageErrorf("usage: mailprobe explain CODE [ENHANCED] [TEXT...], explain - (standard input) or explain --file FILE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			items, err := explainInput(env, o, args)
			if err != nil {
				return err
			}
			switch o.Format {
			case "json":
				enc := json.NewEncoder(env.IO.Out)
				enc.SetIndent("", "  ")
				if len(items) == 1 && items[0].Source == "" {
					return enc.Encode(items[0].Explanation)
				}
				if len(items) == 1 && o.File == "" && !(len(args) == 1 && args[0] == "-") {
					return enc.Encode(items[0])
				}
				return enc.Encode(items)
			case "text", "":
				color := !o.NoColor && env.IO.ColorEnabled()
				for i, it := range items {
					if i > 0 {
						fmt.Fprintln(env.IO.Out)
					}
					if len(items) > 1 || it.Recipient != "" {
						printPastedHeader(env.IO.Out, it, i, len(items), color)
					}
					printExplanation(env.IO.Out, it.Explanation, color)
				}
				return nil
			}
			return usageErrorf("--format must be text or json for explain")
		},
	}
	c.Flags().StringVar(&o.Format, "format", "text", "output format: text or json")
	c.Flags().BoolVar(&o.NoColor, "no-color", false, "never style the output")
	c.Flags().StringVar(&o.File, "file", "", "read the reply, log lines or bounce message from this file")
	return c
}

// explained is one explanation with where its reply came from.
type explained struct {
	replycode.Explanation
	Source    string `json:"source,omitempty"`
	Recipient string `json:"recipient,omitempty"`
	Action    string `json:"action,omitempty"`
	RemoteMTA string `json:"remote_mta,omitempty"`
}

// explainInput turns the arguments, standard input or --file into the
// replies to explain.
func explainInput(env *Env, o *explainOptions, args []string) ([]explained, error) {
	var text []byte
	from := ""
	switch {
	case o.File != "":
		if len(args) > 0 {
			return nil, usageErrorf("give --file or the reply as arguments, not both")
		}
		b, err := readLimited(o.File, nil)
		if err != nil {
			return nil, err
		}
		text, from = b, o.File
	case len(args) == 1 && args[0] == "-":
		b, err := readLimited("-", env.IO.In)
		if err != nil {
			return nil, err
		}
		text, from = b, "standard input"
	default:
		code, enh, t, err := parseExplainArgs(args)
		if err == nil {
			return []explained{{Explanation: replycode.Explain(code, enh, t)}}, nil
		}
		// Not a bare code: a pasted log line or DSN field.
		ps := replycode.ParsePaste(strings.Join(args, " "))
		if len(ps) == 0 {
			return nil, err
		}
		return explainAll(ps), nil
	}
	var ps []replycode.Pasted
	if b, err := replycode.ParseBounce(bytes.NewReader(text)); err == nil {
		ps = b
	} else {
		ps = replycode.ParsePaste(string(text))
	}
	if len(ps) == 0 {
		return nil, usageErrorf("%s holds no SMTP reply, DSN field, Postfix or Exim log line, or bounce message to explain", from)
	}
	return explainAll(ps), nil
}

func explainAll(ps []replycode.Pasted) []explained {
	out := make([]explained, 0, len(ps))
	for _, p := range ps {
		out = append(out, explained{Explanation: replycode.Explain(p.Code, p.Enhanced, p.Text),
			Source: p.Source, Recipient: p.Recipient, Action: p.Action, RemoteMTA: p.RemoteMTA})
	}
	return out
}

// readLimited reads a file (or r for "-") up to replycode.MaxPaste.
func readLimited(name string, r io.Reader) ([]byte, error) {
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, usageErrorf("%v", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, replycode.MaxPaste+1))
	if err != nil {
		return nil, usageErrorf("reading %s: %v", name, err)
	}
	if len(b) > replycode.MaxPaste {
		return nil, usageErrorf("%s is larger than %d MiB", name, replycode.MaxPaste>>20)
	}
	return b, nil
}

func printPastedHeader(w io.Writer, it explained, i, n int, color bool) {
	r := lipgloss.NewRenderer(w)
	if color {
		r.SetColorProfile(termenv.ANSI256)
	} else {
		r.SetColorProfile(noColorProfile)
	}
	var parts []string
	if n > 1 {
		parts = append(parts, fmt.Sprintf("[%d/%d]", i+1, n))
	}
	if it.Recipient != "" {
		parts = append(parts, termsafe.Line(it.Recipient))
	}
	if it.Action != "" {
		parts = append(parts, "("+termsafe.Line(it.Action)+")")
	}
	if it.RemoteMTA != "" {
		parts = append(parts, "from "+termsafe.Line(it.RemoteMTA))
	}
	if it.Source != "" {
		parts = append(parts, "· "+it.Source)
	}
	fmt.Fprintln(w, r.NewStyle().Faint(true).Render(strings.Join(parts, " ")))
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
	// The reply text is the user's paste: shown, never interpreted.
	reply := termsafe.Line(strings.TrimSpace(strings.Join([]string{codeString(ex.Code), ex.Enhanced, ex.Text}, " ")))
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
