package runs_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/module/builtin"
	"github.com/s3flow/s3flow/internal/runs"
	"github.com/s3flow/s3flow/internal/store"
	"github.com/s3flow/s3flow/internal/store/storetest"
)

// sseKey is a secret that must never reach the database.
const sseKey = "c2VjcmV0LWN1c3RvbWVyLWtleS0zMmJ5dGVzISEhIQ=="

// forEachDB runs fn on each kind of database the runs store keeps its
// tables in, as parallel subtests: a fresh SQLite file, and a fresh
// PostgreSQL database on the test server (skipped without
// S3FLOW_TEST_POSTGRES, failed under CI=true). One suite, every dialect,
// like River's driver tests: a query that differs between them fails here.
func forEachDB(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	t.Parallel()
	for _, dialect := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(dialect.String(), func(t *testing.T) {
			t.Parallel()
			fn(t, openDB(t, dialect))
		})
	}
}

// openDB opens a fresh, migrated database of the dialect, closed when the
// test ends.
func openDB(t testing.TB, dialect store.Dialect) *store.DB {
	t.Helper()
	target := filepath.Join(t.TempDir(), "s3flow.db")
	if dialect == store.Postgres {
		target = storetest.Postgres(t)
	}
	db, err := store.Open(t.Context(), target)
	if err != nil {
		t.Fatal(err)
	}
	// Registered after storetest's cleanup, so it runs first: the database
	// is closed before it is dropped.
	t.Cleanup(func() { db.Close() })
	return db
}

// setup returns the run history in db and a registry with the built-in
// modules plus test.list (emits n bundles {n}) and test.echo (emits its
// value and headers, a file made of its value, a token, and fails when fail
// is true).
func setup(t testing.TB, db *store.DB) (*runs.Store, *module.Registry) {
	t.Helper()
	reg := &module.Registry{}
	reg.Register(builtin.Modules()...)
	reg.Register(
		&module.Module{
			Name: "test.list", Many: true,
			Fields:  []module.Field{{Name: "n", Type: module.Int, Default: int64(3)}},
			Outputs: []module.Output{{Name: "n", Type: module.Int}},
			Run: func(_ context.Context, _ module.Env, in module.Values, emit func(module.Bundle) error) error {
				for i := range in.Int("n") {
					if err := emit(module.Bundle{"n": i}); err != nil {
						return err
					}
				}
				return nil
			},
		},
		&module.Module{
			Name: "test.echo",
			Fields: []module.Field{
				{Name: "value", Type: module.String},
				{Name: "headers", Type: module.Pairs},
				{Name: "fail", Type: module.Bool},
			},
			Run: func(_ context.Context, _ module.Env, in module.Values, emit func(module.Bundle) error) error {
				if in.Bool("fail") {
					return errors.New("echo refused")
				}
				return emit(module.Bundle{
					"value":   in.String("value"),
					"headers": in.Pairs("headers"),
					"file":    &module.BytesFile{FileName: "v.txt", Data: []byte("file data " + in.String("value"))},
					"token":   sseKey,
				})
			},
		},
	)
	return runs.New(db), reg
}

