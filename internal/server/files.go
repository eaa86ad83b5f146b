package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

// The file transfers of the Studio: Get a file as a browser download and
// Upload a file from the browser, both streamed between the browser and S3
// without holding a whole file in the server's memory or on its disk.

// downloadTicketTTL is how long a download link works. A browser follows a
// link without the bearer header, so the link itself carries a short-lived
// signed ticket that names exactly one object.
const downloadTicketTTL = 5 * time.Minute

// ticketKey signs download tickets. It lives in memory only: a restart
// makes the links of the last minutes stop working, nothing else.
var ticketKey = sync.OnceValue(func() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
})

// fileRequest names one object for Get a file: the connection and the
// module's inputs (bucket, path, range, region). In a ticket it also names
// the token that asked for it and a nonce that makes the ticket single-use.
type fileRequest struct {
	Connection string         `json:"connection"`
	Inputs     map[string]any `json:"inputs"`
	Expires    int64          `json:"exp,omitempty"`
	Token      string         `json:"tok,omitempty"`
	Nonce      string         `json:"n,omitempty"`
}

// usedTickets remembers the tickets redeemed, by nonce, until they expire:
// a link works once. It is in memory like ticketKey, which makes every
// ticket die with the process anyway.
type usedTickets struct {
	mu   sync.Mutex
	seen map[string]int64 // nonce → the ticket's expiry, unix seconds
}

// use marks a ticket used and reports whether it was unused. Tickets past
// their expiry are forgotten: openTicket refuses them before this.
func (u *usedTickets) use(nonce string, expires int64, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.seen == nil {
		u.seen = map[string]int64{}
	}
	for n, exp := range u.seen {
		if exp < now.Unix() {
			delete(u.seen, n)
		}
	}
	if _, used := u.seen[nonce]; used {
		return false
	}
	u.seen[nonce] = expires
	return true
}

func signTicket(req fileRequest) (string, error) {
	data, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, ticketKey())
	mac.Write(data)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(data) + "." + enc.EncodeToString(mac.Sum(nil)), nil
}

var (
	errBadTicket    = &httpError{http.StatusUnauthorized, errors.New("the download link is wrong or has expired; start the download again")}
	errUsedTicket   = &httpError{http.StatusGone, errors.New("the download link was used already; each link works once, start the download again")}
	errTicketsToken = &httpError{http.StatusUnauthorized, errors.New("the download link no longer works: the token that made it was deleted, has expired or may no longer download")}
)

func openTicket(ticket string) (fileRequest, error) {
	payload, sig, ok := strings.Cut(ticket, ".")
	enc := base64.RawURLEncoding.Strict() // one spelling per ticket
	data, err1 := enc.DecodeString(payload)
	got, err2 := enc.DecodeString(sig)
	if !ok || err1 != nil || err2 != nil {
		return fileRequest{}, errBadTicket
	}
	mac := hmac.New(sha256.New, ticketKey())
	mac.Write(data)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fileRequest{}, errBadTicket
	}
	var req fileRequest
	if err := json.Unmarshal(data, &req); err != nil || time.Now().Unix() > req.Expires || req.Token == "" || req.Nonce == "" {
		return fileRequest{}, errBadTicket
	}
	return req, nil
}

// redeemTicket opens a ticket and uses it up: the token that asked for it
// must still exist, be unexpired and have the run scope, and the ticket
// must not have been used before.
func (s *Server) redeemTicket(ctx context.Context, ticket string) (fileRequest, error) {
	req, err := openTicket(ticket)
	if err != nil {
		return fileRequest{}, err
	}
	tok, err := s.tokens.ByID(ctx, req.Token)
	if errors.Is(err, errBadToken) || errors.Is(err, errExpiredToken) || err == nil && !tok.Scope.Allows(ScopeRun) {
		return fileRequest{}, errTicketsToken
	}
	if err != nil {
		return fileRequest{}, err
	}
	if !s.tickets.use(req.Nonce, req.Expires, time.Now()) {
		return fileRequest{}, errUsedTicket
	}
	return req, nil
}

// checkGetFile checks a Get a file request as the module declares it; the
// API sends the data itself, so "out" is its own.
func (s *Server) checkGetFile(req fileRequest) (*module.Module, module.Values, error) {
	m, ok := s.cfg.Registry.Lookup("s3.get_file")
	if !ok {
		return nil, nil, notFoundf("no module s3.get_file")
	}
	if err := m.CheckReach(0, req.Inputs, apiWhere); err != nil {
		return nil, nil, err
	}
	if req.Connection == "" {
		return nil, nil, badRequestf("connection is required")
	}
	inputs := map[string]any{}
	for k, v := range req.Inputs {
		inputs[k] = v
	}
	// The data goes to the client: the field that may name standard
	// output does.
	for _, f := range m.Fields {
		if f.Kind == module.LocalPathOrStdout {
			inputs[f.Name] = module.Stdout
		}
	}
	in, err := m.Check(inputs)
	return m, in, err
}

// fileLink answers a download link for one object:
// {"connection", "inputs": {"bucket", "path", ...}} → {"url"}.
func (s *Server) fileLink(w http.ResponseWriter, r *http.Request) error {
	var req fileRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	req.Expires = 0
	if _, _, err := s.checkGetFile(req); err != nil {
		return err
	}
	tok, ok := tokenFrom(r.Context())
	if !ok {
		return errBadToken
	}
	nonce := make([]byte, 16)
	rand.Read(nonce)
	req.Token, req.Nonce = tok.ID, base64.RawURLEncoding.EncodeToString(nonce)
	req.Expires = time.Now().Add(downloadTicketTTL).Unix()
	ticket, err := signTicket(req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"url": "/api/files/download?ticket=" + url.QueryEscape(ticket), "expiresAt": time.Unix(req.Expires, 0).UTC(),
	})
}

