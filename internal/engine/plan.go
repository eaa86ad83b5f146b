package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/module"
)

// plan is what the engine works out from a flow before it runs: which step
// each aggregate collects from, and which loop it closes.
type plan struct {
	// aggFrom is the step id an aggregate (by index) collects.
	aggFrom map[int]string
	// keep says an aggregate keeps the bundles it collects (items: true,
	// the default); one that does not holds none in memory.
	keep map[int]bool
	// closes maps a loop's step (one that emits many bundles) to the
	// aggregate that closes it.
	closes map[int]int
	steps  []*flow.Step
}

func newPlan(f *flow.Flow) (*plan, error) {
	p := &plan{aggFrom: map[int]string{}, keep: map[int]bool{}, closes: map[int]int{}, steps: f.Steps}
	sourceOf := map[int]int{} // aggregate to its loop's step
	for a, st := range f.Steps {
		if st.Module.Control != module.Collects {
			continue
		}
		t := st.With["from"]
		v, err := t.Eval(context.Background(), flow.Env(nil, nil, nil))
		from, _ := v.(string)
		if err != nil || !t.IsLiteral() {
			return nil, fmt.Errorf("step %q: with.from must be a step id, not an expression", st.ID)
		}
		// A module that collects itself (Module.Collect) takes each bundle
		// as it comes; the engine keeps none (but a parallel branch's,
		// until merged).
		p.keep[a] = st.Module.Collect == nil
		if t := st.With["items"]; t != nil && p.keep[a] {
			v, err := t.Eval(context.Background(), flow.Env(nil, nil, nil))
			keep, ok := v.(bool)
			if err != nil || !ok || !t.IsLiteral() {
				return nil, fmt.Errorf("step %q: with.items must be true or false, not an expression", st.ID)
			}
			p.keep[a] = keep
		}
		x := slices.IndexFunc(f.Steps[:a], func(s *flow.Step) bool { return s.ID == from })
		if x < 0 {
			return nil, fmt.Errorf("step %q: with.from: %q is not an earlier step", st.ID, from)
		}
		// The loop closed is the nearest step at or before "from" that
		// emits many bundles and whose loop no earlier aggregate closed
		// (the steps after that aggregate run once per bundle of the loop
		// around it). Without one, the aggregate collects the single bundle
		// of each run of "from", or of the step after "from" when "from" is
		// an aggregate (whose bundle appears only once its own loop ends).
		source := -1
		for j := x; j >= 0; j-- {
			if s, ok := sourceOf[j]; ok {
				j = s // continue before the loop that aggregate closed
				continue
			}
			if f.Steps[j].Module.Many {
				source = j
				break
			}
		}
		if source < 0 {
			source = x
			if _, ok := sourceOf[x]; ok {
				source = x + 1
			}
		}
		if other, ok := p.closes[source]; ok {
			return nil, fmt.Errorf("step %q: step %q already closes the loop of %q; aggregate its output instead", st.ID, f.Steps[other].ID, f.Steps[source].ID)
		}
		for s, o := range p.closes {
			if s < source && source < o && o < a {
				return nil, fmt.Errorf("step %q: its loop (from %q) crosses the aggregate %q", st.ID, f.Steps[source].ID, f.Steps[o].ID)
			}
		}
		p.aggFrom[a] = from
		p.closes[source] = a
		sourceOf[a] = source
	}
	return p, nil
}

// before returns the scope as it was before step i ran: the outputs of the
// steps before it only.
func (p *plan) before(scope map[string]any, i int) map[string]any {
	out := make(map[string]any, i)
	for _, st := range p.steps[:i] {
		if v, ok := scope[st.ID]; ok {
			out[st.ID] = v
		}
	}
	return out
}

// NewRunID returns a sortable, unique run id: the start time and randomness.
func NewRunID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)
}
