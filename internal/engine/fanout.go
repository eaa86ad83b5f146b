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
type fanOut struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	parent *runner
	slots  chan struct{}
	wg     sync.WaitGroup

	mu  sync.Mutex
	err error
	// started counts branches; done holds finished branches' aggregate
	// items until every earlier branch has been merged.
	started, merged int
	done            map[int]map[int]*collected
}

func (r *runner) fanOut(ctx context.Context, n int) *fanOut {
	ctx, cancel := context.WithCancelCause(ctx)
	return &fanOut{ctx: ctx, cancel: cancel, parent: r, slots: make(chan struct{}, n), done: map[int]map[int]*collected{}}
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
	k := fo.started
	fo.started++
	fo.mu.Unlock()
	fo.wg.Go(func() {
		err := branch(fo.ctx)
		<-fo.slots
		fo.finish(k, child, err)
	})
	return nil
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
	fo.wg.Wait()
	fo.cancel(nil)
	return fo.firstErr()
}
