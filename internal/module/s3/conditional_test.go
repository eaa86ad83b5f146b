package s3

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3test"
)

// TestUploadConditions: "do not overwrite" and "only if unchanged" as
// explicit options, with a 412 put in words and the object left as it was.
func TestUploadConditions(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			bucket := tg.Bucket(t)
			dir := t.TempDir()
			write := func(content string) string {
				p := filepath.Join(dir, "doc.txt")
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
				return p
			}
			upload := func(content string, extra map[string]any) (module.Bundle, error) {
				raw := map[string]any{"bucket": bucket, "file": write(content)}
				for k, v := range extra {
					raw[k] = v
				}
				got, err := run(t, tg, UploadFile, raw)
				if err != nil {
					return nil, err
				}
				return got[0], nil
			}
			first, err := upload("one", map[string]any{"no_overwrite": true})
			if err != nil {
				t.Fatalf("no_overwrite on a new key: %v", err)
			}
			_, err = upload("two", map[string]any{"no_overwrite": true})
			if err == nil || !strings.Contains(err.Error(), "exists already and must not be overwritten") || !strings.Contains(err.Error(), "PreconditionFailed") {
				t.Fatalf("no_overwrite on an existing key: err = %v", err)
			}
			if got := get(t, tg, bucket, "doc.txt"); got != "one" {
				t.Fatalf("after a refused overwrite the object holds %q", got)
			}
			_, err = upload("three", map[string]any{"if_match": `"0123456789abcdef0123456789abcdef"`})
			if err == nil || !strings.Contains(err.Error(), "no longer has ETag") {
				t.Fatalf("if_match with a stale ETag: err = %v", err)
			}
			if _, err := upload("four", map[string]any{"if_match": first["etag"]}); err != nil {
				t.Fatalf("if_match with the current ETag: %v", err)
			}
			if got := get(t, tg, bucket, "doc.txt"); got != "four" {
				t.Fatalf("after if_match with the current ETag the object holds %q", got)
			}
			// Past conditionalSinglePutMax a conditional upload goes in
			// parts (a multipart ETag ends in -1), its condition checked
			// on completion, so a refusal is a 412, never a reset.
			big := strings.Repeat("b", 1<<20)
			made, err := upload(big, map[string]any{"no_overwrite": true, "name": "big.txt"})
			if err != nil {
				t.Fatalf("no_overwrite, 1 MiB, on a new key: %v", err)
			}
			if etag := made["etag"].(string); !strings.HasSuffix(strings.Trim(etag, `"`), "-1") {
				t.Errorf("1 MiB with no_overwrite has ETag %s: not uploaded in parts", etag)
			}
			_, err = upload(big, map[string]any{"no_overwrite": true, "name": "big.txt"})
			if err == nil || !strings.Contains(err.Error(), "exists already and must not be overwritten") {
				t.Fatalf("no_overwrite, 1 MiB, on an existing key: err = %v", err)
			}
		})
	}
}

func TestUploadConditionsConflict(t *testing.T) {
	_, err := UploadFile.Check(map[string]any{
		"bucket": "b", "file": &module.BytesFile{FileName: "x"}, "no_overwrite": true, "if_match": `"abc"`,
	})
	if err == nil || !strings.Contains(err.Error(), "cannot be combined") {
		t.Fatalf("no_overwrite with if_match: err = %v", err)
	}
	_, err = UploadFile.Check(map[string]any{
		"bucket": "b", "file": &module.BytesFile{FileName: "x"}, "no_overwrite": true,
		"headers": []module.Pair{{Name: "If-None-Match", Value: `"abc"`}},
	})
	if err == nil || !strings.Contains(err.Error(), "conflicts with the If-None-Match header") {
		t.Fatalf("no_overwrite with another If-None-Match: err = %v", err)
	}
}

// get reads an object's content through Get a file.
func get(t *testing.T, tg s3test.Target, bucket, key string) string {
	t.Helper()
	var out strings.Builder
	in, err := GetFile.Check(map[string]any{"bucket": bucket, "path": key, "out": "-"})
	if err != nil {
		t.Fatal(err)
	}
	if err := GetFile.Exec(t.Context(), module.Env{Files: module.AllLocalFiles(), Connection: &tg.Conn, Stdout: &out}, in, func(module.Bundle) error { return nil }); err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return out.String()
}

// TestGetFileRange: first-last, first-, -n, clamped to the object, and
// ranges that cannot be served refused in words.
func TestGetFileRange(t *testing.T) {
	const content = "0123456789abcdefghij"
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			bucket := tg.Bucket(t)
			src := filepath.Join(t.TempDir(), "r.txt")
			os.WriteFile(src, []byte(content), 0o644)
			if _, err := run(t, tg, UploadFile, map[string]any{"bucket": bucket, "file": src}); err != nil {
				t.Fatal(err)
			}
			for _, tt := range []struct{ rng, want string }{
				{"0-9", "0123456789"}, {"bytes=3-4", "34"}, {"15-", "fghij"}, {"-3", "hij"},
				{"10-500", "abcdefghij"}, {"-500", content},
			} {
				out := filepath.Join(t.TempDir(), "got")
				got, err := run(t, tg, GetFile, map[string]any{"bucket": bucket, "path": "r.txt", "range": tt.rng, "out": out})
				if err != nil {
					t.Fatalf("range %s: %v", tt.rng, err)
				}
				data, _ := os.ReadFile(out)
				if string(data) != tt.want || got[0]["size"] != int64(len(tt.want)) {
					t.Errorf("range %s: got %q (size %v), want %q", tt.rng, data, got[0]["size"], tt.want)
				}
			}
			out := filepath.Join(t.TempDir(), "none")
			_, err := run(t, tg, GetFile, map[string]any{"bucket": bucket, "path": "r.txt", "range": "20-", "out": out})
			if err == nil || !strings.Contains(err.Error(), "the object has 20 bytes") {
				t.Errorf("range past the end: err = %v", err)
			}
			if _, statErr := os.Stat(out); statErr == nil {
				t.Errorf("a refused range left a file")
			}
		})
	}
}

func TestParseRange(t *testing.T) {
	for _, tt := range []struct {
		in, want string // want: explicit range for a 100-byte object, or an error fragment
	}{
		{"0-9", "bytes=0-9"}, {"bytes=5-", "bytes=5-99"}, {"-10", "bytes=90-99"}, {"90-200", "bytes=90-99"},
		{"-200", "bytes=0-99"}, {"9-3", "ends before it starts"}, {"-", "is not a byte range"}, {"a-b", "is not a byte range"},
		{"-0", "asks for no bytes"}, {"100-", "starts at byte 100"}, {"1,2", "is not a byte range"},
	} {
		r, err := parseRange(tt.in)
		var got string
		if err == nil {
			got, err = r.explicit(100)
		}
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, tt.want) {
			t.Errorf("parseRange(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
