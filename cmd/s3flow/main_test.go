package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/s3flow/s3flow/internal/cli"
	"github.com/s3flow/s3flow/internal/locals3/gateway"
	"github.com/s3flow/s3flow/internal/s3test"
)

// TestMain lets the test binary be the s3flow and s3flow-local commands of
// the scripts; the local connection finds s3flow-local on PATH.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"s3flow":       func() { os.Exit(cli.Main()) },
		"s3flow-local": func() { os.Exit(gateway.Main(os.Args[1:], os.Stdin, os.Stderr)) },
	})
}

// TestScript runs testdata/script/*.txtar. Scripts that need the standalone
// test server guard themselves with [!s3server] skip.
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:       filepath.Join("..", "..", "testdata", "script"),
		Setup:     setup,
		Condition: condition,
		Cmds: map[string]func(*testscript.TestScript, bool, []string){
			"exitcode": cmdExitCode, "freeport": cmdFreePort, "waitfile": cmdWaitFile, "fetchurl": cmdFetchURL,
			"hang": cmdHang, "newestrun": cmdNewestRun,
		},
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
	})
}

// setup gives every script its own S3FLOW_HOME and HOME, the test server's
// variables (and KEY_LAST4, what a masked key id shows), a name to make
// buckets unique, and the server's secret in $WORK/secret.txt for stdin and
// ttyin (which cannot expand variables).
func setup(env *testscript.Env) error {
	env.Setenv("HOME", env.WorkDir)
	env.Setenv("S3FLOW_HOME", filepath.Join(env.WorkDir, "home"))
	for _, name := range []string{"S3FLOW_TEST_ENDPOINT", "S3FLOW_TEST_ACCESS_KEY", "S3FLOW_TEST_SECRET_KEY", "CI"} {
		env.Setenv(name, os.Getenv(name))
	}
	if key := os.Getenv("S3FLOW_TEST_ACCESS_KEY"); len(key) > 4 {
		env.Setenv("KEY_LAST4", key[len(key)-4:])
	}
	env.Values[hangKey{}] = &hangServer{}
	b := make([]byte, 4)
	rand.Read(b)
	env.Setenv("UNIQUE", hex.EncodeToString(b))
	if secret := os.Getenv("S3FLOW_TEST_SECRET_KEY"); secret != "" {
		return os.WriteFile(filepath.Join(env.WorkDir, "secret.txt"), []byte(secret+"\n"), 0o600)
	}
	return nil
}

// condition adds [s3server]: the standalone test server of scripts/test.sh
// is running. Under CI its absence fails the script instead of skipping it.
func condition(cond string) (bool, error) {
	if cond != "s3server" {
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	if os.Getenv("S3FLOW_TEST_ENDPOINT") != "" {
		return true, nil
	}
	if s3test.InCI() {
		return false, errors.New("CI=true but S3FLOW_TEST_ENDPOINT is unset: run the tests with scripts/test.sh")
	}
	return false, nil
}

// cmdExitCode is "exitcode N program [args...]": it runs the program like
// exec and checks that it exits with status N. stdout and stderr can be
// checked afterwards as usual.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: %q is not a number", args[0])
	}
	got := 0
	err = ts.Exec(args[1], args[2:]...)
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		got = exit.ExitCode()
	case err != nil:
		ts.Fatalf("exitcode: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// cmdFreePort is "freeport VAR": it sets VAR to a free 127.0.0.1 port.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	ts.Setenv(args[0], strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	ts.Check(l.Close())
}

// cmdWaitFile is "waitfile FILE": it waits until FILE exists (a background
// command wrote it), for at most a minute, polling.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfile FILE")
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(ts.MkAbs(args[0])); err == nil {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not appear within a minute", args[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cmdFetchURL is "fetchurl FILE": it GETs the "url" of the JSON bundle the
// last command printed (a presigned link) and saves the body in FILE; a
// status other than 200 fails.
func cmdFetchURL(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: fetchurl FILE")
	}
	var bundle struct{ URL string }
	ts.Check(json.Unmarshal([]byte(ts.ReadFile("stdout")), &bundle))
	if !strings.HasPrefix(bundle.URL, "http://127.0.0.1:") {
		ts.Fatalf("the link %q is not on 127.0.0.1", bundle.URL)
	}
	resp, err := http.Get(bundle.URL)
	ts.Check(err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	ts.Check(err)
	if resp.StatusCode != http.StatusOK {
		ts.Fatalf("GET %s: %s\n%s", bundle.URL, resp.Status, body)
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), body, 0o600))
}

type hangKey struct{}

// hangServer accepts connections on 127.0.0.1 and never answers them: a
// request to it blocks until its client gives up or is killed.
type hangServer struct {
	ln net.Listener
	// arrived has a value for each connection made and not yet waited for.
	arrived chan struct{}
	mu      sync.Mutex
	conns   []net.Conn
}

// cmdHang is "hang start" (a server that never answers; its URL in
// $HANG_URL), "hang wait" (until one more request has reached it than the
// earlier waits waited for: whoever sent it is blocked there now) and
// "hang stop"; the server stops with the script.
func cmdHang(ts *testscript.TestScript, neg bool, args []string) {
	h := ts.Value(hangKey{}).(*hangServer)
	if neg || len(args) != 1 {
		ts.Fatalf("usage: hang start|wait|stop")
	}
	switch args[0] {
	case "start":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		ts.Check(err)
		h.ln, h.arrived = ln, make(chan struct{}, 64)
		ts.Setenv("HANG_URL", "http://"+ln.Addr().String())
		ts.Defer(h.stop)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				h.mu.Lock()
				h.conns = append(h.conns, c)
				h.mu.Unlock()
				select {
				case h.arrived <- struct{}{}:
				default:
				}
			}
		}()
	case "wait":
		select {
		case <-h.arrived:
		case <-time.After(time.Minute):
			ts.Fatalf("hang: no request came in a minute")
		}
	case "stop":
		h.stop()
	default:
		ts.Fatalf("usage: hang start|wait|stop")
	}
}

func (h *hangServer) stop() {
	if h.ln != nil {
		h.ln.Close()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		c.Close()
	}
	h.conns = nil
}

// cmdNewestRun is "newestrun VAR": it sets VAR to the id of the newest
// recorded run, for the commands that take one.
func cmdNewestRun(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: newestrun VAR")
	}
	ts.Check(ts.Exec("s3flow", "runs", "list", "--limit", "1", "-o", "jsonl"))
	var run struct{ ID string }
	if err := json.Unmarshal([]byte(ts.ReadFile("stdout")), &run); err != nil || run.ID == "" {
		ts.Fatalf("newestrun: no run in %q (%v)", ts.ReadFile("stdout"), err)
	}
	ts.Setenv(args[0], run.ID)
}
