package server_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3flow/s3flow/internal/s3test"
)

// The hostile-client suite: an ordinary token holder and a webhook sender
// try what the attacker of issue 13 did against a real server and
// versitygw. Each attack is refused, and nothing was read, written or
// started. (Webhook, token, outbound and expression attacks have tables of
// their own beside this one; docs/security.md lists them all.)

// TestHostileModuleCalls: over the API no module input reaches the
// server's disk: the declarations say which touch local paths, and those
// answer 403 with the reason.
func TestHostileModuleCalls(t *testing.T) {
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	e := newEnv(t, tg, tg.Conn.Endpoint)
	e.start()
	keyFile := filepath.Join(e.home, "encryption.key")
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(e.home, "s3flow.db")
	written := filepath.Join(t.TempDir(), "written")

	tests := []struct {
		name, module string
		inputs       map[string]any
		// want is the status; 403 refusals must name the field (or module).
		want  int
		names string
	}{
		{"read the encryption key", "file.read", map[string]any{"path": keyFile}, 403, "file.read touches local files"},
		{"read /etc/shadow", "file.read", map[string]any{"path": "/etc/shadow"}, 403, "file.read"},
		{"read the environment", "file.read", map[string]any{"path": "/proc/self/environ"}, 403, "file.read"},
		{"list any folder", "file.list", map[string]any{"path": "/"}, 403, "file.list"},
		{"write a file", "file.write", map[string]any{"file": keyFile, "path": written}, 403, "file.write"},
		{"upload a server file", "s3.upload_file", map[string]any{"bucket": bucket, "file": db}, 403, "file: s3.upload_file touches local files"},
		{"keys from a server file", "s3.delete_files", map[string]any{"bucket": bucket, "keys_file": keyFile}, 403, "keys_file:"},
		{"download onto the server", "s3.get_file", map[string]any{"bucket": bucket, "path": "x", "out": written}, 403, "out:"},
		{"download to the server's stdout", "s3.get_file", map[string]any{"bucket": bucket, "path": "x", "out": "-"}, 403, "standard output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"connection": "vg", "inputs": tt.inputs})
			code, out := e.do("POST", "/api/modules/"+tt.module, e.token, body, nil)
			msg := fmt.Sprint(out["error"])
			if code != tt.want || !strings.Contains(msg, tt.names) {
				t.Fatalf("status %d %q, want %d naming %q", code, msg, tt.want, tt.names)
			}
			if strings.Contains(fmt.Sprint(out), strings.TrimSpace(string(key))) {
				t.Fatalf("the answer holds the encryption key")
			}
		})
	}
	if _, err := os.Stat(written); err == nil {
		t.Errorf("a refused call wrote %s", written)
	}
	// The download link refuses a path for out too.
	code, out := e.do("POST", "/api/files/link", e.token, []byte(fmt.Sprintf(`{"connection":"vg","inputs":{"bucket":%q,"path":"x","out":%q}}`, bucket, written)), nil)
	if code != 403 {
		t.Errorf("files/link with out: %d %v, want 403", code, out)
	}

	// @FILE is the CLI's: over the API a body is text, sent as it is.
	stolen := "@" + db
	body, _ := json.Marshal(map[string]any{"connection": "vg", "inputs": map[string]any{
		"url": "/" + bucket + "/stolen", "method": "PUT", "body": stolen}})
	if code, out := e.do("POST", "/api/modules/s3.api_call", e.token, body, nil); code != 200 {
		t.Fatalf("api_call: %d %v", code, out)
	}
	got := tg.AWS(t, "s3", "cp", "s3://"+bucket+"/stolen", "-")
	if got != stolen {
		t.Errorf("the object holds %d bytes (%.40q), want the text %q", len(got), got, stolen)
	}
	if rs := e.runs(); len(rs) != 0 {
		t.Errorf("module calls started %d runs", len(rs))
	}
}

