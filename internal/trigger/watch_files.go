package trigger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
	"github.com/s3flow/s3flow/internal/store"
)

var watchFilesKind = &Kind{
	Name:  "watch_files",
	Title: "Watch files",
	Help: "Lists a bucket's prefix at an interval and starts one run per new (created) or changed (modified: another ETag " +
		"or size) object, as events: says. What was seen is kept in the database with the queued run, so a restart neither " +
		"fires twice nor misses a file. The first listing records what exists without firing, unless fire_existing is true. " +
		"With settle, an object starts its run only once a listing finds it with the same size and ETag for that long " +
		"(an upload still being written waits). With after, the object is moved (a server-side copy, then a delete) or " +
		"deleted when its run ends, never at detection: the action is queued with the run's final status and tried again after an error " +
		"or a stop, and its outcome is recorded in the run's history. " +
		"With start_after, each listing starts after the greatest key seen, for keys that grow in order (dated paths): " +
		"only new keys are listed, not the whole prefix. See docs/server.md.",
	Payload: []PayloadField{
		{Name: "key", Type: module.String, Help: "the new or changed object's key", Example: "incoming/example.csv"},
		{Name: "size", Type: module.Int, Help: "its size in bytes", Example: int64(1024)},
		{Name: "etag", Type: module.String, Help: "its ETag", Example: `"9a0364b9e99bb480dd25e1f0284c8555"`},
		{Name: "lastModified", Type: module.Time, Help: "when it was last written", Example: "2026-12-01T06:00:00Z"},
		{Name: "event", Type: module.String, Help: "created (a key not seen before) or modified (a seen key with another ETag or size)", Example: "created"},
	},
	Fields: []Field{
		{Name: "connection", Type: Connection, Required: true, Help: "the connection to list with", Example: "prod"},
		{Name: "bucket", Type: Text, Required: true, Help: "the bucket to watch", Example: "reports"},
		{Name: "prefix", Type: Text, Default: "", Help: "only keys that start with this", Example: "incoming/"},
		{Name: "every", Type: Duration, Min: time.Second, Default: time.Minute, Help: "how often to list", Example: "1m"},
		{Name: "fire_existing", Type: Bool, Default: false, Help: "start runs for the objects already there at the first listing"},
		{Name: "events", Type: Words, Choices: []string{watchCreated, watchModified}, Default: []string{watchCreated},
			Help: "which changes start runs: created (a new key), modified (a seen key whose ETag or size changed)", Example: "[created, modified]"},
		{Name: "settle", Type: Duration, Min: time.Second,
			Help: "start a run only once the object's size and ETag have stayed the same this long across listings (default: at once)", Example: "2m"},
		{Name: "after", Type: Mapping,
			Help: "what to do with the object when its run ends: success: and failure: (a run a break left incomplete counts as failed), " +
				"each delete or {move_to: PREFIX} (a folder of the same bucket, outside the watched prefix; the key keeps its path below the prefix)",
			Example: "{success: {move_to: done/}, failure: {move_to: failed/}}"},
		{Name: "start_after", Type: Bool, Default: false,
			Help: "list only keys after the greatest key seen (S3's StartAfter), for keys that grow in order such as dated paths; " +
				"changes to keys before it are not seen, so events: cannot hold modified"},
	},
	Decode: decodeWatchFiles,
}

const (
	watchCreated  = "created"
	watchModified = "modified"
)

