// Package faultproxy is a reverse proxy for tests that stands in front of a
// real S3 server and breaks chosen requests: error answers (500, 503
// SlowDown with Retry-After), connection resets after some bytes of the
// request or the response body, truncated bodies, a Content-Length that
// lies, and stalls. Which request breaks is a script of rules matched by S3
// operation, key, query and headers, counted: "the 3rd UploadPart", "the
// 57th ListObjectsV2". Every request is logged so tests can count attempts.
package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Kind is what a fault does.
type Kind int

const (
	// Error answers with Status and an S3 XML error body (Code, Message);
	// the request never reaches the server.
	Error Kind = iota + 1
	// ResetRequest reads Bytes of the request body, then resets the
	// connection (TCP RST); the request never reaches the server.
	ResetRequest
	// ResetResponse forwards the request, sends the answer's headers and
	// Bytes of its body, then resets the connection. With Bytes 0 not even
	// the headers are sent: the server did the work, the answer is lost.
	ResetResponse
	// Truncate forwards the request, sends the headers (with the true
	// Content-Length) and Bytes of the body, then closes the connection
	// cleanly: the client sees an early end of the body.
	Truncate
	// ShortLength forwards the request and answers with a Content-Length
	// Bytes smaller than the real one, and only that many bytes: a
	// well-formed answer that lies about the data.
	ShortLength
	// Stall reads the request body, then holds the request unanswered
	// until the client gives up or the proxy closes; Stalled reports it.
	Stall
)

func (k Kind) String() string {
	switch k {
	case Error:
		return "error"
	case ResetRequest:
		return "reset-request"
	case ResetResponse:
		return "reset-response"
	case Truncate:
		return "truncate"
	case ShortLength:
		return "short-length"
	case Stall:
		return "stall"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Fault is one way to break a request.
type Fault struct {
	Kind Kind
	// Status, Code and Message make the answer of an Error fault.
	Status  int
	Code    string
	Message string
	// RetryAfter, when set, is sent as Retry-After (seconds) and as
	// x-amz-retry-after (milliseconds, the header the SDK reads).
	RetryAfter int
	// Bytes is how far into the body a reset, truncation or lie happens.
	Bytes int64
}

// SlowDown is S3's throttling answer.
func SlowDown() Fault {
	return Fault{Kind: Error, Status: http.StatusServiceUnavailable, Code: "SlowDown",
		Message: "Please reduce your request rate.", RetryAfter: 1}
}

// InternalError is S3's 500 answer.
func InternalError() Fault {
	return Fault{Kind: Error, Status: http.StatusInternalServerError, Code: "InternalError",
		Message: "We encountered an internal error. Please try again."}
}

// Match selects requests; empty fields match anything.
type Match struct {
	// Op is the S3 operation, as Operation names it: "UploadPart".
	Op string
	// Key is the object key.
	Key string
	// Query holds query parameters that must have these values.
	Query map[string]string
	// Header holds request headers that must have these values.
	Header map[string]string
}

func (m Match) matches(r Request) bool {
	if m.Op != "" && m.Op != r.Op {
		return false
	}
	if m.Key != "" && m.Key != r.Key {
		return false
	}
	for k, v := range m.Query {
		if r.Query.Get(k) != v {
			return false
		}
	}
	for k, v := range m.Header {
		if r.Header.Get(k) != v {
			return false
		}
	}
	return true
}

// Rule breaks matching requests: the Nth one (1-based; 0 means the first)
// and the Count-1 after it. Count 0 means one request, a negative Count
// every request from the Nth on.
type Rule struct {
	Match Match
	Nth   int
	Count int
	Fault Fault

	seen int
}

func (r *Rule) hit(req Request) bool {
	if !r.Match.matches(req) {
		return false
	}
	r.seen++
	first := max(r.Nth, 1)
	if r.seen < first {
		return false
	}
	return r.Count < 0 || r.seen < first+max(r.Count, 1)
}

// Request is what the proxy saw of one request, and what it did to it.
type Request struct {
	// Seq numbers requests in arrival order, from 1.
	Seq    int
	Op     string
	Method string
	// Bucket and Key come from a path-style URL.
	Bucket string
	Key    string
	Query  url.Values
	Header http.Header
	// Fault is the fault applied; Kind 0 means the request went through.
	Fault Fault
	// Status is the answer's status: the server's, or the fault's for an
	// Error fault. It is 0 while no answer has come, and for requests the
	// proxy answers no status to itself (resets, stalls) or leaves to
	// Intercept.
	Status int
}

// Proxy is a fault-injecting reverse proxy in front of one S3 endpoint.
type Proxy struct {
	// URL is the proxy's endpoint, for path-style clients.
	URL string

	// Rewrite, when set, changes every request before it is forwarded,
	// after the Host header is kept as the client signed it. A rewrite
	// that touches signed parts must sign the request again.
	Rewrite func(*http.Request)
	// ModifyResponse, when set, changes every answer from the server.
	ModifyResponse func(*http.Response) error
	// Intercept, when set, sees every request first; returning true means
	// it has answered the request itself.
	Intercept func(w http.ResponseWriter, r *http.Request) bool

	srv     *httptest.Server
	rp      *httputil.ReverseProxy
	stalled chan Request
	// closed ends stalls when the proxy closes.
	closed    chan struct{}
	closeOnce sync.Once

	mu    sync.Mutex
	rules []*Rule
	log   []Request
}

// New starts a proxy in front of target (a base URL such as
// http://127.0.0.1:7070), closed when the test ends.
func New(t interface {
	Helper()
	Fatalf(string, ...any)
	Cleanup(func())
}, target string) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("faultproxy: bad target %q: %v", target, err)
	}
	p := &Proxy{stalled: make(chan Request, 16), closed: make(chan struct{})}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			// The client signed the Host it sent; the server must see it.
			pr.Out.Host = pr.In.Host
			if p.Rewrite != nil {
				p.Rewrite(pr.Out)
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			if seq, ok := resp.Request.Context().Value(seqKey{}).(int); ok {
				p.answered(seq, resp.StatusCode)
			}
			if p.ModifyResponse != nil {
				if err := p.ModifyResponse(resp); err != nil {
					return err
				}
			}
			f, _ := resp.Request.Context().Value(faultKey{}).(Fault)
			if f.Kind == ShortLength && resp.ContentLength > 0 {
				short := max(resp.ContentLength-f.Bytes, 0)
				resp.ContentLength = short
				resp.Header.Set("Content-Length", fmt.Sprint(short))
				resp.Body = struct {
					io.Reader
					io.Closer
				}{io.LimitReader(resp.Body, short), resp.Body}
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if !errors.Is(err, context.Canceled) {
				http.Error(w, "faultproxy: "+err.Error(), http.StatusBadGateway)
			}
		},
	}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = p.srv.URL
	t.Cleanup(p.Close)
	return p
}

