package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"time"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/locals3"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/runs"
	"github.com/s3flow/s3flow/internal/studio"
	"github.com/s3flow/s3flow/internal/trigger"
)

// maxBody bounds request bodies (webhook payloads, API inputs).
const maxBody = 1 << 20

// handlerFunc is a handler that returns its error; serveError answers it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handler returns the HTTP API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	open := func(pattern string, h handlerFunc) { mux.Handle(pattern, s.serve(h)) }
	// withScope registers a route for tokens whose scope covers need.
	withScope := func(need Scope, pattern string, h handlerFunc) {
		mux.Handle(pattern, s.serve(s.requireToken(need, h)))
	}

	open("GET /healthz", func(w http.ResponseWriter, r *http.Request) error {
		return writeJSON(w, 200, map[string]string{"status": "ok"})
	})
	open("GET /readyz", s.ready)
	open("POST /hooks/{flow}", s.webhook)
	open("POST /events/{flow}", s.s3Events)
	mux.Handle("POST /events/{flow}/{token}", redactEventToken(s.serve(s.s3Events)))
	open("POST "+locals3.EventsPath, s.localEvents)
	// Scrapers usually have no token; the metrics hold no secrets.
	mux.Handle("GET /metrics", s.metrics.handler())

	// read: look, change nothing, start nothing.
	withScope(ScopeRead, "GET /api/flows", s.listFlows)
	withScope(ScopeRead, "GET /api/flows/{name}", s.showFlow)
	withScope(ScopeRead, "POST /api/validate", s.validateFlow)
	withScope(ScopeRead, "POST /api/flows/draft", s.draftFlow)
	withScope(ScopeRead, "GET /api/flows/{name}/source", s.getSource)
	withScope(ScopeRead, "GET /api/flows/{name}/versions", s.listVersions)
	withScope(ScopeRead, "GET /api/flows/{name}/versions/{hash}", s.showVersion)
	withScope(ScopeRead, "GET /api/flows/{name}/diff", s.diffVersions)
	withScope(ScopeRead, "GET /api/runs", s.listRuns)
	withScope(ScopeRead, "GET /api/runs/{id}", s.showRun)
	withScope(ScopeRead, "GET /api/connections", s.listConnections)
	withScope(ScopeRead, "GET /api/connections/{name}", s.showConnection)
	withScope(ScopeRead, "GET /api/providers", s.listProviders)
	withScope(ScopeRead, "GET /api/modules", s.listModules)
	withScope(ScopeRead, "GET /api/triggers", s.listTriggers)
	// run: start, cancel and retry runs, run modules, move files.
	withScope(ScopeRun, "POST /api/flows/{name}/run", s.runFlow)
	withScope(ScopeRun, "POST /api/runs/{id}/cancel", s.runAction(s.cancelRun))
	withScope(ScopeRun, "POST /api/runs/{id}/retry", s.retry)
	withScope(ScopeRun, "POST /api/modules/{name}", s.runModule)
	withScope(ScopeRun, "POST /api/files/link", s.fileLink)
	withScope(ScopeRun, "POST /api/files/upload", s.uploadFile)
	// admin: what changes the server's set-up (connections, whether a
	// flow's triggers start runs at all, reading the flows folder again).
	withScope(ScopeAdmin, "POST /api/connections", s.createConnection)
	withScope(ScopeAdmin, "DELETE /api/connections/{name}", s.deleteConnection)
	withScope(ScopeAdmin, "POST /api/flows/{name}/enable", s.enableFlow(true))
	withScope(ScopeAdmin, "POST /api/flows/{name}/disable", s.enableFlow(false))
	withScope(ScopeAdmin, "POST /api/flows/reload", s.reloadFlows)
	// Editing flow files is the server's set-up too: a flow may use every
	// connection the server has and start runs by itself (flowsave.go).
	withScope(ScopeAdmin, "PUT /api/flows/{name}", s.putFlow)
	withScope(ScopeAdmin, "PATCH /api/flows/{name}", s.patchFlow)
	withScope(ScopeAdmin, "DELETE /api/flows/{name}", s.deleteFlow)
	withScope(ScopeAdmin, "POST /api/flows/{name}/versions/{hash}/restore", s.restoreFlow)
	withScope(ScopeAdmin, "POST /api/flows/{name}/event-token", s.makeEventToken)
	// A ticket (single use, bound to the run token that asked for it) or
	// a run token.
	open("GET /api/files/download", s.downloadFile) // a ticket or the token
	// The Studio: its page and files, without a token (the page asks for it).
	mux.Handle("GET /", studio.Handler())
	return mux
}

