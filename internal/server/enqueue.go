package server

import (
	"context"
	"fmt"
	"sync"

	"github.com/riverqueue/river"

	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/runs"
	"github.com/s3flow/s3flow/internal/store"
)

// maxQueuedPerCommit bounds the runs one transaction queues.
const maxQueuedPerCommit = 1000

// queuedRun is a run a request queues: recorded in the history and put on
// River's queue in one transaction, which err reports once done is closed.
// A run ifEnabled is queued only if its flow is switched on in that
// transaction; otherwise err is errFlowDisabled.
type queuedRun struct {
	info      engine.RunInfo
	args      RunArgs
	ifEnabled bool
	done      chan struct{}
	err       error
}

// runInserter commits the runs that requests queue at the same moment in
// one transaction (River's InsertManyTx and the history's rows together),
// so a burst of webhooks costs a commit per burst, not three per request.
// Each request is answered only after the commit that holds its run.
type runInserter struct {
	s       *Server
	mu      sync.Mutex
	pending []*queuedRun
	writing bool
}

// queue records run and puts it on the queue, with the runs queued at the
// same moment; it returns once they are committed.
func (g *runInserter) queue(run *queuedRun) error {
	run.done = make(chan struct{})
	g.mu.Lock()
	g.pending = append(g.pending, run)
	if !g.writing {
		g.writing = true
		go g.write()
	}
	g.mu.Unlock()
	// The commit is waited for whatever the request's context says: a
	// caller that went away may still get its run, as with one insert.
	<-run.done
	return run.err
}

// write commits what is pending, batch after batch, until nothing is;
// requests that arrive while a batch commits make the next one.
func (g *runInserter) write() {
	for {
		g.mu.Lock()
		n := min(len(g.pending), maxQueuedPerCommit)
		if n == 0 {
			g.writing = false
			g.mu.Unlock()
			return
		}
		batch := g.pending[:n:n]
		g.pending = g.pending[n:]
		g.mu.Unlock()
		err := g.commit(context.Background(), batch)
		for _, run := range batch {
			if run.err == nil {
				run.err = err
			}
			close(run.done)
		}
	}
}

// commit queues the batch's runs, but for those ifEnabled whose flow is
// switched off: their err says so.
func (g *runInserter) commit(ctx context.Context, batch []*queuedRun) error {
	tx, err := g.s.cfg.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("queue runs: %w", err)
	}
	defer tx.Rollback()
	if batch, err = g.enabledOnly(ctx, tx, batch); err != nil || len(batch) == 0 {
		return err
	}
	params := make([]river.InsertManyParams, len(batch))
	for i, run := range batch {
		params[i] = river.InsertManyParams{Args: run.args}
	}
	jobs, err := g.s.queue.txInsert.InsertManyTx(ctx, tx.Tx, params)
	if err != nil {
		return fmt.Errorf("queue runs: %w", err)
	}
	queued := make([]runs.Queued, len(batch))
	for i, run := range batch {
		queued[i] = runs.Queued{Run: run.info, Job: jobs[i].Job.ID}
	}
	if err := g.s.history.QueueTx(ctx, tx, queued...); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("queue runs: %w", err)
	}
	return nil
}

// enabledOnly returns the runs of batch to queue: the runs ifEnabled of a
// flow switched off are left out, with errFlowDisabled. The switches are
// read once a flow, in tx, so that a run cannot be queued after its flow
// was switched off.
func (g *runInserter) enabledOnly(ctx context.Context, tx *store.Tx, batch []*queuedRun) ([]*queuedRun, error) {
	enabled := map[string]bool{}
	for _, run := range batch {
		if _, read := enabled[run.info.Flow]; !run.ifEnabled || read {
			continue
		}
		on, err := flowEnabled(ctx, tx, run.info.Flow)
		if err != nil {
			return nil, fmt.Errorf("queue runs: %w", err)
		}
		enabled[run.info.Flow] = on
	}
	kept := make([]*queuedRun, 0, len(batch))
	for _, run := range batch {
		if run.ifEnabled && !enabled[run.info.Flow] {
			run.err = errFlowDisabled(run.info.Flow)
			continue
		}
		kept = append(kept, run)
	}
	return kept, nil
}
