package trigger

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/store"
	"github.com/s3flow/s3flow/internal/store/storetest"
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
	events  []string // key=event of each run queued
	// startAfter is the start_after each listing was given ("": none).
	startAfter []string
	queued     int // runs queued, for their ids
}

func newFakeHost(t *testing.T) *fakeHost {
	return newFakeHostOn(t, filepath.Join(t.TempDir(), "s3flow.db"))
}

// onBothDatabases runs test on SQLite and on the test PostgreSQL server
// (skipped without it), each with a database of its own.
func onBothDatabases(t *testing.T, test func(t *testing.T, target string)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		test(t, filepath.Join(t.TempDir(), "s3flow.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		test(t, storetest.Postgres(t))
	})
}

func newFakeHostOn(t *testing.T, target string) *fakeHost {
	db, err := store.Open(t.Context(), target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h := &fakeHost{db: db}
	h.list = &module.Module{
		Name: "s3.list_files", Many: true,
		Fields: []module.Field{{Name: "bucket", Type: module.String}, {Name: "prefix", Type: module.String}, {Name: "recursive", Type: module.Bool},
			{Name: "start_after", Type: module.String}},
		Run: func(_ context.Context, _ module.Env, in module.Values, emit func(module.Bundle) error) error {
			after := in.String("start_after")
			h.mu.Lock()
			objects := slices.Clone(h.objects)
			h.startAfter = append(h.startAfter, after)
			h.mu.Unlock()
			// As S3 lists: in key order, after start_after.
			slices.SortFunc(objects, func(a, b module.Bundle) int { return strings.Compare(a["key"].(string), b["key"].(string)) })
			for _, o := range objects {
				if after != "" && o["key"].(string) <= after {
					continue
				}
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
	h.events = append(h.events, fmt.Sprint(payload["key"], "=", payload["event"]))
	h.queued++
	return fmt.Sprint("run-", h.queued), nil
}

func (h *fakeHost) put(key, etag string) { h.putSized(key, etag, 1) }

func (h *fakeHost) putSized(key, etag string, size int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := module.Bundle{"key": key, "etag": etag, "size": size, "lastModified": time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	if i := slices.IndexFunc(h.objects, func(o module.Bundle) bool { return o["key"] == key }); i >= 0 {
		h.objects[i] = b
		return
	}
	h.objects = append(h.objects, b)
}

func (h *fakeHost) remove(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.objects = slices.DeleteFunc(h.objects, func(o module.Bundle) bool { return o["key"] == key })
}

func (h *fakeHost) takeFired() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.fired
	h.fired = nil
	slices.Sort(out)
	return out
}

// takeEvents is key=event of each run queued since the last call.
func (h *fakeHost) takeEvents() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.events
	h.events, h.fired = nil, nil
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
	w := &WatchFiles{Connection: "prod", Bucket: "b", Every: time.Minute, Events: []string{watchCreated, watchModified}}
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

// fakeClock is a clock a test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock               { return &fakeClock{t: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)} }
func pollOnce(t *testing.T, w *WatchFiles, h *fakeHost) {
	t.Helper()
	if err := w.poll(t.Context(), h, "f", h.list); err != nil {
		t.Fatal(err)
	}
}

// TestWatchFilesEvents: with events [created, modified] a new key fires
// created and each new ETag (or size) of a seen key fires modified, once;
// with the default [created], a modification is recorded and fires
// nothing, and with [modified] a new key fires nothing.
func TestWatchFilesEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		events []string
		want   []string // after: a.csv modified twice, b.csv created
	}{
		{"both", []string{watchCreated, watchModified}, []string{"a.csv=modified", "a.csv=modified", "b.csv=created"}},
		{"created only", []string{watchCreated}, []string{"b.csv=created"}},
		{"modified only", []string{watchModified}, []string{"a.csv=modified", "a.csv=modified"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newFakeHost(t)
			h.put("a.csv", "e1")
			w := &WatchFiles{Connection: "prod", Bucket: "b", Every: time.Minute, Events: tt.events}
			pollOnce(t, w, h) // the first listing records
			var got []string
			h.put("a.csv", "e2")
			pollOnce(t, w, h)
			got = append(got, h.takeEvents()...)
			pollOnce(t, w, h) // unchanged: nothing
			got = append(got, h.takeEvents()...)
			h.putSized("a.csv", "e2", 2) // same ETag, another size
			h.put("b.csv", "e1")
			pollOnce(t, w, h)
			got = append(got, h.takeEvents()...)
			pollOnce(t, w, h)
			got = append(got, h.takeEvents()...)
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("fired %v, want %v", got, tt.want)
			}
		})
	}
}

// TestWatchFilesSettle: an object fires only at a listing that finds it
// with the same size and ETag for settle since it was first listed so; a
// change while settling starts the wait again (and a new object stays
// created); a settling object that is gone is forgotten; the wait is in
// the database, so another WatchFiles value (a restart) goes on with it.
func TestWatchFilesSettle(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, testWatchFilesSettle)
}

