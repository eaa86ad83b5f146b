package runs_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/runs"
	"github.com/s3flow/s3flow/internal/store"
)

// queued records queued runs of flow f, with ids given.
func queued(t *testing.T, hist *runs.Store, f string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := hist.Queue(t.Context(), engine.RunInfo{ID: id, Flow: f, Inputs: map[string]any{"n": 1}, Started: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
}

func status(t *testing.T, hist *runs.Store, id string) string {
	t.Helper()
	r, err := hist.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r.Status + "/" + r.Worker
}

// TestClaim: a queued run is claimed by a worker, which then starts it;
// a flow's limit of running runs holds; finishing one frees a place.
func TestClaim(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *store.DB) {
		hist, ctx := runs.New(db), t.Context()
		queued(t, hist, "f", "r1", "r2")
		queued(t, hist, "other", "o1")
		if got := status(t, hist, "r1"); got != "queued/" {
			t.Errorf("queued run is %s", got)
		}
		claim := func(id, flow, worker string, limit int) bool {
			t.Helper()
			ok, err := hist.Claim(ctx, id, flow, worker, limit)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !claim("r1", "f", "w1", 1) {
			t.Fatal("the first run of f was refused")
		}
		if claim("r2", "f", "w2", 1) {
			t.Error("a second run of f was claimed with max_concurrent_runs 1")
		}
		if !claim("o1", "other", "w2", 1) {
			t.Error("another flow's run was refused: the limit is per flow")
		}
		if !claim("r1", "f", "w1", 1) {
			t.Error("a run resumed after an interruption was refused its own place")
		}
		if got := status(t, hist, "r1") + " " + status(t, hist, "r2"); got != "running/w1 queued/" {
			t.Errorf("after the claims: %s", got)
		}
		started := time.Now()
		if err := hist.StartRun(ctx, engine.RunInfo{ID: "r1", Flow: "f", Inputs: map[string]any{"n": 1}, Started: started}); err != nil {
			t.Fatal(err)
		}
		if err := hist.FinishRun(ctx, engine.RunEnd{ID: "r1", Status: engine.StatusSucceeded, Finished: started.Add(time.Second)}); err != nil {
			t.Fatal(err)
		}
		if !claim("r2", "f", "w2", 1) {
			t.Error("r2 refused after r1 finished")
		}
		if !claim("r2", "f", "w2", 0) {
			t.Error("limit 0 refused a run")
		}
	})
}

// TestClaimLimitUnderConcurrency: workers claiming runs of one flow at the
// same moment get no more places than the flow allows, on either database.
func TestClaimLimitUnderConcurrency(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *store.DB) {
		hist := runs.New(db)
		const n, limit = 8, 3
		for i := range n {
			queued(t, hist, "f", fmt.Sprintf("r%d", i))
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for i := range n {
			wg.Go(func() {
				ok, err := hist.Claim(t.Context(), fmt.Sprintf("r%d", i), "f", fmt.Sprintf("w%d", i), limit)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					won++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if won != limit {
			t.Errorf("%d runs claimed at once, want the limit %d", won, limit)
		}
	})
}

// TestHeartbeatAndStale: a running run whose worker stopped beating is
// stale; one that beats, or that is not running, is not.
func TestHeartbeatAndStale(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *store.DB) {
		hist, ctx := runs.New(db), t.Context()
		queued(t, hist, "f", "beating", "silent", "waiting", "done")
		before := time.Now().Add(-time.Millisecond)
		for _, id := range []string{"beating", "silent", "done"} {
			if ok, err := hist.Claim(ctx, id, "f", "w", 0); err != nil || !ok {
				t.Fatalf("claim %s: %v, %v", id, ok, err)
			}
		}
		if err := hist.FinishRun(ctx, engine.RunEnd{ID: "done", Status: engine.StatusFailed, Error: "x", Finished: time.Now()}); err != nil {
			t.Fatal(err)
		}
		stale := func(cutoff time.Time) string {
			t.Helper()
			ids, err := hist.Stale(ctx, cutoff)
			if err != nil {
				t.Fatal(err)
			}
			return fmt.Sprint(ids)
		}
		if got := stale(before); got != "[]" {
			t.Errorf("stale before any claim: %s", got)
		}
		// Every claim beat before the cutoff; beating beats again after it.
		cutoff := time.Now()
		if err := hist.Heartbeat(ctx, "beating"); err != nil {
			t.Fatal(err)
		}
		if got := stale(cutoff); got != "[silent]" {
			t.Errorf("stale runs %s, want [silent]", got)
		}
	})
}

// TestRequeueAndCompleted: a failed run queued again for a retry keeps its
// completed steps, which Completed returns for the resumed run (leaving
// out files, gone with the spool), and its recorded inputs say whether a
// secret was masked away.
func TestRequeueAndCompleted(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *store.DB) {
		hist, reg := setup(t, db)
		ctx := t.Context()
		_, res := runFlow(t, hist, reg, `name: retry
inputs:
  api_token: {type: string, default: hunter2}
  n: {type: integer, default: 2}
steps:
  - {id: list, module: test.list, with: {n: "{{ inputs.n }}"}}
  - {id: echo, module: test.echo, with: {value: "{{ steps.list.n }}", fail: "{{ steps.list.n == 1 }}"}}
`, nil)
		if res.Status != engine.StatusFailed {
			t.Fatalf("status %s", res.Status)
		}
		if err := hist.SetJob(ctx, res.RunID, 7); err != nil {
			t.Fatal(err)
		}
		if err := hist.Requeue(ctx, res.RunID); err != nil {
			t.Fatal(err)
		}
		r, err := hist.Get(ctx, res.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != runs.StatusQueued || r.Finished != nil || r.Error != "" {
			t.Errorf("requeued run: status %s, finished %v, error %q", r.Status, r.Finished, r.Error)
		}
		if !runs.HasMasked(r.Inputs) || r.Inputs["api_token"] != runs.Masked || r.Inputs["n"] != float64(2) {
			t.Errorf("recorded inputs %v: the token must read as masked", r.Inputs)
		}
		if job, err := hist.Job(ctx, res.RunID); err != nil || job != 7 {
			t.Errorf("job %d, %v; want 7", job, err)
		}
		done, last, err := hist.Completed(ctx, res.RunID)
		if err != nil {
			t.Fatal(err)
		}
		// list 0, echo 0 (a file: left out), list 1, echo 1 failed.
		if got := fmt.Sprint(done); last != 4 || got != "map[|list:map[n:1]]" {
			t.Errorf("Completed = %s, last %d; want the list step's output and 4", got, last)
		}
		if _, err := hist.Job(ctx, "nosuch"); err == nil {
			t.Error("Job of an unknown run: no error")
		}
	})
}

