// Package trigger declares what starts a flow's runs besides a person: a
// webhook, a schedule, new files in a bucket. Each kind is declared like a
// module (a name, typed fields, help) in a file of its own and registered
// in kinds.go. The flow parser checks a flow's trigger: against the
// declaration, reporting every problem at its line and column; the server
// starts the typed value it gets back; the reference in docs/flows.md and
// the Studio describe triggers from the same declarations.
package trigger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/didyoumean"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/store"
)

// Kind is one kind of trigger, such as schedule.
type Kind struct {
	// Name is the key under trigger: in a flow file.
	Name  string
	Title string
	Help  string
	// Payload declares what trigger.* holds in the runs it starts (besides
	// type, the kind's name).
	Payload []PayloadField
	Fields  []Field
	// Decode makes the typed trigger from its fields' checked values
	// (defaults filled in). It checks what spans fields; a problem with one
	// field is a *FieldError naming it, so the parser can place it.
	Decode func(v Values) (Config, error)
}

// Field is one key of a trigger kind.
type Field struct {
	Name     string
	Type     Type
	Required bool
	// Default is used when the key is absent (already of the type's Go
	// value: bool, string, time.Duration).
	Default any
	// Min is the shortest Duration.
	Min time.Duration
	// Choices are the words a Words field may list, or a Choice field be.
	Choices []string
	Help    string
	Example string
}

// Type is the type of a trigger field; each has one check.
type Type int

const (
	Text       Type = iota // a non-empty string
	Bool                   // true or false
	Duration               // a Go duration such as 30s or 15m, at least Field.Min
	Cron                   // a five-field cron expression or a descriptor; checked by the kind
	TimeZone               // an IANA time zone name; the value is a *time.Location
	EnvName                // the name of an environment variable
	Connection             // the name of a connection
	Words                  // a list of one or more of Field.Choices, each once; the value is a []string
	Choice                 // one of Field.Choices
	URL                    // an http or https URL
	Mapping                // a mapping; its keys are checked by the kind's Decode
)

func (t Type) String() string {
	return [...]string{"text", "boolean", "duration", "cron", "time zone", "variable name", "connection", "list", "choice", "URL", "mapping"}[t]
}

// Config is a checked trigger of one kind.
type Config interface {
	// Describe says in words what starts the runs, for logs and the
	// Studio: "cron 0 6 * * * (Europe/Berlin)".
	Describe() string
}

// Runner is a Config that works in the background while the server runs
// triggers (on PostgreSQL, only on the server that leads).
type Runner interface {
	Config
	// Run fires flow's runs through h until ctx ends.
	Run(ctx context.Context, h Host, flow string)
}

// RunFinisher is a Config that acts when a run it started has ended (a
// watch_files trigger moving or deleting the file). When the server
// records a run's final status it asks ActsAfter, for the trigger of the
// kind trigger.type names, whatever the kind: the interface is the
// declaration. If it acts, the action is queued in the same transaction as
// the status, and RunFinished is called from the queue, again after an
// error or a stop mid-way, until it succeeds, fails for good (an error
// wrapped by Permanent) or runs out of attempts. So RunFinished must be
// idempotent: called again after it did all or part of its work, it
// finishes that work or finds it done, and does nothing twice.
type RunFinisher interface {
	Config
	// ActsAfter says whether RunFinished has anything to do for a run that
	// ended, succeeded or not (false: nothing is queued).
	ActsAfter(succeeded bool) bool
	// RunFinished does the action. done says what it did, for the run's
	// history ("" when it found nothing to do).
	RunFinished(ctx context.Context, h Host, run FinishedRun) (done string, err error)
}

// PermanentError is a failure of RunFinished that another attempt would
// not change (the object changed since the run started): the server
// records it at once instead of trying again.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as a failure that trying again would not change.
func Permanent(err error) error { return &PermanentError{Err: err} }

// FinishedRun is a run that has ended, as RunFinished gets it.
type FinishedRun struct {
	ID, Flow string
	// Status is the run's recorded status; Succeeded says it succeeded
	// (otherwise it failed, or a break left it incomplete: cancelled runs
	// are not passed on).
	Status    string
	Succeeded bool
	// Trigger is the run's trigger data (trigger.*), as queued.
	Trigger map[string]any
}

