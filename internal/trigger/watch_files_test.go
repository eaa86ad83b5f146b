package trigger

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/store"
)

// fakeHost is a Host over a real SQLite database whose listing module
// emits the objects the test sets, and whose Fire records what it queued.
type fakeHost struct {
	db       *store.DB
	list     *module.Module
	disabled bool

	mu      sync.Mutex
	objects []module.Bundle
	fired   []string
}

func newFakeHost(t *testing.T) *fakeHost {
	db, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "s3flow.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h := &fakeHost{db: db}
	h.list = &module.Module{
		Name: "s3.list_files", Many: true,
		Fields: []module.Field{{Name: "bucket", Type: module.String}, {Name: "prefix", Type: module.String}, {Name: "recursive", Type: module.Bool}},
		Run: func(_ context.Context, _ module.Env, _ module.Values, emit func(module.Bundle) error) error {
			h.mu.Lock()
			objects := slices.Clone(h.objects)
			h.mu.Unlock()
			for _, o := range objects {
				if err := emit(o); err != nil {
					return err
				}
			}
			return nil
		},
	}
	return h
}

func (h *fakeHost) Logger() *slog.Logger { return slog.New(slog.DiscardHandler) }
func (h *fakeHost) DB() *store.DB        { return h.db }
func (h *fakeHost) Connection(context.Context, string) (connection.Connection, error) {
	return connection.Connection{Name: "prod"}, nil
}
func (h *fakeHost) Module(name string) (*module.Module, bool) { return h.list, name == "s3.list_files" }

func (h *fakeHost) Fire(_ context.Context, tx *store.Tx, flow string, payload map[string]any) (string, error) {
	if tx == nil {
		return "", fmt.Errorf("watch_files must queue inside its transaction")
	}
	if h.disabled {
		return "", nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fired = append(h.fired, payload["key"].(string))
	return fmt.Sprint("run-", len(h.fired)), nil
}

func (h *fakeHost) put(key, etag string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := module.Bundle{"key": key, "etag": etag, "size": int64(1), "lastModified": time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	if i := slices.IndexFunc(h.objects, func(o module.Bundle) bool { return o["key"] == key }); i >= 0 {
		h.objects[i] = b
		return
	}
	h.objects = append(h.objects, b)
}

func (h *fakeHost) takeFired() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.fired
	h.fired = nil
	slices.Sort(out)
	return out
}

// TestWatchFilesPolls: over a listing of several pages, the first poll
// records without firing; later ones fire once per new or changed object,
// whatever page it is on; a switched-off flow records nothing, so its
// files fire once it is switched on.
func TestWatchFilesPolls(t *testing.T) {
	t.Parallel()
	h := newFakeHost(t)
	for i := range 2*watchPage + 7 {
		h.put(fmt.Sprintf("in/%05d.csv", i), "e1")
	}
	w := &WatchFiles{Connection: "prod", Bucket: "b", Every: time.Minute}
	poll := func() []string {
		t.Helper()
		if err := w.poll(t.Context(), h, "f", h.list); err != nil {
			t.Fatal(err)
		}
		return h.takeFired()
	}
	if got := poll(); len(got) != 0 {
		t.Fatalf("the first poll fired %d runs, want none", len(got))
	}
	if got := poll(); len(got) != 0 {
		t.Fatalf("an unchanged listing fired %v", got)
	}
	h.put("in/00003.csv", "e2")  // changed, first page
	h.put("in/00999.csv", "e2")  // changed, second page
	h.put("in/zz-new.csv", "e1") // new, last page
	want := []string{"in/00003.csv", "in/00999.csv", "in/zz-new.csv"}
	if got := poll(); !slices.Equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
	if got := poll(); len(got) != 0 {
		t.Fatalf("a second look fired %v again", got)
	}
	h.disabled = true
	h.put("in/while-off.csv", "e1")
	if got := poll(); len(got) != 0 {
		t.Fatalf("a switched-off flow fired %v", got)
	}
	h.disabled = false
	if got := poll(); !slices.Equal(got, []string{"in/while-off.csv"}) {
		t.Fatalf("after switching on, fired %v, want in/while-off.csv", got)
	}
}

// TestWatchFilesFireExisting: fire_existing fires the first listing too.
func TestWatchFilesFireExisting(t *testing.T) {
	t.Parallel()
	h := newFakeHost(t)
	h.put("a", "e1")
	h.put("b", "e1")
	w := &WatchFiles{Connection: "prod", Bucket: "b", Every: time.Minute, FireExisting: true}
	if err := w.poll(t.Context(), h, "f", h.list); err != nil {
		t.Fatal(err)
	}
	if got := h.takeFired(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("fired %v, want a and b", got)
	}
}
