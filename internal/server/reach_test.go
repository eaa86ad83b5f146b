package server

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/module/builtin"
	"github.com/s3flow/s3flow/internal/module/data"
	s3mod "github.com/s3flow/s3flow/internal/module/s3"
)

// allModules is the registry as the CLI and the server build it.
func allModules() []*module.Module {
	return append(append(s3mod.Modules(), builtin.Modules()...), data.Modules()...)
}

// hostileValue is what an attacker sends for a field: a path on the
// server's disk, in the shape the field takes.
func hostileValue(f module.Field) any {
	switch f.Type {
	case module.Int:
		return int64(1)
	case module.Bool:
		return true
	case module.Pairs:
		return map[string]any{"x": "/etc/shadow"}
	case module.List:
		return []any{"/etc/shadow"}
	case module.Body:
		return "@/etc/shadow"
	}
	return "/etc/shadow"
}

// TestEveryModuleOverTheAPI walks the whole registry: over the API, a
// module runs only if it touches nothing itself, and each of its inputs is
// refused exactly when its declaration says it touches a local path.
func TestEveryModuleOverTheAPI(t *testing.T) {
	for _, m := range allModules() {
		t.Run(m.Name, func(t *testing.T) {
			err := m.CheckReach(0, map[string]any{}, apiWhere)
			if m.Reaches != 0 {
				var re *ReachErrorAlias
				if !errors.As(err, &re) {
					t.Fatalf("%s touches %s but the API does not refuse it: %v", m.Name, m.Reaches, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s touches nothing itself, but the API refuses it: %v", m.Name, err)
			}
			for _, f := range m.Fields {
				err := m.CheckReach(0, map[string]any{f.Name: hostileValue(f)}, apiWhere)
				pathLike := f.Kind == module.LocalPath || f.Kind == module.LocalPathOrStdout || f.Type == module.FileRef
				if pathLike && err == nil {
					t.Errorf("input %s takes a local path but the API accepts it", f.Name)
				}
				if !pathLike && err != nil {
					t.Errorf("input %s touches nothing, but the API refuses it: %v", f.Name, err)
				}
			}
		})
	}
}

// ReachErrorAlias keeps errors.As readable above.
type ReachErrorAlias = module.ReachError

// diskCalls are the calls that reach the local disk directly.
var diskCalls = regexp.MustCompile(`\bos\.(Open|OpenFile|Create|ReadFile|WriteFile|Stat|Lstat|ReadDir|Remove|RemoveAll|Rename|Mkdir|MkdirAll|CreateTemp|MkdirTemp|Chmod|Symlink|Link|Truncate|OpenRoot)\b|\bfilepath\.Walk(Dir)?\b|\bioutil\.`)

// TestModulesTouchDiskOnlyThroughDeclarations: module code reaches the
// local disk only through Env.Files, and a module whose code does must say
// so in its declaration. A module added later that opens files itself, or
// uses Env.Files without declaring it, fails here.
func TestModulesTouchDiskOnlyThroughDeclarations(t *testing.T) {
	// The run's own spool folder (made by the engine, not named by a user)
	// is the one place module code touches the disk itself.
	allowed := map[string]bool{"get_file.go:spool": true,
		"csv_write.go:openCSVFile": true, "csv_write.go:finish": true, "csv_write.go:widen": true, "csv_write.go:Abort": true}
	sources := map[string]string{} // module name → source of its file
	for _, dir := range []string{"../module/s3", "../module/builtin", "../module/data"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			src := string(data)
			fset := token.NewFileSet()
			parsed, err := parser.ParseFile(fset, file, data, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, decl := range parsed.Decls {
				fn, ok := decl.(*ast.FuncDecl)
				if !ok {
					continue
				}
				body := src[fset.Position(fn.Pos()).Offset:fset.Position(fn.End()).Offset]
				if diskCalls.MatchString(body) && !allowed[filepath.Base(file)+":"+fn.Name.Name] {
					t.Errorf("%s: %s touches the disk directly (%s); go through Env.Files so the declaration decides",
						file, fn.Name.Name, diskCalls.FindString(body))
				}
			}
			for _, m := range allModules() {
				if strings.Contains(src, `Name:`) && regexp.MustCompile(`Name:\s+"`+regexp.QuoteMeta(m.Name)+`"`).MatchString(src) {
					sources[m.Name] = src
				}
			}
		}
	}
	for _, m := range allModules() {
		src, ok := sources[m.Name]
		if !ok {
			t.Errorf("no source file declares %s", m.Name)
			continue
		}
		if strings.Contains(src, "env.Files") && m.MayReach()&module.ReachLocalFiles == 0 {
			t.Errorf("%s uses Env.Files but its declaration touches no local path", m.Name)
		}
	}
}

// TestEveryModuleDeclaresItsGroup: lists (the Studio's palette, the
// CLI's s3 commands) place a module by its declared group, so each one
// has one of the known groups, and only control modules lack a Run.
func TestEveryModuleDeclaresItsGroup(t *testing.T) {
	for _, m := range allModules() {
		if !slices.Contains(module.Groups, m.Group) {
			t.Errorf("%s: group %q is not one of %v", m.Name, m.Group, module.Groups)
		}
		if (m.Run == nil) != (m.Control != "") {
			t.Errorf("%s: Run set %v, control %q: the engine runs a module itself exactly when it declares a control", m.Name, m.Run != nil, m.Control)
		}
	}
}
