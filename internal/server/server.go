// Package server is s3flow's long-running half: it loads a folder of flows,
// starts runs from webhooks, schedules, watched buckets and the API through
// a durable queue (River, on the SQLite database or on a PostgreSQL database
// that many servers and workers share), and serves the HTTP API and run
// history.
package server

import (
	"github.com/s3flow/s3flow/internal/store"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/flowfile"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/runs"
)

// DefaultMaxWebhookBody is the webhook body limit unless configured.
const DefaultMaxWebhookBody = 10 << 20

// Config is what a Server needs.
type Config struct {
	// DB is the database (connections, history, queue). On SQLite the
	// server limits it to one connection, as River's SQLite driver needs.
	DB          *store.DB
	Connections *connection.Store
	Registry    *module.Registry
	// Resolver gives ready connections (it starts the local endpoint).
	// The server sets each connection's AllowPrivate from
	// AllowPrivateEndpoints, whatever the resolver said.
	Resolver engine.Resolver
	// AllowPrivateEndpoints lets connections reach loopback and private
	// addresses (--allow-private-endpoints). Off, only the built-in local
	// and env connections may; link-local and metadata addresses are
	// refused either way.
	AllowPrivateEndpoints bool
	// AllowMachineCredentials lets POST /api/connections create
	// connections that use this machine's own credentials or files (a
	// profile, a web identity token file, a role assumed with the default
	// chain): --allow-machine-credentials. Off, only the CLI on this
	// machine creates them.
	AllowMachineCredentials bool
	// FlowsDir holds the flow files.
	FlowsDir string
	// WatchFlows reloads the flows when a file of FlowsDir changes (Reload
	// does it on demand: SIGHUP, POST /api/flows/reload).
	WatchFlows bool
	// FilesRoot is the one folder whose files flows may read and write
	// (file.* steps, Get a file's out); "" allows none, and a flow with
	// such a step is not loaded.
	FilesRoot string
	// RunLocks is where the runs of 's3flow run' on this machine hold their
	// locks (see runs.Store.LockDir): the API shows those whose process
	// is gone as interrupted. "" leaves them as they are recorded.
	RunLocks string
	// Workers is how many runs this process works at once; 0 or less
	// makes a process that only accepts runs, for workers elsewhere to do
	// (PostgreSQL only).
	Workers int
	// ID names this process in the queue and the run history (default:
	// host name and process id).
	ID string
	// RescueAfter is how long a run's worker may be silent before its run
	// is given to another worker (PostgreSQL; default one minute). Workers
	// beat every quarter of it.
	RescueAfter time.Duration
	// MaxWebhookBody bounds a webhook's body (default 10 MiB); a bigger one
	// gets 413 and starts nothing.
	MaxWebhookBody int64
	// ReadTimeout, WriteTimeout and IdleTimeout bound how long a client
	// may take to send a request, to take each write of the answer, and
	// to keep an idle connection open (defaults DefaultReadTimeout,
	// DefaultWriteTimeout, DefaultIdleTimeout; see newHTTPServer).
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxBundles and MaxAggregate bound each run's fan-out (see
	// engine.Options).
	MaxBundles, MaxAggregate int64
	// HistoryDetail is how many bundles of each step a run's history keeps
	// whole (runs.Store.Detail; a flow's history_detail wins).
	HistoryDetail int
	// LocalEventsHome is the S3FLOW_HOME whose local endpoint sends this
	// server its S3 events (see localevents.go); "" takes none.
	LocalEventsHome string
	Logger          *slog.Logger

	// holdAfterRuns leaves the actions after runs queued, unworked (tests
	// stop a server between a run's end and its action).
	holdAfterRuns bool
}