func decodeWatchFiles(v Values) (Config, error) {
	w := &WatchFiles{Connection: v.String("connection"), Bucket: v.String("bucket"), Prefix: v.String("prefix"),
		Every: v.Duration("every"), FireExisting: v.Bool("fire_existing"), Events: v.Strings("events"),
		Settle: v.Duration("settle"), StartAfter: v.Bool("start_after")}
	var errs []error
	if w.StartAfter && slices.Contains(w.Events, watchModified) {
		errs = append(errs, fieldErrorf("start_after", "lists only keys after the greatest seen, so it never sees a seen key modified: drop modified from events, or start_after"))
	}
	if v.Has("after") {
		var err error
		if w.OnSuccess, w.OnFailure, err = decodeAfter(v.Map("after"), w.watched()); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return w, nil
}

// decodeAfter reads after: {success: ..., failure: ...}; each is delete
// or {move_to: PREFIX}. watched is the prefix the trigger lists: a move
// into it would start the file's run again.
func decodeAfter(m map[string]any, watched string) (success, failure AfterAction, err error) {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(m)) {
		var a AfterAction
		field := "after." + name
		switch name {
		case "success", "failure":
		default:
			errs = append(errs, &FieldError{Field: field, Msg: "unknown key" + Hint(name, []string{"success", "failure"}), Key: true})
			continue
		}
		switch v := m[name].(type) {
		case string:
			if v != "delete" {
				errs = append(errs, fieldErrorf(field, "must be delete or {move_to: PREFIX}, got %s", shown(v)))
				continue
			}
			a.Delete = true
		case map[string]any:
			for k := range v {
				if k != "move_to" {
					errs = append(errs, &FieldError{Field: field + "." + k, Msg: "unknown key" + Hint(k, []string{"move_to"}), Key: true})
				}
			}
			to, given := v["move_to"]
			if !given {
				errs = append(errs, fieldErrorf(field, "move_to is required (the folder to move the file to, such as done/)"))
				continue
			}
			prefix, err := checkMoveTo(to, watched)
			if err != nil {
				errs = append(errs, fieldErrorf(field+".move_to", "%s", err))
				continue
			}
			a.MoveTo = prefix
		default:
			errs = append(errs, fieldErrorf(field, "must be delete or {move_to: PREFIX}, got %s", shown(v)))
			continue
		}
		if name == "success" {
			success = a
		} else {
			failure = a
		}
	}
	return success, failure, errors.Join(errs...)
}

// checkMoveTo takes a folder of the watched bucket to move files to: a
// relative prefix ending in /, outside the watched prefix.
func checkMoveTo(v any, watched string) (string, error) {
	s, ok := v.(string)
	switch {
	case !ok || s == "":
		return "", fmt.Errorf("must be a folder of the bucket such as done/, got %s", shown(v))
	case strings.HasPrefix(s, "/"):
		return "", fmt.Errorf("must be relative to the bucket (no leading /), such as done/, got %q", s)
	case !strings.HasSuffix(s, "/"):
		return "", fmt.Errorf("must end with / (a folder, such as %s/), got %q", s, s)
	case strings.ContainsRune(s, 0) || !utf8.ValidString(s):
		return "", fmt.Errorf("must be valid UTF-8 without NUL bytes")
	case slices.Contains(strings.Split(s, "/"), "..") || strings.Contains(s, "//"):
		return "", fmt.Errorf("must be a plain folder path (no .. or empty parts), got %q", s)
	case len(s) > 512:
		return "", fmt.Errorf("must be at most 512 bytes long")
	case watched == "":
		return "", fmt.Errorf("%q is inside the watched bucket (no prefix is watched), so moved files would start runs again: watch a prefix, or use delete", s)
	case strings.HasPrefix(s, watched):
		return "", fmt.Errorf("%q is inside the watched prefix %q, so moved files would start runs again: use a folder outside it", s, watched)
	}
	return s, nil
}

// WatchFiles is a checked watch_files trigger.
type WatchFiles struct {
	Connection, Bucket, Prefix string
	Every                      time.Duration
	FireExisting               bool
	// Events are the words of events: (created, modified).
	Events []string
	// Settle is how long an object must keep its size and ETag before its
	// run starts (0: at the listing that finds it).
	Settle time.Duration
	// OnSuccess and OnFailure are what becomes of the object when its run
	// ends.
	OnSuccess, OnFailure AfterAction
	// StartAfter lists only the keys after the greatest seen.
	StartAfter bool
	// now is the clock (nil: time.Now), set by tests.
	now func() time.Time
}

