package store_test

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/s3flow/s3flow/internal/store"
	"github.com/s3flow/s3flow/internal/store/storetest"
)

func TestRebind(t *testing.T) {
	pg := &store.DB{Dialect: store.Postgres}
	lite := &store.DB{Dialect: store.SQLite}
	for _, tc := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = $1 AND c = $2"},
		{"UPDATE t SET a = '?' WHERE b = ?", "UPDATE t SET a = '?' WHERE b = $1"},
		{`SELECT "odd?" FROM t WHERE x = ?`, `SELECT "odd?" FROM t WHERE x = $1`},
		{"SELECT 'it''s' , ?", "SELECT 'it''s' , $1"},
		{"-- what? a comment\nSELECT ?", "-- what? a comment\nSELECT $1"},
		{"VALUES (?, ?, ?)", "VALUES ($1, $2, $3)"},
	} {
		if got := pg.Rebind(tc.in); got != tc.want {
			t.Errorf("postgres Rebind(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := lite.Rebind(tc.in); got != tc.in {
			t.Errorf("sqlite Rebind(%q) = %q, want it unchanged", tc.in, got)
		}
	}
}

// TestMigrate applies every migration on both dialects, twice (the second
// time is a no-op), and on PostgreSQL from several processes' worth of
// connections at once, as servers and workers starting together do.
func TestMigrate(t *testing.T) {
	targets := map[string]string{"sqlite": filepath.Join(t.TempDir(), "s3flow.db")}
	if testing.Short() {
		t.Log("-short: SQLite only")
	} else {
		targets["postgres"] = storetest.Postgres(t)
	}
	for name, target := range targets {
		t.Run(name, func(t *testing.T) {
			n := 1
			if name == "postgres" {
				n = 4
			}
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() {
					db, err := store.Open(t.Context(), target)
					if err == nil {
						db.Close()
					}
					errs[i] = err
				})
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			db, err := store.Open(t.Context(), target)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var versions int
			if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&versions); err != nil {
				t.Fatal(err)
			}
			// Every migration file of each dialect is recorded, once.
			files, _ := filepath.Glob(filepath.Join("migrations", "sqlite", "*.sql"))
			pgFiles, _ := filepath.Glob(filepath.Join("migrations", "postgres", "*.sql"))
			if len(files) == 0 || len(files) != len(pgFiles) {
				t.Fatalf("%d SQLite and %d PostgreSQL migrations: each needs both", len(files), len(pgFiles))
			}
			if versions != len(files) {
				t.Errorf("%d migrations recorded, want %d", versions, len(files))
			}
			for _, table := range []string{"connections", "meta", "runs", "run_events", "api_tokens", "flow_state", "trigger_state", "watch_state", "webhook_deliveries", "flow_versions"} {
				if ok, err := db.TableExists(t.Context(), table); err != nil || !ok {
					t.Errorf("table %s: exists %v, %v", table, ok, err)
				}
			}
			if ok, _ := db.TableExists(t.Context(), "nope"); ok {
				t.Error("TableExists(nope) = true")
			}
			// The same statement, written once with ?, runs on both.
			if _, err := db.ExecContext(t.Context(), `INSERT INTO flow_state (name, enabled) VALUES (?, ?)
				ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled`, "f", false); err != nil {
				t.Fatal(err)
			}
			var enabled bool
			if err := db.QueryRowContext(t.Context(), `SELECT enabled FROM flow_state WHERE name = ?`, "f").Scan(&enabled); err != nil || enabled {
				t.Errorf("enabled = %v, %v; want false", enabled, err)
			}
		})
	}
}

// TestOpenPostgresErrors: a bad URL or an unreachable server says so
// without printing the password.
func TestOpenPostgresErrors(t *testing.T) {
	for _, target := range []string{
		"postgres://user:hunter2secret@127.0.0.1:1/db?connect_timeout=2",
		"postgres://user:hunter2secret@[::1/db",
	} {
		_, err := store.Open(t.Context(), target)
		if err == nil {
			t.Fatalf("Open(%s) succeeded", target)
		}
		if msg := err.Error(); strings.Contains(msg, "hunter2secret") {
			t.Errorf("error shows the password: %s", msg)
		}
	}
}

// TestOpenWhileAnotherWrites: opening a database that has every migration
// only reads it, so a command starts at once while a server holds
// SQLite's write lock (a write transaction per migration would wait for
// it, then fail with "database is locked").
func TestOpenWhileAnotherWrites(t *testing.T) {
	target := filepath.Join(t.TempDir(), "s3flow.db")
	db, err := store.Open(t.Context(), target)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.BeginTx(t.Context(), nil) // immediate: the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(t.Context(), `INSERT INTO flow_state (name, enabled) VALUES ('f', 1)`); err != nil {
		t.Fatal(err)
	}
	other, err := store.Open(t.Context(), target)
	if err != nil {
		t.Fatalf("open while another connection writes: %v", err)
	}
	other.Close()
}
