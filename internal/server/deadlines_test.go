package server

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDeadlines: the server's read and write timeouts limit the client,
// not the work: a handler that works longer than both, after reading its
// body, keeps its context and gets its answer out; an upload that keeps
// coming may take longer than ReadTimeout, one that stalls may not.
func TestDeadlines(t *testing.T) {
	const timeout = 200 * time.Millisecond
	s := &Server{cfg: Config{ReadTimeout: timeout, WriteTimeout: timeout, IdleTimeout: time.Second}}
	mux := http.NewServeMux()
	// work reads the body, works for 3 timeouts and answers what it saw.
	mux.HandleFunc("/work", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		select {
		case <-r.Context().Done():
			fmt.Fprintf(w, "cancelled")
		case <-time.After(3 * timeout):
			fmt.Fprintf(w, "worked, %d bytes", len(body))
		}
	})
	// accepted answers with a status alone, after working as long.
	mux.HandleFunc("/accepted", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(3 * timeout) // work
		w.WriteHeader(http.StatusAccepted)
	})
	upload := func(stream bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if stream {
				s.streamBody(w, r)
			}
			n, err := io.Copy(io.Discard, r.Body)
			if err != nil {
				http.Error(w, "cut", 400)
				return
			}
			fmt.Fprintf(w, "%d bytes", n)
		}
	}
	mux.HandleFunc("/upload", upload(true))
	mux.HandleFunc("/post", upload(false))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := s.newHTTPServer(mux)
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })

	// slowly sends 6 pieces, one every timeout/2: 3 timeouts in all.
	slowly := func() io.Reader {
		pr, pw := io.Pipe()
		go func() {
			for range 6 {
				time.Sleep(timeout / 2) // a client's pace, not synchronisation
				if _, err := io.WriteString(pw, "piece"); err != nil {
					return
				}
			}
			pw.Close()
		}()
		return pr
	}
	for _, tc := range []struct {
		name, method, path string
		body               func() io.Reader
		want               string
	}{
		{"GET, long work", "GET", "/work", nil, "worked, 0 bytes"},
		{"POST, long work", "POST", "/work", func() io.Reader { return strings.NewReader(`{"a":1}`) }, "worked, 7 bytes"},
		{"a status alone, after long work", "GET", "/accepted", nil, ""},
		{"upload that keeps coming", "POST", "/upload", slowly, "30 bytes"},
		{"slow body elsewhere", "POST", "/post", slowly, "cut"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != nil {
				body = tc.body()
			}
			req, _ := http.NewRequest(tc.method, "http://"+l.Addr().String()+tc.path, body)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				if tc.want == "cut" {
					return // cut before an answer could be read
				}
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("read the answer: %v", err)
			}
			if strings.TrimSpace(string(got)) != tc.want {
				t.Errorf("answer %q, want %q", got, tc.want)
			}
		})
	}
}
