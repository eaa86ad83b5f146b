package flow

import (
	"fmt"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// Template is a value from a flow file with its {{ expressions }} compiled.
// A string that is exactly one {{ expression }} keeps the expression's type
// (a number, a file reference); any other string with expressions is text.
type Template struct {
	// literal is used when there are no expressions.
	literal any
	parts   []templatePart
	// whole is set when the value is a single expression.
	whole *vm.Program
	// nested values of a map or list.
	fields map[string]*Template
	order  []string
	items  []*Template
	Pos    Pos
}

type templatePart struct {
	text    string
	program *vm.Program
}

// Pos is a line and column in the flow file.
type Pos struct{ Line, Column int }

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Column) }

// IsLiteral reports whether the value holds no expression at all.
func (t *Template) IsLiteral() bool {
	if t.fields != nil || t.items != nil {
		for _, f := range t.fields {
			if !f.IsLiteral() {
				return false
			}
		}
		for _, it := range t.items {
			if !it.IsLiteral() {
				return false
			}
		}
		return true
	}
	return t.parts == nil && t.whole == nil
}

// exprError is an expression that does not compile, located in the file.
type exprError struct {
	Pos Pos
	Msg string
}

func (e *exprError) Error() string { return fmt.Sprintf("%s: %s", e.Pos, e.Msg) }

// compileValue compiles a decoded YAML value. checkRef validates every
// inputs.X / steps.ID.FIELD reference an expression makes.
func compileValue(v any, pos Pos, env map[string]any, checkRef func(ref []string) error) (*Template, []error) {
	var errs []error
	switch x := v.(type) {
	case map[string]any:
		t := &Template{fields: map[string]*Template{}, Pos: pos}
		for _, k := range sortedKeys(x) {
			sub, e := compileValue(x[k], pos, env, checkRef)
			errs = append(errs, e...)
			t.fields[k] = sub
			t.order = append(t.order, k)
		}
		return t, errs
	case []any:
		t := &Template{items: []*Template{}, Pos: pos}
		for _, it := range x {
			sub, e := compileValue(it, pos, env, checkRef)
			errs = append(errs, e...)
			t.items = append(t.items, sub)
		}
		return t, errs
	case string:
		return compileString(x, pos, env, checkRef)
	}
	return &Template{literal: v, Pos: pos}, nil
}

func compileString(s string, pos Pos, env map[string]any, checkRef func([]string) error) (*Template, []error) {
	if !strings.Contains(s, "{{") {
		return &Template{literal: s, Pos: pos}, nil
	}
	t := &Template{Pos: pos}
	var errs []error
	rest, offset := s, 0
	for {
		start := strings.Index(rest, "{{")
		if start < 0 {
			if rest != "" {
				t.parts = append(t.parts, templatePart{text: rest})
			}
			break
		}
		end := strings.Index(rest[start:], "}}")
		if end < 0 {
			errs = append(errs, &exprError{Pos: Pos{pos.Line, pos.Column + offset + start}, Msg: "{{ has no closing }}"})
			return t, errs
		}
		if start > 0 {
			t.parts = append(t.parts, templatePart{text: rest[:start]})
		}
		src := rest[start+2 : start+end]
		exprPos := Pos{pos.Line, pos.Column + offset + start + 2}
		prog, err := compileExpr(src, env, checkRef)
		if err != nil {
			errs = append(errs, locate(err, exprPos, src))
		}
		t.parts = append(t.parts, templatePart{program: prog})
		consumed := start + end + 2
		rest, offset = rest[consumed:], offset+consumed
	}
	if len(t.parts) == 1 && t.parts[0].program != nil {
		t.whole, t.parts = t.parts[0].program, nil
	}
	return t, errs
}

// locate turns an expr error into one at a file position.
func locate(err error, at Pos, src string) error {
	if fe, ok := err.(*file.Error); ok {
		col := at.Column + fe.Column
		return &exprError{Pos: Pos{at.Line, col}, Msg: fmt.Sprintf("in {{%s}}: %s", src, fe.Message)}
	}
	if re, ok := err.(*refError); ok {
		return &exprError{Pos: Pos{at.Line, at.Column + re.offset}, Msg: fmt.Sprintf("in {{%s}}: %s", src, re.msg)}
	}
	return &exprError{Pos: at, Msg: fmt.Sprintf("in {{%s}}: %v", src, err)}
}

type refError struct {
	offset int
	msg    string
}

func (e *refError) Error() string { return e.msg }

func compileExpr(src string, env map[string]any, checkRef func([]string) error) (*vm.Program, error) {
	prog, err := expr.Compile(src, expr.Env(env))
	if err != nil {
		return nil, err
	}
	if checkRef == nil {
		return prog, nil
	}
	v := &refVisitor{check: checkRef}
	node := prog.Node()
	ast.Walk(&node, v)
	if v.err != nil {
		return nil, v.err
	}
	return prog, nil
}

// refVisitor checks the inputs.X and steps.ID.FIELD chains of an expression.
type refVisitor struct {
	check func([]string) error
	err   error
}

func (v *refVisitor) Visit(node *ast.Node) {
	if v.err != nil {
		return
	}
	m, ok := (*node).(*ast.MemberNode)
	if !ok {
		return
	}
	chain := memberChain(m)
	if len(chain) < 2 || (chain[0] != "inputs" && chain[0] != "steps") {
		return
	}
	// Only the longest chain matters: the walk also visits its inner nodes.
	if err := v.check(chain); err != nil {
		v.err = &refError{offset: m.Location().From, msg: err.Error()}
	}
}

// memberChain returns ["steps", "list", "key"] for steps.list.key.
func memberChain(m *ast.MemberNode) []string {
	prop, ok := m.Property.(*ast.StringNode)
	if !ok {
		return nil
	}
	switch inner := m.Node.(type) {
	case *ast.IdentifierNode:
		return []string{inner.Value, prop.Value}
	case *ast.MemberNode:
		if c := memberChain(inner); c != nil {
			return append(c, prop.Value)
		}
	}
	return nil
}

// Eval computes the value in env.
func (t *Template) Eval(env map[string]any) (any, error) {
	switch {
	case t.fields != nil:
		out := make(map[string]any, len(t.fields))
		for _, k := range t.order {
			v, err := t.fields[k].Eval(env)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case t.items != nil:
		out := make([]any, len(t.items))
		for i, it := range t.items {
			v, err := it.Eval(env)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case t.whole != nil:
		return expr.Run(t.whole, env)
	case t.parts != nil:
		var b strings.Builder
		for _, p := range t.parts {
			if p.program == nil {
				b.WriteString(p.text)
				continue
			}
			v, err := expr.Run(p.program, env)
			if err != nil {
				return nil, err
			}
			b.WriteString(text(v))
		}
		return b.String(), nil
	}
	return t.literal, nil
}

// text is how a value reads inside a string.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}
