package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/s3test"
	"github.com/s3flow/s3flow/internal/server"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "s3flow-server-test-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "s3flow")
	// s3flow-local beside s3flow serves the local connection.
	build := exec.Command("go", "build", "-o", dir+"/", "../../cmd/s3flow", "../../cmd/s3flow-local")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build s3flow:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one S3FLOW_HOME with a connection "vg" to the test server (or a
// proxy in front of it), a flows folder and an API token.
type env struct {
	t        *testing.T
	home     string
	flows    string
	token    string
	addr     string
	hookEnv  []string
	srv      *exec.Cmd
	srvLog   *logBuffer
	endpoint string
	// args are more flags of "s3flow server" (--debug).
	args []string
	// strictEndpoints starts the server without --allow-private-endpoints.
	// Test S3 servers listen on 127.0.0.1, so the others allow them.
	strictEndpoints bool
	// shared is extra environment for every process: on PostgreSQL the
	// database URL and the encryption key the processes share.
	shared []string
}

const hookSecret = "hook-secret-for-tests"

func newEnv(t *testing.T, tg s3test.Target, endpoint string, shared ...string) *env {
	e := &env{t: t, home: t.TempDir(), flows: t.TempDir(), endpoint: endpoint,
		hookEnv: []string{"TEST_HOOK_SECRET=" + hookSecret}, shared: shared}
	e.cli(tg.Conn.SecretAccessKey.Reveal(), "connection", "create", "vg", "--access-key-id", tg.Conn.AccessKeyID,
		"--secret-access-key-stdin", "--endpoint", endpoint, "--path-style", "--no-verify")
	// The tests' own token may do everything; scopes have their own tests.
	e.token = strings.TrimSpace(e.cli("", "token", "create", "test", "--scope", "admin"))
	return e
}

func (e *env) cli(stdin string, args ...string) string {
	e.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(append(os.Environ(), "S3FLOW_HOME="+e.home), e.shared...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		e.t.Fatalf("s3flow %v: %v\n%s", args, err, errOut.String())
	}
	return out.String()
}

func (e *env) writeFlow(name, yaml string) {
	if err := os.WriteFile(filepath.Join(e.flows, name+".yaml"), []byte(yaml), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// start runs "s3flow server" and waits for /readyz.
func (e *env) start() {
	e.t.Helper()
	if e.addr == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			e.t.Fatal(err)
		}
		e.addr = l.Addr().String()
		l.Close()
	}
	e.srvLog = &logBuffer{}
	args := []string{"server", "--flows", e.flows, "--addr", e.addr, "--workers", "2"}
	if !e.strictEndpoints {
		args = append(args, "--allow-private-endpoints")
	}
	e.srv = exec.Command(binary, append(args, e.args...)...)
	e.srv.Env = append(append(append(os.Environ(), "S3FLOW_HOME="+e.home), e.hookEnv...), e.shared...)
	e.srv.Stdout, e.srv.Stderr = e.srvLog, e.srvLog
	if err := e.srv.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { e.stop(syscall.SIGTERM) })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + e.addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("server not ready:\n%s", e.srvLog)
}

// logBuffer is a server's output: written by os/exec's copying goroutine
// while the test reads it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) Bytes() []byte { return []byte(l.String()) }

func (e *env) stop(sig syscall.Signal) {
	if e.srv == nil || e.srv.Process == nil {
		return
	}
	e.srv.Process.Signal(sig)
	e.srv.Wait()
	e.srv = nil
}

