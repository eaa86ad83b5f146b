package server_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/s3test"
	"github.com/s3flow/s3flow/internal/server"
)

// versitygwBinary is the versitygw scripts/test.sh installs
// (S3FLOW_TEST_VERSITYGW), else one on PATH.
func versitygwBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("S3FLOW_TEST_VERSITYGW"); bin != "" {
		return bin
	}
	if bin, err := exec.LookPath("versitygw"); err == nil {
		return bin
	}
	s3test.SkipOrFail(t, "no versitygw binary: run the tests with scripts/test.sh (S3FLOW_TEST_VERSITYGW is unset)")
	return ""
}

// eventRecorder passes the notifications a store sends on to the s3flow
// server, and keeps each with the answer's status, so that a test knows
// when all have been taken and can send them again.
type eventRecorder struct {
	mu     sync.Mutex
	bodies [][]byte
	status map[int]int
}

func (er *eventRecorder) handler(target string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		resp, err := http.Post(target+r.URL.Path, r.Header.Get("Content-Type"), bytes.NewReader(body))
		status := 502
		if err == nil {
			status = resp.StatusCode
			io.Copy(w, resp.Body)
			resp.Body.Close()
		}
		er.mu.Lock()
		er.bodies = append(er.bodies, body)
		er.status[status]++
		er.mu.Unlock()
	})
}

func (er *eventRecorder) taken() (int, map[int]int) {
	er.mu.Lock()
	defer er.mu.Unlock()
	n := 0
	for _, c := range er.status {
		n += c
	}
	return n, maps.Clone(er.status)
}

// startVersitygw starts a versitygw of its own (POSIX backend in a
// temporary folder) that sends its event notifications to webhook, and
// returns it as a target for the aws CLI.
func startVersitygw(t *testing.T, webhook string) s3test.Target {
	t.Helper()
	bin := versitygwBinary(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	secret := make([]byte, 16)
	rand.Read(secret)
	tg := s3test.Target{Name: "versitygw-events", Conn: connection.Connection{
		AccessKeyID: "eventtest", SecretAccessKey: connection.NewSecret(hex.EncodeToString(secret)),
		Region: "us-east-1", Endpoint: "http://" + addr, PathStyle: true,
	}}
	data := t.TempDir()
	logs := &logBuffer{}
	cmd := exec.Command(bin, "--port", addr, "--health", "/health", "--quiet", "--event-webhook-url", webhook, "posix", data)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+tg.Conn.AccessKeyID, "ROOT_SECRET_KEY="+tg.Conn.SecretAccessKey.Reveal())
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(tg.Conn.Endpoint + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return tg
			}
		}
		select {
		case <-exited:
			t.Fatalf("versitygw exited:\n%s", logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not become healthy on %s:\n%s", addr, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestS3EventVersitygw: a real store (versitygw, --event-webhook-url with
// the flow's URL token) sends its notifications as objects are uploaded
// with the aws CLI: exactly one run per object created under the prefix,
// with its key as written (spaces, +, %, accents), none for objects
// elsewhere or for removals, none for versitygw's test event; and the
// same notifications sent again start nothing.
func TestS3EventVersitygw(t *testing.T) {
	if _, err := os.Stat(s3test.AWSCLI); err != nil {
		s3test.SkipOrFail(t, "%s is missing (scripts/test.sh installs it)", s3test.AWSCLI)
	}
	versitygwBinary(t)
	flows := map[string]string{"uploads": "name: uploads\ntrigger:\n  s3_event: {connection: local, bucket: events, prefix: in/, key_encoding: none}\n" +
		"steps:\n  - {id: items, module: flow.iterate, with: {items: [1]}}\n"}
	e := startEventServer(t, filepath.Join(t.TempDir(), "s3flow.db"), server.Config{}, flows)
	_, made := e.makeToken("uploads", false)
	token := made["token"].(string)
	rec := &eventRecorder{status: map[int]int{}}
	proxy := httptest.NewServer(rec.handler("http://" + e.addr))
	defer proxy.Close()
	tg := startVersitygw(t, proxy.URL+"/events/uploads/"+token)

	dir := t.TempDir()
	want := []string{"in/a b+c é%.csv", "in/deep/x y/z.txt", "in/plus+only", "in/100%", "in/multi.bin"}
	for i := range 20 {
		want = append(want, fmt.Sprintf("in/batch/%02d.csv", i))
	}
	slices.Sort(want)
	for _, key := range append(slices.Clone(want), "out/elsewhere.csv") {
		path := filepath.Join(dir, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		size := 10
		if key == "in/multi.bin" {
			size = 9 << 20 // over the aws CLI's 8 MiB: a multipart upload
		}
		if err := os.WriteFile(path, bytes.Repeat([]byte("x"), size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tg.AWS(t, "s3api", "create-bucket", "--bucket", "events")
	tg.AWS(t, "s3", "cp", "--recursive", "--only-show-errors", dir, "s3://events/")
	tg.AWS(t, "s3", "rm", "--only-show-errors", "s3://events/in/plus+only")

	// versitygw sends each event once, at once, without retrying: the
	// test event, one per object (the one elsewhere too) and the removal.
	expected := 1 + len(want) + 1 + 1
	var taken int
	var statuses map[int]int
	waitFor(t, func() bool { taken, statuses = rec.taken(); return taken >= expected })
	if taken != expected || statuses[200] != expected {
		t.Errorf("the store sent %d notification(s), answered %v; want %d, all 200", taken, statuses, expected)
	}
	keys := func() []string {
		var keys []string
		for _, r := range e.runs() {
			trig := r["trigger"].(map[string]any)
			if trig["bucket"] != "events" || !strings.HasPrefix(trig["eventName"].(string), "ObjectCreated:") {
				t.Errorf("run %v: trigger = %v", r["id"], trig)
			}
			keys = append(keys, trig["key"].(string))
		}
		slices.Sort(keys)
		return keys
	}
	if got := keys(); !slices.Equal(got, want) {
		t.Fatalf("runs for keys\n%q\nwant one for each of\n%q", got, want)
	}

	// The same notifications again: all taken, none starts a run.
	rec.mu.Lock()
	bodies := slices.Clone(rec.bodies)
	rec.mu.Unlock()
	duplicates := 0
	for _, body := range bodies {
		status, answer := e.post("/events/uploads/"+token, body, nil)
		if status != 200 {
			t.Fatalf("sent again: %d %v", status, answer)
		}
		if runs, _ := answer["runs"].([]any); len(runs) != 0 {
			t.Errorf("sent again, started %v", runs)
		}
		if d, ok := answer["duplicates"].(float64); ok {
			duplicates += int(d)
		}
	}
	if duplicates != len(want) {
		t.Errorf("%d duplicates found, want %d", duplicates, len(want))
	}
	if got := keys(); len(got) != len(want) {
		t.Errorf("%d runs after sending again, want %d", len(got), len(want))
	}
}
