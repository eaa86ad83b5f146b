package server_test

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/locals3"
	"github.com/s3flow/s3flow/internal/s3test"
)

// localEventFlows start runs from the local endpoint's events under
// incoming/ of the demo bucket: onput for writes, onremove for removals.
var localEventFlows = map[string]string{
	"onput":    "name: onput\ntrigger:\n  s3_event: {connection: local, bucket: demo, prefix: incoming/}\nsteps:\n  - {id: items, module: flow.iterate, with: {items: [1]}}\n",
	"onremove": "name: onremove\ntrigger:\n  s3_event: {connection: local, bucket: demo, prefix: incoming/, events: [removed]}\nsteps:\n  - {id: items, module: flow.iterate, with: {items: [1]}}\n",
}

// runsOf are the runs of flow whose trigger is of key.
func (e *env) runsOf(flow, key string) []map[string]any {
	var out []map[string]any
	for _, r := range e.runs() {
		trig, _ := r["trigger"].(map[string]any)
		if r["flow"] == flow && trig["key"] == key {
			out = append(out, r)
		}
	}
	return out
}

// TestLocalEndpointEvents: with a server running on the home, the local
// endpoint an s3flow command starts tells it of an upload and a removal,
// and the flows on the local connection run once for each, with the key
// as written (a space and a plus in it); the same record again starts
// nothing. Without a server, the endpoint says nothing of events.
func TestLocalEndpointEvents(t *testing.T) {
	e := &env{t: t, home: t.TempDir(), flows: t.TempDir()}
	e.token = strings.TrimSpace(e.cli("", "token", "create", "test", "--scope", "admin"))
	for name, yaml := range localEventFlows {
		e.writeFlow(name, yaml)
	}
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "a b+c.txt"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}

	// No server: the upload works, and nothing is said of events.
	e.cli("", "s3", "upload-file", "--connection", "local", "--bucket", "demo", "--folder", "incoming", "--file", filepath.Join(data, "a b+c.txt"))
	if log, _ := os.ReadFile(filepath.Join(e.home, "local-s3.log")); strings.Contains(string(log), "not sent") {
		t.Errorf("the local endpoint's log speaks of events with no server running:\n%s", log)
	}

	e.start()
	file := locals3.EventsFile(e.home)
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatalf("the server did not say where it takes the local events: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s is %v, want 0600", file, fi.Mode().Perm())
	}
	listener, err := locals3.ReadEventsListener(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.srvLog.String(), listener.Secret) {
		t.Errorf("the server logged its local events secret:\n%s", e.srvLog)
	}

	// The command's own endpoint ends right after the upload; its event
	// still arrives.
	const key = "incoming/a b+c.txt"
	e.cli("", "s3", "upload-file", "--connection", "local", "--bucket", "demo", "--folder", "incoming", "--file", filepath.Join(data, "a b+c.txt"))
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(e.home, "local-s3.log"))
			t.Logf("server:\n%s\nlocal endpoint:\n%s", e.srvLog, log)
		}
	})
	waitFor(t, func() bool { return len(e.runsOf("onput", key)) > 0 })
	put := e.runsOf("onput", key)[0]
	trig := put["trigger"].(map[string]any)
	if trig["eventName"] != "ObjectCreated:Put" || trig["bucket"] != "demo" || trig["size"] != float64(5) ||
		trig["etag"] != "5d41402abc4b2a76b9719d911017c592" || trig["sequencer"] == "" {
		t.Errorf("trigger = %v", trig)
	}
	record := trig["record"].(map[string]any)
	if k := record["s3"].(map[string]any)["object"].(map[string]any)["key"]; k != "incoming/a+b%2Bc.txt" {
		t.Errorf("the record's key is %q, want it URL-encoded as S3 writes it", k)
	}

	// A removal starts onremove, and not onput.
	e.cli("", "s3", "api-call", "--connection", "local", "--method", "DELETE", "--url", "/demo/"+key)
	waitFor(t, func() bool { return len(e.runsOf("onremove", key)) > 0 })
	removed := e.runsOf("onremove", key)[0]["trigger"].(map[string]any)
	if removed["eventName"] != "ObjectRemoved:Delete" || removed["sequencer"].(string) <= trig["sequencer"].(string) {
		t.Errorf("removal trigger = %v; its sequencer must follow the upload's %v", removed, trig["sequencer"])
	}

	// The upload's record again: taken, and nothing started.
	body, _ := json.Marshal(map[string]any{"Records": []any{record}})
	status, out := e.do("POST", locals3.EventsPath, listener.Secret, body, nil)
	if status != 200 || out["duplicates"] != float64(1) || len(out["runs"].([]any)) != 0 {
		t.Errorf("the same record again: %d %v, want 200 with 1 duplicate and no run", status, out)
	}
	// Without the secret, nothing is read.
	for _, secret := range []string{"", "wrong", e.token} {
		if status, out := e.do("POST", locals3.EventsPath, secret, body, nil); status != 401 {
			t.Errorf("secret %q: %d %v, want 401", secret, status, out)
		}
	}
	if n := len(e.runsOf("onput", key)); n != 1 {
		t.Errorf("%d onput runs for %q, want exactly 1", n, key)
	}
	if n := len(e.runsOf("onremove", key)); n != 1 {
		t.Errorf("%d onremove runs for %q, want exactly 1", n, key)
	}
	if log, _ := os.ReadFile(filepath.Join(e.home, "local-s3.log")); strings.Contains(string(log), listener.Secret) {
		t.Errorf("the local endpoint logged the secret:\n%s", log)
	}

	// A stopped server takes its file with it.
	e.stop(syscall.SIGTERM)
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("%s after the server stopped: %v, want it gone", file, err)
	}
}

