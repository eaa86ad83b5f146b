package module

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Reach is a set of things a module touches beyond its connection. The
// CLI, the flow engine, the server's flow loader, the API and the Studio
// decide what may run from it, never from module or field names.
type Reach uint8

const (
	// ReachLocalFiles reads or writes the local file system.
	ReachLocalFiles Reach = 1 << iota
	// ReachStdout streams data to standard output.
	ReachStdout
)

func (r Reach) String() string {
	var parts []string
	if r&ReachLocalFiles != 0 {
		parts = append(parts, "local files")
	}
	if r&ReachStdout != 0 {
		parts = append(parts, "standard output")
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// Names lists what r holds as short names, for JSON ("localFiles",
// "stdout").
func (r Reach) Names() []string {
	out := []string{}
	if r&ReachLocalFiles != 0 {
		out = append(out, "localFiles")
	}
	if r&ReachStdout != 0 {
		out = append(out, "stdout")
	}
	return out
}

// Kind is what a field's value means beyond its type, where the meaning
// carries a rule.
type Kind int

const (
	// Plain values carry no rule beyond their type.
	Plain Kind = iota
	// LocalPath is a path on the local disk that the module reads or
	// writes.
	LocalPath
	// LocalPathOrStdout is a local path to write, or "-" for standard
	// output.
	LocalPathOrStdout
	// Region is an AWS region name, checked by CheckRegion.
	Region
	// Bucket is the name of a bucket on the step's connection.
	Bucket
	// Folder is a folder (a key prefix) in the field's bucket.
	Folder
	// ObjectKey is a file's path (a key) in the field's bucket.
	ObjectKey
	// Link is an output that is a link to the connection's endpoint, used
	// after the run ends (a presigned URL): it works only while that
	// endpoint runs.
	Link
	// Headers are HTTP header fields (a Pairs field): each name an HTTP
	// token, each value free of control characters, checked by
	// CheckHeader before any request is made.
	Headers
	// StepID is the id of an earlier step of the flow (what an aggregate
	// collects): a literal, never an expression.
	StepID
)

func (k Kind) String() string {
	switch k {
	case Plain:
		return ""
	case LocalPath:
		return "localPath"
	case LocalPathOrStdout:
		return "localPathOrStdout"
	case Region:
		return "region"
	case Bucket:
		return "bucket"
	case Folder:
		return "folder"
	case ObjectKey:
		return "objectKey"
	case Link:
		return "link"
	case Headers:
		return "headers"
	case StepID:
		return "stepId"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// MarshalText names the kind in JSON (the API's module declarations).
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Stdout is the value of a LocalPathOrStdout field that means standard
// output.
const Stdout = "-"

// Reaches says what the field touches when it holds v (nil: not given).
// A file reference given as text is a local path; a file an earlier step
// or an upload produced is not.
func (f Field) Reaches(v any) Reach {
	if v == nil {
		return 0
	}
	switch f.Kind {
	case LocalPath:
		if s, ok := v.(string); ok && s == "" {
			return 0
		}
		return ReachLocalFiles
	case LocalPathOrStdout:
		switch v {
		case "":
			return 0
		case Stdout:
			return ReachStdout
		}
		return ReachLocalFiles
	}
	switch x := v.(type) {
	case *LocalFile:
		return ReachLocalFiles
	case string:
		if f.Type == FileRef && x != "" {
			return ReachLocalFiles
		}
	}
	return 0
}

// MayReach is everything the field can touch with some value: a path kind
// what its paths reach, a file reference or body the local file a path
// (or @FILE) names.
func (f Field) MayReach() Reach {
	switch {
	case f.Kind == LocalPath, f.Type == FileRef, f.Type == Body:
		return ReachLocalFiles
	case f.Kind == LocalPathOrStdout:
		return ReachLocalFiles | ReachStdout
	}
	return 0
}

// MayReach is everything the module can touch with some inputs: what it
// declares itself and what its fields can.
func (m *Module) MayReach() Reach {
	r := m.Reaches
	for _, f := range m.Fields {
		r |= f.MayReach()
	}
	return r
}

// ReachOf is what the module touches with these inputs (raw or checked).
func (m *Module) ReachOf(in map[string]any) Reach {
	r := m.Reaches
	for _, f := range m.Fields {
		r |= f.Reaches(in[f.Name])
	}
	return r
}

// ReachError says that a module or one of its inputs touches something the
// interface that was asked to run it does not allow.
type ReachError struct {
	Module string
	// Field is the input that touches it, "" for the module itself.
	Field string
	Reach Reach
	// Where is the interface, e.g. "over the API".
	Where string
}

func (e *ReachError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s touches %s, which is not allowed %s", e.Module, e.Reach, e.Where)
	}
	return fmt.Sprintf("%s: %s touches %s, which is not allowed %s", e.Field, e.Module, e.Reach, e.Where)
}

// CheckReach refuses inputs that touch anything outside allowed: the module
// itself or a given input. in may be raw (from JSON, YAML) or checked
// values. where names the interface for the message.
func (m *Module) CheckReach(allowed Reach, in map[string]any, where string) error {
	if extra := m.Reaches &^ allowed; extra != 0 {
		return &ReachError{Module: m.Name, Reach: extra, Where: where}
	}
	for _, f := range m.Fields {
		if extra := f.Reaches(in[f.Name]) &^ allowed; extra != 0 {
			return &ReachError{Module: m.Name, Field: f.Name, Reach: extra, Where: where}
		}
	}
	return nil
}

// Exec runs the module with checked inputs in env, after checking that
// what the inputs touch is available there: local paths need env.Files,
// standard output env.Stdout. File references given as paths are bound to
// env.Files here, so a module never opens a path on its own. Every
// interface runs modules through Exec.
func (m *Module) Exec(ctx context.Context, env Env, in Values, emit func(Bundle) error) error {
	if m.Run == nil {
		return fmt.Errorf("%s does not run on its own", m.Name)
	}
	var allowed Reach
	if env.Files != nil {
		allowed |= ReachLocalFiles
	}
	if env.Stdout != nil {
		allowed |= ReachStdout
	}
	if err := m.CheckReach(allowed, in, "in this run"); err != nil {
		return err
	}
	for _, f := range m.Fields {
		lf, ok := in[f.Name].(*LocalFile)
		if !ok || lf.bound() {
			continue
		}
		bound, err := env.Files.File(lf.Path)
		if err != nil {
			return &InputError{Field: f.Name, Rule: err.Error()}
		}
		in[f.Name] = bound
	}
	checked := func(b Bundle) error {
		if err := m.CheckBundle(b); err != nil {
			return err
		}
		return emit(b)
	}
	if m.Waits {
		return m.execWaiting(ctx, env, in, checked)
	}
	err := m.Run(ctx, env, in, checked)
	if w := (*Waiting)(nil); errors.As(err, &w) {
		return fmt.Errorf("%s reported that it waits, which it does not declare (a bug in s3flow)", m.Name)
	}
	return err
}
