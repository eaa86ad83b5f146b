package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3test"
)

// parse runs m over text given as a file reference and returns the
// bundles it emitted.
func parse(t testing.TB, m *module.Module, name, text string, with map[string]any) ([]module.Bundle, error) {
	t.Helper()
	raw := map[string]any{"file": &module.BytesFile{FileName: name, Data: []byte(text)}}
	for k, v := range with {
		raw[k] = v
	}
	return execRaw(t, m, raw, module.Env{})
}

func execRaw(t testing.TB, m *module.Module, raw map[string]any, env module.Env) ([]module.Bundle, error) {
	t.Helper()
	in, err := m.Check(raw)
	if err != nil {
		return nil, err
	}
	var got []module.Bundle
	err = m.Exec(context.Background(), env, in, func(b module.Bundle) error {
		got = append(got, b)
		return nil
	})
	return got, err
}

func rows(rs ...map[string]any) []module.Bundle {
	out := make([]module.Bundle, len(rs))
	for i, r := range rs {
		out[i] = r
	}
	return out
}

func TestCSVParse(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, text string
		with       map[string]any
		want       []module.Bundle
	}{
		{"header", "date,amount\n2026-12-01,3\n2026-12-02,4\n", nil,
			rows(map[string]any{"date": "2026-12-01", "amount": "3"}, map[string]any{"date": "2026-12-02", "amount": "4"})},
		{"no trailing newline, CRLF", "a,b\r\n1,2", nil, rows(map[string]any{"a": "1", "b": "2"})},
		{"BOM stripped", "\ufeffid,name\n7,Ana\n", nil, rows(map[string]any{"id": "7", "name": "Ana"})},
		{"semicolon", "a;b\n\"x;y\";2\n", map[string]any{"delimiter": ";"}, rows(map[string]any{"a": "x;y", "b": "2"})},
		{"tab", "a\tb\n1\t2\n", map[string]any{"delimiter": "tab"}, rows(map[string]any{"a": "1", "b": "2"})},
		{"quoted newline", "a,b\n\"line 1\nline 2\",x\n", nil, rows(map[string]any{"a": "line 1\nline 2", "b": "x"})},
		{"columns over the header", "A,B\n1,2\n", map[string]any{"columns": []any{"x", "y"}}, rows(map[string]any{"x": "1", "y": "2"})},
		{"no header", "1,2\n3,4\n", map[string]any{"header": false, "columns": []any{"x", "y"}},
			rows(map[string]any{"x": "1", "y": "2"}, map[string]any{"x": "3", "y": "4"})},
		{"skip rows", "Report for December\n\"not \"csv\nid\n1\n", map[string]any{"skip_rows": 2}, rows(map[string]any{"id": "1"})},
		{"lazy quotes", "a,b\nsay \"hi\",2\n", map[string]any{"lazy_quotes": true}, rows(map[string]any{"a": "say \"hi\"", "b": "2"})},
		{"skip bad rows", "a,b\n1,2\n3\n4,5,6\n7,8\n", map[string]any{"bad_rows": "skip"},
			rows(map[string]any{"a": "1", "b": "2"}, map[string]any{"a": "7", "b": "8"})},
		{"empty file", "", nil, nil},
		{"header only", "a,b\n", nil, nil},
		{"utf-8", "名前,都市\n太郎,東京\n", nil, rows(map[string]any{"名前": "太郎", "都市": "東京"})},
	} {
		got, err := parse(t, CSVParse, "x.csv", c.text, c.with)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestCSVParseErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, text string
		with       map[string]any
		want       string
	}{
		{"too few fields", "a,b\n1,2\n3\n", nil, "x.csv: line 3 has 1 fields, want 2"},
		{"too many after skipped lines", "title\na,b\n1,2,3\n", map[string]any{"skip_rows": 1}, "line 3 has 3 fields, want 2"},
		{"bare quote", "a,b\nsay \"hi\",2\n", nil, "line 2, column 5"},
		{"unclosed quote", "a,b\n\"open,2\n", nil, "lazy_quotes"},
		{"duplicate header", "a,a\n1,2\n", nil, `line 1: the header row names "a" twice`},
		{"empty header name", "a,,c\n1,2,3\n", nil, "field 2 has no name"},
	} {
		_, err := parse(t, CSVParse, "x.csv", c.text, c.with)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
}

