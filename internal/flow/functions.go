package flow

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/s3flow/s3flow/internal/module"
)

// exprEnv is the environment expressions compile against: the variables
// (filled per bundle by the engine) and the functions of the flow language,
// beside expr's own builtins (now(), date(), upper(), split(), ...).
func exprEnv() map[string]any {
	env := Env(nil, nil, nil)
	env[guardName] = (*guard)(nil) // its type, for the checker
	return env
}

// Env builds the expression environment for one bundle.
func Env(inputs, trigger map[string]any, steps map[string]any) map[string]any {
	if inputs == nil {
		inputs = map[string]any{}
	}
	if trigger == nil {
		trigger = map[string]any{}
	}
	if steps == nil {
		steps = map[string]any{}
	}
	return map[string]any{
		"inputs":  inputs,
		"trigger": trigger,
		"steps":   steps,
		"file":    fileFuncs,
		"csv":     toCSV,
		"json":    toJSON,
		"format":  formatTime,
	}
}

// formatTime is format(t, layout[, zone]): t written with the date tokens
// automation platforms use (YYYY-MM-DD HH:mm:ss, see timeTokens), in UTC
// or in the IANA time zone given. Text in [brackets] is written as it is.
func formatTime(t time.Time, layout string, zone ...string) (string, error) {
	if len(zone) > 1 {
		return "", fmt.Errorf("format takes a time, a layout and at most one time zone")
	}
	loc := time.UTC
	if len(zone) == 1 {
		var err error
		if loc, err = time.LoadLocation(zone[0]); err != nil {
			return "", fmt.Errorf("format: %q is not a time zone (give an IANA name such as Europe/Berlin)", zone[0])
		}
	}
	t = t.In(loc)
	var b strings.Builder
	for rest := layout; rest != ""; {
		if rest[0] == '[' {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return "", fmt.Errorf("format: %q has a [ with no ]", layout)
			}
			b.WriteString(rest[1:end])
			rest = rest[end+1:]
			continue
		}
		tok := tokenAt(rest)
		if tok == nil {
			r, size := utf8.DecodeRuneInString(rest)
			b.WriteRune(r)
			rest = rest[size:]
			continue
		}
		b.WriteString(tok.write(t))
		rest = rest[len(tok.name):]
	}
	return b.String(), nil
}

type timeToken struct {
	name  string
	write func(time.Time) string
}

// timeTokens are format's tokens, longest first so that MMMM is not read
// as MM twice. They are moment.js's, which Make and n8n users know.
var timeTokens = []timeToken{
	{"YYYY", func(t time.Time) string { return fmt.Sprintf("%04d", t.Year()) }},
	{"MMMM", func(t time.Time) string { return t.Month().String() }},
	{"dddd", func(t time.Time) string { return t.Weekday().String() }},
	{"MMM", func(t time.Time) string { return t.Month().String()[:3] }},
	{"ddd", func(t time.Time) string { return t.Weekday().String()[:3] }},
	{"SSS", func(t time.Time) string { return fmt.Sprintf("%03d", t.Nanosecond()/1e6) }},
	{"YY", func(t time.Time) string { return fmt.Sprintf("%02d", t.Year()%100) }},
	{"MM", func(t time.Time) string { return fmt.Sprintf("%02d", int(t.Month())) }},
	{"DD", func(t time.Time) string { return fmt.Sprintf("%02d", t.Day()) }},
	{"HH", func(t time.Time) string { return fmt.Sprintf("%02d", t.Hour()) }},
	{"hh", func(t time.Time) string { return fmt.Sprintf("%02d", hour12(t)) }},
	{"mm", func(t time.Time) string { return fmt.Sprintf("%02d", t.Minute()) }},
	{"ss", func(t time.Time) string { return fmt.Sprintf("%02d", t.Second()) }},
	{"ZZ", func(t time.Time) string { return t.Format("-0700") }},
	{"M", func(t time.Time) string { return strconv.Itoa(int(t.Month())) }},
	{"D", func(t time.Time) string { return strconv.Itoa(t.Day()) }},
	{"H", func(t time.Time) string { return strconv.Itoa(t.Hour()) }},
	{"h", func(t time.Time) string { return strconv.Itoa(hour12(t)) }},
	{"m", func(t time.Time) string { return strconv.Itoa(t.Minute()) }},
	{"s", func(t time.Time) string { return strconv.Itoa(t.Second()) }},
	{"A", func(t time.Time) string { return t.Format("PM") }},
	{"a", func(t time.Time) string { return t.Format("pm") }},
	{"Z", func(t time.Time) string { return t.Format("-07:00") }},
	{"X", func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }},
	{"x", func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }},
}

func tokenAt(s string) *timeToken {
	for i := range timeTokens {
		if strings.HasPrefix(s, timeTokens[i].name) {
			return &timeTokens[i]
		}
	}
	return nil
}

func hour12(t time.Time) int {
	if h := t.Hour() % 12; h != 0 {
		return h
	}
	return 12
}

var fileFuncs = map[string]any{"text": fileText}

// fileText is file.text(name, content): a text file a step can upload.
// Expressions call it through the guard; the size check holds when a
// function value escapes the guard's patching (let f = file.text).
func fileText(name string, content any) (module.File, error) {
	if _, err := checkTextSize(content); err != nil {
		return nil, err
	}
	return &module.BytesFile{FileName: name, Data: []byte(text(content))}, nil
}

// toJSON writes any value as compact JSON.
func toJSON(v any) (string, error) {
	if _, err := checkTextSize(v); err != nil {
		return "", err
	}
	b, err := json.Marshal(jsonSafe(v))
	return string(b), err
}

// toCSV writes a list of bundles (maps) as CSV with a header row: the keys
// of the first item in order of first appearance, then any others sorted.
func toCSV(items []any) (string, error) {
	if _, err := checkTextSize(items); err != nil {
		return "", err
	}
	var cols []string
	seen := map[string]bool{}
	for _, it := range items {
		m, ok := asMap(it)
		if !ok {
			return "", fmt.Errorf("csv: items must be bundles (maps), got %T", it)
		}
		var keys []string
		for k := range m {
			if !seen[k] {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			seen[k] = true
			cols = append(cols, k)
		}
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(cols); err != nil {
		return "", err
	}
	for _, it := range items {
		m, _ := asMap(it)
		row := make([]string, len(cols))
		for i, c := range cols {
			row[i] = csvCell(m[c])
		}
		if err := w.Write(row); err != nil {
			return "", err
		}
	}
	w.Flush()
	return buf.String(), w.Error()
}

func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case module.Bundle:
		return m, true
	}
	return nil, false
}

func csvCell(v any) string { return module.CSVCell(v) }

// jsonSafe replaces file references by their description: file data is
// never serialised.
func jsonSafe(v any) any {
	switch x := v.(type) {
	case module.File:
		return map[string]any{"name": x.Name(), "size": x.Size()}
	case module.Bundle:
		return jsonSafe(map[string]any(x))
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, v := range x {
			out[k] = jsonSafe(v)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, v := range x {
			out[i] = jsonSafe(v)
		}
		return out
	}
	return v
}