// Host is what a running trigger gets from the server.
type Host interface {
	Logger() *slog.Logger
	DB() *store.DB
	Connection(ctx context.Context, name string) (connection.Connection, error)
	Module(name string) (*module.Module, bool)
	// Fire queues a run of flow with payload as its trigger data, unless
	// the flow is switched off (then it returns "" and nil). With tx it
	// queues inside that transaction, so that what the trigger records in
	// tx and the run commit together.
	Fire(ctx context.Context, tx *store.Tx, flow string, payload map[string]any) (runID string, err error)
}

// Values are a trigger's checked field values by name.
type Values map[string]any

func (v Values) String(name string) string           { s, _ := v[name].(string); return s }
func (v Values) Bool(name string) bool               { b, _ := v[name].(bool); return b }
func (v Values) Duration(name string) time.Duration  { d, _ := v[name].(time.Duration); return d }
func (v Values) Location(name string) *time.Location { l, _ := v[name].(*time.Location); return l }
func (v Values) Has(name string) bool                { _, ok := v[name]; return ok }
func (v Values) Strings(name string) []string        { l, _ := v[name].([]string); return l }
func (v Values) Map(name string) map[string]any      { m, _ := v[name].(map[string]any); return m }

// FieldError is a problem with one field of a trigger ("" for the trigger
// as a whole).
type FieldError struct {
	Field string
	Msg   string
	// Key says the problem is the key itself (one the kind does not
	// have), not its value: the parser places it at the key.
	Key bool
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

func fieldErrorf(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// FieldErrors splits an error from Decode into its field errors.
func FieldErrors(err error) []*FieldError {
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var out []*FieldError
	for _, e := range errs {
		var fe *FieldError
		if !errors.As(e, &fe) {
			fe = &FieldError{Msg: e.Error()}
		}
		out = append(out, fe)
	}
	return out
}

// Field returns the kind's field of that name.
func (k *Kind) Field(name string) (Field, bool) {
	for _, f := range k.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// FieldNames lists the kind's keys.
func (k *Kind) FieldNames() []string {
	names := make([]string, len(k.Fields))
	for i, f := range k.Fields {
		names[i] = f.Name
	}
	return names
}

var envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// Check converts a value as written in YAML (string, bool, number) to the
// field's type. The message says the rule; the caller names the field.
func (f Field) Check(v any) (any, error) {
	s, isText := v.(string)
	switch f.Type {
	case Bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, fmt.Errorf("must be true or false, got %s", shown(v))
	case Duration:
		if !isText {
			return nil, fmt.Errorf("must be a duration such as %s, got %s", durationExample(f.Min), shown(v))
		}
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d < f.Min {
			return nil, fmt.Errorf("must be a duration of at least %s, got %s", shortDuration(f.Min), shown(v))
		}
		return d, nil
	case TimeZone:
		if !isText || s == "" {
			return nil, fmt.Errorf("must be a time zone name such as Europe/Berlin or UTC, got %s", shown(v))
		}
		l, err := time.LoadLocation(s)
		if err != nil || strings.Contains(s, "..") {
			return nil, fmt.Errorf("%q is not a known time zone (IANA names such as Europe/Berlin or UTC)", s)
		}
		return l, nil
	case EnvName:
		if !isText || !envNamePattern.MatchString(s) {
			return nil, fmt.Errorf("must be the name of an environment variable (letters, digits and _), got %s", shown(v))
		}
		return s, nil
	case Connection:
		if !isText {
			return nil, fmt.Errorf("must be a connection's name, got %s", shown(v))
		}
		// local and env always exist; others must be names one could create.
		if s == connection.LocalName || s == connection.EnvName {
			return s, nil
		}
		if err := connection.ValidateName(s); err != nil {
			return nil, err
		}
		return s, nil
	case Words:
		return f.checkWords(v)
	case Choice:
		if !isText || !slices.Contains(f.Choices, s) {
			return nil, fmt.Errorf("must be one of %s, got %s%s", strings.Join(f.Choices, ", "), shown(v), suggest(fmt.Sprint(v), f.Choices))
		}
		return s, nil
	case URL:
		return checkURL(v)
	case Mapping:
		if _, ok := v.(map[string]any); !ok {
			return nil, fmt.Errorf("must be a mapping, got %s", shown(v))
		}
		return v, nil
	case Cron:
		if !isText || strings.TrimSpace(s) == "" {
			return nil, fmt.Errorf("must be a cron expression such as \"0 6 * * *\", got %s", shown(v))
		}
		return s, nil
	default:
		if !isText || s == "" {
			return nil, fmt.Errorf("must be text, got %s", shown(v))
		}
		return s, nil
	}
}

// maxURL bounds a URL field, as browsers and AWS bound theirs.
const maxURL = 2048

// checkURL takes an http or https URL with a host, without user
// information (credentials belong in connections, never in flow files).
func checkURL(v any) (any, error) {
	s, ok := v.(string)
	if !ok || s == "" {
		return nil, fmt.Errorf("must be an http or https URL, got %s", shown(v))
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		return nil, fmt.Errorf("must be an http or https URL such as https://sqs.us-east-1.amazonaws.com/123456789012/events, got %s", shown(v))
	case u.User != nil:
		return nil, fmt.Errorf("must not hold a user name or password (credentials belong in the connection)")
	case len(s) > maxURL:
		return nil, fmt.Errorf("must be at most %d bytes long", maxURL)
	}
	return s, nil
}

// checkWords takes a YAML list of the field's choices, each at most once.
func (f Field) checkWords(v any) (any, error) {
	rule := "must be a list of one or more of " + strings.Join(f.Choices, ", ")
	items, ok := v.([]any)
	if !ok || len(items) == 0 {
		return nil, fmt.Errorf("%s, such as [%s], got %s", rule, f.Choices[0], shown(v))
	}
	words := make([]string, 0, len(items))
	for _, item := range items {
		w, ok := item.(string)
		if !ok || !slices.Contains(f.Choices, w) {
			return nil, fmt.Errorf("%s is not one of %s%s", shown(item), strings.Join(f.Choices, ", "), suggest(fmt.Sprint(item), f.Choices))
		}
		if slices.Contains(words, w) {
			return nil, fmt.Errorf("lists %q twice", w)
		}
		words = append(words, w)
	}
	return words, nil
}

// suggest is `; did you mean "x"?` when a choice is close to name.
func suggest(name string, choices []string) string {
	if c := didyoumean.Closest(name, choices); c != "" {
		return fmt.Sprintf("; did you mean %q?", c)
	}
	return ""
}

func shown(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	if v == nil {
		return "nothing"
	}
	return fmt.Sprint(v)
}

func durationExample(minimum time.Duration) string {
	if minimum >= time.Minute {
		return "15m"
	}
	return "30s"
}

// shortDuration writes a duration without its zero trailing units: 1m0s
// as 1m, 1h0m0s as 1h, 1h30m0s as 1h30m (and 30s, 10m as they are).
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// DecodeValues checks written field values (YAML-decoded) against k and makes
// the typed trigger. Problems are *FieldError, joined: unknown keys (with a
// suggestion), wrong types, missing required fields, and the kind's own
// rules.
func (k *Kind) DecodeValues(raw map[string]any) (Config, error) {
	var errs []error
	vals := Values{}
	for name, v := range raw {
		f, ok := k.Field(name)
		if !ok {
			errs = append(errs, k.UnknownKey(name))
			continue
		}
		cv, err := f.Check(v)
		if err != nil {
			errs = append(errs, &FieldError{Field: name, Msg: err.Error()})
			continue
		}
		vals[name] = cv
	}
	for _, f := range k.Fields {
		if _, given := raw[f.Name]; given {
			continue
		}
		if f.Required {
			errs = append(errs, &FieldError{Msg: fmt.Sprintf("%s is required (%s)", f.Name, f.Help)})
		} else if f.Default != nil {
			vals[f.Name] = f.Default
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return k.Decode(vals)
}

// UnknownKey is the problem of a key the kind does not have.
func (k *Kind) UnknownKey(name string) *FieldError {
	return &FieldError{Field: name, Msg: "unknown key" + Hint(name, k.FieldNames()), Key: true}
}

// Hint is `; did you mean "x"? (keys: a, b)` or ` (keys: a, b)`: what to
// say after an unknown name.
func Hint(name string, options []string) string {
	list := " (" + strings.Join(options, ", ") + ")"
	if c := didyoumean.Closest(name, options); c != "" {
		return fmt.Sprintf("; did you mean %q?%s", c, list)
	}
	return list
}
