package trigger

var webhookKind = &Kind{
	Name:  "webhook",
	Title: "Webhook",
	Help: "Starts a run for each POST to /hooks/{flow} that carries the secret (X-S3flow-Token) or a signature made with it " +
		"(X-S3flow-Signature: t=…,v1=… with X-S3flow-Delivery; see docs/server.md). The secret is in the server’s environment variable secret_env; " +
		"while it is unset or empty, every call is refused.",
	Payload: "`type` (`webhook`), `body` (the JSON body sent)",
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
