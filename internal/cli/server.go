package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/server"
)

type serverOptions struct {
	flows    string
	addr     string
	workers  int
	grace    time.Duration
	database string
}

func newServerCmd(a *app) *cobra.Command {
	o := &serverOptions{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run flows from webhooks and the API, with a durable run queue",
		Long: `Loads the flow files of --flows, answers webhooks (POST /hooks/FLOW) and
the HTTP API (with a token from 's3flow token create'), and runs flows
through a durable queue in $S3FLOW_HOME/s3flow.db: a run accepted is never
lost, and a run cut short (a crash, a kill) resumes on the next start from
its last completed step.`,
		Example: "  s3flow server --flows ./flows --addr 127.0.0.1:8080",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServer(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.flows, "flows", "flows", "folder of flow files (*.yaml)")
	f.StringVar(&o.addr, "addr", "127.0.0.1:8080", "host:port to listen on")
	f.IntVar(&o.workers, "workers", 4, "runs worked at once")
	f.DurationVar(&o.grace, "grace", 30*time.Second, "on shutdown, how long running steps may take to finish before they are cut short (they resume on the next start)")
	f.StringVar(&o.database, "database", "", "database URL (default: SQLite in $S3FLOW_HOME)")
	return cmd
}

func runServer(ctx context.Context, a *app, o *serverOptions) error {
	if o.database != "" && !strings.HasPrefix(o.database, "sqlite:") {
		return usagef("--database: only the embedded SQLite database is supported so far (PostgreSQL is planned)")
	}
	st, err := a.connections(ctx)
	if err != nil {
		return err
	}
	home, _ := a.home()
	unlock, err := lockHome(home)
	if err != nil {
		return err
	}
	defer unlock()
	srv, err := server.New(ctx, server.Config{
		DB: st.DB(), Connections: st, Registry: a.registry, Resolver: resolver{a},
		FlowsDir: o.flows, Workers: o.workers, Logger: a.serverLogger(),
	})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.addr, err)
	}
	fmt.Fprintf(a.io.Err, "s3flow server on http://%s (flows from %s)\n", l.Addr(), o.flows)
	return srv.Serve(ctx, l, o.grace)
}

// serverLogger logs at info level (debug with --debug) to stderr.
func (a *app) serverLogger() *slog.Logger {
	level := slog.LevelInfo
	if a.debug {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(a.io.Err, &slog.HandlerOptions{Level: level}))
}

// lockHome makes sure one server at a time uses the embedded database: the
// queue's recovery of interrupted runs relies on it.
func lockHome(home string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(home, "server.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another s3flow server uses %s already", home)
		}
		return nil, fmt.Errorf("lock %s: %w", home, err)
	}
	return func() { f.Close() }, nil
}

func newTokenCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "API tokens for the server (stored hashed)"}
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an API token; it is printed once",
		Args:  exactName,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.connections(cmd.Context())
			if err != nil {
				return err
			}
			token, err := server.NewTokens(st.DB()).Create(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(a.io.Out, token)
			fmt.Fprintf(a.io.Err, "token %q created; keep it now, it cannot be shown again\n", args[0])
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List API tokens (names and dates only)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.connections(cmd.Context())
			if err != nil {
				return err
			}
			ts, err := server.NewTokens(st.DB()).List(cmd.Context())
			if err != nil {
				return err
			}
			return printBundles(a, []module.Output{{Name: "name"}, {Name: "createdAt"}, {Name: "lastUsed"}}, func(emit func(module.Bundle) error) error {
				for _, t := range ts {
					if err := emit(module.Bundle{"name": t.Name, "createdAt": t.Created, "lastUsed": t.LastUsed}); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an API token",
		Args:  exactName,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.connections(cmd.Context())
			if err != nil {
				return err
			}
			return server.NewTokens(st.DB()).Delete(cmd.Context(), args[0])
		},
	}
	cmd.AddCommand(create, list, del)
	return cmd
}
