package server

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/module/builtin"
)

// FuzzWebhookBody: whatever a webhook's body holds, it is refused as bad
// JSON or becomes a trigger that the run history can store and a flow's
// templates can read — never a panic.
func FuzzWebhookBody(f *testing.F) {
	for _, seed := range []string{``, `{}`, `{"files":["a","b"]}`, `[1,2,3]`, `"text"`, `null`, `{"a":{"b":{"c":[{"d":1e308}]}}}`,
		`{"key":"\u0000\ud800"}`, `{"n":-0}`, `{`, `{"a":1}{"b":2}`, `123456789012345678901234567890`} {
		f.Add([]byte(seed))
	}
	reg := &module.Registry{}
	reg.Register(builtin.Modules()...)
	fl, err := flow.Parse("hook.yaml", []byte(`name: hook
steps:
  - {id: items, module: flow.iterate, with: {items: "{{ [trigger.body, toJSON(trigger.body), trigger.body?.files ?? []] }}"}}
`), reg)
	if err != nil {
		f.Fatal(err)
	}
	tmpl := fl.Steps[0].With["items"]
	f.Fuzz(func(t *testing.T, body []byte) {
		trigger, err := hookTrigger(body)
		if err != nil {
			if json.Valid(body) && len(body) > 0 {
				t.Fatalf("valid JSON refused: %v", err)
			}
			return
		}
		if _, err := json.Marshal(trigger); err != nil {
			t.Fatalf("the trigger of %q cannot be recorded: %v", body, err)
		}
		tmpl.Eval(context.Background(), flow.Env(nil, trigger, nil)) // an error is fine; a panic is not
	})
}
