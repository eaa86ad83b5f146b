package flowedit

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// src is a hand-written flow: comments above, beside and below keys,
// blank lines, quoting and a flow-style mapping that a re-marshal would
// all lose or change.
const src = `# Archive yesterday's reports.
name: archive-reports
description: "Copy the reports, then list them"   # shown in the Studio

inputs:
  day: {type: string, required: true}

# The steps run in order.
steps:
  # First, find the files.
  - id: list
    module: s3.list_files   # every report of the day
    connection: local
    with:
      bucket: demo
      # the day's folder
      prefix: 'reports/daily/{{ inputs.day }}/'

  - id: copy
    module: s3.copy_file
    connection: local
    with: {bucket: demo, key: "{{ steps.list.key }}", to: "archive/{{ steps.list.key }}"}

  # Last: say how many.
  - id: count
    module: flow.aggregate
    with:
      items: "{{ steps.copy.key }}"
# end of the file
`

func node(t *testing.T, text string) *yaml.Node {
	t.Helper()
	n, err := NodeFromJSON([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// block returns the text of src from the line starting with from up to
// (not including) the line starting with to ("" : the end).
func block(t *testing.T, text, from, to string) string {
	t.Helper()
	i := strings.Index(text, from)
	if i < 0 {
		t.Fatalf("%q not in\n%s", from, text)
	}
	rest := text[i:]
	if to == "" {
		return rest
	}
	j := strings.Index(rest, to)
	if j < 0 {
		t.Fatalf("%q not after %q in\n%s", to, from, text)
	}
	return rest[:j]
}

func TestEdits(t *testing.T) {
	t.Parallel()
	listBlock := "  # First, find the files.\n  - id: list\n    module: s3.list_files   # every report of the day\n    connection: local\n    with:\n      bucket: demo\n      # the day's folder\n      prefix: 'reports/daily/{{ inputs.day }}/'\n\n"
	copyBlock := "  - id: copy\n    module: s3.copy_file\n    connection: local\n    with: {bucket: demo, key: \"{{ steps.list.key }}\", to: \"archive/{{ steps.list.key }}\"}\n\n"
	countBlock := "  # Last: say how many.\n  - id: count\n    module: flow.aggregate\n    with:\n      items: \"{{ steps.copy.key }}\"\n"
	head := block(t, src, "# Archive", "  # First")
	tail := "# end of the file\n"
	for _, tc := range []struct {
		name string
		edit func() ([]byte, error)
		want string
	}{
		{"set step, others untouched", func() ([]byte, error) {
			return SetStep([]byte(src), "copy", node(t, `{"id":"copy","module":"s3.copy_file","connection":"local","with":{"bucket":"demo","key":"{{ steps.list.key }}","to":"old/{{ steps.list.key }}"}}`))
		}, head + listBlock +
			"  - id: copy\n    module: s3.copy_file\n    connection: local\n    with:\n      bucket: demo\n      key: '{{ steps.list.key }}'\n      to: old/{{ steps.list.key }}\n\n" +
			countBlock + tail},
		{"set step keeps its comments and key order", func() ([]byte, error) {
			// Keys sent in another order, and prefix changed.
			return SetStep([]byte(src), "list", node(t, `{"with":{"prefix":"reports/","bucket":"demo"},"connection":"local","id":"list","module":"s3.list_files"}`))
		}, head + "  # First, find the files.\n  - id: list\n    module: s3.list_files # every report of the day\n    connection: local\n    with:\n      bucket: demo\n      # the day's folder\n      prefix: reports/\n\n" +
			copyBlock + countBlock + tail},
		{"set step to what it is changes nothing", func() ([]byte, error) {
			return SetStep([]byte(src), "copy", node(t, `{"id":"copy","module":"s3.copy_file","connection":"local","with":{"bucket":"demo","key":"{{ steps.list.key }}","to":"archive/{{ steps.list.key }}"}}`))
		}, src},
		{"remove a step with its comment", func() ([]byte, error) { return RemoveStep([]byte(src), "count") },
			head + listBlock + strings.TrimSuffix(copyBlock, "\n") + tail},
		{"remove the first step", func() ([]byte, error) { return RemoveStep([]byte(src), "list") },
			head + copyBlock + countBlock + tail},
		{"move a step, text and comments with it", func() ([]byte, error) { return MoveStep([]byte(src), "count", 0) },
			head[:len(head)] + countBlock + "\n" + listBlock + strings.TrimSuffix(copyBlock, "\n") + tail},
		{"insert a step between two", func() ([]byte, error) {
			return InsertStep([]byte(src), 1, node(t, `{"id":"only_csv","module":"flow.filter","with":{"condition":"{{ steps.list.key endsWith '.csv' }}"}}`))
		}, head + listBlock + "  - id: only_csv\n    module: flow.filter\n    with:\n      condition: '{{ steps.list.key endsWith ''.csv'' }}'\n\n" + copyBlock + countBlock + tail},
		{"insert a step at the end", func() ([]byte, error) {
			return InsertStep([]byte(src), 3, node(t, `{"id":"last","module":"flow.iterate","with":{"items":[1,2]}}`))
		}, head + listBlock + copyBlock + countBlock + "\n  - id: last\n    module: flow.iterate\n    with:\n      items:\n        - 1\n        - 2\n" + tail},
		{"set a trigger the file did not have: before steps", func() ([]byte, error) {
			return SetTrigger([]byte(src), node(t, `{"schedule":{"every":"1h"}}`))
		}, block(t, src, "# Archive", "# The steps") + "trigger:\n  schedule:\n    every: 1h\n" + block(t, src, "# The steps", "")},
		{"change the description, keep its comment", func() ([]byte, error) {
			return SetKey([]byte(src), "description", node(t, `"Copy the reports"`))
		}, "# Archive yesterday's reports.\nname: archive-reports\ndescription: Copy the reports # shown in the Studio\n" + block(t, src, "\ninputs:", "")},
		{"remove inputs", func() ([]byte, error) { return SetKey([]byte(src), "inputs", nil) },
			block(t, src, "# Archive", "inputs:") + block(t, src, "# The steps", "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.edit()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
			var v any
			if err := yaml.Unmarshal(got, &v); err != nil {
				t.Errorf("the result is not YAML: %v", err)
			}
		})
	}
}

func TestApply(t *testing.T) {
	t.Parallel()
	at := func(i int) *int { return &i }
	got, err := Apply([]byte(src), []Op{
		{Op: "remove_step", ID: "copy"},
		{Op: "move_step", ID: "count", At: at(0)},
		{Op: "set", Key: "trigger", Value: []byte(`{"webhook":{}}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Trigger map[string]any
		Steps   []struct{ ID string }
	}
	if err := yaml.Unmarshal(got, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Steps) != 2 || f.Steps[0].ID != "count" || f.Steps[1].ID != "list" || f.Trigger["webhook"] == nil {
		t.Errorf("got %+v from\n%s", f, got)
	}
	for _, c := range []string{"# Last: say how many.", "# First, find the files.", "# every report of the day", "# end of the file"} {
		if !strings.Contains(string(got), c) {
			t.Errorf("comment %q lost:\n%s", c, got)
		}
	}

	for _, tc := range []struct {
		ops  []Op
		want string
	}{
		{[]Op{{Op: "remove_step", ID: "nope"}}, `ops[0] (remove_step): no step with id "nope"`},
		{[]Op{{Op: "remove_step", ID: "list"}, {Op: "jump"}}, `ops[1] (jump): op: want`},
		{[]Op{{Op: "insert_step", At: at(9), Value: []byte(`{"id":"x"}`)}}, "at must be from 0 to 3"},
		{[]Op{{Op: "insert_step", At: at(0), Value: []byte(`{"id":"list"}`)}}, `step id "list" is already used`},
		{[]Op{{Op: "set_step", ID: "list", Value: []byte(`[1]`)}}, "a step must be a mapping"},
		{[]Op{{Op: "set", Key: "steps", Value: []byte(`[]`)}}, `key "steps": want one of`},
		{[]Op{{Op: "move_step", ID: "list"}}, "at (the step's index, from 0) is required"},
		{[]Op{{Op: "set_step", ID: "list", Value: []byte(`{"id":"list","with":{"a":1,"a":2}}`)}}, `mapping key "a" already defined`},
	} {
		if _, err := Apply([]byte(src), tc.ops); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.ops, err, tc.want)
		}
	}
}

// TestFlowStyleRenderedWhole: a file in flow style cannot be spliced; it
// is written whole, and still means what the edit says.
func TestFlowStyleRenderedWhole(t *testing.T) {
	t.Parallel()
	in := "{name: x, steps: [{id: a, module: flow.iterate, with: {items: [1]}}]}  # all on one line\n"
	got, err := InsertStep([]byte(in), 1, node(t, `{"id":"b","module":"flow.iterate","with":{"items":[2]}}`))
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Steps []struct{ ID string } }
	if err := yaml.Unmarshal(got, &f); err != nil || len(f.Steps) != 2 || f.Steps[1].ID != "b" {
		t.Errorf("got %+v (%v) from\n%s", f, err, got)
	}
}

func TestNotAFlow(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "- a\n- b\n", "name: [unclosed\n"} {
		if _, err := RemoveStep([]byte(in), "a"); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
