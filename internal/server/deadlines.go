package server

import (
	"io"
	"net/http"
	"time"
)

// The limits that keep slow or idle clients from holding the server: 100
// clients sending a body a byte at a time, or never, once took it from
// 40 MB to 1.3 GB.
const (
	DefaultReadTimeout  = time.Minute
	DefaultWriteTimeout = time.Minute
	DefaultIdleTimeout  = 2 * time.Minute
	// readHeaderTimeout bounds the request line and headers alone.
	readHeaderTimeout = 10 * time.Second
	// maxHeaderBytes bounds the request line and headers (net/http's
	// default is 1 MiB); a token, a ticket and a signature fit many times.
	maxHeaderBytes = 64 << 10
)

// newHTTPServer is the http.Server of a server or a worker.
//
// ReadTimeout bounds reading a whole request, headers and body, from its
// first byte: a body that is not all there in time ends the request.
// net/http lifts that deadline once the body has been read (or when there
// is none), so it limits the client, never the handler's work. Uploads,
// whose bodies are files, read with a deadline that moves with each read
// instead (streamBody).
//
// WriteTimeout bounds each write of the answer rather than the handler's
// whole time: a run waited for with ?wait=true or a long download is not
// cut, a client that stops reading is.
func (s *Server) newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           deadlines(h, s.cfg.WriteTimeout),
		ReadHeaderTimeout: min(readHeaderTimeout, s.cfg.ReadTimeout),
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

// deadlines turns the write deadline into one per write (see
// newHTTPServer).
func deadlines(h http.Handler, write time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		rc.SetWriteDeadline(time.Time{}) // until the first write
		h.ServeHTTP(&writeDeadline{ResponseWriter: w, rc: rc, d: write}, r)
	})
}

// writeDeadline gives each write of the answer d to complete.
type writeDeadline struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *writeDeadline) Write(p []byte) (int, error) {
	if w.d > 0 {
		w.rc.SetWriteDeadline(time.Now().Add(w.d))
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *writeDeadline) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// streamBody gives a request whose body may be large and slow (a file
// uploaded from a browser) a read deadline that moves with each read: the
// body may take as long as it needs while it keeps coming, and is cut when
// it stalls for the server's ReadTimeout.
func (s *Server) streamBody(w http.ResponseWriter, r *http.Request) {
	if s.cfg.ReadTimeout <= 0 || r.Body == nil || r.Body == http.NoBody {
		return
	}
	r.Body = &movingDeadline{ReadCloser: r.Body, rc: http.NewResponseController(w), d: s.cfg.ReadTimeout}
}

type movingDeadline struct {
	io.ReadCloser
	rc   *http.ResponseController
	d    time.Duration
	done bool
}

func (b *movingDeadline) Read(p []byte) (int, error) {
	if !b.done {
		b.rc.SetReadDeadline(time.Now().Add(b.d))
	}
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.done = true // at io.EOF net/http lifts it
	}
	return n, err
}
