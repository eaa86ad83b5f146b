package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/module/builtin"
)

// harness is one test's registry of fake modules, what they were called
// with, and a recording Recorder.
type harness struct {
	reg *module.Registry
	rec *recorder

	mu     sync.Mutex
	calls  map[string][]string // module name to what each call saw
	sleeps []time.Duration
	// onEcho, when set, runs inside each test.echo call.
	onEcho func(value string)
	// onBlock, when set, runs as test.block starts waiting.
	onBlock func()
}

// setup registers the built-in modules and these fakes:
//
//	test.list  (many)  emits n bundles {n: i}; the first fail_runs runs fail
//	                   before emitting; fail_after > 0 fails after that many
//	test.echo          emits {value}; records value
//	test.fail          fails when fail is true or for its first times calls,
//	                   else emits {value, calls}
//	test.block         waits for its context to end
//	test.noop          emits {ok: true}
func setup(t *testing.T) *harness {
	t.Helper()
	h := &harness{reg: &module.Registry{}, rec: &recorder{}, calls: map[string][]string{}}
	h.reg.Register(builtin.Modules()...)
	h.reg.Register(
		&module.Module{
			Name: "test.list", Many: true,
			Fields: []module.Field{
				{Name: "n", Type: module.Int, Default: int64(3)},
				{Name: "fail_after", Type: module.Int, Default: int64(0)},
				{Name: "fail_runs", Type: module.Int, Default: int64(0)},
			},
			Outputs: []module.Output{{Name: "n", Type: module.Int}},
			Run: func(ctx context.Context, _ module.Env, in module.Values, emit func(module.Bundle) error) error {
				runs := h.call("test.list", fmt.Sprint(in.Int("n")))
				if int64(runs) <= in.Int("fail_runs") {
					return fmt.Errorf("listing failed (run %d)", runs)
				}
				for i := range in.Int("n") {
					if fa := in.Int("fail_after"); fa > 0 && i == fa {
						return errors.New("listing broke off")
					}
					if err := emit(module.Bundle{"n": i}); err != nil {
						return fmt.Errorf("list: %w", err)
					}
				}
				return nil
			},
		},
		&module.Module{
			Name: "test.echo",
			Fields: []module.Field{
				{Name: "value", Type: module.String},
				{Name: "num", Type: module.Int},
				{Name: "headers", Type: module.Pairs},
			},
			Outputs: []module.Output{{Name: "value"}},
			Run: func(_ context.Context, _ module.Env, in module.Values, emit func(module.Bundle) error) error {
				h.call("test.echo", in.String("value"))
				if h.onEcho != nil {
					h.onEcho(in.String("value"))
				}
				return emit(module.Bundle{"value": in.String("value")})
			},
		},
		&module.Module{
			Name: "test.fail",
			Fields: []module.Field{
				{Name: "value", Type: module.String},
				{Name: "fail", Type: module.Bool, Default: false},
				{Name: "times", Type: module.Int, Default: int64(0)},
			},
			Outputs: []module.Output{{Name: "value"}, {Name: "calls", Type: module.Int}},
			Run: func(_ context.Context, _ module.Env, in module.Values, emit func(module.Bundle) error) error {
				calls := h.call("test.fail", in.String("value"))
				if in.Bool("fail") || int64(calls) <= in.Int("times") {
					return fmt.Errorf("failed on call %d", calls)
				}
				return emit(module.Bundle{"value": in.String("value"), "calls": int64(calls)})
			},
		},
		&module.Module{
			Name: "test.block",
			Run: func(ctx context.Context, _ module.Env, _ module.Values, _ func(module.Bundle) error) error {
				h.call("test.block", "")
				if h.onBlock != nil {
					h.onBlock()
				}
				<-ctx.Done()
				return ctx.Err()
			},
		},
		noop,
	)
	return h
}

var noop = &module.Module{
	Name: "test.noop",
	Fields: []module.Field{
		{Name: "a", Type: module.String},
		{Name: "b", Type: module.Int},
	},
	Outputs: []module.Output{{Name: "ok", Type: module.Bool}},
	Run: func(_ context.Context, _ module.Env, _ module.Values, emit func(module.Bundle) error) error {
		return emit(module.Bundle{"ok": true})
	},
}

// call records a call and returns how many calls of the module there were.
func (h *harness) call(mod, seen string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls[mod] = append(h.calls[mod], seen)
	return len(h.calls[mod])
}

func (h *harness) seen(mod string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.calls[mod]...)
}

func (h *harness) sleep(_ context.Context, d time.Duration) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sleeps = append(h.sleeps, d)
	return nil
}

func (h *harness) parse(t *testing.T, src string) *flow.Flow {
	t.Helper()
	f, err := flow.Parse("t.yaml", []byte(src), h.reg)
	if err != nil {
		t.Fatalf("parse:\n%v", err)
	}
	return f
}

