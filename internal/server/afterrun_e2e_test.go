package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/module/builtin"
	s3mod "github.com/s3flow/s3flow/internal/module/s3"
	"github.com/s3flow/s3flow/internal/s3test"
	"github.com/s3flow/s3flow/internal/server"
	"github.com/s3flow/s3flow/internal/store"
)

// afterFlow moves each new file of incoming/ to done/ when its run
// succeeds; the file there before the first listing fires too.
const afterFlow = `name: after
trigger:
  watch_files: {connection: vg, bucket: %s, prefix: incoming/, every: 1s, fire_existing: true, after: {success: {move_to: done/}}}
steps:
  - {id: items, module: flow.iterate, with: {items: "{{ [trigger.key] }}"}}
`

// oneConnection resolves every connection name to the test server.
type oneConnection struct{ c connection.Connection }

func (r oneConnection) Connection(context.Context, string) (connection.Connection, error) {
	return r.c, nil
}

// copyCounter is a proxy in front of the test server that counts the
// server-side copies (PUTs with x-amz-copy-source) it passes on, by target
// path, after refusing the first refuse of them with AccessDenied (an
// error the SDK does not retry).
type copyCounter struct {
	*httptest.Server
	mu      sync.Mutex
	refuse  int
	copies  map[string]int
	refused int
}

