package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/s3test"
)

// TestCreateConnection: POST /api/connections proves the keys with a real
// signed call as 's3flow connection create' does. A wrong key, a wrong
// secret, an unreachable endpoint and bad input are refused in words and
// nothing is saved; the right keys are saved and listed. No answer and no
// log line (at debug level) holds a secret.
func TestCreateConnection(t *testing.T) {
	tg := s3test.Versitygw(t)
	e := newEnv(t, tg, tg.Conn.Endpoint)
	e.args = []string{"--debug"}
	// Fault injection: an endpoint whose keys may not list buckets, and
	// one that fails.
	denied := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`))
	}))
	defer denied.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotImplemented)
		w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code><Message>not here</Message></Error>`))
	}))
	defer broken.Close()
	e.start()

	key, secret := tg.Conn.AccessKeyID, tg.Conn.SecretAccessKey.Reveal()
	const wrongSecret = "wrong-secret-for-tests-0123456789"
	const token = "session-token-for-tests-0123456789"
	secrets := []string{secret, wrongSecret, token}
	body := func(fields map[string]any) []byte {
		return jsonWith(map[string]any{"name": "vg2", "access_key_id": key, "secret_access_key": secret,
			"endpoint": tg.Conn.Endpoint, "path_style": true}, fields)
	}
	noSecret := func(what string, out map[string]any) {
		t.Helper()
		data, _ := json.Marshal(out)
		for _, s := range secrets {
			if strings.Contains(string(data), s) {
				t.Errorf("%s: the answer holds a secret: %s", what, data)
			}
		}
	}

	for _, tt := range []struct {
		name   string
		fields map[string]any
		status int
		want   string
	}{
		{"wrong secret", map[string]any{"secret_access_key": wrongSecret}, 422, "the secret access key does not match the access key id"},
		{"unknown key", map[string]any{"access_key_id": "NOSUCHKEY0123456"}, 422, "the access key id is not known to the endpoint"},
		{"unreachable", map[string]any{"endpoint": "http://127.0.0.1:1"}, 422, "could not reach the endpoint"},
		{"endpoint fails", map[string]any{"endpoint": broken.URL}, 422, "could not reach the endpoint"},
		{"no name", map[string]any{"name": nil}, 400, "name: is required"},
		{"reserved name", map[string]any{"name": "local"}, 400, `name: connection name "local" is reserved`},
		{"bad name", map[string]any{"name": "a b"}, 400, "name: connection name"},
		{"no key", map[string]any{"access_key_id": nil}, 400, "access_key_id: is required"},
		{"no secret", map[string]any{"secret_access_key": nil}, 400, "secret_access_key: is required"},
		{"blank secret", map[string]any{"secret_access_key": "  "}, 400, "secret_access_key: is required"},
		{"bad endpoint", map[string]any{"endpoint": "ftp://example.com"}, 400, "endpoint: must be an http:// or https:// URL"},
		{"endpoint with a login", map[string]any{"endpoint": "http://u:p@127.0.0.1:1"}, 400, "endpoint: must not hold a login"},
		{"bad region", map[string]any{"region": "x@127.0.0.3:8443/p?"}, 400, "region: must be 1-63 lower-case letters"},
		{"bad checksum", map[string]any{"checksum": "always"}, 400, "checksum: must be when-required or when-supported"},
		{"unknown field", map[string]any{"secret": secret}, 400, `unknown field "secret"`},
		{"wrong type", map[string]any{"path_style": "yes"}, 400, "the body must be a JSON object"},
	} {
		status, out := e.do("POST", "/api/connections", e.token, body(tt.fields), nil)
		msg, _ := out["error"].(string)
		if status != tt.status || !strings.Contains(msg, tt.want) {
			t.Errorf("%s: %d %v, want %d and %q", tt.name, status, out, tt.status, tt.want)
		}
		noSecret(tt.name, out)
		if status, _ := e.do("GET", "/api/connections/vg2", e.token, nil, nil); status != 404 {
			t.Errorf("%s: connection vg2 saved (%d)", tt.name, status)
		}
	}
	if status, _ := e.do("POST", "/api/connections", "", body(nil), nil); status != 401 {
		t.Errorf("without a token: %d, want 401", status)
	}

	// The right keys: saved, verified, shown masked, and usable.
	status, out := e.do("POST", "/api/connections", e.token, body(nil), nil)
	if status != 201 || out["name"] != "vg2" || !strings.HasPrefix(out["status"].(string), "verified") ||
		out["accessKeyId"] != connection.MaskKeyID(key) || out["checksum"] != "when-required" || out["verifiedAt"] == nil {
		t.Fatalf("create vg2: %d %v\n%s", status, out, e.srvLog)
	}
	noSecret("create", out)
	status, out = e.do("GET", "/api/connections/vg2", e.token, nil, nil)
	if status != 200 || out["name"] != "vg2" || out["pathStyle"] != true || out["endpoint"] != tg.Conn.Endpoint {
		t.Errorf("show vg2: %d %v", status, out)
	}
	noSecret("show", out)
	listed := false
	for _, c := range e.list("/api/connections") {
		listed = listed || c["name"] == "vg2"
	}
	if !listed {
		t.Errorf("vg2 is not listed")
	}
	if status, out := e.do("POST", "/api/modules/s3.list_buckets", e.token, []byte(`{"connection": "vg2"}`), nil); status != 200 {
		t.Errorf("list buckets with vg2: %d %v", status, out)
	}
	if status, out := e.do("POST", "/api/connections", e.token, body(nil), nil); status != 409 || !strings.Contains(out["error"].(string), "exists already") {
		t.Errorf("create vg2 again: %d %v, want 409", status, out)
	}

	// Valid keys that may not list buckets are saved with a warning.
	status, out = e.do("POST", "/api/connections", e.token, body(map[string]any{"name": "limited", "endpoint": denied.URL}), nil)
	if w, _ := out["warning"].(string); status != 201 || !strings.Contains(w, "may not list buckets") {
		t.Errorf("create limited: %d %v, want 201 with a warning", status, out)
	}
	// no_verify saves without a call; the session token is only said to be there.
	status, out = e.do("POST", "/api/connections", e.token, body(map[string]any{"name": "later",
		"secret_access_key": wrongSecret, "session_token": token, "no_verify": true}), nil)
	if status != 201 || out["status"] != "not verified (no_verify)" || out["sessionToken"] != true {
		t.Errorf("create later: %d %v", status, out)
	}
	noSecret("create later", out)
	if status, _ := e.do("GET", "/api/connections/nope", e.token, nil, nil); status != 404 {
		t.Errorf("show a missing connection: %d, want 404", status)
	}

	e.stop(syscall.SIGTERM)
	log := e.srvLog.String()
	if !strings.Contains(log, "connection created") {
		t.Errorf("no log line for the created connection:\n%s", log)
	}
	for _, s := range secrets {
		if strings.Contains(log, s) {
			t.Errorf("the server log holds a secret:\n%s", log)
		}
	}
}

