package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestStmtCache: SQLite statements are prepared once and reused, within
// transactions too; a transaction on a pool of one connection (the
// server's) is never made to wait for a connection to prepare on; the
// cache stops growing at its bound, and queries past it still work.
func TestStmtCache(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	db, err := OpenUnmigrated(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	const insert = `INSERT INTO t (x) VALUES (?)`
	for i := range 3 {
		if _, err := db.ExecContext(ctx, insert, i); err != nil {
			t.Fatal(err)
		}
	}
	cached := func() int {
		db.stmts.mu.Lock()
		defer db.stmts.mu.Unlock()
		return len(db.stmts.stmts)
	}
	if n := cached(); n != 2 {
		t.Errorf("%d statements cached after CREATE and three INSERTs, want 2", n)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, insert, 10); err != nil {
		t.Fatalf("a cached statement in a transaction: %v", err)
	}
	// Not cached yet: it runs unprepared, not waiting for the connection
	// the transaction holds (ctx ends the wait if it did).
	if _, err := tx.ExecContext(ctx, `INSERT INTO t (x) VALUES (? + 1)`, 10); err != nil {
		t.Fatalf("a new statement in a transaction: %v", err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 5 {
		t.Fatalf("count in the transaction: %d, %v; want 5", n, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	for i := range maxCachedStmts + 10 {
		var got int
		if err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) + %d FROM t`, i)).Scan(&got); err != nil || got != 5+i {
			t.Fatalf("query %d: %d, %v; want %d", i, got, err, 5+i)
		}
	}
	if n := cached(); n != maxCachedStmts {
		t.Errorf("%d statements cached, want the bound %d", n, maxCachedStmts)
	}
}
