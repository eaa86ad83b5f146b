package flow

import (
	"fmt"
	"slices"
)

// Until is f without the steps after the step with id, for a run up to
// that step ("run up to here"); "" is f itself. The CLI, the API and the
// engine all check a run's until with it.
func (f *Flow) Until(id string) (*Flow, error) {
	if id == "" {
		return f, nil
	}
	i := slices.IndexFunc(f.Steps, func(s *Step) bool { return s.ID == id })
	if i < 0 {
		return nil, fmt.Errorf("flow %s has no step %q", f.Name, id)
	}
	cut := *f
	cut.Steps = f.Steps[:i+1]
	return &cut, nil
}