// downloadFile streams one object to the client as an attachment. It takes
// a ticket from fileLink (what a browser link carries) or, with the bearer
// token, the inputs as query parameters (connection, bucket, path, range,
// region).
func (s *Server) downloadFile(w http.ResponseWriter, r *http.Request) error {
	var req fileRequest
	if ticket := r.URL.Query().Get("ticket"); ticket != "" {
		var err error
		if req, err = s.redeemTicket(r.Context(), ticket); err != nil {
			return err
		}
	} else {
		if _, err := s.authorize(w, r, ScopeRun); err != nil {
			return err
		}
		q := r.URL.Query()
		req = fileRequest{Connection: q.Get("connection"), Inputs: map[string]any{}}
		for _, name := range []string{"bucket", "path", "range", "region"} {
			if v := q.Get(name); v != "" {
				req.Inputs[name] = v
			}
		}
	}
	m, in, err := s.checkGetFile(req)
	if err != nil {
		return err
	}
	name := path.Base(in.String("path"))
	out := &attachmentWriter{w: w, name: name}
	err = s.callModule(r.Context(), m, req.Connection, in, module.Env{Stdout: out}, func(module.Bundle) error { return nil })
	if err == nil {
		out.start() // an empty file
		return nil
	}
	if out.started {
		// Too late for a status: cutting the body short makes the browser
		// report a failed download.
		s.log.WarnContext(r.Context(), "download cut short", "error", err)
		panic(http.ErrAbortHandler)
	}
	return err
}

// s3Status is the answer's status for a failed S3 call: the object or
// bucket missing is 404, the keys refused 403, anything else 502.
func s3Status(err error) int {
	switch s3client.Code(err) {
	case "NoSuchKey", "NoSuchBucket", "NotFound":
		return http.StatusNotFound
	case "AccessDenied":
		return http.StatusForbidden
	}
	return http.StatusBadGateway
}

// attachmentWriter sets the download's headers at the first byte, so that a
// failure before it (no such key) can still be answered with a status.
type attachmentWriter struct {
	w       http.ResponseWriter
	name    string
	started bool
}

func (a *attachmentWriter) start() {
	if a.started {
		return
	}
	a.started = true
	h := a.w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.name}))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	a.w.WriteHeader(http.StatusOK)
}

func (a *attachmentWriter) Write(p []byte) (int, error) {
	a.start()
	return a.w.Write(p)
}

// uploadFile runs Upload a file with a file sent from the browser:
// multipart/form-data with a part "request" ({"connection", "inputs"}: the
// module's inputs but the file) and then a part "file". The file part is
// read as it arrives and handed to the module as a stream; the module keeps
// at most its part buffers in memory (see s3.upload_file), never the file.
func (s *Server) uploadFile(w http.ResponseWriter, r *http.Request) error {
	m, ok := s.cfg.Registry.Lookup("s3.upload_file")
	if !ok {
		return notFoundf("no module s3.upload_file")
	}
	s.streamBody(w, r) // a file takes as long as it takes, while it keeps coming
	mr, err := r.MultipartReader()
	if err != nil {
		return badRequestf("the body must be multipart/form-data: %v", err)
	}
	first, err := mr.NextPart()
	if err != nil || first.FormName() != "request" {
		return badRequestf(`the first part must be "request" ({"connection", "inputs"}), then "file"`)
	}
	var req struct {
		Connection string         `json:"connection"`
		Inputs     map[string]any `json:"inputs"`
	}
	dec := json.NewDecoder(io.LimitReader(first, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return badRequestf("request: %v", err)
	}
	if err := m.CheckReach(0, req.Inputs, apiWhere+`; send the file as the part "file"`); err != nil {
		return err
	}
	if req.Connection == "" {
		return badRequestf("connection is required")
	}
	part, err := mr.NextPart()
	if err != nil || part.FormName() != "file" {
		return badRequestf(`the second part must be "file"`)
	}
	file := &streamedFile{name: part.FileName(), contentType: part.Header.Get("Content-Type"), r: part}
	if file.name == "" {
		return badRequestf(`the part "file" has no file name`)
	}
	inputs := map[string]any{"file": file}
	for k, v := range req.Inputs {
		inputs[k] = v
	}
	in, err := m.Check(inputs)
	if err != nil {
		return err
	}
	err = s.answerBundles(w, r, m, req.Connection, in, module.Env{}, func(b module.Bundle) {
		b["size"] = file.read // the size was not known up front
	})
	if err == nil {
		s.log.InfoContext(r.Context(), "file uploaded from the API", "connection", req.Connection, "bytes", file.read)
	}
	return err
}

// streamedFile is the file part of an upload, readable once as it arrives.
type streamedFile struct {
	name        string
	contentType string
	r           io.Reader
	opened      bool
	read        int64
}

func (f *streamedFile) Name() string { return path.Base(f.name) }

// Size is unknown: the part is read as it arrives.
func (f *streamedFile) Size() int64 { return -1 }

// Type is the browser's content type for the file; Upload a file uses it
// when no Content-Type header is given.
func (f *streamedFile) Type() string {
	if f.contentType == "application/octet-stream" {
		return "" // the browser did not know; the key's extension may
	}
	return f.contentType
}

func (f *streamedFile) Open() (io.ReadCloser, error) {
	if f.opened {
		return nil, fmt.Errorf("%s was sent once and cannot be read again", f.name)
	}
	f.opened = true
	return io.NopCloser(&countingReader{r: f.r, n: &f.read}), nil
}

type countingReader struct {
	r io.Reader
	n *int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}
