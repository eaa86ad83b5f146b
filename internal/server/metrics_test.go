package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/runs"
	"github.com/s3flow/s3flow/internal/s3client"
)

// fakeHistory is the run history the metrics wrap: it keeps the events it
// is given, resumes one run and lists fixed runs.
type fakeHistory struct {
	events   []engine.Event
	finished []string
	byStatus map[string]int
	listErr  error
}

func (h *fakeHistory) StartRun(context.Context, engine.RunInfo) error { return nil }
func (h *fakeHistory) Event(_ context.Context, ev engine.Event) error {
	h.events = append(h.events, ev)
	return nil
}
func (h *fakeHistory) FinishRun(_ context.Context, end engine.RunEnd) error {
	h.finished = append(h.finished, end.ID+"="+end.Status)
	return nil
}
func (h *fakeHistory) Completed(_ context.Context, id string) (map[string]map[string]any, int64, error) {
	return map[string]map[string]any{"|put": {"size": int64(1)}}, 7, nil
}
func (h *fakeHistory) List(_ context.Context, f runs.Filter) ([]runs.Run, error) {
	if h.listErr != nil {
		return nil, h.listErr
	}
	return make([]runs.Run, h.byStatus[f.Status]), nil
}

func setupMetrics(t *testing.T) (*metrics, *fakeHistory, engine.Recorder) {
	t.Helper()
	h := &fakeHistory{byStatus: map[string]int{runs.StatusQueued: 3, engine.StatusRunning: 1}}
	reg := &module.Registry{}
	reg.Register(allModules()...)
	m := newMetrics(h, reg, slog.New(slog.DiscardHandler))
	return m, h, m.recorder(h)
}

// gathered flattens the registry to "name{label=value,...}" → value: a
// counter's or gauge's value, a histogram's sample count (as name_count).
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "s3flow_") {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			slices.Sort(labels)
			key := f.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[strings.Replace(key, "{", "_count{", 1)] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return out
}

// TestMeteredRecorder: runs, step events, bytes and S3 error codes are
// counted as the engine records them, and everything still reaches the
// history.
func TestMeteredRecorder(t *testing.T) {
	t.Parallel()
	m, h, rec := setupMetrics(t)
	ctx := t.Context()
	if err := rec.StartRun(ctx, engine.RunInfo{ID: "r1", Flow: "archive"}); err != nil {
		t.Fatal(err)
	}
	noSuchKey := fmt.Errorf("get file %q: %w", "a.txt", &s3client.Error{Code: "NoSuchKey", Message: "not there"})
	events := []engine.Event{
		{StepID: "put", Module: "s3.upload_file", Status: engine.EventOK, Duration: time.Second, Output: map[string]any{"size": int64(100)}},
		{StepID: "get", Module: "s3.get_file", Status: engine.EventOK, Output: map[string]any{"size": int64(40)}},
		{StepID: "get", Module: "s3.get_file", Status: engine.EventRetried, Err: &s3client.Error{Code: "SlowDown"}},
		{StepID: "get", Module: "s3.get_file", Status: engine.EventFailed, Err: noSuchKey},
		// How the failure was handled did no work: not counted again.
		{StepID: "get", Module: "s3.get_file", Status: engine.EventIgnored, Err: noSuchKey},
		// A resumed run's reused upload moved nothing.
		{StepID: "put", Module: "s3.upload_file", Status: engine.EventReused, Output: map[string]any{"size": int64(5)}},
		// A stream of unknown length.
		{StepID: "put", Module: "s3.upload_file", Status: engine.EventOK, Output: map[string]any{"size": int64(-1)}},
		{StepID: "big", Module: "flow.filter", Status: engine.EventFiltered},
		{Status: engine.EventRunResumed},
		// An endpoint that is not S3 makes no label of its own.
		{StepID: "call", Module: "s3.api_call", Status: engine.EventFailed, Err: &s3client.Error{Code: "<html>"}},
		{StepID: "call", Module: "s3.api_call", Status: engine.EventFailed, Err: errors.New("with.bucket: is required")},
	}
	for _, ev := range events {
		ev.RunID = "r1"
		if err := rec.Event(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.FinishRun(ctx, engine.RunEnd{ID: "r1", Status: engine.StatusSucceeded, Finished: time.Now()}); err != nil {
		t.Fatal(err)
	}
	got := gathered(t, m.registry)
	want := map[string]float64{
		`s3flow_runs_total{flow=archive,status=succeeded}`:                                    1,
		`s3flow_bytes_total{direction=upload}`:                                                100,
		`s3flow_bytes_total{direction=download}`:                                              40,
		`s3flow_s3_errors_total{code=NoSuchKey}`:                                              1,
		`s3flow_s3_errors_total{code=SlowDown}`:                                               1,
		`s3flow_s3_errors_total{code=other}`:                                                  1,
		`s3flow_step_duration_seconds_count{flow=archive,module=s3.upload_file,status=ok}`:    2,
		`s3flow_step_duration_seconds_count{flow=archive,module=s3.get_file,status=ok}`:       1,
		`s3flow_step_duration_seconds_count{flow=archive,module=s3.get_file,status=retried}`:  1,
		`s3flow_step_duration_seconds_count{flow=archive,module=s3.get_file,status=failed}`:   1,
		`s3flow_step_duration_seconds_count{flow=archive,module=flow.filter,status=filtered}`: 1,
		`s3flow_step_duration_seconds_count{flow=archive,module=s3.api_call,status=failed}`:   2,
		`s3flow_runs_queued{}`:  3,
		`s3flow_runs_running{}`: 1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected series %s = %v", k, got[k])
		}
	}
	if len(h.events) != len(events) || !slices.Equal(h.finished, []string{"r1=succeeded"}) {
		t.Errorf("the history got %d events and finished %v; want %d and [r1=succeeded]", len(h.events), h.finished, len(events))
	}
	if len(m.flows) != 0 {
		t.Errorf("runs still tracked after they finished: %v", m.flows)
	}
	// Resuming still works through the wrapper.
	done, seq, err := rec.(engine.Resumer).Completed(ctx, "r1")
	if err != nil || seq != 7 || len(done) != 1 {
		t.Errorf("Completed = %v, %d, %v; want the history's", done, seq, err)
	}
}

// TestRunGaugesWithoutHistory: a history that cannot be read leaves the
// gauges out of the scrape, not the scrape failing.
func TestRunGaugesWithoutHistory(t *testing.T) {
	t.Parallel()
	m, h, _ := setupMetrics(t)
	h.listErr = errors.New("database is locked")
	got := gathered(t, m.registry)
	if _, ok := got["s3flow_runs_queued{}"]; ok {
		t.Errorf("queued gauge reported without a history: %v", got)
	}
	if _, ok := got["s3flow_bytes_total{direction=upload}"]; !ok {
		t.Errorf("the other metrics are missing: %v", got)
	}
}

func TestCodeLabel(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]string{
		"NoSuchKey":             "NoSuchKey",
		"AccessDenied":          "AccessDenied",
		"EndpointUnreachable":   "EndpointUnreachable",
		"Client.Unknown":        "Client.Unknown",
		"<html>":                "other",
		"No Such Key":           "other",
		strings.Repeat("A", 65): "other",
	} {
		if got := codeLabel(code); got != want {
			t.Errorf("codeLabel(%q) = %q, want %q", code, got, want)
		}
	}
}
