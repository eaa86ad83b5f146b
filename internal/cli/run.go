package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/s3flow/s3flow/internal/days"
	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/runs"
)

// history is the run history. The runs this process starts are recorded
// as its own, and runs of processes of this machine that are gone read as
// interrupted (their locks are under the home folder).
func (a *app) history(ctx context.Context) (*runs.Store, error) {
	st, err := a.connections(ctx)
	if err != nil {
		return nil, err
	}
	home, err := a.home()
	if err != nil {
		return nil, err
	}
	h := runs.New(st.DB())
	h.Worker, h.LockDir = runs.ProcessWorker(), runLockDir(home)
	return h, nil
}

// runLockDir holds the locks of the runs of 's3flow run' (see runs.LockRun).
func runLockDir(home string) string { return filepath.Join(home, "run-locks") }

// loadFlow reads and checks a flow file, and the connections it names
// outright against the connection store.
func (a *app) loadFlow(ctx context.Context, file string) (*flow.Flow, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read flow: %w", err)
	}
	f, err := flow.Parse(file, data, a.registry)
	if err == nil {
		err = a.checkConnections(ctx, f)
	}
	if err != nil {
		var errs flow.Errors
		if errors.As(err, &errs) {
			return nil, &usageError{fmt.Errorf("%d problem(s) in %s:\n%w", len(errs), file, err)}
		}
		return nil, err
	}
	return f, nil
}

// checkConnections reports connections the flow names that do not exist.
func (a *app) checkConnections(ctx context.Context, f *flow.Flow) error {
	return f.CheckConnections(ctx, func(ctx context.Context) ([]string, error) {
		st, err := a.connections(ctx)
		if err != nil {
			return nil, err
		}
		return st.Names(ctx)
	})
}

func newValidateCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check flow files without running them (every problem, with line and column)",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("validate needs at least one flow FILE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var failed []error
			for _, file := range args {
				f, err := a.loadFlow(cmd.Context(), file)
				if err != nil {
					failed = append(failed, err)
					continue
				}
				fmt.Fprintf(a.io.Out, "%s: flow %q is valid (%d steps)\n", file, f.Name, len(f.Steps))
			}
			if len(failed) > 0 {
				return &usageError{errors.Join(failed...)}
			}
			return nil
		},
	}
}

type runOptions struct {
	inputs   []string
	triggers []string
	keep     time.Duration
	keepSize int64
	until    string
	limits   runLimits
}

// runLimits bound what a run may hold (its bundles, in the engine) and
// keep (its history), as flags of run, server and worker.
type runLimits struct {
	bundles, aggregate int64
	// detail is --history-detail: bundles kept whole per step of a run.
	detail int
}

func (l *runLimits) flags(cmd *cobra.Command) {
	cmd.Flags().Int64Var(&l.bundles, "max-bundles", engine.DefaultMaxBundles, "stop a run whose listing steps emit more bundles than this")
	cmd.Flags().Int64Var(&l.aggregate, "max-aggregate", engine.DefaultMaxAggregate, "stop a run whose aggregate would hold more items than this in memory")
	cmd.Flags().IntVar(&l.detail, "history-detail", runs.DefaultDetail, "bundles of each step a run's history keeps whole; past them, the ones that went well are kept as counts, bytes and durations (failures always whole; 0 keeps counts only; -1 keeps all; a flow's history_detail wins)")
}

// historyDetail is --history-detail as the history's Detail, whose 0
// means the default.
func (l *runLimits) historyDetail() int {
	if l.detail == 0 {
		return runs.CountsOnly
	}
	return l.detail
}

func newRunCmd(a *app) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run a flow file and record the run",
		Long: `Runs a flow: its steps in order, each later step once per bundle of the
steps before it. The run is recorded (see 's3flow runs'); Ctrl-C cancels
cleanly and records the run as cancelled.`,
		Example: `  s3flow run examples/archive-reports.yaml --input date=2026-11-24
  s3flow run examples/on-new-report.yaml --trigger key=reports/daily/2026-11-24/sales.csv`,
		Args: exactArg("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runFlow(cmd.Context(), a, args[0], o)
		},
	}
	cmd.Flags().StringArrayVarP(&o.inputs, "input", "i", nil, "a flow input as name=value (repeatable)")
	cmd.Flags().StringArrayVarP(&o.triggers, "trigger", "t", nil, "trigger data, as the flow's trigger gives it: @FILE.json (see 's3flow trigger sample') or name=value, e.g. key=incoming/a.csv (repeatable)")
	cmd.Flags().StringVar(&o.until, "until", "", "run the steps up to and including this step only (its id), e.g. to try the first steps of a flow")
	o.keep = 30 * 24 * time.Hour
	cmd.Flags().Var(days.Flag{D: &o.keep}, "keep", "delete recorded runs older than this after the run, e.g. 7d or 12h (0 keeps all)")
	cmd.Flags().Var(sizeFlag{&o.keepSize}, "keep-size", "after the run, delete the oldest recorded runs until the history is about this size, e.g. 500MB (0 keeps all)")
	o.limits.flags(cmd)
	return cmd
}

