package runs_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/runs"
	"github.com/s3flow/s3flow/internal/store"
)

// BenchmarkHistoryGrowth runs a flow over a listing of 1,000,000 bundles
// (filter, then count) and reports what one run adds to the database,
// with the history's default detail and with every bundle kept whole
// (history_detail: all), on SQLite and, with S3FLOW_TEST_POSTGRES, on
// PostgreSQL. Run it with -benchtime=1x:
//
//	go test -run '^$' -bench HistoryGrowth -benchtime 1x ./internal/runs
func BenchmarkHistoryGrowth(b *testing.B) {
	const bundles = 1_000_000
	for _, dialect := range []store.Dialect{store.SQLite, store.Postgres} {
		for _, detail := range []string{"1000", "all"} {
			b.Run(fmt.Sprintf("%s/detail=%s", dialect, detail), func(b *testing.B) {
				db := openDB(b, dialect)
				hist, reg := setup(b, db)
				src := fmt.Sprintf(`name: count
history_detail: %s
steps:
  - {id: list, module: test.list, with: {n: %d}}
  - {id: odd, module: flow.filter, with: {condition: "{{ steps.list.n %% 2 == 1 }}"}}
  - {id: total, module: flow.aggregate, with: {from: odd, items: false}}
`, detail, bundles)
				before := dbSize(b, db)
				for b.Loop() {
					_, res := runFlow(b, hist, reg, src, nil)
					if res.Err != nil {
						b.Fatal(res.Err)
					}
				}
				grown := dbSize(b, db) - before
				b.ReportMetric(float64(grown)/float64(b.N)/1e6, "MB/run")
				b.ReportMetric(float64(bundles)*float64(b.N)/b.Elapsed().Seconds(), "bundles/s")
			})
		}
	}
}

// dbSize is what the database holds, in bytes: SQLite's pages (the WAL's
// included), PostgreSQL's runs tables with their indexes and TOAST.
func dbSize(b *testing.B, db *store.DB) int64 {
	b.Helper()
	var n int64
	q := `SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`
	if db.Dialect == store.Postgres {
		q = `SELECT pg_total_relation_size('runs') + pg_total_relation_size('run_events') + pg_total_relation_size('run_step_summaries')`
	}
	if err := db.QueryRowContext(b.Context(), q).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkEventWrites queues step events as a bulk upload's history does
// (a file's bundle in, the object's bundle out) and writes them in
// batches; it reports the cost per event, recording included.
func BenchmarkEventWrites(b *testing.B) {
	for _, dialect := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(fmt.Sprint(dialect), func(b *testing.B) {
			db := openDB(b, dialect)
			hist := runs.New(db)
			ctx := b.Context()
			started := time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)
			if err := hist.StartRun(ctx, engine.RunInfo{ID: "bench", Flow: "upload", Started: started, HistoryDetail: flow.HistoryDetailAll}); err != nil {
				b.Fatal(err)
			}
			seq := int64(0)
			for b.Loop() {
				seq++
				ev := engine.Event{RunID: "bench", Seq: seq, Path: fmt.Sprintf("files#%d", seq), StepID: "put", Step: 1, Module: "s3.upload_file",
					Status: engine.EventOK, Started: started, Duration: time.Millisecond,
					Input: map[string]any{"bucket": "small", "folder": "p", "file": fmt.Sprintf("/data/small/f%05d.bin", seq)},
					Output: map[string]any{"bucket": "small", "key": fmt.Sprintf("p/f%05d.bin", seq), "etag": `"0123456789abcdef0123456789abcdef"`,
						"size": int64(10240), "versionId": "", "location": "http://127.0.0.1/small/p/f.bin"}}
				if err := hist.Event(ctx, ev); err != nil {
					b.Fatal(err)
				}
			}
			if err := hist.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}