// TestTimesComeBackAsTimes: every time the store keeps reads back as the
// same instant, in UTC, on both databases, whatever zone and precision it
// was given in; and the queries that compare times (List's Since, Prune,
// Stale) compare instants, not the texts of different zones.
func TestTimesComeBackAsTimes(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *store.DB) {
		hist, ctx := runs.New(db), t.Context()
		east := time.FixedZone("east", 5*3600)
		started := time.Date(2026, 3, 4, 10, 0, 0, 123456789, east) // 05:00 UTC
		finished := started.Add(1500 * time.Millisecond)
		if err := hist.Queue(ctx, engine.RunInfo{ID: "t", Flow: "f", Started: started}); err != nil {
			t.Fatal(err)
		}
		if err := hist.StartRun(ctx, engine.RunInfo{ID: "t", Flow: "f", Started: started}); err != nil {
			t.Fatal(err)
		}
		if err := hist.Event(ctx, engine.Event{RunID: "t", Seq: 1, StepID: "s", Status: "ok", Started: finished, Duration: 1500 * time.Microsecond}); err != nil {
			t.Fatal(err)
		}
		if err := hist.FinishRun(ctx, engine.RunEnd{ID: "t", Status: engine.StatusSucceeded, Finished: finished}); err != nil {
			t.Fatal(err)
		}
		r, err := hist.Get(ctx, "t")
		if err != nil {
			t.Fatal(err)
		}
		if !r.Started.Equal(started) || r.Finished == nil || !r.Finished.Equal(finished) ||
			r.Started.Location() != time.UTC || r.Duration() != 1500*time.Millisecond {
			t.Errorf("read back started %v, finished %v; want %v, %v in UTC", r.Started, r.Finished, started, finished)
		}
		evs := events(t, hist, "t")
		if len(evs) != 1 || !evs[0].Started.Equal(finished) || evs[0].Duration != 1500*time.Microsecond {
			t.Errorf("event read back as %+v", evs)
		}
		// 04:59:59 UTC written as 09:59:59 in the east: before the run,
		// although its text in that zone sorts after "05:00".
		since := time.Date(2026, 3, 4, 9, 59, 59, 0, east)
		if rs, err := hist.List(ctx, runs.Filter{Since: since}); err != nil || len(rs) != 1 {
			t.Errorf("List since %v: %d runs, %v; want the run", since, len(rs), err)
		}
		if rs, err := hist.List(ctx, runs.Filter{Since: started.Add(time.Nanosecond)}); err != nil || len(rs) != 0 {
			t.Errorf("List since a nanosecond after the start: %d runs, %v; want none", len(rs), err)
		}
		if n, err := hist.Prune(ctx, started); err != nil || n != 0 {
			t.Errorf("Prune at the start instant deleted %d, %v; want 0", n, err)
		}
		if n, err := hist.Prune(ctx, started.Add(time.Nanosecond).In(time.UTC)); err != nil || n != 1 {
			t.Errorf("Prune a nanosecond later deleted %d, %v; want 1", n, err)
		}
	})
}
