// Package runs keeps the run history, in SQLite or PostgreSQL: it owns
// every write to the runs and run_events tables (queue, claim, start, step
// events, finish, heartbeats, rescue, prune), masks what it keeps, and
// answers list and show queries.
package runs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/store"
)

// ErrNotFound means no run has that id.
var ErrNotFound = errors.New("no such run")

// Store is the run history. As an engine.Recorder it batches step events
// into transactions, so recording costs little per bundle.
type Store struct {
	db *store.DB
	// Durable makes Event return only once its event is committed, so a
	// run killed mid-way knows exactly what it did (the server's runs).
	// Events that arrive together share one transaction (a group commit):
	// with FlushEvery running, a step waits for one commit, not for one of
	// its own. Otherwise events are written in batches of batchSize.
	Durable bool
	// Detail is how many bundles of each step of a run are kept whole
	// (the first ones); past it the bundles that went well are kept as
	// counts, sizes and durations (0: DefaultDetail; CountsOnly: none
	// whole; other negatives: all). A
	// flow's history_detail wins over it.
	Detail int
	// Worker, when set, is recorded as the process of the runs StartRun
	// starts: ProcessWorker() for the CLI's runs.
	Worker string
	// LockDir, when set, holds the lock files of the runs processes of this
	// machine run (see LockRun): reads show a running run whose process
	// has gone as interrupted.
	LockDir string

	mu sync.Mutex
	// open is the batch being filled; the next Flush writes it.
	open *batch
	// sums are the summarised bundles not written yet; kept counts, by
	// run, the bundles each step kept whole so far.
	sums map[sumKey]*StepSummary
	kept map[string]*runDetail
	// kick, while FlushEvery runs, wakes it to write the open batch, so
	// the step that filled it (or waits for it) needs no transaction of
	// its own.
	kick chan struct{}
}

// batch is events written in one transaction; done is closed once it is
// committed (or failed, err).
type batch struct {
	events []engine.Event
	done   chan struct{}
	err    error
}

// batchSize is how many events are written per transaction when they are
// not Durable; a step waits for the database only when maxPending are
// waiting to be written.
const (
	batchSize  = 500
	maxPending = 8 * batchSize
)

// New returns the history kept in db (migrated by store.Open).
func New(db *store.DB) *Store { return &Store{db: db} }

// StartRun records a run that starts.
func (s *Store) StartRun(ctx context.Context, r engine.RunInfo) error {
	return s.startRun(ctx, r, s.Worker, nil)
}

// StartRunOn records a run that starts on a server's worker, which has
// not claimed it (see Claim): the start records the worker and its first
// heartbeat too, one write instead of two.
func (s *Store) StartRunOn(ctx context.Context, r engine.RunInfo, worker string) error {
	return s.startRun(ctx, r, worker, FormatTime(time.Now()))
}

func (s *Store) startRun(ctx context.Context, r engine.RunInfo, worker string, heartbeat any) error {
	// A run queued earlier, or resumed after an interruption, exists
	// already: it is running (again) now, with the flow version it runs
	// now (a retry after the flow file changed runs the new one).
	// A run of a known worker says so: the worker that claimed a queued
	// run is kept otherwise.
	_, err := s.db.ExecContext(ctx, `INSERT INTO runs (id, flow, flow_file, flow_hash, inputs, trigger, inputs_cut, status, started_at, worker, until_step, heartbeat_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET status = excluded.status, finished_at = NULL, error = '',
			errors_ignored = 0, errors_resumed = 0, bundles_broken = 0,
			flow_file = excluded.flow_file, flow_hash = excluded.flow_hash,
			worker = CASE WHEN excluded.worker = '' THEN runs.worker ELSE excluded.worker END,
			heartbeat_at = coalesce(excluded.heartbeat_at, runs.heartbeat_at)`,
		r.ID, r.Flow, r.FlowFile, r.FlowHash, record(r.Inputs), record(r.Trigger), r.InputsCut,
		engine.StatusRunning, FormatTime(r.Started), worker, r.Until, heartbeat)
	if err != nil {
		return fmt.Errorf("record the start of run %s: %w", r.ID, err)
	}
	s.detail(r.ID, r.HistoryDetail)
	return nil
}

