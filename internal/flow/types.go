package flow

import (
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker/nature"
	"github.com/expr-lang/expr/types"
	"github.com/expr-lang/expr/vm"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/trigger"
)

// Expressions are compiled against the declared types of what they read:
// the flow's inputs, its trigger's payload and each earlier step's
// outputs. A mapping mistake (a time given to a text function, a key where
// a file goes) is then a validate error with its line and column, not a
// failed run.

// goType is a Go type as expr's checker sees it. expr's own types.TypeOf
// takes a value, which cannot name an interface (module.File).
type goType struct{ t reflect.Type }

func (g goType) Nature() nature.Nature { return nature.FromType(g.t) }
func (g goType) String() string        { return g.t.String() }
func (g goType) Equal(o types.Type) bool {
	if o == types.Any {
		return true
	}
	og, ok := o.(goType)
	return ok && og.t == g.t
}

var (
	timeType = reflect.TypeOf(time.Time{})
	fileType = reflect.TypeOf((*module.File)(nil)).Elem()
	anyMap   = types.Map{types.Extra: types.Any}
)

// exprType is how expressions see a value of a module type.
func exprType(t module.Type) types.Type {
	switch t {
	case module.String:
		return types.String
	case module.Int:
		return types.Int64
	case module.Number:
		return types.Float64
	case module.Bool:
		return types.Bool
	case module.Time:
		return goType{timeType}
	case module.FileRef:
		return goType{fileType}
	case module.List:
		return types.Array(types.Any)
	case module.Map, module.Pairs:
		return anyMap
	}
	return types.Any
}

// outputsType is the type of a bundle of m: its declared outputs, and
// nothing else. A module that declares none may give anything.
func outputsType(m *module.Module) types.Type {
	if len(m.Outputs) == 0 {
		return anyMap
	}
	t := types.Map{}
	for _, o := range m.Outputs {
		t[o.Name] = exprType(o.Type)
	}
	return t
}

// stepType is what steps.ID holds for the i-th step when a later step
// reads it: its module's outputs; for a filter, the bundle of the step
// before it, which it lets through; for an aggregate, the list of the
// bundles of the step it collects.
func (p *parser) stepType(i int) types.Type {
	s := p.flow.Steps[i]
	if s.Module == nil {
		return anyMap
	}
	switch s.Module.Control {
	case module.Filters:
		if i == 0 {
			return anyMap
		}
		return p.stepType(i - 1)
	case module.Collects:
		if s.Module.Collect != nil {
			return outputsType(s.Module) // it makes its own bundle
		}
		item := types.Type(anyMap)
		if from := s.With["from"]; from != nil && from.IsLiteral() {
			if id, ok := from.literal.(string); ok {
				if j := p.stepIndex(id); j >= 0 && j < i {
					item = p.stepType(j)
				}
			}
		}
		// A sum of whole numbers (sizes) stays whole: sum, min and max
		// are whole numbers or not, as the values are.
		return types.Map{"items": types.Array(item), "count": types.Int64,
			"sum": types.Any, "min": types.Any, "max": types.Any, "average": types.Float64}
	}
	return outputsType(s.Module)
}

func (p *parser) stepIndex(id string) int {
	for i, s := range p.flow.Steps {
		if s.ID == id {
			return i
		}
	}
	return -1
}

// typedEnv is the environment the expressions of the next step (the steps
// parsed so far being the earlier ones) are compiled against.
func (p *parser) typedEnv() map[string]any {
	env := exprEnv()
	inputs := types.Map{}
	for _, in := range p.flow.Inputs {
		inputs[in.Name] = exprType(inputType(in))
	}
	env["inputs"] = inputs
	env["trigger"] = p.triggerType()
	steps := types.Map{}
	for i, s := range p.flow.Steps {
		if s.ID != "" {
			steps[s.ID] = p.stepType(i)
		}
	}
	env["steps"] = steps
	return env
}

// triggerType is what trigger.* holds: the payload its trigger declares
// (with several triggers, the keys of each; a key two kinds type
// differently is of any type). A flow without a trigger runs with nothing
// there.
func (p *parser) triggerType() types.Type {
	t := types.Map{}
	if p.triggerBroken {
		return anyMap // its problems are reported where it is written
	}
	if len(p.flow.Triggers) == 0 {
		return t
	}
	t["type"] = types.String
	for _, tr := range p.flow.Triggers {
		for _, f := range tr.Kind.Payload {
			ft := exprType(f.Type)
			if have, ok := t[f.Name]; ok && !have.Equal(ft) {
				ft = types.Any
			}
			t[f.Name] = ft
		}
	}
	return t
}