// AfterAction is what becomes of a watched object when its run ends.
type AfterAction struct {
	Delete bool
	// MoveTo is the folder (ending in /) the object moves to, keeping its
	// path below the watched prefix.
	MoveTo string
}

func (a AfterAction) none() bool { return !a.Delete && a.MoveTo == "" }

func (a AfterAction) String() string {
	switch {
	case a.Delete:
		return "delete"
	case a.MoveTo != "":
		return "move to " + a.MoveTo
	}
	return "nothing"
}

func (w *WatchFiles) Describe() string {
	d := fmt.Sprintf("new files in %s/%s (connection %s, every %s", w.Bucket, w.Prefix, w.Connection, shortDuration(w.Every))
	if w.Settle > 0 {
		d += ", settle " + shortDuration(w.Settle)
	}
	return d + ")"
}

func (w *WatchFiles) clock() time.Time {
	if w.now != nil {
		return w.now().UTC()
	}
	return time.Now().UTC()
}

// watched is the prefix listed as s3.list_files lists it: a folder (ending
// in /), or "" for the whole bucket.
func (w *WatchFiles) watched() string {
	p := strings.Trim(w.Prefix, "/")
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	if p == "" {
		return ""
	}
	return p + "/"
}

// wants says whether an event of that word starts runs.
func (w *WatchFiles) wants(event string) bool {
	if len(w.Events) == 0 { // a WatchFiles made in code, not decoded
		return event == watchCreated
	}
	return slices.Contains(w.Events, event)
}

// adjustSample puts the sample object under the watched prefix.
func (w *WatchFiles) adjustSample(sample map[string]any) {
	sample["key"] = w.Prefix + "example.csv"
}

// watchPage is how many listed objects are compared with what was seen in
// one query and recorded in one transaction.
const watchPage = 500

