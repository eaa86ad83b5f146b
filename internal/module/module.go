// Package module declares what a module is: its name, its input fields, its
// output fields and the function that runs it. Every interface (the CLI, flow
// files, the HTTP API, the Studio) is derived from these declarations, so a
// field is described exactly once.
package module

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/s3flow/s3flow/internal/connection"
)

// Module is the declaration of one module.
type Module struct {
	// Name is the module's name in flow files, e.g. "s3.list_files".
	Name string
	// Verb is the CLI verb, e.g. "list-files".
	Verb string
	// Title is the short human name, e.g. "List files".
	Title string
	// Help is one or two sentences for users.
	Help string
	// NeedsConnection is true when Run needs Env.Connection.
	NeedsConnection bool
	// Reaches is what the module touches whatever its inputs (file.* modules
	// touch local files); what its fields touch is declared on them (Kind,
	// Type). Interfaces decide from MayReach and CheckReach.
	Reaches Reach
	// Moves, when set, says the module moves data through s3flow in that
	// direction ("upload", "download"), its bundles' size being the bytes
	// moved: what the server's byte metrics count.
	Moves Direction
	// Many is true when one run emits many bundles (a listing), so that an
	// aggregate after it collects them.
	Many bool
	// Control, when set, says the engine handles the module's bundles
	// itself (it has no Run).
	Control Control
	// Group is where lists of modules put it.
	Group Group
	// Waits is true when Run may report *Waiting: the step waits for
	// something outside s3flow (files to arrive). Exec then checks again
	// after the time it asks for, or the engine suspends the run (a
	// server's queue, so that no worker is held while it waits).
	Waits bool
	// Fields are the inputs, in the order forms and help show them.
	Fields []Field
	// Outputs are the fields of each bundle the module emits, in order.
	Outputs []Output
	// Examples are uses of the module that help shows. With none, help
	// shows one made of the required fields and their Example values.
	Examples []Example
	// Empty says what a listing (Many) found nothing in, e.g. "no files
	// under demo/reports/": the CLI tells a person that much, on stderr,
	// instead of printing nothing. Nil: "no results".
	Empty func(in Values) string
	// Validate checks the inputs beyond what the field declarations say
	// (bucket naming rules, say), before any I/O. It may be nil.
	Validate func(in Values) error
	// Run does the work and calls emit once per result bundle.
	Run func(ctx context.Context, env Env, in Values, emit func(Bundle) error) error
	// Collect, for a module that collects (Control Collects), opens what
	// takes the bundles of its loop one by one, in order, as they come,
	// and makes the one bundle the step emits once the loop is done: a
	// CSV file written row by row holds no bundle in memory. Nil: the
	// engine keeps the bundles as items (flow.aggregate).
	Collect func(ctx context.Context, env Env, in Values) (Collector, error)
}

// Collector takes the bundles a collecting step gathers. The engine calls
// Add for each, in the loop's order (never two at once), then Close once;
// or Abort when the run fails, which removes whatever Add wrote. A Close
// that fails leaves nothing behind either.
type Collector interface {
	Add(item map[string]any) error
	Close() (Bundle, error)
	Abort()
}

// Example is one use of a module: its inputs in order, by field name, as
// command-line text; a Pairs field may repeat. Says what it does, and is
// always given for an example that deletes or replaces something, so that
// a reader who copies it knows before they run it.
type Example struct {
	With []Pair
	Says string
}

// Direction is which way a module moves bytes.
type Direction string

// The directions of Module.Moves.
const (
	Upload   Direction = "upload"
	Download Direction = "download"
)

// Control is what the engine does with a module besides running it.
type Control string

// The controls of Module.Control.
const (
	// Filters: the engine evaluates the module's condition for each
	// bundle; the bundle goes on to the next steps only when it holds.
	// Later steps read the bundle of the step before it.
	Filters Control = "filter"
	// Collects: the engine gathers the bundles of the loop that its
	// "from" step runs in into one bundle (items, count), run once the
	// loop is done.
	Collects Control = "aggregate"
)

// Group is where a list of modules (help, the Studio's palette) puts a
// module.
type Group string

// The groups, in the order lists show them.
const (
	GroupObjects Group = "S3 objects"
	GroupBuckets Group = "S3 buckets"
	GroupControl Group = "Flow control"
	GroupFiles   Group = "Local files"
	GroupData    Group = "Data"
)

// S3 reports whether the group's modules work on S3 (the CLI's "s3"
// commands).
func (g Group) S3() bool { return g == GroupObjects || g == GroupBuckets }

// Groups are the groups in the order lists show them.
var Groups = []Group{GroupObjects, GroupBuckets, GroupControl, GroupFiles, GroupData}