// Server is a running s3flow server.
type Server struct {
	cfg     Config
	log     *slog.Logger
	flows   *flowSet
	history *runs.Store
	metrics *metrics
	tokens  *Tokens
	// eventTokens are the URL tokens of s3_event triggers.
	eventTokens *EventTokens
	tickets     usedTickets
	// deliveries refuses replayed webhooks.
	deliveries *deliveries
	engine     *engine.Engine
	// files is what flows may touch of the local disk: the --files-root
	// folder, or nothing (nil).
	files *module.LocalFiles
	queue *queue
	// inserter queues the runs requests start, many per commit.
	inserter runInserter
	http     *http.Server
	id       string
	// running cancels the runs this process works, by run id.
	running sync.Map
	// worked holds the flow and job of each run this process works, by
	// run id (a workedRun), for finishRecorder.
	worked sync.Map
	// reloadMu makes reloads of the flows one at a time.
	reloadMu sync.Mutex
	// folder is the flows folder as the API writes it, versions the
	// history of what it wrote; saveMu makes saves one at a time.
	folder   flowfile.Folder
	versions *flowfile.Versions
	saveMu   sync.Mutex
	// localSecret authenticates the local endpoint's events ("" when
	// this server takes none).
	localSecret string
	// trigMu guards the context the triggers run under: trigParent is
	// the one that lets this process run them (nil: it does not now),
	// trigCancel stops those running (see triggersOn).
	trigMu     sync.Mutex
	trigParent context.Context
	trigCancel context.CancelFunc
	trigWait   func()
}