// run parses and runs src; the error is Result.Err (also returned).
func (h *harness) run(t *testing.T, ctx context.Context, src string, inputs map[string]any) *engine.Result {
	t.Helper()
	f := h.parse(t, src)
	e := engine.New(engine.Options{Registry: h.reg, Recorder: h.rec, Sleep: h.sleep, SpoolDir: t.TempDir()})
	res, err := e.Run(ctx, f, inputs, nil)
	if res == nil {
		t.Fatalf("Run returned no result: %v", err)
	}
	if !errors.Is(err, res.Err) && err != res.Err {
		t.Errorf("Run returned %v, Result.Err %v", err, res.Err)
	}
	h.rec.check(t, res)
	return res
}

// recorder is a Recorder that keeps everything.
type recorder struct {
	mu       sync.Mutex
	starts   []engine.RunInfo
	events   []engine.Event
	finishes []engine.RunEnd
}

func (r *recorder) StartRun(_ context.Context, run engine.RunInfo) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts = append(r.starts, run)
	return nil
}

// Event keeps events in Seq order: parallel branches record them at once,
// so they may come in another order (see engine.Recorder).
func (r *recorder) Event(_ context.Context, ev engine.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := len(r.events)
	for i > 0 && r.events[i-1].Seq > ev.Seq {
		i--
	}
	r.events = slices.Insert(r.events, i, ev)
	return nil
}

func (r *recorder) FinishRun(ctx context.Context, end engine.RunEnd) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ctx.Err() != nil {
		return fmt.Errorf("FinishRun got an ended context: %w", ctx.Err())
	}
	r.finishes = append(r.finishes, end)
	return nil
}

// check asserts that the run was started and finished once, as res says,
// and that its events are numbered 1, 2, 3...
func (r *recorder) check(t *testing.T, res *engine.Result) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.starts) != 1 || r.starts[0].ID != res.RunID {
		t.Errorf("StartRun calls: %+v, want one for %s", r.starts, res.RunID)
	}
	wantErr := res.Stopped
	if res.Err != nil {
		wantErr = res.Err.Error()
	}
	want := engine.RunEnd{ID: res.RunID, Status: res.Status, Error: wantErr, Ignored: res.Ignored, Resumed: res.Resumed, Broken: res.Broken}
	if len(r.finishes) != 1 {
		t.Errorf("FinishRun calls: %+v, want one like %+v", r.finishes, want)
	} else if got := r.finishes[0]; got.Finished.IsZero() {
		t.Errorf("FinishRun: %+v, with no end time", got)
	} else if want.Finished = got.Finished; got != want {
		t.Errorf("FinishRun: %+v, want %+v", got, want)
	}
	for i, ev := range r.events {
		if ev.Seq != int64(i+1) || ev.RunID != res.RunID {
			t.Errorf("event %d: seq %d run %s", i, ev.Seq, ev.RunID)
		}
	}
}

// statuses returns the statuses of step's events, in order.
func (r *recorder) statuses(step string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.events {
		if ev.StepID == step {
			out = append(out, ev.Status)
		}
	}
	return out
}

func wantStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: got %q, want %q", what, got, want)
	}
}

func wantStatus(t *testing.T, res *engine.Result, status string) {
	t.Helper()
	if res.Status != status {
		t.Errorf("status %q (error %v), want %q", res.Status, res.Err, status)
	}
	if (status == engine.StatusSucceeded || status == engine.StatusIncomplete) != (res.Err == nil) {
		t.Errorf("status %q with error %v", res.Status, res.Err)
	}
}

