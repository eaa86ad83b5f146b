package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/locals3"
	"github.com/s3flow/s3flow/internal/module"
	s3mod "github.com/s3flow/s3flow/internal/module/s3"
)

func newLocalCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "local",
		Short: "The local S3-compatible endpoint (data under $S3FLOW_HOME/local-s3)",
	}
	var addr string
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Run the local endpoint in the foreground for other tools (aws CLI, rclone)",
		Long: `Runs the local S3-compatible endpoint until interrupted and prints its
endpoint and credentials, so the aws CLI or any S3 tool can use it too.
Buckets are folders and objects are files under $S3FLOW_HOME/local-s3/.
The endpoint is the s3flow-local program, found next to s3flow or on PATH.`,
		Example: "  s3flow local serve --addr 127.0.0.1:9000",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return localServe(cmd.Context(), a, addr)
		},
	}
	serve.Flags().StringVar(&addr, "addr", "127.0.0.1:9000", "host:port to listen on")
	cmd.AddCommand(serve)
	return cmd
}

func localServe(ctx context.Context, a *app, addr string) error {
	st, err := a.connections(ctx)
	if err != nil {
		return err
	}
	conn, err := st.Get(ctx, connection.LocalName)
	if err != nil {
		return err
	}
	home, err := a.home()
	if err != nil {
		return err
	}
	if r, ok := locals3.Lookup(ctx, home); ok {
		return fmt.Errorf("the local endpoint of this S3FLOW_HOME already runs at %s (pid %d), and every s3flow command uses it", r.Endpoint, r.Pid)
	}
	exe, err := locals3.Find(ctx)
	if err != nil {
		return err
	}
	srv, err := locals3.StartOn(ctx, localOptions(exe, home, conn), addr, a.io.Err)
	if err != nil {
		return err
	}
	defer srv.Stop()
	// Other s3flow processes of this home find the endpoint through this
	// file and use it instead of starting their own; it goes when we do.
	unadvertise, err := locals3.Advertise(home, locals3.Running{Endpoint: srv.Endpoint, Pid: os.Getpid()})
	if err != nil {
		return err
	}
	defer unadvertise()
	fmt.Fprintf(a.io.Out, "endpoint:          %s\n", srv.Endpoint)
	fmt.Fprintf(a.io.Out, "region:            %s\n", conn.Region)
	fmt.Fprintf(a.io.Out, "access key id:     %s\n", conn.AccessKeyID)
	fmt.Fprintf(a.io.Out, "secret access key: %s\n", conn.SecretAccessKey.Reveal())
	fmt.Fprintf(a.io.Out, "data:              %s\n", locals3.Root(home))
	fmt.Fprintf(a.io.Out, "\nexample: AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=... aws --endpoint-url %s s3 ls\n", conn.AccessKeyID, srv.Endpoint)
	fmt.Fprintf(a.io.Out, "s3flow commands with --connection local use this endpoint while it runs.\n")
	// Main's context ends on SIGTERM and interrupts; the endpoint ends with
	// it (Stop), given time to finish the requests in flight.
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("local endpoint: %w", err)
		}
		return nil
	case <-ctx.Done():
		return nil
	}
}

// localOptions run the endpoint of home's local connection.
func localOptions(exe, home string, conn connection.Connection) locals3.Options {
	return locals3.Options{
		Executable: exe, Root: locals3.Root(home), Region: conn.Region,
		AccessKeyID: conn.AccessKeyID, Secret: conn.SecretAccessKey.Reveal(),
		EventsFile: locals3.EventsFile(home), LogFile: filepath.Join(home, "local-s3.log"),
	}
}

// seedLocal creates the demo bucket with sample files on first use, through
// the modules themselves, so the README's first command shows something.
func seedLocal(ctx context.Context, conn connection.Connection, home string, logger *slog.Logger) error {
	marker := filepath.Join(home, "local-s3.seeded")
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	env := module.Env{Connection: &conn, Logger: logger}
	discard := func(module.Bundle) error { return nil }
	in, err := s3mod.CreateBucket.Check(map[string]any{"name": "demo"})
	if err != nil {
		return err
	}
	if err := s3mod.CreateBucket.Run(ctx, env, in, discard); err != nil {
		return fmt.Errorf("create the demo bucket: %w", err)
	}
	samples := locals3.Samples()
	err = fs.WalkDir(samples, "demo", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(samples, p)
		if err != nil {
			return err
		}
		dir, name := path.Split(path.Clean(p))
		in, err := s3mod.UploadFile.Check(map[string]any{
			"bucket": "demo", "folder": path.Clean(dir)[len("demo"):],
			"file": &module.BytesFile{FileName: name, Data: data},
		})
		if err != nil {
			return err
		}
		return s3mod.UploadFile.Run(ctx, env, in, discard)
	})
	if err != nil {
		return fmt.Errorf("fill the demo bucket: %w", err)
	}
	if err := os.WriteFile(marker, []byte("the demo bucket was created; delete this file to create it again\n"), 0o600); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}
