package server_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/s3test"
	"github.com/s3flow/s3flow/internal/store/storetest"
)

// newPostgresEnv is an env whose server only accepts runs (--workers 0)
// on a PostgreSQL database of its own; workers started with startWorker do
// them. Every process has its own S3FLOW_HOME: the database and the
// encryption key are all they share.
func newPostgresEnv(t *testing.T, tg s3test.Target, endpoint string) *env {
	key := make([]byte, 32)
	rand.Read(key)
	e := newEnv(t, tg, endpoint, "S3FLOW_DATABASE="+storetest.Postgres(t), "S3FLOW_ENCRYPTION_KEY="+hex.EncodeToString(key))
	e.args = []string{"--workers", "0", "--rescue-after", "2s"}
	return e
}

type worker struct {
	id   string
	addr string // of its /metrics
	cmd  *exec.Cmd
	log  *bytes.Buffer
}

// startWorker starts "s3flow worker" with its own home.
func (e *env) startWorker(id string) *worker {
	e.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	w := &worker{id: id, addr: l.Addr().String(), log: &bytes.Buffer{}}
	l.Close()
	w.cmd = exec.Command(binary, "worker", "--flows", e.flows, "--id", id, "--workers", "4", "--rescue-after", "2s", "--addr", w.addr, "--allow-private-endpoints")
	w.cmd.Env = append(append(os.Environ(), "S3FLOW_HOME="+e.t.TempDir()), e.shared...)
	w.cmd.Stdout, w.cmd.Stderr = w.log, w.log
	if err := w.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { w.stop(syscall.SIGTERM) })
	return w
}

func (w *worker) stop(sig syscall.Signal) {
	if w.cmd.Process == nil || w.cmd.ProcessState != nil {
		return
	}
	w.cmd.Process.Signal(sig)
	w.cmd.Wait()
}

// putCounter is a proxy in front of the test S3 server that counts the
// uploads under incoming/ (and how many are in flight at once), each
// slowed by delay.
type putCounter struct {
	*httptest.Server
	mu             sync.Mutex
	puts           map[string]int
	inFlight, most int
}

func newPutCounter(t *testing.T, endpoint string, delay time.Duration) *putCounter {
	target, _ := url.Parse(endpoint)
	proxy := httputil.NewSingleHostReverseProxy(target)
	pc := &putCounter{puts: map[string]int{}}
	pc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/incoming/") {
			pc.mu.Lock()
			pc.inFlight++
			pc.most = max(pc.most, pc.inFlight)
			pc.mu.Unlock()
			time.Sleep(delay)
			defer func() {
				pc.mu.Lock()
				pc.inFlight--
				pc.puts[r.URL.Path]++
				pc.mu.Unlock()
			}()
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(pc.Close)
	return pc
}

func (pc *putCounter) total() int {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	n := 0
	for _, c := range pc.puts {
		n += c
	}
	return n
}

// repeated returns the paths uploaded more than once.
func (pc *putCounter) repeated() []string {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	var out []string
	for p, c := range pc.puts {
		if c > 1 {
			out = append(out, fmt.Sprintf("%s ×%d", p, c))
		}
	}
	return out
}

func (e *env) hook(flow string, body any) string {
	e.t.Helper()
	data, _ := json.Marshal(body)
	code, out := e.do("POST", "/hooks/"+flow, "", data, map[string]string{"X-S3flow-Token": hookSecret})
	if code != 202 {
		e.t.Fatalf("webhook %s: %d %v", flow, code, out)
	}
	return out["run"].(string)
}

// run returns a run as GET /api/runs/{id} shows it, with its events.
func (e *env) run(id string) (run map[string]any, events []any) {
	e.t.Helper()
	code, out := e.do("GET", "/api/runs/"+id, e.token, nil, nil)
	if code != 200 {
		e.t.Fatalf("run %s: %d %v", id, code, out)
	}
	run, _ = out["run"].(map[string]any)
	events, _ = out["events"].([]any)
	return run, events
}

// listCount counts the objects under prefix with the aws CLI.
func listCount(t *testing.T, tg s3test.Target, bucket, prefix string) int {
	var listed struct{ Contents []struct{ Key string } }
	json.Unmarshal([]byte(tg.AWS(t, "s3api", "list-objects-v2", "--bucket", bucket, "--prefix", prefix)), &listed)
	return len(listed.Contents)
}

func status(run map[string]any, _ []any) any { return run["status"] }

