// Package examples_test runs every example flow end to end with the s3flow
// binary, against the standalone versitygw, SeaweedFS and MinIO and the
// local endpoint, and cross-checks the results with the aws CLI.
package examples_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3flow/s3flow/internal/s3test"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "s3flow-examples-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "s3flow")
	// s3flow-local beside s3flow serves the local connection.
	build := exec.Command("go", "build", "-o", dir+"/", "../cmd/s3flow", "../cmd/s3flow-local")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build s3flow:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cli runs s3flow commands in one S3FLOW_HOME.
type cli struct {
	t    *testing.T
	home string
}

func newCLI(t *testing.T) *cli {
	return &cli{t: t, home: t.TempDir()}
}

// run runs s3flow and returns stdout; a non-zero exit fails the test.
func (c *cli) run(stdin string, args ...string) string {
	c.t.Helper()
	out, errOut, err := c.try(stdin, args...)
	if err != nil {
		c.t.Fatalf("s3flow %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func (c *cli) try(stdin string, args ...string) (string, string, error) {
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "S3FLOW_HOME="+c.home)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// connect makes a connection named after the target and returns its name.
func (c *cli) connect(tg s3test.Target) string {
	c.t.Helper()
	if tg.Name == "local" {
		return "local"
	}
	c.run(tg.Conn.SecretAccessKey.Reveal(), "connection", "create", tg.Name, "--access-key-id", tg.Conn.AccessKeyID,
		"--secret-access-key-stdin", "--endpoint", tg.Conn.Endpoint, "--path-style")
	return tg.Name
}

// targets are the servers the examples run against: the standalone ones
// (versitygw, SeaweedFS, MinIO) and the local endpoint, the s3flow binary's own,
// started by the commands themselves.
func targets(t *testing.T) []s3test.Target {
	return append(s3test.Standalone(t), s3test.Target{Name: "local"})
}

// runResult is the JSON line "s3flow run" prints.
type runResult struct {
	Run     string           `json:"run"`
	Status  string           `json:"status"`
	Bundles map[string]int64 `json:"bundles"`
	Error   string           `json:"error"`
}

func (c *cli) runFlow(file string, inputs ...string) runResult {
	c.t.Helper()
	return c.runTriggered(file, nil, inputs...)
}

// runTriggered runs a flow as its trigger would, with --trigger items.
func (c *cli) runTriggered(file string, trigger []string, inputs ...string) runResult {
	c.t.Helper()
	args := []string{"run", file, "-o", "jsonl"}
	for _, in := range inputs {
		args = append(args, "--input", in)
	}
	for _, item := range trigger {
		args = append(args, "--trigger", item)
	}
	var r runResult
	out := c.run("", args...)
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		c.t.Fatalf("run output %q: %v", out, err)
	}
	if r.Status != "succeeded" {
		c.t.Fatalf("run %s: status %s: %s", r.Run, r.Status, r.Error)
	}
	return r
}

// lines parses JSON-lines output.
func lines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var rows []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		rows = append(rows, m)
	}
	return rows
}

// bucketName is unique per call, valid for S3.
func bucketName(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// seed creates bucket and uploads files (key → content) through s3flow.
func (c *cli) seed(conn, bucket string, files map[string]string) {
	c.t.Helper()
	c.run("", "s3", "create-bucket", "-c", conn, "--name", bucket)
	dir := c.t.TempDir()
	for key, body := range files {
		local := filepath.Join(dir, filepath.Base(key))
		if err := os.WriteFile(local, []byte(body), 0o644); err != nil {
			c.t.Fatal(err)
		}
		args := []string{"s3", "upload-file", "-c", conn, "--bucket", bucket, "--file", local}
		if dir := filepath.Dir(key); dir != "." { // a top-level key has no folder
			args = append(args, "--folder", dir)
		}
		c.run("", args...)
	}
}

// get downloads a key's content through s3flow.
func (c *cli) get(conn, bucket, key string) string {
	c.t.Helper()
	return c.run("", "s3", "get-file", "-c", conn, "--bucket", bucket, "--path", key, "--out", "-")
}
