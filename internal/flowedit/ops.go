package flowedit

import (
	"encoding/json"
	"errors"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// SetStep replaces the step with id by step. The new step is written with
// the old one's key order and comments where the keys are the same; a
// step equal to the old one leaves the file as it was.
func SetStep(src []byte, id string, step *yaml.Node) ([]byte, error) {
	return edit(src, func(e *editor) error { return e.setStep(id, step) })
}

// InsertStep puts step at index at (0 before the first step, the number
// of steps after the last).
func InsertStep(src []byte, at int, step *yaml.Node) ([]byte, error) {
	return edit(src, func(e *editor) error { return e.insertStep(at, step) })
}

// RemoveStep removes the step with id, its comment lines with it.
func RemoveStep(src []byte, id string) ([]byte, error) {
	return edit(src, func(e *editor) error { return e.removeStep(id) })
}

// MoveStep moves the step with id, text and comments as they were, to
// index to of the steps.
func MoveStep(src []byte, id string, to int) ([]byte, error) {
	return edit(src, func(e *editor) error { return e.moveStep(id, to) })
}

// SetTrigger replaces the flow's trigger: mapping; nil removes it.
func SetTrigger(src []byte, trigger *yaml.Node) ([]byte, error) {
	return SetKey(src, "trigger", trigger)
}

// SetKey sets a top-level key other than steps (name, description,
// inputs, trigger, max_concurrent_runs, history_detail); nil removes it. A key the file
// did not have goes before steps.
func SetKey(src []byte, key string, value *yaml.Node) ([]byte, error) {
	return edit(src, func(e *editor) error { return e.setKey(key, value) })
}

func edit(src []byte, op func(*editor) error) ([]byte, error) {
	e, err := load(src)
	if err != nil {
		return nil, err
	}
	if err := op(e); err != nil {
		return nil, err
	}
	return e.bytes()
}

// Op is one edit as the API takes it (PATCH /api/flows/{name}):
//
//	{"op": "set_step", "id": "list", "value": {...the step...}}
//	{"op": "insert_step", "at": 1, "value": {...}}
//	{"op": "remove_step", "id": "list"}
//	{"op": "move_step", "id": "list", "at": 0}
//	{"op": "set", "key": "trigger", "value": {...}}   (null removes the key)
type Op struct {
	Op    string          `json:"op"`
	ID    string          `json:"id,omitempty"`
	At    *int            `json:"at,omitempty"`
	Key   string          `json:"key,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
}

// Apply makes the edits in order and returns the new file; an error
// names the edit (by its index) and what is wrong with it, and nothing is
// applied.
func Apply(src []byte, ops []Op) ([]byte, error) {
	e, err := load(src)
	if err != nil {
		return nil, err
	}
	for i, op := range ops {
		if err := e.apply(op); err != nil {
			return nil, fmt.Errorf("ops[%d] (%s): %w", i, op.Op, err)
		}
	}
	return e.bytes()
}

func (e *editor) apply(op Op) error {
	value := func() (*yaml.Node, error) {
		if len(op.Value) == 0 {
			return nil, errors.New("value is required")
		}
		return NodeFromJSON(op.Value)
	}
	at := func() (int, error) {
		if op.At == nil {
			return 0, errors.New("at (the step's index, from 0) is required")
		}
		return *op.At, nil
	}
	switch op.Op {
	case "set_step":
		v, err := value()
		if err != nil {
			return err
		}
		return e.setStep(op.ID, v)
	case "insert_step":
		v, err := value()
		if err != nil {
			return err
		}
		i, err := at()
		if err != nil {
			return err
		}
		return e.insertStep(i, v)
	case "remove_step":
		return e.removeStep(op.ID)
	case "move_step":
		i, err := at()
		if err != nil {
			return err
		}
		return e.moveStep(op.ID, i)
	case "set":
		if string(op.Value) == "null" || len(op.Value) == 0 {
			return e.setKey(op.Key, nil)
		}
		v, err := value()
		if err != nil {
			return err
		}
		return e.setKey(op.Key, v)
	}
	return fmt.Errorf("op: want set_step, insert_step, remove_step, move_step or set, got %q", op.Op)
}

// NodeFromJSON reads a JSON value as a YAML node, keys in the order
// written, styled as hand-written YAML (no braces, no needless quotes).
func NodeFromJSON(data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		return nil, fmt.Errorf("value must be JSON: %v", err)
	}
	n := doc.Content[0]
	// A node keeps whatever the text said, a key twice included; decoding
	// it is what refuses that, and a flow written with it would not load.
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, fmt.Errorf("value: %w", err)
	}
	blockStyle(n)
	return n, nil
}

func (e *editor) setStep(id string, step *yaml.Node) error {
	i := e.stepIndex(id)
	if i < 0 {
		return fmt.Errorf("no step with id %q", id)
	}
	if step == nil || step.Kind != yaml.MappingNode {
		return errors.New("a step must be a mapping (id:, module:, with:, ...)")
	}
	if newID := stepID(step); newID != id && e.stepIndex(newID) >= 0 {
		return fmt.Errorf("step id %q is already used", newID)
	}
	old := e.items[i]
	if equal(step, old) {
		return nil
	}
	n := withoutFoot(step)
	adopt(n, old)
	if p, ok := e.itemPieces[old]; ok {
		e.replaced[n] = p
	} else if p, ok := e.replaced[old]; ok {
		e.replaced[n] = p
	}
	e.items[i] = n
	return nil
}

func (e *editor) insertStep(at int, step *yaml.Node) error {
	if at < 0 || at > len(e.items) {
		return fmt.Errorf("at must be from 0 to %d (the number of steps), got %d", len(e.items), at)
	}
	if step == nil || step.Kind != yaml.MappingNode {
		return errors.New("a step must be a mapping (id:, module:, with:, ...)")
	}
	if id := stepID(step); id != "" && e.stepIndex(id) >= 0 {
		return fmt.Errorf("step id %q is already used", id)
	}
	n := withoutFoot(step)
	n.HeadComment = ""
	if e.keyIndex("steps") < 0 {
		e.pairs = append(e.pairs, [2]*yaml.Node{{Kind: yaml.ScalarNode, Value: "steps"}, {Kind: yaml.SequenceNode}})
		e.stepsKey = e.pairs[len(e.pairs)-1][0]
		e.stepsSeq = e.pairs[len(e.pairs)-1][1]
	}
	e.items = append(e.items[:at], append([]*yaml.Node{n}, e.items[at:]...)...)
	return nil
}

func (e *editor) removeStep(id string) error {
	i := e.stepIndex(id)
	if i < 0 {
		return fmt.Errorf("no step with id %q", id)
	}
	e.items = append(e.items[:i:i], e.items[i+1:]...)
	return nil
}

func (e *editor) moveStep(id string, to int) error {
	i := e.stepIndex(id)
	if i < 0 {
		return fmt.Errorf("no step with id %q", id)
	}
	if to < 0 || to >= len(e.items) {
		return fmt.Errorf("at must be from 0 to %d, got %d", len(e.items)-1, to)
	}
	it := e.items[i]
	rest := append(e.items[:i:i], e.items[i+1:]...)
	e.items = append(rest[:to:to], append([]*yaml.Node{it}, rest[to:]...)...)
	return nil
}

func (e *editor) setKey(key string, value *yaml.Node) error {
	if err := checkTopKey(key); err != nil {
		return err
	}
	i := e.keyIndex(key)
	switch {
	case value == nil && i < 0:
		return nil
	case value == nil:
		e.pairs = append(e.pairs[:i:i], e.pairs[i+1:]...)
		return nil
	case i >= 0:
		old := e.pairs[i][1]
		if equal(value, old) {
			return nil
		}
		n := withoutFoot(value)
		adopt(n, old)
		e.pairs[i][1] = n
		return nil
	}
	n := withoutFoot(value)
	n.HeadComment = ""
	pair := [2]*yaml.Node{{Kind: yaml.ScalarNode, Value: key}, n}
	at := e.keyIndex("steps")
	if at < 0 {
		at = len(e.pairs)
	}
	e.pairs = append(e.pairs[:at:at], append([][2]*yaml.Node{pair}, e.pairs[at:]...)...)
	return nil
}
