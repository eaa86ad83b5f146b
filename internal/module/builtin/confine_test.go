package builtin_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/module/builtin"
)

// The file.* modules inside a files root (a server's --files-root): what a
// trigger's payload maps into a path cannot leave the folder, and without
// a root nothing is touched at all.
func TestFileModulesConfined(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{root, filepath.Join(root, "in"), outside} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, text string) {
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(root, "in", "ok.txt"), "inside")
	write(filepath.Join(outside, "secret.txt"), "SECRET")
	// A link inside the root to a file and a folder outside it.
	if err := os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(root, "in", "link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "out")); err != nil {
		t.Fatal(err)
	}
	files, err := module.LocalFilesIn(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { files.Close() })
	src := &module.BytesFile{FileName: "x.txt", Data: []byte("written")}

	tests := []struct {
		name  string
		files *module.LocalFiles
		mod   *module.Module
		in    map[string]any
		// wantErr is part of the error; "" means it works.
		wantErr string
	}{
		{"read inside", files, builtin.FileRead, map[string]any{"path": "in/ok.txt"}, ""},
		{"read inside, absolute", files, builtin.FileRead, map[string]any{"path": filepath.Join(root, "in", "ok.txt")}, ""},
		{"read with ..", files, builtin.FileRead, map[string]any{"path": "in/../../outside/secret.txt"}, "leaves the files root"},
		{"read absolute outside", files, builtin.FileRead, map[string]any{"path": filepath.Join(outside, "secret.txt")}, "outside the files root"},
		{"read /etc/shadow", files, builtin.FileRead, map[string]any{"path": "/etc/shadow"}, "outside the files root"},
		{"read a link out", files, builtin.FileRead, map[string]any{"path": "in/link.txt"}, "leaves the files root"},
		{"read through a folder link", files, builtin.FileRead, map[string]any{"path": "out/secret.txt"}, "leaves the files root"},
		{"list ..", files, builtin.FileList, map[string]any{"path": ".."}, "leaves the files root"},
		{"list a folder link", files, builtin.FileList, map[string]any{"path": "out"}, "leaves the files root"},
		{"write ..", files, builtin.FileWrite, map[string]any{"file": src, "path": "../outside/x.txt"}, "leaves the files root"},
		{"write absolute outside", files, builtin.FileWrite, map[string]any{"file": src, "path": filepath.Join(outside, "x.txt")}, "outside the files root"},
		{"write through a folder link", files, builtin.FileWrite, map[string]any{"file": src, "path": "out/x.txt"}, "leaves the files root"},
		{"write inside", files, builtin.FileWrite, map[string]any{"file": src, "path": "in/new.txt"}, ""},
		{"upload source as a path outside", files, builtin.FileWrite, map[string]any{"file": "../outside/secret.txt", "path": "in/copy.txt"}, "leaves the files root"},
		{"no local files: read", nil, builtin.FileRead, map[string]any{"path": "in/ok.txt"}, "not allowed in this run"},
		{"no local files: list", nil, builtin.FileList, map[string]any{"path": "."}, "not allowed in this run"},
		{"no local files: write", nil, builtin.FileWrite, map[string]any{"file": src, "path": "x.txt"}, "not allowed in this run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runIn(t.Context(), tt.files, tt.mod, tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
			}
			for _, b := range out {
				if strings.Contains(b["text"].(string), "SECRET") {
					t.Fatalf("read outside the root: %v", b)
				}
			}
			if tt.files == nil {
				var re *module.ReachError
				if !errors.As(err, &re) {
					t.Fatalf("err = %T, want a *module.ReachError", err)
				}
			}
		})
	}
	for _, p := range []string{filepath.Join(outside, "x.txt"), filepath.Join(root, "in", "copy.txt")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was written", p)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(root, "in", "new.txt")); string(got) != "written" {
		t.Errorf("in/new.txt = %q, want the data", got)
	}
}
