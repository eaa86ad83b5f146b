package store_test

import (
	"path/filepath"
	"testing"

	"github.com/s3flow/s3flow/internal/store"
)

// BenchmarkOpen measures what every command pays to open a database that
// is already migrated (every start after the first).
func BenchmarkOpen(b *testing.B) {
	target := filepath.Join(b.TempDir(), "s3flow.db")
	db, err := store.Open(b.Context(), target)
	if err != nil {
		b.Fatal(err)
	}
	db.Close()
	for b.Loop() {
		db, err := store.Open(b.Context(), target)
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
}
