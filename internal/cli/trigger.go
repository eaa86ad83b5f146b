package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/s3flow/s3flow/internal/flow"
)

// triggerPayload makes the trigger.* of a run started by hand from
// --trigger items: @FILE (a JSON object, such as 's3flow trigger sample'
// prints) and name=value (dotted names reach into objects: body.id=7).
// The payload is checked against the declaration of the flow's trigger
// (the one named by type=, else the first).
func triggerPayload(f *flow.Flow, items []string) (map[string]any, error) {
	if len(items) == 0 {
		return nil, nil
	}
	if len(f.Triggers) == 0 {
		return nil, usagef("--trigger: flow %s has no trigger; give its data with --input", f.Name)
	}
	given := map[string]any{}
	for _, item := range items {
		if file, ok := strings.CutPrefix(item, "@"); ok {
			data, err := os.ReadFile(file)
			if err != nil {
				return nil, usagef("--trigger @%s: %v", file, err)
			}
			var obj map[string]any
			if err := json.Unmarshal(data, &obj); err != nil {
				return nil, usagef("--trigger @%s: must hold a JSON object: %v", file, err)
			}
			for k, v := range obj {
				given[k] = v
			}
			continue
		}
		name, value, ok := strings.Cut(item, "=")
		if !ok || name == "" {
			return nil, usagef("--trigger %q must look like name=value or @FILE.json", item)
		}
		setDotted(given, strings.Split(name, "."), value)
	}
	payload, err := f.TriggerPayload(given)
	if err != nil {
		return nil, &usageError{fmt.Errorf("--trigger: %w", err)}
	}
	return payload, nil
}

// setDotted sets m[a][b]... = v, making objects on the way.
func setDotted(m map[string]any, path []string, v any) {
	for _, key := range path[:len(path)-1] {
		next, ok := m[key].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[key] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

func newTriggerCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "trigger", Short: "What starts a flow besides a person: samples of trigger data"}
	var kind string
	sample := &cobra.Command{
		Use:   "sample FLOW_FILE",
		Short: "Print an example of the trigger data a flow's runs get (to edit and give to 's3flow run --trigger @FILE')",
		Example: `  s3flow trigger sample examples/on-new-report.yaml > trigger.json
  s3flow run examples/on-new-report.yaml --trigger @trigger.json --trigger key=reports/daily/2026-11-24/sales.csv`,
		Args: exactArg("FLOW_FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := a.loadFlow(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if len(f.Triggers) == 0 {
				return usagef("flow %s has no trigger", f.Name)
			}
			t := f.Triggers[0]
			if kind != "" {
				var ok bool
				if t, ok = f.Trigger(kind); !ok {
					return usagef("--kind %s: flow %s has no %s trigger", kind, f.Name, kind)
				}
			}
			enc := json.NewEncoder(a.io.Out)
			enc.SetIndent("", "  ")
			return enc.Encode(t.Kind.Sample(t.Config))
		},
	}
	sample.Flags().StringVar(&kind, "kind", "", "which of the flow's triggers (default: the first)")
	cmd.AddCommand(sample)
	return cmd
}
