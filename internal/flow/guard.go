package flow

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/vm/runtime"

	"github.com/s3flow/s3flow/internal/module"
)

// DefaultEvalTimeout bounds one evaluation when its context sets no time
// limit; the engine gives a step's own timeout (WithTimeLimit) where it
// has one.
const DefaultEvalTimeout = 10 * time.Second

// Limits on the strings one evaluation builds. expr's memory budget counts
// list and map elements, not bytes: string + , repeat, join and friends
// escape it, and reduce(1..40, #acc + #acc, 'a') would double a string
// until the process runs out of memory.
var (
	// maxString caps any one string an expression builds.
	maxString = 16 << 20
	// maxBuilt caps the bytes of all strings one evaluation builds, so a
	// loop cannot keep many strings below maxString alive at once.
	maxBuilt = 64 << 20
	// maxElements caps the elements flatten may make, as expr's memory
	// budget does for the builtins it counts.
	maxElements = 1_000_000
)

// ErrStringLimit is the error an expression gets when it would build too
// large a string.
var ErrStringLimit = errors.New("string size limit reached")

// ErrTimeLimit is the error an expression gets when it runs past its time
// limit.
var ErrTimeLimit = errors.New("expression time limit reached")

// guardName is where an evaluation's guard sits in the environment, under
// a name no expression can write (an identifier never starts with '@').
const guardName = "@g"

type timeLimitKey struct{}

// WithTimeLimit sets how long an evaluation under ctx may run (a step's
// timeout); without it, DefaultEvalTimeout.
func WithTimeLimit(ctx context.Context, d time.Duration) context.Context {
	if d <= 0 {
		return ctx
	}
	return context.WithValue(ctx, timeLimitKey{}, d)
}

// guard holds the limits of one evaluation; guardPatch routes the
// operations that build strings, and every loop body, through its methods.
// An evaluation runs on one goroutine, so its counters need no lock. It
// reads the clock rather than arming a timer: evaluations are many and
// mostly take microseconds.
type guard struct {
	ctx      context.Context
	limit    time.Duration
	deadline time.Time
	built    int
}

func newGuard(ctx context.Context) *guard {
	limit := DefaultEvalTimeout
	if d, ok := ctx.Value(timeLimitKey{}).(time.Duration); ok {
		limit = d
	}
	return &guard{ctx: ctx, limit: limit, deadline: time.Now().Add(limit)}
}

// check stops the evaluation past its time limit or once its context is
// done (the run was cancelled).
func (g *guard) check() error {
	select {
	case <-g.ctx.Done():
		return fmt.Errorf("expression stopped: %w", context.Cause(g.ctx))
	default:
	}
	if time.Now().After(g.deadline) {
		return fmt.Errorf("%w (%s)", ErrTimeLimit, g.limit)
	}
	return nil
}

// grow accounts for a string of n bytes about to be built.
func (g *guard) grow(n int) error {
	if err := g.check(); err != nil {
		return err
	}
	if n > maxString {
		return fmt.Errorf("%w: a string of %s, the limit is %s", ErrStringLimit, size(n), size(maxString))
	}
	g.built += n
	if g.built > maxBuilt {
		return fmt.Errorf("%w: the expression built %s of strings, the limit is %s", ErrStringLimit, size(g.built), size(maxBuilt))
	}
	return nil
}

// growText accounts for v written as text (fmt or JSON), measured before
// it is written.
func (g *guard) growText(v any) error {
	n, err := checkTextSize(v)
	if err != nil {
		return err
	}
	return g.grow(n)
}

// checkTextSize measures v written as text against maxString.
func checkTextSize(v any) (int, error) {
	n, ok := textSize(v, maxString)
	if !ok {
		return n, fmt.Errorf("%w: the value would be written as more than %s of text", ErrStringLimit, size(maxString))
	}
	return n, nil
}

// Tick is called once per element by every loop.
func (g *guard) Tick() (bool, error) { return true, g.check() }

// Add is a + b where either may be a string.
func (g *guard) Add(a, b any) (any, error) {
	if x, ok := a.(string); ok {
		if y, ok := b.(string); ok {
			return g.Concat(x, y)
		}
	}
	return runtime.Add(a, b), nil
}

// Concat is a + b of two strings.
func (g *guard) Concat(a, b string) (string, error) {
	if err := g.grow(len(a) + len(b)); err != nil {
		return "", err
	}
	return a + b, nil
}

// Grown counts a string a builtin made from a guarded input.
func (g *guard) Grown(s string) (string, error) { return s, g.grow(len(s)) }

