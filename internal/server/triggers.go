package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/runs"
	"github.com/s3flow/s3flow/internal/store"
	"github.com/s3flow/s3flow/internal/trigger"
)

// triggerHost is what the server gives a running trigger (see
// internal/trigger): its database, connections, modules and a way to queue
// runs.
type triggerHost struct{ s *Server }

var _ trigger.Host = triggerHost{}

func (h triggerHost) Logger() *slog.Logger { return h.s.log }
func (h triggerHost) DB() *store.DB        { return h.s.cfg.DB }

func (h triggerHost) Connection(ctx context.Context, name string) (connection.Connection, error) {
	return h.s.cfg.Resolver.Connection(ctx, name)
}

func (h triggerHost) Module(name string) (*module.Module, bool) { return h.s.cfg.Registry.Lookup(name) }

// Fire queues a run of a flow with trigger data, unless the flow is
// switched off. Without tx it is Enqueue; with tx the run is recorded and
// put on River's queue inside it.
func (h triggerHost) Fire(ctx context.Context, tx *store.Tx, flowName string, payload map[string]any) (string, error) {
	s := h.s
	if tx == nil {
		id, err := s.enqueue(ctx, flowName, nil, payload, "", true)
		if errors.Is(err, errDisabled) {
			return "", nil
		}
		return id, err
	}
	if enabled, err := flowEnabled(ctx, tx, flowName); err != nil || !enabled {
		return "", err
	}
	f, ok := s.flows.Get(flowName)
	if !ok {
		return "", notFoundf("no flow named %q", flowName)
	}
	inputs, err := engine.CheckInputs(f, nil)
	if err != nil {
		return "", err
	}
	id := engine.NewRunID()
	job, err := s.queue.txInsert.InsertTx(ctx, tx.Tx, RunArgs{RunID: id, Flow: f.Name, Inputs: inputs, Trigger: payload}, nil)
	if err != nil {
		return "", fmt.Errorf("queue run %s: %w", id, err)
	}
	if err := s.history.QueueTx(ctx, tx, runs.Queued{Run: engine.RunInfo{ID: id, Flow: f.Name, FlowFile: f.File, FlowHash: f.Hash,
		Inputs: inputs, Trigger: payload, Started: time.Now().UTC()}, Job: job.Job.ID}); err != nil {
		return "", err
	}
	return id, nil
}

// runTriggers starts every flow's background triggers (schedules, watched
// folders: those whose typed value is a trigger.Runner); they end with ctx.
// The function returned waits until they have.
func (s *Server) runTriggers(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	for _, f := range s.flows.List() {
		for _, t := range f.Triggers {
			r, ok := t.Config.(trigger.Runner)
			if !ok {
				continue
			}
			s.log.Info("trigger", "flow", f.Name, "kind", t.Kind.Name, "when", r.Describe())
			wg.Go(func() { r.Run(ctx, triggerHost{s}, f.Name) })
		}
	}
	return wg.Wait
}