func newCopyCounter(t *testing.T, endpoint string, refuse int) *copyCounter {
	target, _ := url.Parse(endpoint)
	proxy := httputil.NewSingleHostReverseProxy(target)
	cc := &copyCounter{copies: map[string]int{}, refuse: refuse}
	cc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != "" {
			cc.mu.Lock()
			refused := cc.refused < cc.refuse
			if refused {
				cc.refused++
			} else {
				cc.copies[r.URL.Path]++
			}
			cc.mu.Unlock()
			if refused {
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusForbidden)
				io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>refused by the test</Message></Error>`)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(cc.Close)
	return cc
}

func (cc *copyCounter) counts() map[string]int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	out := map[string]int{}
	for k, v := range cc.copies {
		out[k] = v
	}
	return out
}

// afterServer is a server in this process on the database at target;
// stop ends it as a shutdown does, and closes its database handle.
type afterServer struct {
	*eventServer
	db   *store.DB
	stop func()
}

func startAfterServer(t *testing.T, target, flowsDir string, conn connection.Connection, hold bool) *afterServer {
	t.Helper()
	db, err := store.Open(t.Context(), target)
	if err != nil {
		t.Fatal(err)
	}
	reg := &module.Registry{}
	reg.Register(builtin.Modules()...)
	reg.Register(s3mod.Modules()...)
	logs := &logBuffer{}
	cfg := server.Config{DB: db, Registry: reg, Resolver: oneConnection{conn}, AllowPrivateEndpoints: true, FlowsDir: flowsDir, Workers: 1,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if hold {
		server.HoldAfterRuns(&cfg)
	}
	srv, err := server.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	token, err := server.NewTokens(db).Create(t.Context(), fmt.Sprintf("test-%d", time.Now().UnixNano()), server.ScopeAdmin, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l, 5*time.Second) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
			db.Close()
		})
	}
	t.Cleanup(stop)
	return &afterServer{eventServer: &eventServer{t: t, addr: l.Addr().String(), token: token, log: logs}, db: db, stop: stop}
}

// afterJobs returns the state and attempt of each after_run job.
func (a *afterServer) afterJobs() []string {
	a.t.Helper()
	rows, err := a.db.QueryContext(a.t.Context(), `SELECT state, attempt FROM river_job WHERE kind = 'after_run' ORDER BY id`)
	if err != nil {
		a.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var state string
		var attempt int
		if err := rows.Scan(&state, &attempt); err != nil {
			a.t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s/%d", state, attempt))
	}
	if err := rows.Err(); err != nil {
		a.t.Fatal(err)
	}
	return out
}

// afterEvents returns a run's events whose status starts with after-run.
func (a *afterServer) afterEvents(id string) []map[string]any {
	var out []map[string]any
	events, _ := a.run(id)["events"].([]any)
	for _, ev := range events {
		if m, _ := ev.(map[string]any); strings.HasPrefix(fmt.Sprint(m["status"]), "after-run") {
			out = append(out, m)
		}
	}
	return out
}

// TestAfterRunSurvivesStop, on SQLite and PostgreSQL: runs end and their
// files' moves are queued with their status; the server stops before
// working them; a new server on the same database moves the file, once
// (one server-side copy, the aws CLI sees the source gone and the target
// there), and the run's history says so in one after-run event. The other
// file was moved already when the server stopped (by the aws CLI here, as
// an attempt cut short after its delete would leave it): that move is
// found done, not made again.
func TestAfterRunSurvivesStop(t *testing.T) {
	tg := s3test.Versitygw(t)
	for name, target := range eventDatabases(t) {
		t.Run(name, func(t *testing.T) {
			bucket := tg.Bucket(t)
			put := putter(t, tg, bucket)
			put("incoming/sub/a.csv")
			put("incoming/b.csv")
			exists := func(key string) bool {
				_, err := tg.AWSResult("s3api", "head-object", "--bucket", bucket, "--key", key)
				return err == nil
			}
			cc := newCopyCounter(t, tg.Conn.Endpoint, 0)
			conn := tg.Conn
			conn.Name, conn.Endpoint = "vg", cc.URL
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "after.yaml"), []byte(fmt.Sprintf(afterFlow, bucket)), 0o600); err != nil {
				t.Fatal(err)
			}
			db := target(t)

			first := startAfterServer(t, db, dir, conn, true)
			ids := map[string]string{} // run id by key
			waitFor(t, func() bool {
				for _, r := range first.runs() {
					if r["status"] == "succeeded" {
						ids[fmt.Sprint(r["trigger"].(map[string]any)["key"])], _ = r["id"].(string)
					}
				}
				return len(ids) == 2
			})
			// A run's end and its queued move commit together: once both
			// runs show as succeeded their jobs are there, and the first
			// server does not work them.
			if got := first.afterJobs(); len(got) != 2 || got[0] != "available/0" || got[1] != "available/0" {
				t.Fatalf("after_run jobs %v once the runs succeeded, want two available, not attempted", got)
			}
			first.stop()
			if !exists("incoming/sub/a.csv") || exists("done/sub/a.csv") {
				t.Fatal("the file moved before the server stopped: the test proves nothing")
			}
			tg.AWS(t, "s3", "mv", "s3://"+bucket+"/incoming/b.csv", "s3://"+bucket+"/done/b.csv")

			second := startAfterServer(t, db, dir, conn, false)
			waitFor(t, func() bool {
				return len(second.afterEvents(ids["incoming/sub/a.csv"])) > 0 && len(second.afterEvents(ids["incoming/b.csv"])) > 0
			})
			if exists("incoming/sub/a.csv") || !exists("done/sub/a.csv") {
				t.Errorf("after the action: source there %v, target there %v; want it moved", exists("incoming/sub/a.csv"), exists("done/sub/a.csv"))
			}
			if got := tg.AWS(t, "s3", "cp", "s3://"+bucket+"/done/sub/a.csv", "-"); got != "incoming/sub/a.csv" {
				t.Errorf("done/sub/a.csv holds %q, want the original's bytes", got)
			}
			waitFor(t, func() bool {
				got := second.afterJobs()
				return len(got) == 2 && got[0] == "completed/1" && got[1] == "completed/1"
			})
			for key, target := range map[string]string{"incoming/sub/a.csv": "done/sub/a.csv", "incoming/b.csv": "done/b.csv"} {
				events := second.afterEvents(ids[key])
				if len(events) != 1 || events[0]["status"] != "after-run" ||
					!strings.Contains(fmt.Sprint(events[0]["output"]), "moved "+key+" to "+target) {
					t.Errorf("after-run events of %s's run %v, want one saying it moved", key, events)
				}
			}
			copies := cc.counts()
			if len(copies) != 1 || copies["/"+bucket+"/done/sub/a.csv"] != 1 {
				t.Errorf("server-side copies %v, want one to done/sub/a.csv (done/b.csv was there)", copies)
			}
			if got := second.runs(); len(got) != 2 {
				t.Errorf("%d runs, want 2 (the moves fired nothing more)", len(got))
			}
		})
	}
}

// TestAfterRunRetried, on SQLite and PostgreSQL: a move whose copy is
// refused (AccessDenied, once) is tried again with River's backoff and
// done at the second attempt; the history has one after-run event and no
// after-run-failed, and the log says the first attempt failed.
func TestAfterRunRetried(t *testing.T) {
	tg := s3test.Versitygw(t)
	for name, target := range eventDatabases(t) {
		t.Run(name, func(t *testing.T) {
			bucket := tg.Bucket(t)
			putter(t, tg, bucket)("incoming/a.csv")
			cc := newCopyCounter(t, tg.Conn.Endpoint, 1)
			conn := tg.Conn
			conn.Name, conn.Endpoint = "vg", cc.URL
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "after.yaml"), []byte(fmt.Sprintf(afterFlow, bucket)), 0o600); err != nil {
				t.Fatal(err)
			}
			srv := startAfterServer(t, target(t), dir, conn, false)
			waitFor(t, func() bool {
				got := srv.afterJobs()
				return len(got) == 1 && got[0] == "completed/2"
			})
			var id string
			for _, r := range srv.runs() {
				id, _ = r["id"].(string)
			}
			events := srv.afterEvents(id)
			if len(events) != 1 || events[0]["status"] != "after-run" {
				t.Errorf("after-run events %v, want one after-run", events)
			}
			if _, err := tg.AWSResult("s3api", "head-object", "--bucket", bucket, "--key", "done/a.csv"); err != nil {
				t.Errorf("done/a.csv: %v", err)
			}
			if _, err := tg.AWSResult("s3api", "head-object", "--bucket", bucket, "--key", "incoming/a.csv"); err == nil {
				t.Error("incoming/a.csv is still there")
			}
			if log := srv.log.String(); !strings.Contains(log, "it is tried again") || !strings.Contains(log, "AccessDenied") {
				t.Errorf("the log does not say the first attempt failed:\n%s", log)
			}
		})
	}
}

// failFlow fails each run (it asks for a file that is not there) and
// moves the file to failed/.
const failFlow = `name: fail
trigger:
  watch_files: {connection: vg, bucket: %[1]s, prefix: incoming/, every: 1s, fire_existing: true, after: {failure: {move_to: failed/}}}
steps:
  - {id: info, module: s3.get_file_info, connection: vg, with: {bucket: %[1]s, path: absent/nothing.csv}}
`

// TestAfterRunOncePerStatus, on SQLite and PostgreSQL: a failed run's
// file is moved to failed/; the run retried through the API fails again
// and records its end again, which queues no second action (one job per
// run and status).
func TestAfterRunOncePerStatus(t *testing.T) {
	tg := s3test.Versitygw(t)
	for name, target := range eventDatabases(t) {
		t.Run(name, func(t *testing.T) {
			bucket := tg.Bucket(t)
			putter(t, tg, bucket)("incoming/a.csv")
			conn := tg.Conn
			conn.Name = "vg"
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "fail.yaml"), []byte(fmt.Sprintf(failFlow, bucket)), 0o600); err != nil {
				t.Fatal(err)
			}
			srv := startAfterServer(t, target(t), dir, conn, false)
			waitFor(t, func() bool {
				got := srv.afterJobs()
				return len(got) == 1 && got[0] == "completed/1"
			})
			id, _ := srv.runs()[0]["id"].(string)
			if _, err := tg.AWSResult("s3api", "head-object", "--bucket", bucket, "--key", "failed/a.csv"); err != nil {
				t.Fatalf("failed/a.csv: %v", err)
			}
			code, out := srv.post("/api/runs/"+id+"/retry", nil, bearer(srv.token))
			if code != http.StatusOK {
				t.Fatalf("retry: %d %v", code, out)
			}
			waitFor(t, func() bool {
				r, _ := srv.run(id)["run"].(map[string]any)
				return r["status"] == "failed" && r["finishedAt"] != nil
			})
			if got := srv.afterJobs(); len(got) != 1 {
				t.Errorf("after_run jobs %v after the retry failed again, want the one", got)
			}
			if events := srv.afterEvents(id); len(events) != 1 || events[0]["status"] != "after-run" {
				t.Errorf("after-run events %v, want one after-run", events)
			}
		})
	}
}