// New loads the flows and prepares the queue. Flow files with problems
// are logged and listed with them, and do not run; the others load.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DB.Dialect == store.SQLite {
		cfg.DB.SetMaxOpenConns(1)
		if cfg.Workers < 1 {
			return nil, errors.New("--workers: the embedded SQLite database needs this process to work its runs (at least 1); separate workers need --database postgres://")
		}
	}
	if cfg.ID == "" {
		host, _ := os.Hostname()
		cfg.ID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if cfg.RescueAfter <= 0 {
		cfg.RescueAfter = time.Minute
	}
	if cfg.MaxWebhookBody <= 0 {
		cfg.MaxWebhookBody = DefaultMaxWebhookBody
	}
	if cfg.Resolver != nil {
		cfg.Resolver = policyResolver{cfg.Resolver, cfg.AllowPrivateEndpoints}
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	s := &Server{cfg: cfg, log: cfg.Logger, history: runs.New(cfg.DB), tokens: NewTokens(cfg.DB), eventTokens: NewEventTokens(cfg.DB), id: cfg.ID,
		deliveries: &deliveries{db: cfg.DB}, folder: flowfile.Folder{Dir: cfg.FlowsDir}, versions: flowfile.NewVersions(cfg.DB)}
	if cfg.LocalEventsHome != "" {
		s.localSecret = newLocalSecret()
	}
	if cfg.FilesRoot != "" {
		files, err := module.LocalFilesIn(cfg.FilesRoot)
		if err != nil {
			return nil, fmt.Errorf("--files-root: %w", err)
		}
		s.files = files
	}
	s.history.Durable = true
	s.history.Detail = cfg.HistoryDetail
	s.history.LockDir = cfg.RunLocks
	s.metrics = newMetrics(s.history, cfg.Registry, cfg.Logger)
	// A flow that cannot work here is left out and listed with its
	// problems, like one that does not parse.
	files, err := s.readFlows()
	if err != nil {
		return nil, err
	}
	s.logProblems(ctx, files)
	s.flows = &flowSet{db: cfg.DB}
	s.flows.Replace(files)
	s.engine = engine.New(engine.Options{Registry: cfg.Registry, Resolver: cfg.Resolver, Recorder: s.metrics.recorder(finishRecorder{s.history, s}), Logger: cfg.Logger, Files: s.files,
		MaxBundles: cfg.MaxBundles, MaxAggregate: cfg.MaxAggregate})
	s.inserter.s = s
	if s.queue, err = newQueue(ctx, cfg.DB, s, cfg.Workers, cfg.Logger); err != nil {
		return nil, err
	}
	return s, nil
}

// checkReach refuses a flow whose steps touch what the server's flows may
// not: local files outside --files-root (all of them without it), and
// standard output, which a server's runs do not have.
func (s *Server) checkReach(f *flow.Flow) error {
	var allowed module.Reach
	why := "a server's flows may touch local files only inside the folder given with --files-root DIR"
	if s.files != nil {
		allowed = module.ReachLocalFiles
		why = fmt.Sprintf("a server's flows may touch local files only inside --files-root %s, and have no standard output", s.files.Dir())
	}
	return f.CheckReach(allowed, why)
}

// Serve starts the workers and answers HTTP on l until ctx ends, then
// shuts down gracefully: no new requests, running steps get grace to
// finish, and what is cut short resumes on the next start.
func (s *Server) Serve(ctx context.Context, l net.Listener, grace time.Duration) error {
	defer s.writeHistory(ctx)()
	if err := s.startQueue(ctx); err != nil {
		return err
	}
	s.startTriggers(ctx)
	if s.cfg.WatchFlows {
		go s.watchFlows(ctx)
	}
	s.http = s.newHTTPServer(s.Handler())
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(l) }()
	unregister := s.registerLocalEvents(l.Addr())
	defer unregister()
	s.log.Info("s3flow server listening", "addr", l.Addr().String(), "flows", len(s.flows.List()))
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	s.http.Shutdown(stopCtx)
	s.queue.stop(stopCtx)
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

// historyFlushEvery is how often the server's history writer looks for
// summaries to write; events wake it as they come.
const historyFlushEvery = 100 * time.Millisecond

// writeHistory starts the writer of the step events of the runs worked
// here, stopped by the func it returns (after the queue): the events that
// steps record at the same time are committed together, one transaction
// for all, and each step goes on once its own event is committed.
func (s *Server) writeHistory(ctx context.Context) (stop func()) {
	return s.history.FlushEvery(context.WithoutCancel(ctx), historyFlushEvery, func(err error) {
		s.log.Error("record step events", "error", err)
	})
}

// Enqueue accepts a run of flow: it is recorded as queued and put on the
// queue, and its id returned at once.
func (s *Server) Enqueue(ctx context.Context, flowName string, inputs, trigger map[string]any) (string, error) {
	return s.enqueue(ctx, flowName, inputs, trigger, "", false)
}

// enqueue queues a run that stops after step until ("": the whole flow);
// a run ifEnabled only if its flow is switched on (errFlowDisabled
// otherwise), read in the transaction that queues it.
func (s *Server) enqueue(ctx context.Context, flowName string, inputs, trigger map[string]any, until string, ifEnabled bool) (string, error) {
	f, ok := s.flows.Get(flowName)
	if !ok {
		return "", notFoundf("no flow named %q", flowName)
	}
	checked, err := engine.CheckInputs(f, inputs)
	if err != nil {
		return "", err
	}
	if _, err := f.Until(until); err != nil {
		return "", badRequestf("until: %v", err)
	}
	id := engine.NewRunID()
	err = s.inserter.queue(&queuedRun{
		info: engine.RunInfo{ID: id, Flow: f.Name, FlowFile: f.File, FlowHash: f.Hash,
			Inputs: checked, Trigger: trigger, Until: until, Started: time.Now().UTC()},
		args:      RunArgs{RunID: id, Flow: f.Name, Inputs: checked, Trigger: trigger, Until: until},
		ifEnabled: ifEnabled,
	})
	if err != nil {
		return "", err
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

// startTriggers starts the schedule and watch_files triggers, and again
// after each reload that changes the flows. On PostgreSQL only one server
// of those sharing the database runs them (the holder of an advisory lock;
// another takes over when it stops), so a tick or a new file starts one
// run, not one per server.
func (s *Server) startTriggers(ctx context.Context) {
	if s.cfg.DB.Dialect != store.Postgres {
		s.triggersOn(ctx)
		return
	}
	go s.leadTriggers(ctx)
}

// triggerLock is the advisory lock of the server that runs the triggers.
const triggerLock = 0x53336c6f7774 // "S3flowt"

func (s *Server) leadTriggers(ctx context.Context) {
	for ctx.Err() == nil {
		s.leadOnce(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	}
}

// leadOnce takes the trigger lock if it is free and runs the triggers for
// as long as the lock's connection lives.
func (s *Server) leadOnce(ctx context.Context) {
	conn, err := s.cfg.DB.DB.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, triggerLock).Scan(&got); err != nil || !got {
		return
	}
	// A session lock outlives the sql.Conn going back to the pool.
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, triggerLock)
	s.log.Info("this server runs the schedule and watch_files triggers", "server", s.id)
	s.triggersOn(ctx)
	defer s.triggersOff()
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Second):
		}
		if err := conn.PingContext(ctx); err != nil {
			s.log.Warn("lost the trigger lock's connection; triggers stop until it is taken again", "error", err)
			return
		}
	}
}
