package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/store"
)

// RunArgs is a queued flow run: a River job. The run id is made when the
// trigger accepts the run, so the caller can follow it at once.
type RunArgs struct {
	RunID   string         `json:"run_id"`
	Flow    string         `json:"flow"`
	Inputs  map[string]any `json:"inputs,omitempty"`
	Trigger map[string]any `json:"trigger,omitempty"`
	// Until is the step the run stops after ("run up to here").
	Until string `json:"until,omitempty"`
	// Retry marks the job of a retried run, whose history holds the work
	// it did before (see resumes).
	Retry bool `json:"retry,omitempty"`
}

// Kind names the job kind in River's tables.
func (RunArgs) Kind() string { return "s3flow_run" }

// runQueue is the part of River's client the server uses. The client's
// type depends on its driver (pgx.Tx on PostgreSQL, *sql.Tx on SQLite);
// this interface is the same for both, so the rest is one code path.
type runQueue interface {
	Start(context.Context) error
	Stop(context.Context) error
	StopAndCancel(context.Context) error
	Insert(context.Context, river.JobArgs, *river.InsertOpts) (*rivertype.JobInsertResult, error)
	JobCancel(context.Context, int64) (*rivertype.JobRow, error)
	JobGet(context.Context, int64) (*rivertype.JobRow, error)
	JobRetry(context.Context, int64) (*rivertype.JobRow, error)
	JobList(context.Context, *river.JobListParams) (*river.JobListResult, error)
}

// queue is the run queue: work is the client that works runs (and
// inserts them); txInsert inserts a run in a transaction of ours, on the
// same database (the same client on SQLite; River's database/sql driver
// on PostgreSQL, whose pgx client takes only pgx transactions).
type queue struct {
	work     runQueue
	txInsert *river.Client[*sql.Tx]
	// working is false for a process that only accepts runs (a server
	// with --workers 0 in front of separate workers).
	working bool
}

// How soon a queued run is seen on PostgreSQL: an insert's commit tells
// the workers (LISTEN/NOTIFY) at most once every insertNotifyEvery, and a
// worker told looks for runs at most once every fetchCooldown. A run
// waits for both; the fetch poll (FetchPollInterval) only backs them up.
// Measured at 500 webhooks a second (docs/server.md, "Load"): with
// River's default notice (100 ms) and a 20 ms cooldown a run started
// 24-29 ms after its webhook at the median and 69-106 ms at p99; with
// these, 7-12 and 22-62 ms, for 10-20% more CPU in workers and database.
const (
	insertNotifyEvery = 5 * time.Millisecond
	fetchCooldown     = 10 * time.Millisecond
)

// runWorker runs queued flows. A run interrupted (the process killed, the
// server stopped) is attempted again by River and resumes where it was.
type runWorker struct {
	river.WorkerDefaults[RunArgs]
	s *Server
}

// resumes says whether a run's job may find work of the run done before,
// to be read back and not done again: a job fetched before (River lists
// each fetch in AttemptedBy, across interruptions, snoozes and requeues)
// or one that retries a run. The first fetch of a new run's job has
// nothing to read, which spares most runs a query.
func resumes(job *river.Job[RunArgs]) bool {
	return job.Args.Retry || len(job.AttemptedBy) != 1
}

// notStarted records a queued run that cannot start as failed, with why,
// and ends its job.
func (w *runWorker) notStarted(ctx context.Context, runID string, why error) error {
	if err := w.s.history.FinishRun(ctx, engine.RunEnd{ID: runID, Status: engine.StatusFailed, Error: why.Error(), Finished: time.Now()}); err != nil {
		w.s.log.ErrorContext(ctx, "record a run that could not start", "run", runID, "error", err)
	}
	return river.JobCancel(why)
}