// httpError carries a status code.
type httpError struct {
	status int
	err    error
}

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

func notFoundf(format string, args ...any) error {
	return &httpError{http.StatusNotFound, fmt.Errorf(format, args...)}
}

func badRequestf(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Errorf(format, args...)}
}

// serve maps a handler's error to a status code, in one place.
func (s *Server) serve(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		// Errors that carry more than a message answer for themselves.
		var ae interface{ answer() (int, any) }
		if errors.As(err, &ae) {
			status, body := ae.answer()
			writeJSON(w, status, body)
			return
		}
		status := http.StatusInternalServerError
		var he *httpError
		var ie *module.InputError
		var fe flow.Errors
		var re *module.ReachError
		switch {
		case errors.As(err, &he):
			status = he.status
		case errors.Is(err, errBadToken):
			status = http.StatusUnauthorized
		case errors.As(err, &re):
			status = http.StatusForbidden
		case errors.As(err, &ie), errors.As(err, &fe):
			status = http.StatusBadRequest
		case errors.Is(err, runs.ErrNotFound), errors.Is(err, connection.ErrNotFound):
			status = http.StatusNotFound
		}
		if status == http.StatusInternalServerError {
			s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		}
		writeJSON(w, status, map[string]string{"error": err.Error()})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// requireToken lets a request through when its token's scope covers need,
// with the token in the request's context.
func (s *Server) requireToken(need Scope, h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		tok, err := s.authorize(w, r, need)
		if err != nil {
			return err
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok)))
	}
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) error {
	if err := s.cfg.DB.PingContext(r.Context()); err != nil {
		return &httpError{http.StatusServiceUnavailable, err}
	}
	return writeJSON(w, 200, map[string]string{"status": "ready"})
}