func TestBundles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		src     string
		echoes  []string
		outputs map[string]int64
	}{
		{"many then echo runs echo per bundle, in order", `
  - {id: list, module: test.list, with: {n: 3}}
  - {id: echo, module: test.echo, with: {value: "{{ steps.list.n }}"}}
`, []string{"0", "1", "2"}, map[string]int64{"list": 3, "echo": 3}},
		{"nested many", `
  - {id: outer, module: test.list, with: {n: 2}}
  - {id: inner, module: test.list, with: {n: 3}}
  - {id: echo, module: test.echo, with: {value: "{{ steps.outer.n }}-{{ steps.inner.n }}"}}
`, []string{"0-0", "0-1", "0-2", "1-0", "1-1", "1-2"}, map[string]int64{"outer": 2, "inner": 6, "echo": 6}},
		{"an empty listing runs nothing after it", `
  - {id: list, module: test.list, with: {n: 0}}
  - {id: echo, module: test.echo, with: {value: x}}
`, nil, map[string]int64{}},
		{"filter passes only matching bundles", `
  - {id: list, module: test.list, with: {n: 5}}
  - {id: even, module: flow.filter, with: {condition: "{{ steps.list.n % 2 == 0 }}"}}
  - {id: echo, module: test.echo, with: {value: "{{ steps.list.n }}"}}
`, []string{"0", "2", "4"}, map[string]int64{"list": 5, "even": 3, "echo": 3}},
		{"aggregate after the loop runs the rest once", `
  - {id: list, module: test.list, with: {n: 3}}
  - {id: echo, module: test.echo, with: {value: "v{{ steps.list.n }}"}}
  - {id: all, module: flow.aggregate, with: {from: echo}}
  - {id: after, module: test.echo, with: {value: "{{ steps.all.count }}:{{ join(map(steps.all.items, #.value), ',') }}"}}
`, []string{"v0", "v1", "v2", "3:v0,v1,v2"}, map[string]int64{"list": 3, "echo": 3, "all": 1, "after": 1}},
		{"aggregate that keeps no items counts and sums", `
  - {id: list, module: test.list, with: {n: 4}}
  - {id: all, module: flow.aggregate, with: {from: list, value: "{{ steps.list.n * 10 }}", items: false}}
  - {id: after, module: test.echo, with: {value: "{{ steps.all.count }} {{ steps.all.sum }} {{ steps.all.min }} {{ steps.all.max }} {{ steps.all.average }}"}}
`, []string{"4 60 0 30 15"}, map[string]int64{"list": 4, "all": 1, "after": 1}},
		{"aggregate sums across parallel branches", `
  - {id: list, module: test.list, with: {n: 50}, concurrency: 8}
  - {id: all, module: flow.aggregate, with: {from: list, value: "{{ steps.list.n + 0.5 }}"}}
  - {id: after, module: test.echo, with: {value: "{{ steps.all.count }} {{ steps.all.sum }} {{ steps.all.min }} {{ steps.all.max }} {{ len(steps.all.items) }}"}}
`, []string{"50 1250 0.5 49.5 50"}, map[string]int64{"list": 50, "all": 1, "after": 1}},
		{"aggregate with a value over no bundles has no sum", `
  - {id: list, module: test.list, with: {n: 0}}
  - {id: all, module: flow.aggregate, with: {from: list, value: "{{ steps.list.n }}", items: false}}
  - {id: after, module: test.echo, with: {value: "{{ steps.all.count }} {{ steps.all.sum ?? 'none' }}"}}
`, []string{"0 none"}, map[string]int64{"all": 1, "after": 1}},
		{"aggregate of an empty listing continues with none", `
  - {id: list, module: test.list, with: {n: 0}}
  - {id: all, module: flow.aggregate, with: {from: list}}
  - {id: after, module: test.echo, with: {value: "{{ steps.all.count }}"}}
`, []string{"0"}, map[string]int64{"all": 1, "after": 1}},
		{"aggregate without a listing collects per run", `
  - {id: one, module: test.echo, with: {value: x}}
  - {id: all, module: flow.aggregate, with: {from: one}}
  - {id: after, module: test.echo, with: {value: "{{ steps.all.count }}:{{ steps.all.items[0].value }}"}}
`, []string{"x", "1:x"}, map[string]int64{"one": 1, "all": 1, "after": 1}},
		{"aggregate closes the nearest loop", `
  - {id: folders, module: test.list, with: {n: 2}}
  - {id: files, module: test.list, with: {n: 3}}
  - {id: all, module: flow.aggregate, with: {from: files}}
  - {id: echo, module: test.echo, with: {value: "{{ steps.folders.n }}:{{ steps.all.count }}"}}
`, []string{"0:3", "1:3"}, map[string]int64{"folders": 2, "files": 6, "all": 2, "echo": 2}},
		{"aggregate inside a loop after an aggregate of the same loop", `
  - {id: folders, module: test.list, with: {n: 2}}
  - {id: files, module: test.list, with: {n: 3}}
  - {id: all, module: flow.aggregate, with: {from: files}}
  - {id: each, module: test.echo, with: {value: "{{ steps.folders.n }}"}}
  - {id: folder_counts, module: flow.aggregate, with: {from: each}}
  - {id: after, module: test.echo, with: {value: "{{ steps.folder_counts.count }}"}}
`, []string{"0", "1", "2"}, map[string]int64{"all": 2, "folder_counts": 1}},
		{"aggregate after an earlier aggregate collects per run", `
  - {id: list, module: test.list, with: {n: 3}}
  - {id: all, module: flow.aggregate, with: {from: list}}
  - {id: one, module: test.echo, with: {value: "{{ steps.all.count }}"}}
  - {id: again, module: flow.aggregate, with: {from: one}}
  - {id: after, module: test.echo, with: {value: "n={{ steps.again.count }}"}}
`, []string{"3", "n=1"}, map[string]int64{"all": 1, "again": 1}},
		{"aggregate of an aggregate", `
  - {id: list, module: test.list, with: {n: 3}}
  - {id: all, module: flow.aggregate, with: {from: list}}
  - {id: again, module: flow.aggregate, with: {from: all}}
  - {id: after, module: test.echo, with: {value: "{{ steps.again.count }}-{{ steps.again.items[0].count }}"}}
`, []string{"1-3"}, map[string]int64{"all": 1, "again": 1}},
		{"aggregate from a filter collects the bundles that passed", `
  - {id: list, module: test.list, with: {n: 5}}
  - {id: even, module: flow.filter, with: {condition: "{{ steps.list.n % 2 == 0 }}"}}
  - {id: all, module: flow.aggregate, with: {from: even}}
  - {id: after, module: test.echo, with: {value: "{{ join(map(steps.all.items, string(#.n)), ',') }}"}}
`, []string{"0,2,4"}, map[string]int64{"list": 5, "even": 3, "all": 1}},
		{"aggregate from a filter without a listing", `
  - {id: one, module: test.echo, with: {value: x}}
  - {id: keep, module: flow.filter, with: {condition: "{{ steps.one.value == 'x' }}"}}
  - {id: all, module: flow.aggregate, with: {from: keep}}
  - {id: after, module: test.echo, with: {value: "{{ steps.all.count }}{{ steps.all.items[0].value }}"}}
`, []string{"x", "1x"}, map[string]int64{"keep": 1, "all": 1}},
		{"aggregate from a filter that drops the bundle", `
  - {id: one, module: test.echo, with: {value: x}}
  - {id: keep, module: flow.filter, with: {condition: "{{ steps.one.value == 'y' }}"}}
  - {id: all, module: flow.aggregate, with: {from: keep}}
  - {id: after, module: test.echo, with: {value: "{{ steps.all.count }}"}}
`, []string{"x", "0"}, map[string]int64{"all": 1}},
		{"iterate splits a list into bundles", `
  - {id: it, module: flow.iterate, with: {items: "{{ split('a,b,c', ',') }}"}}
  - {id: echo, module: test.echo, with: {value: "{{ steps.it.index }}={{ steps.it.value }}"}}
`, []string{"0=a", "1=b", "2=c"}, map[string]int64{"it": 3, "echo": 3}},
		{"iterate over aggregated items", `
  - {id: list, module: test.list, with: {n: 3}}
  - {id: all, module: flow.aggregate, with: {from: list}}
  - {id: it, module: flow.iterate, with: {items: "{{ steps.all.items }}"}}
  - {id: echo, module: test.echo, with: {value: "{{ steps.it.value.n }}/{{ steps.all.count }}"}}
`, []string{"0/3", "1/3", "2/3"}, map[string]int64{"it": 3, "echo": 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := setup(t)
			res := h.run(t, t.Context(), "name: t\nsteps:"+tt.src, nil)
			wantStatus(t, res, engine.StatusSucceeded)
			wantStrings(t, "echo calls", h.seen("test.echo"), tt.echoes)
			for step, n := range tt.outputs {
				if res.Outputs[step] != n {
					t.Errorf("step %s emitted %d bundles, want %d (all: %v)", step, res.Outputs[step], n, res.Outputs)
				}
			}
		})
	}
}