// Event queues a step event; it is written with the next batch (Durable:
// before Event returns), or, past the run's detail for its step, added to
// the step's summary. It may be called by many goroutines at once.
func (s *Store) Event(ctx context.Context, ev engine.Event) error {
	s.mu.Lock()
	if s.summarise(ev) {
		s.mu.Unlock()
		return nil
	}
	if s.open == nil {
		s.open = &batch{done: make(chan struct{})}
	}
	b := s.open
	b.events = append(b.events, ev)
	n, kick := len(b.events), s.kick
	s.mu.Unlock()
	switch {
	case n >= maxPending || (kick == nil && (s.Durable || n >= batchSize)):
		if err := s.Flush(ctx); err != nil {
			return err
		}
	case s.Durable || n >= batchSize:
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	if !s.Durable {
		return nil
	}
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Flush writes the queued events and summaries, in one transaction.
func (s *Store) Flush(ctx context.Context) error {
	s.mu.Lock()
	b, sums := s.open, s.sums
	s.open, s.sums = nil, nil
	s.mu.Unlock()
	if b == nil && len(sums) == 0 {
		return nil
	}
	if b == nil {
		b = &batch{done: make(chan struct{})}
	}
	b.err = s.write(ctx, b.events, sums)
	close(b.done)
	return b.err
}

func (s *Store) write(ctx context.Context, events []engine.Event, sums map[sumKey]*StepSummary) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := insertEvents(ctx, tx, events); err != nil {
		return err
	}
	if err := writeSummaries(ctx, tx, sums); err != nil {
		return err
	}
	return tx.Commit()
}

// eventsPerInsert is how many events one INSERT statement writes: one
// statement per row cost a round through database/sql and the driver
// each (14 columns: 896 parameters, within SQLite's and PostgreSQL's
// limits).
const eventsPerInsert = 64

const insertEventsHead = `INSERT INTO run_events (run_id, seq, path, step_id, step_index, module, attempt, status,
	input, output, output_cut, error, started_at, duration_us) VALUES `

// insertEventsSQL is the INSERT of n events.
func insertEventsSQL(n int) string { return rowsSQL(insertEventsHead, 14, n) }

// rowsSQL is head followed by n rows of cols parameters each.
func rowsSQL(head string, cols, n int) string {
	row := "(" + strings.Repeat("?, ", cols-1) + "?)"
	return head + strings.Repeat(row+", ", n-1) + row
}

var insertFullSQL = insertEventsSQL(eventsPerInsert)

// insertEvents writes events in statements of eventsPerInsert rows, the
// last one shorter.
func insertEvents(ctx context.Context, tx *store.Tx, events []engine.Event) error {
	var full *sql.Stmt
	args := make([]any, 0, 14*min(len(events), eventsPerInsert))
	for len(events) > 0 {
		n := min(len(events), eventsPerInsert)
		args = args[:0]
		for _, ev := range events[:n] {
			args = append(args, ev.RunID, ev.Seq, ev.Path, ev.StepID, ev.Step, ev.Module, ev.Attempt, ev.Status,
				nullJSON(ev.Input), nullJSON(ev.Output), ev.OutputCut, ev.Error, FormatTime(ev.Started), ev.Duration.Microseconds())
		}
		var err error
		if n == eventsPerInsert {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, insertFullSQL); err != nil {
					return err
				}
				defer full.Close()
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, insertEventsSQL(n), args...)
		}
		if err != nil {
			return fmt.Errorf("record events %d to %d of run %s: %w", events[0].Seq, events[n-1].Seq, events[0].RunID, err)
		}
		events = events[n:]
	}
	return nil
}

