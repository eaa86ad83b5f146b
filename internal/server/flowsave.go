package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/flowedit"
	"github.com/s3flow/s3flow/internal/flowfile"
)

// Editing flows over the API: the file is the source of truth. Each save
// is checked as /api/validate checks a flow, refused when the file on
// disk is not the version the editor started from, written atomically
// inside the flows folder, recorded in the version history and loaded at
// once (the answer says what the reload found of it).

// maxFlowBody bounds a save's body: a flow file at its largest, quoted in
// JSON.
const maxFlowBody = 2*flowfile.MaxSize + 4096

// flowText is a version of a flow file as the API shows it.
type flowText struct {
	Version string `json:"version"`
	YAML    string `json:"yaml"`
}

func textOf(data []byte) *flowText {
	if data == nil {
		return nil
	}
	return &flowText{Version: flowfile.Hash(data), YAML: string(data)}
}

// conflictError is a save refused because the file changed on disk since
// the version it was based on: the answer carries both versions.
type conflictError struct {
	msg       string
	disk      []byte // nil: there is no file
	submitted []byte // nil: not known
}

func (e *conflictError) Error() string { return e.msg }

func (e *conflictError) answer() (int, any) {
	return http.StatusConflict, map[string]any{"error": e.msg, "disk": textOf(e.disk), "submitted": textOf(e.submitted)}
}

// problemsError is a flow the checks refuse: nothing was written.
type problemsError struct {
	name     string
	problems []FlowProblem
}

func (e *problemsError) Error() string {
	return fmt.Sprintf("flow %s has %d problem(s); nothing was saved", e.name, len(e.problems))
}

func (e *problemsError) answer() (int, any) {
	return http.StatusUnprocessableEntity, map[string]any{"error": e.Error(), "problems": e.problems}
}

// flowFileOf returns the file (its name in the flows folder) that holds
// flow name: the loaded flow's, else NAME.yaml or NAME.yml when there is
// one (a file that does not load yet), else NAME.yaml for a new flow. A
// name that is not loaded must be fit for a file name (flowfile.CheckName).
func (s *Server) flowFileOf(name string) (string, error) {
	if f, ok := s.flows.Get(name); ok {
		return filepath.Base(f.File), nil
	}
	if err := flowfile.CheckName(name); err != nil {
		return "", badRequestf("%v", err)
	}
	base := name + ".yaml"
	for _, candidate := range []string{name + ".yaml", name + ".yml"} {
		ok, err := s.folder.Exists(candidate)
		if err != nil {
			return "", err
		}
		if ok {
			base = candidate
			break
		}
	}
	// A file named for this flow may hold another one.
	for _, f := range s.flows.List() {
		if filepath.Base(f.File) == base {
			return "", &httpError{http.StatusConflict, fmt.Errorf("file %s holds flow %q, not %q; edit it as %s", base, f.Name, name, f.Name)}
		}
	}
	return base, nil
}

// readFlowFile reads a flow's file; nil when there is none.
func (s *Server) readFlowFile(base string) ([]byte, error) {
	data, err := s.folder.Read(base)
	var nr *flowfile.NotRegularError
	var tl *flowfile.TooLargeError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case errors.As(err, &nr):
		return nil, &httpError{http.StatusForbidden, err}
	case errors.As(err, &tl):
		return nil, &httpError{http.StatusRequestEntityTooLarge, err}
	}
	return data, err
}

// checkSource checks a flow file's text as /api/validate does: the parser,
// what this server refuses to load, and the connections it does not have.
func (s *Server) checkSource(ctx context.Context, file string, data []byte) (*flow.Flow, error) {
	f, err := flow.Parse(file, data, s.cfg.Registry)
	if err == nil {
		err = joinProblems(s.checkFlow(f), s.checkConnections(ctx, f))
	}
	return f, err
}