func TestFilterEvents(t *testing.T) {
	t.Parallel()
	h := setup(t)
	res := h.run(t, t.Context(), `name: t
steps:
  - {id: list, module: test.list, with: {n: 4}}
  - {id: even, module: flow.filter, with: {condition: "{{ steps.list.n % 2 == 0 }}"}}
`, nil)
	wantStatus(t, res, engine.StatusSucceeded)
	wantStrings(t, "filter events", h.rec.statuses("even"), []string{"ok", "filtered", "ok", "filtered"})
}

func TestFilterConditionNotBoolean(t *testing.T) {
	t.Parallel()
	h := setup(t)
	res := h.run(t, t.Context(), `name: t
steps:
  - {id: list, module: flow.iterate, with: {items: "{{ [1, 2] }}"}}
  - {id: check, module: flow.filter, with: {condition: "{{ steps.list.value }}"}}
`, nil)
	// An item's type is known only when the run has it (validate checks
	// what is typed: a declared output that is no boolean is refused).
	wantStatus(t, res, engine.StatusFailed)
	if !strings.Contains(res.Err.Error(), `step "check": condition: the condition gave int, not true or false`) {
		t.Errorf("error %q", res.Err)
	}
}

func TestOnError(t *testing.T) {
	t.Parallel()
	const loop = `
  - {id: list, module: test.list, with: {n: 3}}
  - id: f
    module: test.fail
    with: {value: "{{ steps.list.n }}", fail: "{{ steps.list.n == 1 }}"}
`
	tests := []struct {
		name     string
		src      string
		status   string
		err      string // in the run's error
		echoes   []string
		fails    int // calls of test.fail
		sleeps   []time.Duration
		fEvents  []string
		listRuns int
		// handled is what the run counts on_error handled: ignored,
		// resumed, broken; stopped names the first bundle a break stopped.
		handled [3]int64
		stopped string
	}{
		{name: "retry until it succeeds", src: `
  - id: f
    module: test.fail
    with: {times: 2}
    on_error: {retry: {attempts: 3, backoff: 1s}}
  - {id: echo, module: test.echo, with: {value: "after {{ steps.f.calls }}"}}
`, status: engine.StatusSucceeded, echoes: []string{"after 3"}, fails: 3,
			sleeps: []time.Duration{time.Second, 2 * time.Second}, fEvents: []string{"retried", "retried", "ok"}},
		{name: "bare retry retries three times", src: `
  - {id: f, module: test.fail, with: {times: 3}, on_error: retry}
  - {id: echo, module: test.echo, with: {value: ok}}
`, status: engine.StatusSucceeded, echoes: []string{"ok"}, fails: 4,
			sleeps: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, fEvents: []string{"retried", "retried", "retried", "ok"}},
		{name: "retries exhausted then ignore", src: `
  - id: f
    module: test.fail
    with: {times: 10}
    on_error: {retry: {attempts: 2, backoff: 100ms, then: ignore}}
  - {id: echo, module: test.echo, with: {value: x}}
`, status: engine.StatusSucceeded, fails: 3,
			sleeps: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, fEvents: []string{"retried", "retried", "failed", "ignored"}, handled: [3]int64{1, 0, 0}},
		{name: "retries exhausted then stop", src: `
  - id: f
    module: test.fail
    with: {times: 10}
    on_error: {retry: {attempts: 1, backoff: 1s}}
  - {id: echo, module: test.echo, with: {value: x}}
`, status: engine.StatusFailed, err: `step "f": failed on call 2`, fails: 2,
			sleeps: []time.Duration{time.Second}, fEvents: []string{"retried", "failed"}},
		{name: "retries exhausted then break", src: loop + `    on_error: {retry: {attempts: 1, backoff: 1s, then: break}}
  - {id: echo, module: test.echo, with: {value: "{{ steps.list.n }}"}}
`, status: engine.StatusIncomplete, echoes: []string{"0", "2"}, fails: 4, listRuns: 1,
			sleeps: []time.Duration{time.Second}, fEvents: []string{"ok", "retried", "failed", "break", "ok"}, handled: [3]int64{0, 0, 1},
			stopped: `on_error: break stopped bundle list#1: step "f": failed on call 3`},
		{name: "ignore drops the bundle, later bundles go on", src: loop + `    on_error: ignore
  - {id: echo, module: test.echo, with: {value: "{{ steps.list.n }}"}}
`, status: engine.StatusSucceeded, echoes: []string{"0", "2"}, fails: 3, listRuns: 1,
			fEvents: []string{"ok", "failed", "ignored", "ok"}, handled: [3]int64{1, 0, 0}},
		{name: "resume uses the substitute output", src: loop + `    on_error: {resume: {output: {value: sub}}}
  - {id: echo, module: test.echo, with: {value: "{{ steps.f.value }}"}}
`, status: engine.StatusSucceeded, echoes: []string{"0", "sub", "2"}, fails: 3, listRuns: 1,
			fEvents: []string{"ok", "failed", "resumed", "ok"}, handled: [3]int64{0, 1, 0}},
		{name: "break stops the bundle, the run is incomplete", src: loop + `    on_error: break
  - {id: echo, module: test.echo, with: {value: "{{ steps.list.n }}"}}
`, status: engine.StatusIncomplete, echoes: []string{"0", "2"}, fails: 3, listRuns: 1,
			fEvents: []string{"ok", "failed", "break", "ok"}, handled: [3]int64{0, 0, 1},
			stopped: `on_error: break stopped bundle list#1: step "f": failed on call 2`},
		{name: "rollback stops the run at once", src: loop + `    on_error: rollback
  - {id: echo, module: test.echo, with: {value: "{{ steps.list.n }}"}}
`, status: engine.StatusFailed, err: `stopped by on_error: rollback: step "f": failed on call 2`,
			echoes: []string{"0"}, fails: 2, listRuns: 1, fEvents: []string{"ok", "failed"}},
		{name: "stop by default", src: loop + `
  - {id: echo, module: test.echo, with: {value: "{{ steps.list.n }}"}}
`, status: engine.StatusFailed, err: `step "f": failed on call 2`,
			echoes: []string{"0"}, fails: 2, listRuns: 1, fEvents: []string{"ok", "failed"}},
		{name: "a listing that emitted is not retried", src: `
  - id: list
    module: test.list
    with: {n: 5, fail_after: 2}
    on_error: {retry: {attempts: 3}}
  - {id: echo, module: test.echo, with: {value: "{{ steps.list.n }}"}}
`, status: engine.StatusFailed, err: `step "list": listing broke off`, echoes: []string{"0", "1"}, listRuns: 1},
		{name: "a listing that emitted nothing is retried", src: `
  - id: list
    module: test.list
    with: {n: 2, fail_runs: 1}
    on_error: {retry: {attempts: 3, backoff: 5s}}
  - {id: echo, module: test.echo, with: {value: "{{ steps.list.n }}"}}
`, status: engine.StatusSucceeded, echoes: []string{"0", "1"}, listRuns: 2, sleeps: []time.Duration{5 * time.Second}},
		{name: "a later step's failure is not the listing's", src: `
  - id: list
    module: test.list
    with: {n: 3}
    on_error: {retry: {attempts: 3}}
  - {id: f, module: test.fail, with: {value: "{{ steps.list.n }}", fail: "{{ steps.list.n == 1 }}"}}
`, status: engine.StatusFailed, err: `step "f": failed on call 2`, fails: 2, listRuns: 1, fEvents: []string{"ok", "failed"}},
		{name: "bad inputs are not retried, retry's then applies", src: `
  - id: list
    module: test.list
    with: {n: 2}
  - id: echo
    module: test.echo
    with: {num: "{{ steps.list.n == 0 ? 'abc' : 7 }}", value: "{{ steps.list.n }}"}
    on_error: {retry: {attempts: 3, then: ignore}}
`, status: engine.StatusSucceeded, echoes: []string{"1"}, listRuns: 1, handled: [3]int64{1, 0, 0}},
		{name: "bad inputs stop the run", src: `
  - {id: it, module: flow.iterate, with: {items: "{{ ['abc'] }}"}}
  - {id: echo, module: test.echo, with: {num: "{{ steps.it.value }}"}}
`, status: engine.StatusFailed, err: `step "echo": with.num: must be a whole number, got "abc"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := setup(t)
			res := h.run(t, t.Context(), "name: t\nsteps:"+tt.src, nil)
			wantStatus(t, res, tt.status)
			if tt.err != "" {
				if res.Err == nil || res.Err.Error() != tt.err {
					t.Errorf("error %q, want %q", res.Err, tt.err)
				}
				var se *engine.StepError
				if !errors.As(res.Err, &se) || !strings.Contains(tt.err, fmt.Sprintf("step %q", se.StepID)) {
					t.Errorf("error %v does not hold the StepError of the failing step", res.Err)
				}
			}
			wantStrings(t, "echo calls", h.seen("test.echo"), tt.echoes)
			if got := [3]int64{res.Ignored, res.Resumed, res.Broken}; got != tt.handled || res.Stopped != tt.stopped {
				t.Errorf("handled (ignored, resumed, broken) %v stopped %q, want %v %q", got, res.Stopped, tt.handled, tt.stopped)
			}
			if n := len(h.seen("test.fail")); n != tt.fails {
				t.Errorf("test.fail called %d times, want %d", n, tt.fails)
			}
			if n := len(h.seen("test.list")); n != tt.listRuns {
				t.Errorf("test.list ran %d times, want %d", n, tt.listRuns)
			}
			if !reflect.DeepEqual(h.sleeps, tt.sleeps) && (len(h.sleeps) > 0 || len(tt.sleeps) > 0) {
				t.Errorf("sleeps %v, want %v", h.sleeps, tt.sleeps)
			}
			wantStrings(t, "events of f", h.rec.statuses("f"), tt.fEvents)
		})
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	h := setup(t)
	start := time.Now()
	res := h.run(t, t.Context(), `name: t
steps:
  - {id: wait, module: test.block, timeout: 50ms}
  - {id: echo, module: test.echo, with: {value: x}}
`, nil)
	wantStatus(t, res, engine.StatusFailed)
	if res.Err == nil || !strings.HasPrefix(res.Err.Error(), `step "wait": timed out after 50ms`) {
		t.Errorf("error %q, want it to say the step timed out after 50ms", res.Err)
	}
	if !errors.Is(res.Err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", res.Err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the run took %v", d)
	}
	if len(h.seen("test.echo")) != 0 {
		t.Errorf("the step after a timed-out step ran")
	}
}

func TestTimeoutRetried(t *testing.T) {
	t.Parallel()
	h := setup(t)
	res := h.run(t, t.Context(), `name: t
steps:
  - {id: wait, module: test.block, timeout: 10ms, on_error: {retry: {attempts: 2, backoff: 1s, then: ignore}}}
`, nil)
	wantStatus(t, res, engine.StatusSucceeded)
	if n := len(h.seen("test.block")); n != 3 {
		t.Errorf("test.block ran %d times, want 3", n)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	h := setup(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	h.onEcho = func(v string) {
		if v == "1" {
			cancel()
		}
	}
	res := h.run(t, ctx, `name: t
steps:
  - {id: list, module: test.list, with: {n: 5}}
  - {id: echo, module: test.echo, with: {value: "{{ steps.list.n }}"}}
`, nil)
	if res.Status != engine.StatusCancelled {
		t.Errorf("status %q, want cancelled", res.Status)
	}
	if !errors.Is(res.Err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", res.Err)
	}
	wantStrings(t, "echo calls", h.seen("test.echo"), []string{"0", "1"})
	if len(h.rec.finishes) != 1 || h.rec.finishes[0].Status != engine.StatusCancelled {
		t.Errorf("FinishRun: %+v, want status cancelled", h.rec.finishes)
	}
}

func TestCancelDuringBlockingStep(t *testing.T) {
	t.Parallel()
	h := setup(t)
	// Cancelled once the step is surely running, not after a time that a
	// busy machine may spend before the step starts.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	h.onBlock = cancel
	res := h.run(t, ctx, `name: t
steps:
  - {id: wait, module: test.block, on_error: {retry: {attempts: 5}}}
`, nil)
	if res.Status != engine.StatusCancelled {
		t.Errorf("status %q, want cancelled", res.Status)
	}
	// A cancelled run is not retried.
	if n := len(h.seen("test.block")); n != 1 {
		t.Errorf("test.block ran %d times, want 1", n)
	}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	h := setup(t)
	res := h.run(t, t.Context(), `name: t
steps:
  - {id: list, module: test.list, with: {n: 2}}
  - {id: echo, module: test.echo, with: {value: "v{{ steps.list.n }}"}}
  - {id: all, module: flow.aggregate, with: {from: echo}}
`, nil)
	wantStatus(t, res, engine.StatusSucceeded)
	var got []string
	for _, ev := range h.rec.events {
		got = append(got, fmt.Sprintf("%s/%d/%s in=%v out=%v", ev.StepID, ev.Step, ev.Status, ev.Input, ev.Output))
	}
	want := []string{
		"list/0/ok in=map[fail_after:0 fail_runs:0 n:2] out=map[n:0]",
		"echo/1/ok in=map[value:v0] out=map[value:v0]",
		"list/0/ok in=map[fail_after:0 fail_runs:0 n:2] out=map[n:1]",
		"echo/1/ok in=map[value:v1] out=map[value:v1]",
		"all/2/ok in=map[] out=map[count:2]",
	}
	wantStrings(t, "events", got, want)
	for _, ev := range h.rec.events {
		if ev.Module == "" || ev.Started.IsZero() {
			t.Errorf("event %+v lacks a module or start time", ev)
		}
	}
}

func TestRunChecksInputsFirst(t *testing.T) {
	t.Parallel()
	h := setup(t)
	f := h.parse(t, "name: t\ninputs:\n  n: {type: integer}\nsteps:\n  - {id: e, module: test.echo}\n")
	e := engine.New(engine.Options{Registry: h.reg, Recorder: h.rec})
	res, err := e.Run(t.Context(), f, map[string]any{"n": "x"}, nil)
	var ie *module.InputError
	if res != nil || !errors.As(err, &ie) || ie.Field != "inputs.n" {
		t.Errorf("Run = %v, %v; want an InputError for inputs.n", res, err)
	}
	if len(h.rec.starts) != 0 {
		t.Errorf("a run with bad inputs was recorded")
	}
}

func TestPlanErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, src, err string }{
		{"from is an expression", `
  - {id: list, module: test.list}
  - {id: all, module: flow.aggregate, with: {from: "{{ 'list' }}"}}
`, `step "all": with.from must be a step id, not an expression`},
		{"from is not an earlier step", `
  - {id: list, module: test.list}
  - {id: all, module: flow.aggregate, with: {from: nosuch}}
`, `step "all": with.from: "nosuch" is not an earlier step`},
		{"two aggregates of one loop", `
  - {id: list, module: test.list}
  - {id: all, module: flow.aggregate, with: {from: list}}
  - {id: again, module: flow.aggregate, with: {from: list}}
`, `step "again": step "all" already closes the loop of "list"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := setup(t)
			f := h.parse(t, "name: t\nsteps:"+tt.src)
			e := engine.New(engine.Options{Registry: h.reg, Recorder: h.rec})
			_, err := e.Run(t.Context(), f, nil, nil)
			if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
				t.Errorf("error %v, want %q", err, tt.err)
			}
		})
	}
}

