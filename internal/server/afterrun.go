package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/runs"
	"github.com/s3flow/s3flow/internal/store"
	"github.com/s3flow/s3flow/internal/trigger"
)

// The action a run's trigger takes once the run has ended (watch_files'
// after:) is a River job of its own, queued in the transaction that
// records the run's final status: a process that stops between the two
// loses neither, and another process (or this one, started again) does
// the action. River tries it again after an error, with its backoff, up to
// afterRunAttempts times; the trigger's RunFinished is idempotent, and a
// job per run and status is queued at most once (a run resumed after a
// stop records its end again).

// afterRunTimeout bounds one attempt of the action (a server-side copy of
// a large file takes a while).
const afterRunTimeout = 30 * time.Minute

// afterRunAttempts is how many times the action is tried: River waits
// attempt⁴ seconds between tries, so ten span about four hours.
const afterRunAttempts = 10

// afterRunQueue is the River queue of the actions, apart from the runs',
// so that neither waits for the other's workers.
const afterRunQueue = "after_run"

// AfterRunArgs is the action the trigger that started a run takes once the
// run has ended: a River job.
type AfterRunArgs struct {
	RunID  string `json:"run_id" river:"unique"`
	Flow   string `json:"flow"`
	Status string `json:"status" river:"unique"`
	// Trigger is the run's trigger data, as its job had it.
	Trigger map[string]any `json:"trigger,omitempty"`
}

// Kind names the job kind in River's tables.
func (AfterRunArgs) Kind() string { return "after_run" }

