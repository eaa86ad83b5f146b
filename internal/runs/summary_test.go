package runs_test

import (
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/runs"
	"github.com/s3flow/s3flow/internal/store"
)

// Past the detail per step, the bundles that went well are kept as
// counts; every failed or ignored one is kept whole, wherever it comes.
func TestHistoryDetail(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *store.DB) {
		hist, reg := setup(t, db)
		_, res := runFlow(t, hist, reg, `name: big
history_detail: 100
steps:
  - {id: list, module: test.list, with: {n: 1000}}
  - id: echo
    module: test.echo
    with: {value: "{{ steps.list.n }}", fail: "{{ steps.list.n >= 990 || steps.list.n == 3 }}"}
    on_error: ignore
`, nil)
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		count := map[string]int{}
		for _, ev := range events(t, hist, res.RunID) {
			count[ev.StepID+" "+ev.Status]++
		}
		// echo: the first 100 that went well (bundle 3 failed among them),
		// and all 11 failures.
		want := map[string]int{"list ok": 100, "echo ok": 100, "echo ignored": 11}
		for k, n := range want {
			if count[k] != n {
				t.Errorf("%s: %d events kept whole, want %d (all: %v)", k, count[k], n, count)
			}
		}
		sums, err := hist.Summaries(t.Context(), res.RunID)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, sum := range sums {
			got[sum.StepID+" "+sum.Status] = sum.Bundles
			if sum.MinDuration > sum.MaxDuration || sum.Duration < sum.MaxDuration || sum.LastStarted.Before(sum.FirstStarted) {
				t.Errorf("%+v: durations or times out of order", sum)
			}
		}
		if len(got) != 2 || got["list ok"] != 900 || got["echo ok"] != 1000-11-100 {
			t.Errorf("summaries %v, want list ok 900, echo ok 889", got)
		}
	})
}

// The Store's Detail applies when the flow says nothing; "all" keeps
// every bundle; and a summary's rows add up across batches and processes.
func TestHistoryDetailSettings(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *store.DB) {
		hist, reg := setup(t, db)
		hist.Detail = 10
		_, res := runFlow(t, hist, reg, "name: d\nsteps:\n  - {id: list, module: test.list, with: {n: 25}}\n", nil)
		if n := len(events(t, hist, res.RunID)); n != 10 {
			t.Errorf("Detail 10: %d events kept whole", n)
		}
		_, res = runFlow(t, hist, reg, "name: d\nhistory_detail: all\nsteps:\n  - {id: list, module: test.list, with: {n: 25}}\n", nil)
		if n := len(events(t, hist, res.RunID)); n != 25 {
			t.Errorf("history_detail all: %d events kept whole", n)
		}

		// Two flushes, and a second Store (another process resuming the
		// run): one row per step and status, counting all.
		ctx := t.Context()
		start := time.Now()
		for i, s := range []*runs.Store{hist, runs.New(db)} {
			s.Detail = 1
			if err := s.StartRun(ctx, engine.RunInfo{ID: "sum", Flow: "x", Started: start}); err != nil {
				t.Fatal(err)
			}
			for j := range 3 {
				ev := engine.Event{RunID: "sum", Seq: int64(10*i + j + 1), StepID: "s", Module: "m", Status: engine.EventOK,
					Started: start.Add(time.Duration(10*i+j) * time.Second), Duration: time.Duration(j+1) * time.Millisecond,
					Output: map[string]any{"size": int64(100)}}
				if err := s.Event(ctx, ev); err != nil {
					t.Fatal(err)
				}
				if err := s.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		sums, err := hist.Summaries(ctx, "sum")
		if err != nil {
			t.Fatal(err)
		}
		if len(sums) != 1 {
			t.Fatalf("%d summaries, want 1: %+v", len(sums), sums)
		}
		s := sums[0]
		if s.Bundles != 4 || s.Bytes != 400 || s.Duration != 10*time.Millisecond || s.MinDuration != 2*time.Millisecond ||
			s.MaxDuration != 3*time.Millisecond || s.FirstStarted.Sub(start.Add(time.Second)).Abs() > time.Microsecond {
			t.Errorf("summary %+v", s)
		}
		if s.LastStarted.Sub(start.Add(12*time.Second)).Abs() > time.Microsecond {
			t.Errorf("last started %v, want %v", s.LastStarted, start.Add(12*time.Second))
		}
		// Pruning the run deletes its summaries.
		if _, err := hist.Prune(ctx, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if sums, _ := hist.Summaries(ctx, "sum"); len(sums) != 0 {
			t.Errorf("summaries left after prune: %+v", sums)
		}
	})
}

// PruneSize keeps the newest runs that fit and never deletes a run that
// has not finished.
func TestPruneSize(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *store.DB) {
		hist := runs.New(db)
		ctx := t.Context()
		now := time.Now().UTC()
		// Each finished run: 10 events of about 100 bytes of overhead
		// plus their small text.
		for i, id := range []string{"r1", "r2", "r3", "r4"} {
			record(t, hist, id, "f", engine.StatusSucceeded, now.Add(time.Duration(i-10)*time.Hour), 10)
		}
		// The oldest run of all is still running.
		if err := hist.StartRun(ctx, engine.RunInfo{ID: "r0", Flow: "f", Started: now.Add(-20 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		n, err := hist.PruneSize(ctx, 2500)
		if err != nil || n != 2 {
			t.Fatalf("PruneSize(2500) = %d, %v; want 2 runs deleted", n, err)
		}
		for id, want := range map[string]bool{"r0": true, "r1": false, "r2": false, "r3": true, "r4": true} {
			_, err := hist.Get(ctx, id)
			if got := err == nil; got != want {
				t.Errorf("run %s kept %v, want %v (%v)", id, got, want, err)
			}
		}
		var left int
		db.QueryRowContext(ctx, `SELECT count(*) FROM run_events WHERE run_id IN ('r1', 'r2')`).Scan(&left)
		if left != 0 {
			t.Errorf("%d events of pruned runs left", left)
		}
		if n, err := hist.PruneSize(ctx, 1<<30); err != nil || n != 0 {
			t.Errorf("PruneSize(1 GiB) = %d, %v; want 0", n, err)
		}
		if n, err := hist.PruneSize(ctx, 0); err != nil || n != 2 {
			t.Errorf("PruneSize(0) = %d, %v; want the 2 finished runs", n, err)
		}
	})
}
