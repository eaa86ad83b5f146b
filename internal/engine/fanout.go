package engine

import (
	"context"
	"sync"
)

// fanOut runs the branches of a step with `concurrency: N`: up to N of its
// bundles go down the rest of the flow at once. The first branch to fail
// cancels the others (their steps stop as a cancelled run's do) and is the
// step's error. What the branches collect for open aggregates is merged
// in the order the bundles were emitted, not the order branches finish,
// so a flow's results do not depend on its concurrency.
//
// The branches run on up to N workers that take one after another: a
// goroutine per bundle grew its stack anew for the SDK's deep call chains
// every time (copying it three times over: an eighth of a bulk upload's
// CPU).
type fanOut struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	parent *runner
	slots  chan struct{}
	tasks  chan branchTask // to an idle worker
	wg     sync.WaitGroup

	mu  sync.Mutex
	err error
	// started counts branches; done holds finished branches' aggregate
	// items until every earlier branch has been merged.
	started, merged int
	done            map[int]map[int]*collected
	// workers counts the goroutines that run branches, at most N.
	workers int
}

// branchTask is the k-th branch, run by child.
type branchTask struct {
	k     int
	child *runner
	run   func(context.Context) error
}

func (r *runner) fanOut(ctx context.Context, n int) *fanOut {
	ctx, cancel := context.WithCancelCause(ctx)
	return &fanOut{ctx: ctx, cancel: cancel, parent: r, slots: make(chan struct{}, n),
		tasks: make(chan branchTask), done: map[int]map[int]*collected{}}
}

// do starts branch (whose runner is child) once a slot is free. It returns
// the first branch error so far, which stops the listing.
func (fo *fanOut) do(child *runner, branch func(context.Context) error) error {
	select {
	case fo.slots <- struct{}{}:
	case <-fo.ctx.Done():
		if err := fo.firstErr(); err != nil {
			return err
		}
		return context.Cause(fo.ctx)
	}
	if err := fo.firstErr(); err != nil {
		<-fo.slots
		return err
	}
	fo.mu.Lock()
	t := branchTask{k: fo.started, child: child, run: branch}
	fo.started++
	sent, spawn := false, false
	select {
	case fo.tasks <- t:
		sent = true
	default:
		// No worker idle: start one while fewer than N exist. With N,
		// one has given up its slot (this branch holds it) and is on its
		// way back for the next task.
		spawn = fo.workers < cap(fo.slots)
		if spawn {
			fo.workers++
		}
	}
	fo.mu.Unlock()
	switch {
	case sent:
	case spawn:
		fo.wg.Go(func() { fo.work(t) })
	default:
		fo.tasks <- t
	}
	return nil
}

// work runs t, then every task sent to it until wait.
func (fo *fanOut) work(t branchTask) {
	for ok := true; ok; t, ok = <-fo.tasks {
		err := t.run(fo.ctx)
		<-fo.slots
		fo.finish(t.k, t.child, err)
	}
}

func (fo *fanOut) finish(k int, child *runner, err error) {
	fo.mu.Lock()
	defer fo.mu.Unlock()
	if err != nil && fo.err == nil {
		fo.err = err
		fo.cancel(err)
	}
	fo.done[k] = child.aggs
	for {
		next, ok := fo.done[fo.merged]
		if !ok {
			return
		}
		for a, c := range next {
			if err := fo.parent.aggs[a].merge(c); err != nil && fo.err == nil {
				step := fo.parent.f.Steps[a].ID
				fo.err = &StepError{step, err}
				fo.cancel(fo.err)
			}
		}
		delete(fo.done, fo.merged)
		fo.merged++
	}
}

func (fo *fanOut) firstErr() error {
	fo.mu.Lock()
	defer fo.mu.Unlock()
	return fo.err
}

// wait waits for every branch and returns the first error.
func (fo *fanOut) wait() error {
	close(fo.tasks)
	fo.wg.Wait()
	fo.cancel(nil)
	return fo.firstErr()
}