// FinishRun writes the remaining events and the run's outcome.
func (s *Store) FinishRun(ctx context.Context, end engine.RunEnd) error {
	return s.FinishRunTx(ctx, end, nil)
}

// FinishRunTx writes the remaining events and the run's outcome, and in
// the same transaction calls also (unless nil) with it: what also writes
// (the server queues the trigger's action after the run) is committed with
// the outcome, or neither is.
func (s *Store) FinishRunTx(ctx context.Context, end engine.RunEnd, also func(context.Context, *store.Tx) error) error {
	if err := s.Flush(ctx); err != nil {
		return err
	}
	s.forget(end.ID)
	// A run suspended while a step waits (engine.StatusWaiting) has no
	// end time: it is not finished.
	var finished any
	if !end.Finished.IsZero() {
		finished = FormatTime(end.Finished)
	}
	const outcome = `UPDATE runs SET status = ?, error = ?, finished_at = ?,
		errors_ignored = ?, errors_resumed = ?, bundles_broken = ? WHERE id = ?`
	args := []any{end.Status, end.Error, finished, end.Ignored, end.Resumed, end.Broken, end.ID}
	if also == nil {
		// One statement: no transaction to open and commit around it.
		if _, err := s.db.ExecContext(ctx, outcome, args...); err != nil {
			return fmt.Errorf("record the end of run %s: %w", end.ID, err)
		}
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record the end of run %s: %w", end.ID, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, outcome, args...); err != nil {
		return fmt.Errorf("record the end of run %s: %w", end.ID, err)
	}
	if err := also(ctx, tx); err != nil {
		return fmt.Errorf("record the end of run %s: %w", end.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record the end of run %s: %w", end.ID, err)
	}
	return nil
}

// Run is a recorded run.
type Run struct {
	ID       string         `json:"id"`
	Flow     string         `json:"flow"`
	FlowFile string         `json:"flowFile"`
	FlowHash string         `json:"flowHash"`
	Inputs   map[string]any `json:"inputs"`
	Trigger  map[string]any `json:"trigger,omitempty"`
	// InputsCut says Inputs and Trigger are not all the run was given
	// (long text, a file): a retry cannot run with them.
	InputsCut bool `json:"inputsCut,omitempty"`
	// Until is the step the run stopped after on purpose ("run up to
	// here"); "" for a run of the whole flow.
	Until    string     `json:"until,omitempty"`
	Status   string     `json:"status"`
	Error    string     `json:"error,omitempty"`
	Started  time.Time  `json:"startedAt"`
	Finished *time.Time `json:"finishedAt,omitempty"`
	// Worker is the process that ran it (last): a server's worker id, or
	// for a run of 's3flow run', its pid and host (see ProcessWorker).
	Worker string `json:"worker,omitempty"`
	// IgnoredErrors and ResumedErrors count the step errors on_error's
	// ignore and resume passed over; BrokenBundles the bundles a break
	// stopped (the first is named in Error).
	IgnoredErrors int64 `json:"ignoredErrors"`
	ResumedErrors int64 `json:"resumedErrors"`
	BrokenBundles int64 `json:"brokenBundles"`
}

// Duration is how long the run took (so far).
func (r Run) Duration() time.Duration {
	if r.Finished == nil {
		return time.Since(r.Started)
	}
	return r.Finished.Sub(r.Started)
}

// Filter selects runs.
type Filter struct {
	Flow   string
	Status string
	Since  time.Time
	Limit  int
}

// List returns runs, newest first.
func (s *Store) List(ctx context.Context, f Filter) ([]Run, error) {
	if err := s.checkProcesses(ctx); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	if f.Flow != "" {
		where, args = append(where, "flow = ?"), append(args, f.Flow)
	}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "started_at >= ?"), append(args, FormatTime(f.Since))
	}
	q := `SELECT id, flow, flow_file, flow_hash, inputs, trigger, inputs_cut, status, error, started_at, finished_at, worker, errors_ignored, errors_resumed, bundles_broken, until_step FROM runs`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY started_at DESC, id DESC"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Get returns one run.
