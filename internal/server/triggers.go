package server

import (
	"github.com/s3flow/s3flow/internal/store"

	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/module"
)

// schedule is a flow's schedule trigger:
//
//	schedule: {cron: "0 6 * * *", timezone: Europe/Berlin, catch_up: true}
//	schedule: {every: 15m}
type schedule struct {
	next    func(after time.Time) time.Time
	catchUp bool
	spec    string
}

// parseSchedule reads a flow's schedule trigger, or returns nil. The check
// is flow.ParseSchedule's, the one flow.Parse reports at load.
func parseSchedule(f *flow.Flow) (*schedule, error) {
	sc, err := flow.ParseSchedule(f.Trigger)
	if err != nil {
		return nil, fmt.Errorf("flow %s: %w", f.Name, err)
	}
	if sc == nil {
		return nil, nil
	}
	return &schedule{next: sc.Next, catchUp: sc.CatchUp, spec: sc.Spec}, nil
}

// runSchedule fires a flow on its schedule until ctx ends. The last tick is
// kept in the database: a tick missed while the server was down runs once
// on start (unless catch_up is false).
func (s *Server) runSchedule(ctx context.Context, f *flow.Flow, sc *schedule) {
	last, err := s.triggerTime(ctx, f.Name, "schedule")
	if err != nil {
		s.log.Error("schedule: read the last tick", "flow", f.Name, "error", err)
		return
	}
	now := time.Now()
	if last.IsZero() {
		last = now
		s.setTriggerTime(ctx, f.Name, "schedule", now)
	}
	if due := sc.next(last); !due.After(now) {
		if sc.catchUp {
			s.fire(ctx, f, map[string]any{"type": "schedule", "scheduledAt": due.UTC().Format(time.RFC3339), "catchUp": true})
		}
		last = now
		s.setTriggerTime(ctx, f.Name, "schedule", now)
	}
	for {
		due := sc.next(last)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(due)):
		}
		s.fire(ctx, f, map[string]any{"type": "schedule", "scheduledAt": due.UTC().Format(time.RFC3339)})
		last = due
		s.setTriggerTime(ctx, f.Name, "schedule", due)
	}
}

func (s *Server) fire(ctx context.Context, f *flow.Flow, trigger map[string]any) {
	if enabled, err := s.flows.Enabled(ctx, f.Name); err != nil || !enabled {
		return
	}
	id, err := s.Enqueue(ctx, f.Name, nil, trigger)
	if err != nil {
		s.log.Error("trigger could not queue a run", "flow", f.Name, "error", err)
		return
	}
	s.log.Info("trigger queued a run", "flow", f.Name, "run", id, "trigger", trigger["type"])
}

