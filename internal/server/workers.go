package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/runs"
	"github.com/s3flow/s3flow/internal/store"
)

// Work runs queued flows until ctx ends, without the API or triggers: the
// `s3flow worker` process, beside servers on the same PostgreSQL database.
// With a listener it answers /healthz, /readyz and /metrics on it.
func (s *Server) Work(ctx context.Context, l net.Listener, grace time.Duration) error {
	defer s.writeHistory(ctx)()
	if err := s.startQueue(ctx); err != nil {
		return err
	}
	if s.cfg.WatchFlows {
		go s.watchFlows(ctx)
	}
	var hs *http.Server
	if l != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /healthz", s.serve(func(w http.ResponseWriter, r *http.Request) error {
			return writeJSON(w, 200, map[string]string{"status": "ok"})
		}))
		mux.Handle("GET /readyz", s.serve(s.ready))
		mux.Handle("GET /metrics", s.metrics.handler())
		hs = s.newHTTPServer(mux)
		go hs.Serve(l)
	}
	s.log.Info("s3flow worker working", "worker", s.id, "flows", len(s.flows.List()))
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if hs != nil {
		hs.Shutdown(stopCtx)
	}
	s.queue.stop(stopCtx)
	return nil
}

// startQueue starts working runs: on SQLite first those the last process
// was working when it stopped; on PostgreSQL it keeps looking for runs
// whose worker died.
func (s *Server) startQueue(ctx context.Context) error {
	if s.cfg.DB.Dialect == store.SQLite {
		n, err := s.queue.requeueOrphans(ctx, s.cfg.DB)
		if err != nil {
			return err
		}
		if n > 0 {
			s.log.Info("resuming runs interrupted by the last stop", "runs", n)
		}
	}
	if err := s.queue.start(ctx); err != nil {
		return fmt.Errorf("start the run queue: %w", err)
	}
	if s.cfg.DB.Dialect == store.Postgres {
		go s.rescueLoop(ctx)
	}
	return nil
}

// insert puts a recorded run on the queue and remembers its job.
func (s *Server) insert(ctx context.Context, args RunArgs) error {
	res, err := s.queue.work.Insert(ctx, args, nil)
	if err != nil {
		return fmt.Errorf("queue run %s: %w", args.RunID, err)
	}
	if err := s.history.SetJob(ctx, args.RunID, res.Job.ID); err != nil {
		return fmt.Errorf("record the job of run %s: %w", args.RunID, err)
	}
	return nil
}

// claim takes a run for this worker if its flow's max_concurrent_runs
// allows another one now.
func (s *Server) claim(ctx context.Context, f *flow.Flow, runID string) bool {
	ok, err := s.history.Claim(ctx, runID, f.Name, s.id, f.MaxConcurrentRuns)
	if err != nil {
		s.log.ErrorContext(ctx, "claim run", "run", runID, "error", err)
		return false
	}
	return ok
}

// heartbeat says every quarter of RescueAfter that this worker is still
// on the run; stop ends it.
func (s *Server) heartbeat(ctx context.Context, runID string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	go every(ctx, s.cfg.RescueAfter/4, func() {
		if err := s.history.Heartbeat(ctx, runID); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "heartbeat", "run", runID, "error", err)
		}
	})
	return cancel
}

// rescueLoop hands the runs of dead workers to live ones: a run whose
// worker has not beaten for RescueAfter (and that was not just picked up)
// is made available again, and resumes from its last completed step.
func (s *Server) rescueLoop(ctx context.Context) {
	every(ctx, s.cfg.RescueAfter/4, func() {
		n, err := s.rescueStale(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "look for runs of stopped workers", "error", err)
		}
		if n > 0 {
			s.log.InfoContext(ctx, "resuming runs whose worker stopped", "runs", n)
		}
	})
}

// every calls fn every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// rescueStale makes the jobs of runs whose worker stopped beating, and of
// actions after runs left running, available again. A run's job attempted
// less than RescueAfter ago is left alone: its worker has just picked it
// up.
func (s *Server) rescueStale(ctx context.Context) (int64, error) {
	cutoff := time.Now().Add(-s.cfg.RescueAfter)
	ids, err := s.history.Stale(ctx, cutoff)
	if err != nil {
		return 0, err
	}
	var jobs []*rivertype.JobRow
	if len(ids) > 0 {
		stale := make(map[string]bool, len(ids))
		for _, id := range ids {
			stale[id] = true
		}
		jobs, err = s.queue.runningJobs(ctx, []string{RunArgs{}.Kind()}, func(job *rivertype.JobRow) bool {
			var args RunArgs
			if json.Unmarshal(job.EncodedArgs, &args) != nil {
				return false
			}
			return stale[args.RunID] && job.AttemptedAt != nil && job.AttemptedAt.Before(cutoff)
		})
		if err != nil {
			return 0, err
		}
	}
	// An action after a run has no heartbeat: its attempt is cut short
	// after afterRunTimeout, so one still running well after that was
	// left by a process that stopped.
	afterCutoff := cutoff.Add(-afterRunTimeout)
	after, err := s.queue.runningJobs(ctx, []string{AfterRunArgs{}.Kind()}, func(job *rivertype.JobRow) bool {
		return job.AttemptedAt != nil && job.AttemptedAt.Before(afterCutoff)
	})
	if err != nil {
		return 0, err
	}
	return requeueRunning(ctx, s.cfg.DB, append(jobs, after...))
}