func (w *runWorker) Work(ctx context.Context, job *river.Job[RunArgs]) error {
	f, ok := w.s.flows.Get(job.Args.Flow)
	if !ok {
		// The flow file is gone or now has problems (a reload): nothing to
		// retry, and the run says why instead of staying queued.
		return w.notStarted(ctx, job.Args.RunID, fmt.Errorf("flow %q is not loaded (its file was removed or has problems; see GET /api/flows)", job.Args.Flow))
	}
	// A run of a flow that limits its runs is claimed first, its flow's
	// runs counted under a lock; any other is claimed by the record of
	// its start (finishRecorder.StartRun).
	if f.MaxConcurrentRuns > 0 && !w.s.claim(ctx, f, job.Args.RunID) {
		// The flow has as many runs going as it allows: try again soon.
		return river.JobSnooze(time.Second)
	}
	// The recorder finds the run's flow and job here when the run ends,
	// to queue its trigger's action with its final status.
	w.s.worked.Store(job.Args.RunID, workedRun{flow: f, args: job.Args})
	defer w.s.worked.Delete(job.Args.RunID)
	stop := w.s.heartbeat(ctx, job.Args.RunID)
	defer stop()
	ctx, cancel := context.WithCancelCause(ctx)
	w.s.running.Store(job.Args.RunID, cancel)
	defer w.s.running.Delete(job.Args.RunID)
	defer cancel(nil)
	res, err := w.s.engine.Start(ctx, f, job.Args.Inputs, job.Args.Trigger,
		engine.RunOptions{ID: job.Args.RunID, Resume: resumes(job), Suspend: true, Until: job.Args.Until})
	if errors.Is(context.Cause(ctx), errRunCancelled) {
		return river.JobCancel(errRunCancelled)
	}
	if ctx.Err() != nil {
		// Stopped mid-run (shutdown, or the run cancelled): River runs the
		// job again on the next start unless it was cancelled, and the run
		// resumes from its last completed step.
		return fmt.Errorf("run %s interrupted: %w", job.Args.RunID, context.Cause(ctx))
	}
	if res == nil {
		// The run could not start (its inputs no longer fit the flow).
		return w.notStarted(ctx, job.Args.RunID, err)
	}
	if waiting := (*module.Waiting)(nil); res.Status == engine.StatusWaiting && errors.As(err, &waiting) {
		// A step waits (for files): the job sleeps on the queue, holding
		// no worker, and the run resumes at that step when it wakes. A
		// snooze does not count as an attempt.
		w.s.log.InfoContext(ctx, "run waiting", "run", res.RunID, "flow", f.Name, "found", waiting.Found, "nextCheck", waiting.After)
		return river.JobSnooze(waiting.After)
	}
	// The flow's own on_error has had its say; a failed run is a result,
	// not a job to retry. Its trigger's action after it, if any, was
	// queued with its final status (finishRecorder).
	w.s.log.InfoContext(ctx, "run finished", "run", res.RunID, "flow", f.Name, "status", res.Status, "worker", w.s.id)
	return nil
}

// newQueue migrates River's tables in db and makes the clients; with
// workers > 0 the process works that many runs at a time.
func newQueue(ctx context.Context, db *store.DB, s *Server, workers int, log *slog.Logger) (*queue, error) {
	ws := river.NewWorkers()
	river.AddWorker(ws, &runWorker{s: s})
	river.AddWorker(ws, &afterRunWorker{s: s})
	cfg := &river.Config{
		ID:                s.id,
		Logger:            log,
		Workers:           ws,
		FetchPollInterval: 200 * time.Millisecond,
		FetchCooldown:     fetchCooldown,
		// Flows may run long; the run's own steps have timeouts. River's
		// own rescue of long-running jobs would start a second copy of a
		// run that is merely slow, so it is pushed out of the way: runs
		// of a dead process are found by their heartbeat (rescueStale), or
		// on SQLite at the start of the only process (requeueOrphans).
		JobTimeout:           -1,
		RescueStuckJobsAfter: 100 * 365 * 24 * time.Hour,
		MaxAttempts:          25,
	}
	if workers > 0 {
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: workers}}
		if !s.cfg.holdAfterRuns {
			cfg.Queues[afterRunQueue] = river.QueueConfig{MaxWorkers: workers}
		}
	}
	q := &queue{working: workers > 0}
	var migrator interface {
		Migrate(context.Context, rivermigrate.Direction, *rivermigrate.MigrateOpts) (*rivermigrate.MigrateResult, error)
	}
	var err error
	switch db.Dialect {
	case store.Postgres:
		driver := riverpgxv5.New(db.Pool)
		if migrator, err = rivermigrate.New(driver, nil); err != nil {
			return nil, err
		}
		if q.work, err = river.NewClient(driver, cfg); err != nil {
			return nil, err
		}
		// Insert-only: no queues, so it never works a job. Its
		// FetchCooldown is how often it may tell the workers that runs
		// were queued (insertNotifyEvery).
		if q.txInsert, err = river.NewClient(riverdatabasesql.New(db.DB), &river.Config{Logger: log, FetchCooldown: insertNotifyEvery}); err != nil {
			return nil, err
		}
	default:
		driver := riversqlite.New(db.DB)
		if migrator, err = rivermigrate.New(driver, nil); err != nil {
			return nil, err
		}
		client, err := river.NewClient(driver, cfg)
		if err != nil {
			return nil, err
		}
		q.work, q.txInsert = client, client
	}
	err = db.Locked(ctx, func(ctx context.Context) error {
		_, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("migrate the run queue: %w", err)
	}
	return q, nil
}

