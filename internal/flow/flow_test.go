package flow

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/module/builtin"
	"github.com/s3flow/s3flow/internal/module/s3"
)

// setup returns a registry with every module a flow file can name.
func setup(t testing.TB) *module.Registry {
	t.Helper()
	reg := &module.Registry{}
	reg.Register(builtin.Modules()...)
	reg.Register(s3.Modules()...)
	return reg
}

// problems parses src and returns its problems; it fails the test when the
// flow parses or the error is not Errors of *Problem.
func problems(t *testing.T, src string) []*Problem {
	t.Helper()
	f, err := Parse("f.yaml", []byte(src), setup(t))
	if err == nil {
		t.Fatalf("Parse succeeded (%d steps), want problems", len(f.Steps))
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse error is %T, want Errors: %v", err, err)
	}
	out := make([]*Problem, len(errs))
	for i, e := range errs {
		p, ok := e.(*Problem)
		if !ok {
			t.Fatalf("problem %d is %T, want *Problem: %v", i, e, e)
		}
		out[i] = p
	}
	return out
}

func TestParseExamples(t *testing.T) {
	t.Parallel()
	reg := setup(t)
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(file, data, reg); err != nil {
			t.Errorf("%s does not parse:\n%v", file, err)
		}
	}
}

// TestParseArchiveReports checks the shape the flow parses into.
func TestParseArchiveReports(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../examples/archive-reports.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse("archive-reports.yaml", data, setup(t))
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "archive-reports" || f.File != "archive-reports.yaml" || len(f.Hash) != 64 {
		t.Errorf("name %q, file %q, hash %q", f.Name, f.File, f.Hash)
	}
	wantInputs := []Input{
		{Name: "date", Type: "string", Required: true},
		{Name: "connection", Type: "string", Default: "local"},
		{Name: "bucket", Type: "string", Default: "demo"},
		{Name: "archive", Type: "string", Default: "archive"},
	}
	if len(f.Inputs) != len(wantInputs) {
		t.Fatalf("inputs: got %d, want %d", len(f.Inputs), len(wantInputs))
	}
	for i, w := range wantInputs {
		g := f.Inputs[i]
		if g.Name != w.Name || g.Type != w.Type || g.Required != w.Required || g.Default != w.Default {
			t.Errorf("input %d: got %+v, want %+v", i, g, w)
		}
	}
	wantSteps := []struct{ id, module string }{
		{"archive_bucket", "s3.create_bucket"}, {"list", "s3.list_files"}, {"csv", "flow.filter"},
		{"get", "s3.get_file"}, {"put", "s3.upload_file"}, {"all", "flow.aggregate"}, {"manifest", "s3.upload_file"},
	}
	if len(f.Steps) != len(wantSteps) {
		t.Fatalf("steps: got %d, want %d", len(f.Steps), len(wantSteps))
	}
	for i, w := range wantSteps {
		if st := f.Steps[i]; st.ID != w.id || st.Module.Name != w.module {
			t.Errorf("step %d: got %s (%s), want %s (%s)", i, st.ID, st.Module.Name, w.id, w.module)
		}
	}
	put := f.Steps[4]
	want := OnError{Action: ActionRetry, Attempts: 3, Backoff: 2 * time.Second, Then: ActionStop}
	if put.OnError.Action != want.Action || put.OnError.Attempts != want.Attempts || put.OnError.Backoff != want.Backoff || put.OnError.Then != want.Then {
		t.Errorf("put on_error: got %+v, want %+v", put.OnError, want)
	}
	if f.Steps[2].OnError.Action != ActionStop {
		t.Errorf("default on_error: got %q, want stop", f.Steps[2].OnError.Action)
	}
	if put.Pos != (Pos{30, 5}) {
		t.Errorf("put is at %v, want 30:5", put.Pos)
	}
	if f.Steps[2].Connection != nil {
		t.Errorf("flow.filter has a connection template")
	}
	env := Env(map[string]any{"connection": "local", "date": "2026-11-24", "archive": "archive"}, nil, nil)
	conn, err := put.Connection.Eval(context.Background(), env)
	if err != nil || conn != "local" {
		t.Errorf("put connection: %v, %v", conn, err)
	}
	folder, err := put.With["folder"].Eval(context.Background(), env)
	if err != nil || folder != "2026-11-24" {
		t.Errorf("put folder: %v, %v", folder, err)
	}
	headers, err := put.With["headers"].Eval(context.Background(), env)
	if err != nil || fmt.Sprint(headers) != "map[Content-Type:text/csv]" {
		t.Errorf("put headers: %v, %v", headers, err)
	}
	if !put.With["headers"].IsLiteral() || put.With["file"].IsLiteral() {
		t.Errorf("IsLiteral: headers %v, file %v", put.With["headers"].IsLiteral(), put.With["file"].IsLiteral())
	}
}

