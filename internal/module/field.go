package module

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Field describes one input of a module.
type Field struct {
	// Name is the input's name in flow files and, with dashes, the CLI flag.
	Name string
	// Flag is the CLI flag when it differs from Name (a repeatable "header"
	// for the "headers" map).
	Flag string
	// Label is what a form shows, as in the product docs.
	Label string
	// Help is the help text.
	Help string
	// Type is the value's type.
	Type Type
	// Required fields must be given and, for strings, not be empty.
	Required bool
	// Default is used when the field is absent; nil means none.
	Default any
	// Example is shown in help, e.g. "/photos/2019/February/image023.jpg".
	Example string
	// Separator splits "name<sep>value" items of a Pairs field given as text
	// (": " for headers, "=" for query strings).
	Separator string
	// Choices, when set, are the only values a String field accepts.
	Choices []string
	// Kind is what the value means where that carries a rule: a local
	// path (what the field touches), a region or headers (how it is
	// checked).
	Kind Kind
	// Min, when set, is the smallest value an Int field accepts.
	Min *int64
}

// AtLeast is a Field.Min.
func AtLeast(n int64) *int64 { return &n }

// FlagName is the field's CLI flag name.
func (f Field) FlagName() string {
	if f.Flag != "" {
		return f.Flag
	}
	return f.Name
}

// Type is the type of a field's value.
type Type int

// The field types. The Go type of each checked value is given beside it.
const (
	String  Type = iota // string
	Int                 // int64
	Bool                // bool
	Pairs               // []Pair, in the order given
	FileRef             // File
	List                // []any, in flows
	Body                // string, or File for data from a file
	Number              // float64; flow inputs, no module field yet
	Time                // time.Time; outputs and trigger payloads
	Map                 // map[string]string or map[string]any; outputs
	Any                 // any value: what a flow gives (an item, a JSON body)
)