// answerRun answers a queued run: 202 with its id, or with ?wait=true it
// waits for the run to end (up to ?timeout=, default 60s) and answers its
// result.
func (s *Server) answerRun(w http.ResponseWriter, r *http.Request, id string) error {
	var err error
	if r.URL.Query().Get("wait") != "true" {
		return writeJSON(w, http.StatusAccepted, map[string]string{"run": id, "status": runs.StatusQueued})
	}
	timeout := 60 * time.Second
	if t := r.URL.Query().Get("timeout"); t != "" {
		if timeout, err = time.ParseDuration(t); err != nil {
			return badRequestf("timeout: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	run, err := s.waitRun(ctx, id)
	if err != nil {
		return writeJSON(w, http.StatusAccepted, map[string]string{"run": id, "status": run.Status, "note": "still running"})
	}
	return writeJSON(w, http.StatusOK, run)
}

// runFlow answers POST /api/flows/{name}/run: a run with inputs, started
// by hand, or (run once, from the editor) as the flow's trigger would
// start it: with trigger data given, or with its sample (sampleTrigger:
// true), given keys replacing the sample's; with until, only the steps up
// to that one run ("run up to here"). The run is recorded as any.
func (s *Server) runFlow(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Inputs        map[string]any `json:"inputs"`
		Trigger       map[string]any `json:"trigger"`
		SampleTrigger bool           `json:"sampleTrigger"`
		Until         string         `json:"until"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	name := r.PathValue("name")
	payload := map[string]any{"type": "manual"}
	if req.Trigger != nil || req.SampleTrigger {
		f, ok := s.flows.Get(name)
		if !ok {
			return notFoundf("no flow named %q", name)
		}
		given := map[string]any{}
		if req.SampleTrigger {
			kind, _ := req.Trigger["type"].(string)
			sample, err := f.TriggerSample(kind)
			if err != nil {
				return badRequestf("sampleTrigger: %v", err)
			}
			maps.Copy(given, sample)
		}
		maps.Copy(given, req.Trigger)
		var err error
		if payload, err = f.TriggerPayload(given); err != nil {
			return badRequestf("trigger: %v", err)
		}
	}
	id, err := s.enqueue(r.Context(), name, req.Inputs, payload, req.Until, false)
	if err != nil {
		return err
	}
	return s.answerRun(w, r, id)
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return badRequestf("the body must be a JSON object: %v", err)
	}
	return nil
}

// flowInfo is a flow as the API shows it; a file that did not load has
// only File and Problems (and no runnable flow).
type flowInfo struct {
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	File        string `json:"file"`
	Version     string `json:"version,omitempty"`
	// Trigger is the flow's trigger: as written; Triggers say in words
	// what each one does.
	Trigger  map[string]any `json:"trigger,omitempty"`
	Triggers []triggerInfo  `json:"triggers,omitempty"`
	Enabled  bool           `json:"enabled"`
	Inputs   []flow.Input   `json:"inputs,omitempty"`
	Steps    []stepInfo     `json:"steps,omitempty"`
	LastRun  *runs.Run      `json:"lastRun,omitempty"`
	Problems []FlowProblem  `json:"problems,omitempty"`
}

type triggerInfo struct {
	Kind        string `json:"kind"`
	Title       string `json:"title"`
	Description string `json:"description"`
}

type stepInfo struct {
	ID     string `json:"id"`
	Module string `json:"module"`
	Title  string `json:"title"`
}

func (s *Server) describe(ctx context.Context, f *flow.Flow, steps bool) (flowInfo, error) {
	enabled, err := s.flows.Enabled(ctx, f.Name)
	if err != nil {
		return flowInfo{}, err
	}
	info := flowInfo{Name: f.Name, Description: f.Description, File: f.File, Version: f.Hash, Enabled: enabled}
	for _, t := range f.Triggers {
		if info.Trigger == nil {
			info.Trigger = map[string]any{}
		}
		info.Trigger[t.Kind.Name] = t.Written
		info.Triggers = append(info.Triggers, triggerInfo{Kind: t.Kind.Name, Title: t.Kind.Title, Description: t.Config.Describe()})
	}
	if last, err := s.history.List(ctx, runs.Filter{Flow: f.Name, Limit: 1}); err == nil && len(last) == 1 {
		info.LastRun = &last[0]
	}
	if steps {
		info.Inputs = f.Inputs
		for _, st := range f.Steps {
			info.Steps = append(info.Steps, stepInfo{ID: st.ID, Module: st.Module.Name, Title: st.Module.Title})
		}
	}
	return info, nil
}

func (s *Server) listFlows(w http.ResponseWriter, r *http.Request) error {
	out := []flowInfo{}
	flows, broken := s.flows.Listing()
	for _, f := range flows {
		info, err := s.describe(r.Context(), f, false)
		if err != nil {
			return err
		}
		out = append(out, info)
	}
	// Files with problems stay listed, after the flows, until fixed.
	for _, ff := range broken {
		out = append(out, flowInfo{File: ff.File, Problems: ff.Problems})
	}
	return writeJSON(w, 200, out)
}

func (s *Server) showFlow(w http.ResponseWriter, r *http.Request) error {
	f, ok := s.flows.Get(r.PathValue("name"))
	if !ok {
		return notFoundf("no flow named %q", r.PathValue("name"))
	}
	info, err := s.describe(r.Context(), f, true)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, info)
}

func (s *Server) enableFlow(enabled bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("name")
		if _, ok := s.flows.Get(name); !ok {
			return notFoundf("no flow named %q", name)
		}
		if err := s.flows.SetEnabled(r.Context(), name, enabled); err != nil {
			return err
		}
		return writeJSON(w, 200, map[string]any{"name": name, "enabled": enabled})
	}
}

// validateFlow checks a flow file sent as the body (YAML).
func (s *Server) validateFlow(w http.ResponseWriter, r *http.Request) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return badRequestf("read the body: %v", err)
	}
	c := s.checkDraft(r.Context(), data)
	if !c.Valid {
		return writeJSON(w, http.StatusBadRequest, c)
	}
	return writeJSON(w, 200, map[string]any{"valid": true, "name": c.name, "steps": c.steps})
}

// checked is a flow file's text as /api/validate checks it.
type checked struct {
	Valid    bool     `json:"valid"`
	Problems []string `json:"problems,omitempty"`
	// Details are the same problems with their line and column apart.
	Details []FlowProblem `json:"details,omitempty"`

	name  string
	steps int
}

// checkDraft checks a flow file's text: what this server would refuse at
// load is a problem, and so is a connection it does not have (the checks
// of a save).
func (s *Server) checkDraft(ctx context.Context, data []byte) checked {
	f, err := s.checkSource(ctx, "flow.yaml", data)
	if err == nil {
		return checked{Valid: true, name: f.Name, steps: len(f.Steps)}
	}
	c := checked{Details: problemsOf("flow.yaml", err)}
	var fe flow.Errors
	if errors.As(err, &fe) {
		for _, p := range fe {
			c.Problems = append(c.Problems, p.Error())
		}
	}
	return c
}

// checkConnections reports the connections a flow names outright that
// this server does not have.
func (s *Server) checkConnections(ctx context.Context, f *flow.Flow) error {
	return f.CheckConnections(ctx, s.cfg.Connections.Names)
}

// joinProblems puts the problems of several checks in one flow.Errors.
func joinProblems(errs ...error) error {
	var all flow.Errors
	for _, err := range errs {
		var fe flow.Errors
		switch {
		case errors.As(err, &fe):
			all = append(all, fe...)
		case err != nil:
			all = append(all, err)
		}
	}
	if len(all) == 0 {
		return nil
	}
	return all
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := listLimit(q.Get("limit"))
	if err != nil {
		return err
	}
	filter := runs.Filter{Flow: q.Get("flow"), Status: q.Get("status"), Limit: limit}
	if since := q.Get("since"); since != "" {
		t, err := time.Parse(time.RFC3339, since)
		if err != nil {
			return badRequestf("since must be an RFC 3339 time")
		}
		filter.Since = t
	}
	rs, err := s.history.List(r.Context(), filter)
	if err != nil {
		return err
	}
	if rs == nil {
		rs = []runs.Run{}
	}
	return writeJSON(w, 200, rs)
}

// List limits: what a list answers without ?limit=, and the most it
// answers with it.
const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

// listLimit reads ?limit=: empty is the default; 0, negative, not a number
// or over the maximum is refused rather than guessed at, so that no value
// means "everything".
func listLimit(v string) (int, error) {
	if v == "" {
		return defaultListLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxListLimit {
		return 0, badRequestf("limit must be a whole number from 1 to %d (default %d), got %q", maxListLimit, defaultListLimit, v)
	}
	return n, nil
}

// maxRunEvents bounds the events GET /api/runs/{id} answers: a run over a
// large listing records events by the hundred thousand. The answer says
// when there were more; 's3flow runs show' reads them all.
const maxRunEvents = 10000

func (s *Server) showRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.history.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	events := []runs.StepEvent{}
	more := false
	errEnough := errors.New("enough events")
	if err := s.history.Events(r.Context(), run.ID, func(ev runs.StepEvent) error {
		if len(events) == maxRunEvents {
			more = true
			return errEnough
		}
		events = append(events, ev)
		return nil
	}); err != nil && !errors.Is(err, errEnough) {
		return err
	}
	sums, err := s.history.Summaries(r.Context(), run.ID)
	if err != nil {
		return err
	}
	out := map[string]any{"run": run, "events": events, "summaries": sums}
	if more {
		out["moreEvents"] = true
	}
	return writeJSON(w, 200, out)
}

func (s *Server) listConnections(w http.ResponseWriter, r *http.Request) error {
	conns, err := s.cfg.Connections.List(r.Context())
	if err != nil {
		return err
	}
	out := make([]connection.Summary, 0, len(conns))
	for _, c := range conns {
		out = append(out, c.Summary())
	}
	return writeJSON(w, 200, out)
}

func (s *Server) deleteConnection(w http.ResponseWriter, r *http.Request) error {
	if err := s.cfg.Connections.Delete(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// moduleInfo is a module declaration as JSON: what forms are made from.
type moduleInfo struct {
	Name            string `json:"name"`
	Title           string `json:"title"`
	Help            string `json:"help"`
	NeedsConnection bool   `json:"needsConnection"`
	Many            bool   `json:"many"`
	// Control is "filter" or "aggregate" for a module the engine runs
	// itself; Group is where the palette puts it.
	Control module.Control `json:"control,omitempty"`
	Group   module.Group   `json:"group"`
	// Reaches is what the module touches whatever its inputs; a module
	// that touches anything does not run over the API.
	Reaches []string `json:"reaches"`
	// Moves is "upload" or "download" for a module that moves a file's
	// bytes through s3flow (the Studio sends or saves the file).
	Moves   module.Direction `json:"moves,omitempty"`
	Fields  []fieldInfo      `json:"fields"`
	Outputs []module.Output  `json:"outputs"`
}

type fieldInfo struct {
	Name     string   `json:"name"`
	Label    string   `json:"label"`
	Help     string   `json:"help,omitempty"`
	Type     string   `json:"type"`
	Required bool     `json:"required"`
	Default  any      `json:"default,omitempty"`
	Example  string   `json:"example,omitempty"`
	Choices  []string `json:"choices,omitempty"`
	// Kind carries the value's rule: localPath and localPathOrStdout
	// fields are refused over the API (the Studio leaves them out).
	Kind string `json:"kind,omitempty"`
	// Min is an integer's lower bound, for the form's min attribute.
	Min *int64 `json:"min,omitempty"`
}

func (s *Server) listModules(w http.ResponseWriter, r *http.Request) error {
	out := []moduleInfo{}
	for _, m := range s.cfg.Registry.All() {
		mi := moduleInfo{Name: m.Name, Title: m.Title, Help: m.Help, NeedsConnection: m.NeedsConnection, Many: m.Many, Outputs: m.Outputs,
			Control: m.Control, Group: m.Group,
			Reaches: m.Reaches.Names(), Moves: m.Moves}
		for _, f := range m.Fields {
			mi.Fields = append(mi.Fields, fieldInfo{Name: f.Name, Label: f.Label, Help: f.Help, Type: f.Type.String(),
				Required: f.Required, Default: f.Default, Example: f.Example, Choices: f.Choices, Kind: f.Kind.String(), Min: f.Min})
		}
		out = append(out, mi)
	}
	return writeJSON(w, 200, out)
}

// listTriggers describes the trigger kinds from their declarations, as
// listModules does the modules.
func (s *Server) listTriggers(w http.ResponseWriter, r *http.Request) error {
	type field struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		Required bool   `json:"required,omitempty"`
		Help     string `json:"help"`
		Example  string `json:"example,omitempty"`
	}
	type payload struct {
		Name    string `json:"name"`
		Type    string `json:"type"`
		Help    string `json:"help"`
		Example any    `json:"example"`
	}
	type kind struct {
		Name    string    `json:"name"`
		Title   string    `json:"title"`
		Help    string    `json:"help"`
		Payload []payload `json:"payload"`
		Fields  []field   `json:"fields"`
	}
	out := []kind{}
	for _, k := range trigger.Kinds() {
		ki := kind{Name: k.Name, Title: k.Title, Help: k.Help}
		for _, p := range k.Payload {
			ki.Payload = append(ki.Payload, payload{Name: p.Name, Type: p.Type.String(), Help: p.Help, Example: p.Example})
		}
		for _, f := range k.Fields {
			ki.Fields = append(ki.Fields, field{Name: f.Name, Type: f.Type.String(), Required: f.Required, Help: f.Help, Example: f.Example})
		}
		out = append(out, ki)
	}
	return writeJSON(w, 200, out)
}

// runModule runs one module directly, with the same declaration as the CLI:
// {"connection": "local", "inputs": {...}} → {"bundles": [...]}.
func (s *Server) runModule(w http.ResponseWriter, r *http.Request) error {
	m, ok := s.cfg.Registry.Lookup(r.PathValue("name"))
	if !ok || m.Run == nil {
		return notFoundf("no module named %q that runs on its own", r.PathValue("name"))
	}
	var req struct {
		Connection string         `json:"connection"`
		Inputs     map[string]any `json:"inputs"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	// Over the API nothing may touch the server's own disk or standard
	// output, whatever the inputs: the declarations say what does.
	if err := m.CheckReach(0, req.Inputs, apiWhere); err != nil {
		return err
	}
	in, err := m.Check(req.Inputs)
	if err != nil {
		return err
	}
	return s.answerBundles(w, r, m, req.Connection, in, module.Env{}, nil)
}

// apiWhere ends the message of what the API refuses to run.
const apiWhere = "over the API (it runs only what touches no local path on the server; use the CLI, or a flow on a server started with --files-root)"

// apiBundle drops what an API client has no use for: file references (for
// later steps of a flow) and paths on the server's disk.
func apiBundle(m *module.Module, b module.Bundle) {
	for _, o := range m.Outputs {
		if o.FlowOnly || o.Kind == module.LocalPath {
			delete(b, o.Name)
		}
	}
}
