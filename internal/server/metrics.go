package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/runs"
	"github.com/s3flow/s3flow/internal/s3client"
)

// metrics are the server's Prometheus metrics, in a registry of their own
// (not the process-wide default, which any imported package may fill).
// Runs, step durations, bytes and S3 errors are observed as the engine
// records them; queued and running runs are read from the run history when
// scraped. Labels hold flow names, module names, statuses and S3 error
// codes: never inputs, keys or secrets.
type metrics struct {
	registry *prometheus.Registry
	runs     *prometheus.CounterVec
	steps    *prometheus.HistogramVec
	bytes    *prometheus.CounterVec
	s3Errors *prometheus.CounterVec
	// moves is the direction of each module that moves bytes, from its
	// declaration.
	moves map[string]module.Direction

	mu sync.Mutex
	// flows names the flow of each run going in this process, since step
	// events carry only the run id.
	flows map[string]string
}

// runLister is the part of the run history the gauges read.
type runLister interface {
	List(ctx context.Context, f runs.Filter) ([]runs.Run, error)
}

// stepBuckets span a quick listing page to an hour-long transfer.
var stepBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}

// newMetrics counts bytes_total for the modules of reg that declare they
// move data (Module.Moves); their bundles carry the bytes moved as "size".
func newMetrics(history runLister, reg *module.Registry, log *slog.Logger) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "s3flow_runs_total",
			Help: "Runs finished in this process, by flow and final status (succeeded, failed, incomplete, cancelled).",
		}, []string{"flow", "status"}),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "s3flow_step_duration_seconds",
			Help:    "Time of each step's work on one bundle, by flow, module and event status (ok, failed, retried, filtered).",
			Buckets: stepBuckets,
		}, []string{"flow", "module", "status"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "s3flow_bytes_total",
			Help: "Bytes moved by flow steps: uploaded by s3.upload_file, downloaded by s3.get_file.",
		}, []string{"direction"}),
		s3Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "s3flow_s3_errors_total",
			Help: "Failed step attempts by S3 error code (after the AWS SDK's own retries).",
		}, []string{"code"}),
		flows: map[string]string{},
		moves: map[string]module.Direction{},
	}
	for _, mod := range reg.All() {
		if mod.Moves != "" {
			m.moves[mod.Name] = mod.Moves
			m.bytes.WithLabelValues(string(mod.Moves)) // every direction shows from the start, at 0
		}
	}
	m.registry.MustRegister(m.runs, m.steps, m.bytes, m.s3Errors, newRunGauges(history, log),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// handler answers GET /metrics in Prometheus's text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// recorder wraps the run history so that what it records is counted too.
func (m *metrics) recorder(history engine.Recorder) engine.Recorder {
	return &meteredRecorder{inner: history, m: m}
}

// meteredRecorder is an engine.Recorder (and Resumer) that passes
// everything on to the history and observes it on the way.
type meteredRecorder struct {
	inner engine.Recorder
	m     *metrics
}

func (r *meteredRecorder) StartRun(ctx context.Context, run engine.RunInfo) error {
	if err := r.inner.StartRun(ctx, run); err != nil {
		// The engine gives up on the run: no FinishRun follows.
		return err
	}
	r.m.mu.Lock()
	r.m.flows[run.ID] = run.Flow
	r.m.mu.Unlock()
	return nil
}

func (r *meteredRecorder) Event(ctx context.Context, ev engine.Event) error {
	err := r.inner.Event(ctx, ev)
	r.m.mu.Lock()
	flow := r.m.flows[ev.RunID]
	r.m.mu.Unlock()
	r.m.observe(flow, ev)
	return err
}

func (r *meteredRecorder) FinishRun(ctx context.Context, end engine.RunEnd) error {
	r.m.mu.Lock()
	flow, ok := r.m.flows[end.ID]
	delete(r.m.flows, end.ID)
	r.m.mu.Unlock()
	// A suspended run (waiting) has not finished: it is counted when it
	// does, after a resume (whose StartRun names its flow again).
	if ok && end.Status != engine.StatusWaiting {
		r.m.runs.WithLabelValues(flow, end.Status).Inc()
	}
	return r.inner.FinishRun(ctx, end)
}

// Completed lets interrupted runs resume when the history can tell what
// they did.
func (r *meteredRecorder) Completed(ctx context.Context, runID string) (map[string]map[string]any, int64, error) {
	if res, ok := r.inner.(engine.Resumer); ok {
		return res.Completed(ctx, runID)
	}
	return nil, 0, nil
}

// Waits lets suspended runs continue their waits when the history can
// tell where they were.
func (r *meteredRecorder) Waits(ctx context.Context, runID string) (map[string]map[string]any, error) {
	if res, ok := r.inner.(engine.WaitResumer); ok {
		return res.Waits(ctx, runID)
	}
	return nil, nil
}

// observe counts one step event. Events that only record how a failure was
// handled (ignored, break, resumed) or reuse an earlier result (reused)
// did no work and are left out.
func (m *metrics) observe(flow string, ev engine.Event) {
	switch ev.Status {
	case engine.EventOK, engine.EventFailed, engine.EventRetried, engine.EventFiltered:
	default:
		return
	}
	if ev.StepID == "" {
		return
	}
	m.steps.WithLabelValues(flow, ev.Module, ev.Status).Observe(ev.Duration.Seconds())
	if dir := m.moves[ev.Module]; dir != "" && ev.Status == engine.EventOK {
		if n := byteCount(ev.Output["size"]); n > 0 {
			m.bytes.WithLabelValues(string(dir)).Add(float64(n))
		}
	}
	if code := s3client.Code(ev.Err); code != "" {
		m.s3Errors.WithLabelValues(codeLabel(code)).Inc()
	}
}

// byteCount reads a bundle's size (-1 or absent: not known).
func byteCount(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case float64:
		return int64(n)
	case json.Number:
		i, _ := n.Int64()
		return i
	}
	return -1
}

// s3Code matches what S3 error codes look like. An endpoint that answers
// anything else (it is not AWS, or not S3 at all) would otherwise make a
// label value of whatever it sent.
var s3Code = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9.]{0,63}$`)

func codeLabel(code string) string {
	if !s3Code.MatchString(code) {
		return "other"
	}
	return code
}

// runGauges reports the runs queued and running, read from the run history
// at each scrape: every process's runs count, and a restart does not reset
// them.
type runGauges struct {
	history         runLister
	log             *slog.Logger
	queued, running *prometheus.Desc
}

func newRunGauges(history runLister, log *slog.Logger) *runGauges {
	return &runGauges{
		history: history, log: log,
		queued:  prometheus.NewDesc("s3flow_runs_queued", "Runs accepted and waiting for a worker.", nil, nil),
		running: prometheus.NewDesc("s3flow_runs_running", "Runs being worked (or interrupted and not yet resumed).", nil, nil),
	}
}

func (g *runGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.queued
	ch <- g.running
}

func (g *runGauges) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for desc, status := range map[*prometheus.Desc]string{g.queued: runs.StatusQueued, g.running: engine.StatusRunning} {
		rs, err := g.history.List(ctx, runs.Filter{Status: status})
		if err != nil {
			// The other metrics are still worth a scrape.
			g.log.WarnContext(ctx, "metrics: cannot count runs", "status", status, "error", err)
			continue
		}
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(len(rs)))
	}
}