func testWatchFilesSettle(t *testing.T, target string) {
	h := newFakeHostOn(t, target)
	clock := newFakeClock()
	w := &WatchFiles{Connection: "prod", Bucket: "b", Every: time.Minute, Settle: 2 * time.Minute,
		Events: []string{watchCreated, watchModified}, now: clock.now}
	pollOnce(t, w, h) // first listing: empty
	step := func(d time.Duration) []string {
		t.Helper()
		clock.advance(d)
		pollOnce(t, w, h)
		return h.takeEvents()
	}
	h.putSized("up.csv", "e1", 10)
	h.put("gone.csv", "e1")
	if got := step(time.Minute); len(got) != 0 {
		t.Fatalf("a new object fired at once: %v", got)
	}
	h.putSized("up.csv", "e2", 20) // still being written
	h.remove("gone.csv")
	if got := step(90 * time.Second); len(got) != 0 {
		t.Fatalf("fired %v before anything settled", got)
	}
	if got := step(time.Minute); len(got) != 0 {
		t.Fatalf("fired %v only 1m after the last change", got)
	}
	var n int
	if err := h.db.QueryRowContext(t.Context(), `SELECT count(*) FROM watch_state WHERE flow = 'f' AND key = 'gone.csv'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("a settling object that is gone is still recorded (%d rows, %v)", n, err)
	}
	restarted := *w
	if got := step(time.Minute); !slices.Equal(got, []string{"up.csv=created"}) {
		t.Fatalf("2m after the last change fired %v, want up.csv created once", got)
	}
	w = &restarted
	if got := step(time.Hour); len(got) != 0 {
		t.Fatalf("a settled object fired again: %v", got)
	}
	// A modification settles too.
	h.putSized("up.csv", "e3", 30)
	if got := step(time.Minute); len(got) != 0 {
		t.Fatalf("a modification fired before settling: %v", got)
	}
	if got := step(time.Minute); len(got) != 0 {
		t.Fatalf("a modification fired 1m after it was first listed: %v", got)
	}
	if got := step(time.Minute); !slices.Equal(got, []string{"up.csv=modified"}) {
		t.Fatalf("a settled modification fired %v, want up.csv modified", got)
	}
}

// TestWatchFilesStartAfter: with start_after, the first listing is whole
// and each later one starts after the greatest key seen, or before the
// first key still settling; only new keys are listed and fire.
func TestWatchFilesStartAfter(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, testWatchFilesStartAfter)
}

func testWatchFilesStartAfter(t *testing.T, target string) {
	h := newFakeHostOn(t, target)
	clock := newFakeClock()
	w := &WatchFiles{Connection: "prod", Bucket: "b", Every: time.Minute, StartAfter: true, Events: []string{watchCreated}, now: clock.now}
	h.put("in/2026/12/01.csv", "e1")
	h.put("in/2026/12/02.csv", "e1")
	pollOnce(t, w, h)
	h.put("in/2026/12/03.csv", "e1")
	h.put("in/2026/12/01.csv", "e2") // before the start: not seen, as documented
	pollOnce(t, w, h)
	if got := h.takeEvents(); !slices.Equal(got, []string{"in/2026/12/03.csv=created"}) {
		t.Fatalf("fired %v, want only 03.csv", got)
	}
	pollOnce(t, w, h)
	if got := h.takeEvents(); len(got) != 0 {
		t.Fatalf("fired %v again", got)
	}
	// Settling keeps the listing before the first object still waiting.
	w.Settle = time.Minute
	h.put("in/2026/12/04.csv", "e1")
	pollOnce(t, w, h)
	h.put("in/2026/12/05.csv", "e1")
	clock.advance(30 * time.Second)
	pollOnce(t, w, h)
	clock.advance(30 * time.Second)
	pollOnce(t, w, h)
	if got := h.takeEvents(); !slices.Equal(got, []string{"in/2026/12/04.csv=created"}) {
		t.Fatalf("fired %v, want 04.csv (settled) only", got)
	}
	clock.advance(30 * time.Second)
	pollOnce(t, w, h)
	if got := h.takeEvents(); !slices.Equal(got, []string{"in/2026/12/05.csv=created"}) {
		t.Fatalf("fired %v, want 05.csv", got)
	}
	pollOnce(t, w, h)
	want := []string{"", "in/2026/12/02.csv", "in/2026/12/03.csv",
		"in/2026/12/03.csv", "in/2026/12/03.csv", // 04.csv settling, then 04.csv and 05.csv
		"in/2026/12/03.csv", // 04.csv fires; 05.csv settling
		"in/2026/12/04.csv", // 05.csv fires
		"in/2026/12/05.csv"}
	if !slices.Equal(h.startAfter, want) {
		t.Fatalf("listings started after\n%q\nwant\n%q", h.startAfter, want)
	}
	// Keys compare by their bytes, as S3 sorts them, not by the
	// database's collation ("in/a" > "in/Z" > "in/2026/...").
	h.put("in/Z.csv", "e1")
	h.put("in/a.csv", "e1")
	pollOnce(t, w, h)
	clock.advance(time.Minute)
	pollOnce(t, w, h)
	if got := h.takeEvents(); !slices.Equal(got, []string{"in/Z.csv=created", "in/a.csv=created"}) {
		t.Fatalf("fired %v, want Z.csv and a.csv", got)
	}
	pollOnce(t, w, h)
	if last := h.startAfter[len(h.startAfter)-1]; last != "in/a.csv" {
		t.Fatalf("the listing started after %q, want in/a.csv (the greatest by bytes)", last)
	}
}

// TestWatchFilesDecode: the new keys decode to the typed trigger.
func TestWatchFilesDecode(t *testing.T) {
	t.Parallel()
	cfg, err := watchFilesKind.DecodeValues(map[string]any{"connection": "prod", "bucket": "b", "prefix": "in",
		"events": []any{"created", "modified"}, "settle": "2m",
		"after": map[string]any{"success": map[string]any{"move_to": "done/"}, "failure": "delete"}})
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.(*WatchFiles)
	if !slices.Equal(w.Events, []string{"created", "modified"}) || w.Settle != 2*time.Minute ||
		w.OnSuccess != (AfterAction{MoveTo: "done/"}) || w.OnFailure != (AfterAction{Delete: true}) || w.watched() != "in/" {
		t.Fatalf("decoded %+v", w)
	}
	cfg, err = watchFilesKind.DecodeValues(map[string]any{"connection": "prod", "bucket": "b"})
	if err != nil {
		t.Fatal(err)
	}
	if w := cfg.(*WatchFiles); !slices.Equal(w.Events, []string{"created"}) || w.Settle != 0 || !w.OnSuccess.none() || !w.OnFailure.none() || w.StartAfter {
		t.Fatalf("defaults decoded as %+v", w)
	}
}

// TestWatchFilesOlderRows: objects recorded before sizes and settling were
// kept (size 0, no since) are not taken for modified ones.
func TestWatchFilesOlderRows(t *testing.T) {
	t.Parallel()
	h := newFakeHost(t)
	h.putSized("a.csv", "e1", 10)
	w := &WatchFiles{Connection: "prod", Bucket: "b", Every: time.Minute, Events: []string{watchCreated, watchModified}}
	pollOnce(t, w, h)
	if _, err := h.db.ExecContext(t.Context(), `UPDATE watch_state SET size = 0, since = '', listed_at = '', run_id = ''`); err != nil {
		t.Fatal(err)
	}
	pollOnce(t, w, h)
	if got := h.takeEvents(); len(got) != 0 {
		t.Fatalf("an older row fired %v", got)
	}
	h.putSized("a.csv", "e2", 10)
	pollOnce(t, w, h)
	if got := h.takeEvents(); !slices.Equal(got, []string{"a.csv=modified"}) {
		t.Fatalf("a changed ETag fired %v, want a.csv modified", got)
	}
}

// TestWatchFilesAfterOnlyItsRun: the action after a run is taken only for
// the run the trigger started for the object as it is: not for a run given
// the same trigger data by hand, nor for one of an older version; and
// nothing at all without after: for the outcome.
func TestWatchFilesAfterOnlyItsRun(t *testing.T) {
	t.Parallel()
	h := newFakeHost(t)
	w := &WatchFiles{Connection: "prod", Bucket: "b", Prefix: "in/", Every: time.Minute, Events: []string{watchCreated, watchModified},
		OnSuccess: AfterAction{Delete: true}}
	pollOnce(t, w, h)
	h.put("in/a.csv", "e1")
	pollOnce(t, w, h)
	if got := h.takeFired(); !slices.Equal(got, []string{"in/a.csv"}) {
		t.Fatalf("fired %v", got)
	}
	payload := map[string]any{"type": "watch_files", "key": "in/a.csv", "etag": "e1"}
	finished := func(id string, ok bool) error {
		_, err := w.RunFinished(t.Context(), h, FinishedRun{ID: id, Flow: "f", Succeeded: ok, Trigger: payload})
		return err
	}
	if err := finished("by-hand", true); err != nil {
		t.Fatalf("a run the trigger did not start: %v", err)
	}
	if err := finished("run-1", false); err != nil {
		t.Fatalf("a failed run without after.failure: %v", err)
	}
	// The fake host has no s3.get_file_info: reaching for it shows the
	// action was attempted.
	if err := finished("run-1", true); err == nil || !strings.Contains(err.Error(), "no s3.get_file_info module") {
		t.Fatalf("the trigger's own run: %v, want the action attempted", err)
	}
	h.put("in/a.csv", "e2") // a newer version: its own run
	pollOnce(t, w, h)
	if err := finished("run-1", true); err != nil {
		t.Fatalf("a run of an older version: %v", err)
	}
}
