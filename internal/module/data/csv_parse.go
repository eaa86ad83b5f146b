package data

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/s3flow/s3flow/internal/module"
)

// CSVParse is "Parse CSV": one bundle per row of a CSV object or file.
var CSVParse = &module.Module{
	Name:  "csv.parse",
	Verb:  "parse",
	Title: "Parse CSV",
	Group: module.GroupData,
	Help: "Reads a CSV file (an object, or a file of an earlier step) and emits one bundle per row, its fields named by the header row or by columns. " +
		"Rows (up to 4 MiB each) are read as the next steps take them, so a file of any size runs in the memory of one row.",
	// An object is read over the step's connection; a step that reads a
	// file of an earlier step names one too (the declaration cannot say
	// "sometimes").
	NeedsConnection: true,
	Many:            true,
	Fields: []module.Field{
		sourceBucket, sourcePath, sourceFile,
		{Name: "header", Label: "Header row", Type: module.Bool, Default: true,
			Help: "the first row (after skip_rows) names the fields; with columns given, it is skipped"},
		{Name: "columns", Label: "Columns", Type: module.List,
			Help: "the field names, in order, e.g. [date, amount]; required when there is no header row"},
		{Name: "delimiter", Label: "Delimiter", Type: module.String, Default: ",",
			Help: "the one character between fields, e.g. ; or | (tab: \\t or the word tab)"},
		{Name: "lazy_quotes", Flag: "lazy-quotes", Label: "Lazy quotes", Type: module.Bool, Default: false,
			Help: "accept a quote inside an unquoted field and a stray quote in a quoted one, as spreadsheets sometimes write them"},
		{Name: "skip_rows", Flag: "skip-rows", Label: "Skip lines", Type: module.Int, Default: int64(0), Min: module.AtLeast(0),
			Help: "lines to skip before the header (a title, notes); they need not be CSV"},
		{Name: "bad_rows", Flag: "bad-rows", Label: "Bad rows", Type: module.String, Default: "fail", Choices: []string{"fail", "skip"},
			Help: "what a row with the wrong number of fields does: fail the step (naming the line), or be skipped with a warning in the log"},
		sourceRegion,
	},
	Validate: func(in module.Values) error {
		if err := checkSource(in); err != nil {
			return err
		}
		if _, err := delimiterOf(in.String("delimiter")); err != nil {
			return err
		}
		cols, err := columnsOf(in)
		if err != nil {
			return err
		}
		if len(cols) == 0 && !in.Bool("header") {
			return &module.InputError{Field: "columns", Rule: "is required when header is false: give the field names, e.g. [date, amount]"}
		}
		return nil
	},
	Run: runCSVParse,
}

// maxRowBytes bounds one row: encoding/csv holds a row whole, and a quote
// that is never closed would make the rest of the file one field.
const maxRowBytes = 4 << 20

// delimiterOf checks the delimiter: one character that cannot be part of
// a quoted field's syntax.
func delimiterOf(d string) (rune, error) {
	switch d {
	case "tab", `\t`:
		return '\t', nil
	}
	r, size := utf8.DecodeRuneInString(d)
	switch {
	case d == "" || size != len(d) || r == utf8.RuneError:
		return 0, &module.InputError{Field: "delimiter", Rule: fmt.Sprintf("must be one character, e.g. ; or | (tab: \\t), got %q", d)}
	case r == '"' || r == '\r' || r == '\n' || r == 0xFEFF:
		return 0, &module.InputError{Field: "delimiter", Rule: fmt.Sprintf("%q cannot separate fields: it is a quote, a line break or a byte order mark", d)}
	}
	return r, nil
}

// columnsOf is the columns input as names; each must be text, none empty
// or given twice.
func columnsOf(in module.Values) ([]string, error) {
	var cols []string
	for i, c := range in.List("columns") {
		s, ok := c.(string)
		if !ok || s == "" {
			return nil, &module.InputError{Field: "columns", Rule: fmt.Sprintf("item %d must be a non-empty name, got %v", i+1, c)}
		}
		cols = append(cols, s)
	}
	if err := checkNames(cols); err != nil {
		return nil, &module.InputError{Field: "columns", Rule: err.Error()}
	}
	return cols, nil
}

func checkNames(names []string) error {
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if seen[n] {
			return fmt.Errorf("names %q twice: each field needs its own name", n)
		}
		seen[n] = true
	}
	return nil
}