// Repeat is repeat(s, n).
func (g *guard) Repeat(s string, n int) (string, error) {
	if n < 0 {
		return "", fmt.Errorf("repeat: the count %d is negative", n)
	}
	if len(s) > 0 && n > maxString/len(s) {
		return "", fmt.Errorf("%w: repeat would make more than %s", ErrStringLimit, size(maxString))
	}
	if err := g.grow(len(s) * n); err != nil {
		return "", err
	}
	return strings.Repeat(s, n), nil
}

// Join is join(list) and join(list, glue).
func (g *guard) Join(list any, glue ...string) (any, error) {
	if len(glue) > 1 {
		return nil, fmt.Errorf("join: expected 1 or 2 arguments, got %d", len(glue)+1)
	}
	n, ok := textSize(list, maxString)
	if v := reflect.ValueOf(list); ok && len(glue) == 1 && (v.Kind() == reflect.Slice || v.Kind() == reflect.Array) {
		n += v.Len() * len(glue[0])
	}
	if !ok || n > maxString {
		return nil, fmt.Errorf("%w: join would make more than %s", ErrStringLimit, size(maxString))
	}
	if err := g.grow(n); err != nil {
		return nil, err
	}
	return callBuiltin("join", append([]any{list}, anySlice(glue)...)...)
}

// Replace is replace(s, old, new) and replace(s, old, new, n).
func (g *guard) Replace(s, old, new string, n ...int) (string, error) {
	count := strings.Count(s, old)
	if len(n) > 0 && n[0] >= 0 {
		count = min(count, n[0])
	}
	grown := len(s)
	if d := len(new) - len(old); d > 0 {
		if count > (maxString-len(s))/d {
			return "", fmt.Errorf("%w: replace would make more than %s", ErrStringLimit, size(maxString))
		}
		grown += count * d
	}
	if err := g.grow(grown); err != nil {
		return "", err
	}
	if len(n) > 0 {
		return strings.Replace(s, old, new, n[0]), nil
	}
	return strings.ReplaceAll(s, old, new), nil
}

// ToJSON is toJSON(v).
func (g *guard) ToJSON(v any) (any, error) {
	if err := g.growText(v); err != nil {
		return nil, err
	}
	return callBuiltin("toJSON", v)
}

// ToString is string(v).
func (g *guard) ToString(v any) (any, error) {
	if err := g.growText(v); err != nil {
		return nil, err
	}
	return callBuiltin("string", v)
}

// Flatten is flatten(v).
func (g *guard) Flatten(v any) (any, error) {
	if err := g.check(); err != nil {
		return nil, err
	}
	if n := elements(v, maxElements); n > maxElements {
		return nil, fmt.Errorf("flatten: more than %d elements, the limit of the memory budget", maxElements)
	}
	return callBuiltin("flatten", v)
}

// JSON is the flow's json(v).
func (g *guard) JSON(v any) (string, error) {
	if err := g.growText(v); err != nil {
		return "", err
	}
	return toJSON(v)
}

// CSV is the flow's csv(items).
func (g *guard) CSV(items []any) (string, error) {
	if err := g.growText(items); err != nil {
		return "", err
	}
	return toCSV(items)
}

// FileText is the flow's file.text(name, content).
func (g *guard) FileText(name string, content any) (module.File, error) {
	if err := g.growText(content); err != nil {
		return nil, err
	}
	return fileText(name, content)
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// callBuiltin runs one of expr's builtins once its input has been checked.
func callBuiltin(name string, args ...any) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %v", name, r)
		}
	}()
	fn := builtin.Builtins[builtin.Index[name]]
	switch {
	case fn.Safe != nil:
		v, _, err = fn.Safe(args...)
	case fn.Func != nil:
		v, err = fn.Func(args...)
	default:
		v = fn.Fast(args[0])
	}
	return v, err
}

