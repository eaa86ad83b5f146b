package locals3

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestListenerURL: the endpoint sends to a server on a loopback address or
// on every address (reached on 127.0.0.1), never to one bound elsewhere.
func TestListenerURL(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want string
	}{
		{"127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"127.0.0.2:8080", "http://127.0.0.2:8080"},
		{"[::1]:8080", "http://[::1]:8080"},
		{"0.0.0.0:8080", "http://127.0.0.1:8080"},
		{"[::]:8080", "http://127.0.0.1:8080"},
		{"192.168.1.5:8080", ""},
		{"[2001:db8::1]:8080", ""},
	} {
		addr, err := net.ResolveTCPAddr("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := ListenerURL(addr)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("ListenerURL(%s) = %q, %v; want %q", tc.addr, got, ok, tc.want)
		}
	}
}

// TestEventsListener: the file is written 0600, read back while its
// server lives, and removed by its own server only; a file of a server
// that is gone, one others may read, or one naming another machine is not
// used; the secret shows in neither String nor a log.
func TestEventsListener(t *testing.T) {
	home := t.TempDir()
	file := EventsFile(home)
	if _, err := ReadEventsListener(file); !errors.Is(err, ErrNoEventsListener) {
		t.Fatalf("no file: %v, want ErrNoEventsListener", err)
	}
	l := EventsListener{URL: "http://127.0.0.1:8080", Secret: "s3l_secret", Pid: os.Getpid()}
	remove, err := RegisterEvents(home, l)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v, want 0600", file, fi, err)
	}
	if got, err := ReadEventsListener(file); err != nil || got != l {
		t.Errorf("read back %v, %v; want %v", got, err, l)
	}
	if s := l.String() + l.LogValue().String(); strings.Contains(s, l.Secret) {
		t.Errorf("the secret shows: %s", s)
	}

	// A later server's file stays when the earlier one removes its own.
	later := l
	later.URL = "http://127.0.0.1:9090"
	if _, err := RegisterEvents(home, later); err != nil {
		t.Fatal(err)
	}
	remove()
	if got, err := ReadEventsListener(file); err != nil || got != later {
		t.Errorf("after the earlier server left: %v, %v; want %v", got, err, later)
	}

	if _, err := RegisterEvents(home, EventsListener{URL: "http://192.168.1.5:8080", Secret: "x", Pid: 1}); err == nil {
		t.Error("registered a non-loopback address")
	}
	for name, tc := range map[string]struct {
		body string
		mode os.FileMode
		want error // nil: any error but ErrNoEventsListener
	}{
		"gone":        {`{"url":"http://127.0.0.1:8080","secret":"s","pid":` + itoa(deadPid(t)) + `}`, 0o600, ErrNoEventsListener},
		"readable":    {`{"url":"http://127.0.0.1:8080","secret":"s","pid":` + itoa(os.Getpid()) + `}`, 0o644, nil},
		"remote":      {`{"url":"http://example.com:8080","secret":"s","pid":` + itoa(os.Getpid()) + `}`, 0o600, nil},
		"https":       {`{"url":"https://127.0.0.1:8080","secret":"s","pid":` + itoa(os.Getpid()) + `}`, 0o600, nil},
		"with a path": {`{"url":"http://127.0.0.1:8080/x","secret":"s","pid":` + itoa(os.Getpid()) + `}`, 0o600, nil},
		"no secret":   {`{"url":"http://127.0.0.1:8080","pid":` + itoa(os.Getpid()) + `}`, 0o600, nil},
		"half":        {`{"url":"http://127.0.0.1:8080","sec`, 0o600, nil},
	} {
		if err := os.WriteFile(file, []byte(tc.body), tc.mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(file, tc.mode)
		_, err := ReadEventsListener(file)
		if tc.want != nil && !errors.Is(err, tc.want) || tc.want == nil && (err == nil || errors.Is(err, ErrNoEventsListener)) {
			t.Errorf("%s: %v", name, err)
		}
		if err != nil && strings.Contains(err.Error(), `"s"`) {
			t.Errorf("%s: the error shows the secret: %v", name, err)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
