package flowfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func setup(t *testing.T) (Folder, string) {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "flows")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// A file beside the folder that nothing may read or write through it.
	if err := os.WriteFile(filepath.Join(base, "outside.yaml"), []byte("secret: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return Folder{Dir: dir}, base
}

func TestCheckName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"a", "archive-reports", "A_1", "9lives"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "../x", "..", ".hidden", "a/b", `a\b`, "/etc/passwd", "a.yaml", "-x", "a b", "é", strings.Repeat("a", 101), "a\x00"} {
		if err := CheckName(bad); err == nil {
			t.Errorf("CheckName(%q) accepted it", bad)
		}
	}
}

func TestWriteRead(t *testing.T) {
	t.Parallel()
	f, _ := setup(t)
	if err := f.Write("a.yaml", []byte("name: a\n")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(f.Dir, "a.yaml"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("new file: %v %v, want mode 0600", st, err)
	}
	// An existing file keeps its mode when replaced.
	os.Chmod(filepath.Join(f.Dir, "a.yaml"), 0o640)
	if err := f.Write("a.yaml", []byte("name: b\n")); err != nil {
		t.Fatal(err)
	}
	data, err := f.Read("a.yaml")
	if err != nil || string(data) != "name: b\n" {
		t.Fatalf("Read: %q %v", data, err)
	}
	if st, _ := os.Stat(filepath.Join(f.Dir, "a.yaml")); st.Mode().Perm() != 0o640 {
		t.Errorf("replaced file has mode %v, want 0640", st.Mode().Perm())
	}
	// No temporary file is left behind.
	entries, _ := os.ReadDir(f.Dir)
	if len(entries) != 1 {
		t.Errorf("folder holds %v, want a.yaml only", entries)
	}
	if _, err := f.Read("missing.yaml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read(missing): %v, want fs.ErrNotExist", err)
	}
	if err := f.Remove("a.yaml"); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.Exists("a.yaml"); ok || err != nil {
		t.Errorf("after Remove: exists %v %v", ok, err)
	}
	if err := f.Write("big.yaml", make([]byte, MaxSize+1)); err == nil {
		t.Error("a file over MaxSize was written")
	}
}

// TestConfined: no name and no symbolic link leads a read or a write
// outside the folder, and a link is never written through.
func TestConfined(t *testing.T) {
	t.Parallel()
	f, base := setup(t)
	outside := filepath.Join(base, "outside.yaml")
	os.Symlink(outside, filepath.Join(f.Dir, "out.yaml"))
	os.Symlink("../outside.yaml", filepath.Join(f.Dir, "rel.yaml"))
	os.WriteFile(filepath.Join(f.Dir, "real.yaml"), []byte("name: real\n"), 0o600)
	os.Symlink("real.yaml", filepath.Join(f.Dir, "inside.yaml"))
	os.Mkdir(filepath.Join(f.Dir, "dir.yaml"), 0o700)

	for _, name := range []string{"../outside.yaml", outside, "out.yaml", "rel.yaml", ".hidden.yaml", "a/../../outside.yaml", "dir.yaml", "x.txt"} {
		if data, err := f.Read(name); err == nil {
			t.Errorf("Read(%q) = %q, want an error", name, data)
		}
		if err := f.Write(name, []byte("name: x\n")); err == nil {
			t.Errorf("Write(%q) succeeded", name)
		}
		if err := f.Remove(name); err == nil {
			t.Errorf("Remove(%q) succeeded", name)
		}
	}
	// A link inside the folder (a mounted ConfigMap) is read, not written.
	if data, err := f.Read("inside.yaml"); err != nil || string(data) != "name: real\n" {
		t.Errorf("Read(inside.yaml): %q %v", data, err)
	}
	var nr *NotRegularError
	if _, err := f.Read("out.yaml"); !errors.As(err, &nr) {
		t.Errorf("Read(out.yaml), a link out of the folder: %v, want NotRegularError", err)
	}
	if err := f.Write("inside.yaml", []byte("name: x\n")); !errors.As(err, &nr) {
		t.Errorf("Write(inside.yaml): %v, want NotRegularError", err)
	}
	if data, _ := os.ReadFile(outside); string(data) != "secret: 1\n" {
		t.Errorf("the file outside now holds %q", data)
	}
	if data, _ := os.ReadFile(filepath.Join(f.Dir, "real.yaml")); string(data) != "name: real\n" {
		t.Errorf("the link's target now holds %q", data)
	}
}

func TestCheckHash(t *testing.T) {
	t.Parallel()
	if err := CheckHash(Hash([]byte("x"))); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("G", 64), strings.ToUpper(Hash(nil)), "../" + Hash(nil)} {
		if CheckHash(bad) == nil {
			t.Errorf("CheckHash(%q) accepted it", bad)
		}
	}
}

func TestDiff(t *testing.T) {
	t.Parallel()
	got, err := Diff("a", "b", []byte("one\ntwo\nthree\n"), []byte("one\n2\nthree"))
	if err != nil {
		t.Fatal(err)
	}
	want := "--- a\n+++ b\n@@ -1,3 +1,3 @@\n one\n-two\n-three\n+2\n+three\n\\ No newline at end of file\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if d, _ := Diff("a", "b", []byte("x\n"), []byte("x\n")); d != "" {
		t.Errorf("equal texts: %q", d)
	}
}
