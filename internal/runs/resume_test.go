package runs_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/store"
)

// TestResumeRestoresTypesAndRerunsCut: a resumed run reuses a step's
// recorded output in its declared types (a time is a time again, so
// format() works on it), and runs again a step whose output the history
// cut short; inputs the history cut short say so.
func TestResumeRestoresTypesAndRerunsCut(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *store.DB) {
		for _, long := range []bool{false, true} {
			hist, reg := setup(t, db)
			var stamps, checks atomic.Int64
			at := time.Date(2026, 12, 1, 6, 30, 0, 0, time.UTC)
			reg.Register(
				&module.Module{
					Name:   "test.stamp",
					Fields: []module.Field{{Name: "long", Type: module.Bool}},
					Outputs: []module.Output{
						{Name: "at", Type: module.Time}, {Name: "size", Type: module.Int}, {Name: "text", Type: module.String},
					},
					Run: func(_ context.Context, _ module.Env, in module.Values, emit func(module.Bundle) error) error {
						stamps.Add(1)
						text := "short"
						if in.Bool("long") {
							text = strings.Repeat("x", 10_000)
						}
						return emit(module.Bundle{"at": at, "size": int64(len(text)), "text": text})
					},
				},
				&module.Module{
					Name:    "test.check",
					Fields:  []module.Field{{Name: "day", Type: module.String}, {Name: "size", Type: module.Int}},
					Outputs: []module.Output{{Name: "day", Type: module.String}},
					Run: func(_ context.Context, _ module.Env, in module.Values, emit func(module.Bundle) error) error {
						if checks.Add(1) == 1 {
							return errors.New("first attempt fails")
						}
						return emit(module.Bundle{"day": in.String("day")})
					},
				},
			)
			f, err := flow.Parse("flows/t.yaml", []byte(`name: resume
inputs:
  long: {type: boolean}
steps:
  - {id: stamp, module: test.stamp, with: {long: "{{ inputs.long }}"}}
  - {id: check, module: test.check, with: {day: "{{ format(steps.stamp.at, 'YYYY-MM-DD') }}", size: "{{ len(steps.stamp.text) }}"}}
`), reg)
			if err != nil {
				t.Fatal(err)
			}
			eng := engine.New(engine.Options{Registry: reg, Recorder: hist, SpoolDir: t.TempDir()})
			inputs := map[string]any{"long": long}
			res, _ := eng.Run(t.Context(), f, inputs, nil)
			if res.Status != engine.StatusFailed {
				t.Fatalf("first run %s, want failed", res.Status)
			}
			res, err = eng.Start(t.Context(), f, inputs, nil, engine.RunOptions{ID: res.RunID, Resume: true})
			if err != nil || res.Status != engine.StatusSucceeded {
				t.Fatalf("resumed run: %v %v", res, err)
			}
			wantStamps := int64(1) // reused, as a time
			if long {
				wantStamps = 2 // its text was cut in the history: run again
			}
			if got := stamps.Load(); got != wantStamps {
				t.Errorf("long=%v: stamp ran %d times, want %d", long, got, wantStamps)
			}
			evs := events(t, hist, res.RunID)
			last := evs[len(evs)-1]
			if last.StepID != "check" || last.Output["day"] != "2026-12-01" {
				t.Errorf("long=%v: last event %+v, want check's day 2026-12-01", long, last)
			}
		}
	})
}

// TestInputsCutSaysSo: a run whose inputs were longer than the history
// keeps says so, so that no retry runs with the cut value.
func TestInputsCutSaysSo(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *store.DB) {
		hist, reg := setup(t, db)
		for _, tt := range []struct {
			note string
			cut  bool
		}{{"short", false}, {strings.Repeat("n", 5000), true}} {
			_, res := runFlow(t, hist, reg, `name: cut
inputs:
  note: {type: string}
steps:
  - {id: echo, module: test.echo, with: {value: "{{ inputs.note }}"}}
`, map[string]any{"note": tt.note})
			r, err := hist.Get(t.Context(), res.RunID)
			if err != nil {
				t.Fatal(err)
			}
			if r.InputsCut != tt.cut {
				t.Errorf("note of %d bytes: InputsCut %v, want %v", len(tt.note), r.InputsCut, tt.cut)
			}
		}
	})
}
