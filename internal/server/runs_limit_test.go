package server

import (
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/runs"
	"github.com/s3flow/s3flow/internal/store"
)

// TestShowRunBoundsEvents: GET /api/runs/{id} answers at most maxRunEvents
// events and says when there were more; a small run is answered whole,
// and a run past its history detail with what was kept as counts.
func TestShowRunBoundsEvents(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "s3flow.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := &Server{history: runs.New(db)}
	for id, n := range map[string]int{"big": maxRunEvents + 1, "small": 3, "counted": 5} {
		detail := flow.HistoryDetailAll
		if id == "counted" {
			detail = 2
		}
		if err := s.history.StartRun(ctx, engine.RunInfo{ID: id, Flow: "f", Started: time.Now(), HistoryDetail: detail}); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if err := s.history.Event(ctx, engine.Event{RunID: id, Seq: int64(i), StepID: "s", Module: "flow.iterate", Status: "ok", Started: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.history.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		id      string
		want    int
		more    bool
		counted int64
	}{
		{"big", maxRunEvents, true, 0},
		{"small", 3, false, 0},
		{"counted", 2, false, 3},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/api/runs/"+tc.id, nil)
		req.SetPathValue("id", tc.id)
		if err := s.showRun(rec, req); err != nil {
			t.Fatal(err)
		}
		var out struct {
			Events     []json.RawMessage `json:"events"`
			MoreEvents bool              `json:"moreEvents"`
			Summaries  []runs.StepSummary
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		if len(out.Events) != tc.want || out.MoreEvents != tc.more {
			t.Errorf("run %s: %d events, more %v; want %d, %v", tc.id, len(out.Events), out.MoreEvents, tc.want, tc.more)
		}
		var counted int64
		for _, sum := range out.Summaries {
			counted += sum.Bundles
		}
		if out.Summaries == nil || counted != tc.counted {
			t.Errorf("run %s: summaries %+v, want %d bundles counted", tc.id, out.Summaries, tc.counted)
		}
	}
}
