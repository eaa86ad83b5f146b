package runs_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/runs"
	"github.com/s3flow/s3flow/internal/store"
)

// A run records what on_error handled: the errors ignore and resume passed
// over, and for a break which bundle it stopped, shown by Get and List; a
// resumed run counts afresh.
func TestRunOutcome(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *store.DB) {
		hist, reg := setup(t, db)
		_, ok := runFlow(t, hist, reg, `name: t
steps:
  - {id: list, module: test.list, with: {n: 4}}
  - id: echo
    module: test.echo
    with: {value: "{{ steps.list.n }}", fail: "{{ steps.list.n > 0 }}"}
    on_error: ignore
`, nil)
		_, broke := runFlow(t, hist, reg, `name: t
steps:
  - {id: list, module: test.list, with: {n: 3}}
  - id: echo
    module: test.echo
    with: {value: "{{ steps.list.n }}", fail: "{{ steps.list.n == 1 }}"}
    on_error: break
`, nil)
		got, err := hist.Get(t.Context(), ok.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != engine.StatusSucceeded || got.IgnoredErrors != 3 || got.ResumedErrors != 0 || got.Error != "" {
			t.Errorf("run with ignored errors: %s, %d ignored, %d resumed, error %q; want succeeded, 3, 0, none",
				got.Status, got.IgnoredErrors, got.ResumedErrors, got.Error)
		}
		got, err = hist.Get(t.Context(), broke.RunID)
		if err != nil {
			t.Fatal(err)
		}
		want := `on_error: break stopped bundle list#1: step "echo": echo refused`
		if got.Status != engine.StatusIncomplete || got.BrokenBundles != 1 || got.Error != want {
			t.Errorf("broken run: %s, %d broken, error %q; want incomplete, 1, %q", got.Status, got.BrokenBundles, got.Error, want)
		}
		list, err := hist.List(t.Context(), runs.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range list {
			if r.ID == ok.RunID && r.IgnoredErrors != 3 {
				t.Errorf("List: run %s has %d ignored errors, want 3", r.ID, r.IgnoredErrors)
			}
		}
		// Started again (a retry), the run counts again from nothing.
		if err := hist.StartRun(t.Context(), engine.RunInfo{ID: ok.RunID, Flow: "t", Started: got.Started}); err != nil {
			t.Fatal(err)
		}
		if got, _ := hist.Get(t.Context(), ok.RunID); got.IgnoredErrors != 0 || got.Status != engine.StatusRunning {
			t.Errorf("restarted run: %s with %d ignored errors, want running with 0", got.Status, got.IgnoredErrors)
		}
	})
}

// A run of a process of this machine (s3flow run) whose lock is free has
// lost its process: reads show it interrupted, with a way to resume it. A
// run whose process holds its lock, a server's run and a run of another
// machine stay running.
func TestInterruptedRun(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		locks := t.TempDir()
		cli := runs.New(db)
		cli.Worker, cli.LockDir = runs.ProcessWorker(), locks
		start := func(hist *runs.Store, id string) {
			t.Helper()
			if err := hist.StartRun(ctx, engine.RunInfo{ID: id, Flow: "f", Started: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		held, err := runs.LockRun(locks, "held")
		if err != nil {
			t.Fatal(err)
		}
		defer held.Release()
		start(cli, "held")
		// A run whose process has its lock but has not recorded it yet.
		fresh, err := runs.LockRun(locks, "fresh")
		if err != nil {
			t.Fatal(err)
		}
		defer fresh.Release()
		// The lock of a killed process: its file stays, its lock is gone
		// with the process. The worker is this (live) process on purpose:
		// the lock decides, not a pid that may have been reused.
		if err := os.WriteFile(filepath.Join(locks, "run-killed.lock"), []byte("1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		start(cli, "killed")
		if err := cli.Event(ctx, engine.Event{RunID: "killed", Seq: 1, StepID: "s", Module: "m", Status: "ok", Started: time.Now()}); err != nil {
			t.Fatal(err)
		}
		server := runs.New(db)
		if err := server.Queue(ctx, engine.RunInfo{ID: "server", Flow: "f", Started: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if _, err := server.Claim(ctx, "server", "f", "worker-1", 0); err != nil {
			t.Fatal(err)
		}
		start(server, "server")
		other := runs.New(db)
		other.Worker = "cli pid 1 on another-machine"
		start(other, "elsewhere")
		// Files no process holds: of a run still shown running (of another
		// machine, so no one can tell), and of a run that is no longer.
		for _, id := range []string{"elsewhere", "ended"} {
			if err := os.WriteFile(filepath.Join(locks, "run-"+id+".lock"), []byte("1\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}

		got, err := cli.Get(ctx, "killed")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != runs.StatusInterrupted || got.Finished == nil || !strings.Contains(got.Error, "s3flow runs retry killed") {
			t.Errorf("killed run: %s, finished %v, error %q; want interrupted, finished, how to resume", got.Status, got.Finished, got.Error)
		}
		list, err := cli.List(ctx, runs.Filter{Status: engine.StatusRunning})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(list); !sameIDs(got, "elsewhere,server,held") {
			t.Errorf("running runs: %s, want held, server and elsewhere", got)
		}
		if list, _ := cli.List(ctx, runs.Filter{Status: runs.StatusInterrupted}); ids(list) != "killed" {
			t.Errorf("interrupted runs: %s, want killed", ids(list))
		}
		// Once the killed run reads as interrupted, its file has done its
		// work and is gone, as is that of the ended run; the locks live
		// processes hold and the file of a run still running stay.
		for id, want := range map[string]bool{"killed": false, "ended": false, "held": true, "fresh": true, "elsewhere": true} {
			_, err := os.Stat(filepath.Join(locks, "run-"+id+".lock"))
			if have := err == nil; have != want {
				t.Errorf("lock file of run %s: present %v, want %v (%v)", id, have, want, err)
			}
		}
		if _, err := runs.LockRun(locks, "held"); err == nil || !strings.Contains(err.Error(), "running in another process already") {
			t.Errorf("lock a held run again: %v, want it running already", err)
		}
	})
}

func sameIDs(a, b string) bool {
	as, bs := strings.Split(a, ","), strings.Split(b, ",")
	slices.Sort(as)
	slices.Sort(bs)
	return slices.Equal(as, bs)
}
