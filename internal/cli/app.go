package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/module/builtin"
	"github.com/s3flow/s3flow/internal/module/data"
	s3mod "github.com/s3flow/s3flow/internal/module/s3"
	"github.com/s3flow/s3flow/internal/store"
)

// app holds what commands share: streams, global flags, the connection
// store and the local endpoint, each opened on first use.
type app struct {
	io       *IOStreams
	registry *module.Registry

	debug    bool
	output   string
	database string

	store *connection.Store
	conns *connResolver
}

func newApp(io *IOStreams) *app {
	reg := &module.Registry{}
	reg.Register(s3mod.Modules()...)
	reg.Register(builtin.Modules()...)
	reg.Register(data.Modules()...)
	return &app{io: io, registry: reg}
}

func (a *app) close() {
	if a.conns != nil {
		a.conns.close()
	}
	if a.store != nil {
		a.store.Close()
	}
}

func (a *app) logger() *slog.Logger {
	level := slog.LevelWarn
	if a.debug {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(a.io.Err, &slog.HandlerOptions{Level: level}))
}

// outputFormat is --output, or a table on a terminal and JSON lines otherwise.
func (a *app) outputFormat() string {
	if a.output != "" {
		return a.output
	}
	if a.io.OutTTY {
		return formatTable
	}
	return formatJSONL
}

func (a *app) home() (string, error) { return connection.Home() }

// databaseURL is --database, else $S3FLOW_DATABASE, else "" (SQLite under
// the home folder). The URL may hold a password, so it is never a flag's
// default (it would show in --help): PGPASSWORD and ~/.pgpass work too.
func (a *app) databaseURL() (string, error) {
	db := a.database
	if db == "" {
		db = os.Getenv("S3FLOW_DATABASE")
	}
	if db != "" && !store.IsPostgres(db) {
		return "", usagef("--database: want a postgres:// or postgresql:// URL (the default is SQLite in $S3FLOW_HOME)")
	}
	return db, nil
}

func (a *app) connections(ctx context.Context) (*connection.Store, error) {
	if a.store != nil {
		return a.store, nil
	}
	home, err := a.home()
	if err != nil {
		return nil, err
	}
	database, err := a.databaseURL()
	if err != nil {
		return nil, err
	}
	st, err := connection.OpenStoreAt(ctx, home, database)
	if err != nil {
		return nil, fmt.Errorf("open the connection store in %s: %w", home, err)
	}
	a.store = st
	return st, nil
}

// resolver is the CLI's connection resolver, made on first use; a
// command that hands it to goroutines (an engine) gets it first.
func (a *app) resolver(ctx context.Context) (*connResolver, error) {
	if a.conns != nil {
		return a.conns, nil
	}
	st, err := a.connections(ctx)
	if err != nil {
		return nil, err
	}
	home, err := a.home()
	if err != nil {
		return nil, err
	}
	a.conns = newConnResolver(st, home, a.logger(), true)
	return a.conns, nil
}

// resolve returns the named connection ready to use; for "local" that
// means the embedded endpoint is running (and seeded on first use).
func (a *app) resolve(ctx context.Context, name string) (connection.Connection, error) {
	r, err := a.resolver(ctx)
	if err != nil {
		return connection.Connection{}, err
	}
	return r.Connection(ctx, name)
}
