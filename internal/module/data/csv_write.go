package data

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"unicode/utf8"

	"github.com/s3flow/s3flow/internal/module"
)

// CSVWrite is "Write CSV": the bundles of an earlier step, one row each,
// into a CSV file reference. It collects like flow.aggregate, but each
// bundle becomes a row on disk as it comes, so none is held in memory.
var CSVWrite = &module.Module{
	Name:    "csv.write",
	Verb:    "write",
	Title:   "Write CSV",
	Group:   module.GroupData,
	Control: module.Collects,
	Help: "Writes the bundles of an earlier step as a CSV file for a later step (Upload a file, file.write), one row each, " +
		"as they come: it collects like flow.aggregate but keeps no bundle in memory, so a listing of any size fits.",
	Fields: []module.Field{
		{Name: "from", Label: "Source step", Type: module.String, Kind: module.StepID, Required: true,
			Help: "the id of the step whose bundles become rows, e.g. list (of s3.list_files) or a filter after it"},
		{Name: "name", Label: "File name", Type: module.String, Default: "rows.csv",
			Help: "the file's name, e.g. report.csv (Upload a file names the object after it)"},
		{Name: "columns", Label: "Columns", Type: module.List,
			Help: "the fields to write, in order (default: the first bundle's fields sorted, then any new fields of later ones)"},
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
	Collect: openCSVFile,
}

// openCSVFile starts the file in a folder of its own under the run's
// spool folder: rows go to a body file, which becomes the named file on
// Close.
func openCSVFile(ctx context.Context, env module.Env, in module.Values) (module.Collector, error) {
	if env.SpoolDir == "" {
		return nil, fmt.Errorf("csv.write makes a file for later steps of a flow; it runs in flows only")
	}
	delim, _ := delimiterOf(in.String("delimiter"))
	cols, err := columnsOf(in)
	if err != nil {
		return nil, err
	}
	name := in.String("name")
	dir, err := os.MkdirTemp(env.SpoolDir, "csv-")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", name, err)
	}
	body := filepath.Join(dir, ".rows")
	f, err := os.OpenFile(body, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("write %s: %w", name, err)
	}
	c := &csvFile{dir: dir, body: body, name: name, f: f, delim: delim,
		header: in.Bool("header"), cols: cols, given: cols != nil, seen: map[string]bool{}}
	c.counted = &sizeWriter{w: f}
	c.bw = bufio.NewWriterSize(c.counted, 64<<10)
	c.w = csv.NewWriter(c.bw)
	c.w.Comma = delim
	return c, nil
}

// csvFile is a CSV file being written row by row. Without given columns,
// the first bundle's fields (sorted) make the header; a later bundle's new
// fields are added at the end, and Close rewrites the file once with the
// whole header and every earlier row padded, as csv() in file.text does.
type csvFile struct {
	dir, body, name string
	f               *os.File
	counted         *sizeWriter
	bw              *bufio.Writer
	w               *csv.Writer
	delim           rune
	header          bool
	given           bool
	cols            []string
	// written is how many columns the header (and the first row) had.
	written int
	seen    map[string]bool
	rows    int64
	row     []string
}

func (c *csvFile) Add(item map[string]any) error {
	if !c.given {
		var fresh []string
		for k := range item {
			if !c.seen[k] {
				fresh = append(fresh, k)
			}
		}
		slices.Sort(fresh)
		for _, k := range fresh {
			c.seen[k] = true
			c.cols = append(c.cols, k)
		}
	}
	if c.rows == 0 {
		c.written = len(c.cols)
		if c.header {
			if err := c.w.Write(c.cols); err != nil {
				return fmt.Errorf("write %s: %w", c.name, err)
			}
		}
	}
	c.row = c.row[:0]
	for _, k := range c.cols {
		c.row = append(c.row, module.CSVCell(item[k]))
	}
	if err := c.w.Write(c.row); err != nil {
		return fmt.Errorf("write %s: %w", c.name, err)
	}
	c.rows++
	return nil
}

func (c *csvFile) Close() (module.Bundle, error) {
	b, err := c.finish()
	if err != nil {
		c.Abort()
		return nil, fmt.Errorf("write %s: %w", c.name, err)
	}
	return b, nil
}

func (c *csvFile) finish() (module.Bundle, error) {
	if c.rows == 0 && c.header && c.given {
		if err := c.w.Write(c.cols); err != nil {
			return nil, err
		}
	}
	c.w.Flush()
	err := c.w.Error()
	if err == nil {
		err = c.bw.Flush()
	}
	if cerr := c.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	target := filepath.Join(c.dir, c.name)
	size := c.counted.n
	if len(c.cols) > c.written && c.rows > 0 {
		if size, err = c.widen(target); err != nil {
			return nil, err
		}
		os.Remove(c.body)
	} else if err := os.Rename(c.body, target); err != nil {
		return nil, err
	}
	return module.Bundle{
		"name": c.name, "rows": c.rows, "size": size,
		"file": &module.SpooledFile{Path: target, FileName: c.name, Bytes: size, ContentType: "text/csv"},
	}, nil
}

// widen copies the body to target with the whole header and every row
// padded to the final columns. Rows are copied byte for byte: a record
// ends at a line break outside quotes, and its fields are one more than
// its delimiters outside quotes; the new columns are empty at its end.
func (c *csvFile) widen(target string) (int64, error) {
	src, err := os.Open(c.body)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	dst, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	counted := &sizeWriter{w: dst}
	out := bufio.NewWriterSize(counted, 64<<10)
	r := bufio.NewReaderSize(src, 64<<10)
	if c.header {
		w := csv.NewWriter(out)
		w.Comma = c.delim
		w.Write(c.cols)
		w.Flush()
		if err := w.Error(); err != nil {
			dst.Close()
			return 0, err
		}
	}
	skip := c.header // the old header is the first record
	quoted, fields := false, 1
	var enc [utf8.UTFMax]byte
	delim := enc[:utf8.EncodeRune(enc[:], c.delim)]
	var last [utf8.UTFMax]byte // the bytes just read, to match a delimiter of several
	for {
		b, err := r.ReadByte()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			dst.Close()
			return 0, err
		}
		copy(last[:], last[1:])
		last[len(last)-1] = b
		drop := skip
		switch {
		case b == '"':
			quoted = !quoted
		case b == '\n' && !quoted:
			if !skip {
				for ; fields < len(c.cols); fields++ {
					out.Write(delim)
				}
			}
			skip, fields = false, 1
		case !quoted && string(last[len(last)-len(delim):]) == string(delim):
			fields++
		}
		if !drop {
			if err := out.WriteByte(b); err != nil {
				dst.Close()
				return 0, err
			}
		}
	}
	err = out.Flush()
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	return counted.n, err
}

// Abort removes the file and its folder.
func (c *csvFile) Abort() {
	c.f.Close()
	os.RemoveAll(c.dir)
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