func TestCSVParseLongRow(t *testing.T) {
	t.Parallel()
	text := "a,b\n\"" + strings.Repeat("x", maxRowBytes+(256<<10))
	_, err := parse(t, CSVParse, "x.csv", text, nil)
	if err == nil || !strings.Contains(err.Error(), "longer than 4 MiB") {
		t.Fatalf("error %v, want the row limit", err)
	}
}

func TestParseInputErrors(t *testing.T) {
	t.Parallel()
	f := &module.BytesFile{FileName: "x.csv"}
	for _, c := range []struct {
		m     *module.Module
		in    map[string]any
		field string
	}{
		{CSVParse, map[string]any{"file": f, "delimiter": ";;"}, "delimiter"},
		{CSVParse, map[string]any{"file": f, "delimiter": ""}, "delimiter"},
		{CSVParse, map[string]any{"file": f, "delimiter": `"`}, "delimiter"},
		{CSVParse, map[string]any{"file": f, "delimiter": "\n"}, "delimiter"},
		{CSVParse, map[string]any{"file": f, "header": false}, "columns"},
		{CSVParse, map[string]any{"file": f, "columns": []any{"a", "a"}}, "columns"},
		{CSVParse, map[string]any{"file": f, "bad_rows": "ignore"}, "bad_rows"},
		{CSVParse, map[string]any{"file": f, "skip_rows": -1}, "skip_rows"},
		{CSVParse, map[string]any{}, "bucket"},
		{CSVParse, map[string]any{"bucket": "b"}, "path"},
		{CSVParse, map[string]any{"bucket": "b", "path": "a/"}, "path"},
		{CSVParse, map[string]any{"bucket": "b", "path": "a.csv", "file": f}, "file"},
		{JSONParse, map[string]any{"file": f, "select": "a..b"}, "select"},
		{JSONParse, map[string]any{"file": f, "format": "xml"}, "format"},
		{JSONParse, map[string]any{"file": &module.BytesFile{FileName: "x.jsonl"}, "select": "items"}, "select"},
		{CSVWrite, map[string]any{"from": "list", "name": "../x.csv"}, "name"},
		{CSVWrite, map[string]any{"from": "list", "delimiter": "ab"}, "delimiter"},
	} {
		_, err := c.m.Check(c.in)
		var ie *module.InputError
		if !errors.As(err, &ie) || ie.Field != c.field {
			t.Errorf("%s %v: error %v, want one naming %s", c.m.Name, c.in, err, c.field)
		}
	}
}

func TestJSONParse(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, file, text string
		with             map[string]any
		want             []module.Bundle
	}{
		{"array of objects", "x.json", `[{"id": 1, "name": "Ana"}, {"id": 2.5, "tags": ["a"]}]`, nil,
			rows(map[string]any{"id": int64(1), "name": "Ana"}, map[string]any{"id": 2.5, "tags": []any{"a"}})},
		{"scalars", "x.json", `[1, "two", null, true]`, nil,
			rows(map[string]any{"value": int64(1)}, map[string]any{"value": "two"}, map[string]any{"value": nil}, map[string]any{"value": true})},
		{"select", "x.json", `{"meta": {"skip": [1, {"deep": [2]}]}, "data": {"n": 2, "records": [{"a": 1}, {"a": 2}]}, "after": 1}`,
			map[string]any{"select": "data.records"}, rows(map[string]any{"a": int64(1)}, map[string]any{"a": int64(2)})},
		{"one object", "x.json", `{"a": {"b": 1}}`, nil, rows(map[string]any{"a": map[string]any{"b": int64(1)}})},
		{"big integer stays whole", "x.json", `[{"id": 9007199254740993}]`, nil, rows(map[string]any{"id": int64(9007199254740993)})},
		{"jsonl by extension", "x.jsonl", "{\"a\": 1}\n\n{\"a\": 2}\r\n3\n", nil,
			rows(map[string]any{"a": int64(1)}, map[string]any{"a": int64(2)}, map[string]any{"value": int64(3)})},
		{"jsonl by format", "x.txt", "{\"a\": 1}", map[string]any{"format": "jsonl"}, rows(map[string]any{"a": int64(1)})},
		{"empty array", "x.json", `[]`, nil, nil},
	} {
		got, err := parse(t, JSONParse, c.file, c.text, c.with)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.name, got, c.want)
		}
	}
}

func TestJSONParseErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, file, text string
		with             map[string]any
		want             string
	}{
		{"broken element", "x.json", `[{"a": 1}, {"a": }]`, nil, "invalid JSON after byte 16"},
		{"cut short", "x.json", `[{"a": 1}, {"a"`, nil, "ends early"},
		{"broken after the array", "x.json", `{"items": [1], "x": }`, map[string]any{"select": "items"}, "invalid JSON after byte 20"},
		{"no such key", "x.json", `{"data": {"rows": []}}`, map[string]any{"select": "data.records"}, `data has no key "records"`},
		{"not an object on the way", "x.json", `{"data": [1]}`, map[string]any{"select": "data.records"}, "data is a list, not an object"},
		{"selected is no list", "x.json", `{"data": "x"}`, map[string]any{"select": "data"}, "select data is text, not a list"},
		{"trailing data", "x.json", `{"a": 1} {"b": 2}`, nil, "more data after the document's end"},
		{"jsonl line", "x.jsonl", "{\"a\": 1}\n{\"a\": 1,}\n", nil, "line 2: invalid JSON at column 9"},
		{"jsonl two values", "x.jsonl", "1 2\n", nil, "line 1: more than one value"},
	} {
		got, err := parse(t, JSONParse, c.file, c.text, c.with)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v (bundles %v), want one saying %q", c.name, err, got, c.want)
		}
	}
}

// pipeFile is a file whose data a test writes while the module reads it.
type pipeFile struct{ r *io.PipeReader }

func (p pipeFile) Name() string                 { return "live.csv" }
func (p pipeFile) Size() int64                  { return -1 }
func (p pipeFile) Open() (io.ReadCloser, error) { return p.r, nil }

// TestParseStreams shows rows go on as they are read: the first row's
// bundle is emitted while the rest of the file is not yet written.
func TestParseStreams(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		m           *module.Module
		first, rest string
		with        map[string]any
	}{
		{CSVParse, "a,b\n1,2\n", "3,4\n", nil},
		{JSONParse, `{"x": 0, "items": [{"a": 1},`, ` {"a": 2}]}`, map[string]any{"select": "items"}},
		{JSONParse, "{\"a\": 1}\n", "{\"a\": 2}\n", map[string]any{"format": "jsonl"}},
	} {
		pr, pw := io.Pipe()
		raw := map[string]any{"file": pipeFile{pr}}
		for k, v := range c.with {
			raw[k] = v
		}
		in, err := c.m.Check(raw)
		if err != nil {
			t.Fatal(err)
		}
		go pw.Write([]byte(c.first))
		n := 0
		err = c.m.Exec(context.Background(), module.Env{}, in, func(b module.Bundle) error {
			n++
			if n == 1 {
				// Only now is the rest written: a module that read the
				// whole file first would never get here.
				go func() {
					pw.Write([]byte(c.rest))
					pw.Close()
				}()
			}
			return nil
		})
		if err != nil || n != 2 {
			t.Errorf("%s: %d bundles, %v; want 2", c.m.Name, n, err)
		}
	}
}

