package cli

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is an io.Writer that keeps every write apart and signals each.
type recorder struct {
	mu     sync.Mutex
	writes []string
	wrote  chan struct{}
	fail   error
}

func newRecorder() *recorder { return &recorder{wrote: make(chan struct{}, 100)} }

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return 0, r.fail
	}
	r.writes = append(r.writes, string(p))
	r.wrote <- struct{}{}
	return len(p), nil
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.writes...)
}

func TestBatchWriterGathersWrites(t *testing.T) {
	t.Parallel()
	r := newRecorder()
	// A delay no busy machine outlasts: the lines wait for Close.
	b := &batchWriter{w: r, delay: time.Hour}
	for _, line := range []string{"a\n", "b\n", "c\n"} {
		if _, err := b.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := r.all(); len(got) != 1 || got[0] != "a\nb\nc\n" {
		t.Errorf("wrote %q, want the three lines in order in one write", got)
	}
}

func TestBatchWriterWritesAFullBatchAtOnce(t *testing.T) {
	t.Parallel()
	r := newRecorder()
	b := &batchWriter{w: r, delay: time.Hour}
	defer b.Close()
	line := []byte(strings.Repeat("x", 1000) + "\n")
	var sent int
	for sent < batchBytes {
		n, err := b.Write(line)
		if err != nil {
			t.Fatal(err)
		}
		sent += n
	}
	// The write that filled the batch wrote it, before returning.
	got := r.all()
	if len(got) == 0 || len(got[0]) < batchBytes {
		t.Fatalf("writes after %d bytes: %d, want one of at least %d bytes", sent, len(got), batchBytes)
	}
}

func TestBatchWriterShowsAHeldLineSoon(t *testing.T) {
	t.Parallel()
	r := newRecorder()
	b := newBatchWriter(r)
	defer b.Close()
	if _, err := b.Write([]byte("first bundle\n")); err != nil {
		t.Fatal(err)
	}
	// A module that emits a bundle and then waits: the line goes out
	// without Close. (The bound is only for a test that would hang.)
	select {
	case <-r.wrote:
	case <-time.After(10 * time.Second):
		t.Fatal("a held line was not written while the writer waited")
	}
	if got := r.all(); len(got) != 1 || got[0] != "first bundle\n" {
		t.Errorf("wrote %q", got)
	}
}

func TestBatchWriterKeepsTheFirstError(t *testing.T) {
	t.Parallel()
	broken := errors.New("broken pipe")
	r := newRecorder()
	r.fail = broken
	b := newBatchWriter(r)
	if _, err := b.Write(bytes.Repeat([]byte("y"), batchBytes)); !errors.Is(err, broken) {
		t.Fatalf("full batch to a broken writer: %v, want %v", err, broken)
	}
	if _, err := b.Write([]byte("more\n")); !errors.Is(err, broken) {
		t.Errorf("a later write: %v, want %v", err, broken)
	}
	if err := b.Close(); !errors.Is(err, broken) {
		t.Errorf("Close: %v, want %v", err, broken)
	}
}
