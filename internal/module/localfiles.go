package module

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LocalFiles is the part of the local file system a run may touch: all of
// it (the CLI, run by the machine's own user), one folder (flows run by a
// server with --files-root), or none (a nil *LocalFiles: the API, and a
// server without --files-root). Modules reach local paths only through it,
// so what a run may touch is decided where the run is set up, once.
type LocalFiles struct {
	// root confines every path when set; nil means the whole disk.
	root *os.Root
	// dir is root's folder as given, for messages and absolute paths.
	dir string
}

// ErrNoLocalFiles is the error of any local path access where none is
// allowed.
var ErrNoLocalFiles = errors.New("local files are not available here")

// AllLocalFiles gives access to the whole local file system, paths as given.
func AllLocalFiles() *LocalFiles { return &LocalFiles{} }

// LocalFilesIn confines access to dir: paths are taken relative to it (an
// absolute path must lie inside it), and neither "..", nor an absolute
// path, nor a symbolic link can leave it (os.Root).
func LocalFilesIn(dir string) (*LocalFiles, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("files root %q: %w", dir, err)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("files root: %w", err)
	}
	return &LocalFiles{root: root, dir: abs}, nil
}

// Confined reports whether access is limited to one folder.
func (l *LocalFiles) Confined() bool { return l != nil && l.root != nil }

// Dir is the folder access is confined to ("" when not confined).
func (l *LocalFiles) Dir() string {
	if l == nil {
		return ""
	}
	return l.dir
}

// Close releases the confined folder.
func (l *LocalFiles) Close() error {
	if l.Confined() {
		return l.root.Close()
	}
	return nil
}

// name turns a path as a user wrote it into one for the root: relative to
// it, with an absolute path inside it accepted.
func (l *LocalFiles) name(p string) (string, error) {
	if l == nil {
		return "", ErrNoLocalFiles
	}
	if l.root == nil {
		return p, nil
	}
	if p == "" {
		return ".", nil
	}
	if filepath.IsAbs(p) {
		rel, err := filepath.Rel(l.dir, p)
		if err != nil || !filepath.IsLocal(rel) && rel != "." {
			return "", fmt.Errorf("%q is outside the files root %s", p, l.dir)
		}
		return rel, nil
	}
	return p, nil
}

func (l *LocalFiles) wrap(op, p string, err error) error {
	if err == nil {
		return nil
	}
	if l.Confined() && strings.Contains(err.Error(), "escapes") {
		return fmt.Errorf("%s %q: the path leaves the files root %s", op, p, l.dir)
	}
	return err
}

// Open opens a file for reading.
func (l *LocalFiles) Open(p string) (*os.File, error) {
	n, err := l.name(p)
	if err != nil {
		return nil, err
	}
	if l.root == nil {
		return os.Open(n)
	}
	f, err := l.root.Open(n)
	return f, l.wrap("open", p, err)
}

// Stat describes a file, following symbolic links (inside the root).
func (l *LocalFiles) Stat(p string) (fs.FileInfo, error) {
	n, err := l.name(p)
	if err != nil {
		return nil, err
	}
	if l.root == nil {
		return os.Stat(n)
	}
	st, err := l.root.Stat(n)
	return st, l.wrap("stat", p, err)
}

// MkdirAll makes a folder and its parents.
func (l *LocalFiles) MkdirAll(p string, perm fs.FileMode) error {
	n, err := l.name(p)
	if err != nil {
		return err
	}
	if l.root == nil {
		return os.MkdirAll(n, perm)
	}
	return l.wrap("create folder", p, l.root.MkdirAll(n, perm))
}

// CreateTemp makes a new file in dir, named by pattern as os.CreateTemp
// does, open for reading and writing. It returns the file and its path.
func (l *LocalFiles) CreateTemp(dir, pattern string) (*os.File, string, error) {
	if _, err := l.name(dir); err != nil {
		return nil, "", err
	}
	if l.root == nil {
		f, err := os.CreateTemp(dir, pattern)
		if err != nil {
			return nil, "", err
		}
		return f, f.Name(), nil
	}
	prefix, suffix, _ := strings.Cut(pattern, "*")
	for range 100 {
		b := make([]byte, 6)
		rand.Read(b)
		p := filepath.Join(dir, prefix+hex.EncodeToString(b)+suffix)
		n, err := l.name(p)
		if err != nil {
			return nil, "", err
		}
		f, err := l.root.OpenFile(n, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, "", l.wrap("create", p, err)
		}
		return f, p, nil
	}
	return nil, "", fmt.Errorf("create a temporary file in %s: too many tries", dir)
}

// Rename moves a file, replacing what is at newPath.
func (l *LocalFiles) Rename(oldPath, newPath string) error {
	o, err := l.name(oldPath)
	if err != nil {
		return err
	}
	n, err := l.name(newPath)
	if err != nil {
		return err
	}
	if l.root == nil {
		return os.Rename(o, n)
	}
	return l.wrap("rename", newPath, l.root.Rename(o, n))
}

// Remove removes a file.
func (l *LocalFiles) Remove(p string) error {
	n, err := l.name(p)
	if err != nil {
		return err
	}
	if l.root == nil {
		return os.Remove(n)
	}
	return l.wrap("remove", p, l.root.Remove(n))
}

// WalkDir walks the tree at dir in lexical order as filepath.WalkDir does;
// the paths fn gets start with dir.
func (l *LocalFiles) WalkDir(dir string, fn fs.WalkDirFunc) error {
	n, err := l.name(dir)
	if err != nil {
		return err
	}
	if l.root == nil {
		return filepath.WalkDir(n, fn)
	}
	clean := filepath.ToSlash(filepath.Clean(n))
	if !fs.ValidPath(clean) {
		return fmt.Errorf("list %q: the path leaves the files root %s", dir, l.dir)
	}
	// fs.WalkDir over the root's FS stays inside it and does not follow
	// symbolic links to folders; paths are given back as the user wrote
	// the folder.
	return fs.WalkDir(l.root.FS(), clean, func(p string, d fs.DirEntry, err error) error {
		rel := ""
		switch {
		case clean == "." && p != ".":
			rel = p
		case clean != ".":
			rel = strings.TrimPrefix(strings.TrimPrefix(p, clean), "/")
		}
		return fn(filepath.Join(dir, filepath.FromSlash(rel)), d, l.wrap("list", p, err))
	})
}

// Abs is p as an absolute path, for showing where a file went.
func (l *LocalFiles) Abs(p string) string {
	if l.Confined() && !filepath.IsAbs(p) {
		return filepath.Join(l.dir, p)
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// File checks that p is a readable regular file and returns it as a File
// read through l.
func (l *LocalFiles) File(p string) (*LocalFile, error) {
	st, err := l.Stat(p)
	if err != nil {
		if errors.Is(err, ErrNoLocalFiles) {
			return nil, err
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &missingFileError{path: p, err: err}
		}
		return nil, fmt.Errorf("cannot read %q: %w", p, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%q is not a regular file", p)
	}
	return &LocalFile{Path: p, size: st.Size(), files: l}, nil
}

// missingFileError says a file is not there, once: the *PathError it wraps
// would repeat the path and the call ("stat x: no such file or directory").
type missingFileError struct {
	path string
	err  error
}

func (e *missingFileError) Error() string { return fmt.Sprintf("there is no file %q", e.path) }
func (e *missingFileError) Unwrap() error { return e.err }
