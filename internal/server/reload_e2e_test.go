package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/module/builtin"
	"github.com/s3flow/s3flow/internal/s3test"
	"github.com/s3flow/s3flow/internal/server"
	"github.com/s3flow/s3flow/internal/store"
)

// The reload tests run the server in this process, like the webhook
// tests, with two modules of their own besides the built-in ones:
//
//	test.block  says it started (blocked), then waits for release
//	test.fail   fails when fail is true
type reloadServer struct {
	t           *testing.T
	dir, addr   string
	admin, read string
	blocked     chan struct{}
	release     chan struct{}
	srv         *server.Server
}

func startReloadServer(t *testing.T, watch bool, flows map[string]string) *reloadServer {
	t.Helper()
	rs := &reloadServer{t: t, dir: t.TempDir(), blocked: make(chan struct{}, 10), release: make(chan struct{})}
	for name, yaml := range flows {
		rs.write(name, yaml)
	}
	db, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "s3flow.db"))
	if err != nil {
		t.Fatal(err)
	}
	reg := &module.Registry{}
	reg.Register(builtin.Modules()...)
	reg.Register(
		&module.Module{
			Name: "test.block",
			Run: func(ctx context.Context, _ module.Env, _ module.Values, emit func(module.Bundle) error) error {
				rs.blocked <- struct{}{}
				select {
				case <-rs.release:
					return emit(module.Bundle{})
				case <-ctx.Done():
					return ctx.Err()
				}
			},
		},
		&module.Module{
			Name:   "test.fail",
			Fields: []module.Field{{Name: "fail", Type: module.Bool, Default: false}},
			Run: func(_ context.Context, _ module.Env, in module.Values, emit func(module.Bundle) error) error {
				if in.Bool("fail") {
					return fmt.Errorf("failed as asked")
				}
				return emit(module.Bundle{})
			},
		},
	)
	srv, err := server.New(t.Context(), server.Config{DB: db, Registry: reg, FlowsDir: rs.dir, Workers: 2, WatchFlows: watch})
	if err != nil {
		t.Fatal(err)
	}
	rs.srv = srv
	for scope, tok := range map[server.Scope]*string{server.ScopeAdmin: &rs.admin, server.ScopeRead: &rs.read} {
		if *tok, err = server.NewTokens(db).Create(t.Context(), "test-"+string(scope), scope, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs.addr = l.Addr().String()
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
	return rs
}

// write puts a flow file in place as most programs do: truncated and
// written again.
func (rs *reloadServer) write(name, yaml string) string {
	rs.t.Helper()
	if err := os.WriteFile(filepath.Join(rs.dir, name+".yaml"), []byte(yaml), 0o600); err != nil {
		rs.t.Fatal(err)
	}
	return version(yaml)
}

// replace puts a flow file in place as careful editors do: a temporary
// file renamed over the old one.
func (rs *reloadServer) replace(name, yaml string) string {
	rs.t.Helper()
	tmp := filepath.Join(rs.dir, "."+name+".yaml.swp")
	if err := os.WriteFile(tmp, []byte(yaml), 0o600); err != nil {
		rs.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(rs.dir, name+".yaml")); err != nil {
		rs.t.Fatal(err)
	}
	return version(yaml)
}

// version is a flow file's version as the server shows it.
func version(yaml string) string {
	sum := sha256.Sum256([]byte(yaml))
	return hex.EncodeToString(sum[:])
}

// do sends a request with token and decodes the JSON answer into out.
func (rs *reloadServer) do(method, path, token, body string, out any) int {
	rs.t.Helper()
	return apiCall(rs.t, rs.addr, method, path, token, body, out)
}

func apiCall(t *testing.T, addr, method, path, token, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d, answer not JSON: %v\n%s", method, path, resp.StatusCode, err, data)
		}
	}
	return resp.StatusCode
}

