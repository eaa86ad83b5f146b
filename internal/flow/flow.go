// Package flow reads flow files: YAML with a name, typed inputs, an optional
// trigger and an ordered list of steps. Parse checks everything it can
// before anything runs (modules, fields, types, expressions) and reports
// every problem at once with its line and column.
package flow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/s3flow/s3flow/internal/module"
)

// Flow is a parsed, checked flow file.
type Flow struct {
	Name        string
	Description string
	Inputs      []Input
	// Triggers are what start runs besides a person (see internal/trigger).
	Triggers []*Trigger
	// MaxConcurrentRuns bounds how many runs of the flow go at once, across
	// all the server's workers (0: no bound beyond the workers').
	MaxConcurrentRuns int
	// HistoryDetail is how many bundles of each step a run's history keeps
	// in full before it keeps counts only (0: the server's or the CLI's
	// setting; HistoryDetailAll: every one).
	HistoryDetail int
	Steps         []*Step
	// File is the path it was read from, Hash the sha256 of its bytes (the
	// flow's version).
	File string
	Hash string
}

// HistoryDetailAll, as a flow's HistoryDetail, keeps every bundle of a
// run in full.
const HistoryDetailAll = -1

// Input is a declared flow input.
type Input struct {
	Name        string
	Type        string // string, integer, number or boolean
	Required    bool
	Default     any
	Description string
}

// Step is one step of a flow.
type Step struct {
	ID     string
	Module *module.Module
	// Connection names the connection; it may use {{ inputs.* }}.
	Connection *Template
	// With holds the module's inputs by field name.
	With    map[string]*Template
	OnError OnError
	Timeout time.Duration
	// Concurrency, on a step that emits many bundles, is how many of its
	// bundles go down the rest of the flow at once (0 or 1: one by one).
	Concurrency int
	Pos         Pos
}

// Error actions of on_error.
const (
	ActionStop     = "stop"     // the default: stop the run, record the error
	ActionRetry    = "retry"    // try again, then the Then action
	ActionIgnore   = "ignore"   // drop this bundle, go on
	ActionResume   = "resume"   // substitute an output, go on
	ActionBreak    = "break"    // stop this bundle, finish the run as incomplete
	ActionRollback = "rollback" // stop the run now
)

var errorActions = []string{ActionStop, ActionRetry, ActionIgnore, ActionResume, ActionBreak, ActionRollback}

// OnError says what a failing step does.
type OnError struct {
	Action   string
	Attempts int
	Backoff  time.Duration
	// Then is what happens when retries run out (default stop).
	Then string
	// Output is the substitute bundle of resume.
	Output map[string]any
}

// Errors are all the problems found in a flow file.
type Errors []error

func (e Errors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "\n")
}

// Problem is one problem at a place in the file.
type Problem struct {
	File string
	Pos  Pos
	Msg  string
}

func (p *Problem) Error() string {
	if p.File == "" {
		return fmt.Sprintf("%s: %s", p.Pos, p.Msg)
	}
	return fmt.Sprintf("%s:%s: %s", p.File, p.Pos, p.Msg)
}

