package trigger

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/s3flow/s3flow/internal/module"
)

// PayloadField is one key of what a trigger puts in trigger.* of the runs
// it starts.
type PayloadField struct {
	Name    string
	Type    PayloadType
	Help    string
	Example any
}

// PayloadType is the type of a payload key.
type PayloadType int

const (
	PayloadText    PayloadType = iota // a string
	PayloadInteger                    // a whole number (int64)
	PayloadTime                       // RFC 3339 text
	PayloadBool                       // true or false
	PayloadObject                     // any JSON value (a webhook's body)
)

func (t PayloadType) String() string {
	return [...]string{"text", "integer", "time (RFC 3339)", "boolean", "JSON"}[t]
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

func (k *Kind) payloadNames() []string {
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
			errs = append(errs, fmt.Errorf("trigger.%s: a %s trigger gives no such key%s", name, k.Name, Hint(name, k.payloadNames())))
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
	s, isText := v.(string)
	switch f.Type {
	case PayloadInteger:
		return module.Int.Convert(v) // the one conversion of module fields and flow inputs
	case PayloadTime:
		if isText {
			if _, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s)); err == nil {
				return strings.TrimSpace(s), nil
			}
		}
		return nil, fmt.Errorf("must be a time such as 2026-12-01T06:00:00Z, got %s", shown(v))
	case PayloadBool:
		return module.Bool.Convert(v)
	case PayloadObject:
		return v, nil
	default:
		if !isText {
			return nil, fmt.Errorf("must be text, got %s", shown(v))
		}
		return s, nil
	}
}