// Run polls the prefix until ctx ends.
func (w *WatchFiles) Run(ctx context.Context, h Host, flow string) {
	list, ok := h.Module("s3.list_files")
	if !ok {
		h.Logger().Error("watch_files: no s3.list_files module", "flow", flow)
		return
	}
	h.Logger().Info("watching", "flow", flow, "bucket", w.Bucket, "prefix", w.Prefix, "every", w.Every)
	for {
		if err := w.poll(ctx, h, flow, list); err != nil && ctx.Err() == nil {
			h.Logger().Error("watch_files: poll failed", "flow", flow, "error", err)
		}
		timer := time.NewTimer(w.Every)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

// poll lists the prefix once, a page at a time: each page is compared
// with what was seen in one query, and its new or changed objects are
// recorded (and their runs queued) in one transaction. Nothing but the
// page is held, however long the listing. With start_after the listing
// starts after the greatest key seen (before any key still settling).
func (w *WatchFiles) poll(ctx context.Context, h Host, flow string, list *module.Module) error {
	t, err := lastTime(ctx, h.DB(), flow, "watch_files")
	if err != nil {
		return err
	}
	fireNew := !t.IsZero() || w.FireExisting
	now := w.clock()
	conn, err := h.Connection(ctx, w.Connection)
	if err != nil {
		return err
	}
	raw := map[string]any{"bucket": w.Bucket, "prefix": w.Prefix, "recursive": true}
	if w.StartAfter && !t.IsZero() {
		after, err := startAfterKey(ctx, h.DB(), flow)
		if err != nil {
			return err
		}
		if after != "" {
			raw["start_after"] = after
		}
	}
	in, err := list.Check(raw)
	if err != nil {
		return err
	}
	page := make([]module.Bundle, 0, watchPage)
	listed, fired := 0, 0
	flush := func() error {
		n, err := w.record(ctx, h, flow, page, fireNew, now)
		listed, fired = listed+len(page), fired+n
		page = page[:0]
		return err
	}
	err = list.Exec(ctx, module.Env{Connection: &conn, Logger: h.Logger()}, in, func(b module.Bundle) error {
		page = append(page, b)
		if len(page) == watchPage {
			return flush()
		}
		return nil
	})
	if err == nil && len(page) > 0 {
		err = flush()
	}
	if err != nil {
		return err
	}
	// An object that was settling and that this whole listing did not show
	// is gone: forget it (a new one of that key is created anew).
	if _, err := h.DB().ExecContext(ctx, `DELETE FROM watch_state WHERE flow = ? AND pending <> '' AND listed_at < ?`,
		flow, formatTime(now)); err != nil {
		return fmt.Errorf("forget settling objects that are gone: %w", err)
	}
	if t.IsZero() {
		keepTime(ctx, h, flow, "watch_files", now)
		h.Logger().Info("watch_files: first listing recorded", "flow", flow, "objects", listed, "fired", fired)
	}
	h.Logger().Debug("watch_files: listed", "flow", flow, "objects", listed, "fired", fired, "startAfter", raw["start_after"])
	return nil
}

// seenObject is what watch_state holds of an object.
type seenObject struct {
	etag string
	size int64
	// since is when the object was first listed with this ETag and size.
	since time.Time
	// pending is the event waiting for the object to settle ("": none).
	pending string
	runID   string
}

// record compares a page of listed objects with what was seen, and in one
// transaction queues a run for each new or changed one that fire and
// events allow, once it has settled, and stores what it saw.
func (w *WatchFiles) record(ctx context.Context, h Host, flow string, page []module.Bundle, fire bool, now time.Time) (fired int, err error) {
	seen, err := seenOf(ctx, h.DB(), flow, page)
	if err != nil {
		return 0, err
	}
	tx, err := h.DB().BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	for _, b := range page {
		key, _ := b["key"].(string)
		etag, _ := b["etag"].(string)
		size, _ := b["size"].(int64)
		stamp := stampOf(b["lastModified"])
		old, known := seen[key]
		// A row recorded before sizes were kept (no since) has size 0: its
		// ETag alone says whether the object changed.
		same := known && old.etag == etag && (old.size == size || old.since.IsZero())
		event, since := "", now
		switch {
		case same && old.pending == "":
			continue // seen as it is, and dealt with
		case same:
			event, since = old.pending, old.since // settling
		case !known:
			event = watchCreated
		case old.pending != "":
			event = old.pending // changed again while settling: still what it was
		default:
			event = watchModified
		}
		if !fire || !w.wants(event) {
			event = "" // recorded, never fired
		}
		pending, runID := event, old.runID
		if event != "" && now.Sub(since) >= w.Settle {
			// A switched-off flow queues nothing (id ""): the object stays
			// pending, so it fires once the flow is switched on again.
			id, err := h.Fire(ctx, tx, flow, map[string]any{"type": "watch_files", "key": key, "size": size,
				"etag": etag, "lastModified": stamp, "event": event})
			if err != nil {
				return 0, fmt.Errorf("queue a run for %q: %w", key, err)
			}
			if id != "" {
				fired++
				pending, runID = "", id
				h.Logger().Info("watch_files queued a run", "flow", flow, "run", id, "key", key, "event", event)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO watch_state (flow, key, etag, last_modified, size, since, pending, listed_at, run_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (flow, key) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified, size = excluded.size,
				since = excluded.since, pending = excluded.pending, listed_at = excluded.listed_at, run_id = excluded.run_id`,
			flow, key, etag, stamp, size, formatTime(since), pending, formatTime(now), runID); err != nil {
			return 0, fmt.Errorf("record %q as seen: %w", key, err)
		}
	}
	return fired, tx.Commit()
}

// seenOf reads what was recorded of a page's keys, in one query.
func seenOf(ctx context.Context, db *store.DB, flow string, page []module.Bundle) (map[string]seenObject, error) {
	args := make([]any, 0, len(page)+1)
	args = append(args, flow)
	for _, b := range page {
		args = append(args, b["key"])
	}
	rows, err := db.QueryContext(ctx, `SELECT key, etag, size, since, pending, run_id FROM watch_state WHERE flow = ? AND key IN (?`+
		strings.Repeat(", ?", len(page)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("read seen objects: %w", err)
	}
	defer rows.Close()
	seen := make(map[string]seenObject, len(page))
	for rows.Next() {
		var key, since string
		var o seenObject
		if err := rows.Scan(&key, &o.etag, &o.size, &since, &o.pending, &o.runID); err != nil {
			return nil, err
		}
		o.since, _ = time.Parse(time.RFC3339Nano, since) // '' (recorded before settle existed): long settled
		seen[key] = o
	}
	return seen, rows.Err()
}

// startAfterKey is where a start_after listing begins: after the greatest
// key seen, or, while objects are settling, after the greatest key below
// the first of them (so that it is listed again). Keys compare as S3 sorts
// them, by their UTF-8 bytes (PostgreSQL's collation would not).
func startAfterKey(ctx context.Context, db *store.DB, flow string) (string, error) {
	col := "key"
	if db.Dialect == store.Postgres {
		col = `key COLLATE "C"`
	}
	var settling sql.NullString
	if err := db.QueryRowContext(ctx, `SELECT MIN(`+col+`) FROM watch_state WHERE flow = ? AND pending <> ''`, flow).Scan(&settling); err != nil {
		return "", fmt.Errorf("find where to list from: %w", err)
	}
	q, args := `SELECT MAX(`+col+`) FROM watch_state WHERE flow = ?`, []any{flow}
	if settling.Valid {
		q, args = q+` AND `+col+` < ?`, append(args, settling.String)
	}
	var after sql.NullString
	if err := db.QueryRowContext(ctx, q, args...).Scan(&after); err != nil {
		return "", fmt.Errorf("find where to list from: %w", err)
	}
	return after.String, nil
}

// stateTimeLayout is how watch_state keeps since and listed_at: UTC with
// all nine fractional digits, so that the text sorts in time order (the
// query comparing listed_at compares text; RFC 3339's "…05Z" would sort
// after "…05.5Z").
const stateTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(stateTimeLayout) }

func stampOf(v any) string {
	if t, ok := v.(time.Time); ok {
		return t.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

// ActsAfter says whether after: has an action for a run that ended so.
func (w *WatchFiles) ActsAfter(succeeded bool) bool {
	if succeeded {
		return !w.OnSuccess.none()
	}
	return !w.OnFailure.none()
}

// RunFinished does what after: says with the object a run of this trigger
// was started for, when the run has ended: moves it (a server-side copy
// under the folder, then a delete of the original) or deletes it. Only a
// run this trigger started for the object as it still is counts: a run
// started by hand with trigger data, or one for an older version of the
// object, leaves it alone. The object is checked to still have the run's
// ETag first, so a newer upload is not deleted unseen.
//
// It may be called again after it did part of its work (the process
// stopped mid-way): an object already gone is done if it was to be deleted,
// or if it was to be moved and the target is there; a copy made before a
// stop is made again over itself. Once done, the object's row is forgotten,
// so a later call finds that the trigger did not start this run for the
// object as it is, and does nothing.
func (w *WatchFiles) RunFinished(ctx context.Context, h Host, run FinishedRun) (string, error) {
	act := w.OnFailure
	if run.Succeeded {
		act = w.OnSuccess
	}
	if act.none() {
		return "", nil
	}
	key, _ := run.Trigger["key"].(string)
	etag, _ := run.Trigger["etag"].(string)
	var started string
	err := h.DB().QueryRowContext(ctx, `SELECT run_id FROM watch_state WHERE flow = ? AND key = ?`, run.Flow, key).Scan(&started)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("after the run (%s %q): read what the trigger started: %w", act, key, err)
	}
	if started != run.ID {
		h.Logger().Info("watch_files: after-action skipped: the trigger did not start this run for the object as it is (or the action is done)",
			"flow", run.Flow, "run", run.ID, "key", key, "action", act.String())
		return "", nil
	}
	if !strings.HasPrefix(key, w.watched()) {
		return "", Permanent(fmt.Errorf("after the run (%s): %q is not under the watched prefix %q: left in place", act, key, w.watched()))
	}
	conn, err := h.Connection(ctx, w.Connection)
	if err != nil {
		return "", fmt.Errorf("after the run (%s %q): %w", act, key, err)
	}
	env := module.Env{Connection: &conn, Logger: h.Logger()}
	target := ""
	if act.MoveTo != "" {
		target = act.MoveTo + strings.TrimPrefix(key, w.watched())
	}
	done := "deleted " + key
	if target != "" {
		done = fmt.Sprintf("moved %s to %s", key, target)
	}
	// The modules' paths drop one leading /; given "/"+key they name the
	// key exactly, even one that starts with /.
	info, err := callOne(ctx, h, env, "s3.get_file_info", map[string]any{"bucket": w.Bucket, "path": "/" + key})
	switch {
	case isNoSuchKey(err):
		// Gone: done by an earlier attempt, or by someone else.
		if target != "" {
			if _, err := callOne(ctx, h, env, "s3.get_file_info", map[string]any{"bucket": w.Bucket, "path": "/" + target}); isNoSuchKey(err) {
				return "", Permanent(fmt.Errorf("after the run (%s %q): the object is gone and %q is not there: nothing to move", act, key, target))
			} else if err != nil {
				return "", fmt.Errorf("after the run (%s %q): the object is gone; look for %q: %w", act, key, target, err)
			}
		}
	case err != nil:
		return "", fmt.Errorf("after the run (%s %q): %w", act, key, err)
	default:
		if now, _ := info["etag"].(string); now != etag {
			return "", Permanent(fmt.Errorf("after the run (%s %q): the object changed since the run started (ETag %s, the run's %s): left in place", act, key, now, etag))
		}
		if target != "" {
			if _, err := callOne(ctx, h, env, "s3.copy_file", map[string]any{"bucket": w.Bucket, "path": "/" + key, "to_path": "/" + target}); err != nil {
				return "", fmt.Errorf("after the run (%s %q): copy to %q: %w", act, key, target, err)
			}
		}
		if _, err := callOne(ctx, h, env, "s3.delete_file", map[string]any{"bucket": w.Bucket, "path": "/" + key}); err != nil {
			return "", fmt.Errorf("after the run (%s %q): delete the original: %w", act, key, err)
		}
	}
	// The key is free again: a file put there later, even with the same
	// bytes, is created anew.
	if _, err := h.DB().ExecContext(ctx, `DELETE FROM watch_state WHERE flow = ? AND key = ? AND run_id = ?`, run.Flow, key, run.ID); err != nil {
		return "", fmt.Errorf("after the run (%s %q): done, but forgetting the key failed: %w", act, key, err)
	}
	h.Logger().Info("watch_files: after the run", "flow", run.Flow, "run", run.ID, "key", key, "action", act.String())
	return done, nil
}

// isNoSuchKey says err is S3's answer that the object does not exist.
func isNoSuchKey(err error) bool {
	var e *s3client.Error
	return errors.As(err, &e) && e.Code == "NoSuchKey"
}

// callOne runs a single-result module with raw inputs and returns its
// bundle.
func callOne(ctx context.Context, h Host, env module.Env, name string, raw map[string]any) (module.Bundle, error) {
	m, ok := h.Module(name)
	if !ok {
		return nil, fmt.Errorf("no %s module", name)
	}
	in, err := m.Check(raw)
	if err != nil {
		return nil, err
	}
	var out module.Bundle
	err = m.Exec(ctx, env, in, func(b module.Bundle) error {
		out = b
		return nil
	})
	return out, err
}
