package runs_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/runs"
	"github.com/s3flow/s3flow/internal/store"
)

func TestMask(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   map[string]any
		want string
	}{
		{"nil", nil, "map[]"},
		{"plain", map[string]any{"bucket": "b", "n": 3}, "map[bucket:b n:3]"},
		{"input names", map[string]any{"api_token": "hunter2", "DB-Password": "pw", "client_secret": "s", "bucket": "b"},
			"map[DB-Password:*** api_token:*** bucket:b client_secret:***]"},
		{"headers", map[string]any{"Authorization": "Bearer x", "x-amz-server-side-encryption-customer-key": "k",
			"X-Amz-Server-Side-Encryption-Customer-Key-MD5": "md5"},
			"map[Authorization:*** X-Amz-Server-Side-Encryption-Customer-Key-MD5:md5 x-amz-server-side-encryption-customer-key:***]"},
		{"nested maps and lists", map[string]any{"body": map[string]any{"items": []any{
			map[string]any{"token": "t1", "key": "a"}, "plain", []any{map[string]any{"password": "p"}}}}},
			"map[body:map[items:[map[key:a token:***] plain [map[password:***]]]]]"},
		{"a secret name masks a whole value", map[string]any{"secrets": map[string]any{"a": "b"}}, "map[secrets:***]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := fmt.Sprint(runs.Mask(tt.in)); got != tt.want {
				t.Errorf("Mask = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestMaskLeavesItsArgumentAlone(t *testing.T) {
	t.Parallel()
	in := map[string]any{"api_token": "hunter2", "body": map[string]any{"password": "p"}}
	runs.Mask(in)
	if got := fmt.Sprint(in); got != "map[api_token:hunter2 body:map[password:p]]" {
		t.Errorf("Mask changed its argument: %s", got)
	}
}

func TestHasMasked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   map[string]any
		want bool
	}{
		{nil, false},
		{map[string]any{"bucket": "b"}, false},
		{map[string]any{"note": "***"}, false}, // not a secret name: the value was given so
		{map[string]any{"api_token": "***"}, true},
		{map[string]any{"body": []any{map[string]any{"token": "***"}}}, true},
	}
	for _, tt := range tests {
		if got := runs.HasMasked(tt.in); got != tt.want {
			t.Errorf("HasMasked(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestQueueMasks: a run queued by the server (the API, a webhook, a
// trigger) keeps no secret, in its inputs or in its trigger data, in the
// history or anywhere in the table; like a run the engine starts.
func TestQueueMasks(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *store.DB) {
		hist := runs.New(db)
		ctx := t.Context()
		inputs := map[string]any{"api_token": "hunter2", "bucket": "b"}
		trigger := map[string]any{"type": "webhook", "body": map[string]any{"password": "hunter3", "files": []any{"a"}}}
		if err := hist.Queue(ctx, engine.RunInfo{ID: "q1", Flow: "f", Inputs: inputs, Trigger: trigger, Started: time.Now()}); err != nil {
			t.Fatal(err)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if err := hist.QueueTx(ctx, tx, runs.Queued{Run: engine.RunInfo{ID: "q2", Flow: "f", Inputs: inputs, Trigger: trigger, Started: time.Now()}, Job: 42}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"q1", "q2"} {
			r, err := hist.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(r.Inputs, r.Trigger); got != "map[api_token:*** bucket:b] map[body:map[files:[a] password:***] type:webhook]" {
				t.Errorf("run %s recorded as %s", id, got)
			}
			if r.Status != runs.StatusQueued {
				t.Errorf("run %s is %s, want queued", id, r.Status)
			}
		}
		if job, err := hist.Job(ctx, "q2"); err != nil || job != 42 {
			t.Errorf("job of q2: %d, %v; want 42", job, err)
		}
		dump := column(t, db, `SELECT inputs || trigger FROM runs`)
		if strings.Contains(dump, "hunter") {
			t.Errorf("the runs table holds a secret: %s", dump)
		}
		// The inputs given are the caller's: the queue job carries them as given.
		if inputs["api_token"] != "hunter2" {
			t.Errorf("Queue changed the caller's inputs: %v", inputs)
		}
	})
}

// TestFormatTimeSortsAsText: the runs tables compare times as text, which
// holds only while every time has the same width: whole seconds, and
// fractions with trailing zeros, included.
func TestFormatTimeSortsAsText(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	times := []time.Time{base, base.Add(time.Nanosecond), base.Add(500 * time.Millisecond), base.Add(time.Second),
		base.Add(10 * time.Microsecond), base.In(time.FixedZone("east", 3600)).Add(-time.Nanosecond)}
	var texts []string
	for _, tm := range times {
		texts = append(texts, runs.FormatTime(tm))
	}
	sorted := append([]string(nil), texts...)
	sort.Strings(sorted)
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	for i, tm := range times {
		if sorted[i] != runs.FormatTime(tm) {
			t.Fatalf("text order %v differs from time order at %d (%s)", sorted, i, runs.FormatTime(tm))
		}
		if len(sorted[i]) != len(sorted[0]) {
			t.Errorf("%s is not as wide as %s", sorted[i], sorted[0])
		}
	}
}
