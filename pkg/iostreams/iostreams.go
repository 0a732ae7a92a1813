// Package iostreams holds the standard streams a command writes to and the
// terminal facts that decide how it writes: styled or plain, progress or
// not. Modelled on cli/cli's iostreams: System() for the real process,
// Test() for tests, and nothing else reads os.Stdout directly.
package iostreams

import (
	"bytes"
	"io"
	"os"
	"strconv"

	"golang.org/x/term"
)

// IOStreams are a command's streams plus what is known about them.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	// StdoutTTY and StderrTTY say whether the streams are terminals;
	// StdinTTY whether a password can be prompted for.
	StdinTTY, StdoutTTY, StderrTTY bool
	// Getenv reads the environment (NO_COLOR, CLICOLOR_FORCE, TERM, and
	// --password-env variables). Injected so tests never touch os.Environ.
	Getenv func(string) string
	// ReadPassword reads a line from the terminal without echo.
	ReadPassword func() ([]byte, error)
	// Width of the terminal, 0 when unknown.
	Width int
}

// System returns the streams of this process.
func System() *IOStreams {
	s := &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		StdinTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		StdoutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		StderrTTY: term.IsTerminal(int(os.Stderr.Fd())),
		Getenv:    os.Getenv,
		ReadPassword: func() ([]byte, error) {
			return term.ReadPassword(int(os.Stdin.Fd()))
		},
	}
	if s.StdoutTTY {
		if w, _, err := term.GetSize(int(os.Stdout.Fd())); err == nil {
			s.Width = w
		}
	}
	// COLUMNS overrides the terminal's width, but never makes piped
	// output wrap: text is wrapped only on a terminal.
	if c, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && c > 0 && s.StdoutTTY {
		s.Width = c
	}
	return s
}

// Test returns streams over buffers, not terminals, with an empty
// environment.
func Test() (*IOStreams, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	in, out, errOut := &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	env := map[string]string{}
	return &IOStreams{
		In: in, Out: out, ErrOut: errOut,
		Getenv:       func(k string) string { return env[k] },
		ReadPassword: func() ([]byte, error) { return nil, io.EOF },
	}, in, out, errOut
}

// ColorEnabled decides styling of stdout, following the conventions in
// https://no-color.org and https://bixense.com/clicolors: NO_COLOR (any
// value) turns colour off, CLICOLOR_FORCE (non-zero) turns it on even when
// piped, TERM=dumb turns it off; otherwise colour follows the TTY.
func (s *IOStreams) ColorEnabled() bool {
	if s.Getenv("NO_COLOR") != "" {
		return false
	}
	if v := s.Getenv("CLICOLOR_FORCE"); v != "" && v != "0" {
		return true
	}
	if s.Getenv("TERM") == "dumb" {
		return false
	}
	return s.StdoutTTY
}

// ProgressEnabled says whether progress may be drawn on stderr: only on a
// terminal, and not under TERM=dumb.
func (s *IOStreams) ProgressEnabled() bool {
	return s.StderrTTY && s.Getenv("TERM") != "dumb"
}
