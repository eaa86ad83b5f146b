package module_test

import (
	"errors"
	"testing"

	"github.com/s3flow/s3flow/internal/module"
)

// checked is a module with one field of each rule Check applies.
var checked = &module.Module{
	Name: "test.checked",
	Fields: []module.Field{
		{Name: "headers", Flag: "header", Type: module.Pairs, Kind: module.Headers},
		{Name: "region", Type: module.String, Kind: module.Region},
		{Name: "limit", Type: module.Int, Default: int64(0), Min: module.AtLeast(0)},
		{Name: "count", Type: module.Int},
		{Name: "method", Type: module.String, Default: "GET", Choices: []string{"GET", "PUT"}},
	},
}

// TestCheckFieldRules: each field's kind, bound and choices are checked by
// Check, so every interface (CLI, flows, API) gets the same rule; a
// refusal is an InputError naming the field.
func TestCheckFieldRules(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		raw     map[string]any
		field   string // "" means accepted
		rule    string
		checkFn func(t *testing.T, v module.Values)
	}{
		{name: "good headers", raw: map[string]any{"headers": map[string]any{"x-amz-meta-owner": "ana", "Content-Type": "text/csv"}}},
		{name: "space in a header name", raw: map[string]any{"headers": []module.Pair{{Name: "x-amz-meta-bad name", Value: "v"}}},
			field: "headers", rule: `"x-amz-meta-bad name" is not a header name: use letters, digits and - (no spaces, colons or other separators)`},
		{name: "spaces around a header name", raw: map[string]any{"headers": map[string]any{" Content-Type ": "text/csv"}}},
		{name: "colon in a header name", raw: map[string]any{"headers": map[string]any{"a:b": "v"}},
			field: "headers", rule: `"a:b" is not a header name: use letters, digits and - (no spaces, colons or other separators)`},
		{name: "line break in a header value", raw: map[string]any{"headers": map[string]any{"x-amz-meta-a": "1\r\nX-Evil: 2"}},
			field: "headers", rule: "the value of header x-amz-meta-a has a control character (a line break, say); header values are one line of text"},
		{name: "bad region", raw: map[string]any{"region": "bad region!"},
			field: "region", rule: `must be 1-63 lower-case letters, digits and dashes (like eu-central-1), got "bad region!"`},
		{name: "negative limit", raw: map[string]any{"limit": -1}, field: "limit", rule: "must be at least 0, got -1"},
		{name: "zero limit", raw: map[string]any{"limit": "0"}},
		{name: "unbounded integer", raw: map[string]any{"count": -5}},
		{name: "choice in another case", raw: map[string]any{"method": "put"}, checkFn: func(t *testing.T, v module.Values) {
			if v.String("method") != "PUT" {
				t.Errorf("method = %q, want the declared PUT", v.String("method"))
			}
		}},
		{name: "no such choice", raw: map[string]any{"method": "PATCH"}, field: "method", rule: `must be one of GET, PUT, got "PATCH"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := checked.Check(tt.raw)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				if tt.checkFn != nil {
					tt.checkFn(t, v)
				}
				return
			}
			var ie *module.InputError
			if !errors.As(err, &ie) || ie.Field != tt.field || ie.Rule != tt.rule {
				t.Errorf("Check = %v, want %s: %s", err, tt.field, tt.rule)
			}
		})
	}
}

// TestInputErrorRefs: a rule names other fields as {name}; Error shows
// their flow names, RuleNaming whatever an interface calls them.
func TestInputErrorRefs(t *testing.T) {
	t.Parallel()
	e := &module.InputError{Field: "prefix", Rule: "give one of {keys_file} and {prefix}, not {nosuch}", Refs: []string{"keys_file", "prefix"}}
	if got, want := e.Error(), "prefix: give one of keys_file and prefix, not {nosuch}"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	flag := func(name string) string { return "--" + name + "-flag" }
	if got, want := e.RuleNaming(flag), "give one of --keys_file-flag and --prefix-flag, not {nosuch}"; got != want {
		t.Errorf("RuleNaming = %q, want %q", got, want)
	}
}