func (s *Store) Get(ctx context.Context, id string) (Run, error) {
	if err := s.checkProcesses(ctx); err != nil {
		return Run{}, err
	}
	row := s.db.QueryRowContext(ctx, `SELECT id, flow, flow_file, flow_hash, inputs, trigger, inputs_cut, status, error, started_at, finished_at, worker, errors_ignored, errors_resumed, bundles_broken, until_step FROM runs WHERE id = ?`, id)
	r, err := scanRun(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, fmt.Errorf("run %q: %w (see 's3flow runs list')", id, ErrNotFound)
	}
	return r, err
}

// StepEvent is a recorded step event.
type StepEvent struct {
	Seq      int64          `json:"seq"`
	Path     string         `json:"path,omitempty"`
	StepID   string         `json:"step"`
	Module   string         `json:"module"`
	Attempt  int            `json:"attempt,omitempty"`
	Status   string         `json:"status"`
	Input    map[string]any `json:"input,omitempty"`
	Output   map[string]any `json:"output,omitempty"`
	Error    string         `json:"error,omitempty"`
	Started  time.Time      `json:"startedAt"`
	Duration time.Duration  `json:"durationNs"`
}

// Events calls fn for each event of a run, in order, without holding them
// all in memory.
func (s *Store) Events(ctx context.Context, id string, fn func(StepEvent) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, path, step_id, module, attempt, status, input, output, error, started_at, duration_us
		FROM run_events WHERE run_id = ? ORDER BY seq`, id)
	if err != nil {
		return fmt.Errorf("read events of run %s: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var ev StepEvent
		var in, out sql.NullString
		var started string
		var us int64
		if err := rows.Scan(&ev.Seq, &ev.Path, &ev.StepID, &ev.Module, &ev.Attempt, &ev.Status, &in, &out, &ev.Error, &started, &us); err != nil {
			return err
		}
		if ev.Started, err = parseTime(started); err != nil {
			return fmt.Errorf("read event %d of run %s: %w", ev.Seq, id, err)
		}
		ev.Duration = time.Duration(us) * time.Microsecond
		if in.Valid {
			json.Unmarshal([]byte(in.String), &ev.Input)
		}
		if out.Valid {
			json.Unmarshal([]byte(out.String), &ev.Output)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Prune deletes runs that started before cutoff, with their events.
func (s *Store) Prune(ctx context.Context, cutoff time.Time) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	for _, table := range []string{"run_events", "run_step_summaries"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE run_id IN (SELECT id FROM runs WHERE started_at < ?)`, FormatTime(cutoff)); err != nil {
			return 0, err
		}
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE started_at < ?`, FormatTime(cutoff))
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return n, tx.Commit()
}

type scanner interface{ Scan(...any) error }

func scanRun(row scanner) (Run, error) {
	var r Run
	var inputs, trigger, started string
	var finished sql.NullString
	if err := row.Scan(&r.ID, &r.Flow, &r.FlowFile, &r.FlowHash, &inputs, &trigger, &r.InputsCut, &r.Status, &r.Error, &started, &finished, &r.Worker,
		&r.IgnoredErrors, &r.ResumedErrors, &r.BrokenBundles, &r.Until); err != nil {
		return Run{}, err
	}
	json.Unmarshal([]byte(inputs), &r.Inputs)
	json.Unmarshal([]byte(trigger), &r.Trigger)
	var err error
	if r.Started, err = parseTime(started); err != nil {
		return Run{}, fmt.Errorf("read run %s: %w", r.ID, err)
	}
	if finished.Valid {
		t, err := parseTime(finished.String)
		if err != nil {
			return Run{}, fmt.Errorf("read run %s: %w", r.ID, err)
		}
		r.Finished = &t
	}
	return r, nil
}

func nullJSON(v map[string]any) any {
	if v == nil {
		return nil
	}
	return record(v)
}

// Queue records a run accepted by a trigger before it starts, so that it
// shows in the history as queued.
func (s *Store) Queue(ctx context.Context, r engine.RunInfo) error {
	return queue(ctx, s.db, []Queued{{Run: r}})
}

// Queued is a run recorded as queued, with the queue job that carries it
// (0: none).
type Queued struct {
	Run engine.RunInfo
	Job int64
}

// QueueTx records queued runs in tx, with the queue jobs that carry them
// (inserted in the same transaction), so that the runs and their jobs
// exist together or not at all.
func (s *Store) QueueTx(ctx context.Context, tx *store.Tx, queued ...Queued) error {
	return queue(ctx, tx, queued)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// runsPerInsert is how many queued runs one INSERT records (10 columns:
// 640 parameters), for the same reason as eventsPerInsert.
const runsPerInsert = 64

const queueHead = `INSERT INTO runs (id, flow, flow_file, flow_hash, inputs, trigger, status, started_at, job_id, until_step) VALUES `

func queue(ctx context.Context, db execer, queued []Queued) error {
	args := make([]any, 0, 10*min(len(queued), runsPerInsert))
	for len(queued) > 0 {
		n := min(len(queued), runsPerInsert)
		args = args[:0]
		for _, q := range queued[:n] {
			r := q.Run
			var job any
			if q.Job != 0 {
				job = q.Job
			}
			args = append(args, r.ID, r.Flow, r.FlowFile, r.FlowHash, record(r.Inputs), record(r.Trigger),
				StatusQueued, FormatTime(r.Started), job, r.Until)
		}
		if _, err := db.ExecContext(ctx, rowsSQL(queueHead, 10, n), args...); err != nil {
			if n == 1 {
				return fmt.Errorf("record the queued run %s: %w", queued[0].Run.ID, err)
			}
			return fmt.Errorf("record the queued runs %s to %s: %w", queued[0].Run.ID, queued[n-1].Run.ID, err)
		}
		queued = queued[n:]
	}
	return nil
}

// StatusQueued is a run accepted but not started.
const StatusQueued = "queued"

// Completed returns what a run did before an interruption: the outputs of
// single-result steps that succeeded, by path and step, and the last seq.
// Outputs the history cut short are left out (a file's data is gone with
// the spool; long text was not kept): those steps run again.
func (s *Store) Completed(ctx context.Context, id string) (map[string]map[string]any, int64, error) {
	if err := s.Flush(ctx); err != nil {
		return nil, 0, err
	}
	var last sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT max(seq) FROM run_events WHERE run_id = ?`, id).Scan(&last); err != nil {
		return nil, 0, err
	}
	if !last.Valid {
		return map[string]map[string]any{}, 0, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT e.path, e.step_id, e.output FROM run_events e
		WHERE e.run_id = ? AND e.status IN ('ok', 'reused') AND e.output IS NOT NULL AND NOT e.output_cut`, id)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	done := map[string]map[string]any{}
	for rows.Next() {
		var path, step, output string
		if err := rows.Scan(&path, &step, &output); err != nil {
			return nil, 0, err
		}
		var out map[string]any
		if json.Unmarshal([]byte(output), &out) != nil {
			continue
		}
		done[path+"|"+step] = out
	}
	return done, last.Int64, rows.Err()
}

// Waits returns where the steps of a run that were waiting when it
// stopped were in their wait: the output of their last event, by path and
// step, when that event is a wait (engine.EventWaiting). A wait that ended
// (the step completed, or failed) is left out.
func (s *Store) Waits(ctx context.Context, id string) (map[string]map[string]any, error) {
	if err := s.Flush(ctx); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT e.path, e.step_id, e.status, e.output FROM run_events e
		WHERE e.run_id = ? AND EXISTS (SELECT 1 FROM run_events w
			WHERE w.run_id = e.run_id AND w.path = e.path AND w.step_id = e.step_id AND w.status = ?)
		ORDER BY e.seq`, id, engine.EventWaiting)
	if err != nil {
		return nil, fmt.Errorf("read the waits of run %s: %w", id, err)
	}
	defer rows.Close()
	waits := map[string]map[string]any{}
	for rows.Next() {
		var path, step, status string
		var output sql.NullString
		if err := rows.Scan(&path, &step, &status, &output); err != nil {
			return nil, fmt.Errorf("read the waits of run %s: %w", id, err)
		}
		key := path + "|" + step
		var out map[string]any
		if status != engine.EventWaiting || !output.Valid || json.Unmarshal([]byte(output.String), &out) != nil {
			delete(waits, key)
			continue
		}
		waits[key] = out
	}
	return waits, rows.Err()
}

