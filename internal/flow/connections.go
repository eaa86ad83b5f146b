package flow

import (
	"context"
	"fmt"
	"slices"

	"github.com/s3flow/s3flow/internal/trigger"
)

// ConnectionRef is a connection a flow names outright, and where.
type ConnectionRef struct {
	Name string
	Pos  Pos
	// Where is what names it: `step "list"` or `trigger.watch_files`.
	Where string
}

// ConnectionRefs lists the connections the flow names outright: steps'
// connection: without {{ }} and trigger keys declared as connections. A
// connection chosen by an expression is known only when the run starts.
func (f *Flow) ConnectionRefs() []ConnectionRef {
	var refs []ConnectionRef
	for _, t := range f.Triggers {
		for _, field := range t.Kind.Fields {
			name, ok := t.Written[field.Name].(string)
			if field.Type == trigger.Connection && ok {
				refs = append(refs, ConnectionRef{Name: name, Pos: t.FieldPos[field.Name], Where: "trigger." + t.Kind.Name + "." + field.Name})
			}
		}
	}
	for _, s := range f.Steps {
		if s.Connection == nil || !s.Connection.IsLiteral() {
			continue
		}
		if name, ok := s.Connection.literal.(string); ok {
			refs = append(refs, ConnectionRef{Name: name, Pos: s.Connection.Pos, Where: fmt.Sprintf("step %q", s.ID)})
		}
	}
	return refs
}

// CheckConnections reports every connection the flow names outright that
// is not among the known ones, at its line and column, with the closest
// name. known is asked only when the flow names a connection.
func (f *Flow) CheckConnections(ctx context.Context, known func(context.Context) ([]string, error)) error {
	refs := f.ConnectionRefs()
	if len(refs) == 0 {
		return nil
	}
	names, err := known(ctx)
	if err != nil {
		return err
	}
	var errs Errors
	for _, r := range refs {
		if slices.Contains(names, r.Name) {
			continue
		}
		errs = append(errs, &Problem{File: f.File, Pos: r.Pos,
			Msg: fmt.Sprintf("%s: no connection named %q%s", r.Where, r.Name, trigger.Hint(r.Name, names))})
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}