func (e *env) do(method, path, token string, body []byte, header map[string]string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(method, "http://"+e.addr+path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(data, &out)
	if out == nil {
		out = map[string]any{"raw": string(data)}
	}
	return resp.StatusCode, out
}

// doChunked POSTs body without a Content-Length.
func (e *env) doChunked(path string, body []byte, header map[string]string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", "http://"+e.addr+path, io.MultiReader(bytes.NewReader(body)))
	req.ContentLength = -1
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (e *env) runs() []map[string]any {
	e.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+e.addr+"/api/runs?limit=1000", nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var rs []map[string]any
	json.NewDecoder(resp.Body).Decode(&rs)
	return rs
}

const uploadFlow = `name: %s
trigger:
  webhook: {secret_env: TEST_HOOK_SECRET}
inputs:
  bucket: {type: string, default: %s}
steps:
  - id: items
    module: flow.iterate
    with:
      items: "{{ trigger.body.files }}"
  - id: put
    module: s3.upload_file
    connection: vg
    with:
      bucket: "{{ inputs.bucket }}"
      folder: incoming
      file: "{{ file.text(steps.items.value + '.txt', 'file ' + steps.items.value) }}"
`

// TestWebhookRunsFlow: a webhook with the flow's secret (a token header or
// a signature made with it) starts a run whose files land in the bucket; without
// it nothing starts.
func TestWebhookRunsFlow(t *testing.T) {
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	e := newEnv(t, tg, tg.Conn.Endpoint)
	e.writeFlow("hook", fmt.Sprintf(uploadFlow, "hook", bucket))
	e.start()

	// Refused: no secret, a wrong one, a wrong signature; and the API
	// without or with a wrong token.
	for _, h := range []map[string]string{nil, {"X-S3flow-Token": "wrong"}, {"X-S3flow-Signature": "t=1,v1=00", "X-S3flow-Delivery": "1"}} {
		if code, _ := e.do("POST", "/hooks/hook", "", []byte(`{"files":["x"]}`), h); code != 401 {
			t.Errorf("webhook with %v: status %d, want 401", h, code)
		}
	}
	for _, token := range []string{"", "s3f_wrong"} {
		if code, _ := e.do("POST", "/api/flows/hook/run", token, []byte(`{}`), nil); code != 401 {
			t.Errorf("API with token %q: status %d, want 401", token, code)
		}
	}
	if rs := e.runs(); len(rs) != 0 {
		t.Fatalf("refused requests started %d runs", len(rs))
	}

	body := []byte(`{"files":["a","b"]}`)
	code, out := e.do("POST", "/hooks/hook?wait=true", "", body, map[string]string{"X-S3flow-Token": hookSecret})
	if code != 200 || out["status"] != "succeeded" {
		t.Fatalf("webhook with the token: %d %v\n%s", code, out, e.srvLog)
	}
	body = []byte(`{"files":["c"]}`)
	code, out = e.do("POST", "/hooks/hook", "", body, map[string]string{
		"X-S3flow-Signature": server.SignWebhook(hookSecret, "hook", time.Now(), body), "X-S3flow-Delivery": "c-1"})
	if code != 202 || out["run"] == nil {
		t.Fatalf("webhook with a signature: %d %v", code, out)
	}
	waitFor(t, func() bool { return countStatus(e.runs(), "succeeded") == 2 })

	var listed struct{ Contents []struct{ Key string } }
	json.Unmarshal([]byte(tg.AWS(t, "s3api", "list-objects-v2", "--bucket", bucket)), &listed)
	var keys []string
	for _, o := range listed.Contents {
		keys = append(keys, o.Key)
	}
	if strings.Join(keys, ",") != "incoming/a.txt,incoming/b.txt,incoming/c.txt" {
		t.Errorf("bucket holds %v", keys)
	}
	// The module API runs the same declaration as the CLI.
	code, out = e.do("POST", "/api/modules/s3.list_files", e.token, []byte(fmt.Sprintf(`{"connection":"vg","inputs":{"bucket":%q,"prefix":"incoming"}}`, bucket)), nil)
	if bundles, _ := out["bundles"].([]any); code != 200 || len(bundles) != 3 {
		t.Errorf("module API: %d %v", code, out)
	}
	// A failure is answered as the file download answers it: a missing
	// bucket is 404, not a gateway error.
	code, out = e.do("POST", "/api/modules/s3.list_files", e.token, []byte(fmt.Sprintf(`{"connection":"vg","inputs":{"bucket":%q}}`, bucket+"-nosuch")), nil)
	if code != 404 {
		t.Errorf("module API on a missing bucket: %d %v, want 404", code, out)
	}
}

// TestWebhookBurst: webhooks that arrive together on SQLite are queued in
// shared commits; every one gets its own run, recorded and worked once.
func TestWebhookBurst(t *testing.T) {
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	pc := newPutCounter(t, tg.Conn.Endpoint, 0)
	e := newEnv(t, tg, pc.URL)
	e.writeFlow("hook", fmt.Sprintf(uploadFlow, "hook", bucket))
	e.start()

	const n = 120
	ids := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ids[i] = e.hook("hook", map[string]any{"files": []string{fmt.Sprintf("b%03d", i)}})
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, id := range ids {
		if id == "" || seen[id] {
			t.Fatalf("run id %q answered twice or empty", id)
		}
		seen[id] = true
	}
	waitFor(t, func() bool { return countStatus(e.runs(), "succeeded") == n })
	if rs := e.runs(); len(rs) != n {
		t.Errorf("%d runs recorded, want %d", len(rs), n)
	}
	if got := pc.total(); got != n {
		t.Errorf("%d uploads, want %d (one per run)", got, n)
	}
	if rep := pc.repeated(); len(rep) > 0 {
		t.Errorf("uploaded more than once: %v", rep)
	}
	if got := listCount(t, tg, bucket, "incoming/"); got != n {
		t.Errorf("the aws CLI lists %d objects, want %d", got, n)
	}
}

// TestKillResume: SIGKILL the server in the middle of a run that uploads 20
// files; after a restart the run completes, every file is there exactly
// once, uploads done before the kill are not repeated, and the history
// shows the interruption.
func TestKillResume(t *testing.T) {
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	// A proxy in front of the server slows each upload and counts them.
	target, _ := url.Parse(tg.Conn.Endpoint)
	var mu sync.Mutex
	puts := map[string]int{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/incoming/") {
			time.Sleep(150 * time.Millisecond)
			defer func() {
				mu.Lock()
				puts[r.URL.Path]++
				mu.Unlock()
			}()
		}
		proxy.ServeHTTP(w, r)
	}))
	defer slow.Close()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, c := range puts {
			n += c
		}
		return n
	}

	e := newEnv(t, tg, slow.URL)
	e.writeFlow("twenty", fmt.Sprintf(uploadFlow, "twenty", bucket))
	e.start()
	var files []string
	for i := range 20 {
		files = append(files, fmt.Sprintf("f%02d", i))
	}
	body, _ := json.Marshal(map[string]any{"files": files})
	code, out := e.do("POST", "/hooks/twenty", "", body, map[string]string{"X-S3flow-Token": hookSecret})
	if code != 202 {
		t.Fatalf("webhook: %d %v", code, out)
	}
	runID := out["run"].(string)
	waitFor(t, func() bool { return count() >= 6 })
	e.stop(syscall.SIGKILL)
	before := count()
	if before >= 20 {
		t.Fatalf("the run finished before the kill (%d uploads); the test proves nothing", before)
	}

	e.start()
	waitFor(t, func() bool {
		for _, r := range e.runs() {
			if r["id"] == runID && r["status"] == "succeeded" {
				return true
			}
		}
		return false
	})
	var listed struct{ Contents []struct{ Key string } }
	json.Unmarshal([]byte(tg.AWS(t, "s3api", "list-objects-v2", "--bucket", bucket)), &listed)
	if len(listed.Contents) != 20 {
		t.Errorf("bucket holds %d objects, want 20", len(listed.Contents))
	}
	mu.Lock()
	repeated := 0
	for path, n := range puts {
		if n > 1 {
			repeated++
			t.Logf("%s uploaded %d times", path, n)
		}
	}
	mu.Unlock()
	// At most the upload in flight at the kill is repeated: its result was
	// not recorded yet.
	if repeated > 1 {
		t.Errorf("%d files were uploaded again after the restart; completed steps must not repeat", repeated)
	}
	code, out = e.do("GET", "/api/runs/"+runID, e.token, nil, nil)
	events, _ := out["events"].([]any)
	var resumed, reused int
	for _, ev := range events {
		switch ev.(map[string]any)["status"] {
		case "resumed-run":
			resumed++
		case "reused":
			reused++
		}
	}
	if code != 200 || resumed != 1 || reused < before-1 {
		t.Errorf("history: status %d, %d resumed-run events (want 1), %d reused steps (want ≥ %d)", code, resumed, reused, before-1)
	}
}

func countStatus(rs []map[string]any, status string) int {
	n := 0
	for _, r := range rs {
		if r["status"] == status {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
