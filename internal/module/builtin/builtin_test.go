package builtin_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/module/builtin"
)

// run checks raw against m's declaration, runs m and returns its bundles.
func run(t *testing.T, ctx context.Context, m *module.Module, raw map[string]any) ([]module.Bundle, error) {
	t.Helper()
	return runIn(ctx, module.AllLocalFiles(), m, raw)
}

// runIn runs m with the local files given (nil: none).
func runIn(ctx context.Context, files *module.LocalFiles, m *module.Module, raw map[string]any) ([]module.Bundle, error) {
	in, err := m.Check(raw)
	if err != nil {
		return nil, err
	}
	var out []module.Bundle
	err = m.Exec(ctx, module.Env{Files: files}, in, func(b module.Bundle) error {
		out = append(out, b)
		return nil
	})
	return out, err
}

func content(t *testing.T, f module.File) string {
	t.Helper()
	r, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// setup makes a folder:
//
//	a.csv  b.txt  sub/c.csv  sub/deeper/d.csv
func setup(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string]string{
		"a.csv": "a,1\n", "b.txt": "bee", "sub/c.csv": "c,3\n", "sub/deeper/d.csv": "dddd",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestDeclarations(t *testing.T) {
	t.Parallel()
	names := map[string]bool{}
	for _, m := range builtin.Modules() {
		if names[m.Name] {
			t.Errorf("%s declared twice", m.Name)
		}
		names[m.Name] = true
		if m.NeedsConnection {
			t.Errorf("%s needs a connection", m.Name)
		}
		// The engine runs filter and aggregate itself, and only those.
		if (m.Run == nil) != (m.Control != "") {
			t.Errorf("%s: Run set %v, control %q", m.Name, m.Run != nil, m.Control)
		}
	}
	for _, m := range []*module.Module{builtin.Iterate, builtin.FileList} {
		if !m.Many {
			t.Errorf("%s does not emit many bundles", m.Name)
		}
	}
	for _, m := range []*module.Module{builtin.Filter, builtin.Aggregate, builtin.FileRead, builtin.FileWrite} {
		if m.Many {
			t.Errorf("%s emits many bundles", m.Name)
		}
	}
}

func TestCheckRequired(t *testing.T) {
	t.Parallel()
	tests := []struct {
		m     *module.Module
		raw   map[string]any
		field string
	}{
		{builtin.Filter, map[string]any{}, "condition"},
		{builtin.Filter, map[string]any{"condition": "maybe"}, "condition"},
		{builtin.Aggregate, map[string]any{"from": ""}, "from"},
		{builtin.Iterate, map[string]any{"items": "a,b"}, "items"},
		{builtin.FileList, map[string]any{}, "path"},
		{builtin.FileList, map[string]any{"path": ".", "pattern": "["}, "pattern"},
		{builtin.FileRead, map[string]any{"path": ""}, "path"},
		{builtin.FileWrite, map[string]any{"path": "x"}, "file"},
		{builtin.FileWrite, map[string]any{"file": &module.BytesFile{FileName: "x"}}, "path"},
	}
	for _, tt := range tests {
		_, err := tt.m.Check(tt.raw)
		var ie *module.InputError
		if !errors.As(err, &ie) || ie.Field != tt.field {
			t.Errorf("%s.Check(%v) = %v, want an InputError for %s", tt.m.Name, tt.raw, err, tt.field)
		}
	}
}

func TestIterate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		items any
		want  string
	}{
		{[]any{"a", int64(2), map[string]any{"k": "v"}}, "[map[index:0 value:a] map[index:1 value:2] map[index:2 value:map[k:v]]]"},
		{[]string{"x", "y"}, "[map[index:0 value:x] map[index:1 value:y]]"},
		{[]module.Bundle{{"n": 1}}, "[map[index:0 value:map[n:1]]]"},
		{[]any{}, "[]"},
	}
	for _, tt := range tests {
		out, err := run(t, t.Context(), builtin.Iterate, map[string]any{"items": tt.items})
		if err != nil || fmt.Sprint(out) != tt.want {
			t.Errorf("iterate %v: %v, %v; want %s", tt.items, out, err, tt.want)
		}
		for _, b := range out {
			if _, ok := b["index"].(int64); !ok {
				t.Errorf("index is %T, want int64", b["index"])
			}
		}
	}
}

