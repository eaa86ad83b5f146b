package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/s3flow/s3flow/internal/module"
)

// Output formats.
const (
	formatTable = "table"
	formatJSON  = "json"
	formatJSONL = "jsonl"
)

var formats = []string{formatTable, formatJSON, formatJSONL}

// printer writes bundles as they arrive: a table for people, JSON for
// programs. Fields are written in their declared order. A table of no rows
// is its header. A module's one result on a terminal is written one
// "field: value" line each (vertical): a table row of a dozen fields is
// wider than any terminal.
type printer struct {
	w        *batchWriter
	format   string
	fields   []string
	vertical bool
	// failed is set when the command failed: no rows then is no empty
	// listing, and gets no header.
	failed bool

	rows int
	tw   *tabwriter.Writer

	// For JSON: one buffer and encoder for every bundle, the declared
	// fields' keys encoded once. A listing prints tens of thousands of
	// bundles.
	buf      bytes.Buffer
	enc      *json.Encoder
	declared map[string][]byte
}

// tableFlushRows bounds how many rows a table holds in memory to align
// its columns; a listing of any length streams in chunks of this size.
const tableFlushRows = 1000

// newPrinter prints the outputs in format; vertical asks for one result's
// fields one per line in table format (see printer).
func newPrinter(w io.Writer, format string, outputs []module.Output, vertical bool) (*printer, error) {
	if !slices.Contains(formats, format) {
		return nil, usagef("--output must be one of %s, got %q", strings.Join(formats, ", "), format)
	}
	var fields []string
	for _, o := range outputs {
		if !o.FlowOnly {
			fields = append(fields, o.Name)
		}
	}
	return &printer{w: newBatchWriter(w), format: format, fields: fields, vertical: vertical && format == formatTable}, nil
}

// Print writes one bundle.
func (p *printer) Print(b module.Bundle) error {
	err := p.print(b)
	if err == nil {
		// Only what was written counts: a JSON array's first element is
		// the first one written.
		p.rows++
	}
	return err
}

func (p *printer) print(b module.Bundle) error {
	switch p.format {
	case formatJSONL:
		p.buf.Reset()
		if err := p.marshal(b); err != nil {
			return err
		}
		p.buf.WriteByte('\n')
		_, err := p.w.Write(p.buf.Bytes())
		return err
	case formatJSON:
		p.buf.Reset()
		if p.rows == 0 {
			p.buf.WriteString("[\n  ")
		} else {
			p.buf.WriteString(",\n  ")
		}
		if err := p.marshal(b); err != nil {
			return err
		}
		_, err := p.w.Write(p.buf.Bytes())
		return err
	}
	if p.vertical {
		return p.printVertical(b)
	}
	if p.tw == nil || p.rows%tableFlushRows == 0 {
		if err := p.flushTable(); err != nil {
			return err
		}
		p.tw = tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
		if p.rows == 0 {
			fmt.Fprintln(p.tw, strings.ToUpper(strings.Join(p.fields, "\t")))
		}
	}
	cells := make([]string, len(p.fields))
	for i, f := range p.fields {
		cells[i] = cell(b[f])
	}
	_, err := fmt.Fprintln(p.tw, strings.Join(cells, "\t"))
	return err
}

// printVertical writes one "field:  value" line per field, the values
// aligned; results after the first are set apart by a blank line.
func (p *printer) printVertical(b module.Bundle) error {
	width := 0
	for _, f := range p.fields {
		width = max(width, len(f)+1)
	}
	var buf bytes.Buffer
	if p.rows > 0 {
		buf.WriteByte('\n')
	}
	for _, f := range p.fields {
		line := fmt.Sprintf("%-*s  %s", width, f+":", cell(b[f]))
		buf.WriteString(strings.TrimRight(line, " "))
		buf.WriteByte('\n')
	}
	_, err := p.w.Write(buf.Bytes())
	return err
}

func (p *printer) flushTable() error {
	if p.tw == nil {
		return nil
	}
	return p.tw.Flush()
}

// Flush writes what the printer holds: before something else is written
// to the same stream.
func (p *printer) Flush() error {
	return errors.Join(p.flushTable(), p.w.Flush())
}

// Close ends the output (the closing bracket of a JSON array) and writes
// what the printer holds.
func (p *printer) Close() error {
	return errors.Join(p.end(), p.w.Close())
}

func (p *printer) end() error {
	switch p.format {
	case formatJSON:
		end := "\n]\n"
		if p.rows == 0 {
			end = "[]\n"
		}
		_, err := io.WriteString(p.w, end)
		return err
	case formatTable:
		if p.rows == 0 && !p.vertical && !p.failed {
			// No rows: the header still says what would have been listed.
			_, err := fmt.Fprintln(p.w, strings.ToUpper(strings.Join(p.fields, "  ")))
			return err
		}
		return p.flushTable()
	}
	return nil
}

// marshal appends b to p.buf as a JSON object: the declared fields in
// order, then any others sorted.
func (p *printer) marshal(b module.Bundle) error {
	if p.enc == nil {
		p.enc = json.NewEncoder(&p.buf)
		p.enc.SetEscapeHTML(false)
		p.declared = map[string][]byte{}
		for _, f := range p.fields {
			p.declared[f], _ = encodeJSON(f)
		}
	}
	// encode appends v; Encode writes nothing when it fails, and a newline
	// after the value.
	encode := func(v any) error {
		if err := p.enc.Encode(v); err != nil {
			return err
		}
		p.buf.Truncate(p.buf.Len() - 1)
		return nil
	}
	p.buf.WriteByte('{')
	first, seen := true, 0
	field := func(k string, v any) error {
		if !first {
			p.buf.WriteByte(',')
		}
		first = false
		if kb, ok := p.declared[k]; ok {
			p.buf.Write(kb)
		} else if err := encode(k); err != nil {
			return fmt.Errorf("encode %s: %w", k, err)
		}
		p.buf.WriteByte(':')
		if err := encode(jsonValue(v)); err != nil {
			return fmt.Errorf("encode %s: %w", k, err)
		}
		return nil
	}
	for _, k := range p.fields {
		if v, ok := b[k]; ok {
			seen++
			if err := field(k, v); err != nil {
				return err
			}
		}
	}
	if len(b) > seen {
		var extra []string
		for k := range b {
			if _, ok := p.declared[k]; !ok {
				extra = append(extra, k)
			}
		}
		slices.Sort(extra)
		for _, k := range extra {
			if err := field(k, b[k]); err != nil {
				return err
			}
		}
	}
	p.buf.WriteByte('}')
	return nil
}

// jsonValue writes times in UTC; a zero time (never verified, say) is null.
func jsonValue(v any) any {
	if t, ok := v.(time.Time); ok {
		if t.IsZero() {
			return nil
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	return v
}

// encodeJSON is json.Marshal without HTML escaping: an XML body reads
// "<Error>", not "\u003cError\u003e".
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return strings.NewReplacer("\t", " ", "\r", " ", "\n", " ").Replace(x)
	case time.Time:
		if x.IsZero() {
			return ""
		}
		return x.UTC().Format(time.RFC3339)
	case map[string]string:
		if len(x) == 0 {
			return ""
		}
	}
	if s, ok := v.(fmt.Stringer); ok {
		return s.String()
	}
	// Maps and lists of any element type (a run's bundle counts) as
	// JSON, never Go's map[a:1] notation.
	switch reflect.ValueOf(v).Kind() {
	case reflect.Map, reflect.Slice, reflect.Array:
		b, _ := encodeJSON(v)
		return string(b)
	}
	return fmt.Sprint(v)
}