// Close stops the proxy and releases stalled requests.
func (p *Proxy) Close() {
	p.closeOnce.Do(func() { close(p.closed) })
	p.srv.CloseClientConnections()
	p.srv.Close()
}

// Add appends rules to the script. The first rule that hits a request
// decides its fault; every rule counts the requests it matches.
func (p *Proxy) Add(rules ...Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range rules {
		r := rules[i]
		p.rules = append(p.rules, &r)
	}
}

// Requests returns what the proxy saw, in arrival order.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.log...)
}

// Count returns how many requests matched m.
func (p *Proxy) Count(m Match) int {
	n := 0
	for _, r := range p.Requests() {
		if m.matches(r) {
			n++
		}
	}
	return n
}

// Faulted returns the requests a fault was applied to.
func (p *Proxy) Faulted() []Request {
	var out []Request
	for _, r := range p.Requests() {
		if r.Fault.Kind != 0 {
			out = append(out, r)
		}
	}
	return out
}

// Stalled delivers each request a Stall fault is holding.
func (p *Proxy) Stalled() <-chan Request { return p.stalled }

type faultKey struct{}

// seqKey carries a forwarded request's Seq to its answer.
type seqKey struct{}

// answered records the status of request seq's answer.
func (p *Proxy) answered(seq, status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log[seq-1].Status = status
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	req := describe(r)
	p.mu.Lock()
	req.Seq = len(p.log) + 1
	for _, rule := range p.rules {
		// Every rule counts; the first that hits decides.
		if rule.hit(req) && req.Fault.Kind == 0 {
			req.Fault = rule.Fault
		}
	}
	p.log = append(p.log, req)
	p.mu.Unlock()

	if p.Intercept != nil && p.Intercept(w, r) {
		return
	}
	f := req.Fault
	switch f.Kind {
	case Error:
		// Read the body first, as S3 does: a client still sending would
		// otherwise see a broken pipe instead of the answer.
		io.Copy(io.Discard, r.Body)
		p.answered(req.Seq, f.Status)
		writeError(w, r, f, req.Seq)
		return
	case ResetRequest:
		io.CopyN(io.Discard, r.Body, f.Bytes)
		reset(w)
		return
	case Stall:
		// Take the body, as a server that hangs before answering does; the
		// server notices the client leaving only once the body is read.
		io.Copy(io.Discard, r.Body)
		select {
		case p.stalled <- req:
		default:
		}
		select {
		case <-r.Context().Done():
		case <-p.closed:
		}
		return
	case ResetResponse, Truncate:
		w = &cutWriter{ResponseWriter: w, left: f.Bytes, reset: f.Kind == ResetResponse}
	}
	ctx := context.WithValue(r.Context(), faultKey{}, f)
	ctx = context.WithValue(ctx, seqKey{}, req.Seq)
	p.rp.ServeHTTP(w, r.WithContext(ctx))
}