func runFlow(t testing.TB, hist *runs.Store, reg *module.Registry, src string, inputs map[string]any) (*flow.Flow, *engine.Result) {
	t.Helper()
	f, err := flow.Parse("flows/t.yaml", []byte(src), reg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := engine.New(engine.Options{Registry: reg, Recorder: hist, SpoolDir: t.TempDir()}).Run(t.Context(), f, inputs, nil)
	if res == nil {
		t.Fatalf("run: %v", err)
	}
	return f, res
}

func events(t *testing.T, hist *runs.Store, id string) []runs.StepEvent {
	t.Helper()
	var out []runs.StepEvent
	if err := hist.Events(t.Context(), id, func(ev runs.StepEvent) error {
		out = append(out, ev)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRecordRun(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *store.DB) {
		hist, reg := setup(t, db)
		long := strings.Repeat("é", 3000) // 6000 bytes, 2 per character
		f, res := runFlow(t, hist, reg, `name: rec
inputs:
  note: {type: string}
  sse_customer_key: {type: string, default: "`+sseKey+`"}
  api_token: {type: string, default: "`+sseKey+`"}
steps:
  - {id: list, module: test.list, with: {n: 3}}
  - id: echo
    module: test.echo
    with:
      value: "{{ inputs.note }}"
      headers:
        x-amz-server-side-encryption-customer-key: "{{ inputs.sse_customer_key }}"
        X-Amz-Server-Side-Encryption-Customer-Key-MD5: md5value
        Content-Type: text/plain
`, map[string]any{"note": long})
		if res.Err != nil {
			t.Fatal(res.Err)
		}

		run, err := hist.Get(t.Context(), res.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if run.ID != res.RunID || run.Flow != "rec" || run.FlowFile != "flows/t.yaml" || run.FlowHash != f.Hash || run.Status != engine.StatusSucceeded || run.Error != "" {
			t.Errorf("run %+v", run)
		}
		if run.Finished == nil || run.Finished.Before(run.Started) || time.Since(run.Started) > time.Minute {
			t.Errorf("started %v, finished %v", run.Started, run.Finished)
		}
		if note, _ := run.Inputs["note"].(string); !strings.HasSuffix(note, "…[truncated, 6000 bytes in all]") {
			t.Errorf("the long input is not truncated: %.40q…", note)
		}
		if run.Inputs["sse_customer_key"] != "***" || run.Inputs["api_token"] != "***" {
			t.Errorf("secret inputs stored as %v, %v", run.Inputs["sse_customer_key"], run.Inputs["api_token"])
		}

		evs := events(t, hist, res.RunID)
		if len(evs) != 6 {
			t.Fatalf("%d events, want 6", len(evs))
		}
		for i, ev := range evs {
			wantStep := []string{"list", "echo"}[i%2]
			if ev.Seq != int64(i+1) || ev.StepID != wantStep || ev.Status != engine.EventOK || ev.Attempt != 1 || ev.Started.IsZero() || ev.Duration < 0 {
				t.Errorf("event %d: %+v", i, ev)
			}
		}
		if got := fmt.Sprint(evs[2].Input, evs[2].Output); got != "map[n:3] map[n:1]" {
			t.Errorf("list event 3: %s", got)
		}
		echo := evs[3]
		if echo.Module != "test.echo" {
			t.Errorf("module %q", echo.Module)
		}
		for _, v := range []any{echo.Input["value"], echo.Output["value"]} {
			s, _ := v.(string)
			if !strings.HasSuffix(s, "…[truncated, 6000 bytes in all]") || !utf8.ValidString(s) || len(s) > 4096+50 {
				t.Errorf("long value stored as %d bytes, valid UTF-8 %v: %.40q…", len(s), utf8.ValidString(s), s)
			}
		}
		wantHeaders := "map[Content-Type:text/plain X-Amz-Server-Side-Encryption-Customer-Key-MD5:md5value x-amz-server-side-encryption-customer-key:***]"
		if got := fmt.Sprint(echo.Input["headers"]); got != wantHeaders {
			t.Errorf("input headers %s, want %s", got, wantHeaders)
		}
		if got := fmt.Sprint(echo.Output["headers"]); got != wantHeaders {
			t.Errorf("output headers %s, want %s", got, wantHeaders)
		}
		if got := fmt.Sprint(echo.Output["file"]); got != "map[file:v.txt size:6010]" {
			t.Errorf("file stored as %s, want its description", got)
		}
		if echo.Output["token"] != "***" {
			t.Errorf("token stored as %v", echo.Output["token"])
		}

		// Nothing secret and no file data anywhere in the database.
		dump := column(t, db, `SELECT coalesce(input, '') || coalesce(output, '') || error FROM run_events`)
		var inputs, trigger string
		if err := db.QueryRowContext(t.Context(), `SELECT inputs, trigger FROM runs WHERE id = ?`, res.RunID).Scan(&inputs, &trigger); err != nil {
			t.Fatal(err)
		}
		for _, text := range []string{dump, inputs} {
			if strings.Contains(text, sseKey) || strings.Contains(text, "file data") {
				t.Errorf("the database holds a secret or file data: %.300s", text)
			}
		}
		if trigger != "{}" {
			t.Errorf("no trigger stored as %q, want {}", trigger)
		}
	})
}

func TestRecordFailedRun(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *store.DB) {
		hist, reg := setup(t, db)
		_, res := runFlow(t, hist, reg, `name: fails
steps:
  - {id: list, module: test.list, with: {n: 3}}
  - {id: echo, module: test.echo, with: {value: "{{ steps.list.n }}", fail: "{{ steps.list.n == 1 }}"}}
`, nil)
		if res.Status != engine.StatusFailed {
			t.Fatalf("status %s", res.Status)
		}
		run, err := hist.Get(t.Context(), res.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if run.Status != engine.StatusFailed || run.Error != `step "echo": echo refused` {
			t.Errorf("status %q error %q", run.Status, run.Error)
		}
		var got []string
		for _, ev := range events(t, hist, res.RunID) {
			got = append(got, ev.StepID+":"+ev.Status+":"+ev.Error)
		}
		want := []string{"list:ok:", "echo:ok:", "list:ok:", "echo:failed:echo refused"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("events %q, want %q", got, want)
		}
	})
}

// TestBatches records more events than one batch holds.
func TestBatches(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *store.DB) {
		hist, reg := setup(t, db)
		_, res := runFlow(t, hist, reg, `name: big
history_detail: all
steps:
  - {id: list, module: test.list, with: {n: 1201}}
`, nil)
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		evs := events(t, hist, res.RunID)
		if len(evs) != 1201 {
			t.Fatalf("%d events, want 1201", len(evs))
		}
		for i, ev := range evs {
			if ev.Seq != int64(i+1) || ev.Output["n"] != float64(i) {
				t.Fatalf("event %d: seq %d output %v", i, ev.Seq, ev.Output)
			}
		}
		// Events are written as they come, a batch at a time, not all at the end.
		ctx := t.Context()
		if err := hist.StartRun(ctx, engine.RunInfo{ID: "batch", Flow: "x", Started: time.Now()}); err != nil {
			t.Fatal(err)
		}
		for i := range 501 {
			if err := hist.Event(ctx, engine.Event{RunID: "batch", Seq: int64(i + 1), StepID: "s", Status: "ok", Started: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		var n int
		db.QueryRowContext(ctx, `SELECT count(*) FROM run_events WHERE run_id = 'batch'`).Scan(&n)
		if n != 500 {
			t.Errorf("%d events written before the run finished, want one batch of 500", n)
		}
		if err := hist.FinishRun(ctx, engine.RunEnd{ID: "batch", Status: engine.StatusSucceeded, Finished: time.Now()}); err != nil {
			t.Fatal(err)
		}
		db.QueryRowContext(ctx, `SELECT count(*) FROM run_events WHERE run_id = 'batch'`).Scan(&n)
		if n != 501 {
			t.Errorf("%d events written, want 501", n)
		}
	})
}

// record adds a finished run that started at the given time, with events.
func record(t *testing.T, hist *runs.Store, id, flowName, status string, started time.Time, nEvents int) {
	t.Helper()
	ctx := t.Context()
	if err := hist.StartRun(ctx, engine.RunInfo{ID: id, Flow: flowName, FlowFile: flowName + ".yaml", Inputs: map[string]any{"k": id}, Started: started}); err != nil {
		t.Fatal(err)
	}
	for i := range nEvents {
		if err := hist.Event(ctx, engine.Event{RunID: id, Seq: int64(i + 1), StepID: "s", Module: "m", Status: "ok", Started: started}); err != nil {
			t.Fatal(err)
		}
	}
	errText := ""
	if status == engine.StatusFailed {
		errText = "it broke"
	}
	if err := hist.FinishRun(ctx, engine.RunEnd{ID: id, Status: status, Error: errText, Finished: started.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
}

func ids(rs []runs.Run) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return strings.Join(out, ",")
}

func TestList(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *store.DB) {
		hist := runs.New(db)
		base := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
		record(t, hist, "a1", "archive", engine.StatusSucceeded, base, 1)
		record(t, hist, "b1", "backup", engine.StatusFailed, base.Add(time.Minute), 1)
		record(t, hist, "a2", "archive", engine.StatusFailed, base.Add(2*time.Minute), 1)
		record(t, hist, "a3", "archive", engine.StatusIncomplete, base.Add(3*time.Minute), 1)
		tests := []struct {
			filter runs.Filter
			want   string
		}{
			{runs.Filter{}, "a3,a2,b1,a1"},
			{runs.Filter{Flow: "archive"}, "a3,a2,a1"},
			{runs.Filter{Status: engine.StatusFailed}, "a2,b1"},
			{runs.Filter{Flow: "archive", Status: engine.StatusFailed}, "a2"},
			{runs.Filter{Flow: "nosuch"}, ""},
			{runs.Filter{Since: base.Add(90 * time.Second)}, "a3,a2"},
			{runs.Filter{Limit: 2}, "a3,a2"},
		}
		for _, tt := range tests {
			got, err := hist.List(t.Context(), tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if ids(got) != tt.want {
				t.Errorf("List(%+v) = %s, want %s", tt.filter, ids(got), tt.want)
			}
		}
		rs, _ := hist.List(t.Context(), runs.Filter{Flow: "backup"})
		if len(rs) != 1 {
			t.Fatal("backup run missing")
		}
		r := rs[0]
		if r.Error != "it broke" || r.FlowFile != "backup.yaml" || r.Inputs["k"] != "b1" || !r.Started.Equal(base.Add(time.Minute)) || r.Duration() != time.Second {
			t.Errorf("run read back as %+v", r)
		}
	})
}

func TestGetUnknown(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *store.DB) {
		hist := runs.New(db)
		if _, err := hist.Get(t.Context(), "nosuch"); !errors.Is(err, runs.ErrNotFound) {
			t.Errorf("Get(nosuch): %v, want ErrNotFound", err)
		}
	})
}

func TestEventsCallbackError(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *store.DB) {
		hist := runs.New(db)
		record(t, hist, "r", "f", engine.StatusSucceeded, time.Now(), 3)
		stop := errors.New("stop")
		n := 0
		err := hist.Events(t.Context(), "r", func(runs.StepEvent) error {
			n++
			return stop
		})
		if !errors.Is(err, stop) || n != 1 {
			t.Errorf("Events returned %v after %d calls, want stop after 1", err, n)
		}
	})
}

