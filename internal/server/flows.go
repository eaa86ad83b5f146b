package server

import (
	"github.com/s3flow/s3flow/internal/store"

	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/module"
)

// flowSet holds the flows loaded from the flows folder and their enabled
// state (kept in the database, so it survives restarts).
type flowSet struct {
	db *store.DB

	mu    sync.RWMutex
	flows map[string]*flow.Flow
}

// loadFlows reads every *.yaml / *.yml file of dir. A file with problems is
// reported and left out; the others load.
func loadFlows(dir string, reg *module.Registry) (map[string]*flow.Flow, []error) {
	flows := map[string]*flow.Flow{}
	var problems []error
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, []error{fmt.Errorf("read flows folder: %w", err)}
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			continue
		}
		file := filepath.Join(dir, name)
		data, err := os.ReadFile(file)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		f, err := flow.Parse(file, data, reg)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		if other, dup := flows[f.Name]; dup {
			problems = append(problems, fmt.Errorf("%s: flow %q is also defined in %s", file, f.Name, other.File))
			continue
		}
		flows[f.Name] = f
	}
	return flows, problems
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
	out := make([]*flow.Flow, 0, len(s.flows))
	for _, f := range s.flows {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Enabled says whether a flow's triggers may start runs (default yes).
func (s *flowSet) Enabled(ctx context.Context, name string) (bool, error) {
	var enabled bool
	err := s.db.QueryRowContext(ctx, `SELECT enabled FROM flow_state WHERE name = ?`, name).Scan(&enabled)
	if err == sql.ErrNoRows {
		return true, nil
	}
	return enabled, err
}

// SetEnabled switches a flow's triggers on or off.
func (s *flowSet) SetEnabled(ctx context.Context, name string, enabled bool) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO flow_state (name, enabled) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled`, name, enabled)
	return err
}
