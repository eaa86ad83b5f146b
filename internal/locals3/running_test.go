package locals3

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// deadPid is the id of a process that has ended.
func deadPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// silentEndpoint is an address nothing listens on.
func silentEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// TestLookup: a serve's file is used while its process runs and its address
// answers; a file left by a serve that was killed (its process gone, its
// address silent, or half written) is ignored and removed.
func TestLookup(t *testing.T) {
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != HealthPath {
			http.NotFound(w, r)
		}
	}))
	defer healthy.Close()
	for _, tt := range []struct {
		name    string
		content func() string
		found   bool
	}{
		{"running", func() string { return `{"endpoint":"` + healthy.URL + `","pid":` + strconv.Itoa(os.Getpid()) + `}` }, true},
		{"process gone", func() string { return `{"endpoint":"` + healthy.URL + `","pid":` + strconv.Itoa(deadPid(t)) + `}` }, false},
		{"address silent", func() string {
			return `{"endpoint":"` + silentEndpoint(t) + `","pid":` + strconv.Itoa(os.Getpid()) + `}`
		}, false},
		{"half written", func() string { return `{"endpoint":"` + healthy.URL }, false},
		{"not http", func() string { return `{"endpoint":"file:///etc","pid":` + strconv.Itoa(os.Getpid()) + `}` }, false},
		{"a host name", func() string { return `{"endpoint":"http://example.com:80","pid":` + strconv.Itoa(os.Getpid()) + `}` }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			content := tt.content()
			if err := os.WriteFile(RunningFile(home), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			r, found := Lookup(t.Context(), home)
			if found != tt.found {
				t.Fatalf("Lookup of %s = %+v, %v; want found %v", content, r, found, tt.found)
			}
			_, err := os.Stat(RunningFile(home))
			if kept := err == nil; kept != tt.found {
				t.Errorf("the file was kept: %v, want %v", kept, tt.found)
			}
			if found && (r.Endpoint != healthy.URL || r.Pid != os.Getpid()) {
				t.Errorf("Lookup = %+v", r)
			}
		})
	}
	t.Run("no file", func(t *testing.T) {
		if r, found := Lookup(t.Context(), t.TempDir()); found {
			t.Errorf("Lookup = %+v, true", r)
		}
	})
}

// TestAdvertise: the file is the user's alone, and removing it leaves a
// newer serve's file in place.
func TestAdvertise(t *testing.T) {
	home := t.TempDir()
	remove, err := Advertise(home, Running{Endpoint: "http://127.0.0.1:9000", Pid: 1})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(RunningFile(home))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s is %o, want 600", RunningFile(home), perm)
	}
	if _, err := Advertise(home, Running{Endpoint: "http://127.0.0.1:9001", Pid: 2}); err != nil {
		t.Fatal(err)
	}
	remove()
	if _, err := os.Stat(RunningFile(home)); err != nil {
		t.Errorf("the newer serve's file was removed: %v", err)
	}
	if matches, _ := filepath.Glob(filepath.Join(home, ".local-s3.endpoint-*")); len(matches) > 0 {
		t.Errorf("temporary files left: %v", matches)
	}
}

// TestLockData: one holder at a time, and the second is told who holds it.
func TestLockData(t *testing.T) {
	root := filepath.Join(t.TempDir(), "local-s3")
	release, err := LockData(root)
	if err != nil {
		t.Fatal(err)
	}
	// A second open file description conflicts even in one process.
	_, err = LockData(root)
	var inUse *InUseError
	if !errors.As(err, &inUse) || inUse.Pid != os.Getpid() {
		t.Fatalf("second LockData: err = %v, want *InUseError naming pid %d", err, os.Getpid())
	}
	release()
	release2, err := LockData(root)
	if err != nil {
		t.Fatalf("LockData after release: %v", err)
	}
	release2()
}

// TestEndpointFor: an endpoint listening on every address is reached, and
// advertised, on 127.0.0.1.
func TestEndpointFor(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:9000": "http://127.0.0.1:9000",
		":9000":          "http://127.0.0.1:9000",
		"0.0.0.0:9000":   "http://127.0.0.1:9000",
		"[::]:9000":      "http://127.0.0.1:9000",
		"[::1]:9000":     "http://[::1]:9000",
		"localhost:9000": "http://localhost:9000",
	} {
		if got := endpointFor(addr); got != want {
			t.Errorf("endpointFor(%q) = %q, want %q", addr, got, want)
		}
	}
}
