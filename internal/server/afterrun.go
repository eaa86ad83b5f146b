package server

import (
	"context"
	"time"

	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/trigger"
)

// afterRunTimeout bounds what a trigger does once a run has ended (a
// server-side copy of a large file takes a while).
const afterRunTimeout = 30 * time.Minute

// runFinished gives the trigger that started a run its say once the run's
// final status is recorded: a trigger whose typed value is a
// trigger.RunFinisher (watch_files' after:) acts on it. A run that was
// cancelled, or that ran on trigger data of a kind the flow no longer has,
// is passed over. The action's failure is logged and recorded as an event
// of the run, never dropped.
func (s *Server) runFinished(ctx context.Context, f *flow.Flow, args RunArgs, status string) {
	var succeeded bool
	switch status {
	case engine.StatusSucceeded:
		succeeded = true
	case engine.StatusFailed, engine.StatusIncomplete:
	default:
		return
	}
	kind, _ := args.Trigger["type"].(string)
	t, ok := f.Trigger(kind)
	if !ok {
		return
	}
	fin, ok := t.Config.(trigger.RunFinisher)
	if !ok {
		return
	}
	// The run has ended: a shutdown now must not cut the action short.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), afterRunTimeout)
	defer cancel()
	err := fin.RunFinished(ctx, triggerHost{s}, trigger.FinishedRun{ID: args.RunID, Flow: f.Name, Status: status,
		Succeeded: succeeded, Trigger: args.Trigger})
	if err == nil {
		return
	}
	s.log.ErrorContext(ctx, "the trigger's action after the run failed", "run", args.RunID, "flow", f.Name, "trigger", kind, "error", err)
	if err := s.history.RecordAfterRunFailed(context.WithoutCancel(ctx), args.RunID, kind, err); err != nil {
		s.log.ErrorContext(ctx, "record a failed action after a run", "run", args.RunID, "error", err)
	}
}
