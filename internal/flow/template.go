package flow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	exprparser "github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"

	"github.com/s3flow/s3flow/internal/module"
)

// Template is a value from a flow file with its {{ expressions }} compiled.
// A string that is exactly one {{ expression }} keeps the expression's type
// (a number, a file reference); any other string with expressions is text.
type Template struct {
	// literal is used when there are no expressions.
	literal any
	parts   []templatePart
	// whole is set when the value is a single expression, which gives a
	// value of type gives.
	whole *vm.Program
	gives module.Type
	// nested values of a map or list.
	fields map[string]*Template
	order  []string
	items  []*Template
	Pos    Pos
}

type templatePart struct {
	text    string
	program *vm.Program
	// gives is the type of the expression's value, as checked.
	gives module.Type
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

// compileNode compiles a YAML value where it stands in the file, so that
// each expression's problems are reported at its own line and column. src
// is the file, for the indentation of literal blocks.
func compileNode(n *yaml.Node, src []byte, env map[string]any, checkRef func([]string) error) (*Template, []error) {
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias != nil {
			return compileNode(n.Alias, src, env, checkRef)
		}
	case yaml.MappingNode:
		if hasMerge(n) {
			break // "<<: *base" is resolved by decoding
		}
		t := &Template{fields: map[string]*Template{}, Pos: posOf(n)}
		var errs []error
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			sub, e := compileNode(n.Content[i+1], src, env, checkRef)
			errs = append(errs, e...)
			if _, dup := t.fields[k]; !dup {
				t.order = append(t.order, k)
			}
			t.fields[k] = sub
		}
		return t, errs
	case yaml.SequenceNode:
		t := &Template{items: []*Template{}, Pos: posOf(n)}
		var errs []error
		for _, c := range n.Content {
			sub, e := compileNode(c, src, env, checkRef)
			errs = append(errs, e...)
			t.items = append(t.items, sub)
		}
		return t, errs
	case yaml.ScalarNode:
		if n.ShortTag() == "!!str" {
			return compileScalar(n, src, env, checkRef)
		}
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return &Template{Pos: posOf(n)}, []error{&exprError{Pos: posOf(n), Msg: strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	return compileValue(v, posOf(n), env, checkRef)
}

func hasMerge(n *yaml.Node) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].ShortTag() == "!!merge" {
			return true
		}
	}
	return false
}

// compileScalar compiles a text scalar, locating its first character: a
// quote comes before it; a literal block starts on the next line at its
// indentation. Where the text does not map onto the file character for
// character (folded lines, escapes), problems are reported at the value.
func compileScalar(n *yaml.Node, src []byte, env map[string]any, checkRef func([]string) error) (*Template, []error) {
	pos, exact := posOf(n), !strings.Contains(n.Value, "\n")
	switch n.Style {
	case yaml.DoubleQuotedStyle:
		pos.Column++
		exact = exact && !strings.Contains(lineAt(src, n.Line), "\\")
	case yaml.SingleQuotedStyle:
		pos.Column++
		exact = exact && !strings.Contains(n.Value, "'")
	case yaml.LiteralStyle:
		line := lineAt(src, n.Line+1)
		pos, exact = Pos{n.Line + 1, len(line) - len(strings.TrimLeft(line, " ")) + 1}, true
	case yaml.FoldedStyle:
		exact = false
	}
	t, errs := compileString(n.Value, pos, env, checkRef)
	t.Pos = posOf(n)
	if !exact {
		for _, err := range errs {
			if ee, ok := err.(*exprError); ok {
				ee.Pos = posOf(n)
			}
		}
	}
	return t, errs
}

// lineAt returns line n (from 1) of src, "" when there is none.
func lineAt(src []byte, n int) string {
	for i := 1; i < n; i++ {
		nl := bytes.IndexByte(src, '\n')
		if nl < 0 {
			return ""
		}
		src = src[nl+1:]
	}
	if nl := bytes.IndexByte(src, '\n'); nl >= 0 {
		src = src[:nl]
	}
	return strings.TrimSuffix(string(src), "\r")
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
			errs = append(errs, &exprError{Pos: posIn(s, pos, offset+start), Msg: "{{ has no closing }}"})
			return t, errs
		}
		if start > 0 {
			t.parts = append(t.parts, templatePart{text: rest[:start]})
		}
		src := rest[start+2 : start+end]
		prog, gives, err := compileExpr(src, env, checkRef)
		if err != nil {
			errs = append(errs, locate(err, s, pos, offset+start+2, src))
		}
		t.parts = append(t.parts, templatePart{program: prog, gives: gives})
		consumed := start + end + 2
		rest, offset = rest[consumed:], offset+consumed
	}
	if len(t.parts) == 1 && t.parts[0].program != nil {
		t.whole, t.gives, t.parts = t.parts[0].program, t.parts[0].gives, nil
	}
	return t, errs
}

