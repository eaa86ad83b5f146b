package module

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Waiting is what a module that waits (Module.Waits) returns, as its
// error, when what it waits for is not there yet: "not yet, look again
// after After". It is not a failure: whoever runs the module decides how
// to wait. Exec sleeps and calls the module again, unless Env.Suspend
// says the caller suspends the run instead (a server's queue snoozes it,
// so no worker is held while it waits, and resumes it later).
type Waiting struct {
	// After is when to look again.
	After time.Duration
	// State is what the module wants to see on its next check, as
	// Env.Wait.State: the run history keeps it (as JSON text, so values
	// are strings) for a run resumed on another worker or after a restart.
	// Keys that look like secrets (runs.SecretName) are masked there.
	State map[string]string
	// Found says what the check found, for people: "1 of 2 files".
	Found string
}

func (w *Waiting) Error() string {
	return fmt.Sprintf("waiting (%s): next check in %s", w.Found, w.After)
}

// WaitState is what a module that waits learned on its earlier checks in
// this run, across retries and resumes.
type WaitState struct {
	// Since is when the module first checked: it measures its timeout
	// from there, however often the run was suspended and resumed.
	Since time.Time
	// State is the Waiting.State of the last check (nil before any).
	State map[string]string
}

// execWaiting runs a module that waits: while it reports Waiting, each
// check is reported to env.Waited and, unless env.Suspend is set, Exec
// sleeps (until ctx ends) and checks again.
func (m *Module) execWaiting(ctx context.Context, env Env, in Values, emit func(Bundle) error) error {
	if env.Wait.Since.IsZero() {
		env.Wait.Since = time.Now().UTC()
	}
	for {
		err := m.Run(ctx, env, in, emit)
		var w *Waiting
		if !errors.As(err, &w) {
			return err
		}
		if w.After <= 0 {
			w.After = time.Second
		}
		env.Wait.State = w.State
		if env.Waited != nil {
			env.Waited(env.Wait, w)
		}
		if env.Suspend {
			return w
		}
		t := time.NewTimer(w.After)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("stopped while waiting (%s): %w", w.Found, context.Cause(ctx))
		case <-t.C:
		}
	}
}
