// Package engine runs flows. Bundles go through the steps depth first: a
// step that emits many bundles (a listing) runs the rest of the flow once
// per bundle, in order, before it fetches the next, so memory holds one
// page of a listing, not the listing. An aggregate closes such a loop and
// continues once with the collected items.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/module"
	flowtrigger "github.com/s3flow/s3flow/internal/trigger"
)

// Run statuses.
const (
	StatusRunning    = "running"
	StatusSucceeded  = "succeeded"
	StatusFailed     = "failed"
	StatusIncomplete = "incomplete" // a break stopped some bundles
	StatusCancelled  = "cancelled"
	// StatusWaiting is a run suspended while a step waits (RunOptions
	// Suspend): not finished, to be resumed.
	StatusWaiting = "waiting"
)

// Step event statuses.
const (
	EventOK         = "ok"
	EventFiltered   = "filtered"
	EventFailed     = "failed"
	EventRetried    = "retried"
	EventIgnored    = "ignored"
	EventResumed    = "resumed"
	EventBroken     = "break"
	EventReused     = "reused" // on resume: the recorded result of a step done before
	EventRunResumed = "resumed-run"
	// EventWaiting is a check of a step that waits which found it must
	// wait on; its output holds the wait's state (see Waits).
	EventWaiting = "waiting"
)

// Resolver returns ready-to-use connections by name.
type Resolver interface {
	Connection(ctx context.Context, name string) (connection.Connection, error)
}

// Resumer is a Recorder that can tell what a run already did, so that a run
// interrupted (a crash, a killed worker) resumes without doing it again.
type Resumer interface {
	// Completed returns the outputs of the single-result steps a run
	// completed, by Event.Path + "|" + step id, and the run's last seq.
	Completed(ctx context.Context, runID string) (map[string]map[string]any, int64, error)
}

// WaitResumer is a Resumer that can tell where a run's steps that wait
// were in their wait, so that a suspended run's wait continues (its
// timeout is measured from the first check) instead of starting over.
type WaitResumer interface {
	// Waits returns the output of the last EventWaiting of each step that
	// was waiting when the run stopped (its last event for the bundle), by
	// Event.Path + "|" + step id. It is asked only of a run whose
	// Completed seq is above 0: a wait is a recorded event.
	Waits(ctx context.Context, runID string) (map[string]map[string]any, error)
}

// Recorder keeps the run history. It masks secret-looking values of what
// it is given (inputs, trigger data, bundles): the engine does not.
// Event may be called by many goroutines at once (a step with
// concurrency), not necessarily in Seq order.
type Recorder interface {
	StartRun(ctx context.Context, run RunInfo) error
	Event(ctx context.Context, ev Event) error
	FinishRun(ctx context.Context, end RunEnd) error
}

// RunEnd is how a run ended, as it is recorded.
type RunEnd struct {
	ID     string
	Status string
	// Error is why a run failed or was cancelled; for an incomplete run,
	// which bundle a break stopped first, and why.
	Error    string
	Finished time.Time
	// Ignored and Resumed count the step errors that on_error's ignore and
	// resume handled, so that a run that succeeded says what it passed
	// over; Broken counts the bundles a break stopped.
	Ignored, Resumed, Broken int64
}

// RunInfo describes a run as it starts.
type RunInfo struct {
	ID       string
	Flow     string
	FlowFile string
	FlowHash string
	Inputs   map[string]any
	Trigger  map[string]any
	// InputsCut says Inputs or Trigger, as recorded, are not all that was
	// given (long text, a file): a retry cannot run with them.
	InputsCut bool
	// Until is the step the run stops after ("" the whole flow).
	Until   string
	Started time.Time
	// HistoryDetail is the flow's history_detail (0: unset).
	HistoryDetail int
}

// Event is one step's work on one bundle.
type Event struct {
	RunID string
	Seq   int64
	// Path names the bundle: the listing steps and bundle numbers that led
	// to it ("list#3/files#0"); "" outside any listing.
	Path    string
	StepID  string
	Step    int
	Module  string
	Attempt int
	Status  string
	Input   map[string]any
	Output  map[string]any
	// OutputCut says Output, as recorded, is not all the step gave (long
	// text, a file's data): a resumed run runs the step again.
	OutputCut bool
	Error     string
	Started   time.Time
	Duration  time.Duration
	// Err is the error behind Error when a module's attempt failed, for
	// recorders that tell errors apart (metrics by S3 error code). It is
	// not stored.
	Err error
}