// TestHostileFlowsConfined: a server's flows touch local files only inside
// --files-root. Without it a flow with file.* steps (or a local path in
// with:) is not loaded, with its line and column; with it, what a
// webhook's payload maps into a path cannot leave the folder.
func TestHostileFlowsConfined(t *testing.T) {
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	const readFlow = `name: %s
trigger:
  webhook: {secret_env: TEST_HOOK_SECRET}
steps:
  - id: read
    module: file.read
    with:
      path: "{{ trigger.body.path }}"
  - id: put
    module: s3.upload_file
    connection: vg
    with:
      bucket: %s
      file: "{{ steps.read.file }}"
`
	const pathFlow = `name: %s
trigger:
  webhook: {secret_env: TEST_HOOK_SECRET}
steps:
  - id: put
    module: s3.upload_file
    connection: vg
    with:
      bucket: %s
      file: "{{ trigger.body.path }}"
`
	secret := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secret, []byte("SECRET-OUTSIDE"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("no files root", func(t *testing.T) {
		e := newEnv(t, tg, tg.Conn.Endpoint)
		e.writeFlow("reader", fmt.Sprintf(readFlow, "reader", bucket))
		e.writeFlow("paths", fmt.Sprintf(pathFlow, "paths", bucket))
		e.start()
		if code, _ := e.do("GET", "/api/flows/reader", e.token, nil, nil); code != 404 {
			t.Errorf("a flow with file.read loaded without --files-root (%d)", code)
		}
		if !strings.Contains(e.srvLog.String(), "reader.yaml:5:5") || !strings.Contains(e.srvLog.String(), "--files-root") {
			t.Errorf("the log does not say where and why:\n%s", e.srvLog)
		}
		// A path that only a payload gives is refused when the step runs.
		body := []byte(fmt.Sprintf(`{"path":%q}`, secret))
		code, out := e.do("POST", "/hooks/paths?wait=true", "", body, map[string]string{"X-S3flow-Token": hookSecret})
		if code != 200 || out["status"] != "failed" || !strings.Contains(fmt.Sprint(out), "local files") {
			t.Errorf("a payload path ran: %d %v", code, out)
		}
		if listed := tg.AWS(t, "s3api", "list-objects-v2", "--bucket", bucket); strings.Contains(listed, "secret.txt") {
			t.Errorf("the file was uploaded: %s", listed)
		}
	})

	t.Run("inside the files root", func(t *testing.T) {
		root := t.TempDir()
		os.WriteFile(filepath.Join(root, "ok.txt"), []byte("fine"), 0o600)
		os.Symlink(secret, filepath.Join(root, "link.txt"))
		e := newEnv(t, tg, tg.Conn.Endpoint)
		e.args = append(e.args, "--files-root", root)
		e.writeFlow("reader", fmt.Sprintf(readFlow, "reader", bucket))
		e.start()
		for _, p := range []string{secret, "../" + filepath.Base(filepath.Dir(secret)) + "/secret.txt", "link.txt", "/proc/self/environ"} {
			body := []byte(fmt.Sprintf(`{"path":%q}`, p))
			code, out := e.do("POST", "/hooks/reader?wait=true", "", body, map[string]string{"X-S3flow-Token": hookSecret})
			if code != 200 || out["status"] != "failed" {
				t.Errorf("path %q: %d %v, want a failed run", p, code, out)
			}
		}
		code, out := e.do("POST", "/hooks/reader?wait=true", "", []byte(`{"path":"ok.txt"}`), map[string]string{"X-S3flow-Token": hookSecret})
		if code != 200 || out["status"] != "succeeded" {
			t.Fatalf("a path inside the root: %d %v\n%s", code, out, e.srvLog)
		}
		if got := tg.AWS(t, "s3", "cp", "s3://"+bucket+"/ok.txt", "-"); got != "fine" {
			t.Errorf("ok.txt holds %q", got)
		}
		if listed := tg.AWS(t, "s3api", "list-objects-v2", "--bucket", bucket); strings.Contains(listed, "secret.txt") || strings.Contains(listed, "environ") {
			t.Errorf("a file outside the root was uploaded: %s", listed)
		}
		for _, r := range e.runs() {
			if strings.Contains(fmt.Sprint(r), "SECRET-OUTSIDE") {
				t.Errorf("the run history holds the secret: %v", r)
			}
		}
	})
}