// valueKind is what a compiled expression gives, as far as the checker
// knows: a module type, or Any when it cannot tell.
func valueKind(t reflect.Type) module.Type {
	if t == nil {
		return module.Any
	}
	switch {
	case t == timeType:
		return module.Time
	case t == fileType || (t.Kind() != reflect.Interface && t.Implements(fileType)):
		return module.FileRef
	}
	switch t.Kind() {
	case reflect.String:
		return module.String
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return module.Int
	case reflect.Float32, reflect.Float64:
		return module.Number
	case reflect.Bool:
		return module.Bool
	case reflect.Slice, reflect.Array:
		return module.List
	case reflect.Map:
		return module.Map
	}
	return module.Any
}

// fits says why a value of type got cannot go into a field of type want,
// or "" when it can (or when the checker cannot tell: the run decides).
func fits(want, got module.Type) string {
	if got == module.Any || want == module.Any || want == got {
		return ""
	}
	switch want {
	case module.String:
		switch got {
		case module.Int, module.Number, module.Bool, module.Time:
			return "" // written as text; a time as RFC 3339
		}
	case module.Body:
		switch got {
		case module.String, module.FileRef, module.Int, module.Number, module.Bool, module.Time:
			return ""
		}
	case module.Int:
		if got == module.Number {
			return "" // a whole number is taken; the run checks
		}
	case module.Number:
		if got == module.Int {
			return ""
		}
	case module.Pairs:
		if got == module.Map {
			return ""
		}
	case module.FileRef:
		if got == module.String {
			return "gives text, and a file input takes a file: a step's file output (steps.get.file), file.text(name, content), or an input of type file; a local path is written as it is, without {{ }}"
		}
	}
	hint := ""
	switch {
	case got == module.String && want == module.Int:
		hint = "; convert it with int(...)"
	case got == module.String && want == module.Number:
		hint = "; convert it with float(...)"
	case got == module.String && want == module.Bool:
		hint = "; compare it, e.g. x == 'true'"
	case got == module.String && want == module.Time:
		hint = "; read it with date(...)"
	}
	return fmt.Sprintf("gives %s, and the input takes %s%s", article(got), article(want), hint)
}

// article is "a time", "an integer", "text".
func article(t module.Type) string {
	switch t {
	case module.String:
		return "text"
	case module.Int, module.Any:
		return "an " + t.String()
	case module.Body:
		return "text or a file"
	}
	return "a " + t.String()
}

// checkTriggerRef checks trigger.NAME against the payload the flow's
// triggers declare.
func (p *parser) checkTriggerRef(name string) error {
	if p.triggerBroken {
		return nil
	}
	if len(p.flow.Triggers) == 0 {
		return fmt.Errorf("trigger.%s: the flow has no trigger, so trigger.* holds nothing (declare a trigger:, or take the value as an input)", name)
	}
	var keys []string
	for _, tr := range p.flow.Triggers {
		names := tr.Kind.PayloadNames()
		if slices.Contains(names, name) {
			return nil
		}
		for _, n := range names {
			if !slices.Contains(keys, n) {
				keys = append(keys, n)
			}
		}
	}
	return fmt.Errorf("trigger.%s: the flow's trigger gives no such key%s", name, trigger.Hint(name, keys))
}

// checkTypes reports what the checker lets through but a run would fail
// on: date() given what is a time already.
func checkTypes(prog *vm.Program) error {
	v := &typeVisitor{}
	node := prog.Node()
	ast.Walk(&node, v)
	return v.err
}

type typeVisitor struct{ err error }

func (v *typeVisitor) Visit(node *ast.Node) {
	if v.err != nil {
		return
	}
	var name string
	var args []ast.Node
	switch n := (*node).(type) {
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			name, args = id.Value, n.Arguments
		}
	case *ast.BuiltinNode:
		name, args = n.Name, n.Arguments
	}
	if name != "date" || len(args) == 0 {
		return
	}
	if arg := args[0]; arg.Type() == timeType {
		v.err = &refError{offset: (*node).Location().From,
			msg: "date() reads text as a time, and its argument is a time already: use it as it is (format(t, 'YYYY-MM-DD') writes one as text)"}
	}
}

// mismatch says why the value t gives cannot go into a field of type want,
// or "" when it can, or when only the run can tell.
func (t *Template) mismatch(want module.Type) string {
	got := module.Any
	switch {
	case t.fields != nil:
		got = module.Map
	case t.items != nil:
		got = module.List
	case t.whole != nil:
		got = t.gives
	case t.parts != nil:
		for _, part := range t.parts {
			if part.gives == module.FileRef {
				return "writes a file into text: a file has no text form (use the file on its own, or its name with .Name())"
			}
		}
		got = module.String
	}
	return fits(want, got)
}
