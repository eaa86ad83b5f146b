package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
	"unicode/utf8"

	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/module"
)

// StepError is a step's failure, naming the step.
type StepError struct {
	StepID string
	Err    error
}

func (e *StepError) Error() string { return fmt.Sprintf("step %q: %v", e.StepID, e.Err) }
func (e *StepError) Unwrap() error { return e.Err }

// errRollback stops the whole run at once.
var errRollback = errors.New("stopped by on_error: rollback")

// runStep runs step i for one bundle, handles its errors as on_error says,
// and passes each bundle it emits on to the next step.
func (r *runner) runStep(ctx context.Context, i int, scope map[string]any) error {
	st := r.f.Steps[i]
	in, menv, err := r.prepare(ctx, st, r.env(scope))
	if err != nil {
		// Bad inputs do not get better by retrying: retry's "then" applies.
		r.record(ctx, Event{StepID: st.ID, Step: i, Module: st.Module.Name, Status: EventFailed, Error: err.Error(), Started: time.Now()})
		action := st.OnError.Action
		if action == flow.ActionRetry {
			action = st.OnError.Then
		}
		return r.handle(ctx, i, scope, action, &StepError{st.ID, err}, false)
	}
	recorded := recordable(map[string]any(in))
	if b, ok := r.reusable(st); ok {
		// Done before an interruption: use the recorded result.
		r.count(st.ID)
		r.record(ctx, Event{StepID: st.ID, Step: i, Module: st.Module.Name, Status: EventReused,
			Input: recorded, Output: recordable(b), Started: time.Now()}) // whole: it was read back
		return passOn(r.from(ctx, i+1, withStep(scope, st.ID, b)))
	}
	for attempt := 1; ; attempt++ {
		if st.Module.Waits {
			r.waitEnv(ctx, &menv, i, attempt, recorded)
		}
		start := time.Now()
		emitted := 0
		var runErr error
		// Each bundle's time is measured from the one before: for a listing,
		// the time to fetch it; the later steps' time is not counted.
		last := start
		// took counts and records one bundle the step emitted.
		took := func(b module.Bundle) error {
			if st.Module.Many {
				if err := r.fanned(st.ID); err != nil {
					return passOn(err)
				}
			}
			emitted++
			r.count(st.ID)
			now := time.Now()
			out, whole := recordWhole(b)
			r.record(ctx, Event{StepID: st.ID, Step: i, Module: st.Module.Name, Attempt: attempt, Status: EventOK,
				Input: recorded, Output: out, OutputCut: !whole, Started: last, Duration: now.Sub(last)})
			last = now
			return nil
		}
		cont := func(b module.Bundle) error {
			if err := took(b); err != nil {
				return err
			}
			defer func() { last = time.Now() }()
			if st.Module.Many {
				r.path = append(r.path, fmt.Sprintf("%s#%d", st.ID, emitted-1))
				defer func() { r.path = r.path[:len(r.path)-1] }()
			}
			err := r.from(ctx, i+1, withStep(scope, st.ID, b))
			removeSpooled(b)
			return passOn(err)
		}
		if st.Module.Many && st.Concurrency > 1 {
			// Up to Concurrency bundles go down the flow at once, each in a
			// branch of its own; the listing waits for a free slot.
			fo := r.fanOut(ctx, st.Concurrency)
			runErr = st.Module.Exec(fo.ctx, menv, in, func(b module.Bundle) error {
				if err := took(b); err != nil {
					return err
				}
				child := r.fork(fmt.Sprintf("%s#%d", st.ID, emitted-1))
				return fo.do(child, func(ctx context.Context) error {
					err := child.from(ctx, i+1, withStep(scope, st.ID, b))
					removeSpooled(b)
					return passOn(err)
				})
			})
			// A branch's error outranks the listing's own (its context was
			// cancelled because of it).
			if err := fo.wait(); err != nil {
				runErr = err
			}
		} else if st.Module.Many {
			// A listing streams: each bundle goes down the flow as it comes.
			runErr = st.Module.Exec(ctx, menv, in, cont)
		} else {
			// One result: run under the step's timeout, then pass it on, so
			// a retry never repeats later steps.
			var out []module.Bundle
			runErr = r.withTimeout(ctx, st, func(ctx context.Context) error {
				return st.Module.Exec(ctx, menv, in, func(b module.Bundle) error {
					out = append(out, b)
					return nil
				})
			})
			if runErr != nil {
				for _, b := range out {
					removeSpooled(b)
				}
			} else {
				for _, b := range out {
					if err := cont(b); err != nil {
						return err
					}
				}
			}
		}
		var ds *downstream
		if runErr == nil || errors.As(runErr, &ds) {
			r.waitOver(st)
			return runErr
		}
		if ctx.Err() != nil {
			return runErr
		}
		if w := (*module.Waiting)(nil); r.suspend && errors.As(runErr, &w) {
			// Not a failure: the run is suspended, and resumes here.
			return runErr
		}
		// A wait that failed (timed out) is over: a retry waits anew.
		r.waitOver(st)
		ev := Event{StepID: st.ID, Step: i, Module: st.Module.Name, Attempt: attempt, Status: EventFailed,
			Input: recorded, Error: runErr.Error(), Err: runErr, Started: start, Duration: time.Since(start)}
		oe := st.OnError
		// A listing that already passed bundles on cannot be retried without
		// repeating them.
		if oe.Action == flow.ActionRetry && attempt <= oe.Attempts && emitted == 0 {
			ev.Status = EventRetried
			r.record(ctx, ev)
			r.e.opts.Logger.InfoContext(ctx, "retrying step", "step", st.ID, "attempt", attempt+1, "error", runErr)
			if err := r.e.opts.Sleep(ctx, backoff(oe.Backoff, attempt)); err != nil {
				return err
			}
			continue
		}
		r.record(ctx, ev)
		action := oe.Action
		if action == flow.ActionRetry {
			action = oe.Then
		}
		return r.handle(ctx, i, scope, action, &StepError{st.ID, runErr}, true)
	}
}

