// Package flowfile keeps the flows folder's files as the API changes them
// and the history of their versions. It is the one writer of flow files
// (the server's loader only reads them) and of the flow_versions table:
// a file is written atomically and only inside the folder, and every
// version saved is kept by its hash with who saved it and when.
package flowfile

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strings"
)

// MaxSize bounds a flow file read or written through the API.
const MaxSize = 1 << 20

// Hash is the version of a flow file: the SHA-256 of its bytes, in hex
// (what flow.Parse records as Flow.Hash).
func Hash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

var hashPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// CheckHash refuses what is not a version (64 lower-case hex digits).
func CheckHash(h string) error {
	if !hashPattern.MatchString(h) {
		return fmt.Errorf("a version is the 64 hex digits of a flow file's SHA-256, got %q", truncate(h))
	}
	return nil
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$`)

// CheckName refuses a flow name that cannot also name its file: only
// letters, digits, _ and -, starting with a letter or digit, at most 100
// (so no path separator, no "..", no hidden file).
func CheckName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("flow name %q: a flow saved through the API is named with letters, digits, _ and - (starting with a letter or digit, at most 100), and its file is NAME.yaml", truncate(name))
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}

// NotRegularError is a flow file that is not a regular file of the
// folder: a symbolic link (a mounted ConfigMap, a link to elsewhere) or
// anything else, which the API does not write.
type NotRegularError struct{ File string }

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s is not a regular file of the flows folder (a symbolic link?); edit it where it lives", e.File)
}

// TooLargeError is a flow file over MaxSize.
type TooLargeError struct{ File string }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is larger than %d bytes, the most a flow file may be", e.File, MaxSize)
}

// Folder is the flows folder. Every access goes through os.Root, so no
// name and no symbolic link leads outside it.
type Folder struct{ Dir string }

// checkBase refuses a file name that is not a flow file's plain name.
func checkBase(base string) error {
	if base == "" || strings.ContainsAny(base, `/\`) || strings.HasPrefix(base, ".") ||
		!(strings.HasSuffix(base, ".yaml") || strings.HasSuffix(base, ".yml")) {
		return fmt.Errorf("%q is not the name of a flow file of the folder (NAME.yaml)", truncate(base))
	}
	return nil
}

func (f Folder) root() (*os.Root, error) {
	r, err := os.OpenRoot(f.Dir)
	if err != nil {
		return nil, fmt.Errorf("open the flows folder: %w", err)
	}
	return r, nil
}

// Read returns the file's bytes. A symbolic link is followed only while
// it stays inside the folder; what it leads to must be a regular file.
// A missing file is an fs.ErrNotExist.
func (f Folder) Read(base string) ([]byte, error) {
	if err := checkBase(base); err != nil {
		return nil, err
	}
	r, err := f.root()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	file, err := r.Open(base)
	if err != nil {
		// A link out of the folder is not a missing file.
		if st, lerr := r.Lstat(base); lerr == nil && !errors.Is(err, fs.ErrNotExist) && !st.Mode().IsRegular() {
			return nil, &NotRegularError{File: base}
		}
		return nil, fmt.Errorf("read flow file %s: %w", base, err)
	}
	defer file.Close()
	if st, err := file.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, &NotRegularError{File: base}
	}
	data, err := io.ReadAll(io.LimitReader(file, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read flow file %s: %w", base, err)
	}
	if len(data) > MaxSize {
		return nil, &TooLargeError{File: base}
	}
	return data, nil
}

// Exists reports whether the folder has an entry of that name, whatever
// it is.
func (f Folder) Exists(base string) (bool, error) {
	if err := checkBase(base); err != nil {
		return false, err
	}
	r, err := f.root()
	if err != nil {
		return false, err
	}
	defer r.Close()
	_, err = r.Lstat(base)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Write replaces (or creates) the file atomically: the bytes go to a
// temporary file beside it, are synced, and the temporary file is renamed
// over it; the folder is synced so that the rename survives a crash. A
// reader sees the old file or the new one, never a part. The file keeps
// its permissions; a new one is readable by its owner only. Only a
// regular file is replaced: never a symbolic link (or what it points to).
func (f Folder) Write(base string, data []byte) error {
	if err := checkBase(base); err != nil {
		return err
	}
	if len(data) > MaxSize {
		return &TooLargeError{File: base}
	}
	r, err := f.root()
	if err != nil {
		return err
	}
	defer r.Close()
	mode := fs.FileMode(0o600)
	switch st, err := r.Lstat(base); {
	case err == nil && !st.Mode().IsRegular():
		return &NotRegularError{File: base}
	case err == nil:
		mode = st.Mode().Perm()
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("write flow file %s: %w", base, err)
	}
	suffix := make([]byte, 6)
	rand.Read(suffix)
	// A name the loader skips: hidden, and not ending in .yaml.
	tmp := "." + base + ".tmp-" + hex.EncodeToString(suffix)
	w, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("write flow file %s: %w", base, err)
	}
	_, err = w.Write(data)
	if err == nil {
		err = w.Chmod(mode) // whatever the umask took away
	}
	if err == nil {
		err = w.Sync()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = r.Rename(tmp, base)
	}
	if err != nil {
		r.Remove(tmp)
		return fmt.Errorf("write flow file %s: %w", base, err)
	}
	return syncDir(r)
}

// Remove deletes the file (a regular file only).
func (f Folder) Remove(base string) error {
	if err := checkBase(base); err != nil {
		return err
	}
	r, err := f.root()
	if err != nil {
		return err
	}
	defer r.Close()
	st, err := r.Lstat(base)
	if err != nil {
		return fmt.Errorf("delete flow file %s: %w", base, err)
	}
	if !st.Mode().IsRegular() {
		return &NotRegularError{File: base}
	}
	if err := r.Remove(base); err != nil {
		return fmt.Errorf("delete flow file %s: %w", base, err)
	}
	return syncDir(r)
}

func syncDir(r *os.Root) error {
	d, err := r.Open(".")
	if err != nil {
		return fmt.Errorf("sync the flows folder: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync the flows folder: %w", err)
	}
	return nil
}
