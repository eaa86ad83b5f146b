package server_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSecretsNeverLeak runs every kind of CLI command, the server's API, a
// webhook and a flow — all with --debug — against a connection whose
// secret is known, then looks for the secret in every byte they wrote:
// stdout, stderr, the server log, the run history, and every file under
// S3FLOW_HOME (the database, its WAL, the key file). It must be nowhere;
// the encrypted column is the only place it exists.
//
// The S3 endpoint is another home's `s3flow local serve`, which prints its
// generated secret on purpose (so that other tools can use it); that
// process's output is the one place the test reads it from.
func TestSecretsNeverLeak(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	endpointHome := t.TempDir()
	ep := exec.Command(binary, "local", "serve", "--addr", addr)
	ep.Env = append(os.Environ(), "S3FLOW_HOME="+endpointHome)
	out, _ := ep.StdoutPipe()
	ep.Stderr = io.Discard
	if err := ep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Process.Signal(syscall.SIGTERM); ep.Wait() })
	var keyID, secret string
	sc := bufio.NewScanner(out)
	for sc.Scan() && (keyID == "" || secret == "") {
		if v, ok := strings.CutPrefix(sc.Text(), "access key id:"); ok {
			keyID = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(sc.Text(), "secret access key:"); ok {
			secret = strings.TrimSpace(v)
		}
	}
	go io.Copy(io.Discard, out)
	if len(secret) < 16 {
		t.Fatalf("local serve printed no secret (got %q)", secret)
	}
	waitFor(t, func() bool {
		resp, err := http.Get("http://" + addr + "/_s3flow_health")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})

	home, flows, data := t.TempDir(), t.TempDir(), t.TempDir()
	// A role's external id is a secret of the role's owner, like a key.
	const externalID = "external-id-never-shown-0123456789"
	var written bytes.Buffer // everything every command wrote
	run := func(stdin string, args ...string) {
		t.Helper()
		cmd := exec.Command(binary, append([]string{"--debug"}, args...)...)
		cmd.Env = append(os.Environ(), "S3FLOW_HOME="+home, "TEST_HOOK_SECRET="+hookSecret, "TEST_EXTERNAL_ID="+externalID)
		cmd.Stdin = strings.NewReader(stdin)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		err := cmd.Run()
		written.Write(buf.Bytes())
		if err != nil {
			t.Fatalf("s3flow %v: %v\n%s", args, err, buf.String())
		}
	}
	src := filepath.Join(data, "report.csv")
	os.WriteFile(src, []byte("a,b\n1,2\n"), 0o644)
	run(secret, "connection", "create", "m", "--access-key-id", keyID, "--secret-access-key-stdin", "--endpoint", "http://"+addr, "--path-style")
	run("", "connection", "list")
	run("", "connection", "show", "m")
	run("", "connection", "verify", "m")
	run("", "connection", "create", "m-role", "--source-connection", "m", "--role-arn", "arn:aws:iam::123456789012:role/leak",
		"--external-id-env", "TEST_EXTERNAL_ID", "--endpoint", "http://"+addr, "--path-style", "--no-verify")
	run("", "connection", "show", "m-role")
	run("", "-o", "json", "connection", "list")
	run("", "-o", "json", "connection", "show", "m")
	run("", "s3", "create-bucket", "-c", "m", "--name", "leak")
	run("", "s3", "upload-file", "-c", "m", "--bucket", "leak", "--folder", "in", "--file", src)
	run("", "s3", "list-files", "-c", "m", "--bucket", "leak")
	run("", "s3", "list-folders", "-c", "m", "--bucket", "leak")
	run("", "s3", "get-file", "-c", "m", "--bucket", "leak", "--path", "in/report.csv", "--out", filepath.Join(data, "got.csv"))
	run("", "s3", "api-call", "-c", "m", "--url", "/leak", "--query", "list-type=2")
	run("", "s3", "presign-url", "-c", "m", "--bucket", "leak", "--path", "in/report.csv")
	for _, help := range [][]string{{"--help"}, {"connection", "create", "--help"}, {"server", "--help"}, {"worker", "--help"}, {"s3", "upload-file", "--help"}} {
		run("", help...)
	}
	flow := `name: copy
trigger:
  webhook: {secret_env: TEST_HOOK_SECRET}
steps:
  - {id: list, module: s3.list_files, connection: m, with: {bucket: leak}}
  - {id: get, module: s3.get_file, connection: m, with: {bucket: leak, path: "{{ steps.list.key }}"}}
  - {id: put, module: s3.upload_file, connection: m, with: {bucket: leak, folder: out, file: "{{ steps.get.file }}"}}
`
	os.WriteFile(filepath.Join(flows, "copy.yaml"), []byte(flow), 0o644)
	run("", "run", filepath.Join(flows, "copy.yaml"))
	run("", "runs", "list")

	// The server, its API and a webhook, logging at debug level.
	e := &env{t: t, home: home, flows: flows, hookEnv: []string{"TEST_HOOK_SECRET=" + hookSecret}, args: []string{"--debug"}}
	tokenOut := exec.Command(binary, "token", "create", "leak")
	tokenOut.Env = append(os.Environ(), "S3FLOW_HOME="+home)
	token, err := tokenOut.Output()
	if err != nil {
		t.Fatal(err)
	}
	e.token = strings.TrimSpace(string(token))
	e.start()
	for _, call := range []struct{ method, path, body string }{
		{"GET", "/api/connections", ""},
		{"GET", "/api/connections/m", ""},
		{"GET", "/api/connections/m-role", ""},
		{"GET", "/api/flows/copy", ""},
		{"POST", "/api/modules/s3.list_files", `{"connection":"m","inputs":{"bucket":"leak"}}`},
		{"POST", "/api/modules/s3.api_call", `{"connection":"m","inputs":{"url":"/leak"}}`},
		{"POST", "/api/flows/copy/run?wait=true", `{}`},
		{"GET", "/api/runs", ""},
		{"GET", "/metrics", ""},
	} {
		code, out := e.do(call.method, call.path, e.token, []byte(call.body), nil)
		fmt.Fprintf(&written, "%s %s %d %v\n", call.method, call.path, code, out)
		if code >= 300 {
			t.Errorf("%s %s: %d %v", call.method, call.path, code, out)
		}
	}
	code, hook := e.do("POST", "/hooks/copy?wait=true", "", []byte(`{}`), map[string]string{"X-S3flow-Token": hookSecret})
	fmt.Fprintf(&written, "hook %d %v\n", code, hook)
	// The server's local endpoint child sees none of the server's
	// environment: not the webhook secret, not AWS_* keys.
	if code, out := e.do("POST", "/api/modules/s3.list_buckets", e.token, []byte(`{"connection":"local"}`), nil); code != 200 {
		t.Errorf("list buckets on local: %d %v", code, out)
	}
	if runtime.GOOS == "linux" {
		children := childrenOf(t, e.srv.Process.Pid)
		if len(children) == 0 {
			t.Errorf("the server started no local endpoint child")
		}
		for _, pid := range children {
			environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(environ, []byte(hookSecret)) {
				t.Errorf("the local endpoint child (pid %d) has the webhook secret in its environment", pid)
			}
		}
	}
	for _, r := range e.runs() {
		code, out := e.do("GET", "/api/runs/"+fmt.Sprint(r["id"]), e.token, nil, nil)
		fmt.Fprintf(&written, "run %d %v\n", code, out)
	}
	e.stop(syscall.SIGTERM)
	time.Sleep(100 * time.Millisecond)
	written.Write(e.srvLog.Bytes())
	if !bytes.Contains(written.Bytes(), []byte(`"status":"succeeded"`)) && !bytes.Contains(written.Bytes(), []byte("status:succeeded")) {
		t.Errorf("no run succeeded; the test would prove little:\n%s", written.String())
	}

	if !bytes.Contains(written.Bytes(), []byte(`"externalId":true`)) {
		t.Errorf("the role connection was not shown; the test would prove little about its external id")
	}
	needles := []string{secret, strings.ToLower(secret), externalID}
	for _, n := range needles {
		if i := bytes.Index(written.Bytes(), []byte(n)); i >= 0 {
			t.Errorf("the secret appears in command output or the server log: …%s…", around(written.Bytes(), i))
		}
	}
	filepath.Walk(home, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				t.Errorf("the secret appears in plain text in %s", p)
			}
		}
		return nil
	})
	t.Logf("checked %d bytes of output and every file under %s", written.Len(), home)
}

// childrenOf lists the processes whose parent is pid (Linux /proc).
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ")".
		fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			out = append(out, child)
		}
	}
	return out
}

// around is a little of b before i, with the secret itself cut out.
func around(b []byte, i int) string {
	return string(b[max(0, i-40):i]) + "[SECRET]"
}
