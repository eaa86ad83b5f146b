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

// DefaultEvalTimeout bounds one evaluation when its context sets no
// deadline; the engine gives a step's own timeout instead where it has one.
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

// Guard functions sit in the environment under names no expression can
// write (an identifier never starts with '@'); guardPatch routes the
// operations that build strings, and every loop body, through them.
const (
	gTick    = "@tick"
	gAdd     = "@add"
	gConcat  = "@concat"
	gGrown   = "@grown"
	gRepeat  = "@repeat"
	gJoin    = "@join"
	gReplace = "@replace"
	gToJSON  = "@toJSON"
	gString  = "@string"
	gFlatten = "@flatten"
)

// guard holds the limits of one evaluation. An evaluation runs on one
// goroutine, so its counters need no lock.
type guard struct {
	ctx   context.Context
	limit time.Duration
	built int
}

func newGuard(ctx context.Context) (*guard, context.CancelFunc) {
	limit := DefaultEvalTimeout
	if dl, ok := ctx.Deadline(); ok {
		limit = time.Until(dl).Round(10 * time.Millisecond) // the step's timeout, for the message
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, limit)
		return &guard{ctx: ctx, limit: limit}, cancel
	}
	return &guard{ctx: ctx, limit: limit}, func() {}
}

// check stops the evaluation once its context is done.
func (g *guard) check() error {
	select {
	case <-g.ctx.Done():
		if errors.Is(g.ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%w (%s)", ErrTimeLimit, g.limit)
		}
		return fmt.Errorf("expression stopped: %w", context.Cause(g.ctx))
	default:
		return nil
	}
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
	n, ok := textSize(v, maxString)
	if !ok {
		return fmt.Errorf("%w: the value would be written as more than %s of text", ErrStringLimit, size(maxString))
	}
	return g.grow(n)
}

// install puts the guard's functions into env, which the caller owns.
func (g *guard) install(env map[string]any) {
	env[gTick] = func() (bool, error) { return true, g.check() }
	env[gAdd] = func(a, b any) (any, error) {
		if x, ok := a.(string); ok {
			if y, ok := b.(string); ok {
				if err := g.grow(len(x) + len(y)); err != nil {
					return nil, err
				}
				return x + y, nil
			}
		}
		return runtime.Add(a, b), nil
	}
	env[gConcat] = func(a, b string) (string, error) {
		if err := g.grow(len(a) + len(b)); err != nil {
			return "", err
		}
		return a + b, nil
	}
	env[gGrown] = func(s string) (string, error) { return s, g.grow(len(s)) }
	env[gRepeat] = func(s string, n int) (string, error) {
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
	env[gJoin] = func(list any, glue ...string) (any, error) {
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
	env[gReplace] = func(s, old, new string, n ...int) (string, error) {
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
	env[gToJSON] = func(v any) (any, error) {
		if err := g.growText(v); err != nil {
			return nil, err
		}
		return callBuiltin("toJSON", v)
	}
	env[gString] = func(v any) (any, error) {
		if err := g.growText(v); err != nil {
			return nil, err
		}
		return callBuiltin("string", v)
	}
	env[gFlatten] = func(v any) (any, error) {
		if n := elements(v, maxElements); n > maxElements {
			return nil, fmt.Errorf("flatten: more than %d elements, the limit of the memory budget", maxElements)
		}
		return callBuiltin("flatten", v)
	}
	// The flow's own functions write text too.
	env["json"] = func(v any) (string, error) {
		if err := g.growText(v); err != nil {
			return "", err
		}
		return toJSON(v)
	}
	env["csv"] = func(items []any) (string, error) {
		if err := g.growText(items); err != nil {
			return "", err
		}
		return toCSV(items)
	}
	env["file"] = map[string]any{"text": func(name string, content any) (module.File, error) {
		if err := g.growText(content); err != nil {
			return nil, err
		}
		return fileText(name, content), nil
	}}
}

// guardPlaceholders are the guard functions' types for compiling.
func guardPlaceholders(env map[string]any) {
	(&guard{}).install(env)
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

// Builtins replaced by a guard function of the same signature: each
// measures what it would build before building it.
var guardedBuiltins = map[string]string{
	"repeat": gRepeat, "join": gJoin, "replace": gReplace,
	"toJSON": gToJSON, "string": gString, "flatten": gFlatten,
}

// Builtins whose result is at most a few times their (guarded) input:
// their result is counted once built.
var growingBuiltins = map[string]bool{"upper": true, "lower": true, "toBase64": true, "fromBase64": true}

func (guardPatch) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.PredicateNode:
		// Every loop of map, filter, reduce and the others runs its body
		// once per element: check the time limit there.
		tick := &ast.CallNode{Callee: &ast.IdentifierNode{Value: gTick}}
		tick.SetLocation(n.Location())
		n.Node = &ast.SequenceNode{Nodes: []ast.Node{tick, n.Node}}
	case *ast.BinaryNode:
		if n.Operator != "+" || !maybeString(n.Left) || !maybeString(n.Right) {
			return
		}
		fn := gAdd
		if isString(n.Left) && isString(n.Right) {
			fn = gConcat // keeps the string type for the checker
		}
		ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: fn}, Arguments: []ast.Node{n.Left, n.Right}})
	case *ast.BuiltinNode:
		if fn, ok := guardedBuiltins[n.Name]; ok {
			ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: fn}, Arguments: n.Arguments})
		} else if growingBuiltins[n.Name] {
			ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: gGrown}, Arguments: []ast.Node{n}})
		}
	}
}

func isString(n ast.Node) bool { return n.Type().Kind() == reflect.String }

// maybeString reports whether n may be a string when it runs.
func maybeString(n ast.Node) bool {
	k := n.Type().Kind()
	return k == reflect.String || k == reflect.Interface
}
