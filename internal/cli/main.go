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
	return report(io, root.ExecuteContext(ctx))
}

// report prints err as one line and returns its exit code.
func report(io *IOStreams, err error) int {
	if err == nil {
		return exitOK
	}
	var usage *usageError
	var input *module.InputError
	switch {
	case errors.As(err, &usage), errors.As(err, &input):
		fmt.Fprintf(io.Err, "s3flow: %v\n", err)
		return exitUsage
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(io.Err, "s3flow: interrupted")
		return exitError
	}
	fmt.Fprintf(io.Err, "s3flow: %v\n", err)
	return exitError
}