func (t Type) String() string {
	switch t {
	case String:
		return "string"
	case Int:
		return "integer"
	case Bool:
		return "boolean"
	case Pairs:
		return "map"
	case FileRef:
		return "file"
	case List:
		return "list"
	case Body:
		return "text or file"
	case Number:
		return "number"
	case Time:
		return "time"
	case Map:
		return "map"
	case Any:
		return "any"
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

// MarshalText names the type in JSON (the API's module declarations).
func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// Holds reports whether v is a checked value of the type: the Go type
// given beside each Type's declaration.
func (t Type) Holds(v any) bool {
	switch t {
	case String:
		_, ok := v.(string)
		return ok
	case Int:
		_, ok := v.(int64)
		return ok
	case Number:
		_, ok := v.(float64)
		return ok
	case Bool:
		_, ok := v.(bool)
		return ok
	case Time:
		_, ok := v.(time.Time)
		return ok
	case FileRef:
		_, ok := v.(File)
		return ok
	case List:
		_, ok := v.([]any)
		return ok
	case Map:
		switch v.(type) {
		case map[string]string, map[string]any:
			return true
		}
		return false
	case Pairs:
		_, ok := v.([]Pair)
		return ok
	case Body:
		switch v.(type) {
		case string, File:
			return true
		}
		return false
	}
	return t == Any
}

// Pair is one name/value item of a Pairs field (a header, a query string).
type Pair struct {
	Name  string
	Value string
}

// File is a source file given to a module: a local path from the CLI, data
// produced by an earlier step in a flow.
type File interface {
	// Name is the file's name without any folder, e.g. "q3.csv".
	Name() string
	// Size is the size in bytes, or -1 when unknown.
	Size() int64
	// Open opens the data for reading from the start.
	Open() (io.ReadCloser, error)
}

// LocalFile is a File on the local disk, read through the LocalFiles of
// the run that named it. A path given as text is a LocalFile with no
// LocalFiles yet: it opens nothing until Module.Exec binds it to the run's.
type LocalFile struct {
	Path  string
	size  int64
	files *LocalFiles
}

// NewLocalFile checks that path is a readable regular file anywhere on the
// local disk; for the CLI, run by the machine's own user.
func NewLocalFile(path string) (*LocalFile, error) {
	return AllLocalFiles().File(path)
}

// Name returns the file's base name.
func (f *LocalFile) Name() string { return filepath.Base(f.Path) }

// Size returns the size seen when the file was checked (-1 before).
func (f *LocalFile) Size() int64 { return f.size }

// Open opens the file.
func (f *LocalFile) Open() (io.ReadCloser, error) {
	if f.files == nil {
		return nil, fmt.Errorf("open %q: %w", f.Path, ErrNoLocalFiles)
	}
	return f.files.Open(f.Path)
}

// bound reports whether the file was checked through a LocalFiles.
func (f *LocalFile) bound() bool { return f.files != nil }

// Convert turns a raw value (from YAML, JSON or CLI text) into the type's
// Go value, or says which rule it breaks. It is the one conversion of
// s3flow: module fields and flow inputs (string, integer, number,
// boolean) both go through it. Text is read with surrounding spaces
// trimmed; a whole float64 (what JSON and YAML give for 42.0 or 1e3) is an
// integer when it is exact; NaN and infinities are no numbers.
func (t Type) Convert(v any) (any, error) {
	switch t {
	case String:
		switch x := v.(type) {
		case string:
			return x, nil
		case int, int64, float64, bool:
			return fmt.Sprint(x), nil
		case time.Time:
			return FormatTime(x), nil
		}
	case Int:
		switch x := v.(type) {
		case int:
			return int64(x), nil
		case int64:
			return x, nil
		case float64:
			if n, ok := wholeNumber(x); ok {
				return n, nil
			}
			return nil, fmt.Errorf("must be a whole number, got %v", x)
		case string:
			text := strings.TrimSpace(x)
			if n, err := strconv.ParseInt(text, 10, 64); err == nil {
				return n, nil
			}
			if f, err := strconv.ParseFloat(text, 64); err == nil {
				if n, ok := wholeNumber(f); ok {
					return n, nil
				}
			}
			return nil, fmt.Errorf("must be a whole number, got %q", x)
		}
	case Number:
		switch x := v.(type) {
		case int:
			return float64(x), nil
		case int64:
			return float64(x), nil
		case float64:
			if !math.IsNaN(x) && !math.IsInf(x, 0) {
				return x, nil
			}
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
				return f, nil
			}
			return nil, fmt.Errorf("must be a number, got %q", x)
		}
		return nil, fmt.Errorf("must be a number, got %v", v)
	case Bool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			b, err := strconv.ParseBool(strings.TrimSpace(x))
			if err == nil {
				return b, nil
			}
			return nil, fmt.Errorf("must be true or false, got %q", x)
		}
	case Pairs:
		switch x := v.(type) {
		case []Pair:
			return x, nil
		case map[string]any:
			return pairsFromMap(x)
		case map[string]string:
			m := make(map[string]any, len(x))
			for k, v := range x {
				m[k] = v
			}
			return pairsFromMap(m)
		}
	case List:
		if x, ok := v.([]any); ok {
			return x, nil
		}
		// Expressions give typed slices ([]int from 1..3, []string from
		// split): any slice or array is a list.
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
			out := make([]any, rv.Len())
			for i := range out {
				out[i] = rv.Index(i).Interface()
			}
			return out, nil
		}
	case FileRef:
		switch x := v.(type) {
		case File:
			return x, nil
		case string:
			// A path: checked and opened only through the run's
			// LocalFiles (Module.Exec), never here.
			if x == "" {
				return nil, fmt.Errorf("must be a file, got an empty path")
			}
			return &LocalFile{Path: x, size: -1}, nil
		}
	case Body:
		switch x := v.(type) {
		case string, File:
			return x, nil
		case int, int64, float64, bool:
			return fmt.Sprint(x), nil
		case time.Time:
			return FormatTime(x), nil
		}
	case Time:
		switch x := v.(type) {
		case time.Time:
			return x, nil
		case string:
			tm, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(x))
			if err != nil {
				return nil, fmt.Errorf("must be a time such as 2026-12-01T06:00:00Z, got %q", x)
			}
			return tm, nil
		}
	case Map:
		switch x := v.(type) {
		case map[string]any, map[string]string:
			return x, nil
		}
	case Any:
		return v, nil
	}
	return nil, fmt.Errorf("must be a %s, got %T", t, v)
}

