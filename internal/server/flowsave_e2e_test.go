package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/module/builtin"
	"github.com/s3flow/s3flow/internal/server"
	"github.com/s3flow/s3flow/internal/store"
	"github.com/s3flow/s3flow/internal/store/storetest"
)

// The flow-editing tests run the server in this process on each database
// (the version history is a table), with the built-in modules only.
type editServer struct {
	t                *testing.T
	dir, addr        string
	admin, run, read string
	outside          string // a file beside the flows folder
	db               *store.DB
	srv              *server.Server
}

// forEachDB runs fn on a server with a fresh SQLite database and one
// with a fresh PostgreSQL database (skipped without S3FLOW_TEST_POSTGRES,
// failed under CI=true).
func forEachDB(t *testing.T, fn func(t *testing.T, es *editServer)) {
	t.Helper()
	t.Parallel()
	for _, dialect := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(dialect.String(), func(t *testing.T) {
			t.Parallel()
			target := filepath.Join(t.TempDir(), "s3flow.db")
			if dialect == store.Postgres {
				target = storetest.Postgres(t)
			}
			fn(t, startEditServer(t, target))
		})
	}
}

func startEditServer(t *testing.T, target string) *editServer {
	t.Helper()
	base := t.TempDir()
	es := &editServer{t: t, dir: filepath.Join(base, "flows"), outside: filepath.Join(base, "outside.yaml")}
	if err := os.Mkdir(es.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	es.write("greet", handWritten)
	db, err := store.Open(t.Context(), target)
	if err != nil {
		t.Fatal(err)
	}
	es.db = db
	reg := &module.Registry{}
	reg.Register(builtin.Modules()...)
	srv, err := server.New(t.Context(), server.Config{DB: db, Registry: reg, FlowsDir: es.dir, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	es.srv = srv
	for scope, tok := range map[server.Scope]*string{server.ScopeAdmin: &es.admin, server.ScopeRun: &es.run, server.ScopeRead: &es.read} {
		if *tok, err = server.NewTokens(db).Create(t.Context(), "test-"+string(scope), scope, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	es.addr = l.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		db.Close()
	})
	return es
}

func (es *editServer) write(name, yaml string) {
	es.t.Helper()
	if err := os.WriteFile(filepath.Join(es.dir, name+".yaml"), []byte(yaml), 0o600); err != nil {
		es.t.Fatal(err)
	}
}

func (es *editServer) disk(name string) string {
	es.t.Helper()
	data, err := os.ReadFile(filepath.Join(es.dir, name+".yaml"))
	if err != nil && !os.IsNotExist(err) {
		es.t.Fatal(err)
	}
	return string(data)
}

// call sends a request with a JSON (or raw) body and headers, and decodes
// the answer.
func (es *editServer) call(method, path, token, body string, header map[string]string) (int, map[string]any) {
	es.t.Helper()
	var out map[string]any
	code := apiCallWith(es.t, es.addr, method, path, token, body, header, &out)
	return code, out
}

// jsonBody marshals v.
func jsonBody(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

var asJSON = map[string]string{"Content-Type": "application/json"}

// handWritten is a flow as a person writes it: comments, blank lines, a
// flow-style mapping, quoting.
const handWritten = `# Say hello to each name.
name: greet
description: "Greets"   # shown in the Studio

steps:
  # The names come from here.
  - id: names
    module: flow.iterate
    with: {items: ["ann", "bob"]}   # two for now

  # Then each one is said.
  - id: say
    module: flow.iterate
    with:
      items: "{{ [steps.names.value] }}"
`

// TestFlowSaveHistory: a hand-written flow read, saved, patched (its
// comments surviving), diffed, restored, deleted and restored again; each
// save is loaded at once and recorded with who made it.
func TestFlowSaveHistory(t *testing.T) {
	forEachDB(t, func(t *testing.T, es *editServer) {
		code, src := es.call("GET", "/api/flows/greet/source", es.read, "", nil)
		if code != 200 || src["yaml"] != handWritten || src["version"] != version(handWritten) || src["file"] != "greet.yaml" {
			t.Fatalf("source: %d %v", code, src)
		}
		found := version(handWritten)

		// PUT the whole file, raw YAML with If-Match.
		v2 := strings.Replace(handWritten, `"Greets"`, `"Greets people"`, 1)
		code, out := es.call("PUT", "/api/flows/greet", es.admin, v2, map[string]string{"If-Match": `"` + found + `"`})
		if code != 200 || out["version"] != version(v2) || out["loaded"] != true || out["changed"] != true {
			t.Fatalf("PUT: %d %v", code, out)
		}
		if es.disk("greet") != v2 {
			t.Fatalf("on disk after PUT:\n%s", es.disk("greet"))
		}
		// The answer reflects the reload: the flow runs this version now.
		if lf := listFlows(t, es.addr, es.read)["greet.yaml"]; lf.Version != version(v2) {
			t.Errorf("GET /api/flows says version %s, want %s", lf.Version, version(v2))
		}

		// PATCH one step: every other byte stays, comments included.
		patch := jsonBody(map[string]any{"base_version": version(v2), "ops": []map[string]any{
			{"op": "set_step", "id": "say", "value": map[string]any{"id": "say", "module": "flow.iterate", "with": map[string]any{"items": "{{ [steps.names.value, 'again'] }}"}}},
		}})
		code, out = es.call("PATCH", "/api/flows/greet", es.admin, patch, asJSON)
		if code != 200 || out["loaded"] != true {
			t.Fatalf("PATCH: %d %v", code, out)
		}
		v3 := es.disk("greet")
		untouched := v2[:strings.Index(v2, "  - id: say")]
		if !strings.HasPrefix(v3, untouched) || !strings.Contains(v3, "again") || out["version"] != version(v3) {
			t.Errorf("after PATCH the file is\n%s\nwant it to start with\n%s", v3, untouched)
		}
		for _, c := range []string{"# Say hello to each name.", "# shown in the Studio", "# The names come from here.", "# two for now", "# Then each one is said."} {
			if !strings.Contains(v3, c) {
				t.Errorf("comment %q lost by PATCH:\n%s", c, v3)
			}
		}

		// The history: newest first, the hand-written file kept as found.
		var hist struct {
			Versions []struct{ Hash, Action, SavedBy string }
		}
		if code := apiCall(t, es.addr, "GET", "/api/flows/greet/versions", es.read, "", &hist); code != 200 {
			t.Fatalf("versions: %d", code)
		}
		want := []struct{ Hash, Action, SavedBy string }{
			{version(v3), "saved", "test-admin"}, {version(v2), "saved", "test-admin"}, {found, "found", ""},
		}
		if len(hist.Versions) != len(want) {
			t.Fatalf("versions: %+v, want %+v", hist.Versions, want)
		}
		for i := range want {
			if hist.Versions[i] != want[i] {
				t.Errorf("version %d: %+v, want %+v", i, hist.Versions[i], want[i])
			}
		}
		code, out = es.call("GET", "/api/flows/greet/versions/"+found, es.read, "", nil)
		if code != 200 || out["yaml"] != handWritten {
			t.Errorf("version text: %d %v", code, out)
		}
		code, out = es.call("GET", "/api/flows/greet/diff?from="+found+"&to="+version(v2), es.read, "", nil)
		wantDiff := "-description: \"Greets\"   # shown in the Studio\n+description: \"Greets people\"   # shown in the Studio\n"
		if d, _ := out["diff"].(string); code != 200 || !strings.Contains(d, wantDiff) || !strings.HasPrefix(d, "--- greet@"+found[:12]) {
			t.Errorf("diff: %d %v, want it to hold\n%s", code, out, wantDiff)
		}

		// Restore the hand-written version.
		code, out = es.call("POST", "/api/flows/greet/versions/"+found+"/restore", es.admin, jsonBody(map[string]string{"base_version": version(v3)}), asJSON)
		if code != 200 || es.disk("greet") != handWritten || out["loaded"] != true {
			t.Fatalf("restore: %d %v; on disk:\n%s", code, out, es.disk("greet"))
		}

		// Delete, then restore the deleted flow (no base: it has no file).
		code, out = es.call("DELETE", "/api/flows/greet", es.admin, "", map[string]string{"If-Match": found})
		if code != 200 || es.disk("greet") != "" {
			t.Fatalf("delete: %d %v", code, out)
		}
		if code, _ := es.call("GET", "/api/flows/greet", es.read, "", nil); code != 404 {
			t.Errorf("GET the deleted flow: %d, want 404", code)
		}
		code, out = es.call("POST", "/api/flows/greet/versions/"+version(v3)+"/restore", es.admin, "", nil)
		if code != 201 || es.disk("greet") != v3 || out["loaded"] != true {
			t.Fatalf("restore after delete: %d %v", code, out)
		}
		if code := apiCall(t, es.addr, "GET", "/api/flows/greet/versions", es.read, "", &hist); code != 200 || len(hist.Versions) != 6 ||
			hist.Versions[0].Action != "restored" || hist.Versions[1].Action != "deleted" || hist.Versions[1].Hash != found {
			t.Errorf("versions after delete and restore: %d %+v", code, hist.Versions)
		}
	})
}

// TestFlowSaveCreateAndRunOnce: a new flow is created without a base
// version, in NAME.yaml, and runs at once: with inputs, and as its
// trigger would start it, from the trigger's sample.
func TestFlowSaveCreateAndRunOnce(t *testing.T) {
	forEachDB(t, func(t *testing.T, es *editServer) {
		const hooked = "name: hooked\ntrigger:\n  webhook: {secret_env: HOOKED_SECRET_UNSET}\nsteps:\n  - {id: files, module: flow.iterate, with: {items: \"{{ trigger.body.files ?? [] }}\"}}\n"
		code, out := es.call("PUT", "/api/flows/hooked", es.admin, jsonBody(map[string]string{"yaml": hooked}), asJSON)
		if code != 201 || out["created"] != true || out["loaded"] != true || es.disk("hooked") != hooked {
			t.Fatalf("create: %d %v", code, out)
		}
		if st, err := os.Stat(filepath.Join(es.dir, "hooked.yaml")); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("new file: %v %v, want mode 0600", st, err)
		}
		// Creating it again is a conflict: it exists now.
		if code, out := es.call("PUT", "/api/flows/hooked", es.admin, hooked, nil); code != 409 || out["disk"] == nil {
			t.Errorf("create again: %d %v, want 409 with the file", code, out)
		}

		code, out = es.call("POST", "/api/flows/hooked/run?wait=true", es.run, `{"sampleTrigger": true}`, nil)
		if code != 200 || out["status"] != "succeeded" {
			t.Fatalf("run once with the sample: %d %v", code, out)
		}
		trig, _ := out["trigger"].(map[string]any)
		body, _ := trig["body"].(map[string]any)
		if trig["type"] != "webhook" || len(body["files"].([]any)) != 1 {
			t.Errorf("the run's trigger: %v, want the webhook sample", trig)
		}
		code, out = es.call("POST", "/api/flows/hooked/run?wait=true", es.run, `{"trigger": {"body": {"files": ["a", "b", "c"]}}}`, nil)
		if code != 200 || out["status"] != "succeeded" {
			t.Fatalf("run once with trigger data: %d %v", code, out)
		}
		for _, bad := range []string{`{"trigger": {"body": {}, "nope": 1}}`, `{"trigger": {"type": "schedule"}}`} {
			if code, out := es.call("POST", "/api/flows/hooked/run", es.run, bad, nil); code != 400 {
				t.Errorf("run with %s: %d %v, want 400", bad, code, out)
			}
		}
		if code, out := es.call("POST", "/api/flows/greet/run", es.run, `{"sampleTrigger": true}`, nil); code != 400 || !strings.Contains(out["error"].(string), "no trigger") {
			t.Errorf("sample of a flow without trigger: %d %v", code, out)
		}
	})
}

// TestRunUpTo: "run up to here" runs the steps up to one step, records
// that it stopped there on purpose, and a retry keeps to it.
func TestRunUpTo(t *testing.T) {
	forEachDB(t, func(t *testing.T, es *editServer) {
		code, out := es.call("POST", "/api/flows/greet/run?wait=true", es.run, `{"until": "names"}`, nil)
		if code != 200 || out["status"] != "succeeded" || out["until"] != "names" {
			t.Fatalf("run up to names: %d %v", code, out)
		}
		var shown struct {
			Run    struct{ Until string }
			Events []struct{ Step string }
		}
		apiCall(t, es.addr, "GET", "/api/runs/"+out["id"].(string), es.read, "", &shown)
		steps := map[string]int{}
		for _, ev := range shown.Events {
			steps[ev.Step]++
		}
		if shown.Run.Until != "names" || steps["names"] == 0 || steps["say"] != 0 {
			t.Errorf("run up to names: until %q, events by step %v; want names and never say", shown.Run.Until, steps)
		}
		// The whole flow, for comparison: say runs once per name.
		code, out = es.call("POST", "/api/flows/greet/run?wait=true", es.run, `{}`, nil)
		if code != 200 || out["status"] != "succeeded" || out["until"] != nil {
			t.Fatalf("whole run: %d %v", code, out)
		}
		if code, out := es.call("POST", "/api/flows/greet/run", es.run, `{"until": "nope"}`, nil); code != 400 || !strings.Contains(fmt.Sprint(out["error"]), `until: flow greet has no step "nope"`) {
			t.Errorf("run up to a step the flow lacks: %d %v, want 400 naming it", code, out)
		}
	})
}

// TestFlowSaveConflict: a file changed on disk since the version an
// editor started from is not overwritten: 409 with both versions.
func TestFlowSaveConflict(t *testing.T) {
	forEachDB(t, func(t *testing.T, es *editServer) {
		base := version(handWritten)
		byHand := strings.Replace(handWritten, "bob", "cy", 1)
		es.write("greet", byHand) // meanwhile, someone edits the file
		mine := strings.Replace(handWritten, "ann", "dan", 1)
		code, out := es.call("PUT", "/api/flows/greet", es.admin, jsonBody(map[string]string{"yaml": mine, "base_version": base}), asJSON)
		disk, _ := out["disk"].(map[string]any)
		sub, _ := out["submitted"].(map[string]any)
		if code != 409 || disk["version"] != version(byHand) || disk["yaml"] != byHand || sub["yaml"] != mine || sub["version"] != version(mine) {
			t.Fatalf("PUT over a changed file: %d %v", code, out)
		}
		if es.disk("greet") != byHand {
			t.Fatalf("the file was overwritten:\n%s", es.disk("greet"))
		}
		// If-Match and base_version must agree; a version is 64 hex digits.
		if code, _ := es.call("PUT", "/api/flows/greet", es.admin, jsonBody(map[string]string{"yaml": mine, "base_version": base}), map[string]string{"Content-Type": "application/json", "If-Match": version(byHand)}); code != 400 {
			t.Errorf("If-Match and base_version disagreeing: %d, want 400", code)
		}
		if code, _ := es.call("PUT", "/api/flows/greet", es.admin, mine, map[string]string{"If-Match": "../../etc"}); code != 400 {
			t.Errorf("If-Match not a version: %d, want 400", code)
		}

		// A PATCH made to a version in the history: the conflict shows what
		// the edits make of it.
		code, out = es.call("PUT", "/api/flows/greet", es.admin, mine, map[string]string{"If-Match": version(byHand)})
		if code != 200 {
			t.Fatalf("PUT: %d %v", code, out)
		}
		es.write("greet", byHand)
		patch := jsonBody(map[string]any{"base_version": version(mine), "ops": []map[string]any{{"op": "remove_step", "id": "say"}}})
		code, out = es.call("PATCH", "/api/flows/greet", es.admin, patch, asJSON)
		disk, _ = out["disk"].(map[string]any)
		sub, _ = out["submitted"].(map[string]any)
		if code != 409 || disk["yaml"] != byHand || sub == nil || strings.Contains(sub["yaml"].(string), "id: say") || !strings.Contains(sub["yaml"].(string), "dan") {
			t.Errorf("PATCH over a changed file: %d %v", code, out)
		}
		// Delete and restore follow the same rule.
		if code, _ := es.call("DELETE", "/api/flows/greet", es.admin, jsonBody(map[string]string{"base_version": version(mine)}), asJSON); code != 409 {
			t.Errorf("DELETE of a changed file: %d, want 409", code)
		}
		if code, _ := es.call("POST", "/api/flows/greet/versions/"+version(mine)+"/restore", es.admin, "", map[string]string{"If-Match": version(mine)}); code != 409 {
			t.Errorf("restore over a changed file: %d, want 409", code)
		}
		if code, _ := es.call("DELETE", "/api/flows/greet", es.admin, "", nil); code != 400 {
			t.Errorf("DELETE without a version: %d, want 400", code)
		}
		if es.disk("greet") != byHand {
			t.Errorf("the file changed:\n%s", es.disk("greet"))
		}
	})
}

// TestFlowSaveInvalid: a flow the checks refuse is answered 422 with each
// problem at its line and column, and nothing is written or recorded.
func TestFlowSaveInvalid(t *testing.T) {
	forEachDB(t, func(t *testing.T, es *editServer) {
		base := version(handWritten)
		for _, tc := range []struct {
			name, yaml string
			line, col  int
			msg        string
		}{
			{"not YAML", "name: greet\nsteps:\n\t- id: a\n", 3, 0, "not valid YAML"},
			{"unknown module", "name: greet\nsteps:\n  - id: a\n    module: flow.nope\n", 4, 13, `unknown module "flow.nope"`},
			{"another name", "name: other\nsteps:\n  - {id: a, module: flow.iterate, with: {items: [1]}}\n", 0, 0, `names flow "other"`},
			{"a step the server may not run", "name: greet\nsteps:\n  - id: r\n    module: file.read\n    with: {path: /etc/passwd}\n", 3, 0, "--files-root"},
		} {
			code, out := es.call("PUT", "/api/flows/greet", es.admin, tc.yaml, map[string]string{"If-Match": base})
			problems, _ := out["problems"].([]any)
			if code != 422 || len(problems) == 0 {
				t.Errorf("%s: %d %v, want 422 with problems", tc.name, code, out)
				continue
			}
			p := problems[0].(map[string]any)
			if int(p["line"].(float64)) != tc.line || (tc.col != 0 && int(p["column"].(float64)) != tc.col) || !strings.Contains(p["message"].(string), tc.msg) {
				t.Errorf("%s: problem %v, want line %d column %d saying %q", tc.name, p, tc.line, tc.col, tc.msg)
			}
		}
		// /api/validate gives the same problems with their positions.
		code, out := es.call("POST", "/api/validate", es.read, "name: greet\nsteps:\n  - id: a\n    module: flow.nope\n", nil)
		details, _ := out["details"].([]any)
		if code != 400 || len(details) != 1 || details[0].(map[string]any)["line"] != 4.0 || details[0].(map[string]any)["column"] != 13.0 {
			t.Errorf("validate: %d %v, want one detail at 4:13", code, out)
		}
		// An edit that breaks the flow is refused the same way.
		patch := jsonBody(map[string]any{"base_version": base, "ops": []map[string]any{{"op": "remove_step", "id": "names"}}})
		if code, out := es.call("PATCH", "/api/flows/greet", es.admin, patch, asJSON); code != 422 {
			t.Errorf("PATCH leaving a reference to a removed step: %d %v, want 422", code, out)
		}
		patch = jsonBody(map[string]any{"base_version": base, "ops": []map[string]any{{"op": "remove_step", "id": "nope"}}})
		if code, out := es.call("PATCH", "/api/flows/greet", es.admin, patch, asJSON); code != 400 || !strings.Contains(out["error"].(string), `ops[0] (remove_step): no step with id "nope"`) {
			t.Errorf("PATCH of a missing step: %d %v, want 400 naming the op", code, out)
		}
		if es.disk("greet") != handWritten {
			t.Errorf("the file changed:\n%s", es.disk("greet"))
		}
		var hist struct{ Versions []any }
		if apiCall(t, es.addr, "GET", "/api/flows/greet/versions", es.read, "", &hist); len(hist.Versions) != 0 {
			t.Errorf("versions recorded: %v", hist.Versions)
		}
	})
}

// TestFlowSaveHostile: names that would lead outside the flows folder,
// links out of it, bodies too large and tokens without the admin scope
// change nothing.
func TestFlowSaveHostile(t *testing.T) {
	forEachDB(t, func(t *testing.T, es *editServer) {
		const secret = "name: link\nsteps:\n  - {id: a, module: flow.iterate, with: {items: [1]}}\n"
		if err := os.WriteFile(es.outside, []byte(secret), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(es.outside, filepath.Join(es.dir, "link.yaml")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("missing-target.yaml", filepath.Join(es.dir, "dangling.yaml")); err != nil {
			t.Fatal(err)
		}
		if code, out := es.call("POST", "/api/flows/reload", es.admin, "", nil); code != 200 {
			t.Fatalf("reload: %d %v", code, out)
		}
		newFlow := func(name string) string {
			return "name: " + name + "\nsteps:\n  - {id: a, module: flow.iterate, with: {items: [1]}}\n"
		}
		for _, tc := range []struct {
			path string
			want int
		}{
			{"/api/flows/..%2Fx", 400},
			{"/api/flows/..%2F..%2Ftmp%2Fx", 400},
			{"/api/flows/%2Ftmp%2Fabs", 400},
			{"/api/flows/.hidden", 400},
			{"/api/flows/a%5Cb", 400},
			{"/api/flows/" + strings.Repeat("a", 101), 400},
			{"/api/flows/dangling", 403}, // a link, even to nothing, is not written
		} {
			code, out := es.call("PUT", tc.path, es.admin, newFlow(filepath.Base(tc.path)), nil)
			if code != tc.want {
				t.Errorf("PUT %s: %d %v, want %d", tc.path, code, out, tc.want)
			}
		}
		// The link out of the folder: the loader reads it (the admin put it
		// there), the API neither shows nor writes it.
		if code, out := es.call("GET", "/api/flows/link/source", es.read, "", nil); code != 403 {
			t.Errorf("source of a link out of the folder: %d %v, want 403", code, out)
		}
		if code, out := es.call("PUT", "/api/flows/link", es.admin, newFlow("link"), map[string]string{"If-Match": version(secret)}); code != 403 {
			t.Errorf("PUT through a link: %d %v, want 403", code, out)
		}
		if code, out := es.call("DELETE", "/api/flows/link", es.admin, "", map[string]string{"If-Match": version(secret)}); code != 403 {
			t.Errorf("DELETE of a link: %d %v, want 403", code, out)
		}
		if data, _ := os.ReadFile(es.outside); string(data) != secret {
			t.Errorf("the file outside the folder now holds %q", data)
		}
		if st, err := os.Lstat(filepath.Join(es.dir, "link.yaml")); err != nil || st.Mode()&os.ModeSymlink == 0 {
			t.Errorf("link.yaml is no longer the link: %v %v", st, err)
		}

		// Too large: 413 before anything is read into a flow.
		huge := "name: greet\n# " + strings.Repeat("x", 3<<20) + "\n"
		if code, _ := es.call("PUT", "/api/flows/greet", es.admin, huge, map[string]string{"If-Match": version(handWritten)}); code != 413 {
			t.Errorf("a 3 MiB body: %d, want 413", code)
		}
		// Only admin tokens save, delete and restore.
		for _, tok := range []string{es.read, es.run} {
			for _, req := range []struct{ method, path, body string }{
				{"PUT", "/api/flows/greet", jsonBody(map[string]string{"yaml": newFlow("greet"), "base_version": version(handWritten)})},
				{"PUT", "/api/flows/fresh", jsonBody(map[string]string{"yaml": newFlow("fresh")})},
				{"PATCH", "/api/flows/greet", jsonBody(map[string]any{"base_version": version(handWritten), "ops": []map[string]any{{"op": "remove_step", "id": "say"}}})},
				{"DELETE", "/api/flows/greet", jsonBody(map[string]string{"base_version": version(handWritten)})},
				{"POST", "/api/flows/greet/versions/" + version(handWritten) + "/restore", ""},
			} {
				code, out := es.call(req.method, req.path, tok, req.body, asJSON)
				if msg, _ := out["error"].(string); code != 403 || !strings.Contains(msg, "admin scope") {
					t.Errorf("%s %s with a non-admin token: %d %v, want 403", req.method, req.path, code, out)
				}
			}
		}
		if es.disk("greet") != handWritten || es.disk("fresh") != "" {
			t.Errorf("a refused request changed the folder")
		}
		entries, _ := os.ReadDir(es.dir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if strings.Join(names, ",") != "dangling.yaml,greet.yaml,link.yaml" {
			t.Errorf("the flows folder holds %v", names)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(es.dir), "x.yaml")); err == nil {
			t.Error("x.yaml was written beside the flows folder")
		}
		// Versions are read by hash only.
		for _, p := range []string{"/api/flows/greet/versions/..%2F..%2Fx", "/api/flows/greet/diff?from=x&to=y"} {
			if code, _ := es.call("GET", p, es.read, "", nil); code != 400 {
				t.Errorf("GET %s: %d, want 400", p, code)
			}
		}
	})
}

// apiCallWith is apiCall with request headers.
func apiCallWith(t *testing.T, addr, method, path, token, body string, header map[string]string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatalf("%s %s: %d, answer not JSON: %v\n%s", method, path, resp.StatusCode, err, data)
	}
	return resp.StatusCode
}

// TestFlowDraft: the Studio's form reads and writes YAML only through
// POST /api/flows/draft; what it shows after an edit is byte for byte
// what the PATCH of the same edit writes, and a draft writes nothing.
func TestFlowDraft(t *testing.T) {
	forEachDB(t, func(t *testing.T, es *editServer) {
		draft := func(body any) (int, map[string]any) {
			t.Helper()
			return es.call("POST", "/api/flows/draft", es.read, jsonBody(body), asJSON)
		}
		// The file as the form reads it: JSON in the file's key order.
		code, out := draft(map[string]any{"yaml": handWritten})
		if code != 200 || out["valid"] != true || out["yaml"] != handWritten {
			t.Fatalf("draft of the file: %d %v", code, out)
		}
		var raw struct{ Doc json.RawMessage }
		apiCallWith(t, es.addr, "POST", "/api/flows/draft", es.read, jsonBody(map[string]any{"yaml": handWritten}), asJSON, &raw)
		var doc bytes.Buffer
		if err := json.Compact(&doc, raw.Doc); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(doc.String(), `{"name":"greet","description":"Greets","steps":[{"id":"names","module":"flow.iterate","with":{"items":["ann","bob"]}}`) {
			t.Errorf("doc not in the file's order: %s", doc.String())
		}

		// An edit as operations: the text shown is what the PATCH writes.
		ops := []map[string]any{{"op": "set_step", "id": "say", "value": map[string]any{
			"id": "say", "module": "flow.iterate", "with": map[string]any{"items": "{{ [steps.names.value, 'cy'] }}"}}}}
		code, out = draft(map[string]any{"base": handWritten, "ops": ops})
		shown, _ := out["yaml"].(string)
		if code != 200 || out["valid"] != true || !strings.Contains(shown, "# The names come from here.") || !strings.Contains(shown, "'cy'") {
			t.Fatalf("draft of an edit: %d %v", code, out)
		}
		if es.disk("greet") != handWritten {
			t.Fatalf("a draft wrote the file:\n%s", es.disk("greet"))
		}
		var hist struct{ Versions []any }
		if apiCall(t, es.addr, "GET", "/api/flows/greet/versions", es.read, "", &hist); len(hist.Versions) != 0 {
			t.Errorf("a draft recorded versions: %v", hist.Versions)
		}
		patch := jsonBody(map[string]any{"base_version": version(handWritten), "ops": ops})
		if code, out := es.call("PATCH", "/api/flows/greet", es.admin, patch, asJSON); code != 200 {
			t.Fatalf("PATCH: %d %v", code, out)
		}
		if got := es.disk("greet"); got != shown {
			t.Errorf("the PATCH wrote\n%s\nthe draft showed\n%s", got, shown)
		}

		// A new flow from the form: rendered whole, top keys in order.
		code, out = draft(map[string]any{"doc": map[string]any{
			"steps": []any{map[string]any{"id": "a", "module": "flow.iterate", "with": map[string]any{"items": []any{1, 2}}}},
			"name":  "fresh", "description": "made in the form"}})
		if code != 200 || out["valid"] != true || !strings.HasPrefix(out["yaml"].(string), "name: fresh\ndescription: made in the form\nsteps:\n") {
			t.Errorf("draft of a new flow: %d %v", code, out)
		}

		// Problems come with their line; a file the form cannot show says why.
		code, out = draft(map[string]any{"yaml": "name: greet\nsteps:\n  - id: a\n    module: flow.nope\n"})
		details, _ := out["details"].([]any)
		if code != 200 || out["valid"] != false || len(details) != 1 || details[0].(map[string]any)["line"] != 4.0 {
			t.Errorf("draft with an unknown module: %d %v", code, out)
		}
		code, out = draft(map[string]any{"yaml": "x: &b {a: 1}\nname: greet\ninputs:\n  <<: *b\nsteps: []\n"})
		if code != 200 || out["doc"] != nil || !strings.Contains(fmt.Sprint(out["doc_error"]), "merge keys") {
			t.Errorf("draft with a merge key: %d %v", code, out)
		}

		// Refused: two sources at once, unknown fields, bad ops, no token.
		for _, bad := range []string{
			jsonBody(map[string]any{"yaml": "a", "doc": map[string]any{}}),
			jsonBody(map[string]any{"yml": "a"}),
			jsonBody(map[string]any{"base": handWritten, "ops": []map[string]any{{"op": "remove_step", "id": "nope"}}}),
			`{"doc": [1]}`,
		} {
			if code, out := es.call("POST", "/api/flows/draft", es.read, bad, asJSON); code != 400 {
				t.Errorf("draft %s: %d %v, want 400", bad, code, out)
			}
		}
		if code, _ := es.call("POST", "/api/flows/draft", "", jsonBody(map[string]any{"yaml": handWritten}), asJSON); code != 401 {
			t.Errorf("draft without a token: %d, want 401", code)
		}
	})
}
