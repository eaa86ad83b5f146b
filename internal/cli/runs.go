package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/gctune"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/runs"
)

// flushEvery is how often a run's events are written while it runs: a run
// killed mid-way loses at most this much of its history, which its retry
// then does again.
const flushEvery = time.Second

// execute runs f (a new run, or a retry with ro), recorded in the history
// under a lock this process holds while it runs it, then prints a summary
// and prunes old runs.
func (a *app) execute(ctx context.Context, f *flow.Flow, inputs, trigger map[string]any, ro engine.RunOptions, o *runOptions) error {
	hist, err := a.history(ctx)
	if err != nil {
		return err
	}
	hist.Detail = o.limits.historyDetail()
	conns, err := a.resolver(ctx)
	if err != nil {
		return err
	}
	if ro.ID == "" {
		ro.ID = engine.NewRunID()
	}
	// The run records its flow file for 's3flow runs retry', which may be
	// called from another folder.
	if abs, err := filepath.Abs(f.File); err == nil {
		f.File = abs
	}
	// The lock is taken before the run is recorded and dropped after its
	// end is: a reader never sees the run running without it.
	lock, err := runs.LockRun(hist.LockDir, ro.ID)
	if err != nil {
		return err
	}
	defer lock.Release()
	// A flow run (run, runs retry) tunes the collector: see gctune.
	defer gctune.Start(os.Getenv).Stop()
	stop := hist.FlushEvery(ctx, flushEvery, func(err error) {
		fmt.Fprintf(a.io.Err, "warning: record the run's events: %v\n", err)
	})
	eng := engine.New(engine.Options{Registry: a.registry, Resolver: conns, Recorder: hist, Logger: a.logger(), Files: module.AllLocalFiles(),
		MaxBundles: o.limits.bundles, MaxAggregate: o.limits.aggregate})
	res, runErr := eng.Start(ctx, f, inputs, trigger, ro)
	stop()
	if res == nil {
		return runErr
	}
	if o.keep > 0 {
		if _, err := hist.Prune(context.WithoutCancel(ctx), time.Now().Add(-o.keep)); err != nil {
			fmt.Fprintf(a.io.Err, "warning: prune old runs: %v\n", err)
		}
	}
	if o.keepSize > 0 {
		if _, err := hist.PruneSize(context.WithoutCancel(ctx), o.keepSize); err != nil {
			fmt.Fprintf(a.io.Err, "warning: prune the run history to --keep-size: %v\n", err)
		}
	}
	p, err := newPrinter(a.io.Out, a.outputFormat(), []module.Output{{Name: "run"}, {Name: "flow"}, {Name: "status"}, {Name: "bundles"},
		{Name: "ignoredErrors"}, {Name: "resumedErrors"}, {Name: "error"}}, false)
	if err != nil {
		return err
	}
	errText := res.Stopped
	if res.Err != nil {
		errText = res.Err.Error()
	}
	p.Print(module.Bundle{"run": res.RunID, "flow": f.Name, "status": res.Status, "bundles": res.Outputs,
		"ignoredErrors": res.Ignored, "resumedErrors": res.Resumed, "error": errText})
	p.Close()
	if runErr != nil {
		return fmt.Errorf("run %s of flow %s %s: %w (details: s3flow runs show %s)", res.RunID, f.Name, res.Status, runErr, res.RunID)
	}
	if res.Status == engine.StatusIncomplete {
		return fmt.Errorf("run %s of flow %s is incomplete: %s (s3flow runs show %s)", res.RunID, f.Name, res.Stopped, res.RunID)
	}
	if res.Ignored+res.Resumed > 0 {
		fmt.Fprintf(a.io.Err, "run %s of flow %s succeeded, passing over %s (s3flow runs show %s)\n", res.RunID, f.Name, handledText(res.Ignored, res.Resumed), res.RunID)
	}
	return nil
}

// handledText says how many step errors on_error passed over.
func handledText(ignored, resumed int64) string {
	var parts []string
	if ignored > 0 {
		parts = append(parts, fmt.Sprintf("%d ignored error(s)", ignored))
	}
	if resumed > 0 {
		parts = append(parts, fmt.Sprintf("%d resumed error(s)", resumed))
	}
	return strings.Join(parts, " and ")
}

func newRunsRetryCmd(a *app) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "retry RUN_ID",
		Short: "Resume a run that failed, was cancelled or was interrupted",
		Long: `Runs a run of 's3flow run' again under the same id, with the same inputs:
the steps it completed for a bundle are reused, the rest run. It runs the
flow file as it is now; when it changed since the run, it says so.

A run whose inputs held secrets cannot be retried (the history does not
keep them): start a new run. Runs of a server are retried there
(POST /api/runs/ID/retry or the Studio).`,
		Example: "  s3flow runs retry RUN_ID",
		Args:    exactArg("RUN_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return retryRun(cmd.Context(), a, args[0], o)
		},
	}
	o.limits.flags(cmd)
	return cmd
}

// retryRun resumes a finished run that did not succeed, as the server's
// retry does: same id and inputs, completed steps reused.
func retryRun(ctx context.Context, a *app, id string, o *runOptions) error {
	hist, err := a.history(ctx)
	if err != nil {
		return err
	}
	r, err := hist.Get(ctx, id)
	if err != nil {
		return err
	}
	if r.Finished == nil || r.Status == engine.StatusSucceeded {
		return fmt.Errorf("run %s is %s: only a run that failed, was cancelled, is incomplete or was interrupted can be retried", id, r.Status)
	}
	job, err := hist.Job(ctx, id)
	if err != nil {
		return err
	}
	if job != 0 {
		return fmt.Errorf("run %s was run by a server: retry it there (POST /api/runs/%s/retry, or the Studio's runs page)", id, id)
	}
	if runs.HasMasked(r.Inputs) || runs.HasMasked(r.Trigger) {
		return fmt.Errorf("run %s had secret values, which the history does not keep: start a new run with them (s3flow run %s --input ...)", id, r.FlowFile)
	}
	if r.InputsCut {
		return fmt.Errorf("run %s had inputs or trigger data longer than the history keeps (text over 4 KiB, lists over 100 items, files): start a new run with them (s3flow run %s --input ...)", id, r.FlowFile)
	}
	if r.FlowFile == "" {
		return fmt.Errorf("run %s does not say which flow file it ran: start a new run", id)
	}
	f, err := a.loadFlow(ctx, r.FlowFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("run %s ran flow file %s, which is gone: %w", id, r.FlowFile, err)
	case err != nil:
		return fmt.Errorf("run %s: its flow file %s changed since and does not load now; fix it and retry: %w", id, r.FlowFile, err)
	}
	if f.Name != r.Flow {
		return fmt.Errorf("run %s ran flow %q, but %s now holds flow %q: start a new run", id, r.Flow, r.FlowFile, f.Name)
	}
	if r.FlowHash != "" && r.FlowHash != f.Hash {
		note := runs.FlowChangedNote(id, r.FlowHash, f.Hash)
		fmt.Fprintf(a.io.Err, "note: %s\n", note)
		if err := hist.RecordFlowChanged(ctx, id, note, r.FlowHash, f.Hash); err != nil {
			return err
		}
	}
	if _, err := engine.CheckInputs(f, r.Inputs); err != nil {
		return &usageError{fmt.Errorf("run %s: its inputs do not suit its flow file as it is now: %w", id, err)}
	}
	return a.execute(ctx, f, r.Inputs, r.Trigger, engine.RunOptions{ID: id, Resume: true, Until: r.Until}, o)
}
