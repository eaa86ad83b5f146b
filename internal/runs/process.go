package runs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/s3flow/s3flow/internal/engine"
)

// StatusInterrupted is a run whose process stopped before the run ended
// (killed, crashed, the machine went down): 's3flow runs retry' resumes it.
const StatusInterrupted = "interrupted"

// A process that runs a run without a server (s3flow run) holds a lock
// file on it for as long as it runs it. The kernel drops the lock with the
// process, however it ends, so a reader knows a run whose lock is free is
// not running any more; a pid alone could have been reused since.
//
// The file of a killed process stays behind; readers remove it once they
// have recorded the run as interrupted (sweepLocks). Taking a run's lock
// and removing a run's file would race (a reader removes the file a new
// owner has just opened but not yet locked, and the owner then holds a
// lock no one else can see), so both happen under the folder's own lock,
// dirLock, held for the moment they take: an owner opens and locks its
// file under it exclusively, a remover locks and unlinks under it
// exclusively, and a reader tests a run's lock under it shared, so that
// no test is mistaken by an owner for another owner.

// workerPrefix marks the runs of such processes in the worker column.
const workerPrefix = "cli "

// ProcessWorker is what the worker column holds for a run of this process:
// its pid and host.
func ProcessWorker() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%spid %d on %s", workerPrefix, os.Getpid(), host)
}

// dirLockName is the folder's lock; it never matches lockFile's pattern,
// so no sweep removes it.
const dirLockName = "locks.lock"

// dirLock takes the lock of the lock folder dir, exclusive or shared
// (syscall.LOCK_EX or LOCK_SH), waiting for it: no one holds it longer
// than a few system calls. The returned function drops it.
func dirLock(dir string, how int) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, dirLockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	// Closing the file drops its lock.
	return func() { f.Close() }, nil
}

// RunLock is the lock a process holds on a run while it runs it.
type RunLock struct {
	dir string
	f   *os.File
}

// LockRun takes the lock on run id in dir (made if needed), before the
// run starts: a reader that sees the run running and its lock free knows
// its process is gone.
func LockRun(dir, id string) (*RunLock, error) {
	if id == "" || id != filepath.Base(id) || id == ".." {
		return nil, fmt.Errorf("lock run %q: not a run id", id)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lock run %s: %w", id, err)
	}
	unlock, err := dirLock(dir, syscall.LOCK_EX)
	if err != nil {
		return nil, fmt.Errorf("lock run %s: %w", id, err)
	}
	defer unlock()
	f, err := os.OpenFile(lockFile(dir, id), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock run %s: %w", id, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("run %s is running in another process already", id)
		}
		return nil, fmt.Errorf("lock run %s: %w", id, err)
	}
	// The pid is for people (and scripts) looking for the process; it is
	// written once the lock is ours, over what a killed process left.
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "%d\n", os.Getpid())
	}
	return &RunLock{dir: dir, f: f}, nil
}

// Release drops the lock, once the run's end is recorded, and removes its
// file while still holding it.
func (l *RunLock) Release() {
	if unlock, err := dirLock(l.dir, syscall.LOCK_EX); err == nil {
		defer unlock()
	}
	os.Remove(l.f.Name())
	l.f.Close()
}

const (
	lockPrefix = "run-"
	lockSuffix = ".lock"
)

func lockFile(dir, id string) string { return filepath.Join(dir, lockPrefix+id+lockSuffix) }

