package flow

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// smallLimits lowers the string limits for one (sequential) test, so the
// bombs stop after kilobytes instead of megabytes.
func smallLimits(t *testing.T) {
	t.Helper()
	s, b, e := maxString, maxBuilt, maxElements
	maxString, maxBuilt, maxElements = 64<<10, 256<<10, 10_000
	t.Cleanup(func() { maxString, maxBuilt, maxElements = s, b, e })
}

// TestEvalBombs: expressions that would exhaust memory or run for hours
// end with an error naming the limit, and the process goes on.
func TestEvalBombs(t *testing.T) {
	smallLimits(t)
	tests := []struct {
		name, src string
		want      error
		wantText  string
	}{
		{"string doubling", "{{ reduce(1..40, #acc + #acc, 'a') }}", ErrStringLimit, ""},
		{"typed string doubling", "{{ reduce(1..40, #acc + #acc, inputs.s) }}", ErrStringLimit, ""},
		{"doubling in text", "x-{{ reduce(1..40, #acc + #acc, 'a') }}", ErrStringLimit, ""},
		{"repeat of a repeat", "{{ repeat(repeat('ab', 1000), 1000) }}", ErrStringLimit, ""},
		{"join of many", "{{ join(map(1..1000, repeat('x', 1000)), '') }}", ErrStringLimit, ""},
		{"replace that multiplies", "{{ replace(repeat('a', 1000), '', repeat('b', 1000)) }}", ErrStringLimit, ""},
		{"many strings below the cap", "{{ map(1..1000, upper(repeat('x', 1000))) }}", ErrStringLimit, ""},
		{"toJSON of a shared tree", "{{ toJSON(reduce(1..40, [#acc, #acc], 1)) }}", ErrStringLimit, ""},
		{"string of a shared tree", "{{ string(reduce(1..40, [#acc, #acc], 1)) }}", ErrStringLimit, ""},
		{"json of a shared tree", "{{ json(reduce(1..40, [#acc, #acc], 1)) }}", ErrStringLimit, ""},
		{"csv of many big rows", "{{ csv(map(1..1000, ({'a': repeat('x', 1000)}))) }}", ErrStringLimit, ""},
		{"file.text of a shared tree", "{{ file.text('a.txt', reduce(1..40, [#acc, #acc], 1)) }}", ErrStringLimit, ""},
		{"shared tree in text", "x-{{ reduce(1..40, [#acc, #acc], 1) }}", ErrStringLimit, ""},
		{"flatten of a shared tree", "{{ flatten(reduce(1..40, [#acc, #acc], 1)) }}", nil, "flatten: more than"},
		{"nested loops", "{{ let r = 1..100000; sum(r, sum(r, #)) }}", ErrTimeLimit, ""},
		{"loop in a filter", "{{ let r = 1..100000; filter(r, any(r, # == -1)) }}", ErrTimeLimit, ""},
		{"file.text as a value", "{{ let f = file.text; f('a.txt', reduce(1..40, [#acc, #acc], 1)) }}", ErrStringLimit, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := WithTimeLimit(context.Background(), 200*time.Millisecond)
			v, err := compile(t, tt.src).Eval(ctx, evalEnv())
			if err == nil {
				t.Fatalf("Eval = %.40v, want an error", v)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Eval error = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("Eval error = %v, want it to say %q", err, tt.wantText)
			}
		})
	}
}

// TestEvalCancelled: an evaluation stops when its run is cancelled.
func TestEvalCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("run cancelled"))
	_, err := compile(t, "{{ let r = 1..1000; count(r, # > 0) }}").Eval(ctx, evalEnv())
	if err == nil || !strings.Contains(err.Error(), "run cancelled") {
		t.Fatalf("Eval error = %v, want the cancellation", err)
	}
}

// TestEvalTimeLimit: an evaluation gets DefaultEvalTimeout unless its
// context gives a limit.
func TestEvalTimeLimit(t *testing.T) {
	t.Parallel()
	if g := newGuard(context.Background()); g.limit != DefaultEvalTimeout {
		t.Errorf("limit = %s, want %s", g.limit, DefaultEvalTimeout)
	}
	if g := newGuard(WithTimeLimit(context.Background(), time.Minute)); g.limit != time.Minute {
		t.Errorf("limit = %s, want 1m", g.limit)
	}
	if g := newGuard(WithTimeLimit(context.Background(), 0)); g.limit != DefaultEvalTimeout {
		t.Errorf("limit with 0 = %s, want %s", g.limit, DefaultEvalTimeout)
	}
}

// TestGuardedOperations: what the guard replaces still computes what
// expr's own operations do, with the same types.
func TestGuardedOperations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want any
	}{
		{"{{ 1 + 2 }}", 3},
		{"{{ 1.5 + inputs.a }}", 6.5},
		{"{{ 'a' + inputs.s }}", "ahi"},
		{"{{ reduce(1..3, #acc + 'x', '') }}", "xxx"},
		{"{{ reduce(1..3, #acc + #, 0) }}", 6},
		{"{{ len('ab' + 'cd') }}", 4},
		{"{{ upper('a' + 'b') }}", "AB"},
		{"{{ repeat('ab', 2) }}", "abab"},
		{"{{ join(['a', 'b'], ',') }}", "a,b"},
		{"{{ join(['a', 'b']) }}", "ab"},
		{"{{ replace('aXa', 'X', 'yy') }}", "ayya"},
		{"{{ replace('aaa', 'a', 'b', 2) }}", "bba"},
		{"{{ toJSON([1]) }}", "[\n  1\n]"},
		{"{{ string(12) }}", "12"},
		{"{{ flatten([[1], [2, [3]]]) }}", []any{1, 2, 3}},
		{"{{ filter([1, 2, 3], # > 1) }}", []any{2, 3}},
		{"{{ map([1, 2], # * 2) }}", []any{2, 4}},
		{"{{ sum([1, 2], # * 2) }}", 6},
		{"{{ toBase64('hi') }}", "aGk="},
		{"{{ (now() + duration('1h')) > now() }}", true},
	}
	for _, tt := range tests {
		got, err := compile(t, tt.src).Eval(context.Background(), evalEnv())
		if err != nil {
			t.Errorf("Eval(%q): %v", tt.src, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Eval(%q) = %#v, want %#v", tt.src, got, tt.want)
		}
	}
}
