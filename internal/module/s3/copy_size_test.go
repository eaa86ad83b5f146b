package s3

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/s3flow/s3flow/internal/s3test"
)

// methodCounter is a proxy in front of a server that counts requests by
// method.
type methodCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func newMethodCounter(t *testing.T, endpoint string) (*methodCounter, string) {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	m := &methodCounter{counts: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.counts[r.Method]++
		m.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return m, srv.URL
}

func (m *methodCounter) take() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.counts
	m.counts = map[string]int{}
	return c
}

// TestCopyFileKnownSize: with the size a listing gave, a copy is one
// CopyObject, no HEAD; the aws CLI reads the copy. A missing source still
// fails clearly. A size past the single-copy limit, or REPLACE without a
// Content-Type, HEADs the source as before (and the HEAD's size decides).
func TestCopyFileKnownSize(t *testing.T) {
	data := randomBytes(11, 100<<10)
	for _, tg := range s3test.Standalone(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			putWithAWS(t, tg, bucket, "src/a.bin", data)
			counter, front := newMethodCounter(t, tg.Conn.Endpoint)
			proxied := tg
			proxied.Conn.Endpoint = front
			counter.take()

			got, err := run(t, proxied, CopyFile, map[string]any{"bucket": bucket, "path": "src/a.bin", "to_path": "dst/", "size": int64(len(data))})
			if err != nil {
				t.Fatal(err)
			}
			if c := counter.take(); c[http.MethodHead] != 0 || c[http.MethodPut] != 1 {
				t.Errorf("requests %v, want one PUT (CopyObject) and no HEAD", c)
			}
			if got[0]["size"] != int64(len(data)) || got[0]["key"] != "dst/a.bin" {
				t.Errorf("bundle %v", got[0])
			}
			if b, err := os.ReadFile(getWithAWS(t, tg, bucket, "dst/a.bin")); err != nil || string(b) != string(data) {
				t.Errorf("the aws CLI read %d bytes (%v), want the %d of the source", len(b), err, len(data))
			}

			_, err = run(t, proxied, CopyFile, map[string]any{"bucket": bucket, "path": "src/nope.bin", "to_path": "dst/", "size": int64(10)})
			if err == nil || !strings.Contains(err.Error(), "NoSuchKey") || !strings.Contains(err.Error(), `"src/nope.bin"`) {
				t.Errorf("a missing source with a size: %v", err)
			}
			assertNoObject(t, tg, bucket, "dst/nope.bin")
			counter.take()

			for _, with := range []map[string]any{
				{"size": int64(6 << 30)},
				{"size": int64(len(data)), "metadata_directive": "REPLACE"},
			} {
				in := map[string]any{"bucket": bucket, "path": "src/a.bin", "to_path": "again/a.bin"}
				for k, v := range with {
					in[k] = v
				}
				got, err := run(t, proxied, CopyFile, in)
				if err != nil {
					t.Fatalf("%v: %v", with, err)
				}
				if c := counter.take(); c[http.MethodHead] != 1 {
					t.Errorf("%v: requests %v, want the HEAD", with, c)
				}
				if got[0]["size"] != int64(len(data)) {
					t.Errorf("%v: size %v, want the HEAD's %d", with, got[0]["size"], len(data))
				}
			}
		})
	}
}
