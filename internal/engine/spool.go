package engine

import (
	"fmt"
	"os"
	"sync"
)

// spool is a run's folder for the files its steps make for later steps
// (downloads, CSV files: the modules that Spools). It is made when a step
// first needs it: most runs need none, and making and removing a folder
// can cost more than the rest of a small run's work (measured on one
// machine: 1.1 ms of system time, against 0.9 ms for the rest of what a
// worker did for a run of one step).
type spool struct {
	parent, prefix string

	mu   sync.Mutex
	path string
}

// dir returns the folder, made on the first call.
func (s *spool) dir() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path == "" {
		path, err := os.MkdirTemp(s.parent, s.prefix)
		if err != nil {
			return "", fmt.Errorf("make a spool folder: %w", err)
		}
		s.path = path
	}
	return s.path, nil
}

// remove removes the folder and what is in it, if it was made.
func (s *spool) remove() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path != "" {
		os.RemoveAll(s.path)
		s.path = ""
	}
}
