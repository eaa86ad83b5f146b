package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/locals3"
)

// TestEncodeKey: keys as S3's notifications write them, which the
// server's key_encoding: url reads back.
func TestEncodeKey(t *testing.T) {
	for key, want := range map[string]string{
		"incoming/a b+c.txt": "incoming/a+b%2Bc.txt",
		"é/100%.csv":         "%C3%A9/100%25.csv",
		"plain/key":          "plain/key",
	} {
		if got := encodeKey(key); got != want {
			t.Errorf("encodeKey(%q) = %q, want %q", key, got, want)
		}
	}
}

// recorder is a server that fails its first fail requests with 503 (the
// fault httptest is for), then records the bodies it takes.
type recorder struct {
	mu     sync.Mutex
	fail   int
	tries  int
	auth   []string
	bodies [][]byte
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tries++
	if req.URL.Path != locals3.EventsPath {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if r.tries <= r.fail {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	r.auth = append(r.auth, req.Header.Get("Authorization"))
	r.bodies = append(r.bodies, body)
}

// TestNotifierRetries: a server that answers 503 twice gets the events on
// the third try, once, with the secret; the events of a stopping endpoint
// are sent before it ends; the log says nothing when all went well.
func TestNotifierRetries(t *testing.T) {
	rec := &recorder{fail: 2}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	home := t.TempDir()
	if _, err := locals3.RegisterEvents(home, locals3.EventsListener{URL: srv.URL, Secret: "s3l_test", Pid: os.Getpid()}); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	n := newNotifier(locals3.EventsFile(home), "us-east-1", nil, &log)
	go n.run()
	n.add(objectEvent{name: "ObjectCreated:Put", bucket: "demo", key: "incoming/a b.txt", etag: `"abc"`, size: 3})
	n.add(objectEvent{name: "ObjectRemoved:Delete", bucket: "demo", key: "incoming/a b.txt"})
	n.close()

	rec.mu.Lock()
	defer rec.mu.Unlock()
	var records []map[string]any
	for i, b := range rec.bodies {
		if rec.auth[i] != "Bearer s3l_test" {
			t.Errorf("Authorization %q", rec.auth[i])
		}
		var body struct{ Records []map[string]any }
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatal(err)
		}
		records = append(records, body.Records...)
	}
	if len(records) != 2 || rec.tries < 3 {
		t.Fatalf("%d tries, records %v; want both records after two failures", rec.tries, records)
	}
	var seqs []string
	for i, want := range []string{"ObjectCreated:Put", "ObjectRemoved:Delete"} {
		obj := records[i]["s3"].(map[string]any)["object"].(map[string]any)
		if records[i]["eventName"] != want || obj["key"] != "incoming/a+b.txt" {
			t.Errorf("record %d: %v", i, records[i])
		}
		seqs = append(seqs, obj["sequencer"].(string))
	}
	if !(seqs[0] < seqs[1]) || len(seqs[0]) != 16 {
		t.Errorf("sequencers %q: want growing, of 16 hex digits", seqs)
	}
	if obj := records[0]["s3"].(map[string]any)["object"].(map[string]any); obj["eTag"] != "abc" || obj["size"] != float64(3) {
		t.Errorf("put record %v", obj)
	}
	if log.Len() != 0 {
		t.Errorf("log: %s", log.String())
	}
}

// TestNotifierNoServer: with no server of the home, add never waits (not
// even with the queue full), nothing is sent, and nothing is said.
func TestNotifierNoServer(t *testing.T) {
	var log bytes.Buffer
	n := newNotifier(locals3.EventsFile(t.TempDir()), "us-east-1", nil, &log)
	start := time.Now()
	for range eventQueueSize + 10 {
		n.add(objectEvent{name: "ObjectCreated:Put", bucket: "demo", key: "k"})
	}
	go n.run()
	n.close()
	if log.Len() != 0 {
		t.Errorf("log: %s", log.String())
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("took %s", d)
	}
}

// TestNotifierServerDown: a server that is registered but does not
// answer costs a few tries and one line that names its address, not its
// secret.
func TestNotifierServerDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	home := t.TempDir()
	if _, err := locals3.RegisterEvents(home, locals3.EventsListener{URL: url, Secret: "s3l_hidden", Pid: os.Getpid()}); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	n := newNotifier(locals3.EventsFile(home), "us-east-1", nil, &log)
	go n.run()
	n.add(objectEvent{name: "ObjectCreated:Put", bucket: "demo", key: "k"})
	n.add(objectEvent{name: "ObjectCreated:Put", bucket: "demo", key: "k2"})
	n.close()
	if got := log.String(); !bytes.Contains(log.Bytes(), []byte("not sent")) || bytes.Contains(log.Bytes(), []byte("s3l_hidden")) ||
		bytes.Count(log.Bytes(), []byte("\n")) != 1 {
		t.Errorf("log: %q; want one line without the secret", got)
	}
}
