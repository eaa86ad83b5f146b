package flow

import (
	"context"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/module"
)

// evalEnv is the fixed environment the template tests evaluate in.
func evalEnv() map[string]any {
	return Env(
		map[string]any{"a": int64(5), "f": 1.5, "s": "hi", "b": true, "date": "2026-11-24"},
		map[string]any{"event": "put"},
		map[string]any{
			"list": module.Bundle{"key": "reports/a.csv", "size": int64(10)},
			"all": module.Bundle{"count": int64(2), "items": []any{
				module.Bundle{"key": "a.csv", "size": int64(1)},
				module.Bundle{"key": "b,\"q\".csv", "size": int64(2)},
			}},
		},
	)
}

// compile compiles v (a decoded YAML value) with every reference allowed.
func compile(t *testing.T, v any) *Template {
	t.Helper()
	tmpl, errs := compileValue(v, Pos{1, 1}, exprEnv(), func([]string) error { return nil })
	if len(errs) > 0 {
		t.Fatalf("compile %#v: %v", v, errs)
	}
	return tmpl
}

func TestTemplateEval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      any
		want    any
		literal bool
	}{
		{"literal string", "plain", "plain", true},
		{"literal int", 3, 3, true},
		{"literal nil", nil, nil, true},
		{"whole int keeps its type", "{{ inputs.a }}", int64(5), false},
		{"whole float keeps its type", "{{ inputs.f }}", 1.5, false},
		{"whole bool keeps its type", "{{ inputs.b }}", true, false},
		{"whole expression with spaces around", "  {{ inputs.a }}  ", "  5  ", false},
		{"arithmetic", "{{ inputs.a * 2 }}", 10, false},
		{"comparison", "{{ steps.list.size > 5 }}", true, false},
		{"operator on a step field", "{{ steps.list.key endsWith '.csv' }}", true, false},
		{"text around gives a string", "x-{{ inputs.a }}-y", "x-5-y", false},
		{"two expressions", "{{ inputs.s }}/{{ inputs.date }}", "hi/2026-11-24", false},
		{"float in text", "r={{ inputs.f }}", "r=1.5", false},
		{"nil in text is empty", "[{{ nil }}]", "[]", false},
		{"trigger", "{{ trigger.event }}", "put", false},
		{"builtin", "{{ upper(inputs.s) }}", "HI", false},
		{"aggregate count", "{{ steps.all.count }}", int64(2), false},
		{"map of templates", map[string]any{"k": "{{ inputs.s }}", "n": 3, "t": "a{{ inputs.a }}"},
			map[string]any{"k": "hi", "n": 3, "t": "a5"}, false},
		{"literal map", map[string]any{"Content-Type": "text/csv"}, map[string]any{"Content-Type": "text/csv"}, true},
		{"list of templates", []any{"{{ inputs.a }}", "x", "{{ inputs.b }}"}, []any{int64(5), "x", true}, false},
		{"nested", map[string]any{"l": []any{map[string]any{"v": "{{ inputs.s }}"}}},
			map[string]any{"l": []any{map[string]any{"v": "hi"}}}, false},
		{"literal list", []any{1, "x"}, []any{1, "x"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tmpl := compile(t, tt.in)
			if got := tmpl.IsLiteral(); got != tt.literal {
				t.Errorf("IsLiteral() = %v, want %v", got, tt.literal)
			}
			got, err := tmpl.Eval(context.Background(), evalEnv())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Eval = %#v (%T), want %#v (%T)", got, got, tt.want, tt.want)
			}
		})
	}
}

func TestTemplateEvalError(t *testing.T) {
	t.Parallel()
	for _, src := range []any{
		"{{ steps.nosuch.key.x }}",
		"a {{ 1 / inputs.s }}",
		map[string]any{"k": "{{ steps.nosuch.key.x }}"},
		[]any{"{{ steps.nosuch.key.x }}"},
	} {
		if v, err := compile(t, src).Eval(context.Background(), evalEnv()); err == nil {
			t.Errorf("Eval(%#v) = %#v, want an error", src, v)
		}
	}
}