// getSource answers GET /api/flows/{name}/source.
func (s *Server) getSource(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	base, err := s.flowFileOf(name)
	if err != nil {
		return err
	}
	data, err := s.readFlowFile(base)
	if err != nil {
		return err
	}
	if data == nil {
		return notFoundf("no flow named %q", name)
	}
	version := flowfile.Hash(data)
	w.Header().Set("ETag", `"`+version+`"`)
	return writeJSON(w, http.StatusOK, map[string]any{"name": name, "file": base, "version": version, "yaml": string(data)})
}

// draftFlow answers POST /api/flows/draft: what a save would write, the
// flow as the Studio's form reads it (JSON) and what the checks find,
// writing nothing. The body is one of
//
//	{"yaml": "..."}                    the file's text (the YAML tab)
//	{"base": "...", "ops": [...]}      a PATCH's edits made to a text
//	{"doc": {...}}                     a whole flow as JSON (a new flow)
//
// so that the browser never reads or writes YAML itself: the text it
// shows after a form edit is the text a save writes, comments and all.
func (s *Server) draftFlow(w http.ResponseWriter, r *http.Request) error {
	data, err := readLimited(w, r)
	if err != nil {
		return err
	}
	var body struct {
		YAML *string         `json:"yaml"`
		Base *string         `json:"base"`
		Ops  []flowedit.Op   `json:"ops"`
		Doc  json.RawMessage `json:"doc"`
	}
	if err := decodeStrict(data, &body); err != nil {
		return err
	}
	var text []byte
	switch {
	case body.YAML != nil && body.Base == nil && body.Doc == nil && body.Ops == nil:
		text = []byte(*body.YAML)
	case body.Base != nil && body.YAML == nil && body.Doc == nil:
		if text, err = flowedit.Apply([]byte(*body.Base), body.Ops); err != nil {
			return badRequestf("%v", err)
		}
	case body.Doc != nil && body.YAML == nil && body.Base == nil && body.Ops == nil:
		if text, err = flowedit.Render(body.Doc); err != nil {
			return badRequestf("doc: %v", err)
		}
	default:
		return badRequestf("give one of yaml, base with ops, or doc")
	}
	out := struct {
		YAML     string          `json:"yaml"`
		Doc      json.RawMessage `json:"doc"`
		DocError string          `json:"doc_error,omitempty"`
		checked
	}{YAML: string(text)}
	if len(text) > flowfile.MaxSize {
		out.Problems = []string{fmt.Sprintf("the flow file is %d bytes; the most is %d", len(text), flowfile.MaxSize)}
		return writeJSON(w, http.StatusOK, out)
	}
	doc, err := flowedit.Doc(text)
	if err != nil {
		out.DocError = err.Error()
	}
	out.Doc = doc
	out.checked = s.checkDraft(r.Context(), text)
	return writeJSON(w, http.StatusOK, out)
}

// save is one change of a flow's file.
type save struct {
	name string
	// base is the version the change was made from; "" for a flow that
	// has no file yet.
	base   string
	action string
	// text makes the new file from the one on disk (nil: none).
	text func(disk []byte) ([]byte, error)
	// submitted is the change's text for a conflict's answer (nil: not
	// known).
	submitted func() []byte
}

// saved is a save's answer.
type saved struct {
	Name    string `json:"name"`
	File    string `json:"file"`
	Version string `json:"version"`
	// Changed is false when the file already held this text (nothing was
	// written or recorded).
	Changed bool `json:"changed"`
	Created bool `json:"created,omitempty"`
	// Loaded says whether the reload after the save runs this version;
	// Problems are what it found in the file otherwise.
	Loaded   bool          `json:"loaded"`
	Problems []FlowProblem `json:"problems,omitempty"`
}

