package store_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/s3flow/s3flow/internal/store"
	"github.com/s3flow/s3flow/internal/store/storetest"
)

// TestIsUniqueViolation: a second row with a taken key is recognised on
// both databases, wrapped or not; other failures are not.
func TestIsUniqueViolation(t *testing.T) {
	targets := map[string]string{"sqlite": filepath.Join(t.TempDir(), "s3flow.db")}
	if !testing.Short() {
		targets["postgres"] = storetest.Postgres(t)
	}
	for name, target := range targets {
		t.Run(name, func(t *testing.T) {
			db, err := store.Open(t.Context(), target)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for _, q := range []string{
				`CREATE TABLE u (id TEXT PRIMARY KEY, name TEXT UNIQUE, n INTEGER NOT NULL)`,
				`INSERT INTO u (id, name, n) VALUES ('a', 'ci', 1)`,
			} {
				if _, err := db.ExecContext(t.Context(), q); err != nil {
					t.Fatal(err)
				}
			}
			for _, tt := range []struct {
				query string
				want  bool
			}{
				{`INSERT INTO u (id, name, n) VALUES ('b', 'ci', 1)`, true},
				{`INSERT INTO u (id, name, n) VALUES ('a', 'other', 1)`, true},
				{`INSERT INTO u (id, name) VALUES ('c', 'third')`, false}, // NOT NULL
				{`INSERT INTO nosuch (id) VALUES ('a')`, false},
			} {
				_, err := db.ExecContext(t.Context(), tt.query)
				if err == nil {
					t.Fatalf("%s: no error", tt.query)
				}
				if got := store.IsUniqueViolation(fmt.Errorf("wrapped: %w", err)); got != tt.want {
					t.Errorf("%s: IsUniqueViolation(%v) = %v, want %v", tt.query, err, got, tt.want)
				}
			}
			if store.IsUniqueViolation(errors.New("UNIQUE constraint failed")) {
				t.Error("an error that only reads like one counted")
			}
		})
	}
}
