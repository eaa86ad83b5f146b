package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/s3flow/s3flow/internal/gctune"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/server"
	"github.com/s3flow/s3flow/internal/store"
)

type serverOptions struct {
	flows       string
	addr        string
	workers     int
	grace       time.Duration
	id          string
	rescueAfter time.Duration
	maxBody     int64
	filesRoot   string
	limits      runLimits
	// allowPrivate is --allow-private-endpoints.
	allowPrivate bool
	// allowMachineCredentials is --allow-machine-credentials.
	allowMachineCredentials bool
	// watchFlows is --watch-flows.
	watchFlows bool
}

func newServerCmd(a *app) *cobra.Command {
	o := &serverOptions{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run flows from webhooks and the API, with a durable run queue",
		Long: `Loads the flow files of --flows, answers webhooks (POST /hooks/FLOW) and
the HTTP API (with a token from 's3flow token create'), and runs flows
through a durable queue: a run accepted is never lost, and a run cut short
(a crash, a kill) resumes from its last completed step.

The queue, the run history and the connections are in $S3FLOW_HOME/s3flow.db
(SQLite; one server), or in PostgreSQL with --database postgres://...: then
many servers and 's3flow worker' processes share them, and the runs of a
worker that stops are resumed by another. Every process sharing a database
needs the same S3FLOW_ENCRYPTION_KEY (or encryption.key).`,
		Example: `  s3flow server --flows ./flows --addr 127.0.0.1:8080
  S3FLOW_DATABASE=postgres://s3flow@db/s3flow s3flow server --flows ./flows --workers 0
  S3FLOW_DATABASE=postgres://s3flow@db/s3flow s3flow worker --flows ./flows`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServer(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	o.flags(cmd, "runs this process works at once (0: only accept runs, for workers to do; PostgreSQL only)")
	f.StringVar(&o.addr, "addr", "127.0.0.1:8080", "host:port to listen on")
	f.StringVar(&o.filesRoot, "files-root", "", "the one folder whose files flows may read and write (file.* steps, Get a file's out); default none, and such flows are not loaded")
	f.Int64Var(&o.maxBody, "max-webhook-body", server.DefaultMaxWebhookBody, "largest webhook body in bytes; a bigger one gets 413 and starts nothing")
	return cmd
}

// flags adds the flags that servers and workers share.
func (o *serverOptions) flags(cmd *cobra.Command, workersHelp string) {
	f := cmd.Flags()
	f.StringVar(&o.flows, "flows", "flows", "folder of flow files (*.yaml); reloaded when a file changes, on SIGHUP and on POST /api/flows/reload")
	f.BoolVar(&o.watchFlows, "watch-flows", true, "reload the flows when a file in --flows changes (false: only on SIGHUP and POST /api/flows/reload, e.g. where the folder is on a network file system)")
	f.IntVar(&o.workers, "workers", 4, workersHelp)
	f.DurationVar(&o.grace, "grace", 30*time.Second, "on shutdown, how long running steps may take to finish before they are cut short (they resume on the next start)")
	f.StringVar(&o.id, "id", "", "this process's name in the queue and the run history (default: host name and process id)")
	f.DurationVar(&o.rescueAfter, "rescue-after", time.Minute, "with PostgreSQL: how long a worker may be silent before its runs are resumed by another")
	f.BoolVar(&o.allowMachineCredentials, "allow-machine-credentials", false, "let POST /api/connections create connections that use this machine's credentials or files (a profile, a web identity token file, a role assumed with the default chain); the CLI always may")
	f.BoolVar(&o.allowPrivate, "allow-private-endpoints", false, "let connections reach loopback and private addresses (127/8, 10/8, 172.16/12, 192.168/16, fc00::/7, ...); the built-in local and env connections always may, link-local and cloud metadata addresses never")
	o.limits.flags(cmd)
}

func newWorkerCmd(a *app) *cobra.Command {
	o := &serverOptions{}
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Work queued runs from a PostgreSQL database shared with servers",
		Long: `Works the runs that servers queue in a shared PostgreSQL database
(--database or $S3FLOW_DATABASE). Start as many as you like, on as many
machines; each run is worked by exactly one of them, and a worker that stops
has its runs resumed by another. Workers load the same flow files as the
servers and need the same S3FLOW_ENCRYPTION_KEY.`,
		Example: "  S3FLOW_DATABASE=postgres://s3flow@db/s3flow s3flow worker --flows ./flows --workers 8",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			database, err := a.databaseURL()
			if err != nil {
				return err
			}
			if database == "" {
				return usagef("--database: a worker shares a PostgreSQL database with servers; give its postgres:// URL (or set S3FLOW_DATABASE)")
			}
			if o.workers < 1 {
				return usagef("--workers: a worker works at least 1 run at a time, got %d", o.workers)
			}
			srv, release, err := newServer(cmd.Context(), a, o)
			if err != nil {
				return err
			}
			defer release()
			var l net.Listener
			if o.addr != "" {
				if l, err = net.Listen("tcp", o.addr); err != nil {
					return fmt.Errorf("listen on %s: %w", o.addr, err)
				}
				fmt.Fprintf(a.io.Err, "s3flow worker: /healthz, /readyz and /metrics on http://%s\n", l.Addr())
			}
			fmt.Fprintf(a.io.Err, "s3flow worker (flows from %s)\n", o.flows)
			stop := reloadOnHangup(cmd.Context(), srv)
			defer stop()
			return srv.Work(cmd.Context(), l, o.grace)
		},
	}
	o.flags(cmd, "runs worked at once")
	cmd.Flags().StringVar(&o.addr, "addr", "", "host:port for /healthz, /readyz and /metrics (default: none)")
	return cmd
}

