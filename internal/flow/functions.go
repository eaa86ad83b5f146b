package flow

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"sort"
	"time"

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
	}
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

func csvCell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	case string:
		return x
	case map[string]string, map[string]any, []any:
		b, _ := json.Marshal(x)
		return string(b)
	case module.File:
		return x.Name()
	}
	return fmt.Sprint(v)
}

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