func TestCheckInputs(t *testing.T) {
	t.Parallel()
	h := setup(t)
	f := h.parse(t, `name: t
inputs:
  date: {type: string, required: true}
  n: {type: integer, default: 7}
  x: {type: number}
  b: {type: boolean}
steps:
  - {id: e, module: test.echo}
`)
	tests := []struct {
		name  string
		given map[string]any
		want  map[string]any
		err   string
	}{
		{"unknown input", map[string]any{"date": "d", "nope": 1}, nil, "inputs.nope: is not an input of flow t"},
		{"missing required", map[string]any{"n": 1}, nil, "inputs.date: is required"},
		{"wrong type", map[string]any{"date": "d", "n": "x"}, nil, `inputs.n: must be a whole number, got "x"`},
		{"wrong boolean", map[string]any{"date": "d", "b": "maybe"}, nil, `inputs.b: must be true or false, got "maybe"`},
		// An optional input not given is its type's zero value, never nil.
		{"default applied", map[string]any{"date": "d"}, map[string]any{"date": "d", "n": int64(7), "x": 0.0, "b": false}, ""},
		{"text converted", map[string]any{"date": 5, "n": "12", "x": "2.5", "b": "true"},
			map[string]any{"date": "5", "n": int64(12), "x": 2.5, "b": true}, ""},
		{"JSON numbers", map[string]any{"date": "d", "n": 3.0, "x": 1.0}, map[string]any{"date": "d", "n": int64(3), "x": 1.0, "b": false}, ""},
	}
	for _, tt := range tests {
		got, err := engine.CheckInputs(f, tt.given)
		if tt.err != "" {
			var ie *module.InputError
			if err == nil || err.Error() != tt.err || !errors.As(err, &ie) {
				t.Errorf("%s: error %v, want InputError %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %#v, %v; want %#v", tt.name, got, err, tt.want)
		}
	}
}

// BenchmarkEngineOverhead measures what the engine adds per step and
// bundle: a listing of b.N bundles through two steps with templated inputs,
// with the no-op recorder.
func BenchmarkEngineOverhead(b *testing.B) {
	reg := &module.Registry{}
	reg.Register(builtin.Modules()...)
	reg.Register(noop, &module.Module{
		Name: "test.count", Many: true,
		Fields:  []module.Field{{Name: "n", Type: module.Int, Required: true}},
		Outputs: []module.Output{{Name: "n", Type: module.Int}, {Name: "key"}},
		Run: func(ctx context.Context, _ module.Env, in module.Values, emit func(module.Bundle) error) error {
			for i := range in.Int("n") {
				if err := emit(module.Bundle{"n": i, "key": "reports/daily/file.csv"}); err != nil {
					return err
				}
			}
			return nil
		},
	})
	f, err := flow.Parse("bench.yaml", []byte(`name: bench
inputs:
  n: {type: integer, required: true}
steps:
  - {id: list, module: test.count, with: {n: "{{ inputs.n }}"}}
  - {id: a, module: test.noop, with: {a: "copy/{{ steps.list.key }}", b: "{{ steps.list.n + 1 }}"}}
  - {id: b, module: test.noop, with: {a: "{{ steps.list.key }}", b: "{{ steps.list.n }}"}}
`), reg)
	if err != nil {
		b.Fatal(err)
	}
	const steps = 3
	e := engine.New(engine.Options{Registry: reg, SpoolDir: b.TempDir()})
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	res, err := e.Run(context.Background(), f, map[string]any{"n": b.N}, nil)
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil || res.Outputs["b"] != int64(b.N) {
		b.Fatalf("run: %v, outputs %v", err, res.Outputs)
	}
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N*steps), "ns/step-bundle")
}

