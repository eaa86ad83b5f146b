package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/server"
	"github.com/s3flow/s3flow/internal/trigger"
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
	cmd := &cobra.Command{Use: "trigger", Short: "What starts a flow besides a person: samples of trigger data, URL tokens and bucket notification set-up of s3_event triggers"}
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
	cmd.AddCommand(sample, newTriggerTokenCmd(a), newTriggerSetupCmd(a))
	return cmd
}

func newTriggerTokenCmd(a *app) *cobra.Command {
	var rotate bool
	cmd := &cobra.Command{
		Use:   "token FLOW_FILE",
		Short: "Make the URL token of a flow's s3_event trigger, for stores that can be given only a URL; it is printed once",
		Long: `Makes the URL token of the flow's s3_event trigger and prints it once; only
its hash is stored, in the database the server uses. Stores that can be
given only a URL (versitygw's --event-webhook-url, an SNS HTTPS
subscription) post to /events/FLOW/TOKEN on the server.

A flow has one token. --rotate makes a new one, and the old one stops
working at once.`,
		Example: `  s3flow trigger token examples/on-s3-event.yaml
  s3flow trigger token examples/on-s3-event.yaml --rotate`,
		Args: exactArg("FLOW_FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := a.loadFlow(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			t, ok := f.Trigger("s3_event")
			if !ok {
				return usagef("flow %s has no s3_event trigger", f.Name)
			}
			if _, queue := t.Config.(*trigger.S3EventQueue); queue {
				return usagef("flow %s reads its S3 events from an SQS queue (queue_url): it has no events URL, and no token", f.Name)
			}
			st, err := a.connections(cmd.Context())
			if err != nil {
				return err
			}
			token, err := server.NewEventTokens(st.DB()).Make(cmd.Context(), f.Name, rotate)
			if _, ok := errors.AsType[*server.EventTokenExistsError](err); ok {
				return fmt.Errorf("%w: s3flow trigger token %s --rotate", err, args[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(a.io.Out, token)
			fmt.Fprintf(a.io.Err, "event URL token of flow %q made; senders post to /events/%s/TOKEN on the server; keep it now, it cannot be shown again\n",
				f.Name, url.PathEscape(f.Name))
			return nil
		},
	}
	cmd.Flags().BoolVar(&rotate, "rotate", false, "replace the flow's token (the old one stops working)")
	return cmd
}
