package runs

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/store"
)

// DefaultDetail is how many bundles of each step a run keeps whole when
// neither the flow (history_detail) nor the Store (Detail) says.
const DefaultDetail = 1000

// CountsOnly as a Store's Detail keeps no bundle whole: all that went
// well are counted (what --history-detail 0 asks for; a Detail of 0 is
// the default).
const CountsOnly = -2

// StepSummary is what a run kept of the bundles of one step, with one
// status, past its detail: how many, the bytes they moved (the sum of
// their outputs' size), and how long they took.
type StepSummary struct {
	StepID       string        `json:"step"`
	Module       string        `json:"module"`
	Status       string        `json:"status"`
	Bundles      int64         `json:"bundles"`
	Bytes        int64         `json:"bytes"`
	Duration     time.Duration `json:"durationNs"`
	MinDuration  time.Duration `json:"minDurationNs"`
	MaxDuration  time.Duration `json:"maxDurationNs"`
	FirstStarted time.Time     `json:"firstStartedAt"`
	LastStarted  time.Time     `json:"lastStartedAt"`
}

type sumKey struct{ run, step, status string }

// runDetail is how many bundles of each step a run kept whole so far, and
// how many it may (negative: all).
type runDetail struct {
	limit int64
	kept  map[string]int64
}

// summarised says which events may be kept as counts: those that went
// well. A failure, a retry, an error passed over, a break or a wait is
// always kept whole: it is what people read a history for, and resuming
// a wait needs its state.
func summarised(status string) bool {
	switch status {
	case engine.EventOK, engine.EventFiltered, engine.EventReused:
		return true
	}
	return false
}