// saveFlow checks a save against the file on disk, writes it, records it
// and reloads the flows. Saves are one at a time, so that two editors
// starting from the same version cannot both win.
func (s *Server) saveFlow(ctx context.Context, sv save) (saved, error) {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	base, err := s.flowFileOf(sv.name)
	if err != nil {
		return saved{}, err
	}
	disk, err := s.readFlowFile(base)
	if err != nil {
		return saved{}, err
	}
	if err := conflict(sv, disk); err != nil {
		return saved{}, err
	}
	text, err := sv.text(disk)
	if err != nil {
		return saved{}, err
	}
	if len(text) > flowfile.MaxSize {
		return saved{}, &httpError{http.StatusRequestEntityTooLarge, fmt.Errorf("the flow file would be %d bytes; the most is %d", len(text), flowfile.MaxSize)}
	}
	f, err := s.checkSource(ctx, base, text)
	if err == nil && f.Name != sv.name {
		err = fmt.Errorf("name: the file names flow %q but is saved as %q; a flow keeps its name (save it under the new name and delete the old)", f.Name, sv.name)
	}
	if err != nil {
		return saved{}, &problemsError{name: sv.name, problems: problemsOf(base, err)}
	}
	out := saved{Name: sv.name, File: base, Version: flowfile.Hash(text), Created: disk == nil}
	if disk != nil && flowfile.Hash(disk) == out.Version {
		out.Loaded = s.loaded(sv.name, out.Version)
		return out, nil
	}
	if err := s.folder.Write(base, text); err != nil {
		var nr *flowfile.NotRegularError
		if errors.As(err, &nr) {
			return saved{}, &httpError{http.StatusForbidden, err}
		}
		return saved{}, err
	}
	out.Changed = true
	if err := s.versions.Record(ctx, sv.name, disk, text, tokenName(ctx), sv.action); err != nil {
		return saved{}, fmt.Errorf("flow %s was saved, but its version history was not: %w", sv.name, err)
	}
	s.reloadAfterSave(ctx, &out)
	return out, nil
}

// conflict refuses a save whose base is not the file on disk.
func conflict(sv save, disk []byte) error {
	submitted := func() []byte {
		if sv.submitted == nil {
			return nil
		}
		return sv.submitted()
	}
	switch {
	case disk == nil && sv.base != "":
		return &conflictError{msg: fmt.Sprintf("flow %s was deleted since version %s; save it again without a base version to create it", sv.name, sv.base), submitted: submitted()}
	case disk != nil && sv.base == "":
		return &conflictError{msg: fmt.Sprintf("flow %s exists; send the version you edited (If-Match or base_version) to change it", sv.name), disk: disk, submitted: submitted()}
	case disk != nil && flowfile.Hash(disk) != sv.base:
		return &conflictError{msg: fmt.Sprintf("flow %s changed on disk since version %s: it is now version %s; both are in this answer", sv.name, sv.base, flowfile.Hash(disk)), disk: disk, submitted: submitted()}
	}
	return nil
}

// reloadAfterSave loads the flows again so that the answer reflects the
// save: whether this version now runs, or what keeps it from running.
func (s *Server) reloadAfterSave(ctx context.Context, out *saved) {
	res, err := s.Reload(ctx)
	if err != nil {
		out.Problems = []FlowProblem{{File: out.File, Message: "the flows were not reloaded: " + err.Error()}}
		return
	}
	for _, p := range res.Problems {
		if filepath.Base(p.File) == out.File {
			p.File = out.File
			out.Problems = append(out.Problems, p)
		}
	}
	out.Loaded = s.loaded(out.Name, out.Version)
}

func (s *Server) loaded(name, version string) bool {
	f, ok := s.flows.Get(name)
	return ok && f.Hash == version
}

// tokenName is who saves: the name of the request's token.
func tokenName(ctx context.Context) string {
	tok, _ := tokenFrom(ctx)
	return tok.Name
}

// baseVersion reads the version a change was made from: If-Match (an
// ETag, quoted or not) or the body's base_version, which must agree.
func baseVersion(r *http.Request, fromBody string) (string, error) {
	v := strings.Trim(strings.TrimSpace(r.Header.Get("If-Match")), `"`)
	if v != "" && fromBody != "" && v != fromBody {
		return "", badRequestf("If-Match %s and base_version %s disagree", v, fromBody)
	}
	if v == "" {
		v = fromBody
	}
	if v != "" {
		if err := flowfile.CheckHash(v); err != nil {
			return "", badRequestf("base version: %v", err)
		}
	}
	return v, nil
}