// TestPostgresTwoWorkers: a server that only accepts runs and two workers
// share one PostgreSQL database; 200 webhook calls make 200 runs, each
// worked exactly once (one upload per run, none repeated), split across
// both workers.
func TestPostgresTwoWorkers(t *testing.T) {
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	pc := newPutCounter(t, tg.Conn.Endpoint, 0)
	e := newPostgresEnv(t, tg, pc.URL)
	e.writeFlow("hook", fmt.Sprintf(uploadFlow, "hook", bucket))
	e.start()
	w1, w2 := e.startWorker("w1"), e.startWorker("w2")

	const n = 200
	ids := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ids[i] = e.hook("hook", map[string]any{"files": []string{fmt.Sprintf("r%03d", i)}})
		})
	}
	wg.Wait()
	waitFor(t, func() bool { return countStatus(e.runs(), "succeeded") == n })

	rs := e.runs()
	if len(rs) != n {
		t.Errorf("%d runs recorded, want %d", len(rs), n)
	}
	byWorker := map[string]int{}
	for _, r := range rs {
		byWorker[fmt.Sprint(r["worker"])]++
	}
	t.Logf("runs by worker: %v", byWorker)
	if byWorker["w1"] == 0 || byWorker["w2"] == 0 || byWorker["w1"]+byWorker["w2"] != n {
		t.Errorf("runs by worker %v: want all %d split across w1 and w2\nw1:\n%s\nw2:\n%s", byWorker, n, w1.log, w2.log)
	}
	if got := pc.total(); got != n {
		t.Errorf("%d uploads, want %d (one per run)", got, n)
	}
	// Each worker counts the runs it did in its own /metrics.
	for _, w := range []*worker{w1, w2} {
		resp, err := http.Get("http://" + w.addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := fmt.Sprintf(`s3flow_runs_total{flow="hook",status="succeeded"} %d`, byWorker[w.id])
		if !strings.Contains(string(body), want) {
			t.Errorf("worker %s /metrics lacks %s", w.id, want)
		}
	}
	if rep := pc.repeated(); len(rep) > 0 {
		t.Errorf("uploaded more than once: %v", rep)
	}
	if got := listCount(t, tg, bucket, "incoming/"); got != n {
		t.Errorf("the aws CLI lists %d objects, want %d", got, n)
	}
}

// TestPostgresWorkerDies: SIGKILL the worker in the middle of a run that
// uploads 20 files; the other worker resumes it (no restart needed) from
// its last completed step, and every file is there exactly once.
func TestPostgresWorkerDies(t *testing.T) {
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	pc := newPutCounter(t, tg.Conn.Endpoint, 150*time.Millisecond)
	e := newPostgresEnv(t, tg, pc.URL)
	e.writeFlow("twenty", fmt.Sprintf(uploadFlow, "twenty", bucket))
	e.start()
	workers := map[string]*worker{"w1": e.startWorker("w1"), "w2": e.startWorker("w2")}

	var files []string
	for i := range 20 {
		files = append(files, fmt.Sprintf("f%02d", i))
	}
	id := e.hook("twenty", map[string]any{"files": files})
	waitFor(t, func() bool { return pc.total() >= 6 })
	run, _ := e.run(id)
	first := fmt.Sprint(run["worker"])
	victim, ok := workers[first]
	if !ok {
		t.Fatalf("run %s is on worker %q, want w1 or w2", id, first)
	}
	victim.stop(syscall.SIGKILL)
	before := pc.total()
	if before >= 20 {
		t.Fatalf("the run finished before the kill (%d uploads); the test proves nothing", before)
	}

	waitFor(t, func() bool { return status(e.run(id)) == "succeeded" })
	r, events := e.run(id)
	if r["worker"] == first {
		t.Errorf("run finished on %v, the worker that was killed", r["worker"])
	}
	if got := listCount(t, tg, bucket, "incoming/"); got != 20 {
		t.Errorf("the aws CLI lists %d objects, want 20", got)
	}
	// At most the upload in flight at the kill is repeated.
	if rep := pc.repeated(); len(rep) > 1 {
		t.Errorf("uploaded again after the kill: %v", rep)
	}
	resumed := 0
	for _, ev := range events {
		if ev.(map[string]any)["status"] == "resumed-run" {
			resumed++
		}
	}
	if resumed != 1 {
		t.Errorf("%d resumed-run events, want 1", resumed)
	}
}

// TestPostgresMaxConcurrentRuns: a flow with max_concurrent_runs: 1 never
// has two runs going, though two workers have eight slots between them.
func TestPostgresMaxConcurrentRuns(t *testing.T) {
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	pc := newPutCounter(t, tg.Conn.Endpoint, 100*time.Millisecond)
	e := newPostgresEnv(t, tg, pc.URL)
	e.writeFlow("one", strings.Replace(fmt.Sprintf(uploadFlow, "one", bucket), "trigger:", "max_concurrent_runs: 1\ntrigger:", 1))
	e.start()
	e.startWorker("w1")
	e.startWorker("w2")
	for i := range 6 {
		e.hook("one", map[string]any{"files": []string{fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i)}})
	}
	waitFor(t, func() bool { return countStatus(e.runs(), "succeeded") == 6 })
	pc.mu.Lock()
	most := pc.most
	pc.mu.Unlock()
	if most != 1 {
		t.Errorf("%d uploads were in flight at once; max_concurrent_runs: 1 allows 1", most)
	}
	if got := pc.total(); got != 12 {
		t.Errorf("%d uploads, want 12", got)
	}
}