func TestPrune(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *store.DB) {
		hist := runs.New(db)
		now := time.Now().UTC()
		record(t, hist, "old1", "f", engine.StatusSucceeded, now.Add(-40*24*time.Hour), 3)
		record(t, hist, "old2", "f", engine.StatusFailed, now.Add(-31*24*time.Hour), 2)
		record(t, hist, "new", "f", engine.StatusSucceeded, now.Add(-29*24*time.Hour), 4)
		n, err := hist.Prune(t.Context(), now.Add(-30*24*time.Hour))
		if err != nil || n != 2 {
			t.Fatalf("Prune = %d, %v; want 2 runs deleted", n, err)
		}
		for _, id := range []string{"old1", "old2"} {
			if _, err := hist.Get(t.Context(), id); !errors.Is(err, runs.ErrNotFound) {
				t.Errorf("run %s still there: %v", id, err)
			}
		}
		var left int
		db.QueryRowContext(t.Context(), `SELECT count(*) FROM run_events WHERE run_id LIKE 'old%'`).Scan(&left)
		if left != 0 {
			t.Errorf("%d events of pruned runs left", left)
		}
		if got := len(events(t, hist, "new")); got != 4 {
			t.Errorf("the newer run has %d events, want 4", got)
		}
		if n, err := hist.Prune(t.Context(), now.Add(-30*24*time.Hour)); err != nil || n != 0 {
			t.Errorf("second Prune = %d, %v; want 0", n, err)
		}
	})
}

