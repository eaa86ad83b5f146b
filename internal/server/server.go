// Package server is s3flow's long-running half: it loads a folder of flows,
// starts runs from webhooks and the API through a durable queue (River on
// the SQLite database), and serves the HTTP API and run history.
package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/runs"
)

// Config is what a Server needs.
type Config struct {
	// DB is the SQLite database (connections, history, queue). The server
	// limits it to one connection, as River's SQLite driver needs.
	DB          *sql.DB
	Connections *connection.Store
	Registry    *module.Registry
	// Resolver gives ready connections (it starts the local endpoint).
	Resolver engine.Resolver
	// FlowsDir holds the flow files.
	FlowsDir string
	// Workers is how many runs go at once.
	Workers int
	Logger  *slog.Logger
}

// Server is a running s3flow server.
type Server struct {
	cfg     Config
	log     *slog.Logger
	flows   *flowSet
	history *runs.Store
	tokens  *Tokens
	engine  *engine.Engine
	queue   *river.Client[*sql.Tx]
	http    *http.Server
}

// New loads the flows and prepares the queue. Flow files with problems
// are logged and left out; the others load.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Workers < 1 {
		cfg.Workers = 4
	}
	cfg.DB.SetMaxOpenConns(1)
	s := &Server{cfg: cfg, log: cfg.Logger, history: runs.New(cfg.DB), tokens: NewTokens(cfg.DB)}
	s.history.Durable = true
	flows, problems := loadFlows(cfg.FlowsDir, cfg.Registry)
	for _, p := range problems {
		s.log.Error("flow not loaded", "problem", p)
	}
	if flows == nil {
		return nil, errors.Join(problems...)
	}
	// A flow whose trigger cannot work is left out, like one that does not
	// parse: the server says so at start, not at the first tick.
	for name, f := range flows {
		_, errS := parseSchedule(f)
		_, errW := parseWatch(f)
		if err := errors.Join(errS, errW); err != nil {
			s.log.Error("flow not loaded", "problem", err)
			delete(flows, name)
		}
	}
	s.flows = &flowSet{db: cfg.DB, flows: flows}
	s.engine = engine.New(engine.Options{Registry: cfg.Registry, Resolver: cfg.Resolver, Recorder: s.history, Logger: cfg.Logger})
	n, err := requeueOrphans(ctx, cfg.DB)
	if err != nil && !isNoTable(err) {
		return nil, err
	}
	if n > 0 {
		s.log.Info("resuming runs interrupted by the last stop", "runs", n)
	}
	if s.queue, err = newQueue(ctx, cfg.DB, s, cfg.Workers, cfg.Logger); err != nil {
		return nil, err
	}
	return s, nil
}

// isNoTable: on the very first start River's tables do not exist yet.
func isNoTable(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such table")
}

// Serve starts the workers and answers HTTP on l until ctx ends, then
// shuts down gracefully: no new requests, running steps get grace to
// finish, and what is cut short resumes on the next start.
func (s *Server) Serve(ctx context.Context, l net.Listener, grace time.Duration) error {
	if err := s.queue.Start(ctx); err != nil {
		return fmt.Errorf("start the run queue: %w", err)
	}
	s.startTriggers(ctx)
	s.http = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(l) }()
	s.log.Info("s3flow server listening", "addr", l.Addr().String(), "flows", len(s.flows.List()))
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	s.http.Shutdown(stopCtx)
	if err := s.queue.Stop(stopCtx); err != nil {
		// Grace is over: cancel the runs; they resume on the next start.
		s.queue.StopAndCancel(context.WithoutCancel(ctx))
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

// Enqueue accepts a run of flow: it is recorded as queued and put on the
// queue, and its id returned at once.
func (s *Server) Enqueue(ctx context.Context, flowName string, inputs, trigger map[string]any) (string, error) {
	f, ok := s.flows.Get(flowName)
	if !ok {
		return "", notFoundf("no flow named %q", flowName)
	}
	checked, err := engine.CheckInputs(f, inputs)
	if err != nil {
		return "", err
	}
	id := engine.NewRunID()
	if err := s.history.Queue(ctx, engine.RunInfo{ID: id, Flow: f.Name, FlowFile: f.File, FlowHash: f.Hash,
		Inputs: checked, Trigger: trigger, Started: time.Now().UTC()}); err != nil {
		return "", fmt.Errorf("record the queued run: %w", err)
	}
	if _, err := s.queue.Insert(ctx, RunArgs{RunID: id, Flow: f.Name, Inputs: checked, Trigger: trigger}, nil); err != nil {
		return "", fmt.Errorf("queue the run: %w", err)
	}
	return id, nil
}

// waitRun waits until a run ends (or ctx does) and returns it.
func (s *Server) waitRun(ctx context.Context, id string) (runs.Run, error) {
	for delay := 20 * time.Millisecond; ; delay = min(delay*2, 500*time.Millisecond) {
		r, err := s.history.Get(ctx, id)
		if err != nil {
			return r, err
		}
		if r.Finished != nil && r.Status != runs.StatusQueued && r.Status != engine.StatusRunning {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(delay):
		}
	}
}

// startTriggers starts a goroutine per schedule and watch_files trigger;
// they end with ctx.
func (s *Server) startTriggers(ctx context.Context) {
	list, _ := s.cfg.Registry.Lookup("s3.list_files")
	for _, f := range s.flows.List() {
		if sc, _ := parseSchedule(f); sc != nil {
			s.log.Info("schedule", "flow", f.Name, "spec", sc.spec)
			go s.runSchedule(ctx, f, sc)
		}
		if w, _ := parseWatch(f); w != nil && list != nil {
			s.log.Info("watching", "flow", f.Name, "bucket", w.bucket, "prefix", w.prefix, "every", w.every)
			go s.runWatch(ctx, f, w, list)
		}
	}
}