// TestCSVWriteReadBack: what csv.write writes, csv.parse reads back.
func TestCSVWriteReadBack(t *testing.T) {
	t.Parallel()
	c, err := CSVWrite.Collect(context.Background(), module.Env{SpoolDir: t.TempDir()}, module.Values{"name": "m.csv", "delimiter": ",", "header": true})
	if err != nil {
		t.Fatal(err)
	}
	for _, item := range []map[string]any{
		{"key": "a.csv", "size": int64(3), "note": "has, comma"},
		{"key": "b.csv", "size": int64(4), "extra": "x"},
	} {
		if err := c.Add(item); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.Close()
	if err != nil {
		t.Fatal(err)
	}
	f := got["file"].(module.File)
	r, _ := f.Open()
	data, _ := io.ReadAll(r)
	r.Close()
	want := "key,note,size,extra\na.csv,\"has, comma\",3,\nb.csv,,4,x\n"
	if string(data) != want || got["rows"] != int64(2) || got["size"] != int64(len(want)) {
		t.Errorf("wrote %q (%v), want %q", data, got, want)
	}
	back, err := execRaw(t, CSVParse, map[string]any{"file": f}, module.Env{})
	if err != nil || len(back) != 2 || back[0]["note"] != "has, comma" || back[1]["extra"] != "x" {
		t.Errorf("csv.parse read back %v, %v", back, err)
	}
}

// TestParseObjects reads objects the aws CLI uploaded, on every server.
func TestParseObjects(t *testing.T) {
	var csvText strings.Builder
	csvText.WriteString("\ufeffid;city\n")
	for i := range 5000 {
		fmt.Fprintf(&csvText, "%d;\"Lis;boa %d\"\n", i, i)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "cities.csv"), []byte(csvText.String()), 0o600)
	os.WriteFile(filepath.Join(dir, "rows.jsonl"), []byte("{\"n\": 1}\n{\"n\": 2}\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "doc.json"), []byte(`{"data": {"records": [{"n": 1}, {"n": 2}, {"n": 3}]}}`), 0o600)
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			tg.AWS(t, "s3", "cp", "--recursive", "--only-show-errors", dir, "s3://"+bucket+"/in/")
			env := module.Env{Connection: &tg.Conn}
			got, err := execRaw(t, CSVParse, map[string]any{"bucket": bucket, "path": "/in/cities.csv", "delimiter": ";"}, env)
			if err != nil || len(got) != 5000 || got[4999]["city"] != "Lis;boa 4999" || got[0]["id"] != "0" {
				t.Fatalf("csv: %d rows, last %v, %v", len(got), got[len(got)-1:], err)
			}
			got, err = execRaw(t, JSONParse, map[string]any{"bucket": bucket, "path": "in/rows.jsonl"}, env)
			if err != nil || len(got) != 2 || got[1]["n"] != int64(2) {
				t.Fatalf("jsonl: %v, %v", got, err)
			}
			got, err = execRaw(t, JSONParse, map[string]any{"bucket": bucket, "path": "in/doc.json", "select": "data.records"}, env)
			if err != nil || len(got) != 3 {
				t.Fatalf("json: %v, %v", got, err)
			}
			_, err = execRaw(t, CSVParse, map[string]any{"bucket": bucket, "path": "in/missing.csv"}, env)
			if err == nil || !strings.Contains(err.Error(), "in/missing.csv") {
				t.Errorf("a missing object: %v", err)
			}
		})
	}
}

func FuzzCSVParse(f *testing.F) {
	for _, s := range []string{"a,b\n1,2\n", "\ufeffa\n\"x\"\"y\"\n", "a,b\n\"open\n", "a;b\n1;2", ""} {
		f.Add(s, ",", false)
	}
	f.Fuzz(func(t *testing.T, text, delim string, lazy bool) {
		in, err := CSVParse.Check(map[string]any{"file": &module.BytesFile{FileName: "f.csv", Data: []byte(text)}, "delimiter": delim, "lazy_quotes": lazy})
		if err != nil {
			return
		}
		// Any input ends in bundles or an error, never a panic or a hang.
		CSVParse.Exec(context.Background(), module.Env{}, in, func(module.Bundle) error { return nil })
	})
}

func FuzzJSONParse(f *testing.F) {
	for _, s := range []string{`[1,{"a":2}]`, `{"d":{"r":[1]}}`, "{\"a\":1}\n2\n", `[`, `{"a":`} {
		f.Add(s, "d.r", false)
	}
	f.Fuzz(func(t *testing.T, text, sel string, lines bool) {
		format := "json"
		if lines {
			format = "jsonl"
			sel = ""
		}
		in, err := JSONParse.Check(map[string]any{"file": &module.BytesFile{FileName: "f", Data: []byte(text)}, "select": sel, "format": format})
		if err != nil {
			return
		}
		JSONParse.Exec(context.Background(), module.Env{}, in, func(module.Bundle) error { return nil })
	})
}