// TestParseErrors checks each kind of problem on its own: where it is
// reported and what it says. A literal's problem is at its value; a bad
// reference at the start of the reference (inputs.x, steps.a.b); a syntax
// error at the token that breaks it.
func TestParseErrors(t *testing.T) {
	t.Parallel()
	const head = "name: t\ninputs:\n  date: {type: string}\nsteps:\n"
	tests := []struct {
		name string
		src  string
		pos  Pos
		msgs []string
	}{
		{"unknown top-level key", "name: t\ncolour: blue\nsteps:\n  - {id: a, module: flow.iterate, with: {items: [1]}}\n",
			Pos{2, 1}, []string{`unknown key "colour"`, "keys: name, description, inputs, trigger, max_concurrent_runs, history_detail, steps"}},
		{"missing name", "steps:\n  - {id: a, module: flow.iterate, with: {items: [1]}}\n",
			Pos{1, 1}, []string{"name is required"}},
		{"no steps", "name: t\nsteps: []\n", Pos{2, 8}, []string{"at least one step"}},
		{"step without id", head + "  - module: flow.iterate\n    with: {items: [1]}\n",
			Pos{5, 5}, []string{"a step needs an id"}},
		{"step without module", head + "  - id: a\n    with: {items: [1]}\n",
			Pos{5, 5}, []string{`step "a": module is required`}},
		{"step id with a dash", head + "  - id: a-b\n    module: flow.iterate\n    with: {items: [1]}\n",
			Pos{5, 5}, []string{`step id "a-b" must be letters`}},
		{"reserved step id", head + "  - id: steps\n    module: flow.iterate\n    with: {items: [1]}\n",
			Pos{5, 5}, []string{`step id "steps" is reserved`}},
		{"unknown module", head + "  - id: a\n    module: s3.nosuch\n",
			Pos{6, 13}, []string{`unknown module "s3.nosuch"`, "modules: flow.filter, flow.aggregate", "s3.list_files"}},
		{"unknown with field", head + "  - id: a\n    module: flow.iterate\n    with:\n      items: [1]\n      colour: red\n",
			Pos{9, 7}, []string{`step "a": with.colour is not an input of flow.iterate`, "inputs: items"}},
		{"missing required field", head + "  - id: a\n    module: s3.list_files\n    connection: local\n    with:\n      prefix: x\n",
			Pos{9, 7}, []string{`step "a": with.bucket is required`}},
		{"missing with", head + "  - id: a\n    module: flow.iterate\n",
			Pos{5, 5}, []string{`step "a": with.items is required`}},
		{"wrong literal type", head + "  - id: a\n    module: s3.list_files\n    connection: local\n    with:\n      bucket: demo\n      limit: \"abc\"\n",
			Pos{10, 14}, []string{`step "a": with.limit: must be a whole number, got "abc"`}},
		{"wrong literal boolean", head + "  - id: a\n    module: s3.list_files\n    connection: local\n    with: {bucket: demo, recursive: maybe}\n",
			Pos{8, 37}, []string{`with.recursive: must be true or false, got "maybe"`}},
		{"bad bucket name", head + "  - id: a\n    module: s3.create_bucket\n    connection: local\n    with:\n      name: Not_A_Bucket\n",
			Pos{9, 13}, []string{`step "a": with.name:`, "Not_A_Bucket"}},
		{"bad choice", head + "  - id: a\n    module: s3.api_call\n    connection: local\n    with: {url: /demo, method: FETCH}\n",
			Pos{8, 32}, []string{`with.method: must be one of GET, HEAD, PUT, POST, DELETE, got "FETCH"`}},
		{"missing connection", head + "  - id: a\n    module: s3.list_files\n    with: {bucket: demo}\n",
			Pos{5, 5}, []string{`step "a": module s3.list_files needs a connection`}},
		{"empty connection", head + "  - id: a\n    module: s3.list_files\n    connection:\n    with: {bucket: demo}\n",
			Pos{7, 16}, []string{`step "a": connection must be a connection's name`}},
		{"connection on flow.filter", head + "  - id: a\n    module: flow.filter\n    connection: local\n    with: {condition: true}\n",
			Pos{7, 17}, []string{`step "a": module flow.filter takes no connection`}},
		{"connection using a step", head + "  - id: a\n    module: flow.iterate\n    with: {items: [1]}\n  - id: b\n    module: s3.list_files\n    connection: \"{{ steps.a.value }}\"\n    with: {bucket: demo}\n",
			Pos{10, 21}, []string{`step "b": connection: in {{ steps.a.value }}: a connection may use inputs only`}},
		{"expression syntax error", head + "  - id: a\n    module: flow.filter\n    with:\n      condition: \"{{ inputs.date endsWith }}\"\n",
			Pos{8, 42}, []string{`step "a": with.condition: in {{ inputs.date endsWith }}: unexpected token EOF`}},
		{"expression syntax error, plain scalar", head + "  - id: a\n    module: flow.filter\n    with:\n      condition: x {{ 1 + * 2 }}\n",
			Pos{8, 27}, []string{`in {{ 1 + * 2 }}: unexpected token Operator("*")`}},
		{"unclosed expression", head + "  - id: a\n    module: flow.filter\n    with:\n      condition: \"ab {{ true \"\n",
			Pos{8, 22}, []string{"{{ has no closing }}"}},
		{"undeclared input", head + "  - id: a\n    module: s3.list_files\n    connection: local\n    with: {bucket: \"{{ inputs.nope }}\"}\n",
			Pos{8, 24}, []string{`step "a": with.bucket: in {{ inputs.nope }}: inputs.nope is not declared under inputs:`}},
		{"undeclared input in connection", head + "  - id: a\n    module: s3.list_files\n    connection: \"{{ inputs.conn }}\"\n    with: {bucket: demo}\n",
			Pos{7, 21}, []string{`step "a": connection: in {{ inputs.conn }}: inputs.conn is not declared`}},
		{"later step", head + "  - id: a\n    module: flow.iterate\n    with: {items: \"{{ [steps.b.value] }}\"}\n  - id: b\n    module: flow.iterate\n    with: {items: [1]}\n",
			Pos{7, 24}, []string{`step "a": with.items: in {{ [steps.b.value] }}: steps.b is not an earlier step`}},
		{"unknown step", head + "  - id: a\n    module: flow.filter\n    with:\n      condition: \"{{ steps.nosuch.key == '' }}\"\n",
			Pos{8, 22}, []string{"steps.nosuch is not an earlier step"}},
		{"own step", head + "  - id: a\n    module: flow.filter\n    with:\n      condition: \"{{ steps.a.key == '' }}\"\n",
			Pos{8, 22}, []string{"steps.a is not an earlier step"}},
		{"field the module does not output", head + "  - id: list\n    module: s3.list_files\n    connection: local\n    with: {bucket: demo}\n  - id: a\n    module: flow.filter\n    with:\n      condition: \"{{ steps.list.nosuch == '' }}\"\n",
			Pos{12, 22}, []string{`steps.list.nosuch: s3.list_files has no output "nosuch" (outputs: key, size, lastModified, etag, storageClass)`}},
		{"field in a nested value", head + "  - id: a\n    module: s3.api_call\n    connection: local\n    with:\n      url: /x\n      headers:\n        x-amz-meta-a: ok\n        x-amz-meta-b: \"v={{ inputs.nope }}\"\n",
			Pos{12, 29}, []string{"with.headers: in {{ inputs.nope }}: inputs.nope is not declared"}},
		{"concurrency on a one-result step", head + "  - id: a\n    module: s3.create_bucket\n    connection: local\n    concurrency: 4\n    with: {name: demo}\n",
			Pos{8, 18}, []string{`step "a": concurrency applies to steps that emit many bundles`}},
		{"concurrency out of range", head + "  - id: a\n    module: flow.iterate\n    concurrency: 0\n    with: {items: [1]}\n",
			Pos{7, 18}, []string{`concurrency must be a whole number from 1 to 256, got "0"`}},
		{"bad max_concurrent_runs", "name: t\nmax_concurrent_runs: lots\nsteps:\n  - {id: a, module: flow.iterate, with: {items: [1]}}\n",
			Pos{2, 22}, []string{`max_concurrent_runs must be a whole number of at least 1, got "lots"`}},
		{"items of an aggregate that keeps none", "name: t\nsteps:\n  - {id: a, module: flow.iterate, with: {items: [1]}}\n  - {id: all, module: flow.aggregate, with: {from: a, items: false}}\n  - {id: b, module: flow.iterate, with: {items: \"{{ steps.all.items }}\"}}\n",
			Pos{5, 53}, []string{"steps.all.items: all keeps no items (items: false)"}},
		{"bad history_detail", "name: t\nhistory_detail: 0\nsteps:\n  - {id: a, module: flow.iterate, with: {items: [1]}}\n",
			Pos{2, 17}, []string{`history_detail must be a whole number of at least 1, or all, got "0"`}},
		{"bad on_error action", head + "  - id: a\n    module: flow.iterate\n    with: {items: [1]}\n    on_error: explode\n",
			Pos{8, 15}, []string{`on_error must be one of stop, retry, ignore, resume, break, rollback, got "explode"`}},
		{"bad on_error mapping", head + "  - id: a\n    module: flow.iterate\n    with: {items: [1]}\n    on_error: {explode: {}}\n",
			Pos{8, 15}, []string{`got "explode"`}},
		{"two on_error actions", head + "  - id: a\n    module: flow.iterate\n    with: {items: [1]}\n    on_error: {ignore: {}, stop: {}}\n",
			Pos{8, 15}, []string{"on_error takes one action"}},
		{"bad retry attempts", head + "  - id: a\n    module: flow.iterate\n    with: {items: [1]}\n    on_error: {retry: {attempts: 0}}\n",
			Pos{8, 34}, []string{"attempts must be a whole number from 1 to 100"}},
		{"bad retry then", head + "  - id: a\n    module: flow.iterate\n    with: {items: [1]}\n    on_error: {retry: {then: resume}}\n",
			Pos{8, 30}, []string{"then must be one of stop, ignore, break, rollback"}},
		{"bad retry backoff", head + "  - id: a\n    module: flow.iterate\n    with: {items: [1]}\n    on_error: {retry: {backoff: soon}}\n",
			Pos{8, 33}, []string{"backoff must be a duration"}},
		{"bad timeout", head + "  - id: a\n    module: flow.iterate\n    with: {items: [1]}\n    timeout: soon\n",
			Pos{8, 14}, []string{`timeout must be a duration such as 30s or 5m, got "soon"`}},
		{"negative timeout", head + "  - id: a\n    module: flow.iterate\n    with: {items: [1]}\n    timeout: -1s\n",
			Pos{8, 14}, []string{`got "-1s"`}},
		{"unknown step key", head + "  - id: a\n    module: flow.iterate\n    with: {items: [1]}\n    retries: 3\n",
			Pos{8, 5}, []string{`unknown step key "retries"`}},
		{"bad input type", "name: t\ninputs:\n  n: {type: float}\nsteps:\n  - {id: a, module: flow.iterate, with: {items: [1]}}\n",
			Pos{3, 13}, []string{"input n: type must be one of string, integer, number, boolean"}},
		{"bad input default", "name: t\ninputs:\n  n: {type: integer, default: abc}\nsteps:\n  - {id: a, module: flow.iterate, with: {items: [1]}}\n",
			Pos{3, 6}, []string{`input n: default must be a whole number, got "abc"`}},
		{"bad input required", "name: t\ninputs:\n  n: {required: maybe}\nsteps:\n  - {id: a, module: flow.iterate, with: {items: [1]}}\n",
			Pos{3, 17}, []string{"input n: required must be true or false"}},
		{"not YAML", "name: t\nsteps: [\n", Pos{2, 1}, []string{"not valid YAML"}},
		{"empty file", "", Pos{1, 1}, []string{"the file is empty"}},
		{"not a mapping", "- a\n- b\n", Pos{1, 1}, []string{"the flow must be a mapping"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ps := problems(t, tt.src)
			var found *Problem
			for _, p := range ps {
				if strings.Contains(p.Msg, tt.msgs[0]) {
					found = p
					break
				}
			}
			if found == nil {
				t.Fatalf("no problem says %q; got:\n%v", tt.msgs[0], Errors(asErrors(ps)))
			}
			for _, m := range tt.msgs[1:] {
				if !strings.Contains(found.Msg, m) {
					t.Errorf("problem %q does not say %q", found.Msg, m)
				}
			}
			if found.Pos != tt.pos {
				t.Errorf("problem %q is at %v, want %v", found.Msg, found.Pos, tt.pos)
			}
			if want := fmt.Sprintf("f.yaml:%d:%d: ", tt.pos.Line, tt.pos.Column); !strings.HasPrefix(found.Error(), want) {
				t.Errorf("problem reads %q, want the prefix %q", found.Error(), want)
			}
		})
	}
}