// jsonWith is base with fields set (a nil one removed), as JSON.
func jsonWith(base, fields map[string]any) []byte {
	for k, v := range fields {
		if v == nil {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	data, _ := json.Marshal(base)
	return data
}

// list GETs a JSON array.
func (e *env) list(path string) []map[string]any {
	e.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+e.addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	return out
}

// TestConnectionSettingsOverAPI: POST /api/connections takes every field
// 's3flow connection create' does (provider, max attempts, part size,
// parallel parts), shows them as the CLI does (the connection's Summary),
// and refuses a bad one with the CLI's words: the same rule, the field
// named by its JSON key where the CLI names its flag.
func TestConnectionSettingsOverAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeKeys, "http://127.0.0.1:1")
	e.start()
	body := func(fields map[string]any) []byte {
		return jsonWith(map[string]any{"name": "tuned", "access_key_id": "AKIDTUNED1234", "secret_access_key": "tuned-secret", "no_verify": true}, fields)
	}

	status, out := e.do("POST", "/api/connections", e.token, body(map[string]any{
		"provider": "minio", "max_attempts": 5, "part_size_mib": 16, "parallel_parts": 8}), nil)
	if status != 201 {
		t.Fatalf("create: %d %v", status, out)
	}
	status, shown := e.do("GET", "/api/connections/tuned", e.token, nil, nil)
	for k, want := range map[string]any{"endpoint": "http://127.0.0.1:9000", "pathStyle": true, "checksum": "when-required",
		"region": "us-east-1", "maxAttempts": 5.0, "partSizeMiB": 16.0, "parallelParts": 8.0, "sessionToken": false} {
		if status != 200 || shown[k] != want || out[k] != want {
			t.Errorf("%s: shown %v, created %v; want %v", k, shown[k], out[k], want)
		}
	}
	// The CLI shows the same view of the same connection.
	cliShown := map[string]any{}
	if err := json.Unmarshal([]byte(e.cli("", "connection", "show", "tuned", "-o", "jsonl")), &cliShown); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(cliShown) != fmt.Sprint(shown) {
		t.Errorf("the CLI shows\n%v\nthe API\n%v", cliShown, shown)
	}

	for _, tt := range []struct {
		name  string
		field string
		value any
		flag  string
		arg   string
		rule  string
	}{
		{"part size", "part_size_mib", 3, "--part-size", "3", "must be from 5 to 5120 MiB (or 0 for the default), got 3"},
		{"max attempts", "max_attempts", 21, "--max-attempts", "21", "must be from 1 to 20 (or 0 for the default), got 21"},
		{"parallel parts", "parallel_parts", 65, "--parallel-parts", "65", "must be from 1 to 64 (or 0 for the default), got 65"},
		{"provider", "provider", "nope", "--provider", "nope", `must be one of aws, b2, ceph, minio, r2, seaweedfs, versitygw, wasabi, got "nope"`},
	} {
		status, out := e.do("POST", "/api/connections", e.token, body(map[string]any{"name": "bad", tt.field: tt.value}), nil)
		if status != 400 || out["error"] != tt.field+": "+tt.rule {
			t.Errorf("%s over the API: %d %v, want 400 and %q", tt.name, status, out, tt.field+": "+tt.rule)
		}
		cmd := exec.Command(binary, "connection", "create", "bad", "--access-key-id", "AKID", "--secret-access-key-stdin", "--no-verify", tt.flag, tt.arg)
		cmd.Env = append(os.Environ(), "S3FLOW_HOME="+e.home)
		cmd.Stdin = strings.NewReader("s3cret\n")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); cmd.ProcessState.ExitCode() != 2 || stderr.String() != "s3flow: "+tt.flag+" "+tt.rule+"\n" {
			t.Errorf("%s in the CLI: %v, stderr %q; want exit 2 and %q", tt.name, err, stderr.String(), "s3flow: "+tt.flag+" "+tt.rule)
		}
	}
	if status, _ := e.do("GET", "/api/connections/bad", e.token, nil, nil); status != 404 {
		t.Errorf("a refused connection was saved (%d)", status)
	}
	// The Studio's form offers the presets.
	req, _ := http.NewRequest("GET", "http://"+e.addr+"/api/providers", nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var presets []connection.Provider
	if err := json.NewDecoder(resp.Body).Decode(&presets); err != nil || resp.StatusCode != 200 || len(presets) == 0 || presets[0].Name != "aws" {
		t.Errorf("GET /api/providers: %d %v %v", resp.StatusCode, presets, err)
	}
}

