package flow

import (
	"context"
	"fmt"

	"github.com/s3flow/s3flow/internal/module"
)

// CheckReach finds the steps that touch what a runner does not allow (a
// server without --files-root allows no local files), from the module and
// field declarations, each as a problem at the step's or the input's line
// and column. why says how to allow it. An input whose value an expression
// computes (a file reference) is checked again when the step runs.
func (f *Flow) CheckReach(allowed module.Reach, why string) error {
	var problems Errors
	add := func(pos Pos, format string, args ...any) {
		problems = append(problems, &Problem{File: f.File, Pos: pos, Msg: fmt.Sprintf(format, args...) + "; " + why})
	}
	for _, st := range f.Steps {
		if extra := st.Module.Reaches &^ allowed; extra != 0 {
			add(st.Pos, "step %q: %s touches %s", st.ID, st.Module.Name, extra)
			continue
		}
		for _, field := range st.Module.Fields {
			t, given := st.With[field.Name]
			if !given {
				continue
			}
			var reach module.Reach
			if t.IsLiteral() {
				v, err := t.Eval(context.Background(), map[string]any{})
				if err != nil {
					continue // Parse has reported it
				}
				reach = field.Reaches(v)
			} else if field.Type == module.String {
				// Whatever the expression gives is text: in a path field,
				// a path (or "-"). A file reference or body may come out
				// as a file an earlier step made, so it is checked when
				// the step runs.
				reach = field.MayReach()
			}
			if extra := reach &^ allowed; extra != 0 {
				add(t.Pos, "step %q: with.%s touches %s", st.ID, field.Name, extra)
			}
		}
	}
	if len(problems) > 0 {
		return problems
	}
	return nil
}
