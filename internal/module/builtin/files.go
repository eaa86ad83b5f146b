package builtin

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/s3flow/s3flow/internal/module"
)

// FileList lists a local folder, one bundle per file.
var FileList = &module.Module{
	Name:    "file.list",
	Verb:    "list",
	Title:   "List local files",
	Group:   module.GroupFiles,
	Help:    "Lists the files in a local folder (sorted by path), one bundle per file, each usable as an upload's source file.",
	Many:    true,
	Reaches: module.ReachLocalFiles,
	Fields: []module.Field{
		{Name: "path", Label: "Folder", Type: module.String, Kind: module.LocalPath, Required: true, Help: "the local folder"},
		{Name: "pattern", Label: "Pattern", Type: module.String, Help: "only names matching this glob, e.g. *.csv"},
		{Name: "recursive", Label: "Recursive", Type: module.Bool, Default: false, Help: "also list files in sub-folders"},
	},
	Outputs: []module.Output{
		{Name: "path", Type: module.String, Help: "the file's path", Kind: module.LocalPath},
		{Name: "relativePath", Type: module.String, Help: "its path below the folder, with / separators"},
		{Name: "name", Type: module.String}, {Name: "size", Type: module.Int}, {Name: "modified", Type: module.Time},
		{Name: "file", Type: module.FileRef, Help: "the file, for Upload a file", FlowOnly: true},
	},
	Validate: func(in module.Values) error {
		if p := in.String("pattern"); p != "" {
			if _, err := filepath.Match(p, ""); err != nil {
				return &module.InputError{Field: "pattern", Rule: fmt.Sprintf("%q is not a valid glob", p)}
			}
		}
		return nil
	},
	Run: runFileList,
}

func runFileList(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	root, pattern, recursive := in.String("path"), in.String("pattern"), in.Bool("recursive")
	// WalkDir visits in lexical order and holds one directory at a time.
	err := env.Files.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() {
			if p != root && !recursive {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if pattern != "" {
			if ok, _ := filepath.Match(pattern, d.Name()); !ok {
				return nil
			}
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		f, err := env.Files.File(p)
		if err != nil {
			return err
		}
		return emit(module.Bundle{
			"path": p, "relativePath": filepath.ToSlash(rel), "name": d.Name(), "size": info.Size(),
			"modified": info.ModTime().UTC(), "file": f,
		})
	})
	if err != nil {
		return fmt.Errorf("list files in %s: %w", root, err)
	}
	return nil
}

// FileRead reads a local file into a bundle (as a file reference; text too
// when it is small).
var FileRead = &module.Module{
	Name:    "file.read",
	Verb:    "read",
	Title:   "Read a local file",
	Group:   module.GroupFiles,
	Help:    "Reads a local file: a file reference for Upload a file and, for files up to 1 MiB, its text.",
	Reaches: module.ReachLocalFiles,
	Fields: []module.Field{
		{Name: "path", Label: "File", Type: module.String, Kind: module.LocalPath, Required: true, Help: "the local file"},
	},
	Outputs: []module.Output{
		{Name: "path", Type: module.String, Kind: module.LocalPath}, {Name: "name", Type: module.String}, {Name: "size", Type: module.Int}, {Name: "text", Type: module.String, Help: "the content, for files up to 1 MiB"},
		{Name: "file", Type: module.FileRef, FlowOnly: true},
	},
	Run: func(_ context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
		f, err := env.Files.File(in.String("path"))
		if err != nil {
			return err
		}
		b := module.Bundle{"path": f.Path, "name": f.Name(), "size": f.Size(), "text": "", "file": f}
		if f.Size() <= maxTextSize {
			r, err := f.Open()
			if err != nil {
				return fmt.Errorf("read %s: %w", f.Path, err)
			}
			defer r.Close()
			data, err := io.ReadAll(io.LimitReader(r, maxTextSize+1))
			if err != nil {
				return fmt.Errorf("read %s: %w", f.Path, err)
			}
			if len(data) <= maxTextSize {
				b["text"] = string(data)
			}
		}
		return emit(b)
	},
}

const maxTextSize = 1 << 20

// FileWrite writes a file reference (a download, a generated text) to a
// local path, atomically.
var FileWrite = &module.Module{
	Name:    "file.write",
	Verb:    "write",
	Title:   "Write a local file",
	Group:   module.GroupFiles,
	Help:    "Writes a file (e.g. from Get a file or file.text) to a local path; the path appears only when complete.",
	Reaches: module.ReachLocalFiles,
	Fields: []module.Field{
		{Name: "file", Label: "File", Type: module.FileRef, Required: true, Help: "the data to write"},
		{Name: "path", Label: "Path", Type: module.String, Kind: module.LocalPath, Required: true, Help: "where to write it; an existing folder gets the file's name inside it"},
	},
	Outputs: []module.Output{{Name: "path", Type: module.String, Kind: module.LocalPath}, {Name: "size", Type: module.Int}},
	Run:     runFileWrite,
}

func runFileWrite(_ context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	src, target, files := in.File("file"), in.String("path"), env.Files
	if st, err := files.Stat(target); err == nil && st.IsDir() {
		// Only the name's last segment, so that a generated name
		// ("../x", "a/b.txt") cannot leave the folder.
		name := filepath.Base(src.Name())
		if !filepath.IsLocal(name) {
			return &module.InputError{Field: "file", Rule: fmt.Sprintf("%q is not a file name to write in folder %s; give a full path", src.Name(), target)}
		}
		target = filepath.Join(target, name)
	}
	r, err := src.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	tmp, tmpName, err := files.CreateTemp(filepath.Dir(target), module.TempPattern(filepath.Base(target)))
	if err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	n, err := io.Copy(tmp, r)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = files.Rename(tmpName, target)
	}
	if err != nil {
		files.Remove(tmpName)
		return fmt.Errorf("write %s: %w", target, err)
	}
	return emit(module.Bundle{"path": target, "size": n})
}