// Options configure an Engine.
type Options struct {
	Registry *module.Registry
	Resolver Resolver
	Recorder Recorder
	Logger   *slog.Logger
	// SpoolDir holds downloaded files while their bundle is in flight; a
	// folder per run is made inside it (default: the system temp dir).
	SpoolDir string
	// Files is the local file system steps may touch: all of it for the
	// CLI's runs, the --files-root folder (or nothing, nil) for a server's.
	Files *module.LocalFiles
	// Sleep waits between retries; tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxBundles bounds the bundles that listing steps may emit in one run
	// (default DefaultMaxBundles): a flow that fans out without end stops
	// with a clear error. Aggregates, which hold what they collect in
	// memory, are bounded by MaxAggregate (default DefaultMaxAggregate).
	MaxBundles, MaxAggregate int64
}

// The default fan-out bounds: far above any listing s3flow is meant for,
// far below what would exhaust memory.
const (
	DefaultMaxBundles   = 100_000_000
	DefaultMaxAggregate = 1_000_000
)

// ErrTooManyBundles is the fan-out limit's error.
var ErrTooManyBundles = errors.New("too many bundles")

// Engine runs flows.
type Engine struct{ opts Options }

// New returns an engine.
func New(opts Options) *Engine {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Recorder == nil {
		opts.Recorder = nopRecorder{}
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	if opts.MaxBundles <= 0 {
		opts.MaxBundles = DefaultMaxBundles
	}
	if opts.MaxAggregate <= 0 {
		opts.MaxAggregate = DefaultMaxAggregate
	}
	return &Engine{opts: opts}
}

// Result is how a run ended.
type Result struct {
	RunID  string
	Status string
	Err    error
	// Outputs counts the bundles each step emitted, by step id.
	Outputs map[string]int64
	// Ignored, Resumed and Broken count what on_error handled (see
	// RunEnd); Stopped says which bundle a break stopped first, and why.
	Ignored, Resumed, Broken int64
	Stopped                  string
}

// Run runs f with inputs (checked against the flow's declarations, defaults
// filled in) and trigger data. The returned error is the run's error, also
// in Result.Err; recording failures are returned too.
func (e *Engine) Run(ctx context.Context, f *flow.Flow, inputs, trigger map[string]any) (*Result, error) {
	return e.Start(ctx, f, inputs, trigger, RunOptions{})
}

// RunOptions identify a run given by a queue.
type RunOptions struct {
	// ID is the run's id, made by whoever accepted the run; "" makes one.
	ID string
	// Resume continues a run that was interrupted: single-result steps it
	// completed for a bundle are not run again (their recorded output is
	// used), unless they produced a file, which is fetched again.
	Resume bool
	// Suspend ends the run, as StatusWaiting, when a step waits
	// (module.Waiting), instead of waiting in the process: Result.Err is
	// then the *module.Waiting, which says when to resume the run (with
	// Resume). Without it the engine sleeps between a waiting step's
	// checks.
	Suspend bool
	// Until runs the steps up to and including the step with this id
	// only ("run up to here"): the steps after it are left out, as if the
	// flow ended there, and the history says so.
	Until string
}

// Start runs f as Run does, under the given id, resuming when asked.
func (e *Engine) Start(ctx context.Context, f *flow.Flow, inputs, trigger map[string]any, o RunOptions) (*Result, error) {
	checked, err := CheckInputs(f, inputs)
	if err != nil {
		return nil, err
	}
	if f, err = f.Until(o.Until); err != nil {
		return nil, fmt.Errorf("until: %w", err)
	}
	p, err := newPlan(f)
	if err != nil {
		return nil, err
	}
	id := o.ID
	if id == "" {
		id = NewRunID()
	}
	spool := &spool{parent: e.opts.SpoolDir, prefix: "s3flow-run-" + id + "-"}
	defer spool.remove()
	r := &runner{
		e: e, f: f, plan: p, id: id, spool: spool, inputs: checked, trigger: flowtrigger.Typed(trigger), aggs: map[int]*collected{},
		shared: &runShared{conns: map[string]connection.Connection{}, outputs: map[string]int64{}, handled: map[string]int64{},
			waits: map[string]module.WaitState{}},
		suspend: o.Suspend,
	}
	if o.Resume {
		if res, ok := e.opts.Recorder.(Resumer); ok {
			done, seq, err := res.Completed(ctx, id)
			if err != nil {
				return nil, fmt.Errorf("read what run %s did before: %w", id, err)
			}
			r.done, r.shared.seq = done, seq
		}
		// A run that recorded no events yet (queued, never started: most
		// runs a worker takes) waited for nothing.
		if res, ok := e.opts.Recorder.(WaitResumer); ok && r.shared.seq > 0 {
			waits, err := res.Waits(ctx, id)
			if err != nil {
				return nil, fmt.Errorf("read what run %s waited for before: %w", id, err)
			}
			for key, out := range waits {
				if ws, ok := waitState(out); ok {
					r.shared.waits[key] = ws
				}
			}
		}
	}
	start := time.Now().UTC()
	// Inputs and trigger data are recorded like bundles: truncated (the
	// Recorder masks secret-looking values).
	recInputs, inputsWhole := recordWhole(checked)
	recTrigger, triggerWhole := recordWhole(trigger)
	if err := e.opts.Recorder.StartRun(ctx, RunInfo{ID: id, Flow: f.Name, FlowFile: f.File, FlowHash: f.Hash,
		Inputs: recInputs, Trigger: recTrigger, InputsCut: !inputsWhole || !triggerWhole, Until: o.Until, Started: start,
		HistoryDetail: f.HistoryDetail}); err != nil {
		return nil, fmt.Errorf("record the run: %w", err)
	}
	if o.Resume && r.shared.seq > 0 {
		// The run did some of its work before an interruption.
		r.record(ctx, Event{Status: EventRunResumed, Started: start,
			Output: map[string]any{"completedSteps": len(r.done)}})
	}
	runErr := r.from(ctx, 0, map[string]any{})
	var ds *downstream
	for errors.As(runErr, &ds) {
		runErr = ds.err
	}
	status := StatusSucceeded
	var waiting *module.Waiting
	switch {
	case o.Suspend && errors.As(runErr, &waiting) && ctx.Err() == nil:
		status = StatusWaiting
	case runErr != nil && ctx.Err() != nil:
		status, runErr = StatusCancelled, fmt.Errorf("cancelled: %w", context.Cause(ctx))
	case runErr != nil:
		status = StatusFailed
	case r.shared.broken:
		status = StatusIncomplete
	}
	sh := r.shared
	stopped := ""
	if sh.broken {
		stopped = sh.firstBreak
		if sh.handled[EventBroken] > 1 {
			stopped += fmt.Sprintf(" (and %d more bundle(s))", sh.handled[EventBroken]-1)
		}
	}
	end := RunEnd{ID: id, Status: status, Error: stopped, Finished: time.Now().UTC(),
		Ignored: sh.handled[EventIgnored], Resumed: sh.handled[EventResumed], Broken: sh.handled[EventBroken]}
	if runErr != nil {
		end.Error = runErr.Error()
	}
	if status == StatusWaiting {
		// Not finished: the run resumes when the wait is over.
		end.Finished = time.Time{}
	}
	// The run is recorded even when the caller's context has ended.
	recErr := e.opts.Recorder.FinishRun(context.WithoutCancel(ctx), end)
	res := &Result{RunID: id, Status: status, Err: runErr, Outputs: sh.outputs,
		Ignored: end.Ignored, Resumed: end.Resumed, Broken: end.Broken, Stopped: stopped}
	if recErr != nil {
		return res, errors.Join(runErr, fmt.Errorf("record the end of run %s: %w", id, recErr))
	}
	return res, runErr
}

// CheckInputs checks run inputs against the flow's declarations: unknown
// names, missing required ones, wrong types; defaults are filled in.
func CheckInputs(f *flow.Flow, given map[string]any) (map[string]any, error) {
	out := map[string]any{}
	declared := map[string]flow.Input{}
	for _, in := range f.Inputs {
		declared[in.Name] = in
	}
	for name := range given {
		if _, ok := declared[name]; !ok {
			return nil, &module.InputError{Field: "inputs." + name, Rule: fmt.Sprintf("is not an input of flow %s", f.Name)}
		}
	}
	for _, in := range f.Inputs {
		v, ok := given[in.Name]
		if !ok {
			if in.Default == nil {
				if in.Required {
					return nil, &module.InputError{Field: "inputs." + in.Name, Rule: "is required"}
				}
				// An optional input not given is its type's zero value
				// ("", 0, false), never nil: inputs.day != '' means given.
				out[in.Name] = flow.ZeroInput(in)
				continue
			}
			v = in.Default
		}
		cv, err := flow.ConvertInput(in, v)
		if err != nil {
			return nil, &module.InputError{Field: "inputs." + in.Name, Rule: err.Error()}
		}
		out[in.Name] = cv
	}
	return out, nil
}

type runner struct {
	e       *Engine
	f       *flow.Flow
	plan    *plan
	id      string
	spool   *spool
	inputs  map[string]any
	trigger map[string]any

	// shared is what every branch of the run shares.
	shared *runShared
	// path is the stack of listing bundles the current bundle came from.
	path []string
	// done holds what a resumed run completed before (see RunOptions).
	done map[string]map[string]any
	// suspend: see RunOptions.Suspend.
	suspend bool
	// aggs are the open aggregates by step index. A parallel branch (see
	// fanOut) collects into its own, merged in bundle order.
	aggs map[int]*collected
}

// runShared is the state of a run that its parallel branches share.
type runShared struct {
	mu      sync.Mutex
	seq     int64
	broken  bool
	outputs map[string]int64
	// handled counts the step errors on_error handled, by event status
	// (ignored, resumed, break); firstBreak names the first bundle a break
	// stopped, and why.
	handled    map[string]int64
	firstBreak string
	conns      map[string]connection.Connection
	// fanned counts the bundles listing steps emitted.
	fanned int64
	// waits are the states of steps that wait, by doneKey.
	waits map[string]module.WaitState
}

// count adds one bundle to a step's output count.
func (r *runner) count(stepID string) {
	r.shared.mu.Lock()
	r.shared.outputs[stepID]++
	r.shared.mu.Unlock()
}

// fanned counts one bundle of a listing step against the run's limit.
func (r *runner) fanned(stepID string) error {
	r.shared.mu.Lock()
	defer r.shared.mu.Unlock()
	r.shared.fanned++
	if r.shared.fanned > r.e.opts.MaxBundles {
		return fmt.Errorf("step %q: %w: the run passed its limit of %d bundles from listing steps (--max-bundles)", stepID, ErrTooManyBundles, r.e.opts.MaxBundles)
	}
	return nil
}

// fork makes the runner of a parallel branch: the bundle elem of a
// listing, with aggregate buffers of its own.
func (r *runner) fork(elem string) *runner {
	c := *r
	c.path = append(slices.Clip(r.path), elem)
	c.aggs = make(map[int]*collected, len(r.aggs))
	for a := range r.aggs {
		c.aggs[a] = &collected{}
	}
	return &c
}

// downstream wraps an error from a later step, so that the step that
// passed the bundle on does not handle it as its own.
type downstream struct{ err error }

func (d *downstream) Error() string { return d.err.Error() }
func (d *downstream) Unwrap() error { return d.err }

func passOn(err error) error {
	if err == nil {
		return nil
	}
	var ds *downstream
	if errors.As(err, &ds) {
		return err
	}
	return &downstream{err}
}

// from runs steps i.. for the bundle whose earlier step outputs are scope.
func (r *runner) from(ctx context.Context, i int, scope map[string]any) error {
	if i == len(r.f.Steps) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// A loop is opened before its step runs, whatever the step is: a
	// filter or an aggregate may start the stretch an aggregate collects.
	if agg, ok := r.plan.closes[i]; ok {
		return r.loop(ctx, i, agg, scope)
	}
	return r.step(ctx, i, scope)
}

// step runs step i for one bundle.
func (r *runner) step(ctx context.Context, i int, scope map[string]any) error {
	st := r.f.Steps[i]
	switch st.Module.Control {
	case module.Filters:
		return r.filter(ctx, i, scope)
	case module.Collects:
		// A bundle of the loop reaches the aggregate: collect, and end this
		// branch; the aggregate continues once the loop is done.
		c := r.aggs[i]
		if c == nil {
			return fmt.Errorf("step %q: no loop is open for this aggregate (a bug in s3flow's plan)", st.ID)
		}
		if v := st.With["value"]; v != nil {
			x, err := v.Eval(evalContext(ctx, st), r.env(scope))
			if err != nil {
				return fmt.Errorf("step %q: value: %w", st.ID, err)
			}
			n, ok := number(x)
			if !ok {
				return fmt.Errorf("step %q: value must be a number, got %s", st.ID, describe(x))
			}
			c.add(n)
		}
		c.count++
		if !r.plan.keep[i] && st.Module.Collect == nil {
			return nil
		}
		if c.sink == nil && int64(len(c.items)) >= r.e.opts.MaxAggregate {
			return fmt.Errorf("step %q: %w: an aggregate holds at most %d items in memory (--max-aggregate); one with items: false keeps none", st.ID, ErrTooManyBundles, r.e.opts.MaxAggregate)
		}
		if err := c.collect(scope[r.plan.aggFrom[i]]); err != nil {
			return &StepError{st.ID, err}
		}
		return nil
	}
	return r.runStep(ctx, i, scope)
}

// loop runs step i, whose bundles the aggregate agg collects, then the
// steps after the aggregate once with the collected items.
func (r *runner) loop(ctx context.Context, i, agg int, scope map[string]any) error {
	st := r.f.Steps[agg]
	c := &collected{}
	if st.Module.Collect != nil {
		// Its inputs see the steps before the loop.
		in, menv, err := r.prepare(ctx, st, r.env(scope))
		if err == nil {
			c.sink, err = st.Module.Collect(ctx, menv, in)
		}
		if err != nil {
			r.record(ctx, Event{StepID: st.ID, Step: agg, Module: st.Module.Name, Status: EventFailed, Error: err.Error(), Started: time.Now()})
			return &StepError{st.ID, err}
		}
	}
	r.aggs[agg] = c
	err := r.step(ctx, i, scope)
	delete(r.aggs, agg)
	if err != nil {
		if c.sink != nil {
			c.sink.Abort()
		}
		return err
	}
	var out module.Bundle
	var rec map[string]any
	if c.sink != nil {
		if out, err = c.sink.Close(); err != nil {
			r.record(ctx, Event{StepID: st.ID, Step: agg, Module: st.Module.Name, Status: EventFailed, Error: err.Error(), Started: time.Now()})
			return &StepError{st.ID, err}
		}
		rec = recordable(out)
	} else {
		out = c.bundle(r.plan.keep[agg], st.With["value"] != nil)
		rec = withoutItems(out)
	}
	next := withStep(r.plan.before(scope, i), st.ID, out)
	r.record(ctx, Event{StepID: st.ID, Step: agg, Module: st.Module.Name, Status: EventOK,
		Output: rec, Started: time.Now()})
	r.count(st.ID)
	err = r.from(ctx, agg+1, next)
	removeSpooled(out)
	return passOn(err)
}

func withStep(scope map[string]any, id string, b module.Bundle) map[string]any {
	next := make(map[string]any, len(scope)+1)
	maps.Copy(next, scope)
	next[id] = b
	return next
}

func (r *runner) filter(ctx context.Context, i int, scope map[string]any) error {
	st := r.f.Steps[i]
	start := time.Now()
	v, err := st.With["condition"].Eval(evalContext(ctx, st), r.env(scope))
	ev := Event{StepID: st.ID, Step: i, Module: st.Module.Name, Started: start}
	if err != nil {
		ev.Status, ev.Error = EventFailed, err.Error()
		r.record(ctx, ev)
		return fmt.Errorf("step %q: condition: %w", st.ID, err)
	}
	pass, ok := v.(bool)
	if !ok {
		ev.Status, ev.Error = EventFailed, fmt.Sprintf("the condition gave %T, not true or false", v)
		r.record(ctx, ev)
		return fmt.Errorf("step %q: condition: %s", st.ID, ev.Error)
	}
	ev.Duration = time.Since(start)
	if !pass {
		ev.Status = EventFiltered
		r.record(ctx, ev)
		return nil
	}
	ev.Status = EventOK
	r.record(ctx, ev)
	r.count(st.ID)
	// The bundle goes on unchanged. Under the filter's id it is the bundle
	// of the step before, so that an aggregate "from" the filter collects
	// the bundles that passed.
	next := scope
	if i > 0 {
		if b, ok := scope[r.f.Steps[i-1].ID].(module.Bundle); ok {
			next = withStep(scope, st.ID, b)
		}
	}
	return passOn(r.from(ctx, i+1, next))
}

func (r *runner) env(scope map[string]any) map[string]any {
	return flow.Env(r.inputs, r.trigger, scope)
}

func (r *runner) record(ctx context.Context, ev Event) {
	r.shared.mu.Lock()
	r.shared.seq++
	ev.RunID, ev.Seq, ev.Path = r.id, r.shared.seq, r.pathString()
	r.shared.mu.Unlock()
	// Outside the lock: a recorder that commits each event before it
	// returns lets the branches that record at once share a commit.
	if err := r.e.opts.Recorder.Event(ctx, ev); err != nil {
		r.e.opts.Logger.WarnContext(ctx, "cannot record a step event", "run", r.id, "step", ev.StepID, "error", err)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

type nopRecorder struct{}

func (nopRecorder) StartRun(context.Context, RunInfo) error { return nil }
func (nopRecorder) Event(context.Context, Event) error      { return nil }
func (nopRecorder) FinishRun(context.Context, RunEnd) error { return nil }

func (r *runner) pathString() string { return strings.Join(r.path, "/") }

// doneKey identifies a step's work on the current bundle across restarts.
func (r *runner) doneKey(stepID string) string { return r.pathString() + "|" + stepID }