func asErrors(ps []*Problem) []error {
	out := make([]error, len(ps))
	for i, p := range ps {
		out[i] = p
	}
	return out
}

// TestParseReportsAllProblems checks that one broken file reports every
// problem at once, each with file:line:col.
func TestParseReportsAllProblems(t *testing.T) {
	t.Parallel()
	src := `name: broken
colour: blue
inputs:
  date: {type: string, required: true}
steps:
  - module: flow.filter
    with: {condition: "{{ true }}"}
  - id: list
    module: s3.list_files
    connection: local
    with:
      bucket: demo
      limit: "abc"
      recursive: maybe
      colour: red
  - id: list
    module: s3.nosuch
  - id: make
    module: s3.create_bucket
    connection: local
    with:
      name: Not_A_Bucket
  - id: get
    module: s3.get_file
    with:
      bucket: demo
  - id: keep
    module: flow.filter
    connection: local
    with:
      condition: "{{ steps.list.key endsWith }}"
  - id: up
    module: s3.upload_file
    connection: local
    with:
      bucket: "{{ inputs.nope }}"
      file: "{{ steps.later.file }}"
      name: "{{ steps.list.nosuch }}"
    on_error: explode
    timeout: soon
  - id: later
    module: flow.filter
    with: {condition: "{{ true }}"}
`
	want := []string{
		`broken.yaml:2:1: unknown key "colour"`,
		`broken.yaml:6:5: a step needs an id`,
		`broken.yaml:15:7: step "list": with.colour is not an input of s3.list_files`,
		`broken.yaml:13:14: step "list": with.limit: must be a whole number, got "abc"`,
		`broken.yaml:14:18: step "list": with.recursive: must be true or false, got "maybe"`,
		`broken.yaml:16:5: step id "list" is used twice`,
		`broken.yaml:17:13: unknown module "s3.nosuch"`,
		`broken.yaml:22:13: step "make": with.name:`,
		`broken.yaml:23:5: step "get": module s3.get_file needs a connection`,
		`broken.yaml:26:7: step "get": with.path is required`,
		`broken.yaml:29:17: step "keep": module flow.filter takes no connection`,
		`broken.yaml:31:45: step "keep": with.condition: in {{ steps.list.key endsWith }}: unexpected token EOF`,
		`broken.yaml:40:14: timeout must be a duration`,
		`broken.yaml:39:15: on_error must be one of`,
		`broken.yaml:36:19: step "up": with.bucket: in {{ inputs.nope }}: inputs.nope is not declared`,
		`broken.yaml:37:17: step "up": with.file: in {{ steps.later.file }}: steps.later is not an earlier step`,
		`broken.yaml:38:17: step "up": with.name: in {{ steps.list.nosuch }}: steps.list.nosuch: s3.list_files has no output "nosuch"`,
	}
	_, err := Parse("broken.yaml", []byte(src), setup(t))
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T", err)
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(errs) {
		t.Errorf("Error() has %d lines for %d problems", len(got), len(errs))
	}
	for _, w := range want {
		n := 0
		for _, g := range got {
			if strings.HasPrefix(g, w) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d problems start with %q", n, w)
		}
	}
	if len(errs) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(errs), len(want), err)
	}
}

