package gateway

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/s3flow/s3flow/internal/locals3"
)

// Main is the s3flow-local program: it serves until SIGTERM or an
// interrupt, with the credentials locals3.Command writes to its stdin. It
// returns the exit status.
func Main(args []string, stdin io.Reader, stderr io.Writer) int {
	fs := flag.NewFlagSet(locals3.HelperName, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `%s serves s3flow's local S3-compatible endpoint. s3flow starts it;
to run it yourself, use "s3flow local serve". It reads the access key id
and the secret access key from stdin, one per line.

`, locals3.HelperName)
		fs.PrintDefaults()
	}
	var o ServeOptions
	fs.StringVar(&o.Root, "root", "", "folder that holds the buckets (required)")
	fs.StringVar(&o.MetaDir, "meta-dir", "", "folder for object metadata when the root has no user xattrs (default: ROOT-meta)")
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:9000", "host:port to listen on")
	fs.StringVar(&o.Region, "region", "us-east-1", "region the endpoint reports")
	fs.StringVar(&o.EventsFile, "events-file", "", "file in which a running s3flow server says where to send S3 events (default: none sent)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.Root == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: --root is required and there are no arguments\n", locals3.HelperName)
		return 2
	}
	var err error
	if o.AccessKeyID, o.Secret, err = locals3.ReadCredentials(stdin); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", locals3.HelperName, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := Serve(ctx, o); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", locals3.HelperName, err)
		if errors.As(err, new(*locals3.InUseError)) {
			return locals3.ExitInUse
		}
		return 1
	}
	return 0
}
