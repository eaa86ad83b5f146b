package data_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/module/builtin"
	"github.com/s3flow/s3flow/internal/module/data"
)

// writeCSV runs a flow that iterates items (concurrency conc) into
// csv.write with the given extra inputs and writes the file to a local
// folder; it returns the file's text, or the run's error.
func writeCSV(t *testing.T, items string, conc int, with string) (string, error) {
	t.Helper()
	reg := &module.Registry{}
	reg.Register(builtin.Modules()...)
	reg.Register(data.Modules()...)
	out := t.TempDir()
	spool := t.TempDir()
	src := fmt.Sprintf(`name: w
steps:
  - id: items
    module: flow.iterate
    concurrency: %d
    with: {items: %q}
  - id: rows
    module: flow.filter
    with: {condition: "{{ steps.items.value == 'boom' ? 1 : steps.items.value != 'skip' }}"}
  - id: out
    module: csv.write
    with: {from: rows, name: out.csv%s}
  - id: save
    module: file.write
    with: {file: "{{ steps.out.file }}", path: %q}
`, conc, items, with, out)
	f, err := flow.Parse("w.yaml", []byte(src), reg)
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(engine.Options{Registry: reg, SpoolDir: spool, Files: module.AllLocalFiles()})
	_, runErr := e.Run(context.Background(), f, nil, nil)
	if runErr != nil {
		if _, err := os.Stat(filepath.Join(out, "out.csv")); err == nil {
			t.Errorf("the failed run wrote out.csv")
		}
		return "", runErr
	}
	b, err := os.ReadFile(filepath.Join(out, "out.csv"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b), nil
}

func TestCSVWrite(t *testing.T) {
	var many, manyWant strings.Builder
	many.WriteString("{{ [")
	manyWant.WriteString("index,value\n")
	for i := range 500 {
		if i > 0 {
			many.WriteString(", ")
		}
		fmt.Fprintf(&many, "'v%d'", i)
		fmt.Fprintf(&manyWant, "%d,v%d\n", i, i)
	}
	many.WriteString("] }}")
	tests := []struct {
		name, items string
		conc        int
		with, want  string
	}{
		{"in order whatever the concurrency", many.String(), 8, "", manyWant.String()},
		{"one at a time", many.String(), 1, "", manyWant.String()},
		{"columns given, no header, other delimiter",
			"{{ [{'a': 1, 'b': 'x;y'}, {'a': 2, 'c': 3}] }}", 1,
			", columns: [value], header: false, delimiter: ';'",
			"\"{\"\"a\"\":1,\"\"b\"\":\"\"x;y\"\"}\"\n\"{\"\"a\"\":2,\"\"c\"\":3}\"\n"},
		{"no rows, columns given: the header alone",
			"{{ ['skip'] }}", 1, ", columns: [index, value]", "index,value\n"},
		{"no rows: an empty file", "{{ ['skip'] }}", 1, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := writeCSV(t, tt.items, tt.conc, tt.with)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got\n%.300q\nwant\n%.300q", got, tt.want)
			}
		})
	}
}

// TestCSVWriteNewFields: a bundle with fields the first lacked adds
// columns at the end; the rows before it get empty cells there, quoted
// cells (delimiters and line breaks inside) kept byte for byte.
func TestCSVWriteNewFields(t *testing.T) {
	dir := t.TempDir()
	for _, header := range []bool{true, false} {
		t.Run(fmt.Sprint("header ", header), func(t *testing.T) {
			c, err := data.CSVWrite.Collect(context.Background(), module.Env{SpoolDir: dir},
				module.Values{"name": "x.csv", "delimiter": "|", "header": header})
			if err != nil {
				t.Fatal(err)
			}
			rows := []map[string]any{
				{"b": "two\nlines|and \"quotes\"", "a": int64(1)},
				{"a": int64(2), "c": "new", "b": ""},
				{"d": "é", "a": int64(3)},
			}
			for _, r := range rows {
				if err := c.Add(r); err != nil {
					t.Fatal(err)
				}
			}
			out, err := c.Close()
			if err != nil {
				t.Fatal(err)
			}
			f := out["file"].(*module.SpooledFile)
			b, err := os.ReadFile(f.Path)
			if err != nil {
				t.Fatal(err)
			}
			want := "1|\"two\nlines|and \"\"quotes\"\"\"||\n2||new|\n3|||é\n"
			if header {
				want = "a|b|c|d\n" + want
			}
			if string(b) != want || f.Bytes != int64(len(want)) || out["size"] != int64(len(want)) || out["rows"] != int64(3) {
				t.Errorf("got %q (%d bytes, output %v), want %q", b, f.Bytes, out, want)
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(f.Path), "*")); len(left) != 1 {
				t.Errorf("the folder holds %v, want the file alone", left)
			}
		})
	}
}

// TestCSVWriteFailedRunLeavesNothing: a later bundle that fails stops the
// run; the half-written file is removed and nothing reaches file.write.
func TestCSVWriteFailedRunLeavesNothing(t *testing.T) {
	_, err := writeCSV(t, "{{ ['a', 'b', 'boom'] }}", 1, "")
	if err == nil || !strings.Contains(err.Error(), `step "rows": condition`) {
		t.Fatalf("error %v, want the filter's", err)
	}
}

// TestCSVWriteAbort: a loop that fails removes what was written at once,
// not when the run ends (a flow may go on past it under on_error).
func TestCSVWriteAbort(t *testing.T) {
	spool := t.TempDir()
	c, err := data.CSVWrite.Collect(context.Background(), module.Env{SpoolDir: spool}, module.Values{"name": "x.csv", "delimiter": ",", "header": true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Add(map[string]any{"a": "1"}); err != nil {
		t.Fatal(err)
	}
	c.Abort()
	if left, _ := os.ReadDir(spool); len(left) > 0 {
		t.Errorf("left in the spool folder: %v", left)
	}
}
