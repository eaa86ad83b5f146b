package engine_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/engine"
)

// TestConcurrency: with concurrency: 4 on a listing, four of its bundles
// are in the later steps at once, never more; the aggregate after them
// gets the bundles in listing order although they finish out of order;
// events are numbered without gaps.
func TestConcurrency(t *testing.T) {
	t.Parallel()
	h := setup(t)
	var mu sync.Mutex
	inFlight, most := 0, 0
	all4 := make(chan struct{})
	var once sync.Once
	h.onEcho = func(v string) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		if inFlight == 4 {
			once.Do(func() { close(all4) })
		}
		mu.Unlock()
		// The first bundles wait until four are in flight: without
		// parallel branches the first would wait forever.
		select {
		case <-all4:
		case <-time.After(10 * time.Second):
			t.Error("four bundles were never in flight at once")
		}
		var n int
		fmt.Sscan(v, &n)
		time.Sleep(time.Duration((40-n)%7) * time.Millisecond) // finish out of order
		mu.Lock()
		inFlight--
		mu.Unlock()
	}
	res := h.run(t, t.Context(), `name: t
steps:
  - {id: list, module: test.list, concurrency: 4, with: {n: 40}}
  - {id: echo, module: test.echo, with: {value: "{{ steps.list.n }}"}}
  - {id: all, module: flow.aggregate, with: {from: echo}}
  - {id: joined, module: test.echo, with: {value: "{{ join(map(steps.all.items, #.value), ',') }}"}}
`, nil)
	wantStatus(t, res, engine.StatusSucceeded)
	h.rec.check(t, res)
	if most != 4 {
		t.Errorf("%d bundles in flight at most, want 4", most)
	}
	var want []string
	for i := range 40 {
		want = append(want, fmt.Sprint(i))
	}
	seen := h.seen("test.echo")
	if got := seen[len(seen)-1]; got != strings.Join(want, ",") {
		t.Errorf("aggregate got %s, want the listing order", got)
	}
	if res.Outputs["echo"] != 40 || res.Outputs["list"] != 40 {
		t.Errorf("outputs %v", res.Outputs)
	}
}

// TestConcurrencyFailure: a branch that fails (on_error: stop) fails the
// run; the others are cancelled and the listing stops early.
func TestConcurrencyFailure(t *testing.T) {
	t.Parallel()
	h := setup(t)
	res := h.run(t, t.Context(), `name: t
steps:
  - {id: list, module: test.list, concurrency: 3, with: {n: 1000}}
  - {id: check, module: test.fail, with: {fail: "{{ steps.list.n == 5 }}"}}
`, nil)
	wantStatus(t, res, engine.StatusFailed)
	if res.Err == nil || !strings.Contains(res.Err.Error(), `step "check"`) {
		t.Errorf("error %v, want the failing step's", res.Err)
	}
	if n := len(h.seen("test.fail")); n >= 1000 {
		t.Errorf("%d bundles were checked after a failure; the listing should stop", n)
	}
}

// TestConcurrencyIgnore: on_error: ignore in a branch keeps the others
// going, as without concurrency.
func TestConcurrencyIgnore(t *testing.T) {
	t.Parallel()
	h := setup(t)
	res := h.run(t, t.Context(), `name: t
steps:
  - {id: list, module: test.list, concurrency: 8, with: {n: 30}}
  - {id: check, module: test.fail, on_error: ignore, with: {fail: "{{ steps.list.n % 3 == 0 }}"}}
`, nil)
	wantStatus(t, res, engine.StatusSucceeded)
	if got := res.Outputs["check"]; got != 20 {
		t.Errorf("check passed %d bundles on, want 20", got)
	}
}

// TestFanOutLimits: a run whose listings emit more bundles than
// MaxBundles, or whose aggregate would hold more than MaxAggregate items,
// fails with ErrTooManyBundles and says which limit, with or without
// concurrency.
func TestFanOutLimits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, src string
		opts      engine.Options
		want      string
	}{
		{"bundles", `name: t
steps:
  - {id: list, module: test.list, with: {n: 50}}
  - {id: again, module: test.list, with: {n: 3}}
`, engine.Options{MaxBundles: 100}, "limit of 100 bundles from listing steps (--max-bundles)"},
		{"bundles in parallel", `name: t
steps:
  - {id: list, module: test.list, concurrency: 4, with: {n: 500}}
  - {id: echo, module: test.echo, with: {value: "{{ steps.list.n }}"}}
`, engine.Options{MaxBundles: 100}, "limit of 100 bundles"},
		{"aggregate", `name: t
steps:
  - {id: list, module: test.list, with: {n: 50}}
  - {id: all, module: flow.aggregate, with: {from: list}}
`, engine.Options{MaxAggregate: 10}, "at most 10 items in memory (--max-aggregate)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := setup(t)
			opts := tc.opts
			opts.Registry, opts.Recorder = h.reg, h.rec
			res, err := engine.New(opts).Run(t.Context(), h.parse(t, tc.src), nil, nil)
			if res == nil || res.Status != engine.StatusFailed || !errors.Is(err, engine.ErrTooManyBundles) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("status %v, error %v; want failed with %q", res, err, tc.want)
			}
		})
	}
}

// BenchmarkFanOut measures the cost of parallel branches: a listing of
// b.N bundles with concurrency: 8 through one no-op step.
func BenchmarkFanOut(b *testing.B) {
	h := setup(&testing.T{})
	f := h.parse(&testing.T{}, `name: t
inputs:
  n: {type: integer, required: true}
steps:
  - {id: list, module: test.list, concurrency: 8, with: {n: "{{ inputs.n }}"}}
  - {id: echo, module: test.noop}
`)
	e := engine.New(engine.Options{Registry: h.reg})
	b.ReportAllocs()
	b.ResetTimer()
	res, err := e.Run(b.Context(), f, map[string]any{"n": b.N}, nil)
	if err != nil || res.Outputs["echo"] != int64(b.N) {
		b.Fatalf("run: %v, outputs %v", err, res.Outputs)
	}
}
