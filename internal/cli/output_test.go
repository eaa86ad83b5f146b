package cli

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/module"
)

var (
	testOutputs = []module.Output{{Name: "key"}, {Name: "size"}, {Name: "lastModified"}, {Name: "metadata"}}
	berlin      = time.FixedZone("CET", 3600)
	// Two bundles: declared fields in another order than declared, an
	// undeclared one, a time outside UTC, a zero time, a map, text that
	// would break a table row, and characters HTML would escape.
	testBundles = []module.Bundle{
		{"size": int64(102), "key": "reports/a.csv", "lastModified": time.Date(2026, 11, 24, 10, 30, 0, 500, berlin),
			"metadata": map[string]string{"owner": "ana"}, "zeta": true},
		{"metadata": map[string]string{}, "key": "notes/<b>&\tc\nd.txt", "size": int64(0), "lastModified": time.Time{}},
	}
)

func TestPrinterFormats(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		format  string
		bundles []module.Bundle
		want    string
	}{
		{formatJSONL, testBundles, `{"key":"reports/a.csv","size":102,"lastModified":"2026-11-24T09:30:00.0000005Z","metadata":{"owner":"ana"},"zeta":true}
{"key":"notes/<b>&\tc\nd.txt","size":0,"lastModified":null,"metadata":{}}
`},
		{formatJSON, testBundles, `[
  {"key":"reports/a.csv","size":102,"lastModified":"2026-11-24T09:30:00.0000005Z","metadata":{"owner":"ana"},"zeta":true},
  {"key":"notes/<b>&\tc\nd.txt","size":0,"lastModified":null,"metadata":{}}
]
`},
		// Undeclared fields are left out of tables; times are to the second.
		{formatTable, testBundles, `KEY                 SIZE  LASTMODIFIED          METADATA
reports/a.csv       102   2026-11-24T09:30:00Z  {"owner":"ana"}
notes/<b>& c d.txt  0
`},
		{formatJSONL, nil, ""},
		{formatJSON, nil, "[]\n"},
		// A table of nothing is its header: the columns are still named.
		{formatTable, nil, "KEY  SIZE  LASTMODIFIED  METADATA\n"},
	} {
		t.Run(fmt.Sprintf("%s/%d", tt.format, len(tt.bundles)), func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			p, err := newPrinter(&buf, tt.format, testOutputs, false)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range tt.bundles {
				if err := p.Print(b); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			got := buf.String()
			if tt.format == formatTable {
				// tabwriter pads the cells before an empty last one.
				got = trimLineEnds(got)
			}
			if got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func trimLineEnds(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

func TestPrinterRefusesUnknownFormat(t *testing.T) {
	t.Parallel()
	_, err := newPrinter(&bytes.Buffer{}, "yaml", testOutputs, false)
	var usage *usageError
	if !errors.As(err, &usage) {
		t.Fatalf("newPrinter(yaml) = %v, want a usage error", err)
	}
}

// TestPrinterLongTable: a long table streams in chunks, with the header
// once at the top.
func TestPrinterLongTable(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	p, err := newPrinter(&buf, formatTable, []module.Output{{Name: "n"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	rows := 2*tableFlushRows + 5
	for i := range rows {
		if err := p.Print(module.Bundle{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != rows+1 || lines[0] != "N" || strings.Count(buf.String(), "N\n") != 1 {
		t.Errorf("%d lines, first %q; want %d rows under one header", len(lines), lines[0], rows)
	}
	if lines[len(lines)-1] != fmt.Sprint(rows-1) {
		t.Errorf("last line %q", lines[len(lines)-1])
	}
}

// TestOutputFormatDefault: a table on a terminal, JSON lines in a pipe,
// whatever --output says otherwise.
func TestOutputFormatDefault(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		tty    bool
		output string
		want   string
	}{
		{false, "", formatJSONL},
		{true, "", formatTable},
		{true, formatJSON, formatJSON},
		{false, formatTable, formatTable},
	} {
		a := &app{io: &IOStreams{OutTTY: tt.tty}, output: tt.output}
		if got := a.outputFormat(); got != tt.want {
			t.Errorf("tty=%v --output=%q: %s, want %s", tt.tty, tt.output, got, tt.want)
		}
	}
}

func TestCell(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		v    any
		want string
	}{
		{nil, ""},
		{"a\tb\r\nc", "a b  c"},
		{int64(7), "7"},
		{true, "true"},
		{time.Date(2026, 1, 2, 3, 4, 5, 999, berlin), "2026-01-02T02:04:05Z"},
		{time.Time{}, ""},
		{map[string]string{}, ""},
		{map[string]string{"b": "2", "a": "<1>"}, `{"a":"<1>","b":"2"}`},
		{map[string]any{"n": 1}, `{"n":1}`},
		{[]any{"x", 1}, `["x",1]`},
		{time.Second, "1s"}, // a Stringer
	} {
		if got := cell(tt.v); got != tt.want {
			t.Errorf("cell(%#v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

// TestTerminalOutputShape: on a terminal, a module's one result is written
// one "field: value" line each, since a table row of a dozen fields is
// wider than the terminal; a listing stays a table, whatever its length;
// an explicit --output and a pipe are left alone.
func TestTerminalOutputShape(t *testing.T) {
	setup(t)
	info := []string{"s3", "get-file-info", "-c", "local", "--bucket", "demo", "--path", "reports/q3.csv"}
	one := []string{"s3", "list-files", "-c", "local", "--bucket", "demo", "--prefix", "work"}
	for _, tt := range []struct {
		name string
		tty  bool
		args []string
		want *regexp.Regexp
	}{
		{"one result on a terminal", true, info,
			regexp.MustCompile(`(?s)\Abucket: +demo\nkey: +reports/q3.csv\nsize: +\d+\n.*\nmetadata:\nstorageClass: +STANDARD\n.*\z`)},
		{"one result with --output table, not a terminal", false, append(info, "-o", "table"),
			regexp.MustCompile(`\ABUCKET  KEY  +SIZE  .*\ndemo    reports/q3.csv  `)},
		{"one result with --output jsonl on a terminal", true, append(info, "-o", "jsonl"),
			regexp.MustCompile(`\A\{"bucket":"demo","key":"reports/q3.csv",.*\}\n\z`)},
		{"a listing of one on a terminal", true, one,
			regexp.MustCompile(`\AKEY  +SIZE  +LASTMODIFIED  +ETAG  +STORAGECLASS\nwork/settings.json  `)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			io, out, errOut := TestIO("")
			io.OutTTY = tt.tty
			if code := run(t.Context(), io, tt.args); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if !tt.want.MatchString(out.String()) {
				t.Errorf("stdout:\n%s\nwant it to match %s", out, tt.want)
			}
		})
	}
}

// TestCellMapsAsJSON: a table cell holding a map or list of any element
// type (a run's bundle counts) reads as JSON, not as Go's map[a:1].
func TestCellMapsAsJSON(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		v    any
		want string
	}{
		{map[string]int64{"copies": 1, "list": 2}, `{"copies":1,"list":2}`},
		{[]string{"a", "b"}, `["a","b"]`},
		{map[string]any{"x": true}, `{"x":true}`},
		{int64(7), "7"},
	} {
		if got := cell(tt.v); got != tt.want {
			t.Errorf("cell(%#v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

// A value JSON cannot hold fails its bundle with the field's name, and
// nothing of that bundle is written: the bundles around it stay whole.
func TestPrinterEncodeError(t *testing.T) {
	t.Parallel()
	for _, format := range []string{formatJSONL, formatJSON} {
		var buf bytes.Buffer
		p, err := newPrinter(&buf, format, testOutputs, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range []module.Bundle{{"key": "bad", "size": math.NaN()}, {"key": "a", "size": int64(1)}, {"key": "bad", "size": math.Inf(1)}} {
			err := p.Print(b)
			if b["key"] == "bad" && (err == nil || !strings.Contains(err.Error(), "encode size")) {
				t.Errorf("%s: got %v, want an error naming the field", format, err)
			}
		}
		if err := p.Print(module.Bundle{"key": "b", "size": int64(2)}); err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			formatJSONL: "{\"key\":\"a\",\"size\":1}\n{\"key\":\"b\",\"size\":2}\n",
			formatJSON:  "[\n  {\"key\":\"a\",\"size\":1},\n  {\"key\":\"b\",\"size\":2}\n]\n",
		}[format]
		if got := buf.String(); got != want {
			t.Errorf("%s: got\n%q\nwant\n%q", format, got, want)
		}
	}
}