func (q *queue) start(ctx context.Context) error {
	if !q.working {
		return nil
	}
	return q.work.Start(ctx)
}

func (q *queue) stop(ctx context.Context) {
	if !q.working {
		return
	}
	if err := q.work.Stop(ctx); err != nil {
		// Grace is over: cancel the runs; they resume on the next start.
		q.work.StopAndCancel(context.WithoutCancel(ctx))
	}
}

// requeueOrphans makes the runs (and actions after runs) that the last
// process was working when it stopped available again, to resume. Only
// valid when this process is the only one using the database (the
// embedded SQLite mode, guarded by a lock file); on PostgreSQL
// rescueStale finds them by their heartbeat (or age) instead.
func (q *queue) requeueOrphans(ctx context.Context, db *store.DB) (int64, error) {
	jobs, err := q.runningJobs(ctx, []string{RunArgs{}.Kind(), AfterRunArgs{}.Kind()}, func(*rivertype.JobRow) bool { return true })
	if err != nil {
		return 0, fmt.Errorf("requeue interrupted runs: %w", err)
	}
	n, err := requeueRunning(ctx, db, jobs)
	if err != nil {
		return n, fmt.Errorf("requeue interrupted runs: %w", err)
	}
	return n, nil
}

// runningJobs lists the jobs of those kinds River has as running, through
// River's own API, keeping those keep accepts.
func (q *queue) runningJobs(ctx context.Context, kinds []string, keep func(*rivertype.JobRow) bool) ([]*rivertype.JobRow, error) {
	params := river.NewJobListParams().States(rivertype.JobStateRunning).Kinds(kinds...).First(1000)
	var out []*rivertype.JobRow
	for {
		res, err := q.work.JobList(ctx, params)
		if err != nil {
			return nil, fmt.Errorf("list running jobs: %w", err)
		}
		for _, job := range res.Jobs {
			if keep(job) {
				out = append(out, job)
			}
		}
		if len(res.Jobs) < 1000 {
			return out, nil
		}
		params = params.After(res.LastCursor)
	}
}

// requeueRunning makes running jobs available again, to be worked anew:
// the jobs of a process that stopped mid-run. It is the one place s3flow
// writes River's table itself, because River has no call for it: JobRetry
// and JobDelete leave running jobs alone, JobCancel would end the run, and
// River's rescuer (RescueStuckJobsAfter) goes by how long a job has been
// running, so it would start a second copy of a run that is merely long; a
// rescue by heartbeat is riverqueue/river#1256, not in a release. A job
// changes only while it is still running at the attempt listed: one that
// another process has made available and fetched since is left alone.
func requeueRunning(ctx context.Context, db *store.DB, jobs []*rivertype.JobRow) (int64, error) {
	if len(jobs) == 0 {
		return 0, nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var n int64
	for _, job := range jobs {
		res, err := tx.ExecContext(ctx, `UPDATE river_job SET state = 'available' WHERE id = ? AND state = 'running' AND attempt = ?`,
			job.ID, job.Attempt)
		if err != nil {
			return 0, fmt.Errorf("make job %d available: %w", job.ID, err)
		}
		changed, err := res.RowsAffected()
		if err != nil {
			return 0, err
		}
		n += changed
	}
	return n, tx.Commit()
}
