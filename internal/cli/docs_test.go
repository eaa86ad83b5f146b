package cli

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite generated documentation")

// TestFlowsReference keeps docs/flows.md's module reference generated from
// the module declarations, so it cannot drift from them.
func TestFlowsReference(t *testing.T) {
	const file = "../../docs/flows.md"
	const begin, end = "<!-- BEGIN MODULES -->\n", "<!-- END MODULES -->"
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no %q ... %q section", file, begin, end)
	}
	want := doc[:i+len(begin)] + newApp(&IOStreams{}).registry.Reference() + doc[j:]
	if *update {
		if err := os.WriteFile(file, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if doc != want {
		t.Errorf("%s is out of date with the module declarations; run: go test ./internal/cli -run TestFlowsReference -update", file)
	}
}
