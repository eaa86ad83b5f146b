package locals3

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadCredentials(t *testing.T) {
	for _, tt := range []struct {
		stdin, id, secret, err string
	}{
		{stdin: "AKID\nsecret\n", id: "AKID", secret: "secret"},
		{stdin: "AKID\nsecret", id: "AKID", secret: "secret"},
		{stdin: "AKID\n", err: "two lines"},
		{stdin: "", err: "two lines"},
		{stdin: "AKID\n\n", err: "two lines"},
		{stdin: "a\nb\nc\n", err: "two lines"},
	} {
		id, secret, err := ReadCredentials(strings.NewReader(tt.stdin))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err = %v, want one about %q", tt.stdin, err, tt.err)
			}
			continue
		}
		if err != nil || id != tt.id || secret != tt.secret {
			t.Errorf("%q: got %q, %q, %v", tt.stdin, id, secret, err)
		}
	}
}

// TestCommandKeepsSecretsOffArgv: the keys reach the child on stdin only.
func TestCommandKeepsSecretsOffArgv(t *testing.T) {
	cmd := Command(Options{Executable: "/bin/true", Root: "/r", Region: "eu-west-1", AccessKeyID: "AKID", Secret: "s3cr3t"}, "127.0.0.1:1")
	if args := strings.Join(cmd.Args, " "); strings.Contains(args, "s3cr3t") || strings.Contains(args, "AKID") {
		t.Errorf("argv %q holds a key", args)
	}
	want := "s3flow-local --root /r --region eu-west-1 --addr 127.0.0.1:1"
	if got := strings.Join(cmd.Args, " "); got != want {
		t.Errorf("argv = %q, want %q", got, want)
	}
}

func TestFindNamedByEnv(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, HelperName)
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(HelperEnv, exe)
	if got, err := Find(t.Context()); err != nil || got != exe {
		t.Errorf("Find = %q, %v; want %q", got, err, exe)
	}
	t.Setenv(HelperEnv, filepath.Join(dir, "missing"))
	if _, err := Find(t.Context()); err == nil || !strings.Contains(err.Error(), "not an executable file") {
		t.Errorf("Find with a missing file: err = %v", err)
	}
}