func TestFileText(t *testing.T) {
	t.Parallel()
	v, err := compile(t, "{{ file.text('notes/' + inputs.s + '.txt', 'count=' + string(steps.all.count)) }}").Eval(context.Background(), evalEnv())
	if err != nil {
		t.Fatal(err)
	}
	f, ok := v.(module.File)
	if !ok {
		t.Fatalf("file.text gave %T, want a module.File", v)
	}
	if f.Name() != "notes/hi.txt" || f.Size() != int64(len("count=2")) {
		t.Errorf("name %q size %d", f.Name(), f.Size())
	}
	// A File can be read more than once (a retried upload).
	for range 2 {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		r.Close()
		if err != nil || string(data) != "count=2" {
			t.Errorf("content %q, %v", data, err)
		}
	}
	// Any value is written as its text.
	v, err = compile(t, "{{ file.text('n.txt', inputs.a) }}").Eval(context.Background(), evalEnv())
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := v.(module.File).Open(); r != nil {
		data, _ := io.ReadAll(r)
		if string(data) != "5" {
			t.Errorf("file.text of an int: %q", data)
		}
	}
}

func TestCSV(t *testing.T) {
	t.Parallel()
	v, err := compile(t, "{{ csv(steps.all.items) }}").Eval(context.Background(), evalEnv())
	if err != nil {
		t.Fatal(err)
	}
	want := "key,size\na.csv,1\n\"b,\"\"q\"\".csv\",2\n"
	if v != want {
		t.Errorf("csv:\n got %q\nwant %q", v, want)
	}
}

func TestToCSV(t *testing.T) {
	t.Parallel()
	when := time.Date(2026, 11, 24, 8, 30, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name  string
		items []any
		want  string
		err   string
	}{
		{"empty", nil, "\n", ""},
		{"columns sorted, later ones appended", []any{
			map[string]any{"z": 1, "a": "x"},
			module.Bundle{"a": "y", "m": true},
		}, "a,z,m\nx,1,\ny,,true\n", ""},
		{"cells: time, nil, file, map, newline", []any{
			map[string]any{"t": when, "n": nil, "f": &module.BytesFile{FileName: "r.csv"}, "h": map[string]any{"k": "v"}, "s": "two\nlines"},
		}, "f,h,n,s,t\nr.csv,\"{\"\"k\"\":\"\"v\"\"}\",,\"two\nlines\",2026-11-24T07:30:00Z\n", ""},
		{"not bundles", []any{"x"}, "", "csv: items must be bundles (maps), got string"},
	}
	for _, tt := range tests {
		got, err := toCSV(tt.items)
		switch {
		case tt.err != "" && (err == nil || err.Error() != tt.err):
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("%s:\n got %q, %v\nwant %q", tt.name, got, err, tt.want)
		}
	}
}

func TestJSON(t *testing.T) {
	t.Parallel()
	tests := []struct{ src, want string }{
		{"{{ json(inputs.a) }}", "5"},
		{"{{ json(steps.list) }}", `{"key":"reports/a.csv","size":10}`},
		{"{{ json({'b': [1, 'two'], 'a': nil}) }}", `{"a":null,"b":[1,"two"]}`},
		// File data is never serialised, only its description.
		{"{{ json({'f': file.text('x.txt', 'secret data')}) }}", `{"f":{"name":"x.txt","size":11}}`},
		{"{{ json(file.text('x.txt', 'abc')) }}", `{"name":"x.txt","size":3}`},
	}
	for _, tt := range tests {
		got, err := compile(t, tt.src).Eval(context.Background(), evalEnv())
		if err != nil || got != tt.want {
			t.Errorf("%s = %#v, %v; want %q", tt.src, got, err, tt.want)
		}
		if s, _ := got.(string); strings.Contains(s, "secret") {
			t.Errorf("%s leaks file data: %s", tt.src, s)
		}
	}
}

func TestPosIn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    string
		off  int
		want Pos
	}{
		{"abc", 0, Pos{3, 10}},
		{"abc", 2, Pos{3, 12}},
		{"ünï{{", 5, Pos{3, 13}}, // columns count characters, not bytes
		{"ab\ncd{{", 5, Pos{4, 12}},
		{"ab", 99, Pos{3, 12}},
	}
	for _, tt := range tests {
		if got := posIn(tt.s, Pos{3, 10}, tt.off); got != tt.want {
			t.Errorf("posIn(%q, 3:10, %d) = %v, want %v", tt.s, tt.off, got, tt.want)
		}
	}
}