// describe names the S3 operation of a path-style request.
func describe(r *http.Request) Request {
	req := Request{Method: r.Method, Query: r.URL.Query(), Header: r.Header.Clone()}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	req.Bucket, req.Key = bucket, key
	req.Op = Operation(r.Method, key != "", req.Query, r.Header)
	return req
}

// Operation names the S3 operation of a request: method, whether it names
// an object, and the query parameters that select sub-resources.
func Operation(method string, object bool, q url.Values, h http.Header) string {
	// The SDK names most operations in x-id; other clients do not.
	if id := q.Get("x-id"); id != "" {
		return id
	}
	has := func(k string) bool { return q.Has(k) }
	copying := h.Get("X-Amz-Copy-Source") != ""
	switch {
	case object && method == http.MethodPut && has("partNumber") && copying:
		return "UploadPartCopy"
	case object && method == http.MethodPut && has("partNumber"):
		return "UploadPart"
	case object && method == http.MethodPost && has("uploads"):
		return "CreateMultipartUpload"
	case object && method == http.MethodPost && has("uploadId"):
		return "CompleteMultipartUpload"
	case object && method == http.MethodDelete && has("uploadId"):
		return "AbortMultipartUpload"
	case object && method == http.MethodGet && has("uploadId"):
		return "ListParts"
	case object && method == http.MethodPut && copying:
		return "CopyObject"
	case object && method == http.MethodPut && len(q) == 0:
		return "PutObject"
	case object && method == http.MethodGet && len(q) == 0:
		return "GetObject"
	case object && method == http.MethodHead:
		return "HeadObject"
	case object && method == http.MethodDelete:
		return "DeleteObject"
	case !object && method == http.MethodGet && q.Get("list-type") == "2":
		return "ListObjectsV2"
	case !object && method == http.MethodGet && has("uploads"):
		return "ListMultipartUploads"
	case !object && method == http.MethodGet && has("versions"):
		return "ListObjectVersions"
	case !object && method == http.MethodPost && has("delete"):
		return "DeleteObjects"
	case !object && method == http.MethodHead:
		return "HeadBucket"
	case !object && method == http.MethodPut && len(q) == 0:
		return "CreateBucket"
	case !object && method == http.MethodDelete && len(q) == 0:
		return "DeleteBucket"
	}
	return method + "?" + strings.Join(slices.Sorted(maps.Keys(q)), "&")
}

func writeError(w http.ResponseWriter, r *http.Request, f Fault, seq int) {
	id := fmt.Sprintf("faultproxy-%d", seq)
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("X-Amz-Request-Id", id)
	if f.RetryAfter > 0 {
		h.Set("Retry-After", fmt.Sprint(f.RetryAfter))
		h.Set("X-Amz-Retry-After", fmt.Sprint(f.RetryAfter*1000))
	}
	w.WriteHeader(f.Status)
	if r.Method == http.MethodHead || f.Code == "" {
		return
	}
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<Error><Code>%s</Code><Message>%s</Message><RequestId>%s</RequestId></Error>`,
		f.Code, f.Message, id)
}

// reset takes the connection from the server and closes it with a TCP RST
// (SO_LINGER 0), as a crashing server or a middlebox does.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// cutWriter passes the answer through until left body bytes are written,
// then resets or closes the connection.
type cutWriter struct {
	http.ResponseWriter
	left  int64
	reset bool
	wrote bool
	done  bool
}

var errCut = errors.New("faultproxy: connection cut")

func (c *cutWriter) WriteHeader(status int) {
	if c.left == 0 {
		c.cut()
		return
	}
	c.wrote = true
	c.ResponseWriter.WriteHeader(status)
}

func (c *cutWriter) Write(b []byte) (int, error) {
	if c.done {
		return 0, errCut
	}
	if int64(len(b)) <= c.left {
		n, err := c.ResponseWriter.Write(b)
		c.left -= int64(n)
		return n, err
	}
	n, _ := c.ResponseWriter.Write(b[:c.left])
	c.left = 0
	c.cut()
	return n, errCut
}

func (c *cutWriter) cut() {
	if c.done {
		return
	}
	c.done = true
	rc := http.NewResponseController(c.ResponseWriter)
	if c.wrote {
		// Without headers written, a flush would send a 200.
		rc.Flush()
	}
	conn, _, err := rc.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok && c.reset {
		tc.SetLinger(0)
	}
	conn.Close()
}

func (c *cutWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
