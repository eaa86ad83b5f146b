package server

import (
	"context"
	"fmt"
	"sync"

	"github.com/riverqueue/river"

	"github.com/s3flow/s3flow/internal/engine"
)

// maxQueuedPerCommit bounds the runs one transaction queues.
const maxQueuedPerCommit = 1000

// queuedRun is a run a request queues: recorded in the history and put on
// River's queue in one transaction, which err reports once done is closed.
type queuedRun struct {
	info engine.RunInfo
	args RunArgs
	done chan struct{}
	err  error
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
			run.err = err
			close(run.done)
		}
	}
}

func (g *runInserter) commit(ctx context.Context, batch []*queuedRun) error {
	tx, err := g.s.cfg.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("queue runs: %w", err)
	}
	defer tx.Rollback()
	params := make([]river.InsertManyParams, len(batch))
	for i, run := range batch {
		params[i] = river.InsertManyParams{Args: run.args}
	}
	jobs, err := g.s.queue.txInsert.InsertManyTx(ctx, tx.Tx, params)
	if err != nil {
		return fmt.Errorf("queue runs: %w", err)
	}
	for i, run := range batch {
		if err := g.s.history.QueueTx(ctx, tx, run.info, jobs[i].Job.ID); err != nil {
			return fmt.Errorf("record the queued run %s: %w", run.info.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("queue runs: %w", err)
	}
	return nil
}
