package cli

import (
	"bytes"
	"io"
	"os"

	"golang.org/x/term"
)

// IOStreams are the command's standard streams and what they are attached
// to, so tests can drive commands with buffers.
type IOStreams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer

	InTTY  bool
	OutTTY bool
	ErrTTY bool
	// inFd reads a password without echo when In is a terminal.
	inFd int
}

func systemIO() *IOStreams {
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr,
		InTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		OutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		ErrTTY: term.IsTerminal(int(os.Stderr.Fd())),
		inFd:   int(os.Stdin.Fd()),
	}
}

// TestIO returns streams backed by buffers, none of them a terminal.
func TestIO(in string) (*IOStreams, *bytes.Buffer, *bytes.Buffer) {
	out, errOut := &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: bytes.NewBufferString(in), Out: out, Err: errOut, inFd: -1}, out, errOut
}

// readPassword prompts on Err and reads a line from a terminal without echo.
func (s *IOStreams) readPassword(prompt string) (string, error) {
	io.WriteString(s.Err, prompt)
	b, err := term.ReadPassword(s.inFd)
	io.WriteString(s.Err, "\n")
	return string(b), err
}