// readLimited reads a save's body, refusing one over maxFlowBody with 413.
func readLimited(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFlowBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, &httpError{http.StatusRequestEntityTooLarge, fmt.Errorf("the body is larger than %d bytes; a flow file may be %d", maxFlowBody, flowfile.MaxSize)}
	}
	if err != nil {
		return nil, badRequestf("read the body: %v", err)
	}
	return data, nil
}

func isJSON(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/json"
}

// decodeStrict decodes a JSON object, refusing unknown fields.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequestf("the body must be a JSON object: %v", err)
	}
	return nil
}

// answerSaved answers a save: 201 when it created the flow.
func answerSaved(w http.ResponseWriter, out saved) error {
	status := http.StatusOK
	if out.Created {
		status = http.StatusCreated
	}
	w.Header().Set("ETag", `"`+out.Version+`"`)
	return writeJSON(w, status, out)
}

// putFlow answers PUT /api/flows/{name}: the whole file, as YAML with
// If-Match, or as JSON {"yaml": ..., "base_version": ...}.
func (s *Server) putFlow(w http.ResponseWriter, r *http.Request) error {
	data, err := readLimited(w, r)
	if err != nil {
		return err
	}
	var body struct {
		YAML        string `json:"yaml"`
		BaseVersion string `json:"base_version"`
	}
	if isJSON(r) {
		if err := decodeStrict(data, &body); err != nil {
			return err
		}
		data = []byte(body.YAML)
	}
	base, err := baseVersion(r, body.BaseVersion)
	if err != nil {
		return err
	}
	out, err := s.saveFlow(r.Context(), save{name: r.PathValue("name"), base: base, action: flowfile.ActionSaved,
		text:      func([]byte) ([]byte, error) { return data, nil },
		submitted: func() []byte { return data }})
	if err != nil {
		return err
	}
	return answerSaved(w, out)
}

// patchFlow answers PATCH /api/flows/{name}: edits of single steps and
// keys (flowedit.Op) to the version base_version, so that the rest of the
// file, comments and all, stays as written.
func (s *Server) patchFlow(w http.ResponseWriter, r *http.Request) error {
	data, err := readLimited(w, r)
	if err != nil {
		return err
	}
	var body struct {
		BaseVersion string        `json:"base_version"`
		Ops         []flowedit.Op `json:"ops"`
	}
	if err := decodeStrict(data, &body); err != nil {
		return err
	}
	base, err := baseVersion(r, body.BaseVersion)
	if err != nil {
		return err
	}
	if base == "" {
		return badRequestf("base_version (or If-Match) is required: the version the edits were made to")
	}
	if len(body.Ops) == 0 {
		return badRequestf("ops: give at least one edit")
	}
	name := r.PathValue("name")
	out, err := s.saveFlow(r.Context(), save{name: name, base: base, action: flowfile.ActionSaved,
		text: func(disk []byte) ([]byte, error) {
			text, err := flowedit.Apply(disk, body.Ops)
			if err != nil {
				return nil, badRequestf("%v", err)
			}
			return text, nil
		},
		// On a conflict, what the edits give from the version they were
		// made to, when the history has it.
		submitted: func() []byte {
			old, err := s.versions.Text(r.Context(), name, base)
			if err != nil {
				return nil
			}
			text, _ := flowedit.Apply(old, body.Ops)
			return text
		}})
	if err != nil {
		return err
	}
	return answerSaved(w, out)
}

// versionBody is the body of a delete or a restore: the version it was
// decided on (or If-Match).
func versionBody(w http.ResponseWriter, r *http.Request) (string, error) {
	data, err := readLimited(w, r)
	if err != nil {
		return "", err
	}
	var body struct {
		BaseVersion string `json:"base_version"`
	}
	if strings.TrimSpace(string(data)) != "" {
		if err := decodeStrict(data, &body); err != nil {
			return "", err
		}
	}
	return baseVersion(r, body.BaseVersion)
}