// textSize measures v written as text (fmt, or JSON with indentation),
// stopping past limit. Every value counts at least one byte, so a list
// that holds one element many times over is measured in bounded time.
func textSize(v any, limit int) (int, bool) {
	n := 0
	var walk func(r reflect.Value, depth int) bool
	walk = func(r reflect.Value, depth int) bool {
		n++
		if n > limit {
			return false
		}
		switch r.Kind() {
		case reflect.Interface, reflect.Pointer:
			if r.IsNil() {
				n += 4
				return true
			}
			return walk(r.Elem(), depth)
		case reflect.String:
			n += r.Len() + 2
		case reflect.Slice, reflect.Array:
			if r.Type().Elem().Kind() == reflect.Uint8 {
				n += r.Len() * 4 // bytes print as numbers or base64
				break
			}
			for i := range r.Len() {
				n += 2 * depth
				if !walk(r.Index(i), depth+1) {
					return false
				}
			}
		case reflect.Map:
			it := r.MapRange()
			for it.Next() {
				n += 2*depth + 2
				if !walk(it.Key(), depth+1) || !walk(it.Value(), depth+1) {
					return false
				}
			}
		case reflect.Struct:
			if r.Type() == reflect.TypeFor[time.Time]() {
				n += 40
				break
			}
			for i := range r.NumField() {
				if !walk(r.Field(i), depth+1) {
					return false
				}
			}
		default:
			n += 24 // a number or a bool
		}
		return n <= limit
	}
	if v == nil {
		return 0, true
	}
	ok := walk(reflect.ValueOf(v), 1)
	return n, ok && n <= limit
}

// elements counts the leaves flatten would make, stopping past limit.
func elements(v any, limit int) int {
	n := 0
	var walk func(r reflect.Value)
	walk = func(r reflect.Value) {
		for r.Kind() == reflect.Interface && !r.IsNil() {
			r = r.Elem()
		}
		if r.Kind() != reflect.Slice && r.Kind() != reflect.Array {
			n++
			return
		}
		for i := 0; i < r.Len() && n <= limit; i++ {
			walk(r.Index(i))
		}
	}
	walk(reflect.ValueOf(v))
	return n
}

// size writes a byte count for people.
func size(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}

// guardPatch routes an expression's string building and loops through the
// guard. Types are known when it runs (expr checks before each patcher),
// so a + b whose side is a number, a time or a duration stays as it is.
type guardPatch struct{}

// Builtins replaced by a guard method of the same signature: each
// measures what it would build before building it.
var guardedBuiltins = map[string]string{
	"repeat": "Repeat", "join": "Join", "replace": "Replace",
	"toJSON": "ToJSON", "string": "ToString", "flatten": "Flatten",
}

// Builtins whose result is at most a few times their (guarded) input:
// their result is counted once built.
var growingBuiltins = map[string]bool{"upper": true, "lower": true, "toBase64": true, "fromBase64": true}

// The flow's own functions that write text.
var guardedFuncs = map[string]string{"json": "JSON", "csv": "CSV"}

// guardCall is @g.method(args...).
func guardCall(at ast.Node, method string, args ...ast.Node) ast.Node {
	callee := &ast.MemberNode{Node: &ast.IdentifierNode{Value: guardName}, Property: &ast.StringNode{Value: method}, Method: true}
	call := &ast.CallNode{Callee: callee, Arguments: args}
	for _, n := range []ast.Node{callee.Node, callee.Property, callee, call} {
		n.SetLocation(at.Location())
	}
	return call
}

func (guardPatch) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.PredicateNode:
		// Every loop of map, filter, reduce and the others runs its body
		// once per element: check the time limit there.
		n.Node = &ast.SequenceNode{Nodes: []ast.Node{guardCall(n, "Tick"), n.Node}}
	case *ast.BinaryNode:
		if n.Operator != "+" || !maybeString(n.Left) || !maybeString(n.Right) {
			return
		}
		method := "Add"
		if isString(n.Left) && isString(n.Right) {
			method = "Concat" // keeps the string type for the checker
		}
		*node = guardCall(n, method, n.Left, n.Right)
	case *ast.BuiltinNode:
		if method, ok := guardedBuiltins[n.Name]; ok {
			*node = guardCall(n, method, n.Arguments...)
		} else if growingBuiltins[n.Name] {
			*node = guardCall(n, "Grown", n)
		}
	case *ast.CallNode:
		switch callee := n.Callee.(type) {
		case *ast.IdentifierNode:
			if method, ok := guardedFuncs[callee.Value]; ok {
				*node = guardCall(n, method, n.Arguments...)
			}
		case *ast.MemberNode:
			id, ok1 := callee.Node.(*ast.IdentifierNode)
			prop, ok2 := callee.Property.(*ast.StringNode)
			if ok1 && ok2 && id.Value == "file" && prop.Value == "text" {
				*node = guardCall(n, "FileText", n.Arguments...)
			}
		}
	}
}

func isString(n ast.Node) bool { return n.Type().Kind() == reflect.String }

// maybeString reports whether n may be a string when it runs.
func maybeString(n ast.Node) bool {
	k := n.Type().Kind()
	return k == reflect.String || k == reflect.Interface
}
