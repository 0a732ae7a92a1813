package cli

import "github.com/muesli/termenv"

// noColorProfile makes a lipgloss renderer emit no escape sequences.
const noColorProfile = termenv.Ascii
