// Package cli is s3flow's command line: a cobra tree with one file per
// noun. Main maps errors to exit codes in one place.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/s3flow/s3flow/internal/module"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
	// exitInterrupted is a run stopped by Ctrl-C (SIGINT) or SIGTERM: 128
	// plus SIGINT's number, what shells report for a command they stopped.
	exitInterrupted = 130
)

// Version is set at build time with -ldflags "-X ...cli.Version=...".
var Version = "dev"

// usageError is a mistake in how the command was called.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// softMemoryLimit keeps the garbage collector from letting transfer
// buffers pile up: transfers need a bounded amount of memory whatever the
// file size, and a CLI should not hold twice that. GOMEMLIMIT overrides it.
const softMemoryLimit = 64 << 20

// Main runs the command line and returns the exit code.
func Main() int {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(softMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, systemIO(), os.Args[1:])
}

// run runs one command line with the given streams and returns its exit
// code; tests call it with TestIO.
func run(ctx context.Context, io *IOStreams, args []string) int {
	app := newApp(io)
	defer app.close()
	root := newRootCmd(app)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil && ctx.Err() != nil {
		// A signal stopped the command, whatever error that caused (a
		// cancelled run's own message, say).
		err = &interruptedError{err}
	}
	return report(io, err)
}

// interruptedError is the failure of a command a signal stopped.
type interruptedError struct{ err error }

func (e *interruptedError) Error() string { return e.err.Error() }
func (e *interruptedError) Unwrap() error { return e.err }

// report prints err as one line and returns its exit code.
func report(io *IOStreams, err error) int {
	if err == nil {
		return exitOK
	}
	var usage *usageError
	var input *module.InputError
	var inModule *moduleError
	var stopped *interruptedError
	switch {
	case errors.As(err, &stopped) && stopped.err != context.Canceled:
		// The command's own words say what was left undone (the run id).
		fmt.Fprintf(io.Err, "s3flow: interrupted: %v\n", err)
		return exitInterrupted
	case errors.As(err, &input) && errors.As(err, &inModule):
		// On the command line, fields are flags.
		fmt.Fprintf(io.Err, "s3flow: %s\n", withFlags(inModule.module, input))
		return exitUsage
	case errors.As(err, &usage), errors.As(err, &input):
		fmt.Fprintf(io.Err, "s3flow: %v\n", err)
		return exitUsage
	case stopped != nil, errors.Is(err, context.Canceled):
		fmt.Fprintln(io.Err, "s3flow: interrupted")
		return exitInterrupted
	}
	fmt.Fprintf(io.Err, "s3flow: %v\n", err)
	return exitError
}
