package server

import (
	"github.com/s3flow/s3flow/internal/store"

	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/module"
)

// flowSet holds the flows loaded from the flows folder, the files that did
// not load with their problems, and the flows' enabled state (kept in the
// database, so it survives restarts).
type flowSet struct {
	db *store.DB

	mu    sync.RWMutex
	flows map[string]*flow.Flow
	// broken are the files that have problems, by file name.
	broken []flowFile
}

// FlowProblem is one problem that keeps a flow file from running: where
// (line and column from 1; 0 when it concerns the whole file) and what.
type FlowProblem struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

func (p FlowProblem) String() string {
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Column, p.Message)
}

// flowFile is one file of the flows folder as read: its flow, or (Flow
// nil) the problems that keep it from running.
type flowFile struct {
	File     string
	Flow     *flow.Flow
	Problems []FlowProblem
}

// readFlows reads every *.yaml / *.yml file of dir and checks each flow
// with check (what this server would refuse to run). Every file is in the
// answer, with its flow or its problems; the error is for a folder that
// cannot be read.
func readFlows(dir string, reg *module.Registry, check func(*flow.Flow) error) ([]flowFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read flows folder: %w", err)
	}
	var files []flowFile
	byName := map[string]string{}
	for _, e := range entries { // sorted by file name: the first of two same names wins
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			continue
		}
		file := filepath.Join(dir, name)
		ff := flowFile{File: file}
		data, err := os.ReadFile(file)
		if err == nil {
			ff.Flow, err = flow.Parse(file, data, reg)
		}
		if err == nil {
			err = check(ff.Flow)
		}
		if err == nil {
			if other, dup := byName[ff.Flow.Name]; dup {
				err = fmt.Errorf("flow %q is also defined in %s", ff.Flow.Name, other)
			}
		}
		if err != nil {
			ff.Flow, ff.Problems = nil, problemsOf(file, err)
		} else {
			byName[ff.Flow.Name] = file
		}
		files = append(files, ff)
	}
	return files, nil
}

// problemsOf spreads err into problems with their positions: flow.Parse
// and CheckReach give flow.Errors of *flow.Problem; other checks may wrap
// or join them, or give plain errors (positioned at 0:0, the whole file).
func problemsOf(file string, err error) []FlowProblem {
	var out []FlowProblem
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case flow.Errors:
			for _, x := range e {
				walk(x)
			}
		case *flow.Problem:
			f := e.File
			if f == "" {
				f = file
			}
			out = append(out, FlowProblem{File: f, Line: e.Pos.Line, Column: e.Pos.Column, Message: e.Msg})
		case interface{ Unwrap() []error }:
			for _, x := range e.Unwrap() {
				walk(x)
			}
		default:
			// Wrapped problems: their positions say more than the wrapping.
			var fe flow.Errors
			var p *flow.Problem
			switch {
			case errors.As(err, &fe):
				walk(fe)
			case errors.As(err, &p):
				walk(p)
			default:
				out = append(out, FlowProblem{File: file, Message: err.Error()})
			}
		}
	}
	walk(err)
	return out
}

// Replace swaps in a new reading of the flows folder at once: runs queued
// or picked up from now on get the new flows, while a run that has started
// keeps the *flow.Flow it took (flows are never changed in place). It
// reports whether a flow was added, removed or changed, and whether the
// problems are not those of before.
func (s *flowSet) Replace(files []flowFile) (flowsChanged, problemsChanged bool) {
	flows := map[string]*flow.Flow{}
	var broken []flowFile
	for _, ff := range files {
		if ff.Flow != nil {
			flows[ff.Flow.Name] = ff.Flow
		} else {
			broken = append(broken, ff)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	flowsChanged = len(flows) != len(s.flows)
	for name, f := range flows {
		if old, ok := s.flows[name]; !ok || old.Hash != f.Hash || old.File != f.File {
			flowsChanged = true
		}
	}
	problemsChanged = !slices.EqualFunc(broken, s.broken, func(a, b flowFile) bool {
		return a.File == b.File && slices.Equal(a.Problems, b.Problems)
	})
	s.flows, s.broken = flows, broken
	return flowsChanged, problemsChanged
}

func (s *flowSet) Get(name string) (*flow.Flow, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f, ok := s.flows[name]
	return f, ok
}

// List returns the flows by name.
func (s *flowSet) List() []*flow.Flow {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.listLocked()
}

func (s *flowSet) listLocked() []*flow.Flow {
	out := make([]*flow.Flow, 0, len(s.flows))
	for _, f := range s.flows {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Listing returns the flows by name and the files that did not load, of
// one reading of the folder.
func (s *flowSet) Listing() ([]*flow.Flow, []flowFile) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.listLocked(), slices.Clone(s.broken)
}

// Enabled says whether a flow's triggers may start runs (default yes).
func (s *flowSet) Enabled(ctx context.Context, name string) (bool, error) {
	return flowEnabled(ctx, s.db, name)
}

// flowEnabled reads a flow's switch through q: the database, or a
// transaction that queues a run with it.
func flowEnabled(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, name string) (bool, error) {
	var enabled bool
	err := q.QueryRowContext(ctx, `SELECT enabled FROM flow_state WHERE name = ?`, name).Scan(&enabled)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	return enabled, err
}

// errDisabled is what errFlowDisabled wraps.
var errDisabled = errors.New("disabled")

// errFlowDisabled refuses a run of a flow whose triggers are switched off.
func errFlowDisabled(name string) error {
	return &httpError{http.StatusConflict, fmt.Errorf("flow %q is %w", name, errDisabled)}
}

// SetEnabled switches a flow's triggers on or off.
func (s *flowSet) SetEnabled(ctx context.Context, name string, enabled bool) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO flow_state (name, enabled) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled`, name, enabled)
	return err
}
