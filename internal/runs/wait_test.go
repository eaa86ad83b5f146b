package runs_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/store"
)

// beforeModule counts its runs: a resumed run reuses its result.
func beforeModule(runs *atomic.Int64) *module.Module {
	return &module.Module{
		Name:    "test.before",
		Outputs: []module.Output{{Name: "n", Type: module.Int}},
		Run: func(_ context.Context, _ module.Env, _ module.Values, emit func(module.Bundle) error) error {
			return emit(module.Bundle{"n": runs.Add(1)})
		},
	}
}

// waitModule is a module that waits until ready is set, reporting how
// many checks it made in its state; it emits when its wait began.
func waitModule(ready *atomic.Bool, checks *atomic.Int64, seen func(module.WaitState), after time.Duration) *module.Module {
	return &module.Module{
		Name: "test.wait", Waits: true,
		Outputs: []module.Output{{Name: "since", Type: module.Time}, {Name: "checks", Type: module.Int}},
		Run: func(_ context.Context, env module.Env, _ module.Values, emit func(module.Bundle) error) error {
			n := checks.Add(1)
			seen(env.Wait)
			if ready.Load() {
				return emit(module.Bundle{"since": env.Wait.Since, "checks": n})
			}
			return &module.Waiting{After: after, Found: "not yet", State: map[string]string{"checks": strconv.FormatInt(n, 10)}}
		},
	}
}

const waitingFlow = `name: waits
steps:
  - {id: before, module: test.before}
  - id: wait
    module: test.wait
    on_error: ignore
  - {id: after, module: test.echo, with: {value: "{{ string(steps.wait.checks) }}"}}
`

// TestSuspendedWaitResumes: a run whose step waits is suspended (status
// waiting, not finished), even under on_error: ignore, which is for
// failures; each resume continues the wait from the history (its start
// and state) and reuses the steps done before it; once the wait is over
// the run finishes and the history holds no wait for it.
func TestSuspendedWaitResumes(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *store.DB) {
		hist, reg := setup(t, db)
		var (
			ready  atomic.Bool
			checks atomic.Int64
			before atomic.Int64
			states []module.WaitState
		)
		reg.Register(beforeModule(&before))
		reg.Register(waitModule(&ready, &checks, func(ws module.WaitState) { states = append(states, ws) }, time.Hour))
		f, err := flow.Parse("flows/t.yaml", []byte(waitingFlow), reg)
		if err != nil {
			t.Fatal(err)
		}
		eng := engine.New(engine.Options{Registry: reg, Recorder: hist, SpoolDir: t.TempDir()})
		start := func(id string) (*engine.Result, error) {
			return eng.Start(t.Context(), f, nil, nil, engine.RunOptions{ID: id, Resume: id != "", Suspend: true})
		}

		res, err := start("")
		var w *module.Waiting
		if res == nil || res.Status != engine.StatusWaiting || !errors.As(err, &w) || w.After != time.Hour {
			t.Fatalf("first attempt: %+v, %v; want waiting, to check again in an hour", res, err)
		}
		id := res.RunID
		r, err := hist.Get(t.Context(), id)
		if err != nil || r.Status != engine.StatusWaiting || r.Finished != nil {
			t.Fatalf("recorded as %+v (%v), want waiting and not finished", r, err)
		}

		res, err = start(id)
		if res == nil || res.Status != engine.StatusWaiting {
			t.Fatalf("second attempt: %+v, %v; want waiting", res, err)
		}
		if len(states) != 2 || !states[1].Since.Equal(states[0].Since) || states[0].Since.IsZero() || states[1].State["checks"] != "1" {
			t.Fatalf("the checks saw %+v, want the second to continue the first's wait (same start, its state)", states)
		}

		ready.Store(true)
		res, err = start(id)
		if err != nil || res.Status != engine.StatusSucceeded {
			t.Fatalf("last attempt: %+v, %v; want succeeded", res, err)
		}
		var befores, waits int
		var since any
		for _, ev := range events(t, hist, id) {
			switch {
			case ev.StepID == "before" && ev.Status == engine.EventOK:
				befores++
			case ev.StepID == "wait" && ev.Status == engine.EventWaiting:
				waits++
			case ev.StepID == "wait" && ev.Status == engine.EventOK:
				since = ev.Output["since"]
			}
		}
		if befores != 1 || before.Load() != 1 || waits != 2 {
			t.Errorf("the step before ran %d times (want 1, then reused), %d waiting checks recorded (want 2)", befores, waits)
		}
		if since != module.FormatTime(states[0].Since) {
			t.Errorf("the wait says it began %v, want the first check's %v", since, states[0].Since)
		}
		if waits, err := hist.Waits(t.Context(), id); err != nil || len(waits) != 0 {
			t.Errorf("after the wait ended the history still holds %v (%v)", waits, err)
		}
		if r, _ := hist.Get(t.Context(), id); r.Finished == nil {
			t.Errorf("the run that succeeded has no end time: %+v", r)
		}
	})
}

// TestWaitInProcess: without Suspend (s3flow run) the engine sleeps
// between checks and records each one that must wait on.
func TestWaitInProcess(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *store.DB) {
		hist, reg := setup(t, db)
		var (
			ready  atomic.Bool
			checks atomic.Int64
			before atomic.Int64
		)
		reg.Register(beforeModule(&before))
		reg.Register(waitModule(&ready, &checks, func(module.WaitState) {
			if checks.Load() == 3 {
				ready.Store(true) // the third check finds it
			}
		}, time.Millisecond))
		_, res := runFlow(t, hist, reg, waitingFlow, nil)
		if res.Status != engine.StatusSucceeded || checks.Load() != 3 {
			t.Fatalf("run %s after %d checks, want succeeded after 3", res.Status, checks.Load())
		}
		var waits int
		for _, ev := range events(t, hist, res.RunID) {
			if ev.Status == engine.EventWaiting {
				waits++
			}
		}
		if waits != 2 {
			t.Errorf("%d waiting checks recorded, want 2", waits)
		}
	})
}
