package engine_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/flow"
)

// TestExpressionLimits: an expression that would run for hours stops at
// the step's timeout, one that would double a string until the process
// runs out of memory stops at the string limit; each fails its step with
// the limit's error and nothing after it runs.
func TestExpressionLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, step, want string
		err              error
	}{
		{"loop past the step's timeout", `{id: spin, module: test.echo, timeout: 100ms, with: {value: "{{ let r = 1..100000; string(sum(r, sum(r, #))) }}"}}`,
			"expression time limit reached (100ms)", flow.ErrTimeLimit},
		{"string doubling in a condition", `{id: spin, module: flow.filter, with: {condition: "{{ len(reduce(1..40, #acc + #acc, 'a')) > 0 }}"}}`,
			`step "spin": condition: `, flow.ErrStringLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := setup(t)
			res := h.run(t, t.Context(), "name: t\nsteps:\n  - "+tt.step+"\n  - {id: after, module: test.echo, with: {value: x}}\n", nil)
			wantStatus(t, res, engine.StatusFailed)
			if res.Err == nil || !strings.Contains(res.Err.Error(), tt.want) || !errors.Is(res.Err, tt.err) {
				t.Errorf("error %v, want %q and %v", res.Err, tt.want, tt.err)
			}
			if len(h.seen("test.echo")) != 0 {
				t.Errorf("a step ran after the failed one: %v", h.seen("test.echo"))
			}
		})
	}
}