// posIn returns the file position of byte offset off of s, whose first
// character is at pos. Columns count characters, as YAML's do; a line
// after a newline in s is taken to start at pos.Column too (a literal
// block's indentation).
func posIn(s string, pos Pos, off int) Pos {
	off = min(max(off, 0), len(s))
	before := s[:off]
	nl := strings.LastIndexByte(before, '\n')
	if nl < 0 {
		return Pos{pos.Line, pos.Column + utf8.RuneCountInString(before)}
	}
	return Pos{pos.Line + strings.Count(before, "\n"), pos.Column + utf8.RuneCountInString(before[nl+1:])}
}

// byteOffset converts expr's character offset within src to a byte offset.
func byteOffset(src string, chars int) int {
	n := 0
	for i := range src {
		if n == chars {
			return i
		}
		n++
	}
	return len(src)
}

// locate turns an expr error in src, which starts at byte offset srcAt of
// s, into one at a file position.
func locate(err error, s string, pos Pos, srcAt int, src string) error {
	var fe *file.Error
	if errors.As(err, &fe) {
		return &exprError{Pos: posIn(s, pos, srcAt+byteOffset(src, fe.From)), Msg: fmt.Sprintf("in {{%s}}: %s", src, fe.Message)}
	}
	var re *refError
	if errors.As(err, &re) {
		return &exprError{Pos: posIn(s, pos, srcAt+byteOffset(src, re.offset)), Msg: fmt.Sprintf("in {{%s}}: %s", src, re.msg)}
	}
	return &exprError{Pos: posIn(s, pos, srcAt), Msg: fmt.Sprintf("in {{%s}}: %v", src, err)}
}

type refError struct {
	offset int
	msg    string
}

func (e *refError) Error() string { return e.msg }

// compileExpr parses src and checks its references (the names an author
// wrote, before the checker rewrites anything), then compiles it against
// env's types: as written, for the problems the author should see, then
// with the guard patched in (whose names would only confuse a message).
func compileExpr(src string, env map[string]any, checkRef func([]string) error) (*vm.Program, module.Type, error) {
	tree, err := exprparser.Parse(src)
	if err != nil {
		return nil, module.Any, err
	}
	if checkRef != nil {
		v := &refVisitor{check: checkRef}
		ast.Walk(&tree.Node, v)
		if v.err != nil {
			return nil, module.Any, v.err
		}
	}
	checked, err := expr.Compile(src, expr.Env(env))
	if err != nil {
		return nil, module.Any, err
	}
	if err := checkTypes(checked); err != nil {
		return nil, module.Any, err
	}
	gives := valueKind(checked.Node().Type())
	prog, err := expr.Compile(src, expr.Env(env), expr.Patch(guardPatch{}))
	return prog, gives, err
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
	if len(chain) < 2 || (chain[0] != "inputs" && chain[0] != "steps" && chain[0] != "trigger") {
		return
	}
	// The walk visits inner chains first, so the first bad name is caught,
	// and reported where the reference starts.
	if err := v.check(chain); err != nil {
		v.err = &refError{offset: chainRoot(m).Location().From, msg: err.Error()}
	}
}

// chainRoot returns the identifier a member chain starts with.
func chainRoot(m *ast.MemberNode) ast.Node {
	n := m.Node
	for {
		inner, ok := n.(*ast.MemberNode)
		if !ok {
			return n
		}
		n = inner.Node
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

// Eval computes the value in env. Evaluation stops after the time limit
// of ctx (WithTimeLimit; DefaultEvalTimeout without one), when ctx is
// done, and when it would build strings past the size limits
// (ErrTimeLimit, ErrStringLimit).
func (t *Template) Eval(ctx context.Context, env map[string]any) (any, error) {
	if t.IsLiteral() {
		return t.eval(nil, nil)
	}
	g := newGuard(ctx)
	// The guard goes into a copy: env may be shared.
	genv := make(map[string]any, len(env)+1)
	maps.Copy(genv, env)
	genv[guardName] = g
	return t.eval(g, genv)
}

func (t *Template) eval(g *guard, env map[string]any) (any, error) {
	switch {
	case t.fields != nil:
		out := make(map[string]any, len(t.fields))
		for _, k := range t.order {
			v, err := t.fields[k].eval(g, env)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case t.items != nil:
		out := make([]any, len(t.items))
		for i, it := range t.items {
			v, err := it.eval(g, env)
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
			if err := g.growText(v); err != nil {
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
	case time.Time:
		return module.FormatTime(x)
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}
