package server

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/s3flow/s3flow/internal/engine"
)

// RunArgs is a queued flow run: a River job. The run id is made when the
// trigger accepts the run, so the caller can follow it at once.
type RunArgs struct {
	RunID   string         `json:"run_id"`
	Flow    string         `json:"flow"`
	Inputs  map[string]any `json:"inputs,omitempty"`
	Trigger map[string]any `json:"trigger,omitempty"`
}

// Kind names the job kind in River's tables.
func (RunArgs) Kind() string { return "s3flow_run" }

// runWorker runs queued flows. A run interrupted (the process killed, the
// server stopped) is attempted again by River and resumes where it was.
type runWorker struct {
	river.WorkerDefaults[RunArgs]
	s *Server
}

func (w *runWorker) Work(ctx context.Context, job *river.Job[RunArgs]) error {
	f, ok := w.s.flows.Get(job.Args.Flow)
	if !ok {
		// The flow file is gone: nothing to retry.
		return river.JobCancel(fmt.Errorf("flow %q is not loaded", job.Args.Flow))
	}
	res, err := w.s.engine.Start(ctx, f, job.Args.Inputs, job.Args.Trigger,
		engine.RunOptions{ID: job.Args.RunID, Resume: true})
	if ctx.Err() != nil {
		// Stopped mid-run (shutdown): River runs the job again on the next
		// start, and the run resumes from its last completed step.
		return fmt.Errorf("run %s interrupted: %w", job.Args.RunID, ctx.Err())
	}
	if res == nil {
		// The run could not start (its inputs no longer fit the flow).
		return river.JobCancel(err)
	}
	// The flow's own on_error has had its say; a failed run is a result,
	// not a job to retry.
	w.s.log.InfoContext(ctx, "run finished", "run", res.RunID, "flow", f.Name, "status", res.Status)
	return nil
}

// newQueue migrates River's tables in db and makes a client that works
// `workers` runs at a time.
func newQueue(ctx context.Context, db *sql.DB, s *Server, workers int, log *slog.Logger) (*river.Client[*sql.Tx], error) {
	driver := riversqlite.New(db)
	migrator, err := rivermigrate.New(driver, nil)
	if err != nil {
		return nil, err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("migrate the run queue: %w", err)
	}
	ws := river.NewWorkers()
	river.AddWorker(ws, &runWorker{s: s})
	return river.NewClient(driver, &river.Config{
		Logger:            log,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: workers}},
		Workers:           ws,
		FetchPollInterval: 200 * time.Millisecond,
		FetchCooldown:     20 * time.Millisecond,
		// Flows may run long; the run's own steps have timeouts.
		JobTimeout:  -1,
		MaxAttempts: 25,
	})
}

// requeueOrphans makes runs that were being worked when the process died
// available again. Only valid when this process is the only one using the
// database (the embedded SQLite mode, guarded by a lock file).
func requeueOrphans(ctx context.Context, db *sql.DB) (int64, error) {
	res, err := db.ExecContext(ctx, `UPDATE river_job SET state = 'available' WHERE state = 'running'`)
	if err != nil {
		return 0, fmt.Errorf("requeue interrupted runs: %w", err)
	}
	return res.RowsAffected()
}
