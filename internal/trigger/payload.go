package trigger

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/s3flow/s3flow/internal/module"
)

// PayloadField is one key of what a trigger puts in trigger.* of the runs
// it starts.
type PayloadField struct {
	Name string
	// Type is what trigger.NAME holds in a run (module.String, Int,
	// Time, Bool; Any for a JSON value such as a webhook's body), as a
	// step's output is typed.
	Type    module.Type
	Help    string
	Example any
}

// payloadField returns the kind's payload key of that name.
func (k *Kind) payloadField(name string) (PayloadField, bool) {
	for _, f := range k.Payload {
		if f.Name == name {
			return f, true
		}
	}
	return PayloadField{}, false
}

// PayloadNames are the keys of trigger.* in the runs the kind starts.
func (k *Kind) PayloadNames() []string {
	names := []string{"type"}
	for _, f := range k.Payload {
		names = append(names, f.Name)
	}
	return names
}

// Sample is an example of what trigger.* holds in a run this trigger
// starts: the declared examples, adjusted to the trigger's settings.
func (k *Kind) Sample(cfg Config) map[string]any {
	sample := map[string]any{"type": k.Name}
	for _, f := range k.Payload {
		sample[f.Name] = f.Example
	}
	if s, ok := cfg.(interface{ adjustSample(map[string]any) }); ok {
		s.adjustSample(sample)
	}
	return sample
}

// CheckPayload checks a payload given by hand (s3flow run --trigger)
// against the kind's declaration: known keys only, each of its type (text
// of a number becomes the number); type is filled in. Problems name the
// key.
func (k *Kind) CheckPayload(given map[string]any) (map[string]any, error) {
	out := map[string]any{"type": k.Name}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(given)) {
		v := given[name]
		if name == "type" {
			if v != k.Name {
				errs = append(errs, fmt.Errorf("trigger.type: is %q for this flow's %s trigger, got %v", k.Name, k.Name, v))
			}
			continue
		}
		f, ok := k.payloadField(name)
		if !ok {
			errs = append(errs, fmt.Errorf("trigger.%s: a %s trigger gives no such key%s", name, k.Name, Hint(name, k.PayloadNames())))
			continue
		}
		cv, err := f.convert(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("trigger.%s: %w", name, err))
			continue
		}
		out[name] = cv
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func (f PayloadField) convert(v any) (any, error) {
	if f.Type == module.String {
		if _, isText := v.(string); !isText {
			return nil, fmt.Errorf("must be text, got %s", shown(v))
		}
	}
	return f.Type.Convert(v) // the one conversion of module fields and flow inputs
}

// Typed is a payload as runs read it: each declared key converted to its
// type (a time from its RFC 3339 text), as the payload was stored as
// JSON. The kind is the one payload["type"] names; a payload of no known
// kind, or a key that does not convert, is left as it is: the flow's
// expressions were checked against the declaration, and a stored payload
// is not refused at run time.
func Typed(payload map[string]any) map[string]any {
	name, _ := payload["type"].(string)
	k, ok := Lookup(name)
	if !ok {
		return payload
	}
	out := maps.Clone(payload)
	for _, f := range k.Payload {
		if v, ok := payload[f.Name]; ok && v != nil {
			if cv, err := f.convert(v); err == nil {
				out[f.Name] = cv
			}
		}
	}
	return out
}
