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
	checkTestTable(t, "reliability.md", func(name, file string) bool {
		return strings.Contains(filepath.ToSlash(file), "internal/faultproxy/") && strings.HasPrefix(name, "Test")
	}, 20)
}

// TestSecurityDoc keeps docs/security.md true: every test it names exists,
// and every test of the hostile-client suite is in it.
func TestSecurityDoc(t *testing.T) {
	checkTestTable(t, "security.md", func(name, file string) bool {
		return strings.Contains(filepath.ToSlash(file), "internal/server/") && strings.HasPrefix(name, "TestHostile")
	}, 10)
}

// checkTestTable checks that every test docs/doc names is defined in a
// test file, that every test must() picks is named, and that the doc names
// at least min tests.
func checkTestTable(t *testing.T, doc string, must func(name, file string) bool, min int) {
	t.Helper()
	root := filepath.Join("..", "..")
	text, err := os.ReadFile(filepath.Join(root, "docs", doc))
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, m := range regexp.MustCompile("`((?:Test|Fuzz)[A-Za-z0-9_]+)`").FindAllStringSubmatch(string(text), -1) {
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
			t.Errorf("docs/%s names %s, which no test file defines", doc, name)
		}
	}
	for name, file := range defined {
		if must(name, file) && !named[name] {
			t.Errorf("%s (%s) is missing from docs/%s", name, file, doc)
		}
	}
	if len(named) < min {
		t.Errorf("docs/%s names %d tests; the table looks broken", doc, len(named))
	}
}