// Output describes one field of the bundles a module emits.
type Output struct {
	Name string
	Help string
	// Type is the Go type of the value (String: string, Int: int64, Time:
	// time.Time, FileRef: File, ...): expressions are checked against it,
	// and what the run history recorded is restored to it on resume.
	Type Type
	// FlowOnly outputs (a file reference) are for later steps of a flow,
	// not for printing.
	FlowOnly bool
	// Kind is LocalPath for a path on the local disk (where a file was
	// saved): the API leaves it out.
	Kind Kind `json:",omitempty"`
}

// GivesLinks reports whether the module outputs links to its connection's
// endpoint (Kind Link), which work only while that endpoint runs.
func (m *Module) GivesLinks() bool {
	for _, o := range m.Outputs {
		if o.Kind == Link {
			return true
		}
	}
	return false
}

// Spools reports whether the module yields file references (FlowOnly
// outputs), which it keeps in Env.SpoolDir when no path is given.
func (m *Module) Spools() bool {
	for _, o := range m.Outputs {
		if o.FlowOnly {
			return true
		}
	}
	return false
}

// Bundle is one result of a module: output field name to value.
type Bundle map[string]any

// Output returns the declared output called name, or false.
func (m *Module) Output(name string) (Output, bool) {
	for _, o := range m.Outputs {
		if o.Name == name {
			return o, true
		}
	}
	return Output{}, false
}

// CheckBundle reports a bundle that breaks the module's declaration: a
// field it does not declare, or a value not of the declared type (nil
// stands for "none" and is always allowed). A module without declared
// outputs may emit anything. Every run goes through it, so the
// declarations that expressions are checked against are the truth.
func (m *Module) CheckBundle(b Bundle) error {
	if len(m.Outputs) == 0 {
		return nil
	}
	for name, v := range b {
		o, ok := m.Output(name)
		switch {
		case !ok:
			return fmt.Errorf("%s emitted %q, which it does not declare (a bug in s3flow)", m.Name, name)
		case v != nil && !o.Type.Holds(v):
			return fmt.Errorf("%s emitted %s as %T, declared %s (a bug in s3flow)", m.Name, name, v, o.Type)
		}
	}
	return nil
}

// Restore turns the outputs of a bundle as the run history recorded them
// (JSON: numbers as float64, times as text) back into the declared types,
// so that a resumed run's expressions see what the first attempt saw. It
// fails for what the history cannot give back (a file's data).
func (m *Module) Restore(recorded map[string]any) (Bundle, error) {
	b := make(Bundle, len(recorded))
	for name, v := range recorded {
		o, ok := m.Output(name)
		if !ok || v == nil {
			b[name] = v
			continue
		}
		if o.Type == FileRef {
			return nil, fmt.Errorf("output %s is a file, which the run history does not keep", name)
		}
		typed, err := o.Type.Convert(v)
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", name, err)
		}
		b[name] = typed
	}
	return b, nil
}

// Env is what a running module gets from whoever runs it.
type Env struct {
	// Connection is the resolved connection, nil when the module needs none.
	Connection *connection.Connection
	// Stdout receives data a module streams to standard output (get-file
	// --out -); nil where there is none (a server's flows).
	Stdout io.Writer
	// Files is the local file system the run may touch: nil for none (the
	// API), one folder (a server's --files-root) or all of it (the CLI).
	Files *LocalFiles
	// Logger takes debug logs; never secrets.
	Logger *slog.Logger
	// Progress, when set, reports transfer progress (a bar on a terminal).
	Progress Progress
	// SpoolDir, when set, is where Get a file keeps downloads that no
	// output path was given for (in flows); they are yielded as
	// *SpooledFile references.
	SpoolDir string
	// Wait is what a module that waits saw on its earlier checks in this
	// run (zero on the first): Exec fills it in while it waits, the engine
	// from the run history when a run resumes.
	Wait WaitState
	// Suspend, for a module that waits, makes Exec return its *Waiting at
	// once instead of sleeping: the caller suspends the run and resumes it
	// later (a server's queue).
	Suspend bool
	// Waited, when set, is told of each check of a module that waits that
	// found it must wait on: the state to resume from, and what it found.
	Waited func(WaitState, *Waiting)
}

// Progress shows the progress of transfers (a bar on a terminal).
type Progress interface {
	// Start begins showing one transfer of total bytes (-1: not known yet).
	Start(label string, total int64) Tracker
}

// Tracker follows one transfer. Its methods are safe for concurrent use.
type Tracker interface {
	// Update reports the bytes transferred so far of total (-1: unknown).
	Update(current, total int64)
	// Done ends the display.
	Done()
}

// Log returns env's logger, or one that discards everything.
func (e Env) Log() *slog.Logger {
	if e.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Logger
}

// StartProgress is Progress.Start that works when no Progress is set.
func (e Env) StartProgress(label string, total int64) Tracker {
	if e.Progress == nil {
		return noTracker{}
	}
	return e.Progress.Start(label, total)
}

type noTracker struct{}

func (noTracker) Update(int64, int64) {}
func (noTracker) Done()               {}