// cancelRun stops a run: a queued one never starts, a running one is cut
// short at once on this process or, on another worker, through the
// queue's cancel signal. Its completed steps stay recorded.
func (s *Server) cancelRun(ctx context.Context, id string) (runs.Run, error) {
	r, err := s.history.Get(ctx, id)
	if err != nil {
		return r, err
	}
	if r.Finished != nil {
		return r, &httpError{http.StatusConflict, fmt.Errorf("run %s has finished (%s): nothing to cancel", id, r.Status)}
	}
	job, err := s.history.Job(ctx, id)
	if err != nil {
		return r, err
	}
	if job != 0 {
		if _, err := s.queue.work.JobCancel(ctx, job); err != nil && !errors.Is(err, river.ErrNotFound) {
			return r, fmt.Errorf("cancel run %s: %w", id, err)
		}
	}
	if cancel, ok := s.running.Load(id); ok {
		cancel.(context.CancelCauseFunc)(errRunCancelled)
	}
	switch r.Status {
	case runs.StatusQueued:
		if err := s.history.FinishRun(ctx, engine.RunEnd{ID: id, Status: engine.StatusCancelled, Error: "cancelled before it started", Finished: time.Now().UTC()}); err != nil {
			return r, err
		}
	case engine.StatusWaiting:
		// Suspended on the queue (its job cancelled above): no worker
		// records its end.
		if err := s.history.FinishRun(ctx, engine.RunEnd{ID: id, Status: engine.StatusCancelled, Error: "cancelled while waiting", Finished: time.Now().UTC()}); err != nil {
			return r, err
		}
	}
	return s.waitRunBriefly(ctx, id)
}

var errRunCancelled = errors.New("run cancelled through the API")

// waitRunBriefly gives a cancelled run a moment to record its end.
func (s *Server) waitRunBriefly(ctx context.Context, id string) (runs.Run, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r, err := s.waitRun(ctx, id)
	if errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	return r, err
}

// retryRun queues a finished run that did not succeed again, under the
// same id: it resumes, reusing the steps that completed and running the
// rest. It runs the flow as loaded now: when that is not the version the
// run ran, note says so, and the run's history records it.
func (s *Server) retryRun(ctx context.Context, id string) (run runs.Run, note string, err error) {
	r, err := s.history.Get(ctx, id)
	if err != nil {
		return r, "", err
	}
	if r.Finished == nil || r.Status == engine.StatusSucceeded {
		return r, "", &httpError{http.StatusConflict, fmt.Errorf("run %s is %s: only a finished run that did not succeed can be retried", id, r.Status)}
	}
	f, ok := s.flows.Get(r.Flow)
	if !ok {
		return r, "", notFoundf("run %s: flow %q is not loaded (GET /api/flows lists the files with problems)", id, r.Flow)
	}
	args, err := s.retryArgs(ctx, r)
	if err != nil {
		return r, "", err
	}
	if r.FlowHash != "" && r.FlowHash != f.Hash {
		note = runs.FlowChangedNote(id, r.FlowHash, f.Hash)
		if err := s.recordFlowChanged(ctx, id, note, r.FlowHash, f.Hash); err != nil {
			return r, "", err
		}
	}
	if err := s.history.Requeue(ctx, id); err != nil {
		return r, "", fmt.Errorf("retry run %s: %w", id, err)
	}
	args.Retry = true
	if err := s.insert(ctx, args); err != nil {
		return r, "", err
	}
	r, err = s.history.Get(ctx, id)
	return r, note, err
}

// recordFlowChanged adds to a run's history that its retry runs another
// version of its flow, after the events it has.
func (s *Server) recordFlowChanged(ctx context.Context, id, note, ran, now string) error {
	if err := s.history.RecordFlowChanged(ctx, id, note, ran, now); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "retry runs a changed flow", "run", id, "ranVersion", ran, "runsVersion", now)
	return nil
}

// retry answers POST /api/runs/{id}/retry with the run queued again, and
// a note when its flow file changed since it ran.
func (s *Server) retry(w http.ResponseWriter, r *http.Request) error {
	run, note, err := s.retryRun(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, struct {
		runs.Run
		Note string `json:"note,omitempty"`
	}{run, note})
}

// retryArgs is what a retry of r runs with: the inputs and trigger data of
// its queue job, as they were given. The history keeps them with secrets
// masked, so it serves only when the job is gone (River deletes finished
// jobs after a while) and nothing was masked.
func (s *Server) retryArgs(ctx context.Context, r runs.Run) (RunArgs, error) {
	job, err := s.history.Job(ctx, r.ID)
	if err != nil {
		return RunArgs{}, err
	}
	if job != 0 {
		row, err := s.queue.work.JobGet(ctx, job)
		switch {
		case err == nil:
			var args RunArgs
			if err := json.Unmarshal(row.EncodedArgs, &args); err != nil {
				return RunArgs{}, fmt.Errorf("retry run %s: read its queue job: %w", r.ID, err)
			}
			return args, nil
		case !errors.Is(err, river.ErrNotFound):
			return RunArgs{}, fmt.Errorf("retry run %s: read its queue job: %w", r.ID, err)
		}
	}
	if runs.HasMasked(r.Inputs) || runs.HasMasked(r.Trigger) {
		return RunArgs{}, &httpError{http.StatusConflict, fmt.Errorf("run %s had secret values, which the history does not keep, and its queue job is gone: start a new run with them", r.ID)}
	}
	if r.InputsCut {
		return RunArgs{}, &httpError{http.StatusConflict, fmt.Errorf("run %s had inputs or trigger data longer than the history keeps, and its queue job is gone: start a new run with them", r.ID)}
	}
	return RunArgs{RunID: r.ID, Flow: r.Flow, Inputs: r.Inputs, Trigger: r.Trigger, Until: r.Until}, nil
}

// runAction answers POST /api/runs/{id}/cancel with the run as it is
// after the action.
func (s *Server) runAction(act func(context.Context, string) (runs.Run, error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		run, err := act(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, run)
	}
}