// TestTriggerTimesAreTimes: trigger data arrives as JSON (a time as RFC
// 3339 text); a run reads each key as its trigger declares it, so a
// trigger's time is a time, as a step's is.
func TestTriggerTimesAreTimes(t *testing.T) {
	t.Parallel()
	h := setup(t)
	f := h.parse(t, `name: t
trigger:
  schedule: {cron: "0 6 * * *"}
steps:
  - {id: echo, module: test.echo, with: {value: "{{ format(trigger.scheduledAt, 'YYYY/MM/DD HH:mm', 'Europe/Berlin') }}"}}
`)
	e := engine.New(engine.Options{Registry: h.reg, Recorder: h.rec, SpoolDir: t.TempDir()})
	res, err := e.Run(t.Context(), f, nil, map[string]any{"type": "schedule", "scheduledAt": "2026-12-01T06:00:00Z"})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, res, engine.StatusSucceeded)
	wantStrings(t, "echo calls", h.calls["test.echo"], []string{"2026/12/01 07:00"})
}

// TestSpoolMadeWhenNeeded: a run's spool folder is made when the first
// step whose module spools runs (it sees the folder, which exists), not
// for steps that do not (they see none), and it is gone after the run.
func TestSpoolMadeWhenNeeded(t *testing.T) {
	t.Parallel()
	h := setup(t)
	parent := t.TempDir()
	entries := func() int {
		t.Helper()
		des, err := os.ReadDir(parent)
		if err != nil {
			t.Fatal(err)
		}
		return len(des)
	}
	type seen struct {
		spool   string
		folders int
	}
	var got []seen
	look := func(env module.Env) {
		s := seen{spool: env.SpoolDir, folders: entries()}
		if s.spool != "" {
			if fi, err := os.Stat(s.spool); err != nil || !fi.IsDir() || filepath.Dir(s.spool) != parent {
				t.Errorf("the spool %q is not a folder in %q: %v", s.spool, parent, err)
			}
		}
		got = append(got, s)
	}
	h.reg.Register(
		&module.Module{
			Name:    "test.plain",
			Outputs: []module.Output{{Name: "ok", Type: module.Bool}},
			Run: func(_ context.Context, env module.Env, _ module.Values, emit func(module.Bundle) error) error {
				look(env)
				return emit(module.Bundle{"ok": true})
			},
		},
		&module.Module{
			Name:    "test.spooler",
			Outputs: []module.Output{{Name: "file", Type: module.FileRef, FlowOnly: true}},
			Run: func(_ context.Context, env module.Env, _ module.Values, emit func(module.Bundle) error) error {
				look(env)
				return emit(module.Bundle{})
			},
		},
	)
	f := h.parse(t, `name: t
steps:
  - {id: a, module: test.plain}
  - {id: b, module: test.spooler}
  - {id: c, module: test.spooler}
  - {id: d, module: test.plain}
`)
	e := engine.New(engine.Options{Registry: h.reg, Recorder: h.rec, SpoolDir: parent})
	res, err := e.Run(t.Context(), f, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, res, engine.StatusSucceeded)
	if len(got) != 4 {
		t.Fatalf("%d steps ran, want 4: %+v", len(got), got)
	}
	if got[0] != (seen{"", 0}) || got[3].spool != "" {
		t.Errorf("steps that do not spool saw %+v and %+v, want no spool (and no folder made before the first that does)", got[0], got[3])
	}
	if got[1].spool == "" || got[1].folders != 1 || got[2].spool != got[1].spool {
		t.Errorf("spooling steps saw %+v and %+v, want one folder, the same", got[1], got[2])
	}
	if n := entries(); n != 0 {
		t.Errorf("%d entries left in the spool's parent after the run", n)
	}
}