// Claim marks a queued (or interrupted) run as running on worker, unless
// its flow already has limit runs going (limit 0: no limit). Claims of one
// flow are serialised — an advisory lock on PostgreSQL, SQLite's single
// writer otherwise — so the limit holds across workers.
func (s *Store) Claim(ctx context.Context, id, flow, worker string, limit int) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("claim run %s: %w", id, err)
	}
	defer tx.Rollback()
	if s.db.Dialect == store.Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext(?))`, "s3flow flow "+flow); err != nil {
			return false, fmt.Errorf("claim run %s: %w", id, err)
		}
	}
	if limit > 0 {
		var n int
		err := tx.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE flow = ? AND status = ? AND id <> ?`,
			flow, engine.StatusRunning, id).Scan(&n)
		if err != nil {
			return false, fmt.Errorf("claim run %s: %w", id, err)
		}
		if n >= limit {
			return false, nil
		}
	}
	now := FormatTime(time.Now())
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, worker = ?, heartbeat_at = ? WHERE id = ?`,
		engine.StatusRunning, worker, now, id); err != nil {
		return false, fmt.Errorf("claim run %s: %w", id, err)
	}
	return true, tx.Commit()
}

// Stale returns the runs that are running but whose worker has not beaten
// since before cutoff (or never has): their worker has stopped, and they
// are to be resumed by another.
func (s *Store) Stale(ctx context.Context, cutoff time.Time) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM runs WHERE status = ? AND coalesce(heartbeat_at, '') < ? ORDER BY id`,
		engine.StatusRunning, FormatTime(cutoff))
	if err != nil {
		return nil, fmt.Errorf("look for runs whose worker stopped: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("look for runs whose worker stopped: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Heartbeat records that the run's worker is alive.
func (s *Store) Heartbeat(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE runs SET heartbeat_at = ? WHERE id = ?`, FormatTime(time.Now()), id)
	return err
}

// SetJob records the queue job that carries a run.
func (s *Store) SetJob(ctx context.Context, id string, job int64) error {
	_, err := s.db.ExecContext(ctx, `UPDATE runs SET job_id = ? WHERE id = ?`, job, id)
	return err
}

// Job returns the queue job that carries a run (0 if none is known).
func (s *Store) Job(ctx context.Context, id string) (int64, error) {
	var job sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT job_id FROM runs WHERE id = ?`, id).Scan(&job)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("run %s: %w", id, ErrNotFound)
	}
	return job.Int64, err
}