// restoreFlow answers POST /api/flows/{name}/versions/{hash}/restore: the
// version is saved again, with the same checks and conflict rule as a
// save (a deleted flow is restored without a base version).
func (s *Server) restoreFlow(w http.ResponseWriter, r *http.Request) error {
	name, hash := r.PathValue("name"), r.PathValue("hash")
	if err := flowfile.CheckHash(hash); err != nil {
		return badRequestf("%v", err)
	}
	base, err := versionBody(w, r)
	if err != nil {
		return err
	}
	text, err := s.versions.Text(r.Context(), name, hash)
	if errors.Is(err, flowfile.ErrNoVersion) {
		return notFoundf("%v", err)
	}
	if err != nil {
		return err
	}
	out, err := s.saveFlow(r.Context(), save{name: name, base: base, action: flowfile.ActionRestored,
		text:      func([]byte) ([]byte, error) { return text, nil },
		submitted: func() []byte { return text }})
	if err != nil {
		return err
	}
	return answerSaved(w, out)
}

// deleteFlow answers DELETE /api/flows/{name}: the file is removed when
// it is still the version given; its text stays in the history.
func (s *Server) deleteFlow(w http.ResponseWriter, r *http.Request) error {
	base, err := versionBody(w, r)
	if err != nil {
		return err
	}
	if base == "" {
		return badRequestf("base_version (or If-Match) is required: the version you mean to delete")
	}
	name := r.PathValue("name")
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	file, err := s.flowFileOf(name)
	if err != nil {
		return err
	}
	disk, err := s.readFlowFile(file)
	if err != nil {
		return err
	}
	if disk == nil {
		return notFoundf("no flow named %q", name)
	}
	if err := conflict(save{name: name, base: base}, disk); err != nil {
		return err
	}
	if err := s.folder.Remove(file); err != nil {
		var nr *flowfile.NotRegularError
		if errors.As(err, &nr) {
			return &httpError{http.StatusForbidden, err}
		}
		return err
	}
	if err := s.versions.Record(r.Context(), name, disk, disk, tokenName(r.Context()), flowfile.ActionDeleted); err != nil {
		return fmt.Errorf("flow %s was deleted, but its version history was not told: %w", name, err)
	}
	if _, err := s.Reload(r.Context()); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"name": name, "file": file, "deleted": base})
}

// listVersions answers GET /api/flows/{name}/versions: newest first.
func (s *Server) listVersions(w http.ResponseWriter, r *http.Request) error {
	limit, err := listLimit(r.URL.Query().Get("limit"))
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	list, err := s.versions.List(r.Context(), name, limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"name": name, "versions": list})
}

// versionText reads one version of the history; a hash that is no
// version is refused before the database is asked.
func (s *Server) versionText(ctx context.Context, name, hash, what string) ([]byte, error) {
	if err := flowfile.CheckHash(hash); err != nil {
		return nil, badRequestf("%s: %v", what, err)
	}
	text, err := s.versions.Text(ctx, name, hash)
	if errors.Is(err, flowfile.ErrNoVersion) {
		return nil, notFoundf("%s: %v", what, err)
	}
	return text, err
}

// showVersion answers GET /api/flows/{name}/versions/{hash}.
func (s *Server) showVersion(w http.ResponseWriter, r *http.Request) error {
	name, hash := r.PathValue("name"), r.PathValue("hash")
	text, err := s.versionText(r.Context(), name, hash, "version")
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"name": name, "version": hash, "yaml": string(text)})
}

// diffVersions answers GET /api/flows/{name}/diff?from=H1&to=H2: a
// unified diff of two versions by line.
func (s *Server) diffVersions(w http.ResponseWriter, r *http.Request) error {
	name, q := r.PathValue("name"), r.URL.Query()
	from, err := s.versionText(r.Context(), name, q.Get("from"), "from")
	if err != nil {
		return err
	}
	to, err := s.versionText(r.Context(), name, q.Get("to"), "to")
	if err != nil {
		return err
	}
	d, err := flowfile.Diff(name+"@"+q.Get("from")[:12], name+"@"+q.Get("to")[:12], from, to)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"name": name, "from": q.Get("from"), "to": q.Get("to"), "diff": d})
}