// backoff doubles the wait after each attempt.
func backoff(base time.Duration, attempt int) time.Duration {
	return base << min(attempt-1, 10)
}

// handle applies an on_error action to a failed step.
func (r *runner) handle(ctx context.Context, i int, scope map[string]any, action string, err error, ran bool) error {
	st := r.f.Steps[i]
	ev := Event{StepID: st.ID, Step: i, Module: st.Module.Name, Error: err.Error(), Started: time.Now()}
	switch action {
	case flow.ActionIgnore:
		ev.Status = EventIgnored
		r.handled(ev.Status, err)
		r.record(ctx, ev)
		return nil
	case flow.ActionBreak:
		ev.Status = EventBroken
		r.handled(ev.Status, err)
		r.record(ctx, ev)
		return nil
	case flow.ActionResume:
		ev.Status, ev.Output = EventResumed, recordable(st.OnError.Output)
		r.handled(ev.Status, err)
		r.record(ctx, ev)
		return passOn(r.from(ctx, i+1, withStep(scope, st.ID, module.Bundle(st.OnError.Output))))
	case flow.ActionRollback:
		return fmt.Errorf("%w: %w", errRollback, err)
	}
	return err
}

// handled counts an error that on_error handled as status (ignored,
// resumed, break); the first break is remembered with its bundle, so that
// an incomplete run says what stopped it.
func (r *runner) handled(status string, err error) {
	r.shared.mu.Lock()
	defer r.shared.mu.Unlock()
	r.shared.handled[status]++
	if status != EventBroken || r.shared.broken {
		return
	}
	r.shared.broken = true
	bundle := "the run's only bundle"
	if p := r.pathString(); p != "" {
		bundle = "bundle " + p
	}
	r.shared.firstBreak = fmt.Sprintf("on_error: break stopped %s: %v", bundle, err)
}

func (r *runner) withTimeout(ctx context.Context, st *flow.Step, run func(context.Context) error) error {
	if st.Timeout <= 0 {
		return run(ctx)
	}
	// StepError names the step.
	ctx, cancel := context.WithTimeoutCause(ctx, st.Timeout, fmt.Errorf("timed out after %s", st.Timeout))
	defer cancel()
	err := run(ctx)
	if err != nil && ctx.Err() != nil && context.Cause(ctx) != nil {
		return fmt.Errorf("%w: %w", context.Cause(ctx), err)
	}
	return err
}

// evalContext bounds the evaluation of a step's expressions by the step's
// timeout (flow.DefaultEvalTimeout when it has none).
func evalContext(ctx context.Context, st *flow.Step) context.Context {
	return flow.WithTimeLimit(ctx, st.Timeout)
}

// inputsFor evaluates the step's templates for this bundle and checks the
// values against the module's declaration.
// prepare is what a step runs with: its checked inputs and its module's
// environment (the connection resolved).
func (r *runner) prepare(ctx context.Context, st *flow.Step, env map[string]any) (module.Values, module.Env, error) {
	in, err := r.inputsFor(ctx, st, env)
	if err != nil {
		return nil, module.Env{}, err
	}
	menv, err := r.moduleEnv(ctx, st, env)
	return in, menv, err
}