// TestParseInputs checks declared inputs: types, required, defaults.
func TestParseInputs(t *testing.T) {
	t.Parallel()
	src := `name: t
inputs:
  s: {}
  n: {type: integer, default: 7}
  x: {type: number, default: 1.5, description: "a ratio"}
  b: {type: boolean, required: yes}
steps:
  - id: a
    module: flow.iterate
    with: {items: "{{ [inputs.s, inputs.n, inputs.x, inputs.b] }}"}
`
	f, err := Parse("t.yaml", []byte(src), setup(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []Input{
		{Name: "s", Type: "string"},
		{Name: "n", Type: "integer", Default: 7},
		{Name: "x", Type: "number", Default: 1.5, Description: "a ratio"},
		{Name: "b", Type: "boolean", Required: true},
	}
	if fmt.Sprint(f.Inputs) != fmt.Sprint(want) {
		t.Errorf("inputs:\n got %+v\nwant %+v", f.Inputs, want)
	}
}

func TestParseOnError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want OnError
	}{
		{"stop", OnError{Action: ActionStop, Then: ActionStop}},
		{"ignore", OnError{Action: ActionIgnore, Then: ActionStop}},
		{"break", OnError{Action: ActionBreak, Then: ActionStop}},
		{"rollback", OnError{Action: ActionRollback, Then: ActionStop}},
		// A bare retry gets the same defaults as {retry: {}}.
		{"retry", OnError{Action: ActionRetry, Attempts: 3, Backoff: time.Second, Then: ActionStop}},
		{"{retry: {}}", OnError{Action: ActionRetry, Attempts: 3, Backoff: time.Second, Then: ActionStop}},
		{"{retry: {attempts: 5, backoff: 250ms, then: break}}", OnError{Action: ActionRetry, Attempts: 5, Backoff: 250 * time.Millisecond, Then: ActionBreak}},
		{"{resume: {output: {key: none, n: 2}}}", OnError{Action: ActionResume, Then: ActionStop, Output: map[string]any{"key": "none", "n": 2}}},
		{"{resume: {key: none}}", OnError{Action: ActionResume, Then: ActionStop, Output: map[string]any{"key": "none"}}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			src := "name: t\nsteps:\n  - id: a\n    module: flow.iterate\n    with: {items: [1]}\n    on_error: " + tt.src + "\n"
			f, err := Parse("t.yaml", []byte(src), setup(t))
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Steps[0].OnError; fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseTimeout(t *testing.T) {
	t.Parallel()
	src := "name: t\nsteps:\n  - id: a\n    module: file.read\n    with: {path: x}\n    timeout: 1m30s\n"
	f, err := Parse("t.yaml", []byte(src), setup(t))
	if err != nil {
		t.Fatal(err)
	}
	if f.Steps[0].Timeout != 90*time.Second {
		t.Errorf("timeout %v, want 1m30s", f.Steps[0].Timeout)
	}
}

// TestParseBlockScalarPosition checks that a reference in a literal block
// is reported on its own line, at its column.
func TestParseBlockScalarPosition(t *testing.T) {
	t.Parallel()
	src := "name: t\nsteps:\n  - id: a\n    module: flow.filter\n    with:\n      condition: |\n        {{ true &&\n           inputs.nope }}\n"
	ps := problems(t, src)
	if len(ps) != 1 || ps[0].Pos != (Pos{8, 12}) || !strings.Contains(ps[0].Msg, "inputs.nope is not declared") {
		t.Errorf("got %v, want one problem at 8:12", Errors(asErrors(ps)))
	}
}

// TestInputsConvertLikeFields: a flow input and a module field of the same
// type give the same answer for the same value (it was two conversions,
// which differed on spaces and floats).
func TestInputsConvertLikeFields(t *testing.T) {
	t.Parallel()
	const bad = "bad"
	tests := []struct {
		typ  module.Type
		in   any
		want any // bad: refused
	}{
		{module.Int, " 42 ", int64(42)},
		{module.Int, "42", int64(42)},
		{module.Int, 42.0, int64(42)},
		{module.Int, 42.5, bad},
		{module.Int, "42.5", bad},
		{module.Int, "1e3", int64(1000)},
		{module.Int, 1e3, int64(1000)},
		{module.Int, 1e19, bad},
		{module.Int, "", bad},
		{module.Int, true, bad},
		{module.Number, " 42.5 ", 42.5},
		{module.Number, "1e3", 1000.0},
		{module.Number, 42, 42.0},
		{module.Number, "NaN", bad},
		{module.Number, "Inf", bad},
		{module.Bool, "true ", true},
		{module.Bool, " false", false},
		{module.Bool, "1", true},
		{module.Bool, "yes", bad},
		{module.Bool, 1, bad},
		{module.String, 42.0, "42"},
		{module.String, 42.5, "42.5"},
		{module.String, " padded ", " padded "},
		{module.String, true, "true"},
		{module.String, map[string]any{"a": 1}, bad},
	}
	for _, tt := range tests {
		field := &module.Module{Name: "t.field", Fields: []module.Field{{Name: "v", Type: tt.typ}}}
		var fromField any = bad
		if vals, err := field.Check(map[string]any{"v": tt.in}); err == nil {
			fromField = vals["v"]
		}
		var fromInput any = bad
		if v, err := ConvertInput(Input{Name: "v", Type: tt.typ.String()}, tt.in); err == nil {
			fromInput = v
		}
		if fromField != tt.want || fromInput != tt.want {
			t.Errorf("%s %#v: field gives %#v, input gives %#v; want %#v", tt.typ, tt.in, fromField, fromInput, tt.want)
		}
	}
}

func TestConvertInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ  string
		in   any
		want any
		err  string
	}{
		{"string", "x", "x", ""},
		{"string", 5, "5", ""},
		{"integer", 5, int64(5), ""},
		{"integer", int64(-3), int64(-3), ""},
		{"integer", 4.0, int64(4), ""},
		{"integer", "42", int64(42), ""},
		{"integer", 4.5, nil, "must be a whole number, got 4.5"},
		{"integer", "x", nil, `must be a whole number, got "x"`},
		{"number", 2, 2.0, ""},
		{"number", "2.5", 2.5, ""},
		{"number", "two", nil, "must be a number"},
		{"boolean", true, true, ""},
		{"boolean", "false", false, ""},
		{"boolean", "maybe", nil, "must be true or false"},
		{"date", "x", nil, `unknown type "date"`},
	}
	for _, tt := range tests {
		got, err := ConvertInput(Input{Name: "i", Type: tt.typ}, tt.in)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ConvertInput(%s, %#v): error %v, want %q", tt.typ, tt.in, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("ConvertInput(%s, %#v) = %#v, %v; want %#v", tt.typ, tt.in, got, err, tt.want)
		}
	}
}

// TestParseLiteralsAgainstStandIns: a literal is checked with stand-ins for
// the templated fields, and a stand-in must never make a rule that relates
// two fields fail. Copying a templated path to a fixed path in the same
// bucket was refused as "is the file itself" when both paths got the same
// stand-in; a real copy onto itself is still refused.
func TestParseLiteralsAgainstStandIns(t *testing.T) {
	t.Parallel()
	const head = "name: t\ninputs:\n  date: {type: string}\nsteps:\n  - id: c\n    module: s3.copy_file\n    connection: local\n"
	for _, tt := range []struct {
		name, with string
		problem    string // "" when it parses
	}{
		{"templated path, fixed to_path", "    with: {bucket: demo, path: \"reports/{{ inputs.date }}/sales.csv\", to_path: processed/x.csv}\n", ""},
		{"fixed path, templated to_path", "    with: {bucket: demo, path: reports/q3.csv, to_path: \"processed/{{ inputs.date }}.csv\"}\n", ""},
		{"templated bucket, fixed paths", "    with: {bucket: \"{{ inputs.date }}\", path: a.csv, to_path: b.csv}\n", ""},
		{"templated both paths", "    with: {bucket: demo, path: \"{{ inputs.date }}\", to_path: \"{{ inputs.date }}.csv\"}\n", ""},
		{"onto itself", "    with: {bucket: demo, path: reports/q3.csv, to_path: /reports/q3.csv}\n", `with.to_path: is the file itself ("reports/q3.csv")`},
		// The stand-in of one duration is no duration: checking the other
		// must not blame it.
		{"two durations", "    module: s3.wait_for_files\n    with: {bucket: demo, settle: 5s, timeout: 1m}\n", ""},
		{"a bad duration beside a good one", "    module: s3.wait_for_files\n    with: {bucket: demo, settle: 5s, timeout: soon}\n", `with.timeout: "soon" is not a duration`},
		{"a templated duration beside a literal", "    module: s3.wait_for_files\n    with: {bucket: demo, settle: \"{{ inputs.date }}\", timeout: 1m}\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := head + tt.with
			if strings.Contains(tt.with, "module:") {
				src = strings.Replace(head, "    module: s3.copy_file\n", "", 1) + tt.with
			}
			_, err := Parse("f.yaml", []byte(src), setup(t))
			switch {
			case tt.problem == "" && err != nil:
				t.Fatalf("Parse: %v", err)
			case tt.problem != "" && (err == nil || !strings.Contains(err.Error(), tt.problem)):
				t.Fatalf("Parse error = %v, want %q", err, tt.problem)
			}
		})
	}
}

func TestUntil(t *testing.T) {
	f := &Flow{Name: "f", Steps: []*Step{{ID: "a"}, {ID: "b"}, {ID: "c"}}}
	for _, tt := range []struct {
		id   string
		want []string
		err  string
	}{
		{"", []string{"a", "b", "c"}, ""},
		{"b", []string{"a", "b"}, ""},
		{"c", []string{"a", "b", "c"}, ""},
		{"x", nil, `flow f has no step "x"`},
	} {
		got, err := f.Until(tt.id)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("Until(%q): %v, want %q", tt.id, err, tt.err)
			}
			continue
		}
		var ids []string
		for _, s := range got.Steps {
			ids = append(ids, s.ID)
		}
		if err != nil || !slices.Equal(ids, tt.want) {
			t.Errorf("Until(%q) = %v, %v; want %v", tt.id, ids, err, tt.want)
		}
	}
	if len(f.Steps) != 3 {
		t.Errorf("Until changed the flow: %d steps", len(f.Steps))
	}
}