// Field returns the declared field called name, or false.
func (m *Module) Field(name string) (Field, bool) {
	for _, f := range m.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Check validates raw inputs against the declaration: unknown fields,
// missing required fields, wrong types, then the module's own Validate. It
// returns the typed values with defaults filled in.
func (m *Module) Check(raw map[string]any) (Values, error) {
	names := make([]string, 0, len(raw))
	for name := range raw {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := m.Field(name); !ok {
			return nil, &InputError{Field: name, Rule: fmt.Sprintf("is not an input of %s (inputs: %s)", m.Name, m.fieldList())}
		}
	}
	values := Values{}
	for _, f := range m.Fields {
		v, present := raw[f.Name]
		if !present || v == nil {
			if f.Required {
				return nil, &InputError{Field: f.Name, Rule: "is required"}
			}
			if f.Default != nil {
				values[f.Name] = f.Default
			}
			continue
		}
		typed, err := f.Type.Convert(v)
		if err != nil {
			return nil, &InputError{Field: f.Name, Rule: err.Error()}
		}
		if f.Required && f.Type == String && typed.(string) == "" {
			return nil, &InputError{Field: f.Name, Rule: "is required and may not be empty"}
		}
		typed, err = f.check(typed)
		if err != nil {
			return nil, &InputError{Field: f.Name, Rule: err.Error()}
		}
		values[f.Name] = typed
	}
	if m.Validate != nil {
		if err := m.Validate(values); err != nil {
			return nil, err
		}
	}
	return values, nil
}

// check applies the field's own rules to a converted value: its kind,
// bound and choices. It returns the value to use: a choice is matched
// without regard to case ("get" for GET) and given as declared.
func (f Field) check(v any) (any, error) {
	switch f.Kind {
	case Region:
		var re *connection.RegionError
		if err := connection.CheckRegion(v.(string)); errors.As(err, &re) {
			return nil, errors.New(re.Rule())
		}
	case Headers:
		for _, p := range v.([]Pair) {
			if err := CheckHeader(p); err != nil {
				return nil, err
			}
		}
	}
	if f.Min != nil && f.Type == Int && v.(int64) < *f.Min {
		return nil, fmt.Errorf("must be at least %d, got %d", *f.Min, v)
	}
	if len(f.Choices) > 0 {
		i := slices.IndexFunc(f.Choices, func(c string) bool { return strings.EqualFold(c, v.(string)) })
		if i < 0 {
			return nil, fmt.Errorf("must be one of %s, got %q", strings.Join(f.Choices, ", "), v)
		}
		return f.Choices[i], nil
	}
	return v, nil
}

// CheckHeader is the rule for an HTTP header field that a user gives: Go's
// HTTP client refuses anything else when it sends the request, which
// would be too late (after retries) and say too little.
// Spaces around a name are not part of it (modules trim them, as
// ParsePairs does).
func CheckHeader(p Pair) error {
	if !httpguts.ValidHeaderFieldName(strings.TrimSpace(p.Name)) {
		return fmt.Errorf("%q is not a header name: use letters, digits and - (no spaces, colons or other separators)", p.Name)
	}
	if !httpguts.ValidHeaderFieldValue(p.Value) {
		return fmt.Errorf("the value of header %s has a control character (a line break, say); header values are one line of text", p.Name)
	}
	return nil
}

func (m *Module) fieldList() string {
	names := make([]string, len(m.Fields))
	for i, f := range m.Fields {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

// InputError is bad input: it names the field and the rule it breaks.
type InputError struct {
	// Field is empty when no one field is to blame (a key the module
	// makes of several fields, say): then the rule says it all.
	Field string
	Rule  string
	// Refs are the other fields the rule names, each written {name} in
	// Rule, so that each interface can name them its own way (flow fields
	// as they are, CLI flags as --flags).
	Refs []string
}

func (e *InputError) Error() string {
	if e.Field == "" {
		return e.RuleNaming(func(field string) string { return field })
	}
	return fmt.Sprintf("%s: %s", e.Field, e.RuleNaming(func(field string) string { return field }))
}

// RuleNaming is the rule with each field it refers to named by name.
func (e *InputError) RuleNaming(name func(field string) string) string {
	rule := e.Rule
	for _, ref := range e.Refs {
		rule = strings.ReplaceAll(rule, "{"+ref+"}", name(ref))
	}
	return rule
}

// Registry holds modules by name and by verb.
type Registry struct {
	modules []*Module
}

// Register adds modules; a duplicate name or verb is a programming error.
func (r *Registry) Register(mods ...*Module) {
	for _, m := range mods {
		for _, have := range r.modules {
			if have.Name == m.Name {
				panic(fmt.Sprintf("module %s registered twice", m.Name))
			}
		}
		r.modules = append(r.modules, m)
	}
}

// All returns the modules in registration order.
func (r *Registry) All() []*Module { return r.modules }

// Lookup finds a module by its flow name.
func (r *Registry) Lookup(name string) (*Module, bool) {
	for _, m := range r.modules {
		if m.Name == name {
			return m, true
		}
	}
	return nil, false
}