// InsertOpts puts the action on its queue, bounds its attempts, and makes
// it unique per run and status.
func (AfterRunArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: afterRunQueue, MaxAttempts: afterRunAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// afterRunJob is the action to queue with a run's final status, or nil: a
// run whose trigger (the kind its trigger data names) is a
// trigger.RunFinisher that acts after a run that ended so. A cancelled run
// is passed over, and so is a run up to a step (not the flow's whole work).
func afterRunJob(f *flow.Flow, args RunArgs, status string) *AfterRunArgs {
	if args.Until != "" {
		return nil
	}
	var succeeded bool
	switch status {
	case engine.StatusSucceeded:
		succeeded = true
	case engine.StatusFailed, engine.StatusIncomplete:
	default:
		return nil
	}
	kind, _ := args.Trigger["type"].(string)
	t, ok := f.Trigger(kind)
	if !ok {
		return nil
	}
	fin, ok := t.Config.(trigger.RunFinisher)
	if !ok || !fin.ActsAfter(succeeded) {
		return nil
	}
	return &AfterRunArgs{RunID: args.RunID, Flow: f.Name, Status: status, Trigger: args.Trigger}
}

// workedRun is a run this process works: its flow and job, for the
// recorder to find when the run ends.
type workedRun struct {
	flow *flow.Flow
	args RunArgs
}

// finishRecorder is the history as the engine records into it: the start
// of a run this process works is its claim, and its end is recorded
// together with the action its trigger takes after it, in one transaction.
type finishRecorder struct {
	*runs.Store
	s *Server
}

// StartRun records the start of a run this process works as its claim
// by this worker (see runWorker.Work).
func (r finishRecorder) StartRun(ctx context.Context, run engine.RunInfo) error {
	if _, ok := r.s.worked.Load(run.ID); ok {
		return r.Store.StartRunOn(ctx, run, r.s.id)
	}
	return r.Store.StartRun(ctx, run)
}

func (r finishRecorder) FinishRun(ctx context.Context, end engine.RunEnd) error {
	v, ok := r.s.worked.Load(end.ID)
	if !ok {
		return r.Store.FinishRun(ctx, end)
	}
	w := v.(workedRun)
	job := afterRunJob(w.flow, w.args, end.Status)
	if job == nil {
		return r.Store.FinishRun(ctx, end)
	}
	return r.Store.FinishRunTx(ctx, end, func(ctx context.Context, tx *store.Tx) error {
		if _, err := r.s.queue.txInsert.InsertTx(ctx, tx.Tx, *job, nil); err != nil {
			return fmt.Errorf("queue the trigger's action after the run: %w", err)
		}
		return nil
	})
}

// afterRunWorker does the actions after runs, and records their outcome
// in the run's history: an after-run event for one done, an
// after-run-failed event for one that failed for good (a permanent error,
// or the last attempt).
type afterRunWorker struct {
	river.WorkerDefaults[AfterRunArgs]
	s *Server
}

// Timeout bounds one attempt; River's rescue of jobs is pushed out of the
// way for the runs' sake, so a job left running by a dead process is made
// available again by rescueStale (PostgreSQL) or requeueOrphans (SQLite).
func (w *afterRunWorker) Timeout(*river.Job[AfterRunArgs]) time.Duration { return afterRunTimeout }

func (w *afterRunWorker) Work(ctx context.Context, job *river.Job[AfterRunArgs]) error {
	s, a := w.s, job.Args
	kind, _ := a.Trigger["type"].(string)
	f, ok := s.flows.Get(a.Flow)
	if !ok {
		// The flow file is gone or has problems (perhaps for a moment, a
		// reload): try again later.
		return w.failed(ctx, job, kind, fmt.Errorf("after the run: flow %q is not loaded (its file was removed or has problems; see GET /api/flows)", a.Flow))
	}
	t, ok := f.Trigger(kind)
	var fin trigger.RunFinisher
	if ok {
		fin, ok = t.Config.(trigger.RunFinisher)
	}
	if !ok {
		s.log.InfoContext(ctx, "the trigger's action after the run skipped: the flow no longer has the trigger", "run", a.RunID, "flow", a.Flow, "trigger", kind)
		return nil
	}
	done, err := fin.RunFinished(ctx, triggerHost{s}, trigger.FinishedRun{ID: a.RunID, Flow: f.Name, Status: a.Status,
		Succeeded: a.Status == engine.StatusSucceeded, Trigger: a.Trigger})
	if err != nil {
		return w.failed(ctx, job, kind, err)
	}
	if done != "" {
		s.log.InfoContext(ctx, "the trigger's action after the run is done", "run", a.RunID, "flow", a.Flow, "trigger", kind, "done", done, "attempt", job.Attempt)
		if err := s.history.RecordAfterRun(ctx, a.RunID, kind, done); err != nil {
			// The action is done: doing it again would find nothing to do
			// and record nothing either.
			s.log.ErrorContext(ctx, "record the action after a run", "run", a.RunID, "error", err)
		}
	}
	return nil
}

// failed ends an attempt that failed: the error goes back to River to try
// again, unless it is permanent or this was the last attempt; then it is
// recorded in the run's history.
func (w *afterRunWorker) failed(ctx context.Context, job *river.Job[AfterRunArgs], kind string, err error) error {
	s, a := w.s, job.Args
	var perm *trigger.PermanentError
	permanent := errors.As(err, &perm)
	if !permanent && job.Attempt < job.MaxAttempts {
		s.log.WarnContext(ctx, "the trigger's action after the run failed; it is tried again", "run", a.RunID, "flow", a.Flow,
			"trigger", kind, "attempt", job.Attempt, "of", job.MaxAttempts, "error", err)
		return err
	}
	s.log.ErrorContext(ctx, "the trigger's action after the run failed", "run", a.RunID, "flow", a.Flow, "trigger", kind, "attempt", job.Attempt, "error", err)
	if err := s.history.RecordAfterRunFailed(context.WithoutCancel(ctx), a.RunID, kind, err); err != nil {
		s.log.ErrorContext(ctx, "record a failed action after a run", "run", a.RunID, "error", err)
	}
	if permanent {
		return river.JobCancel(err)
	}
	return err // the last attempt: River discards the job
}