// TestLocalServeEvents: "s3flow local serve" sends the events of what the
// aws CLI does through it (a multipart upload, a copy, a delete of
// several keys), each with its size, in the order they happened.
func TestLocalServeEvents(t *testing.T) {
	e := &env{t: t, home: t.TempDir(), flows: t.TempDir()}
	e.token = strings.TrimSpace(e.cli("", "token", "create", "test", "--scope", "admin"))
	e.writeFlow("both", "name: both\ntrigger:\n  s3_event: {connection: local, bucket: demo, prefix: incoming/, events: [created, removed]}\n"+
		"steps:\n  - {id: items, module: flow.iterate, with: {items: [1]}}\n")
	e.start()
	// The endpoint comes up with the demo bucket once a command used it.
	e.cli("", "s3", "list-folders", "--connection", "local", "--bucket", "demo")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	serve := exec.Command(binary, "local", "serve", "--addr", addr)
	serve.Env = append(os.Environ(), "S3FLOW_HOME="+e.home)
	out := &logBuffer{}
	serve.Stdout, serve.Stderr = out, out
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		serve.Process.Signal(syscall.SIGTERM)
		serve.Wait()
	})
	waitFor(t, func() bool { _, ok := locals3.Lookup(t.Context(), e.home); return ok })
	field := func(name string) string {
		for line := range strings.Lines(out.String()) {
			if v, ok := strings.CutPrefix(line, name+":"); ok {
				return strings.TrimSpace(v)
			}
		}
		t.Fatalf("local serve printed no %s:\n%s", name, out)
		return ""
	}
	tg := s3test.Target{Name: "local", Conn: connection.Connection{Endpoint: field("endpoint"), Region: field("region"),
		AccessKeyID: field("access key id"), SecretAccessKey: connection.NewSecret(field("secret access key"))}}

	src := filepath.Join(t.TempDir(), "part")
	if err := os.WriteFile(src, []byte("one part, the last may be small"), 0o600); err != nil {
		t.Fatal(err)
	}
	var upload struct{ UploadId string }
	json.Unmarshal([]byte(tg.AWS(t, "s3api", "create-multipart-upload", "--bucket", "demo", "--key", "incoming/big.bin")), &upload)
	var part struct{ ETag string }
	json.Unmarshal([]byte(tg.AWS(t, "s3api", "upload-part", "--bucket", "demo", "--key", "incoming/big.bin", "--upload-id", upload.UploadId,
		"--part-number", "1", "--body", src)), &part)
	parts, _ := json.Marshal(map[string]any{"Parts": []any{map[string]any{"PartNumber": 1, "ETag": part.ETag}}})
	tg.AWS(t, "s3api", "complete-multipart-upload", "--bucket", "demo", "--key", "incoming/big.bin", "--upload-id", upload.UploadId,
		"--multipart-upload", string(parts))
	tg.AWS(t, "s3api", "copy-object", "--bucket", "demo", "--key", "incoming/copy.bin", "--copy-source", "demo/incoming/big.bin")
	tg.AWS(t, "s3api", "delete-objects", "--bucket", "demo", "--delete", `{"Objects":[{"Key":"incoming/big.bin"},{"Key":"incoming/copy.bin"}]}`)

	type seen struct {
		event string
		size  float64
		seq   string
	}
	events := func() map[string]seen {
		got := map[string]seen{}
		for _, r := range e.runs() {
			trig, _ := r["trigger"].(map[string]any)
			if r["flow"] == "both" {
				got[trig["key"].(string)+" "+trig["eventName"].(string)] = seen{trig["eventName"].(string), trig["size"].(float64), trig["sequencer"].(string)}
			}
		}
		return got
	}
	waitFor(t, func() bool { return len(events()) >= 4 })
	got := events()
	want := []struct {
		key, event string
		size       float64
	}{
		{"incoming/big.bin", "ObjectCreated:CompleteMultipartUpload", 31},
		{"incoming/copy.bin", "ObjectCreated:Copy", 31},
		{"incoming/big.bin", "ObjectRemoved:Delete", 0},
		{"incoming/copy.bin", "ObjectRemoved:Delete", 0},
	}
	if len(got) != len(want) {
		t.Errorf("runs for %v, want %v", got, want)
	}
	for _, w := range want {
		g, ok := got[w.key+" "+w.event]
		if !ok || g.size != w.size {
			t.Errorf("%s %s: got %+v (found %v), want size %v", w.key, w.event, g, ok, w.size)
		}
	}
	created, copied := got["incoming/big.bin ObjectCreated:CompleteMultipartUpload"], got["incoming/copy.bin ObjectCreated:Copy"]
	if !(created.seq < copied.seq && copied.seq < got["incoming/big.bin ObjectRemoved:Delete"].seq) {
		t.Errorf("sequencers out of order: %v", got)
	}
}
