package trigger

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/s3flow/s3flow/internal/store"
)

// lastTime is the time a trigger kept for a flow (zero when none): a
// schedule's last tick, or when watch_files first listed.
func lastTime(ctx context.Context, db *store.DB, flow, kind string) (time.Time, error) {
	var v string
	err := db.QueryRowContext(ctx, `SELECT value FROM trigger_state WHERE flow = ? AND kind = ?`, flow, kind).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return time.Parse(time.RFC3339Nano, v)
}

// keepTime records a trigger's time for a flow; a failure is logged (the
// trigger goes on, and at worst repeats a tick after a restart).
func keepTime(ctx context.Context, h Host, flow, kind string, t time.Time) {
	_, err := h.DB().ExecContext(ctx, `INSERT INTO trigger_state (flow, kind, value) VALUES (?, ?, ?)
		ON CONFLICT (flow, kind) DO UPDATE SET value = excluded.value`, flow, kind, t.UTC().Format(time.RFC3339Nano))
	if err != nil && ctx.Err() == nil {
		h.Logger().Error("trigger: keep its time", "flow", flow, "kind", kind, "error", err)
	}
}
