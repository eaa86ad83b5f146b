package trigger

import "github.com/s3flow/s3flow/internal/module"

var webhookKind = &Kind{
	Name:  "webhook",
	Title: "Webhook",
	Help: "Starts a run for each POST to /hooks/{flow} that carries the secret (X-S3flow-Token) or a signature made with it " +
		"(X-S3flow-Signature: t=…,v1=… with X-S3flow-Delivery; see docs/server.md). The secret is in the server’s environment variable secret_env; " +
		"while it is unset or empty, every call is refused.",
	Payload: []PayloadField{
		{Name: "body", Type: module.Any, Help: "the JSON body sent ({} when empty)", Example: map[string]any{"files": []any{"reports/2026-12-01.csv"}}},
		{Name: "receivedAt", Type: module.Time, Help: "when the server took the call", Example: "2026-12-01T06:00:00Z"},
	},
	Fields: []Field{
		{Name: "secret_env", Type: EnvName, Required: true, Help: "the environment variable that holds the signing secret", Example: "REPORTS_HOOK_SECRET"},
	},
	Decode: func(v Values) (Config, error) { return &Webhook{SecretEnv: v.String("secret_env")}, nil },
}

// Webhook is a checked webhook trigger. The server answers its calls.
type Webhook struct {
	// SecretEnv names the variable holding the signing secret.
	SecretEnv string
}

func (w *Webhook) Describe() string { return "webhook" }
