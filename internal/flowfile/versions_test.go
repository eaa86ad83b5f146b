package flowfile

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/s3flow/s3flow/internal/store"
	"github.com/s3flow/s3flow/internal/store/storetest"
)

// forEachDB runs fn on a fresh SQLite database and a fresh PostgreSQL one
// (skipped without S3FLOW_TEST_POSTGRES, failed under CI=true).
func forEachDB(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	t.Parallel()
	for _, dialect := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(dialect.String(), func(t *testing.T) {
			t.Parallel()
			target := filepath.Join(t.TempDir(), "s3flow.db")
			if dialect == store.Postgres {
				target = storetest.Postgres(t)
			}
			db, err := store.Open(t.Context(), target)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			fn(t, db)
		})
	}
}

func TestVersions(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		v := NewVersions(db)
		hand, v1, v2 := []byte("name: a # by hand\n"), []byte("name: a\n"), []byte("name: a\ndescription: x\n")
		// The first save of a hand-written file records the file first.
		if err := v.Record(ctx, "a", hand, v1, "alice", ActionSaved); err != nil {
			t.Fatal(err)
		}
		// The next finds the file as it left it: nothing more to record.
		if err := v.Record(ctx, "a", v1, v2, "bob", ActionSaved); err != nil {
			t.Fatal(err)
		}
		if err := v.Record(ctx, "a", v2, v1, "alice", ActionRestored); err != nil {
			t.Fatal(err)
		}
		// A new flow: no file before.
		if err := v.Record(ctx, "b", nil, v1, "bob", ActionSaved); err != nil {
			t.Fatal(err)
		}
		list, err := v.List(ctx, "a", 100)
		if err != nil {
			t.Fatal(err)
		}
		want := []struct{ hash, action, by string }{
			{Hash(v1), ActionRestored, "alice"}, {Hash(v2), ActionSaved, "bob"}, {Hash(v1), ActionSaved, "alice"}, {Hash(hand), ActionFound, ""},
		}
		if len(list) != len(want) {
			t.Fatalf("versions of a: %+v, want %d", list, len(want))
		}
		for i, w := range want {
			if got := list[i]; got.Hash != w.hash || got.Action != w.action || got.SavedBy != w.by || got.SavedAt.IsZero() {
				t.Errorf("version %d: %+v, want %+v", i, got, w)
			}
		}
		if list[1].Size != len(v2) {
			t.Errorf("size %d, want %d", list[1].Size, len(v2))
		}
		if l, _ := v.List(ctx, "a", 1); len(l) != 1 || l[0].Action != ActionRestored {
			t.Errorf("limit 1: %+v", l)
		}
		if text, err := v.Text(ctx, "a", Hash(hand)); err != nil || string(text) != string(hand) {
			t.Errorf("Text(hand): %q %v", text, err)
		}
		// Versions belong to their flow.
		if _, err := v.Text(ctx, "b", Hash(v2)); !errors.Is(err, ErrNoVersion) {
			t.Errorf("Text of another flow's version: %v, want ErrNoVersion", err)
		}
		// What PostgreSQL cannot keep as text is refused whole.
		if err := v.Record(ctx, "c", nil, []byte("a\x00b"), "x", ActionSaved); err == nil {
			t.Error("text with a NUL byte was recorded")
		}
		if l, _ := v.List(ctx, "c", 10); len(l) != 0 {
			t.Errorf("flow c: %+v, want nothing", l)
		}
	})
}