func exactArg(name string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usagef("%s needs exactly one %s", cmd.CommandPath(), name)
		}
		return nil
	}
}

func runFlow(ctx context.Context, a *app, file string, o *runOptions) error {
	f, err := a.loadFlow(ctx, file)
	if err != nil {
		return err
	}
	inputs := map[string]any{}
	for _, kv := range o.inputs {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return usagef("--input %q must look like name=value", kv)
		}
		inputs[name] = value
	}
	if _, err := engine.CheckInputs(f, inputs); err != nil {
		return &usageError{err}
	}
	if _, err := f.Until(o.until); err != nil {
		return usagef("--until: %v", err)
	}
	payload, err := triggerPayload(f, o.triggers)
	if err != nil {
		return err
	}
	return a.execute(ctx, f, inputs, payload, engine.RunOptions{Until: o.until}, o)
}

func newRunsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "runs", Short: "The history of flow runs"}
	var filter runs.Filter
	var since time.Duration
	list := &cobra.Command{
		Use:   "list",
		Short: "List runs, newest first",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			hist, err := a.history(cmd.Context())
			if err != nil {
				return err
			}
			if since > 0 {
				filter.Since = time.Now().Add(-since)
			}
			rs, err := hist.List(cmd.Context(), filter)
			if err != nil {
				return err
			}
			outputs := []module.Output{{Name: "id"}, {Name: "flow"}, {Name: "status"}, {Name: "startedAt"}, {Name: "duration"},
				{Name: "ignoredErrors"}, {Name: "resumedErrors"}, {Name: "error"}}
			return printBundles(a, outputs, func(emit func(module.Bundle) error) error {
				for _, r := range rs {
					if err := emit(module.Bundle{"id": r.ID, "flow": r.Flow, "status": r.Status, "startedAt": r.Started,
						"duration":      r.Duration().Round(time.Millisecond).String(),
						"ignoredErrors": r.IgnoredErrors, "resumedErrors": r.ResumedErrors, "error": r.Error}); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	list.Flags().StringVar(&filter.Flow, "flow", "", "only runs of this flow")
	list.Flags().StringVar(&filter.Status, "status", "", "only runs with this status: succeeded, failed, incomplete, cancelled, interrupted, running, waiting")
	list.Flags().DurationVar(&since, "since", 0, "only runs started within this long, e.g. 24h")
	list.Flags().IntVar(&filter.Limit, "limit", 50, "at most this many runs (0: all)")

	show := &cobra.Command{
		Use:   "show RUN_ID",
		Short: "Show a run: every step, every bundle in and out, timings, errors",
		Args:  exactArg("RUN_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return showRun(cmd.Context(), a, args[0])
		},
	}
	var keep time.Duration
	var keepSize int64
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Delete runs older than --keep, and the oldest beyond --keep-size",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			hist, err := a.history(cmd.Context())
			if err != nil {
				return err
			}
			n, err := hist.Prune(cmd.Context(), time.Now().Add(-keep))
			if err != nil {
				return err
			}
			if keepSize > 0 {
				m, err := hist.PruneSize(cmd.Context(), keepSize)
				if err != nil {
					return err
				}
				n += m
			}
			fmt.Fprintf(a.io.Err, "%d run(s) deleted\n", n)
			return nil
		},
	}
	keep = 30 * 24 * time.Hour
	prune.Flags().Var(days.Flag{D: &keep}, "keep", "keep runs younger than this, e.g. 7d or 12h")
	prune.Flags().Var(sizeFlag{&keepSize}, "keep-size", "then delete the oldest finished runs until the history is about this size, e.g. 500MB or 2GiB (0: no bound)")
	cmd.AddCommand(list, show, newRunsRetryCmd(a), prune)
	return cmd
}

// showRun prints a run: a timeline on a terminal, JSON (the run, then one
// line per event) otherwise.
func showRun(ctx context.Context, a *app, id string) error {
	hist, err := a.history(ctx)
	if err != nil {
		return err
	}
	r, err := hist.Get(ctx, id)
	if err != nil {
		return err
	}
	if a.outputFormat() != formatTable {
		p, _ := newPrinter(a.io.Out, formatJSONL, nil, false)
		p.Print(module.Bundle{"run": r})
		err := hist.Events(ctx, id, func(ev runs.StepEvent) error { return p.Print(module.Bundle{"event": ev}) })
		if err == nil {
			err = printSummaries(ctx, hist, id, func(sum runs.StepSummary) error { return p.Print(module.Bundle{"summary": sum}) })
		}
		return errors.Join(err, p.Close())
	}
	w := a.io.Out
	fmt.Fprintf(w, "run %s  flow %s  %s  started %s  took %s\n", r.ID, r.Flow, strings.ToUpper(r.Status),
		r.Started.Local().Format(time.DateTime), r.Duration().Round(time.Millisecond))
	if len(r.Inputs) > 0 {
		fmt.Fprintf(w, "inputs: %s\n", cell(r.Inputs))
	}
	if r.Until != "" {
		fmt.Fprintf(w, "up to step %s only (--until)\n", r.Until)
	}
	if n := r.IgnoredErrors + r.ResumedErrors; n > 0 {
		fmt.Fprintf(w, "passed over: %s (on_error)\n", handledText(r.IgnoredErrors, r.ResumedErrors))
	}
	if r.Error != "" {
		fmt.Fprintf(w, "error: %s\n", r.Error)
	}
	if r.BrokenBundles > 1 {
		fmt.Fprintf(w, "bundles stopped by break: %d\n", r.BrokenBundles)
	}
	fmt.Fprintln(w)
	err = hist.Events(ctx, id, func(ev runs.StepEvent) error {
		offset := ev.Started.Sub(r.Started).Round(time.Millisecond)
		fmt.Fprintf(w, "+%-9s %-12s %-16s %-9s %8s", offset, ev.StepID, ev.Module, ev.Status, ev.Duration.Round(time.Microsecond))
		if ev.Attempt > 1 {
			fmt.Fprintf(w, "  attempt %d", ev.Attempt)
		}
		fmt.Fprintln(w)
		printKV(w, "in ", ev.Input)
		printKV(w, "out", ev.Output)
		if ev.Error != "" {
			fmt.Fprintf(w, "           error: %s\n", ev.Error)
		}
		return nil
	})
	if err != nil {
		return err
	}
	first := true
	return printSummaries(ctx, hist, id, func(sum runs.StepSummary) error {
		if first {
			fmt.Fprintln(w, "\nkept as counts (past the history's detail per step; failures are always kept whole):")
			first = false
		}
		fmt.Fprintf(w, "%-12s %-16s %-9s %d bundle(s)", sum.StepID, sum.Module, sum.Status, sum.Bundles)
		if sum.Bytes > 0 {
			fmt.Fprintf(w, ", %s", byteCount(sum.Bytes))
		}
		fmt.Fprintf(w, ", %s in all, %s to %s each, from +%s to +%s\n", sum.Duration.Round(time.Millisecond),
			sum.MinDuration.Round(time.Microsecond), sum.MaxDuration.Round(time.Microsecond),
			sum.FirstStarted.Sub(r.Started).Round(time.Millisecond), sum.LastStarted.Sub(r.Started).Round(time.Millisecond))
		return nil
	})
}

func printSummaries(ctx context.Context, hist *runs.Store, id string, fn func(runs.StepSummary) error) error {
	sums, err := hist.Summaries(ctx, id)
	if err != nil {
		return err
	}
	for _, sum := range sums {
		if err := fn(sum); err != nil {
			return err
		}
	}
	return nil
}

// byteCount is n bytes for people: 1.5 GiB, 20 KiB, 12 bytes.
func byteCount(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

func printKV(w io.Writer, label string, m map[string]any) {
	if len(m) == 0 {
		return
	}
	fmt.Fprintf(w, "           %s %s\n", label, cell(m))
}