// processGone reports whether the process that runs run id, as worker
// names it, has stopped. It can tell only for a process of this machine;
// for any other it says no.
func processGone(dir, id, worker string) bool {
	var pid int
	var host string
	if _, err := fmt.Sscanf(strings.TrimPrefix(worker, workerPrefix), "pid %d on %s", &pid, &host); err != nil || !strings.HasPrefix(worker, workerPrefix) {
		return false
	}
	if me, _ := os.Hostname(); host != me {
		return false
	}
	// No lock file (not even its folder): the process never took it where
	// this reader looks (another S3FLOW_HOME on a shared database); ask for
	// the pid.
	pidGone := func() bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }
	unlock, err := dirLock(dir, syscall.LOCK_SH)
	if errors.Is(err, os.ErrNotExist) {
		return pidGone()
	}
	if err != nil {
		return false
	}
	defer unlock()
	f, err := os.Open(lockFile(dir, id))
	if errors.Is(err, os.ErrNotExist) {
		return pidGone()
	}
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return false
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return true
}

// sweepLocks removes the lock files in dir that no process holds, but for
// the runs in running: the history still shows those running, and their
// file is what tells a later reader that their process is gone. A file no
// one holds under the folder's exclusive lock has no owner: an owner opens
// and locks its file in one go under that lock. Removing is tidying, so
// failures are left for the next sweep.
func sweepLocks(dir string, running map[string]bool) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	var stale []string
	for _, e := range entries {
		id, ok := strings.CutPrefix(e.Name(), lockPrefix)
		if id, ok = strings.CutSuffix(id, lockSuffix); ok && e.Type().IsRegular() && !running[id] {
			stale = append(stale, e.Name())
		}
	}
	if len(stale) == 0 {
		return
	}
	unlock, err := dirLock(dir, syscall.LOCK_EX)
	if err != nil {
		return
	}
	defer unlock()
	for _, name := range stale {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.Remove(f.Name())
		}
		f.Close()
	}
}

// checkProcesses records as interrupted the running runs of processes of
// this machine that are gone (see LockDir), before a read shows them.
func (s *Store) checkProcesses(ctx context.Context) error {
	if s.LockDir == "" {
		return nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, worker, started_at FROM runs WHERE status = ? AND worker LIKE ?`,
		engine.StatusRunning, workerPrefix+"%")
	if err != nil {
		return fmt.Errorf("look for runs whose process stopped: %w", err)
	}
	type running struct{ id, worker, started string }
	var gone []running
	stillRunning := map[string]bool{}
	for rows.Next() {
		var r running
		if err := rows.Scan(&r.id, &r.worker, &r.started); err != nil {
			rows.Close()
			return fmt.Errorf("look for runs whose process stopped: %w", err)
		}
		if processGone(s.LockDir, r.id, r.worker) {
			gone = append(gone, r)
		} else {
			stillRunning[r.id] = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("look for runs whose process stopped: %w", err)
	}
	for _, r := range gone {
		if err := s.markInterrupted(ctx, r.id, r.worker, r.started); err != nil {
			return err
		}
	}
	// Now that the history says so, the files of the gone processes (and
	// any an earlier sweep missed) have done their work.
	sweepLocks(s.LockDir, stillRunning)
	return nil
}

// markInterrupted records that a run found running lost its process: it is
// interrupted, as of its last recorded event. The update holds only while
// the run is still that process's running run.
func (s *Store) markInterrupted(ctx context.Context, id, worker, started string) error {
	var last sql.NullString
	if err := s.db.QueryRowContext(ctx, `SELECT max(started_at) FROM run_events WHERE run_id = ?`, id).Scan(&last); err != nil {
		return fmt.Errorf("read the last event of run %s: %w", id, err)
	}
	at := started
	if last.Valid && last.String > at {
		at = last.String
	}
	why := fmt.Sprintf("the process that ran it (%s) stopped before the run ended: 's3flow runs retry %s' resumes it",
		strings.TrimPrefix(worker, workerPrefix), id)
	_, err := s.db.ExecContext(ctx, `UPDATE runs SET status = ?, error = ?, finished_at = ? WHERE id = ? AND status = ? AND worker = ?`,
		StatusInterrupted, why, at, id, engine.StatusRunning, worker)
	if err != nil {
		return fmt.Errorf("record that run %s was interrupted: %w", id, err)
	}
	return nil
}
