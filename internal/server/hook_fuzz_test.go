package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

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
trigger:
  webhook: {secret_env: HOOK_SECRET}
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

// FuzzWebhookSignature: whatever X-S3flow-Signature and X-S3flow-Delivery
// hold, hookAuth refuses them or returns a time within the skew, one to
// four signatures and a delivery id — never a panic; and what SignWebhook
// makes is accepted and verifies.
func FuzzWebhookSignature(f *testing.F) {
	now := time.Unix(1767225600, 0)
	for _, seed := range []string{SignWebhook("s", "f", now, nil), "t=1767225600,v1=", "sha256=00", "t=,v1=00", "t=1767225600,v1=" + strings.Repeat("0", 64) + ",v0=x",
		"t=1767225600,t=1767225600,v1=" + strings.Repeat("a", 64), "t=9999999999999999999,v1=" + strings.Repeat("a", 64), ",,,", "t=1767225600 , v1=" + strings.Repeat("A", 64)} {
		f.Add(seed, "d-1")
	}
	f.Fuzz(func(t *testing.T, sig, delivery string) {
		h := http.Header{}
		h.Set(headerSignature, sig)
		h.Set(headerDelivery, delivery)
		c, err := hookAuth(h, now)
		if err != nil {
			return
		}
		if len(c.sigs) < 1 || len(c.sigs) > 4 || now.Sub(time.Unix(c.t, 0)).Abs() > hookSkew || !validDeliveryID(c.delivery) {
			t.Fatalf("accepted %q / %q as %+v", sig, delivery, c)
		}
		body := []byte(sig)
		h.Set(headerSignature, SignWebhook("secret", "flow", time.Unix(c.t, 0), body))
		if c, err := hookAuth(h, now); err != nil || !c.verify("secret", "flow", body) || c.verify("secret", "other", body) {
			t.Fatalf("a signature of SignWebhook: %v", err)
		}
	})
}
