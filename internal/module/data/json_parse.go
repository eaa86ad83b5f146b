package data

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/s3flow/s3flow/internal/module"
)

// JSONParse is "Parse JSON": one bundle per element of a JSON array or per
// line of JSON Lines.
var JSONParse = &module.Module{
	Name:  "json.parse",
	Verb:  "parse",
	Title: "Parse JSON",
	Group: module.GroupData,
	Help: "Reads a JSON document or JSON Lines (an object, or a file of an earlier step) and emits one bundle per element of the array that select names, or per line: " +
		"an object becomes a bundle of its keys, anything else a bundle with value. Elements (up to 4 MiB each) are read as the next steps take them.",
	NeedsConnection: true, // see csv.parse
	Many:            true,
	Fields: []module.Field{
		sourceBucket, sourcePath, sourceFile,
		{Name: "format", Label: "Format", Type: module.String, Default: "auto", Choices: []string{"auto", "json", "jsonl"},
			Help: "json: one document; jsonl: one value per line (JSON Lines); auto: jsonl for names ending .jsonl or .ndjson, else json"},
		// Not "path": that names the object, as in every module that reads one.
		{Name: "select", Label: "Select", Type: module.String, Example: "data.records",
			Help: "where the array to iterate is in a json document: keys joined by dots, e.g. items or data.records (default: the document itself)"},
		sourceRegion,
	},
	Validate: func(in module.Values) error {
		if err := checkSource(in); err != nil {
			return err
		}
		_, err := selectorOf(in.String("select"))
		if err == nil && in.String("select") != "" && formatOf(in) == "jsonl" {
			return &module.InputError{Field: "select", Rule: "applies to json documents; each line of JSON Lines is one element"}
		}
		return err
	},
	Run: runJSONParse,
}

// selectorOf splits a select input into keys.
func selectorOf(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	keys := strings.Split(s, ".")
	for _, k := range keys {
		if k == "" {
			return nil, &module.InputError{Field: "select", Rule: fmt.Sprintf("%q has an empty key: give keys joined by single dots, e.g. data.records", s)}
		}
	}
	return keys, nil
}

// formatOf is the format input, auto resolved by the source's name.
func formatOf(in module.Values) string {
	f := in.String("format")
	if f != "auto" && f != "" {
		return f
	}
	switch strings.ToLower(path.Ext(sourceName(in))) {
	case ".jsonl", ".ndjson":
		return "jsonl"
	}
	return "json"
}

func runJSONParse(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	keys, err := selectorOf(in.String("select"))
	if err != nil {
		return err
	}
	src, name, err := openSource(ctx, env, in)
	if err != nil {
		return err
	}
	defer src.Close()
	guard := &rowGuard{r: src}
	send := func(v any) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		v = plainNumbers(v)
		if m, ok := v.(map[string]any); ok {
			return emit(module.Bundle(m))
		}
		return emit(module.Bundle{"value": v})
	}
	if formatOf(in) == "jsonl" {
		return parseLines(guard, name, send)
	}
	return parseDocument(guard, name, keys, send)
}

// parseDocument walks a JSON document with the decoder's tokens to the
// array keys name, then decodes one element at a time: only the element
// being read is held, whatever the array's length.
func parseDocument(guard *rowGuard, name string, keys []string, send func(any) error) error {
	dec := json.NewDecoder(guard)
	dec.UseNumber()
	fail := func(err error) error { return jsonError(name, dec, err) }
	where := "the document"
	for i, key := range keys {
		t, err := dec.Token()
		if err != nil {
			return fail(err)
		}
		if t != json.Delim('{') {
			return fmt.Errorf("parse %s: select %s: %s is %s, not an object (at byte %d)", name, strings.Join(keys, "."), where, kindOf(t), dec.InputOffset())
		}
		found := false
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return fail(err)
			}
			if kt.(string) == key {
				found = true
				break
			}
			if err := skipValue(dec, guard); err != nil {
				return fail(err)
			}
		}
		if !found {
			return fmt.Errorf("parse %s: select %s: %s has no key %q", name, strings.Join(keys, "."), where, key)
		}
		where = strings.Join(keys[:i+1], ".")
	}
	t, err := dec.Token()
	if err != nil {
		return fail(err)
	}
	guard.mark()
	switch t {
	case json.Delim('['):
		for dec.More() {
			var v any
			if err := dec.Decode(&v); err != nil {
				return fail(err)
			}
			guard.mark()
			if err := send(v); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return fail(err)
		}
	case json.Delim('{'):
		if len(keys) > 0 {
			return fmt.Errorf("parse %s: select %s is an object, not a list", name, where)
		}
		// The whole document is one object: one bundle.
		v, err := restOfObject(dec)
		if err != nil {
			return fail(err)
		}
		if err := send(v); err != nil {
			return err
		}
		return checkEnd(dec, name)
	default:
		if len(keys) > 0 {
			return fmt.Errorf("parse %s: select %s is %s, not a list", name, where, kindOf(t))
		}
		if err := send(t); err != nil {
			return err
		}
		return checkEnd(dec, name)
	}
	// The rest of the document is read too: a file cut short or broken
	// after the array fails the step rather than pass unnoticed.
	for {
		_, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fail(err)
		}
		guard.mark()
	}
}

