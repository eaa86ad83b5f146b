package flow

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/s3flow/s3flow/internal/trigger"
)

// Trigger is one checked trigger of a flow.
type Trigger struct {
	Kind *trigger.Kind
	// Config is the typed trigger the server starts (a *trigger.Schedule,
	// *trigger.Webhook, ...).
	Config trigger.Config
	// Written is the trigger's keys as written, for display.
	Written map[string]any
	// Pos is where the kind is named, FieldPos where each key's value is.
	Pos      Pos
	FieldPos map[string]Pos
}

// Trigger returns the flow's trigger of a kind, if it has one.
func (f *Flow) Trigger(kind string) (*Trigger, bool) {
	for _, t := range f.Triggers {
		if t.Kind.Name == kind {
			return t, true
		}
	}
	return nil, false
}

// TriggerPayload checks trigger data given by hand (s3flow run --trigger,
// a run once from the API) against the flow's trigger: "type" picks which
// of its triggers (default the first), and the data is checked as that
// kind declares it (Kind.CheckPayload).
func (f *Flow) TriggerPayload(given map[string]any) (map[string]any, error) {
	if len(f.Triggers) == 0 {
		return nil, fmt.Errorf("flow %s has no trigger; give its data as inputs", f.Name)
	}
	t := f.Triggers[0]
	if kind, ok := given["type"].(string); ok {
		if t, ok = f.Trigger(kind); !ok {
			return nil, fmt.Errorf("type=%s: flow %s has no %s trigger", kind, f.Name, kind)
		}
	}
	return t.Kind.CheckPayload(given)
}

// TriggerSample is an example of the data the flow's trigger of kind
// ("": the first) gives a run (Kind.Sample).
func (f *Flow) TriggerSample(kind string) (map[string]any, error) {
	if len(f.Triggers) == 0 {
		return nil, fmt.Errorf("flow %s has no trigger", f.Name)
	}
	t := f.Triggers[0]
	if kind != "" {
		var ok bool
		if t, ok = f.Trigger(kind); !ok {
			return nil, fmt.Errorf("flow %s has no %s trigger", f.Name, kind)
		}
	}
	return t.Kind.Sample(t.Config), nil
}

// triggers checks a flow's trigger: mapping against the trigger kinds'
// declarations: each problem (an unknown kind or key with a suggestion, a
// wrong type, a missing key, a kind's own rule) at its line and column.
func (p *parser) triggers(n *yaml.Node) {
	for _, kv := range p.pairs(n, "trigger") {
		k, v := kv[0], kv[1]
		kind, ok := trigger.Lookup(k.Value)
		if !ok {
			p.errorf(k, "trigger: unknown trigger %q%s", k.Value, trigger.Hint(k.Value, trigger.Names()))
			continue
		}
		label := "trigger." + kind.Name
		if v.Kind != yaml.MappingNode {
			p.errorf(v, "%s: must be a mapping of %s", label, strings.Join(kind.FieldNames(), ", "))
			continue
		}
		written := map[string]any{}
		nodes := map[string][2]*yaml.Node{}
		for _, f := range p.pairs(v, label) {
			var val any
			if err := f[1].Decode(&val); err != nil {
				p.errorf(f[1], "%s.%s: %v", label, f[0].Value, err)
				continue
			}
			written[f[0].Value] = val
			nodes[f[0].Value] = f
		}
		cfg, err := kind.DecodeValues(written)
		for _, fe := range trigger.FieldErrors(err) {
			at := v
			// A field of a mapping field is named with dots
			// (after.success.move_to): placed at its own value.
			top, inner, _ := strings.Cut(fe.Field, ".")
			if kn, ok := nodes[top]; ok {
				at = kn[1]
				if _, known := kind.Field(top); !known {
					at = kn[0]
				} else if inner != "" {
					at = nodeAt(kn[1], inner, fe.Key)
				}
			}
			where := label
			if fe.Field != "" {
				where += "." + fe.Field
			}
			p.errorf(at, "%s: %s", where, fe.Msg)
		}
		if err == nil {
			t := &Trigger{Kind: kind, Config: cfg, Written: written, Pos: posOf(k), FieldPos: map[string]Pos{}}
			for name, kn := range nodes {
				t.FieldPos[name] = posOf(kn[1])
			}
			p.flow.Triggers = append(p.flow.Triggers, t)
		}
	}
}

// nodeAt is the value (or, with atKey, the key) at a dotted path of keys
// inside a mapping node, or the deepest node of the path that exists.
func nodeAt(n *yaml.Node, path string, atKey bool) *yaml.Node {
	keys := strings.Split(path, ".")
	for depth, key := range keys {
		if n.Kind != yaml.MappingNode {
			return n
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				if atKey && depth == len(keys)-1 {
					return n.Content[i]
				}
				n, found = n.Content[i+1], true
				break
			}
		}
		if !found {
			return n
		}
	}
	return n
}
