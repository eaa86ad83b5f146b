package data

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/s3flow/s3flow/internal/module"
)

// CSVWrite is "Write CSV": a list of bundles into a CSV file reference.
var CSVWrite = &module.Module{
	Name:  "csv.write",
	Verb:  "write",
	Title: "Write CSV",
	Group: module.GroupData,
	Help: "Writes bundles (the items of an aggregate) as a CSV file for a later step (Upload a file, file.write), one row each: " +
		"what csv() in file.text does, without its size limit, written to the run's spool folder rather than held as text.",
	Fields: []module.Field{
		{Name: "items", Label: "Bundles", Type: module.List, Required: true,
			Help: "the bundles to write, e.g. {{ steps.all.items }} of a flow.aggregate"},
		{Name: "name", Label: "File name", Type: module.String, Default: "rows.csv",
			Help: "the file's name, e.g. report.csv (Upload a file names the object after it)"},
		{Name: "columns", Label: "Columns", Type: module.List,
			Help: "the fields to write, in order (default: the first bundle's keys sorted, then any new keys of later ones)"},
		{Name: "delimiter", Label: "Delimiter", Type: module.String, Default: ",",
			Help: "the one character between fields, e.g. ; (tab: \\t or the word tab)"},
		{Name: "header", Label: "Header row", Type: module.Bool, Default: true,
			Help: "write the column names as the first row"},
	},
	Outputs: []module.Output{
		{Name: "name", Type: module.String, Help: "the file's name"},
		{Name: "rows", Type: module.Int, Help: "rows written, not counting the header"},
		{Name: "size", Type: module.Int, Help: "size in bytes"},
		{Name: "file", Type: module.FileRef, Help: "the CSV file, for Upload a file", FlowOnly: true},
	},
	Validate: func(in module.Values) error {
		if _, err := delimiterOf(in.String("delimiter")); err != nil {
			return err
		}
		if n := in.String("name"); n == "" || filepath.Base(n) != n || n == "." || n == ".." {
			return &module.InputError{Field: "name", Rule: fmt.Sprintf("%q must be a file name without folders, e.g. report.csv", n)}
		}
		_, err := columnsOf(in)
		return err
	},
	Run: runCSVWrite,
}

func runCSVWrite(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	if env.SpoolDir == "" {
		return fmt.Errorf("csv.write makes a file for later steps of a flow; it runs in flows only")
	}
	delim, _ := delimiterOf(in.String("delimiter"))
	items := in.List("items")
	rows := make([]map[string]any, len(items))
	for i, it := range items {
		switch m := it.(type) {
		case module.Bundle:
			rows[i] = m
		case map[string]any:
			rows[i] = m
		default:
			return &module.InputError{Field: "items", Rule: fmt.Sprintf("item %d is %T, not a bundle (a map of fields)", i+1, it)}
		}
	}
	cols, err := columnsOf(in)
	if err != nil {
		return err
	}
	if len(cols) == 0 {
		cols = keysOf(rows)
	}
	name := in.String("name")
	dir, err := os.MkdirTemp(env.SpoolDir, "csv-")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	target := filepath.Join(dir, name)
	f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("write %s: %w", name, err)
	}
	counted := &sizeWriter{w: f}
	bw := bufio.NewWriterSize(counted, 64<<10)
	w := csv.NewWriter(bw)
	w.Comma = delim
	err = func() error {
		if in.Bool("header") {
			if err := w.Write(cols); err != nil {
				return err
			}
		}
		row := make([]string, len(cols))
		for i, m := range rows {
			if i%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			for j, c := range cols {
				row[j] = module.CSVCell(m[c])
			}
			if err := w.Write(row); err != nil {
				return err
			}
		}
		w.Flush()
		if err := w.Error(); err != nil {
			return err
		}
		return bw.Flush()
	}()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("write %s: %w", name, err)
	}
	return emit(module.Bundle{
		"name": name, "rows": int64(len(rows)), "size": counted.n,
		"file": &module.SpooledFile{Path: target, FileName: name, Bytes: counted.n, ContentType: "text/csv"},
	})
}

// keysOf is the columns csv() picks: the first bundle's keys sorted, then
// each later bundle's new keys sorted.
func keysOf(rows []map[string]any) []string {
	var cols []string
	seen := map[string]bool{}
	for _, m := range rows {
		var keys []string
		for k := range m {
			if !seen[k] {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			seen[k] = true
			cols = append(cols, k)
		}
	}
	return cols
}

type sizeWriter struct {
	w interface{ Write([]byte) (int, error) }
	n int64
}

func (s *sizeWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	s.n += int64(n)
	return n, err
}
