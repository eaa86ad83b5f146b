package runs

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// TestLockSweepRace takes and drops the lock of one run from several
// owners while a sweeper removes the files no one holds: an owner that
// got the lock is the only one, and its file is the one at the lock's
// path, so that every reader sees it (a sweeper that unlinked a file an
// owner had opened but not yet locked would break both).
func TestLockSweepRace(t *testing.T) {
	dir := t.TempDir()
	const owners, rounds = 4, 300
	var holders, taken atomic.Int64
	stop := make(chan struct{})
	var sweeper sync.WaitGroup
	sweeper.Add(1)
	go func() {
		defer sweeper.Done()
		for {
			select {
			case <-stop:
				return
			default:
				sweepLocks(dir, nil)
			}
		}
	}()
	var wg sync.WaitGroup
	for range owners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				l, err := LockRun(dir, "r")
				if err != nil {
					continue
				}
				taken.Add(1)
				if n := holders.Add(1); n != 1 {
					t.Errorf("%d owners hold the lock of run r at once", n)
				}
				var held, atPath syscall.Stat_t
				if err := syscall.Fstat(int(l.f.Fd()), &held); err != nil {
					t.Error(err)
				}
				if err := syscall.Stat(lockFile(dir, "r"), &atPath); err != nil {
					t.Errorf("the lock file of a held run is gone: %v", err)
				} else if held.Ino != atPath.Ino {
					t.Errorf("the held lock file is not the one at its path")
				}
				holders.Add(-1)
				l.Release()
			}
		}()
	}
	wg.Wait()
	close(stop)
	sweeper.Wait()
	if taken.Load() == 0 {
		t.Fatal("no owner ever took the lock")
	}
	if _, err := os.Stat(lockFile(dir, "r")); !os.IsNotExist(err) {
		t.Errorf("the lock file outlived its last owner: %v", err)
	}
}
