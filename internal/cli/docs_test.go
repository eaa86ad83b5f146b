package cli

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/s3flow/s3flow/internal/trigger"
)

var update = flag.Bool("update", false, "rewrite generated documentation")

// TestFlowsReference keeps docs/flows.md's module and trigger references
// generated from their declarations, so they cannot drift from them.
func TestFlowsReference(t *testing.T) {
	const file = "../../docs/flows.md"
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, section := range []struct{ name, text string }{
		{"MODULES", newApp(&IOStreams{}).registry.Reference()},
		{"TRIGGERS", trigger.Reference()},
	} {
		begin, end := "<!-- BEGIN "+section.name+" -->\n", "<!-- END "+section.name+" -->"
		i, j := strings.Index(doc, begin), strings.Index(doc, end)
		if i < 0 || j < i {
			t.Fatalf("%s has no %q ... %q section", file, begin, end)
		}
		doc = doc[:i+len(begin)] + section.text + doc[j:]
	}
	if *update {
		if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if string(data) != doc {
		t.Errorf("%s is out of date with the module or trigger declarations; run: go test ./internal/cli -run TestFlowsReference -update", file)
	}
}
