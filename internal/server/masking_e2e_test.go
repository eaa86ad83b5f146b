package server_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3flow/s3flow/internal/s3test"
	"github.com/s3flow/s3flow/internal/store"
)

const maskedFlow = `name: masked
trigger:
  webhook: {secret_env: TEST_HOOK_SECRET}
inputs:
  api_token: {type: string, default: none}
steps:
  - id: check
    module: flow.filter
    with:
      condition: "{{ inputs.api_token != '' }}"
`

// TestQueuedRunsMaskSecrets: a run started through the API, and one
// started by a webhook, keep no secret in the run history: a secret-looking
// input and a secret-looking key of the webhook's body are shown as ***,
// as they are for `s3flow run`.
func TestQueuedRunsMaskSecrets(t *testing.T) {
	tg := s3test.Versitygw(t)
	e := newEnv(t, tg, tg.Conn.Endpoint)
	e.writeFlow("masked", maskedFlow)
	e.start()

	code, out := e.do("POST", "/api/flows/masked/run?wait=true", e.token, []byte(`{"inputs":{"api_token":"hunter2"}}`), nil)
	if code != 200 || out["status"] != "succeeded" {
		t.Fatalf("run through the API: %d %v\n%s", code, out, e.srvLog)
	}
	apiRun := out["id"].(string)
	code, out = e.do("POST", "/hooks/masked?wait=true", "", []byte(`{"password":"hunter3","files":["a"]}`),
		map[string]string{"X-S3flow-Token": hookSecret})
	if code != 200 || out["status"] != "succeeded" {
		t.Fatalf("run through a webhook: %d %v\n%s", code, out, e.srvLog)
	}
	hookRun := out["id"].(string)

	for _, id := range []string{apiRun, hookRun} {
		code, out := e.do("GET", "/api/runs/"+id, e.token, nil, nil)
		if code != 200 {
			t.Fatalf("run %s: %d %v", id, code, out)
		}
		shown, _ := json.Marshal(out)
		if strings.Contains(string(shown), "hunter") {
			t.Errorf("run %s shows a secret: %s", id, shown)
		}
		run, _ := out["run"].(map[string]any)
		inputs, _ := run["inputs"].(map[string]any)
		if id == apiRun && inputs["api_token"] != "***" {
			t.Errorf("API run: api_token shown as %v, want ***", inputs["api_token"])
		}
		trigger, _ := run["trigger"].(map[string]any)
		body, _ := trigger["body"].(map[string]any)
		if id == hookRun && (body["password"] != "***" || fmt.Sprint(body["files"]) != "[a]") {
			t.Errorf("webhook run: trigger body shown as %v, want the password masked, the rest as sent", body)
		}
	}
}

const retriedFlow = `name: retried
inputs:
  bucket: {type: string, default: %s}
  api_token: {type: string}
steps:
  - id: get
    module: s3.get_file
    connection: vg
    with:
      bucket: "{{ inputs.bucket }}"
      path: "tokens/{{ inputs.api_token }}.txt"
`

// TestRetryKeepsSecretInputs: the history masks a secret input, yet a
// retry runs with the value given, not with ***; when the queue job that
// carried the value is gone, the retry is refused rather than run with ***.
func TestRetryKeepsSecretInputs(t *testing.T) {
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	e := newEnv(t, tg, tg.Conn.Endpoint)
	e.writeFlow("retried", fmt.Sprintf(retriedFlow, bucket))
	e.start()

	code, out := e.do("POST", "/api/flows/retried/run?wait=true", e.token, []byte(`{"inputs":{"api_token":"hunter2"}}`), nil)
	if code != 200 || out["status"] != "failed" {
		t.Fatalf("first run: %d %v, want failed (no such object)", code, out)
	}
	id := out["id"].(string)
	if inputs, _ := out["inputs"].(map[string]any); inputs["api_token"] != "***" {
		t.Errorf("api_token recorded as %v, want ***", inputs["api_token"])
	}

	// A second failed run whose queue job is gone, as River deletes
	// finished jobs after a day.
	_, gone := e.do("POST", "/api/flows/retried/run?wait=true", e.token, []byte(`{"inputs":{"api_token":"hunter2"}}`), nil)
	db, err := store.Open(t.Context(), filepath.Join(e.home, "s3flow.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), `DELETE FROM river_job WHERE id = (SELECT job_id FROM runs WHERE id = ?)`, gone["id"]); err != nil {
		t.Fatal(err)
	}
	code, out = e.do("POST", fmt.Sprintf("/api/runs/%s/retry", gone["id"]), e.token, nil, nil)
	if msg, _ := out["error"].(string); code != 409 || !strings.Contains(msg, "secret values") {
		t.Errorf("retry of a run whose job is gone: %d %v, want 409 saying the secret values are not kept", code, out)
	}

	local := filepath.Join(t.TempDir(), "token.txt")
	if err := os.WriteFile(local, []byte("ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	tg.AWS(t, "s3api", "put-object", "--bucket", bucket, "--key", "tokens/hunter2.txt", "--body", local)

	if code, out := e.do("POST", "/api/runs/"+id+"/retry", e.token, nil, nil); code >= 300 {
		t.Fatalf("retry: %d %v", code, out)
	}
	var status any
	waitFor(t, func() bool {
		_, out := e.do("GET", "/api/runs/"+id, e.token, nil, nil)
		run, _ := out["run"].(map[string]any)
		status = run["status"]
		return status == "succeeded" || status == "failed"
	})
	if status != "succeeded" {
		t.Errorf("retried run %v, want succeeded (it read tokens/hunter2.txt)\n%s", status, e.srvLog)
	}
}
