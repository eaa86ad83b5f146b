package engine

import (
	"context"
	"time"

	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/module"
)

// A step whose module waits (module.Module.Waits) is checked again and
// again until what it waits for is there. Between checks the engine
// either sleeps (module.Exec does) or, with RunOptions.Suspend, ends the
// run as StatusWaiting, for its caller to resume it later (a server's
// queue snoozes its job, so no worker is held). Each check that must wait
// on is recorded as an EventWaiting whose output holds the wait's state:
// a resumed run continues the wait from it (WaitResumer), so its timeout
// counts from the first check, not from the resume.

// waitEnv makes menv the environment of one attempt of step i, which
// waits: the state of its wait so far, and a report of each check.
func (r *runner) waitEnv(ctx context.Context, menv *module.Env, i, attempt int, input map[string]any) {
	st := r.f.Steps[i]
	key := r.doneKey(st.ID)
	r.shared.mu.Lock()
	menv.Wait = r.shared.waits[key]
	r.shared.mu.Unlock()
	menv.Suspend = r.suspend
	menv.Waited = func(ws module.WaitState, w *module.Waiting) {
		r.shared.mu.Lock()
		r.shared.waits[key] = ws
		r.shared.mu.Unlock()
		now := time.Now()
		r.record(ctx, Event{StepID: st.ID, Step: i, Module: st.Module.Name, Attempt: attempt, Status: EventWaiting,
			Input: input, Output: waitOutput(ws, w, now), Started: now})
	}
}

// waitOver forgets the wait of step st at the current bundle: it ended.
func (r *runner) waitOver(st *flow.Step) {
	if !st.Module.Waits {
		return
	}
	r.shared.mu.Lock()
	delete(r.shared.waits, r.doneKey(st.ID))
	r.shared.mu.Unlock()
}

// waitOutput is the output of an EventWaiting: what the check found, when
// the next one is due, and the state waitState reads back.
func waitOutput(ws module.WaitState, w *module.Waiting, now time.Time) map[string]any {
	state := make(map[string]any, len(ws.State))
	for k, v := range ws.State {
		state[k] = v
	}
	return map[string]any{"found": w.Found, "since": module.FormatTime(ws.Since),
		"nextCheck": module.FormatTime(now.Add(w.After)), "state": state}
}

// waitState reads back the state an EventWaiting recorded; false when it
// does not hold one (a history written by another version).
func waitState(out map[string]any) (module.WaitState, bool) {
	s, _ := out["since"].(string)
	since, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return module.WaitState{}, false
	}
	ws := module.WaitState{Since: since}
	if m, ok := out["state"].(map[string]any); ok {
		ws.State = make(map[string]string, len(m))
		for k, v := range m {
			if s, ok := v.(string); ok {
				ws.State[k] = s
			}
		}
	}
	return ws, true
}
