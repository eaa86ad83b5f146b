package flowedit

import (
	"encoding/json"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzApply: whatever the file and the edits, Apply returns an error or a
// file that is YAML and holds the edit; it never panics.
func FuzzApply(f *testing.F) {
	f.Add(src, `[{"op":"remove_step","id":"copy"}]`)
	f.Add(src, `[{"op":"move_step","id":"count","at":0},{"op":"set","key":"trigger","value":{"webhook":{}}}]`)
	f.Add("name: x\nsteps:\n- {id: a}\n- id: b\n  module: m\n", `[{"op":"insert_step","at":1,"value":{"id":"c"}}]`)
	f.Add("name: x\nsteps: [{id: a}]\n", `[{"op":"set_step","id":"a","value":{"id":"a","with":{"k":"{{ v }}"}}}]`)
	f.Add("steps:\n  -   id: a\n      x: |\n        text\n\n  # c\n  - id: b\n", `[{"op":"move_step","id":"b","at":0}]`)
	f.Add("0: 0\nsteps: [{id: a}]", `[{"op":"set_step","id":"a","value":{"0":"0","0":{"0":"00000"}}}]`)
	f.Fuzz(func(t *testing.T, in, opsJSON string) {
		var ops []Op
		if json.Unmarshal([]byte(opsJSON), &ops) != nil {
			return
		}
		out, err := Apply([]byte(in), ops)
		if err != nil {
			return
		}
		var v any
		if err := yaml.Unmarshal(out, &v); err != nil {
			t.Fatalf("Apply(%q, %s) gave text that is not YAML: %v\n%s", in, opsJSON, err, out)
		}
		// A removed step is gone.
		for _, op := range ops {
			if op.Op == "remove_step" && len(ops) == 1 {
				var fl struct{ Steps []map[string]any }
				if yaml.Unmarshal(out, &fl) == nil {
					for _, s := range fl.Steps {
						if s["id"] == op.ID {
							t.Fatalf("step %q still in\n%s", op.ID, out)
						}
					}
				}
			}
		}
	})
}
