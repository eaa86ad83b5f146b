package data_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/module/builtin"
	"github.com/s3flow/s3flow/internal/module/data"
	s3mod "github.com/s3flow/s3flow/internal/module/s3"
	"github.com/s3flow/s3flow/internal/s3test"
)

type oneConnection struct{ c connection.Connection }

func (o oneConnection) Connection(context.Context, string) (connection.Connection, error) {
	return o.c, nil
}

// TestFlowParsesCountsAndWrites parses a CSV object in a flow, keeps the
// rows over a threshold, writes them with csv.write as they pass (it
// collects the filter's bundles) and uploads the file; the aws CLI reads
// the result.
func TestFlowParsesCountsAndWrites(t *testing.T) {
	var in, want strings.Builder
	in.WriteString("id,amount\n")
	want.WriteString("amount,id\n")
	kept := 0
	for i := range 1000 {
		fmt.Fprintf(&in, "%d,%d\n", i, (i*37)%1000)
		if (i*37)%1000 >= 500 {
			fmt.Fprintf(&want, "%d,%d\n", (i*37)%1000, i)
			kept++
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "orders.csv"), []byte(in.String()), 0o600)
	reg := &module.Registry{}
	reg.Register(s3mod.Modules()...)
	reg.Register(builtin.Modules()...)
	reg.Register(data.Modules()...)
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			tg.AWS(t, "s3", "cp", "--only-show-errors", filepath.Join(dir, "orders.csv"), "s3://"+bucket+"/in/orders.csv")
			src := fmt.Sprintf(`name: big-orders
steps:
  - id: rows
    module: csv.parse
    connection: t
    with: {bucket: %[1]s, path: in/orders.csv}
  - id: big
    module: flow.filter
    with:
      condition: "{{ int(steps.rows.amount) >= 500 }}"
  - id: out
    module: csv.write
    with: {from: big, name: big.csv}
  - id: up
    module: s3.upload_file
    connection: t
    with: {bucket: %[1]s, folder: out, file: "{{ steps.out.file }}"}
`, bucket)
			f, err := flow.Parse("t.yaml", []byte(src), reg)
			if err != nil {
				t.Fatal(err)
			}
			e := engine.New(engine.Options{Registry: reg, Resolver: oneConnection{tg.Conn}, SpoolDir: t.TempDir()})
			res, err := e.Run(context.Background(), f, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Outputs["rows"] != 1000 || res.Outputs["big"] != int64(kept) || res.Outputs["up"] != 1 {
				t.Errorf("outputs %v: want 1000 rows, %d big, 1 upload", res.Outputs, kept)
			}
			got := filepath.Join(t.TempDir(), "big.csv")
			tg.AWS(t, "s3", "cp", "--only-show-errors", "s3://"+bucket+"/out/big.csv", got)
			if b, _ := os.ReadFile(got); string(b) != want.String() {
				t.Errorf("out/big.csv has %d bytes, want %d:\n%.200s", len(b), want.Len(), b)
			}
		})
	}
}