// column returns the text of every row of a one-column query, joined by
// "|": all a table holds, for checks that something is nowhere in it.
func column(t *testing.T, db *store.DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, "|")
}

// TestConcurrentEnds: runs that finish at the same moment, with the
// server's writer running: each FinishRun returns only once its run's end
// and its events are committed.
func TestConcurrentEnds(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *store.DB) {
		hist := runs.New(db)
		ctx := t.Context()
		stop := hist.FlushEvery(ctx, time.Hour, func(err error) { t.Errorf("writer: %v", err) })
		defer stop()
		const n, perRun = 24, 3
		var wg sync.WaitGroup
		for i := range n {
			id := fmt.Sprintf("r%02d", i)
			wg.Go(func() {
				if err := hist.StartRun(ctx, engine.RunInfo{ID: id, Flow: "f", Started: time.Now()}); err != nil {
					t.Error(err)
					return
				}
				for seq := range perRun {
					if err := hist.Event(ctx, engine.Event{RunID: id, Seq: int64(seq + 1), StepID: "s", Status: "ok", Started: time.Now()}); err != nil {
						t.Error(err)
						return
					}
				}
				if err := hist.FinishRun(ctx, engine.RunEnd{ID: id, Status: engine.StatusSucceeded, Finished: time.Now()}); err != nil {
					t.Error(err)
					return
				}
				// Read on the database itself, not through the store.
				var status string
				var finished sql.NullString
				var events int
				err := db.QueryRowContext(ctx, `SELECT status, finished_at, (SELECT count(*) FROM run_events WHERE run_id = runs.id) FROM runs WHERE id = ?`, id).
					Scan(&status, &finished, &events)
				if err != nil || status != engine.StatusSucceeded || !finished.Valid || events != perRun {
					t.Errorf("run %s once FinishRun returned: %s, finished %v, %d events, %v; want succeeded, finished, %d events",
						id, status, finished.Valid, events, err, perRun)
				}
			})
		}
		wg.Wait()
	})
}
