package server

import (
	"context"
	"net/http"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/s3flow/s3flow/internal/flow"
)

// checkFlow is what this server refuses to load beyond what flow.Parse
// finds (triggers included): steps that touch what the server's flows may
// not. New and Reload both call it, so a flow refused at start is refused
// at a reload too.
func (s *Server) checkFlow(f *flow.Flow) error {
	return s.checkReach(f)
}

// readFlows reads the flows folder as this server loads it.
func (s *Server) readFlows() ([]flowFile, error) {
	return readFlows(s.cfg.FlowsDir, s.cfg.Registry, s.checkFlow)
}

// LoadedFlow is a flow a reload found runnable.
type LoadedFlow struct {
	Name    string `json:"name"`
	File    string `json:"file"`
	Version string `json:"version"`
}

// ReloadResult is what a reload of the flows folder found.
type ReloadResult struct {
	// Changed says whether a flow was added, removed or changed (and so
	// the triggers were started again).
	Changed  bool          `json:"changed"`
	Flows    []LoadedFlow  `json:"flows"`
	Problems []FlowProblem `json:"problems"`
}

// Reload reads the flows folder again and swaps the new set in at once:
// new runs get the new versions, running runs keep theirs, files with
// problems are listed with them, and when the set changed the triggers
// start again for it. A folder that cannot be read leaves the flows as
// they were.
func (s *Server) Reload(ctx context.Context) (ReloadResult, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	files, err := s.readFlows()
	if err != nil {
		s.log.ErrorContext(ctx, "flows not reloaded", "error", err)
		return ReloadResult{}, err
	}
	flowsChanged, problemsChanged := s.flows.Replace(files)
	if problemsChanged {
		s.logProblems(ctx, files)
	}
	res := ReloadResult{Changed: flowsChanged, Flows: []LoadedFlow{}, Problems: []FlowProblem{}}
	for _, ff := range files {
		if ff.Flow != nil {
			res.Flows = append(res.Flows, LoadedFlow{Name: ff.Flow.Name, File: ff.File, Version: ff.Flow.Hash})
		}
		res.Problems = append(res.Problems, ff.Problems...)
	}
	if flowsChanged {
		s.log.InfoContext(ctx, "flows reloaded", "flows", len(res.Flows), "files", len(files))
		s.restartTriggers()
	}
	return res, nil
}

func (s *Server) logProblems(ctx context.Context, files []flowFile) {
	for _, ff := range files {
		for _, p := range ff.Problems {
			s.log.ErrorContext(ctx, "flow not loaded", "problem", p.String())
		}
	}
}

// reloadFlows answers POST /api/flows/reload.
func (s *Server) reloadFlows(w http.ResponseWriter, r *http.Request) error {
	res, err := s.Reload(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

// Changes come in bursts: an editor writes a temporary file and renames it
// over the old one, a checkout writes many files. A reload waits until
// the folder has been quiet for flowsQuiet, and at most flowsMaxWait after
// the first change of a burst.
const (
	flowsQuiet   = 250 * time.Millisecond
	flowsMaxWait = 2 * time.Second
)

// watchFlows reloads the flows when something in the flows folder changes,
// until ctx ends. Every kind of change counts, whatever the name: a file
// renamed into place, a folder of symbolic links swapped (a Kubernetes
// ConfigMap); a reload that finds nothing changed does nothing. Where the
// folder cannot be watched, SIGHUP and POST /api/flows/reload still work.
func (s *Server) watchFlows(ctx context.Context) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		s.log.WarnContext(ctx, "flows folder not watched; reload with SIGHUP or POST /api/flows/reload", "error", err)
		return
	}
	defer w.Close()
	if err := w.Add(s.cfg.FlowsDir); err != nil {
		s.log.WarnContext(ctx, "flows folder not watched; reload with SIGHUP or POST /api/flows/reload", "folder", s.cfg.FlowsDir, "error", err)
		return
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var first time.Time // of the burst waiting for its reload
	changed := func() {
		if first.IsZero() {
			first = time.Now()
		}
		timer.Reset(max(0, min(flowsQuiet, flowsMaxWait-time.Since(first))))
	}
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-w.Events:
			if !ok {
				return
			}
			changed()
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			// Events were lost (the queue overflowed): read it all again.
			s.log.WarnContext(ctx, "watching the flows folder", "error", err)
			changed()
		case <-timer.C:
			first = time.Time{}
			s.Reload(ctx) // it logs what it found
		}
	}
}

// The schedule and watch_files triggers run under a context of their own,
// child of the one that lets this process run them (Serve's, or on
// PostgreSQL the trigger lock's), so that a reload can stop them and start
// them again for the new flows.

// triggersOn runs the triggers of the current flows under ctx, and again
// after each reload that changes the flows, until triggersOff.
func (s *Server) triggersOn(ctx context.Context) {
	s.trigMu.Lock()
	defer s.trigMu.Unlock()
	s.startTriggersLocked(ctx)
}

// triggersOff stops the triggers (this server lost the trigger lock).
func (s *Server) triggersOff() {
	s.trigMu.Lock()
	defer s.trigMu.Unlock()
	s.stopTriggersLocked()
	s.trigParent = nil
}

// restartTriggers stops the triggers and starts those of the flows now
// loaded, if this process runs triggers at all.
func (s *Server) restartTriggers() {
	s.trigMu.Lock()
	defer s.trigMu.Unlock()
	if s.trigParent == nil || s.trigParent.Err() != nil {
		return
	}
	s.startTriggersLocked(s.trigParent)
}

// startTriggersLocked stops the running triggers and starts the current
// flows' under a child of parent; trigMu is held.
func (s *Server) startTriggersLocked(parent context.Context) {
	s.stopTriggersLocked()
	tctx, cancel := context.WithCancel(parent)
	s.trigParent, s.trigCancel = parent, cancel
	s.trigWait = s.runTriggers(tctx)
}

// stopTriggersLocked cancels the running triggers and waits until they
// have returned, so that a tick being recorded is never fired again by
// the triggers that replace them; trigMu is held.
func (s *Server) stopTriggersLocked() {
	if s.trigCancel != nil {
		s.trigCancel()
		s.trigWait()
	}
	s.trigCancel, s.trigWait = nil, nil
}
