package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReliabilityDoc keeps docs/reliability.md true: every test it names
// exists, and every test of the fault suite is in it.
func TestReliabilityDoc(t *testing.T) {
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, "docs", "reliability.md"))
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, m := range regexp.MustCompile("`((?:Test|Fuzz)[A-Za-z0-9_]+)`").FindAllStringSubmatch(string(doc), -1) {
		named[m[1]] = true
	}
	defined := map[string]string{} // test name to its file
	decl := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz)[A-Za-z0-9_]+)\(`)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && p != root {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range decl.FindAllStringSubmatch(string(src), -1) {
			defined[m[1]] = p
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range named {
		if _, ok := defined[name]; !ok {
			t.Errorf("docs/reliability.md names %s, which no test file defines", name)
		}
	}
	for name, file := range defined {
		if strings.Contains(filepath.ToSlash(file), "internal/faultproxy/") && strings.HasPrefix(name, "Test") && !named[name] {
			t.Errorf("%s (%s) is a fault test missing from docs/reliability.md", name, file)
		}
	}
	if len(named) < 20 {
		t.Errorf("docs/reliability.md names %d tests; the table looks broken", len(named))
	}
}
