package locals3_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/s3flow/s3flow/internal/locals3"
	"github.com/s3flow/s3flow/internal/locals3/gateway"
	"github.com/s3flow/s3flow/internal/s3client"
)

// childMarker makes the test binary the s3flow-local program.
const childMarker = "S3FLOW_LOCALS3_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childMarker) != "" {
		os.Exit(gateway.Main(os.Args[1:], os.Stdin, os.Stderr))
	}
	os.Exit(m.Run())
}

// start runs the endpoint with the test binary as s3flow-local.
func start(t *testing.T, root string) *locals3.Server {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := locals3.Start(context.Background(), locals3.Options{
		Executable: exe, Args: []string{os.Args[0]}, Env: []string{childMarker + "=1"},
		Root: root, Region: "us-east-1", AccessKeyID: "S3FLOWTEST", Secret: "local-test-secret",
	})
	if err != nil {
		t.Fatalf("start the local endpoint: %v", err)
	}
	t.Cleanup(func() { srv.Stop() })
	return srv
}

// TestChildEnvHoldsNoSecrets is the secret-marker test of
// docs/reliability.md for the local endpoint: with secrets in the parent's
// environment (a webhook secret, the encryption key, AWS and PostgreSQL
// credentials), the s3flow-local child's environment holds none of them,
// only what a program needs to run.
func TestChildEnvHoldsNoSecrets(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/PID/environ")
	}
	const marker = "s3flow-secret-marker-5d1c"
	secrets := []string{"TEST_HOOK_SECRET", "S3FLOW_ENCRYPTION_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PGPASSWORD", "S3FLOW_DATABASE_URL"}
	for _, name := range secrets {
		t.Setenv(name, marker+"-"+name)
	}
	t.Setenv("LANG", "C.UTF-8")
	t.Setenv("LC_ALL", "C.UTF-8")
	srv := start(t, t.TempDir())
	environ, err := os.ReadFile("/proc/" + strconv.Itoa(srv.Pid()) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, kv := range strings.Split(strings.TrimRight(string(environ), "\x00"), "\x00") {
		name, value, _ := strings.Cut(kv, "=")
		names = append(names, name)
		// Only the name is printed: the values are the machine's own.
		if strings.Contains(value, marker) {
			t.Errorf("the child's environment holds %s of the parent's", name)
		}
	}
	if bytes.Contains(environ, []byte(marker)) {
		t.Errorf("the child's environment holds the marker")
	}
	for _, want := range []string{"PATH", "LANG", "LC_ALL", childMarker} {
		if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+want+" ") {
			t.Errorf("the child's environment (%v) lacks %s", names, want)
		}
	}
}

// TestChildEnv keeps what a program needs to run and nothing else.
func TestChildEnv(t *testing.T) {
	got := locals3.ChildEnv([]string{"PATH=/bin", "HOME=/h", "LANG=de_DE.UTF-8", "LC_TIME=C", "TMPDIR=/t", "LANGUAGE=de",
		"PGPASSWORD=x", "AWS_ACCESS_KEY_ID=x", "S3FLOW_ENCRYPTION_KEY=x", "HOOK_SECRET=x", "PATHEXT=x", "LD_PRELOAD=x"})
	want := "PATH=/bin HOME=/h LANG=de_DE.UTF-8 LC_TIME=C TMPDIR=/t LANGUAGE=de"
	if strings.Join(got, " ") != want {
		t.Errorf("ChildEnv = %v, want %s", got, want)
	}
}

// TestDataIsPrivate: the endpoint's folders are 0700 and its objects 0600,
// and a root an earlier version created 0755 is tightened on start.
func TestDataIsPrivate(t *testing.T) {
	root := filepath.Join(t.TempDir(), "local-s3")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	srv := start(t, root)
	put := func(method, path, body string) {
		t.Helper()
		if code := signedRequest(t, srv.Endpoint, method, path, body); code != 200 {
			t.Fatalf("%s %s: %d", method, path, code)
		}
	}
	put("PUT", "/private", "")
	put("PUT", "/private/in/a.txt", "hello")
	for path, want := range map[string]os.FileMode{
		root: 0o700, filepath.Join(root, "private"): 0o700,
		filepath.Join(root, "private", "in"): 0o700, filepath.Join(root, "private", "in", "a.txt"): 0o600,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s is %o, want %o", path, got, want)
		}
	}
}

// signedRequest sends one SigV4-signed request with the test's keys and
// returns the status.
func signedRequest(t *testing.T, endpoint, method, path, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, endpoint+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(body))
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: "S3FLOWTEST", SecretAccessKey: "local-test-secret"}
	if err := s3client.Sign(t.Context(), req, creds, hash, "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// TestOneEndpointPerFolder: a second endpoint on a folder another one
// serves does not start; it fails in words that name the first.
func TestOneEndpointPerFolder(t *testing.T) {
	root := filepath.Join(t.TempDir(), "local-s3")
	first := start(t, root)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	second, err := locals3.Start(t.Context(), locals3.Options{
		Executable: exe, Args: []string{os.Args[0]}, Env: []string{childMarker + "=1"},
		Root: root, Region: "us-east-1", AccessKeyID: "S3FLOWTEST", Secret: "local-test-secret",
	})
	if err == nil {
		second.Stop()
		t.Fatal("a second endpoint started on the same folder")
	}
	var inUse *locals3.InUseError
	if !errors.As(err, &inUse) || inUse.Pid != first.Pid() {
		t.Errorf("err = %v, want an *InUseError naming pid %d", err, first.Pid())
	}
}