var idPattern = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]{0,62}$`)

// Parse reads and checks a flow file against the registry's modules.
func Parse(file string, data []byte, reg *module.Registry) (*Flow, error) {
	sum := sha256.Sum256(data)
	p := &parser{file: file, src: data, reg: reg, flow: &Flow{File: file, Hash: hex.EncodeToString(sum[:])}}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{&Problem{File: file, Pos: Pos{1, 1}, Msg: "the file is empty"}}
		}
		return nil, Errors{&Problem{File: file, Pos: yamlErrorPos(err), Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	if len(doc.Content) == 0 {
		return nil, Errors{&Problem{File: file, Pos: Pos{1, 1}, Msg: "the file is empty"}}
	}
	p.top(doc.Content[0])
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return p.flow, nil
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func yamlErrorPos(err error) Pos {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Pos{n, 1}
	}
	return Pos{1, 1}
}

type parser struct {
	file string
	src  []byte
	reg  *module.Registry
	flow *Flow
	errs Errors
	// triggerBroken says a trigger was written with problems: references
	// to trigger.* are not checked against what it would give.
	triggerBroken bool
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, &Problem{File: p.file, Pos: posOf(n), Msg: fmt.Sprintf(format, args...)})
}

func posOf(n *yaml.Node) Pos { return Pos{n.Line, n.Column} }

// pairs returns a mapping node's keys and values in order, or reports that
// the node is not a mapping.
func (p *parser) pairs(n *yaml.Node, what string) [][2]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping (key: value)", what)
		return nil
	}
	var out [][2]*yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if seen[k.Value] {
			p.errorf(k, "%s: %q is given twice", what, k.Value)
		}
		seen[k.Value] = true
		out = append(out, [2]*yaml.Node{k, n.Content[i+1]})
	}
	return out
}

func (p *parser) top(n *yaml.Node) {
	var stepsNode *yaml.Node
	for _, kv := range p.pairs(n, "the flow") {
		k, v := kv[0], kv[1]
		switch k.Value {
		case "name":
			p.flow.Name = p.str(v, "name")
		case "description":
			p.flow.Description = p.str(v, "description")
		case "inputs":
			p.inputs(v)
		case "trigger":
			before := len(p.errs)
			p.triggers(v)
			p.triggerBroken = len(p.errs) > before
		case "max_concurrent_runs":
			n, err := strconv.Atoi(v.Value)
			if v.Kind != yaml.ScalarNode || err != nil || n < 1 {
				p.errorf(v, "max_concurrent_runs must be a whole number of at least 1, got %q", v.Value)
			}
			p.flow.MaxConcurrentRuns = n
		case "history_detail":
			n, err := strconv.Atoi(v.Value)
			switch {
			case v.Kind == yaml.ScalarNode && v.Value == "all":
				p.flow.HistoryDetail = HistoryDetailAll
			case v.Kind != yaml.ScalarNode || err != nil || n < 1:
				p.errorf(v, "history_detail must be a whole number of at least 1, or all, got %q", v.Value)
			default:
				p.flow.HistoryDetail = n
			}
		case "steps":
			stepsNode = v
		default:
			p.errorf(k, "unknown key %q (keys: name, description, inputs, trigger, max_concurrent_runs, history_detail, steps)", k.Value)
		}
	}
	if p.flow.Name == "" {
		p.errorf(n, "name is required")
	}
	if stepsNode == nil || stepsNode.Kind != yaml.SequenceNode || len(stepsNode.Content) == 0 {
		at := n
		if stepsNode != nil {
			at = stepsNode
		}
		p.errorf(at, "steps must be a list with at least one step")
		return
	}
	for _, s := range stepsNode.Content {
		p.step(s)
	}
}

func (p *parser) str(n *yaml.Node, what string) string {
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, "%s must be text", what)
		return ""
	}
	return n.Value
}

// inputTypes are the types a flow input may have, named as the module
// field types are: "string", "integer", "number", "boolean".
var inputTypes = []module.Type{module.String, module.Int, module.Number, module.Bool, module.FileRef}

// inputType is the module type of a declared input.
func inputType(in Input) module.Type {
	for _, t := range inputTypes {
		if t.String() == in.Type {
			return t
		}
	}
	return module.Any
}

func inputTypeNames() []string {
	names := make([]string, len(inputTypes))
	for i, t := range inputTypes {
		names[i] = t.String()
	}
	return names
}

func (p *parser) inputs(n *yaml.Node) {
	for _, kv := range p.pairs(n, "inputs") {
		k, v := kv[0], kv[1]
		in := Input{Name: k.Value, Type: "string"}
		if !idPattern.MatchString(in.Name) {
			p.errorf(k, "input name %q must be letters, digits and _ starting with a letter", in.Name)
		}
		for _, f := range p.pairs(v, "input "+in.Name) {
			switch f[0].Value {
			case "type":
				in.Type = f[1].Value
				if names := inputTypeNames(); !slices.Contains(names, in.Type) {
					p.errorf(f[1], "input %s: type must be one of %s", in.Name, strings.Join(names, ", "))
				}
			case "required":
				if err := f[1].Decode(&in.Required); err != nil {
					p.errorf(f[1], "input %s: required must be true or false", in.Name)
				}
			case "description":
				in.Description = f[1].Value
			case "default":
				if err := f[1].Decode(&in.Default); err != nil {
					p.errorf(f[1], "input %s: default: %v", in.Name, err)
				}
			default:
				p.errorf(f[0], "input %s: unknown key %q (keys: type, required, default, description)", in.Name, f[0].Value)
			}
		}
		if in.Default != nil {
			if _, err := ConvertInput(in, in.Default); err != nil {
				p.errorf(v, "input %s: default %v", in.Name, err)
			}
		}
		p.flow.Inputs = append(p.flow.Inputs, in)
	}
}

// ConvertInput checks and converts an input value (from YAML, JSON or the
// command line's text) to the input's type, by the same rules as a module
// field of that type (module.Type.Convert): one conversion for both.
func ConvertInput(in Input, v any) (any, error) {
	t := inputType(in)
	if t == module.Any {
		return nil, fmt.Errorf("unknown type %q", in.Type)
	}
	return t.Convert(v)
}

// ZeroInput is what an optional input without a default is when it is not
// given: its type's zero value ("", 0, 0.0, false).
func ZeroInput(in Input) any {
	switch in.Type {
	case "integer":
		return int64(0)
	case "number":
		return float64(0)
	case "boolean":
		return false
	}
	return ""
}

func (p *parser) step(n *yaml.Node) {
	s := &Step{Pos: posOf(n), With: map[string]*Template{}, OnError: OnError{Action: ActionStop}}
	var withNode, connNode, concNode *yaml.Node
	for _, kv := range p.pairs(n, "a step") {
		k, v := kv[0], kv[1]
		switch k.Value {
		case "id":
			s.ID = p.str(v, "id")
		case "module":
			name := p.str(v, "module")
			m, ok := p.reg.Lookup(name)
			if !ok {
				p.errorf(v, "unknown module %q (modules: %s)", name, p.moduleNames())
			}
			s.Module = m
		case "connection":
			connNode = v
		case "with":
			withNode = v
		case "on_error":
			s.OnError = p.onError(v)
		case "timeout":
			d, err := time.ParseDuration(v.Value)
			if err != nil || d <= 0 {
				p.errorf(v, "timeout must be a duration such as 30s or 5m, got %q", v.Value)
			}
			s.Timeout = d
		case "concurrency":
			n, err := strconv.Atoi(v.Value)
			if v.Kind != yaml.ScalarNode || err != nil || n < 1 || n > maxConcurrency {
				p.errorf(v, "concurrency must be a whole number from 1 to %d, got %q", maxConcurrency, v.Value)
			}
			s.Concurrency = n
			concNode = v
		case "description", "name":
		default:
			p.errorf(k, "unknown step key %q (keys: id, module, connection, with, on_error, timeout, concurrency, description)", k.Value)
		}
	}
	label := fmt.Sprintf("step %q", s.ID)
	switch {
	case s.ID == "":
		p.errorf(n, "a step needs an id")
		label = fmt.Sprintf("step %d", len(p.flow.Steps)+1)
	case !idPattern.MatchString(s.ID):
		p.errorf(n, "step id %q must be letters, digits and _ starting with a letter", s.ID)
	case slices.ContainsFunc(p.flow.Steps, func(o *Step) bool { return o.ID == s.ID }):
		p.errorf(n, "step id %q is used twice", s.ID)
	case s.ID == "inputs" || s.ID == "steps" || s.ID == "trigger":
		p.errorf(n, "step id %q is reserved", s.ID)
	}
	if s.Module == nil {
		if n.Kind == yaml.MappingNode && !hasKey(n, "module") {
			p.errorf(n, "%s: module is required", label)
		}
		p.flow.Steps = append(p.flow.Steps, s)
		return
	}
	// The step's expressions see the steps before it, parsed so far.
	env := p.typedEnv()
	if connNode != nil {
		switch {
		case !s.Module.NeedsConnection:
			p.errorf(connNode, "%s: module %s takes no connection", label, s.Module.Name)
		case connNode.Kind != yaml.ScalarNode || connNode.Value == "":
			p.errorf(connNode, "%s: connection must be a connection's name, e.g. local", label)
		default:
			t, errs := compileScalar(connNode, p.src, env, p.refChecker(nil))
			p.exprErrors(label+": connection", errs)
			s.Connection = t
		}
	} else if s.Module.NeedsConnection {
		p.errorf(n, "%s: module %s needs a connection (connection: local, or a name from 's3flow connection list')", label, s.Module.Name)
	}
	if concNode != nil && !s.Module.Many {
		p.errorf(concNode, "%s: concurrency applies to steps that emit many bundles (listings, flow.iterate, file.list): it says how many of them go down the flow at once; put it on the step whose bundles feed %s", label, s.ID)
	}
	if s.Timeout > 0 && s.Module.Many {
		p.errorf(n, "%s: timeout applies to modules that return one result; %s streams its results (the SDK bounds each request)", label, s.Module.Name)
	}
	p.with(s, label, withNode, n, env)
	p.flow.Steps = append(p.flow.Steps, s)
}

// hasKey reports whether mapping n has the key.
func hasKey(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

func (p *parser) moduleNames() string {
	var names []string
	for _, m := range p.reg.All() {
		names = append(names, m.Name)
	}
	return strings.Join(names, ", ")
}

// with compiles the step's inputs and checks them against the declaration.
func (p *parser) with(s *Step, label string, withNode, stepNode *yaml.Node, env map[string]any) {
	// literals holds the values without expressions, as they will reach
	// the module; nodes says where each is written.
	literals := map[string]any{}
	nodes := map[string]*yaml.Node{}
	if withNode != nil {
		for _, kv := range p.pairs(withNode, label+": with") {
			k, v := kv[0], kv[1]
			if _, ok := s.Module.Field(k.Value); !ok {
				p.errorf(k, "%s: with.%s is not an input of %s (inputs: %s)", label, k.Value, s.Module.Name, fieldNames(s.Module))
				continue
			}
			var raw any
			if err := v.Decode(&raw); err != nil {
				p.errorf(v, "%s: with.%s: %v", label, k.Value, strings.TrimPrefix(err.Error(), "yaml: "))
				continue
			}
			t, errs := compileNode(v, p.src, env, p.refChecker(s))
			p.exprErrors(fmt.Sprintf("%s: with.%s", label, k.Value), errs)
			if f, _ := s.Module.Field(k.Value); len(errs) == 0 {
				if why := t.mismatch(f.Type); why != "" {
					p.errorf(v, "%s: with.%s: %s %s", label, k.Value, strings.TrimSpace(v.Value), why)
				}
			}
			s.With[k.Value] = t
			if len(errs) == 0 && t.IsLiteral() {
				if lit, err := t.Eval(context.Background(), nil); err == nil {
					literals[k.Value], nodes[k.Value] = lit, v
				}
			}
		}
	}
	for _, f := range s.Module.Fields {
		if f.Required && s.With[f.Name] == nil {
			at := stepNode
			if withNode != nil {
				at = withNode
			}
			p.errorf(at, "%s: with.%s is required", label, f.Name)
		}
	}
	if withNode == nil {
		return
	}
	// Literal values are checked now: each on its own with stand-ins for
	// the others, so that every bad one is reported, then all together for
	// the module's own rules. Templated values are checked when they are
	// known.
	stand := map[string]any{}
	for i, f := range s.Module.Fields {
		if s.With[f.Name] != nil || f.Required {
			stand[f.Name] = placeholder(f, i)
		}
	}
	reported := map[string]bool{}
	// A problem is reported only for a field whose literal value was
	// checked: a stand-in may break a rule of its own field (a duration,
	// say), which says nothing about the flow.
	report := func(err error, literal map[string]bool) {
		var ie *module.InputError
		if !errors.As(err, &ie) || nodes[ie.Field] == nil || reported[ie.Field] || !literal[ie.Field] {
			return
		}
		reported[ie.Field] = true
		p.errorf(nodes[ie.Field], "%s: with.%s: %s", label, ie.Field, ie.Rule)
	}
	all := maps.Clone(stand)
	checked := map[string]bool{}
	for _, f := range s.Module.Fields {
		v, ok := literals[f.Name]
		if !ok || f.Type == module.FileRef {
			continue
		}
		one := maps.Clone(stand)
		one[f.Name] = v
		if _, err := s.Module.Check(one); err != nil {
			var ie *module.InputError
			if errors.As(err, &ie) && ie.Field == f.Name {
				report(err, map[string]bool{f.Name: true})
				continue
			}
		}
		all[f.Name] = v
		checked[f.Name] = true
	}
	if _, err := s.Module.Check(all); err != nil {
		report(err, checked)
	}
}

// placeholder is a valid stand-in for the i-th field, so one literal can be
// checked on its own. Text stand-ins differ from field to field: a rule
// that relates two fields (a copy's source and target paths) must not fail
// because both got the same stand-in.
func placeholder(f module.Field, i int) any {
	switch f.Type {
	case module.Int:
		return int64(0)
	case module.Bool:
		return false
	case module.Pairs:
		return []module.Pair{}
	case module.FileRef:
		return &module.BytesFile{FileName: "placeholder"}
	}
	if len(f.Choices) > 0 {
		return f.Choices[0]
	}
	// Valid as a bucket name, a key and a relative URL alike.
	text := fmt.Sprintf("placeholder-%d", i)
	if f.Name == "url" {
		return "/" + text
	}
	return text
}

func fieldNames(m *module.Module) string {
	names := make([]string, len(m.Fields))
	for i, f := range m.Fields {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

func (p *parser) exprErrors(where string, errs []error) {
	for _, err := range errs {
		var ee *exprError
		if errors.As(err, &ee) {
			p.errs = append(p.errs, &Problem{File: p.file, Pos: ee.Pos, Msg: where + ": " + ee.Msg})
			continue
		}
		p.errs = append(p.errs, err)
	}
}

// refChecker validates references: inputs must be declared, steps must come
// earlier and have the field. Connections (step == nil) may use inputs only.
func (p *parser) refChecker(step *Step) func([]string) error {
	return func(ref []string) error {
		switch ref[0] {
		case "inputs":
			if !slices.ContainsFunc(p.flow.Inputs, func(in Input) bool { return in.Name == ref[1] }) {
				return fmt.Errorf("inputs.%s is not declared under inputs:", ref[1])
			}
		case "trigger":
			if step == nil {
				return fmt.Errorf("a connection may use inputs only, not what a trigger's caller sends")
			}
			return p.checkTriggerRef(ref[1])
		case "steps":
			if step == nil {
				return fmt.Errorf("a connection may use inputs only, not steps")
			}
			i := slices.IndexFunc(p.flow.Steps, func(s *Step) bool { return s.ID == ref[1] })
			if i < 0 {
				return fmt.Errorf("steps.%s is not an earlier step", ref[1])
			}
			earlier := p.flow.Steps[i]
			if len(ref) > 2 && ref[2] == "items" && keepsNoItems(earlier) {
				return fmt.Errorf("steps.%s.items: %s keeps no items (items: false); use its count, sum, min, max or average, or drop items: false", ref[1], ref[1])
			}
			if len(ref) > 2 && earlier.Module != nil && len(earlier.Module.Outputs) > 0 {
				if !slices.ContainsFunc(earlier.Module.Outputs, func(o module.Output) bool { return o.Name == ref[2] }) {
					return fmt.Errorf("steps.%s.%s: %s has no output %q (outputs: %s)", ref[1], ref[2], earlier.Module.Name, ref[2], outputNames(earlier.Module))
				}
			}
		}
		return nil
	}
}

// keepsNoItems reports whether st is an aggregate told to keep no items.
func keepsNoItems(st *Step) bool {
	if st.Module == nil || st.Module.Control != module.Collects || st.With["items"] == nil || !st.With["items"].IsLiteral() {
		return false
	}
	v, err := st.With["items"].Eval(context.Background(), nil)
	return err == nil && v == false
}

func outputNames(m *module.Module) string {
	names := make([]string, len(m.Outputs))
	for i, o := range m.Outputs {
		names[i] = o.Name
	}
	return strings.Join(names, ", ")
}

func (p *parser) onError(n *yaml.Node) OnError {
	oe := OnError{Action: ActionStop, Then: ActionStop}
	if n.Kind == yaml.ScalarNode {
		oe.Action = n.Value
		if oe.Action == ActionRetry {
			oe.Attempts, oe.Backoff = 3, time.Second
		}
	} else {
		kvs := p.pairs(n, "on_error")
		if len(kvs) != 1 {
			p.errorf(n, "on_error takes one action: %s", strings.Join(errorActions, ", "))
			return oe
		}
		oe.Action = kvs[0][0].Value
		body := kvs[0][1]
		switch oe.Action {
		case ActionRetry:
			oe.Attempts, oe.Backoff = 3, time.Second
			for _, f := range p.pairs(body, "on_error.retry") {
				switch f[0].Value {
				case "attempts":
					n, err := strconv.Atoi(f[1].Value)
					if err != nil || n < 1 || n > 100 {
						p.errorf(f[1], "on_error.retry.attempts must be a whole number from 1 to 100")
					}
					oe.Attempts = n
				case "backoff":
					d, err := time.ParseDuration(f[1].Value)
					if err != nil || d < 0 {
						p.errorf(f[1], "on_error.retry.backoff must be a duration such as 2s")
					}
					oe.Backoff = d
				case "then":
					oe.Then = f[1].Value
					if oe.Then == ActionRetry || oe.Then == ActionResume || !slices.Contains(errorActions, oe.Then) {
						p.errorf(f[1], "on_error.retry.then must be one of stop, ignore, break, rollback")
					}
				default:
					p.errorf(f[0], "on_error.retry: unknown key %q (keys: attempts, backoff, then)", f[0].Value)
				}
			}
		case ActionResume:
			var out map[string]any
			if err := body.Decode(&out); err != nil {
				p.errorf(body, "on_error.resume must be the substitute output, a mapping")
			}
			if o, ok := out["output"].(map[string]any); ok && len(out) == 1 {
				out = o
			}
			oe.Output = out
		}
	}
	if !slices.Contains(errorActions, oe.Action) {
		p.errorf(n, "on_error must be one of %s, got %q", strings.Join(errorActions, ", "), oe.Action)
	}
	return oe
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// maxConcurrency bounds a step's concurrency: more parallel branches than
// this buy nothing from one S3 endpoint and cost memory.
const maxConcurrency = 256
