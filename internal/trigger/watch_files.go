package trigger

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/store"
)

var watchFilesKind = &Kind{
	Name:  "watch_files",
	Title: "Watch files",
	Help: "Lists a bucket's prefix at an interval and starts one run per new or changed object (by ETag and " +
		"last-modified time). What was seen is kept in the database with the queued run, so a restart neither " +
		"fires twice nor misses a file. The first listing records what exists without firing, unless fire_existing is true.",
	Payload: []PayloadField{
		{Name: "key", Type: module.String, Help: "the new or changed object's key", Example: "incoming/example.csv"},
		{Name: "size", Type: module.Int, Help: "its size in bytes", Example: int64(1024)},
		{Name: "etag", Type: module.String, Help: "its ETag", Example: `"9a0364b9e99bb480dd25e1f0284c8555"`},
		{Name: "lastModified", Type: module.Time, Help: "when it was last written", Example: "2026-12-01T06:00:00Z"},
	},
	Fields: []Field{
		{Name: "connection", Type: Connection, Required: true, Help: "the connection to list with", Example: "prod"},
		{Name: "bucket", Type: Text, Required: true, Help: "the bucket to watch", Example: "reports"},
		{Name: "prefix", Type: Text, Default: "", Help: "only keys that start with this", Example: "incoming/"},
		{Name: "every", Type: Duration, Min: time.Second, Default: time.Minute, Help: "how often to list", Example: "1m"},
		{Name: "fire_existing", Type: Bool, Default: false, Help: "start runs for the objects already there at the first listing"},
	},
	Decode: func(v Values) (Config, error) {
		return &WatchFiles{Connection: v.String("connection"), Bucket: v.String("bucket"), Prefix: v.String("prefix"),
			Every: v.Duration("every"), FireExisting: v.Bool("fire_existing")}, nil
	},
}

// WatchFiles is a checked watch_files trigger.
type WatchFiles struct {
	Connection, Bucket, Prefix string
	Every                      time.Duration
	FireExisting               bool
}

func (w *WatchFiles) Describe() string {
	return fmt.Sprintf("new files in %s/%s (connection %s, every %s)", w.Bucket, w.Prefix, w.Connection, shortDuration(w.Every))
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
// page is held, however long the listing.
func (w *WatchFiles) poll(ctx context.Context, h Host, flow string, list *module.Module) error {
	t, err := lastTime(ctx, h.DB(), flow, "watch_files")
	if err != nil {
		return err
	}
	fireNew := !t.IsZero() || w.FireExisting
	conn, err := h.Connection(ctx, w.Connection)
	if err != nil {
		return err
	}
	in, err := list.Check(map[string]any{"bucket": w.Bucket, "prefix": w.Prefix, "recursive": true})
	if err != nil {
		return err
	}
	page := make([]module.Bundle, 0, watchPage)
	listed, fired := 0, 0
	flush := func() error {
		n, err := w.record(ctx, h, flow, page, fireNew)
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
	if t.IsZero() {
		keepTime(ctx, h, flow, "watch_files", time.Now())
		h.Logger().Info("watch_files: first listing recorded", "flow", flow, "objects", listed, "fired", fired)
	}
	h.Logger().Debug("watch_files: listed", "flow", flow, "objects", listed, "fired", fired)
	return nil
}

// record compares a page of listed objects with what was seen, and in one
// transaction queues a run for each new or changed one (when fire) and
// stores it as seen.
func (w *WatchFiles) record(ctx context.Context, h Host, flow string, page []module.Bundle, fire bool) (fired int, err error) {
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
		stamp := stampOf(b["lastModified"])
		if old, ok := seen[key]; ok && old == [2]string{etag, stamp} {
			continue
		}
		if fire {
			// A switched-off flow queues nothing and records nothing, so
			// the object fires once the flow is switched on again.
			id, err := h.Fire(ctx, tx, flow, map[string]any{"type": "watch_files", "key": key, "size": b["size"],
				"etag": etag, "lastModified": stamp})
			if err != nil {
				return 0, fmt.Errorf("queue a run for %q: %w", key, err)
			}
			if id == "" {
				continue
			}
			fired++
			h.Logger().Info("watch_files queued a run", "flow", flow, "run", id, "key", key)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO watch_state (flow, key, etag, last_modified) VALUES (?, ?, ?, ?)
			ON CONFLICT (flow, key) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified`,
			flow, key, etag, stamp); err != nil {
			return 0, fmt.Errorf("record %q as seen: %w", key, err)
		}
	}
	return fired, tx.Commit()
}

// seenOf reads what was recorded of a page's keys, in one query: key →
// {etag, last modified}.
func seenOf(ctx context.Context, db *store.DB, flow string, page []module.Bundle) (map[string][2]string, error) {
	args := make([]any, 0, len(page)+1)
	args = append(args, flow)
	for _, b := range page {
		args = append(args, b["key"])
	}
	rows, err := db.QueryContext(ctx, `SELECT key, etag, last_modified FROM watch_state WHERE flow = ? AND key IN (?`+
		strings.Repeat(", ?", len(page)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("read seen objects: %w", err)
	}
	defer rows.Close()
	seen := make(map[string][2]string, len(page))
	for rows.Next() {
		var key, etag, modified string
		if err := rows.Scan(&key, &etag, &modified); err != nil {
			return nil, err
		}
		seen[key] = [2]string{etag, modified}
	}
	return seen, rows.Err()
}

func stampOf(v any) string {
	if t, ok := v.(time.Time); ok {
		return t.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}
