package cli

import (
	"io"
	"sync"
	"time"
)

// batchWriter gathers the printer's writes, one per bundle, into few large
// ones: a listing of 20,000 files was 20,000 write calls, each waking the
// program that reads them. What it holds goes out once batchBytes are
// waiting, or batchDelay after the first of them, so a bundle that a
// module emits before it waits (wait_for_files, a slow page) is still seen
// at once.
type batchWriter struct {
	mu    sync.Mutex
	w     io.Writer
	delay time.Duration // batchDelay; tests set their own
	buf   []byte
	timer *time.Timer
	err   error // the first failed write's: every later Write returns it
}

const (
	batchBytes = 32 << 10
	batchDelay = 20 * time.Millisecond
)

func newBatchWriter(w io.Writer) *batchWriter { return &batchWriter{w: w, delay: batchDelay} }

func (b *batchWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	b.buf = append(b.buf, p...)
	if len(b.buf) >= batchBytes {
		return len(p), b.flushLocked()
	}
	if len(b.buf) == len(p) { // the first bytes since the last write
		if b.timer == nil {
			b.timer = time.AfterFunc(b.delay, b.flushLater)
		} else {
			b.timer.Reset(b.delay)
		}
	}
	return len(p), nil
}

func (b *batchWriter) flushLater() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
}

// Flush writes what is held now.
func (b *batchWriter) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *batchWriter) flushLocked() error {
	if b.err != nil || len(b.buf) == 0 {
		return b.err
	}
	_, b.err = b.w.Write(b.buf)
	b.buf = b.buf[:0]
	return b.err
}

// Close writes what is held and stops the timer.
func (b *batchWriter) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.timer != nil {
		b.timer.Stop()
	}
	return b.flushLocked()
}