// newServer opens the database and makes a server; release undoes what
// it holds. The server builds its own connection resolver (and so its own
// local endpoint) rather than borrowing the CLI's: its workers and handlers
// resolve connections at once, and what they share must be guarded.
func newServer(ctx context.Context, a *app, o *serverOptions) (*server.Server, func(), error) {
	st, err := a.connections(ctx)
	if err != nil {
		return nil, nil, err
	}
	home, err := a.home()
	if err != nil {
		return nil, nil, err
	}
	unlock := func() {}
	if st.DB().Dialect == store.SQLite {
		if unlock, err = lockHome(home); err != nil {
			return nil, nil, err
		}
	}
	logger := a.serverLogger()
	conns := newConnResolver(st, home, logger, o.allowPrivate)
	conns.advertise = true
	// Servers and workers run flows: see gctune.
	tuner := gctune.Start(os.Getenv)
	release := func() {
		tuner.Stop()
		conns.close()
		unlock()
	}
	srv, err := server.New(ctx, server.Config{
		DB: st.DB(), Connections: st, Registry: a.registry, Resolver: conns,
		FlowsDir: o.flows, WatchFlows: o.watchFlows, FilesRoot: o.filesRoot, RunLocks: runLockDir(home), Workers: o.workers, ID: o.id, RescueAfter: o.rescueAfter, MaxWebhookBody: o.maxBody,
		MaxBundles: o.limits.bundles, MaxAggregate: o.limits.aggregate, HistoryDetail: o.limits.historyDetail(),
		AllowPrivateEndpoints:   o.allowPrivate,
		AllowMachineCredentials: o.allowMachineCredentials,
		LocalEventsHome:         home,
		Logger:                  logger,
	})
	if err != nil {
		release()
		return nil, nil, err
	}
	return srv, release, nil
}

func runServer(ctx context.Context, a *app, o *serverOptions) error {
	srv, release, err := newServer(ctx, a, o)
	if err != nil {
		return err
	}
	defer release()
	l, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.addr, err)
	}
	fmt.Fprintf(a.io.Err, "s3flow server on http://%s (flows from %s)\n", l.Addr(), o.flows)
	stop := reloadOnHangup(ctx, srv)
	defer stop()
	return srv.Serve(ctx, l, o.grace)
}

// reloadOnHangup reloads the server's flows on each SIGHUP (the usual
// "read your configuration again" signal; without this it would end the
// process) until ctx ends or stop is called.
func reloadOnHangup(ctx context.Context, srv *server.Server) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				srv.Reload(ctx) // it logs what it found
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		cancel()
		<-done
	}
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
	o := &tokenCreateOptions{}
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an API token; it is printed once",
		Long: `Creates an API token for the server's HTTP API and the Studio and prints
it once; only its hash is stored.

--scope says what the token may do; each scope includes the one before:
  read   see flows, runs, connections and modules, validate flows
  run    also start, cancel and retry runs, run modules, upload and
         download files
  admin  also create and delete connections, enable and disable flows,
         reload the flows folder

--expires says when it stops working: a duration (90m, 12h, 30d) from
now, or "never".`,
		Example: `  s3flow token create ci --scope run --expires 30d
  s3flow token create dashboard --scope read
  s3flow token create ops --scope admin --expires never`,
		Args: exactName,
		RunE: func(cmd *cobra.Command, args []string) error {
			scope, err := server.ParseScope(o.scope)
			if err != nil {
				return usagef("--scope: %v", err)
			}
			ttl, err := parseExpiry(o.expires)
			if err != nil {
				return usagef("--expires: %v", err)
			}
			st, err := a.connections(cmd.Context())
			if err != nil {
				return err
			}
			var expires time.Time
			if ttl > 0 {
				expires = time.Now().Add(ttl)
			}
			token, err := server.NewTokens(st.DB()).Create(cmd.Context(), args[0], scope, expires)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.io.Out, token)
			until := "never expires"
			if !expires.IsZero() {
				until = "expires " + expires.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(a.io.Err, "token %q created (scope %s, %s); keep it now, it cannot be shown again\n", args[0], scope, until)
			return nil
		},
	}
	create.Flags().StringVar(&o.scope, "scope", string(server.ScopeRun), "what the token may do: read, run or admin")
	create.Flags().StringVar(&o.expires, "expires", defaultTokenExpiry, `how long the token works: a duration such as 12h or 30d, or "never"`)
	list := &cobra.Command{
		Use:   "list",
		Short: "List API tokens (names, scopes and dates only)",
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
			outputs := []module.Output{{Name: "name"}, {Name: "scope"}, {Name: "createdAt"}, {Name: "expiresAt"}, {Name: "expired"}, {Name: "lastUsed"}}
			return printBundles(a, outputs, func(emit func(module.Bundle) error) error {
				for _, t := range ts {
					expires := t.Expires
					if expires == "" {
						expires = "never"
					}
					if err := emit(module.Bundle{"name": t.Name, "scope": string(t.Scope), "createdAt": t.Created,
						"expiresAt": expires, "expired": t.Expired, "lastUsed": t.LastUsed}); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an API token (its download links stop working too)",
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