func (s *Server) triggerTime(ctx context.Context, flowName, kind string) (time.Time, error) {
	var v string
	err := s.cfg.DB.QueryRowContext(ctx, `SELECT value FROM trigger_state WHERE flow = ? AND kind = ?`, flowName, kind).Scan(&v)
	if err == sql.ErrNoRows {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return time.Parse(time.RFC3339Nano, v)
}

func (s *Server) setTriggerTime(ctx context.Context, flowName, kind string, t time.Time) {
	_, err := s.cfg.DB.ExecContext(ctx, `INSERT INTO trigger_state (flow, kind, value) VALUES (?, ?, ?)
		ON CONFLICT (flow, kind) DO UPDATE SET value = excluded.value`, flowName, kind, t.UTC().Format(time.RFC3339Nano))
	if err != nil {
		s.log.Error("trigger: keep the last tick", "flow", flowName, "error", err)
	}
}

// watch is a flow's watch_files trigger:
//
//	watch_files: {connection: prod, bucket: reports, prefix: incoming/, every: 1m, fire_existing: false}
type watch struct {
	connection, bucket, prefix string
	every                      time.Duration
	fireExisting               bool
}

func parseWatch(f *flow.Flow) (*watch, error) {
	raw, ok := f.Trigger["watch_files"].(map[string]any)
	if !ok {
		return nil, nil
	}
	w := &watch{every: time.Minute}
	w.connection, _ = raw["connection"].(string)
	w.bucket, _ = raw["bucket"].(string)
	w.prefix, _ = raw["prefix"].(string)
	w.fireExisting, _ = raw["fire_existing"].(bool)
	if e, _ := raw["every"].(string); e != "" {
		d, err := time.ParseDuration(e)
		if err != nil || d < time.Second {
			return nil, fmt.Errorf("flow %s: watch_files.every must be a duration of at least 1s, got %q", f.Name, e)
		}
		w.every = d
	}
	if w.connection == "" || w.bucket == "" {
		return nil, fmt.Errorf("flow %s: watch_files needs connection and bucket", f.Name)
	}
	return w, nil
}

// runWatch polls a bucket prefix and queues one run per new or changed
// object. What was seen is kept in the database (key, ETag, last modified)
// and updated in the same transaction that queues the run, so a restart
// neither fires twice nor misses a file. The first poll records what
// exists without firing, unless fire_existing is set.
func (s *Server) runWatch(ctx context.Context, f *flow.Flow, w *watch, list *module.Module) {
	for {
		if err := s.poll(ctx, f, w, list); err != nil && ctx.Err() == nil {
			s.log.Error("watch_files: poll failed", "flow", f.Name, "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(w.every):
		}
	}
}

func (s *Server) poll(ctx context.Context, f *flow.Flow, w *watch, list *module.Module) error {
	first := false
	if t, err := s.triggerTime(ctx, f.Name, "watch_files"); err != nil {
		return err
	} else if t.IsZero() {
		first = true
	}
	conn, err := s.cfg.Resolver.Connection(ctx, w.connection)
	if err != nil {
		return err
	}
	in, err := list.Check(map[string]any{"bucket": w.bucket, "prefix": w.prefix, "recursive": true})
	if err != nil {
		return err
	}
	// The listing is compared page by page; only changes are written.
	var changed []module.Bundle
	err = list.Exec(ctx, module.Env{Connection: &conn, Logger: s.log}, in, func(b module.Bundle) error {
		var etag, modified string
		err := s.cfg.DB.QueryRowContext(ctx, `SELECT etag, last_modified FROM watch_state WHERE flow = ? AND key = ?`,
			f.Name, b["key"]).Scan(&etag, &modified)
		if err == sql.ErrNoRows || (err == nil && (etag != b["etag"] || modified != stampOf(b["lastModified"]))) {
			changed = append(changed, b)
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, b := range changed {
		fire := !first || w.fireExisting
		if err := s.recordSeen(ctx, f, b, fire); err != nil {
			return err
		}
	}
	if first {
		s.setTriggerTime(ctx, f.Name, "watch_files", time.Now())
	}
	return nil
}

// recordSeen stores an object as seen and, when fire, queues its run, in
// one transaction.
func (s *Server) recordSeen(ctx context.Context, f *flow.Flow, b module.Bundle, fire bool) error {
	tx, err := s.cfg.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO watch_state (flow, key, etag, last_modified) VALUES (?, ?, ?, ?)
		ON CONFLICT (flow, key) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified`,
		f.Name, b["key"], b["etag"], stampOf(b["lastModified"])); err != nil {
		return err
	}
	if fire {
		if enabled, err := s.flowEnabledTx(ctx, tx, f.Name); err != nil || !enabled {
			return err
		}
		trigger := map[string]any{"type": "watch_files", "key": b["key"], "size": b["size"], "etag": b["etag"],
			"lastModified": stampOf(b["lastModified"])}
		id := engine.NewRunID()
		inputs, err := engine.CheckInputs(f, nil)
		if err != nil {
			return err
		}
		job, err := s.queue.txInsert.InsertTx(ctx, tx.Tx, RunArgs{RunID: id, Flow: f.Name, Inputs: inputs, Trigger: trigger}, nil)
		if err != nil {
			return fmt.Errorf("queue run %s: %w", id, err)
		}
		if err := s.history.QueueTx(ctx, tx, engine.RunInfo{ID: id, Flow: f.Name, FlowFile: f.File, FlowHash: f.Hash,
			Inputs: inputs, Trigger: trigger, Started: time.Now().UTC()}, job.Job.ID); err != nil {
			return fmt.Errorf("record the queued run: %w", err)
		}
		s.log.Info("watch_files queued a run", "flow", f.Name, "run", id, "key", b["key"])
	}
	return tx.Commit()
}

func (s *Server) flowEnabledTx(ctx context.Context, tx *store.Tx, name string) (bool, error) {
	var enabled bool
	err := tx.QueryRowContext(ctx, `SELECT enabled FROM flow_state WHERE name = ?`, name).Scan(&enabled)
	if err == sql.ErrNoRows {
		return true, nil
	}
	return enabled, err
}

func stampOf(v any) string {
	if t, ok := v.(time.Time); ok {
		return t.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}