func TestIterateStops(t *testing.T) {
	t.Parallel()
	in, err := builtin.Iterate.Check(map[string]any{"items": []any{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	n := 0
	err = builtin.Iterate.Run(t.Context(), module.Env{}, in, func(module.Bundle) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("emit error: %v after %d bundles", err, n)
	}
	ctx, cancel := context.WithCancel(t.Context())
	n = 0
	err = builtin.Iterate.Run(ctx, module.Env{}, in, func(module.Bundle) error {
		n++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || n != 1 {
		t.Errorf("cancelled: %v after %d bundles", err, n)
	}
}

func TestFileList(t *testing.T) {
	t.Parallel()
	dir := setup(t)
	tests := []struct {
		name string
		raw  map[string]any
		want []string // relativePath:size
	}{
		{"top level", map[string]any{"path": dir}, []string{"a.csv:4", "b.txt:3"}},
		{"recursive, sorted by path", map[string]any{"path": dir, "recursive": true},
			[]string{"a.csv:4", "b.txt:3", "sub/c.csv:4", "sub/deeper/d.csv:4"}},
		{"pattern", map[string]any{"path": dir, "pattern": "*.csv", "recursive": "true"},
			[]string{"a.csv:4", "sub/c.csv:4", "sub/deeper/d.csv:4"}},
		{"sub-folder", map[string]any{"path": filepath.Join(dir, "sub")}, []string{"c.csv:4"}},
		{"no match", map[string]any{"path": dir, "pattern": "*.json"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := run(t, t.Context(), builtin.FileList, tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, b := range out {
				got = append(got, fmt.Sprintf("%s:%d", b["relativePath"], b["size"]))
				f, ok := b["file"].(module.File)
				if !ok {
					t.Fatalf("file is %T", b["file"])
				}
				name := filepath.Base(b["path"].(string))
				if b["name"] != name || f.Name() != name || f.Size() != b["size"] {
					t.Errorf("bundle %v: name %q file %q size %d", b, name, f.Name(), f.Size())
				}
				data, _ := os.ReadFile(b["path"].(string))
				if content(t, f) != string(data) {
					t.Errorf("%s reads differently through its file reference", b["path"])
				}
				if m, ok := b["modified"].(time.Time); !ok || m.Location() != time.UTC || time.Since(m) > time.Hour {
					t.Errorf("modified %v", b["modified"])
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFileListErrors(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nosuch")
	_, err := run(t, t.Context(), builtin.FileList, map[string]any{"path": missing})
	if err == nil || !strings.Contains(err.Error(), "list files in "+missing) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing folder: %v", err)
	}
	dir := setup(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := run(t, ctx, builtin.FileList, map[string]any{"path": dir, "recursive": true}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestFileRead(t *testing.T) {
	t.Parallel()
	dir := setup(t)
	out, err := run(t, t.Context(), builtin.FileRead, map[string]any{"path": filepath.Join(dir, "b.txt")})
	if err != nil || len(out) != 1 {
		t.Fatalf("%v, %v", out, err)
	}
	b := out[0]
	if b["text"] != "bee" || b["name"] != "b.txt" || b["size"] != int64(3) || content(t, b["file"].(module.File)) != "bee" {
		t.Errorf("bundle %v", b)
	}

	big := filepath.Join(dir, "big.bin")
	if err := os.WriteFile(big, make([]byte, 1<<20+1), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, t.Context(), builtin.FileRead, map[string]any{"path": big})
	if err != nil {
		t.Fatal(err)
	}
	if out[0]["text"] != "" || out[0]["size"] != int64(1<<20+1) {
		t.Errorf("a file over 1 MiB: text of %d bytes, size %v", len(out[0]["text"].(string)), out[0]["size"])
	}

	if _, err := run(t, t.Context(), builtin.FileRead, map[string]any{"path": dir}); err == nil || !strings.Contains(err.Error(), "is not a regular file") {
		t.Errorf("reading a folder: %v", err)
	}
	if _, err := run(t, t.Context(), builtin.FileRead, map[string]any{"path": filepath.Join(dir, "nosuch")}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("reading a missing file: %v", err)
	}
}

func TestFileWrite(t *testing.T) {
	t.Parallel()
	text := func(name, data string) module.File { return &module.BytesFile{FileName: name, Data: []byte(data)} }
	tests := []struct {
		name   string
		file   module.File
		path   string // relative to a fresh folder
		want   string // the file written, relative to the folder
		err    string
		exists bool // the target exists beforehand
	}{
		{"to a path", text("ignored.txt", "hello"), "out.txt", "out.txt", "", false},
		{"into a folder by name", text("m.csv", "a,b\n"), ".", "m.csv", "", false},
		{"only the name's last segment", text("notes/m.csv", "x"), ".", "m.csv", "", false},
		{"overwrites", text("x", "new"), "out.txt", "out.txt", "", true},
		{"a name that climbs out", text("..", "x"), ".", "", `".." is not a file name to write in folder`, false},
		{"a missing folder", text("x", "x"), "nosuch/out.txt", "", "write ", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			target := filepath.Join(dir, tt.path)
			if tt.exists {
				if err := os.WriteFile(target, []byte("old content"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			out, err := run(t, t.Context(), builtin.FileWrite, map[string]any{"file": tt.file, "path": target})
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.Contains(e.Name(), ".s3flow-") {
					t.Errorf("temporary file %s left behind", e.Name())
				}
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(dir, tt.want)
			data, err := os.ReadFile(want)
			if err != nil || string(data) != content(t, tt.file) {
				t.Errorf("%s holds %q, %v", want, data, err)
			}
			if len(out) != 1 || out[0]["path"] != want || out[0]["size"] != int64(len(data)) {
				t.Errorf("bundle %v, want path %s", out, want)
			}
			if st, _ := os.Stat(want); st.Mode().Perm() != 0o644 {
				t.Errorf("mode %v", st.Mode())
			}
		})
	}
}