// Requeue makes a finished run queued again, to be resumed: its completed
// steps are reused, the rest run again.
func (s *Store) Requeue(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE runs SET status = ?, finished_at = NULL, error = '' WHERE id = ?`, StatusQueued, id)
	return err
}

// FlushEvery writes queued events every d, and whenever a batch is full,
// until stop is called: a run whose process is killed keeps what it did up
// to the last d (its retry reuses that much), and the steps that record
// never wait for the database unless it falls far behind (maxPending).
// One FlushEvery at a time per Store.
func (s *Store) FlushEvery(ctx context.Context, d time.Duration, log func(error)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	kick := make(chan struct{}, 1)
	s.mu.Lock()
	s.kick = kick
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-kick:
			}
			if err := s.Flush(ctx); err != nil && ctx.Err() == nil {
				log(err)
			}
		}
	}()
	return func() {
		cancel()
		<-done
		s.mu.Lock()
		s.kick = nil
		s.mu.Unlock()
		// What came in while the writer stopped, and any step that kicked
		// it too late, is written now.
		if err := s.Flush(context.WithoutCancel(ctx)); err != nil {
			log(err)
		}
	}
}

// EventFlowChanged is the run event of a retry that runs another version
// of the flow than the run did before.
const EventFlowChanged = "flow-changed"

// RecordFlowChanged adds to a run's history, after the events it has, that
// its retry runs another version of its flow (hashes ran and now), with
// note saying so to people.
func (s *Store) RecordFlowChanged(ctx context.Context, id, note, ran, now string) error {
	_, seq, err := s.Completed(ctx, id)
	if err != nil {
		return fmt.Errorf("retry run %s: read its history: %w", id, err)
	}
	err = s.Event(ctx, engine.Event{RunID: id, Seq: seq + 1, Status: EventFlowChanged, Started: time.Now().UTC(),
		Output: map[string]any{"note": note, "ranVersion": ran, "runsVersion": now}})
	if err == nil {
		err = s.Flush(ctx)
	}
	if err != nil {
		return fmt.Errorf("retry run %s: record that its flow changed: %w", id, err)
	}
	return nil
}

// FlowChangedNote says that a retry of run id runs flow version now, not
// the version ran that it ran before (versions are the flow file's hash).
func FlowChangedNote(id, ran, now string) string {
	return fmt.Sprintf("flow file changed since run %s: it ran version %s, this retry runs %s", id, shortHash(ran), shortHash(now))
}

// shortHash is a flow version as people compare them: its first 12 hex
// digits.
func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// EventAfterRunFailed is the run event of what a run's trigger was to do
// once the run ended (move or delete its file) that failed for good;
// EventAfterRun is the event of such an action done.
const (
	EventAfterRunFailed = "after-run-failed"
	EventAfterRun       = "after-run"
)

// RecordAfterRunFailed adds to a finished run's history, after the events
// it has, that its trigger's action after the run (kind names the
// trigger) failed, and why.
func (s *Store) RecordAfterRunFailed(ctx context.Context, id, kind string, why error) error {
	return s.recordAfterRun(ctx, id, engine.Event{Status: EventAfterRunFailed, Error: why.Error(),
		Output: map[string]any{"trigger": kind}})
}

// RecordAfterRun adds to a finished run's history, after the events it
// has, that its trigger's action after the run (kind names the trigger)
// was done, and what it did (done, such as "moved a.csv to done/a.csv").
func (s *Store) RecordAfterRun(ctx context.Context, id, kind, done string) error {
	return s.recordAfterRun(ctx, id, engine.Event{Status: EventAfterRun, Output: map[string]any{"trigger": kind, "done": done}})
}

func (s *Store) recordAfterRun(ctx context.Context, id string, ev engine.Event) error {
	_, seq, err := s.Completed(ctx, id)
	if err != nil {
		return fmt.Errorf("run %s: read its history: %w", id, err)
	}
	ev.RunID, ev.Seq, ev.Started = id, seq+1, time.Now().UTC()
	err = s.Event(ctx, ev)
	if err == nil {
		err = s.Flush(ctx)
	}
	if err != nil {
		return fmt.Errorf("run %s: record its trigger's action after it (%s): %w", id, ev.Status, err)
	}
	return nil
}
