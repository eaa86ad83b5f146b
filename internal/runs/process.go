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

// workerPrefix marks the runs of such processes in the worker column.
const workerPrefix = "cli "

// ProcessWorker is what the worker column holds for a run of this process:
// its pid and host.
func ProcessWorker() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%spid %d on %s", workerPrefix, os.Getpid(), host)
}

// RunLock is the lock a process holds on a run while it runs it.
type RunLock struct{ f *os.File }

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
	return &RunLock{f}, nil
}

// Release drops the lock, once the run's end is recorded.
func (l *RunLock) Release() {
	os.Remove(l.f.Name())
	l.f.Close()
}

func lockFile(dir, id string) string { return filepath.Join(dir, "run-"+id+".lock") }

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
	f, err := os.Open(lockFile(dir, id))
	if errors.Is(err, os.ErrNotExist) {
		// No lock file: the process never took it where this reader looks
		// (another S3FLOW_HOME on a shared database); ask for the pid.
		return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
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
	for rows.Next() {
		var r running
		if err := rows.Scan(&r.id, &r.worker, &r.started); err != nil {
			rows.Close()
			return fmt.Errorf("look for runs whose process stopped: %w", err)
		}
		if processGone(s.LockDir, r.id, r.worker) {
			gone = append(gone, r)
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
