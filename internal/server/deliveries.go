package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/s3flow/s3flow/internal/store"
)

// deliveries remembers the signed webhook deliveries of the last minutes,
// by delivery id and by signature, in the database: a replay is refused by
// every server that shares it, not only by the one that took the first.
// It owns the webhook_deliveries table.
type deliveries struct {
	db *store.DB
	// pruned is when expired entries were last deleted (Unix seconds).
	pruned atomic.Int64
}

var errReplay = &httpError{http.StatusConflict, errors.New("webhook: this delivery was already received (its " + headerDelivery + " or its signature was seen in the last 10 minutes)")}

// record remembers keys for flow until expires. If any of them is already
// remembered, it records none and returns errReplay. Concurrent calls with
// a common key cannot both succeed: the table's primary key decides.
func (d *deliveries) record(ctx context.Context, flow string, keys []string, now, expires time.Time) error {
	d.prune(ctx, now)
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record the webhook delivery: %w", err)
	}
	defer tx.Rollback()
	for _, key := range keys {
		// An expired entry not yet pruned does not count.
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE flow = ? AND key = ? AND expires_at <= ?`, flow, key, now.Unix()); err != nil {
			return fmt.Errorf("record the webhook delivery: %w", err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (flow, key, expires_at) VALUES (?, ?, ?) ON CONFLICT (flow, key) DO NOTHING`,
			flow, key, expires.Unix())
		if err != nil {
			return fmt.Errorf("record the webhook delivery: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("record the webhook delivery: %w", err)
		} else if n == 0 {
			return errReplay
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record the webhook delivery: %w", err)
	}
	return nil
}

// forget drops keys recorded for a delivery whose run could not be
// queued, so that the sender's retry of it is taken.
func (d *deliveries) forget(ctx context.Context, flow string, keys []string) {
	for _, key := range keys {
		d.db.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE flow = ? AND key = ?`, flow, key)
	}
}

// prune deletes expired entries, at most once a minute per process.
func (d *deliveries) prune(ctx context.Context, now time.Time) {
	last := d.pruned.Load()
	if now.Unix()-last < 60 || !d.pruned.CompareAndSwap(last, now.Unix()) {
		return
	}
	d.db.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE expires_at <= ?`, now.Unix())
}