func (r *runner) inputsFor(ctx context.Context, st *flow.Step, env map[string]any) (module.Values, error) {
	raw := make(map[string]any, len(st.With))
	ectx := evalContext(ctx, st)
	for name, t := range st.With {
		v, err := t.Eval(ectx, env)
		if err != nil {
			return nil, fmt.Errorf("with.%s: %w", name, err)
		}
		raw[name] = v
	}
	in, err := st.Module.Check(raw)
	if err != nil {
		var ie *module.InputError
		if errors.As(err, &ie) {
			return nil, fmt.Errorf("with.%s: %s", ie.Field, ie.Rule)
		}
		return nil, err
	}
	return in, nil
}

func (r *runner) moduleEnv(ctx context.Context, st *flow.Step, env map[string]any) (module.Env, error) {
	menv := module.Env{Logger: r.e.opts.Logger, Files: r.e.opts.Files}
	if st.Module.Spools() {
		dir, err := r.spool.dir()
		if err != nil {
			return menv, err
		}
		menv.SpoolDir = dir
	}
	if st.Connection == nil {
		return menv, nil
	}
	v, err := st.Connection.Eval(evalContext(ctx, st), env)
	if err != nil {
		return menv, fmt.Errorf("connection: %w", err)
	}
	name, _ := v.(string)
	if name == "" {
		return menv, fmt.Errorf("connection: the name is empty")
	}
	r.shared.mu.Lock()
	defer r.shared.mu.Unlock()
	conn, ok := r.shared.conns[name]
	if !ok {
		if r.e.opts.Resolver == nil {
			return menv, fmt.Errorf("connection %q: no connections are available here", name)
		}
		if conn, err = r.e.opts.Resolver.Connection(ctx, name); err != nil {
			return menv, err
		}
		r.shared.conns[name] = conn
	}
	menv.Connection = &conn
	return menv, nil
}

// removeSpooled deletes a downloaded file once its bundle is done.
func removeSpooled(b module.Bundle) {
	if f, ok := b["file"].(*module.SpooledFile); ok {
		os.Remove(f.Path)
	}
}

// maxRecorded bounds a recorded string; longer ones are cut with a marker.
const maxRecorded = 4096

// recordable makes a bundle small and plain for the run history: file data
// becomes its description, long text is truncated, headers become a map.
// Secrets are masked by the history itself (runs.Mask), which also sees
// runs that were queued without passing through here.
// reusable is the result a resumed run recorded for st at this bundle, in
// its declared types, when there is one the history kept whole (not a
// file's data, not cut short).
func (r *runner) reusable(st *flow.Step) (module.Bundle, bool) {
	out, ok := r.done[r.doneKey(st.ID)]
	if !ok || st.Module.Many {
		return nil, false
	}
	b, err := st.Module.Restore(out)
	return b, err == nil
}

// recordable is v as the run history keeps it: long text and long lists
// cut short, a file as its name and size.
func recordable(v map[string]any) map[string]any {
	out, _ := recordWhole(v)
	return out
}

// recordWhole is recordable, and whether what it gives is all of v: a
// resumed run may use a recorded value only when it is.
func recordWhole(v map[string]any) (map[string]any, bool) {
	var t trimmer
	return t.mapping(v), !t.cut
}

// trimmer cuts values down for the history and remembers that it did.
type trimmer struct{ cut bool }

func (t *trimmer) mapping(v map[string]any) map[string]any {
	if v == nil {
		return nil
	}
	out := make(map[string]any, len(v))
	for k, x := range v {
		out[k] = t.value(x)
	}
	return out
}

func (t *trimmer) value(v any) any {
	switch x := v.(type) {
	case string:
		if len(x) > maxRecorded {
			t.cut = true
			// Cut at a character boundary, so the text stays valid UTF-8.
			cut := maxRecorded
			for cut > 0 && !utf8.RuneStart(x[cut]) {
				cut--
			}
			return x[:cut] + fmt.Sprintf("…[truncated, %d bytes in all]", len(x))
		}
		return x
	case module.File:
		t.cut = true // the data is not kept
		return map[string]any{"file": x.Name(), "size": x.Size()}
	case module.Bundle:
		return t.mapping(x)
	case map[string]any:
		return t.mapping(x)
	case module.Values:
		return t.mapping(x)
	case []module.Pair:
		m := make(map[string]any, len(x))
		for _, p := range x {
			m[p.Name] = t.value(p.Value)
		}
		return m
	case []any:
		const maxItems = 100
		n := min(len(x), maxItems)
		out := make([]any, n, n+1)
		for i := range n {
			out[i] = t.value(x[i])
		}
		if len(x) > maxItems {
			t.cut = true
			out = append(out, fmt.Sprintf("…[truncated, %d items in all]", len(x)))
		}
		return out
	}
	return v
}