// TestCancelRetry: cancelling a run through the API stops it between
// uploads and marks it cancelled; retrying it resumes the same run, which
// reuses the uploads it did and finishes the rest. Cancelling a finished
// run, or retrying a succeeded one, is a conflict. On PostgreSQL the run is
// on a worker, and the cancel reaches it through the queue.
func TestCancelRetry(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testCancelRetry(t, false) })
	t.Run("postgres", func(t *testing.T) { testCancelRetry(t, true) })
}

func testCancelRetry(t *testing.T, postgres bool) {
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	pc := newPutCounter(t, tg.Conn.Endpoint, 100*time.Millisecond)
	var e *env
	if postgres {
		e = newPostgresEnv(t, tg, pc.URL)
	} else {
		e = newEnv(t, tg, pc.URL)
	}
	e.writeFlow("ten", fmt.Sprintf(uploadFlow, "ten", bucket))
	e.start()
	if postgres {
		e.startWorker("w1")
	}
	var files []string
	for i := range 10 {
		files = append(files, fmt.Sprintf("f%02d", i))
	}
	id := e.hook("ten", map[string]any{"files": files})
	waitFor(t, func() bool { return pc.total() >= 3 })
	code, out := e.do("POST", "/api/runs/"+id+"/cancel", e.token, nil, nil)
	if code != 200 || out["status"] != "cancelled" {
		t.Fatalf("cancel: %d %v\n%s", code, out, e.srvLog)
	}
	// The upload in flight at the cancel ends at the proxy a little later.
	time.Sleep(300 * time.Millisecond)
	done := pc.total()
	time.Sleep(500 * time.Millisecond)
	if pc.total() != done || done >= 10 {
		t.Fatalf("uploads went on after the cancel: %d then %d", done, pc.total())
	}
	if code, out := e.do("POST", "/api/runs/"+id+"/cancel", e.token, nil, nil); code != 409 {
		t.Errorf("cancel a cancelled run: %d %v, want 409", code, out)
	}

	code, out = e.do("POST", "/api/runs/"+id+"/retry", e.token, nil, nil)
	if code != 200 {
		t.Fatalf("retry: %d %v", code, out)
	}
	waitFor(t, func() bool { return status(e.run(id)) == "succeeded" })
	if got := listCount(t, tg, bucket, "incoming/"); got != 10 {
		t.Errorf("the aws CLI lists %d objects, want 10", got)
	}
	if rep := pc.repeated(); len(rep) > 1 {
		t.Errorf("uploaded again by the retry: %v", rep)
	}
	if code, out := e.do("POST", "/api/runs/"+id+"/retry", e.token, nil, nil); code != 409 {
		t.Errorf("retry a succeeded run: %d %v, want 409", code, out)
	}
	if code, _ := e.do("POST", "/api/runs/nope/cancel", e.token, nil, nil); code != 404 {
		t.Errorf("cancel an unknown run: %d, want 404", code)
	}
}

// twin is a second server on e's database: its own home and address, the
// same flows, connections and tokens (they are in the database).
func (e *env) twin() *env {
	return &env{t: e.t, home: e.t.TempDir(), flows: e.flows, token: e.token, hookEnv: e.hookEnv,
		endpoint: e.endpoint, args: e.args, shared: e.shared}
}

// TestPostgresTriggersOneLeader: two servers share a database and a
// watch_files flow; a new file starts one run, not one per server. When the
// server running the triggers stops, the other takes over.
func TestPostgresTriggersOneLeader(t *testing.T) {
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	put := putter(t, tg, bucket)
	a := newPostgresEnv(t, tg, tg.Conn.Endpoint)
	a.args = []string{"--workers", "1", "--rescue-after", "2s"}
	a.writeFlow("watch", fmt.Sprintf(watchFlow, bucket, bucket))
	a.start()
	b := a.twin()
	b.start()
	time.Sleep(2 * time.Second) // the first poll records what exists
	put("incoming/one.txt")
	waitFor(t, func() bool { return countStatus(a.runs(), "succeeded") == 1 })
	time.Sleep(3 * time.Second) // more polls, by either server, fire nothing more
	if n := len(b.runs()); n != 1 {
		t.Fatalf("%d runs for one new file, want 1", n)
	}

	// Stop whichever server leads; the other takes the triggers over.
	leader, other := a, b
	if !strings.Contains(a.srvLog.String(), "runs the schedule and watch_files triggers") {
		leader, other = b, a
	}
	leader.stop(syscall.SIGTERM)
	put("incoming/two.txt")
	waitFor(t, func() bool { return countStatus(other.runs(), "succeeded") == 2 })
	if !strings.Contains(other.srvLog.String(), "runs the schedule and watch_files triggers") {
		t.Errorf("the other server did not take the triggers over:\n%s", other.srvLog)
	}
}