// detail sets how many bundles per step the run keeps whole: the flow's
// history_detail, else the Store's Detail, else DefaultDetail.
func (s *Store) detail(run string, flowDetail int) {
	limit := int64(DefaultDetail)
	switch {
	case flowDetail == flow.HistoryDetailAll:
		limit = -1
	case flowDetail > 0:
		limit = int64(flowDetail)
	case s.Detail == CountsOnly:
		limit = 0
	case s.Detail < 0:
		limit = -1
	case s.Detail > 0:
		limit = int64(s.Detail)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kept == nil {
		s.kept = map[string]*runDetail{}
	}
	s.kept[run] = &runDetail{limit: limit, kept: map[string]int64{}}
}

// forget drops what the Store counts for a run that ended.
func (s *Store) forget(run string) {
	s.mu.Lock()
	delete(s.kept, run)
	s.mu.Unlock()
}

// summarise adds ev to its step's summary and reports true when the step
// has kept its detail of bundles whole already; s.mu is held.
func (s *Store) summarise(ev engine.Event) bool {
	if !summarised(ev.Status) {
		return false
	}
	d := s.kept[ev.RunID]
	if d == nil || d.limit < 0 {
		return false
	}
	if d.kept[ev.StepID] < d.limit {
		d.kept[ev.StepID]++
		return false
	}
	k := sumKey{ev.RunID, ev.StepID, ev.Status}
	sum := s.sums[k]
	if sum == nil {
		if s.sums == nil {
			s.sums = map[sumKey]*StepSummary{}
		}
		sum = &StepSummary{StepID: ev.StepID, Module: ev.Module, Status: ev.Status,
			MinDuration: ev.Duration, FirstStarted: ev.Started}
		s.sums[k] = sum
	}
	sum.Bundles++
	sum.Bytes += sizeOf(ev.Output)
	sum.Duration += ev.Duration
	sum.MinDuration = min(sum.MinDuration, ev.Duration)
	sum.MaxDuration = max(sum.MaxDuration, ev.Duration)
	if ev.Started.Before(sum.FirstStarted) {
		sum.FirstStarted = ev.Started
	}
	if ev.Started.After(sum.LastStarted) {
		sum.LastStarted = ev.Started
	}
	return true
}

// sizeOf is a bundle's size output (a file's or an object's bytes), 0
// when it has none.
func sizeOf(out map[string]any) int64 {
	switch n := out["size"].(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case float64:
		return int64(n)
	case json.Number:
		v, _ := n.Int64()
		return v
	}
	return 0
}

// writeSummaries adds sums to what the database holds: a run resumed in
// another process goes on adding to the same rows.
func writeSummaries(ctx context.Context, tx *store.Tx, sums map[sumKey]*StepSummary) error {
	for k, sum := range sums {
		_, err := tx.ExecContext(ctx, `INSERT INTO run_step_summaries (run_id, step_id, module, status, bundles, bytes,
			duration_us, min_duration_us, max_duration_us, first_started, last_started) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (run_id, step_id, status) DO UPDATE SET
				bundles = run_step_summaries.bundles + excluded.bundles,
				bytes = run_step_summaries.bytes + excluded.bytes,
				duration_us = run_step_summaries.duration_us + excluded.duration_us,
				min_duration_us = CASE WHEN excluded.min_duration_us < run_step_summaries.min_duration_us
					THEN excluded.min_duration_us ELSE run_step_summaries.min_duration_us END,
				max_duration_us = CASE WHEN excluded.max_duration_us > run_step_summaries.max_duration_us
					THEN excluded.max_duration_us ELSE run_step_summaries.max_duration_us END,
				first_started = CASE WHEN excluded.first_started < run_step_summaries.first_started
					THEN excluded.first_started ELSE run_step_summaries.first_started END,
				last_started = CASE WHEN excluded.last_started > run_step_summaries.last_started
					THEN excluded.last_started ELSE run_step_summaries.last_started END`,
			k.run, k.step, sum.Module, k.status, sum.Bundles, sum.Bytes, sum.Duration.Microseconds(),
			sum.MinDuration.Microseconds(), sum.MaxDuration.Microseconds(), FormatTime(sum.FirstStarted), FormatTime(sum.LastStarted))
		if err != nil {
			return fmt.Errorf("record the summary of step %s of run %s: %w", k.step, k.run, err)
		}
	}
	return nil
}

// Summaries returns what a run kept as counts, by step (in the order the
// steps first summarised) and status.
func (s *Store) Summaries(ctx context.Context, id string) ([]StepSummary, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT step_id, module, status, bundles, bytes, duration_us, min_duration_us, max_duration_us,
		first_started, last_started FROM run_step_summaries WHERE run_id = ? ORDER BY first_started, step_id, status`, id)
	if err != nil {
		return nil, fmt.Errorf("read the summaries of run %s: %w", id, err)
	}
	defer rows.Close()
	out := []StepSummary{}
	for rows.Next() {
		var sum StepSummary
		var total, least, most int64
		var first, last string
		if err := rows.Scan(&sum.StepID, &sum.Module, &sum.Status, &sum.Bundles, &sum.Bytes, &total, &least, &most, &first, &last); err != nil {
			return nil, fmt.Errorf("read the summaries of run %s: %w", id, err)
		}
		sum.Duration = time.Duration(total) * time.Microsecond
		sum.MinDuration = time.Duration(least) * time.Microsecond
		sum.MaxDuration = time.Duration(most) * time.Microsecond
		if sum.FirstStarted, err = parseTime(first); err != nil {
			return nil, fmt.Errorf("read the summaries of run %s: %w", id, err)
		}
		if sum.LastStarted, err = parseTime(last); err != nil {
			return nil, fmt.Errorf("read the summaries of run %s: %w", id, err)
		}
		out = append(out, sum)
	}
	return out, rows.Err()
}

// eventOverhead is about what a step event costs beyond its text (keys,
// times, the row and its index entry), for PruneSize's estimate.
const eventOverhead = 100

// PruneSize deletes the oldest finished runs, with their events, until
// the history that is left is about maxBytes or less: the text of the
// runs' inputs, events and summaries, plus eventOverhead per event. Runs
// still queued, running or waiting are never deleted (but counted). It
// returns how many runs it deleted. A database file keeps its size: what
// is freed is reused by later runs (VACUUM gives it back on SQLite).
func (s *Store) PruneSize(ctx context.Context, maxBytes int64) (int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT r.id, r.finished_at IS NOT NULL,
		length(r.inputs) + length(r.trigger) + length(r.error)
		+ COALESCE((SELECT sum(COALESCE(length(e.input), 0) + COALESCE(length(e.output), 0) + length(e.error) + ?)
			FROM run_events e WHERE e.run_id = r.id), 0)
		+ COALESCE((SELECT count(*) * ? FROM run_step_summaries m WHERE m.run_id = r.id), 0)
		FROM runs r ORDER BY r.started_at DESC, r.id DESC`, eventOverhead, eventOverhead)
	if err != nil {
		return 0, fmt.Errorf("measure the run history: %w", err)
	}
	var total int64
	var old []string
	for rows.Next() {
		var id string
		var finished bool
		var size int64
		if err := rows.Scan(&id, &finished, &size); err != nil {
			rows.Close()
			return 0, fmt.Errorf("measure the run history: %w", err)
		}
		total += size
		if total > maxBytes && finished {
			old = append(old, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("measure the run history: %w", err)
	}
	var deleted int64
	for len(old) > 0 {
		n := min(len(old), 500)
		if err := s.deleteRuns(ctx, old[:n]); err != nil {
			return deleted, err
		}
		deleted += int64(n)
		old = old[n:]
	}
	return deleted, nil
}

// deleteRuns deletes runs by id, with their events and summaries.
func (s *Store) deleteRuns(ctx context.Context, ids []string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	in := "?" + strings.Repeat(", ?", len(ids)-1)
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	for _, table := range []string{"run_events", "run_step_summaries"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE run_id IN (`+in+`)`, args...); err != nil {
			return fmt.Errorf("delete old runs: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE id IN (`+in+`)`, args...); err != nil {
		return fmt.Errorf("delete old runs: %w", err)
	}
	return tx.Commit()
}