// TestCreateRoleConnectionOverAPI: POST /api/connections takes roles like
// the CLI, verified against MinIO's STS; the external id is write-only.
// What would let an API caller use the server machine's own credentials
// or files (a profile, a token file, the default chain) is refused by the
// field, unless the server is started with --allow-machine-credentials;
// and a role assumed with another connection's keys must go where that
// connection's requests go, so its signature goes nowhere new.
func TestCreateRoleConnectionOverAPI(t *testing.T) {
	tg := s3test.Minio(t)
	e := newEnv(t, tg, tg.Conn.Endpoint)
	e.args = []string{"--debug"}
	e.start()
	const roleARN = "arn:aws:iam::123456789012:role/s3flow-api"
	const externalID = "external-id-for-api-tests"
	secret := tg.Conn.SecretAccessKey.Reveal()

	status, out := e.do("POST", "/api/connections", e.token, jsonWith(map[string]any{"name": "role-keys", "access_key_id": tg.Conn.AccessKeyID,
		"secret_access_key": secret, "endpoint": tg.Conn.Endpoint, "path_style": true,
		"role_arn": roleARN, "external_id": externalID, "duration_seconds": 900}, nil), nil)
	if status != 201 || out["kind"] != "role" || out["externalId"] != true || out["durationSeconds"] != float64(900) ||
		!strings.Contains(out["status"].(string), "the role's credentials can list buckets") {
		t.Fatalf("create role-keys: %d %v\n%s", status, out, e.srvLog)
	}
	status, out = e.do("POST", "/api/connections", e.token, jsonWith(map[string]any{"name": "role-source", "source_connection": "vg",
		"endpoint": tg.Conn.Endpoint, "path_style": true, "role_arn": roleARN}, nil), nil)
	if status != 201 || out["sourceConnection"] != "vg" {
		t.Fatalf("create role-source: %d %v\n%s", status, out, e.srvLog)
	}
	if status, out := e.do("POST", "/api/modules/s3.list_buckets", e.token, []byte(`{"connection": "role-source"}`), nil); status != 200 {
		t.Errorf("list buckets with role-source: %d %v", status, out)
	}

	for _, tt := range []struct {
		name   string
		fields map[string]any
		want   string
	}{
		{"STS elsewhere than the source's", map[string]any{"source_connection": "vg", "sts_endpoint": "http://127.0.0.2:9"},
			`sts_endpoint: must be where source connection "vg" sends its requests, ` + tg.Conn.Endpoint},
		{"missing source", map[string]any{"source_connection": "nope"}, `source_connection: source connection: connection "nope": no such connection`},
		{"the default chain", map[string]any{}, "source_connection: uses this server's own credentials or files"},
		{"the env connection", map[string]any{"source_connection": "env"}, "source_connection: uses this server's own credentials or files"},
		{"a profile", map[string]any{"role_arn": nil, "profile": "default"}, "profile: uses this server's own credentials or files"},
		{"a token file", map[string]any{"web_identity_token_file": "/etc/hostname"}, "web_identity_token_file: uses this server's own credentials or files"},
	} {
		body := jsonWith(map[string]any{"name": "refused", "endpoint": tg.Conn.Endpoint, "path_style": true, "role_arn": roleARN}, tt.fields)
		status, out := e.do("POST", "/api/connections", e.token, body, nil)
		if msg, _ := out["error"].(string); status != 400 || !strings.Contains(msg, tt.want) {
			t.Errorf("%s: %d %v, want 400 and %q", tt.name, status, out, tt.want)
		}
	}
	e.stop(syscall.SIGTERM)
	if log := e.srvLog.String(); strings.Contains(log, externalID) || strings.Contains(log, secret) {
		t.Errorf("the server log holds a secret:\n%s", log)
	}

	// The operator may allow it.
	e.args = []string{"--allow-machine-credentials"}
	e.start()
	status, out = e.do("POST", "/api/connections", e.token, []byte(`{"name": "prof", "profile": "default", "no_verify": true}`), nil)
	if status != 201 || out["kind"] != "profile" {
		t.Errorf("a profile with --allow-machine-credentials: %d %v", status, out)
	}
}