// listedFlow is an entry of GET /api/flows.
type listedFlow struct {
	Name     string
	File     string
	Version  string
	Problems []server.FlowProblem
}

func listFlows(t *testing.T, addr, token string) map[string]listedFlow {
	t.Helper()
	var list []listedFlow
	if code := apiCall(t, addr, "GET", "/api/flows", token, "", &list); code != 200 {
		t.Fatalf("GET /api/flows: %d", code)
	}
	out := map[string]listedFlow{}
	for _, f := range list {
		out[filepath.Base(f.File)] = f
	}
	return out
}

// waitListed polls GET /api/flows (never a fixed sleep) until ok holds of
// it, for at most a minute.
func waitListed(t *testing.T, addr, token string, what string, ok func(map[string]listedFlow) bool) map[string]listedFlow {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		got := listFlows(t, addr, token)
		if ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; GET /api/flows: %+v", what, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runResult is a run as GET /api/runs/{id} gives it, with the steps that
// ran (its "ok" events).
type runResult struct {
	ID, Status, FlowHash string
	Steps                []string
	Events               []map[string]any
}

func (rs *reloadServer) start(flow string) string {
	rs.t.Helper()
	var out struct{ Run string }
	if code := rs.do("POST", "/api/flows/"+flow+"/run", rs.admin, `{}`, &out); code != 202 {
		rs.t.Fatalf("run %s: %d", flow, code)
	}
	return out.Run
}

// wait waits for a run to end and returns it.
func (rs *reloadServer) wait(id string) runResult {
	rs.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var out struct {
			Run struct {
				ID, Status, FlowHash string
				FinishedAt           *time.Time
			}
			Events []map[string]any
		}
		if code := rs.do("GET", "/api/runs/"+id, rs.admin, "", &out); code != 200 {
			rs.t.Fatalf("GET run %s: %d", id, code)
		}
		if out.Run.FinishedAt != nil && out.Run.Status != "queued" && out.Run.Status != "running" {
			r := runResult{ID: id, Status: out.Run.Status, FlowHash: out.Run.FlowHash, Events: out.Events}
			for _, ev := range out.Events {
				if step, _ := ev["step"].(string); step != "" && ev["status"] == "ok" {
					r.Steps = append(r.Steps, step)
				}
			}
			return r
		}
		if time.Now().After(deadline) {
			rs.t.Fatalf("run %s did not end: %+v", id, out.Run)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// oneStep is a flow whose one step, named step, says which version ran.
func oneStep(name, step string) string {
	return fmt.Sprintf("name: %s\nsteps:\n  - {id: %s, module: flow.iterate, with: {items: [1]}}\n", name, step)
}

// TestReloadOnFileChange: while the server runs, a flow file edited in
// place, one replaced by a rename, one added and one removed are picked up
// without a restart, and the next run runs (and records) the new version.
func TestReloadOnFileChange(t *testing.T) {
	rs := startReloadServer(t, true, map[string]string{"greet": oneStep("greet", "v1")})
	v1 := version(oneStep("greet", "v1"))
	if r := rs.wait(rs.start("greet")); r.Status != "succeeded" || r.FlowHash != v1 || strings.Join(r.Steps, ",") != "v1" {
		t.Fatalf("first run: %+v, want succeeded with version %s and step v1", r, v1)
	}

	for i, edit := range []func(name, yaml string) string{rs.replace, rs.write} {
		step := fmt.Sprintf("v%d", i+2)
		want := edit("greet", oneStep("greet", step))
		waitListed(t, rs.addr, rs.read, "greet's version "+step, func(fs map[string]listedFlow) bool {
			return fs["greet.yaml"].Version == want
		})
		if r := rs.wait(rs.start("greet")); r.Status != "succeeded" || r.FlowHash != want || strings.Join(r.Steps, ",") != step {
			t.Fatalf("run after edit %d: %+v, want version %s and step %s", i+1, r, want, step)
		}
	}

	rs.write("added", oneStep("added", "new"))
	waitListed(t, rs.addr, rs.read, "the added flow", func(fs map[string]listedFlow) bool { return fs["added.yaml"].Name == "added" })
	if r := rs.wait(rs.start("added")); r.Status != "succeeded" {
		t.Fatalf("run of the added flow: %+v", r)
	}
	if err := os.Remove(filepath.Join(rs.dir, "added.yaml")); err != nil {
		t.Fatal(err)
	}
	waitListed(t, rs.addr, rs.read, "the removed flow to go", func(fs map[string]listedFlow) bool { _, ok := fs["added.yaml"]; return !ok })
	if code := rs.do("POST", "/api/flows/added/run", rs.admin, `{}`, nil); code != 404 {
		t.Errorf("run of the removed flow: %d, want 404", code)
	}
}

// TestReloadListsProblems: files with problems (from the parser and from
// the server's own checks) stay listed with their line, column and
// message and do not run; a fixed file comes back, a broken one goes. The
// reload here is POST /api/flows/reload (the folder is not watched), which
// takes an admin token.
func TestReloadListsProblems(t *testing.T) {
	const unknownModule = "name: broken\nsteps:\n  - id: x\n    module: no.such\n"
	// file.list touches local files, which a server without --files-root
	// refuses: a check of the server's, not of the parser.
	const localFiles = "name: local\nsteps:\n  - {id: ls, module: file.list, with: {path: /tmp}}\n"
	rs := startReloadServer(t, false, map[string]string{
		"good": oneStep("good", "a"), "broken": unknownModule, "local": localFiles,
	})
	fs := listFlows(t, rs.addr, rs.read)
	if f := fs["good.yaml"]; f.Name != "good" || len(f.Problems) != 0 {
		t.Errorf("good.yaml listed as %+v", f)
	}
	wantProblem := func(fs map[string]listedFlow, file string, line, column int, msg string) {
		t.Helper()
		f, ok := fs[file]
		if !ok {
			t.Errorf("%s is not listed: %+v", file, fs)
			return
		}
		if f.Name != "" || len(f.Problems) != 1 {
			t.Errorf("%s listed as %+v, want no flow and one problem", file, f)
			return
		}
		p := f.Problems[0]
		if filepath.Base(p.File) != file || p.Line != line || p.Column != column || !strings.Contains(p.Message, msg) {
			t.Errorf("%s's problem: %+v, want %s at %d:%d saying %q", file, p, file, line, column, msg)
		}
	}
	wantProblem(fs, "broken.yaml", 4, 13, "no.such")
	wantProblem(fs, "local.yaml", 3, 5, "--files-root")
	for _, name := range []string{"broken", "local"} {
		if code := rs.do("POST", "/api/flows/"+name+"/run", rs.admin, `{}`, nil); code != 404 {
			t.Errorf("run of %s: %d, want 404", name, code)
		}
	}

	// The fix is on disk; a read token may not reload, an admin token may.
	fixed := rs.write("broken", oneStep("broken", "fixed"))
	rs.write("good", "name: good\nsteps: []\nnonsense: 1\n")
	var refused map[string]any
	if code := rs.do("POST", "/api/flows/reload", rs.read, "", &refused); code != 403 {
		t.Errorf("reload with a read token: %d %v, want 403", code, refused)
	}
	if fs := listFlows(t, rs.addr, rs.read); fs["broken.yaml"].Name != "" {
		t.Fatalf("a refused reload reloaded: %+v", fs["broken.yaml"])
	}
	var res server.ReloadResult
	if code := rs.do("POST", "/api/flows/reload", rs.admin, "", &res); code != 200 {
		t.Fatalf("reload with an admin token: %d", code)
	}
	if !res.Changed || len(res.Flows) != 1 || res.Flows[0].Name != "broken" || res.Flows[0].Version != fixed {
		t.Errorf("reload answered %+v, want changed and only broken (fixed) loaded", res)
	}
	if len(res.Problems) < 2 {
		t.Errorf("reload answered problems %+v, want those of good.yaml and local.yaml", res.Problems)
	}
	fs = listFlows(t, rs.addr, rs.read)
	if f := fs["broken.yaml"]; f.Name != "broken" || f.Version != fixed || len(f.Problems) != 0 {
		t.Errorf("fixed broken.yaml listed as %+v", f)
	}
	if r := rs.wait(rs.start("broken")); r.Status != "succeeded" {
		t.Errorf("run of the fixed flow: %+v", r)
	}
	if f := fs["good.yaml"]; f.Name != "" || len(f.Problems) == 0 || f.Problems[0].Line == 0 {
		t.Errorf("good.yaml, broken now, listed as %+v, want its problems with their lines", f)
	}
	if code := rs.do("POST", "/api/flows/good/run", rs.admin, `{}`, nil); code != 404 {
		t.Errorf("run of good, broken now: %d, want 404", code)
	}
	// A second reload of the same files changes nothing.
	if code := rs.do("POST", "/api/flows/reload", rs.admin, "", &res); code != 200 || res.Changed {
		t.Errorf("reload of unchanged files: %d %+v, want changed false", code, res)
	}
}

// TestReloadKeepsRunningRun: a run that has started keeps the version it
// started with when its flow file is swapped; the next run gets the new
// one.
func TestReloadKeepsRunningRun(t *testing.T) {
	const v1 = "name: hold\nsteps:\n  - {id: wait, module: test.block}\n  - {id: after1, module: flow.iterate, with: {items: [1]}}\n"
	rs := startReloadServer(t, false, map[string]string{"hold": v1})
	first := rs.start("hold")
	select {
	case <-rs.blocked:
	case <-time.After(time.Minute):
		t.Fatal("the first run's blocking step did not start")
	}
	v2 := rs.replace("hold", oneStep("hold", "after2"))
	if _, err := rs.srv.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := listFlows(t, rs.addr, rs.read)["hold.yaml"].Version; got != v2 {
		t.Fatalf("after the reload hold is version %s, want %s", got, v2)
	}
	second := rs.wait(rs.start("hold"))
	if second.Status != "succeeded" || second.FlowHash != v2 || strings.Join(second.Steps, ",") != "after2" {
		t.Errorf("run started after the swap: %+v, want version %s with step after2", second, v2)
	}
	close(rs.release)
	r := rs.wait(first)
	if r.Status != "succeeded" || r.FlowHash != version(v1) || strings.Join(r.Steps, ",") != "wait,after1" {
		t.Errorf("run started before the swap: %+v, want version %s with steps wait, after1", r, version(v1))
	}
}

// TestRetryAfterFlowChanged: a failed run retried after its flow file
// changed runs the new version, says so in its answer and in its history,
// and records the version it ran.
func TestRetryAfterFlowChanged(t *testing.T) {
	const v1 = "name: flaky\nsteps:\n  - {id: one, module: flow.iterate, with: {items: [1]}}\n  - {id: two, module: test.fail, with: {fail: true}}\n"
	const v2 = "name: flaky\nsteps:\n  - {id: one, module: flow.iterate, with: {items: [1]}}\n  - {id: two, module: test.fail, with: {fail: false}}\n"
	rs := startReloadServer(t, false, map[string]string{"flaky": v1})
	id := rs.start("flaky")
	if r := rs.wait(id); r.Status != "failed" {
		t.Fatalf("first attempt: %+v, want failed", r)
	}
	rs.write("flaky", v2)
	var res server.ReloadResult
	if code := rs.do("POST", "/api/flows/reload", rs.admin, "", &res); code != 200 || !res.Changed {
		t.Fatalf("reload: %d %+v", code, res)
	}
	var retried struct{ ID, Status, Note string }
	if code := rs.do("POST", "/api/runs/"+id+"/retry", rs.admin, "", &retried); code != 200 {
		t.Fatalf("retry: %d %+v", code, retried)
	}
	wantNote := fmt.Sprintf("flow file changed since run %s: it ran version %s…, this retry runs %s…", id, version(v1)[:12], version(v2)[:12])
	if retried.ID != id || retried.Note != wantNote {
		t.Errorf("retry answered %+v, want note %q", retried, wantNote)
	}
	r := rs.wait(id)
	if r.Status != "succeeded" || r.FlowHash != version(v2) {
		t.Errorf("retried run: %+v, want succeeded with version %s", r, version(v2))
	}
	noted := false
	for _, ev := range r.Events {
		if out, _ := ev["output"].(map[string]any); ev["status"] == "flow-changed" && out["note"] == wantNote && out["runsVersion"] == version(v2) {
			noted = true
		}
	}
	if !noted {
		t.Errorf("the run's history does not say its flow changed: %v", r.Events)
	}
}

// TestReloadOnSIGHUP: "s3flow server --watch-flows=false" picks up an
// edited flow file on SIGHUP, and keeps running.
func TestReloadOnSIGHUP(t *testing.T) {
	tg := s3test.Versitygw(t)
	e := newEnv(t, tg, tg.Conn.Endpoint)
	e.args = []string{"--watch-flows=false"}
	e.writeFlow("hup", oneStep("hup", "v1"))
	e.start()
	if got := listFlows(t, e.addr, e.token)["hup.yaml"].Version; got != version(oneStep("hup", "v1")) {
		t.Fatalf("hup is version %s at start", got)
	}
	e.writeFlow("hup", oneStep("hup", "v2"))
	want := version(oneStep("hup", "v2"))
	if err := e.srv.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitListed(t, e.addr, e.token, "hup's new version after SIGHUP", func(fs map[string]listedFlow) bool {
		return fs["hup.yaml"].Version == want
	})
	code, out := e.do("POST", "/api/flows/hup/run?wait=true", e.token, []byte(`{}`), nil)
	if code != 200 || out["status"] != "succeeded" || out["flowHash"] != want {
		t.Errorf("run after SIGHUP: %d %v\n%s", code, out, e.srvLog)
	}
	if !bytes.Contains(e.srvLog.Bytes(), []byte("flows reloaded")) {
		t.Errorf("the server did not log the reload:\n%s", e.srvLog)
	}
}

// TestQueuedRunOfRemovedFlow: a run still queued when its flow file is
// removed ends as failed and says why, instead of staying queued for good.
func TestQueuedRunOfRemovedFlow(t *testing.T) {
	const hold = "name: hold\nmax_concurrent_runs: 1\nsteps:\n  - {id: wait, module: test.block}\n"
	rs := startReloadServer(t, false, map[string]string{"hold": hold})
	first := rs.start("hold")
	select {
	case <-rs.blocked:
	case <-time.After(time.Minute):
		t.Fatal("the first run's blocking step did not start")
	}
	second := rs.start("hold") // waits for the first: one at a time
	if err := os.Remove(filepath.Join(rs.dir, "hold.yaml")); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.srv.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := rs.wait(second); r.Status != "failed" {
		t.Errorf("the queued run of a removed flow: %+v, want failed", r)
	}
	var out struct{ Run struct{ Error string } }
	if code := rs.do("GET", "/api/runs/"+second, rs.admin, "", &out); code != 200 || !strings.Contains(out.Run.Error, `flow "hold" is not loaded`) {
		t.Errorf("GET run %s: %d, error %q; want it to say the flow is not loaded", second, code, out.Run.Error)
	}
	close(rs.release)
	if r := rs.wait(first); r.Status != "succeeded" {
		t.Errorf("the run that had started: %+v, want succeeded", r)
	}
}