func runCSVParse(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	delim, err := delimiterOf(in.String("delimiter"))
	if err != nil {
		return err
	}
	cols, err := columnsOf(in)
	if err != nil {
		return err
	}
	src, name, err := openSource(ctx, env, in)
	if err != nil {
		return err
	}
	defer src.Close()
	guard := &rowGuard{r: src}
	br := bufio.NewReaderSize(guard, 64<<10)
	if err := skipBOM(br); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	skipped, err := skipLines(br, in.Int("skip_rows"), guard)
	if err != nil {
		return fmt.Errorf("read %s: skip_rows: %w", name, err)
	}
	cr := csv.NewReader(br)
	cr.Comma, cr.LazyQuotes, cr.FieldsPerRecord, cr.ReuseRecord = delim, in.Bool("lazy_quotes"), -1, true
	// line is the file's line number of a row's start, counting skipped lines.
	line := func(field int) int {
		l, _ := cr.FieldPos(field)
		return l + skipped
	}
	explain := func(err error) error {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			hint := ""
			if errors.Is(pe.Err, csv.ErrBareQuote) || errors.Is(pe.Err, csv.ErrQuote) {
				hint = " (set lazy_quotes to accept such quotes)"
			}
			return fmt.Errorf("parse %s: line %d, column %d: %w%s", name, pe.Line+skipped, pe.Column, pe.Err, hint)
		}
		if errors.Is(err, errRowTooLong) {
			return fmt.Errorf("parse %s: the row after byte %d is longer than %d MiB (a quote that is never closed?): %w", name, cr.InputOffset(), maxRowBytes>>20, err)
		}
		return fmt.Errorf("read %s: %w", name, err)
	}
	if in.Bool("header") {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil // an empty file has no rows
		}
		if err != nil {
			return explain(err)
		}
		guard.mark()
		if len(cols) == 0 {
			cols = make([]string, len(rec))
			for i, c := range rec {
				if c == "" {
					return fmt.Errorf("parse %s: line %d: the header's field %d has no name; give columns", name, line(0), i+1)
				}
				cols[i] = c
			}
			if err := checkNames(cols); err != nil {
				return fmt.Errorf("parse %s: line %d: the header row %w; give columns", name, line(0), err)
			}
		}
	}
	bad := int64(0)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return explain(err)
		}
		guard.mark()
		if len(rec) != len(cols) {
			if in.String("bad_rows") == "skip" {
				bad++
				env.Log().WarnContext(ctx, "csv.parse skipped a row with the wrong number of fields", "file", name, "line", line(0), "fields", len(rec), "want", len(cols))
				continue
			}
			return fmt.Errorf("parse %s: line %d has %d fields, want %d (%s); fix the file, or set bad_rows: skip", name, line(0), len(rec), len(cols), fieldsOf(in))
		}
		b := make(module.Bundle, len(cols))
		for i, c := range cols {
			b[c] = rec[i]
		}
		if err := emit(b); err != nil {
			return err
		}
	}
	if bad > 0 {
		env.Log().WarnContext(ctx, "csv.parse skipped rows", "file", name, "rows", bad)
	}
	return nil
}

// fieldsOf says where the expected count of fields comes from.
func fieldsOf(in module.Values) string {
	if len(in.List("columns")) > 0 {
		return "the columns given"
	}
	return "the header row's"
}

// skipBOM drops a UTF-8 byte order mark at the start: spreadsheets write
// one, and it would become part of the first field's name.
func skipBOM(br *bufio.Reader) error {
	head, err := br.Peek(3)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return err
	}
	if bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}) {
		br.Discard(3)
	}
	return nil
}

// skipLines reads past n lines without holding one whole, and returns how
// many it skipped.
func skipLines(br *bufio.Reader, n int64, guard *rowGuard) (int, error) {
	for i := int64(0); i < n; i++ {
		for {
			_, err := br.ReadSlice('\n')
			if err == bufio.ErrBufferFull {
				continue
			}
			if err == io.EOF {
				return int(i), nil
			}
			if err != nil {
				return int(i), err
			}
			break
		}
		guard.mark()
	}
	return int(n), nil
}

var errRowTooLong = errors.New("row too long")

// rowGuard fails a read once more than maxRowBytes (plus the readers'
// buffers) have been read since the last complete row.
type rowGuard struct {
	r       io.Reader
	n, last int64
}

func (g *rowGuard) Read(p []byte) (int, error) {
	if g.n-g.last > maxRowBytes {
		return 0, errRowTooLong
	}
	n, err := g.r.Read(p)
	g.n += int64(n)
	return n, err
}

func (g *rowGuard) mark() { g.last = g.n }