// FormatTime is how a time reads as text everywhere in s3flow (a
// template, a text field, JSON, CSV, run history): RFC 3339 in UTC, with
// fractions of a second only when it has them.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// wholeNumber is f as an integer when f is one exactly: whole, and within
// the ±2^53 a float64 counts without gaps.
func wholeNumber(f float64) (int64, bool) {
	if f != math.Trunc(f) || math.Abs(f) >= 1<<53 {
		return 0, false
	}
	return int64(f), true
}

func pairsFromMap(m map[string]any) ([]Pair, error) {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	pairs := make([]Pair, 0, len(m))
	for _, k := range names {
		switch v := m[k].(type) {
		case string:
			pairs = append(pairs, Pair{k, v})
		case int, int64, float64, bool:
			pairs = append(pairs, Pair{k, fmt.Sprint(v)})
		default:
			return nil, fmt.Errorf("value of %q must be text, got %T", k, v)
		}
	}
	return pairs, nil
}

// ParsePairs splits "name<sep>value" items as given on a command line.
func ParsePairs(items []string, sep string) ([]Pair, error) {
	pairs := make([]Pair, 0, len(items))
	trimmed := strings.TrimSpace(sep)
	for _, item := range items {
		name, value, ok := strings.Cut(item, trimmed)
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("%q must look like \"name%svalue\"", item, sep)
		}
		pairs = append(pairs, Pair{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)})
	}
	return pairs, nil
}

// Values are a module's checked inputs.
type Values map[string]any

// String returns a string input, "" when absent.
func (v Values) String(name string) string {
	s, _ := v[name].(string)
	return s
}

// Int returns an integer input, 0 when absent.
func (v Values) Int(name string) int64 {
	n, _ := v[name].(int64)
	return n
}

// Bool returns a boolean input, false when absent.
func (v Values) Bool(name string) bool {
	b, _ := v[name].(bool)
	return b
}

// Pairs returns a Pairs input, nil when absent.
func (v Values) Pairs(name string) []Pair {
	p, _ := v[name].([]Pair)
	return p
}

// List returns a list input, nil when absent.
func (v Values) List(name string) []any {
	l, _ := v[name].([]any)
	return l
}

// File returns a file input, nil when absent.
func (v Values) File(name string) File {
	f, _ := v[name].(File)
	return f
}

// BytesFile is a File held in memory: small generated files, samples.
type BytesFile struct {
	FileName string
	Data     []byte
}

// Name returns the file's name.
func (f *BytesFile) Name() string { return f.FileName }

// Size returns the data's length.
func (f *BytesFile) Size() int64 { return int64(len(f.Data)) }

// Open reads the data; the reader can seek.
func (f *BytesFile) Open() (io.ReadCloser, error) {
	return bytesReadCloser{bytes.NewReader(f.Data)}, nil
}

type bytesReadCloser struct{ *bytes.Reader }

func (bytesReadCloser) Close() error { return nil }

// SpooledFile is a download kept in a flow run's spool folder: a reference
// that later steps (Upload a file) read from disk, never from memory.
type SpooledFile struct {
	Path        string
	FileName    string
	Bytes       int64
	ContentType string
}

// Name returns the file's name (the object's last path segment).
func (f *SpooledFile) Name() string { return f.FileName }

// Size returns the size in bytes.
func (f *SpooledFile) Size() int64 { return f.Bytes }

// Open opens the spooled data.
func (f *SpooledFile) Open() (io.ReadCloser, error) { return os.Open(f.Path) }

// Type returns the content type the object had.
func (f *SpooledFile) Type() string { return f.ContentType }

func (f *SpooledFile) String() string { return f.FileName }