// checkEnd fails for anything but white space after the top-level value.
func checkEnd(dec *json.Decoder, name string) error {
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("parse %s: more data after the document's end at byte %d", name, dec.InputOffset())
	}
	return nil
}

// restOfObject decodes an object whose '{' was read as a token.
func restOfObject(dec *json.Decoder) (map[string]any, error) {
	m := map[string]any{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		m[kt.(string)] = v
	}
	_, err := dec.Token()
	return m, err
}

// skipValue reads past one value token by token, holding none of it.
func skipValue(dec *json.Decoder, guard *rowGuard) error {
	depth := 0
	for {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		guard.mark()
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// parseLines reads JSON Lines: one value per line, blank lines skipped.
func parseLines(guard *rowGuard, name string, send func(any) error) error {
	br := bufio.NewReaderSize(guard, 64<<10)
	var line []byte
	for n := 1; ; n++ {
		line = line[:0]
		var err error
		for {
			var part []byte
			part, err = br.ReadSlice('\n')
			line = append(line, part...)
			if err != bufio.ErrBufferFull {
				break
			}
			if len(line) > maxRowBytes {
				return fmt.Errorf("parse %s: line %d is longer than %d MiB", name, n, maxRowBytes>>20)
			}
		}
		guard.mark()
		if err != nil && err != io.EOF {
			if errors.Is(err, errRowTooLong) {
				return fmt.Errorf("parse %s: line %d is longer than %d MiB", name, n, maxRowBytes>>20)
			}
			return fmt.Errorf("read %s: %w", name, err)
		}
		if text := strings.TrimSpace(string(line)); text != "" {
			dec := json.NewDecoder(strings.NewReader(text))
			dec.UseNumber()
			var v any
			if derr := dec.Decode(&v); derr != nil {
				return fmt.Errorf("parse %s: line %d: %s", name, n, syntaxText(derr, dec))
			}
			if dec.More() {
				return fmt.Errorf("parse %s: line %d: more than one value (at column %d)", name, n, dec.InputOffset()+1)
			}
			if serr := send(v); serr != nil {
				return serr
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// jsonError says where a document broke: the byte offset.
func jsonError(name string, dec *json.Decoder, err error) error {
	if errors.Is(err, errRowTooLong) {
		return fmt.Errorf("parse %s: an element after byte %d is longer than %d MiB", name, dec.InputOffset(), maxRowBytes>>20)
	}
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("parse %s: invalid JSON after byte %d: %v", name, se.Offset, se)
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("parse %s: the JSON ends early, after byte %d (a file cut short?)", name, dec.InputOffset())
	}
	return fmt.Errorf("parse %s: at byte %d: %w", name, dec.InputOffset(), err)
}

// syntaxText is a JSON Lines error with the column it happened at.
func syntaxText(err error, dec *json.Decoder) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at column %d: %v", se.Offset, se)
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return "the JSON ends early"
	}
	return fmt.Sprintf("at column %d: %v", dec.InputOffset()+1, err)
}

func kindOf(t json.Token) string {
	switch t.(type) {
	case json.Delim:
		if t == json.Delim('[') {
			return "a list"
		}
		return "an object"
	case string:
		return "text"
	case json.Number:
		return "a number"
	case bool:
		return "true or false"
	}
	return "null"
}

// plainNumbers turns json.Numbers into int64 where they are whole and fit,
// else float64: the types expressions compute with.
func plainNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = plainNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = plainNumbers(e)
		}
	}
	return v
}
