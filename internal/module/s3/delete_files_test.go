package s3

import (
	"context"
	"encoding/xml"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3test"
)

// opCounter is a slog handler that counts the client's "s3 request" debug
// lines by operation (DeleteObjects, UploadPartCopy, ...).
type opCounter struct {
	mu  sync.Mutex
	ops map[string]int
}

func (c *opCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *opCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "s3 request" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "op" {
			c.mu.Lock()
			if c.ops == nil {
				c.ops = map[string]int{}
			}
			c.ops[a.Value.String()]++
			c.mu.Unlock()
			return false
		}
		return true
	})
	return nil
}
func (c *opCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *opCounter) WithGroup(string) slog.Handler      { return c }

func (c *opCounter) count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ops[op]
}

func TestParseOlderThan(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want string // the cutoff in RFC 3339, or an error fragment
	}{
		{"720h", "2026-10-26T12:00:00Z"},
		{"90m", "2026-11-25T10:30:00Z"},
		{"30d", "2026-10-26T12:00:00Z"},
		{"1d12h", "2026-11-24T00:00:00Z"},
		{"0d1s", "2026-11-25T11:59:59Z"},
		{" 2h ", "2026-11-25T10:00:00Z"},
		{"2026-01-31", "2026-01-31T00:00:00Z"},
		{"2026-01-31T12:30:00Z", "2026-01-31T12:30:00Z"},
		{"2026-01-31T12:30:00+02:00", "2026-01-31T10:30:00Z"},
		{"2026-01-31T12:30:00.5Z", "2026-01-31T12:30:00.5Z"},
		{"2030-01-01", "2030-01-01T00:00:00Z"}, // the future: everything is older
		{"-1h", "is negative"},
		{"1d-1h", "is negative"},
		{"0s", "is no time at all"},
		{"0d", "is no time at all"},
		{"", "is no time at all"},
		{"1.5d", "neither a time nor a duration"},
		{"yesterday", "neither a time nor a duration"},
		{"30 days", "neither a time nor a duration"},
		{"2026-13-01", "neither a time nor a duration"},
		{"999999d", "too long ago"},
		{"100000d2562047h", "too long ago"},
	} {
		got, err := parseOlderThan(tt.in, now)
		s := got.UTC().Format(time.RFC3339Nano)
		if err != nil {
			s = err.Error()
		}
		if !strings.Contains(s, tt.want) {
			t.Errorf("parseOlderThan(%q) = %s, want %s", tt.in, s, tt.want)
		}
	}
}

func FuzzParseOlderThan(f *testing.F) {
	for _, s := range []string{"720h", "30d", "1d12h", "2026-01-31", "2026-01-31T12:30:00Z", "-1h", "99999d99999h"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseOlderThan(s, now)
		if err != nil {
			if !strings.Contains(err.Error(), "older_than") {
				t.Fatalf("error %v does not name the field", err)
			}
			return
		}
		// A duration always lies in the past.
		if _, perr := time.Parse(time.RFC3339, strings.TrimSpace(s)); perr != nil {
			if _, perr := time.Parse(time.DateOnly, strings.TrimSpace(s)); perr != nil && !got.Before(now) {
				t.Fatalf("parseOlderThan(%q) = %v, not before now", s, got)
			}
		}
	})
}

func seqOf(keys []string, failAt int) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		for i, k := range keys {
			if i == failAt {
				yield("", fmt.Errorf("bad line %d", i))
				return
			}
			if !yield(k, nil) {
				return
			}
		}
	}
}

func TestKeyBatches(t *testing.T) {
	t.Parallel()
	keys := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprint(i)
		}
		return out
	}
	for _, tt := range []struct {
		n, size, failAt int
		want            string
	}{
		{0, 3, -1, ""},
		{2, 3, -1, "[0 1]"},
		{3, 3, -1, "[0 1 2]"},
		{7, 3, -1, "[0 1 2] [3 4 5] [6]"},
		{2500, 1000, -1, "1000 1000 500"},
		{7, 3, 4, "[0 1 2] error: bad line 4"},
		{7, 3, 0, "error: bad line 0"},
	} {
		var got []string
		for batch, err := range keyBatches(seqOf(keys(tt.n), tt.failAt), tt.size) {
			switch {
			case err != nil:
				got = append(got, "error: "+err.Error())
			case tt.n > 100:
				got = append(got, fmt.Sprint(len(batch)))
			default:
				got = append(got, fmt.Sprint(batch))
			}
		}
		if s := strings.Join(got, " "); s != tt.want {
			t.Errorf("%d keys in batches of %d (fail at %d): %s, want %s", tt.n, tt.size, tt.failAt, s, tt.want)
		}
	}
}

// TestDeleteFilesChecks: inputs refused before any request.
func TestDeleteFilesChecks(t *testing.T) {
	t.Parallel()
	keysFile := writeFile(t, "keys.txt", []byte("a\nb\n"))
	for _, tt := range []struct {
		name string
		raw  map[string]any
		want string // "" means accepted
	}{
		{"prefix", map[string]any{"bucket": "b", "prefix": "logs"}, ""},
		{"whole bucket", map[string]any{"bucket": "b", "prefix": "/"}, ""},
		{"keys", map[string]any{"bucket": "b", "keys": []any{"a", "/b", 2026}}, ""},
		{"empty list", map[string]any{"bucket": "b", "keys": []any{}}, ""},
		{"keys file", map[string]any{"bucket": "b", "keys_file": keysFile}, ""},
		{"nothing", map[string]any{"bucket": "b"}, "give exactly one of keys, keys_file and prefix"},
		{"keys and prefix", map[string]any{"bucket": "b", "keys": []any{"a"}, "prefix": "logs"}, "prefix: give exactly one of keys, keys_file and prefix, not keys and prefix"},
		{"file and prefix", map[string]any{"bucket": "b", "keys_file": keysFile, "prefix": "logs"}, "not keys_file and prefix"},
		{"older_than with keys", map[string]any{"bucket": "b", "keys": []any{"a"}, "older_than": "30d"}, "older_than: works only with prefix"},
		{"bad older_than", map[string]any{"bucket": "b", "prefix": "x", "older_than": "soon"}, "older_than:"},
		{"keys not a list", map[string]any{"bucket": "b", "keys": "a"}, "keys: must be a list"},
		{"empty key", map[string]any{"bucket": "b", "keys": []any{"a", "/"}}, "keys: item 2"},
		{"key not text", map[string]any{"bucket": "b", "keys": []any{map[string]any{"k": 1}}}, "item 1 must be a path"},
		{"bad bucket", map[string]any{"bucket": "a b", "prefix": "x"}, "bucket:"},
	} {
		_, err := DeleteFiles.Check(tt.raw)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

// putMany uploads n small objects named fmt.Sprintf(format, i), 16 at a time.
func putMany(t *testing.T, tg s3test.Target, bucket, format string, n int) {
	t.Helper()
	keys := make([]string, n)
	for i := range n {
		keys[i] = fmt.Sprintf(format, i)
	}
	putKeysConcurrently(t, tg, bucket, keys)
}

// statuses counts bundles by status and checks each has all four fields.
func statuses(t *testing.T, bundles []module.Bundle) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, b := range bundles {
		for _, f := range []string{"key", "status", "code", "message"} {
			if _, ok := b[f].(string); !ok {
				t.Fatalf("bundle %v: %s is %T, want a string", b, f, b[f])
			}
		}
		n[b["status"].(string)]++
	}
	return n
}

// TestDeleteFilesPrefix deletes 2,500 objects under a prefix: a dry run
// first (nothing deleted, no DeleteObjects), then for real in batches of
// at most 1,000, leaving what lies outside the prefix; the aws CLI checks.
func TestDeleteFilesPrefix(t *testing.T) {
	const n = 2500
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			putMany(t, tg, bucket, "logs/2025/%d.log", n)
			seedObjects(t, tg, bucket, map[string]string{"logs/2026/keep.log": "k", "logs-2025/keep.log": "k", "keep.log": "k"})

			ops := &opCounter{}
			got, err := runEnv(t, tg, module.Env{Logger: slog.New(ops)}, DeleteFiles, map[string]any{"bucket": bucket, "prefix": "/logs/2025", "dry_run": true})
			if err != nil {
				t.Fatal(err)
			}
			if st := statuses(t, got); st[statusWouldDelete] != n || len(st) != 1 {
				t.Errorf("dry run: %v, want %d would-delete", st, n)
			}
			if ops.count("DeleteObjects") != 0 {
				t.Errorf("dry run sent %d DeleteObjects", ops.count("DeleteObjects"))
			}
			if listed := awsListing(t, tg, bucket, "logs/2025/"); len(listed) != n {
				t.Fatalf("after the dry run aws lists %d objects, want %d", len(listed), n)
			}

			ops = &opCounter{}
			got, err = runEnv(t, tg, module.Env{Logger: slog.New(ops)}, DeleteFiles, map[string]any{"bucket": bucket, "prefix": "logs/2025"})
			if err != nil {
				t.Fatal(err)
			}
			if st := statuses(t, got); st[statusDeleted] != n || len(st) != 1 {
				t.Errorf("%v, want %d deleted", st, n)
			}
			if d := ops.count("DeleteObjects"); d < 3 {
				t.Errorf("%d objects deleted in %d DeleteObjects requests; one holds at most 1,000", n, d)
			}
			seen := map[string]bool{}
			for _, b := range got {
				k := b["key"].(string)
				if seen[k] || !strings.HasPrefix(k, "logs/2025/") {
					t.Fatalf("bundle for %q: twice or outside the prefix", k)
				}
				seen[k] = true
			}
			if listed := awsListing(t, tg, bucket, "logs/2025/"); len(listed) != 0 {
				t.Errorf("aws still lists %d objects under logs/2025/, first %s", len(listed), listed[0].Key)
			}
			if keys := keysOf(awsListing(t, tg, bucket, "")); !slices.Equal(keys, []string{"keep.log", "logs-2025/keep.log", "logs/2026/keep.log"}) {
				t.Errorf("aws lists %q, want only the files outside the prefix", keys)
			}
		})
	}
}

// TestDeleteFilesNotRecursive: by default, as list-files, a prefix is one
// folder: its own files and its marker, not its subfolders'.
func TestDeleteFilesNotRecursive(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			seedObjects(t, tg, bucket, map[string]string{
				"work/": "", "work/a.csv": "a", "work/b.csv": "b", "work/sub/c.csv": "c", "workshop.csv": "w",
			})
			got, err := run(t, tg, DeleteFiles, map[string]any{"bucket": bucket, "prefix": "work"})
			if err != nil {
				t.Fatal(err)
			}
			var deleted []string
			for _, b := range got {
				deleted = append(deleted, b["key"].(string))
			}
			if want := []string{"work/", "work/a.csv", "work/b.csv"}; !slices.Equal(deleted, want) {
				t.Errorf("deleted %q, want %q (the folder marker too)", deleted, want)
			}
			if keys := keysOf(awsListing(t, tg, bucket, "")); !slices.Equal(keys, []string{"work/sub/c.csv", "workshop.csv"}) {
				t.Errorf("aws lists %q", keys)
			}
		})
	}
}

// TestDeleteFilesOlderThan puts files, waits past S3's one-second
// LastModified resolution, takes the cutoff, waits again and puts more:
// only the first ones are older.
func TestDeleteFilesOlderThan(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			seedObjects(t, tg, bucket, map[string]string{"tmp/old1": "1", "tmp/deep/old2": "2"})
			time.Sleep(1100 * time.Millisecond)
			cutoff := time.Now().UTC().Format(time.RFC3339Nano)
			time.Sleep(1100 * time.Millisecond)
			seedObjects(t, tg, bucket, map[string]string{"tmp/new1": "1", "tmp/deep/new2": "2"})

			// Nothing is an hour old.
			got, err := run(t, tg, DeleteFiles, map[string]any{"bucket": bucket, "prefix": "tmp", "recursive": true, "older_than": "1h"})
			if err != nil || len(got) != 0 {
				t.Fatalf("older_than 1h: %v, %v; want nothing", got, err)
			}
			got, err = run(t, tg, DeleteFiles, map[string]any{"bucket": bucket, "prefix": "tmp", "recursive": true, "older_than": cutoff})
			if err != nil {
				t.Fatal(err)
			}
			var deleted []string
			for _, b := range got {
				deleted = append(deleted, b["key"].(string))
			}
			if want := []string{"tmp/deep/old2", "tmp/old1"}; !slices.Equal(deleted, want) {
				t.Errorf("older than %s deleted %q, want %q", cutoff, deleted, want)
			}
			if keys := keysOf(awsListing(t, tg, bucket, "")); !slices.Equal(keys, []string{"tmp/deep/new2", "tmp/new1"}) {
				t.Errorf("aws lists %q, want the new files", keys)
			}
		})
	}
}

// TestDeleteFilesKeys deletes by list and by keys file: awkward keys, a
// leading slash, a key that does not exist (S3 calls that deleted) and a
// duplicate; the others stay.
func TestDeleteFilesKeys(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			seedObjects(t, tg, bucket, awkwardObjects())
			list := []any{"/" + awkwardKeys[0], awkwardKeys[1], awkwardKeys[7], "never-existed.txt", awkwardKeys[1]}
			got, err := run(t, tg, DeleteFiles, map[string]any{"bucket": bucket, "keys": list})
			if err != nil {
				t.Fatal(err)
			}
			var deleted []string
			for _, b := range got {
				if b["status"] != statusDeleted {
					t.Errorf("bundle %v", b)
				}
				deleted = append(deleted, b["key"].(string))
			}
			if want := []string{awkwardKeys[0], awkwardKeys[1], awkwardKeys[7], "never-existed.txt"}; !slices.Equal(deleted, want) {
				t.Errorf("bundles for %q, want %q", deleted, want)
			}
			file := writeFile(t, "keys.txt", []byte(awkwardKeys[2]+"\r\n\n  \n/"+awkwardKeys[9]+"\n"+awkwardKeys[8]))
			got, err = run(t, tg, DeleteFiles, map[string]any{"bucket": bucket, "keys_file": file})
			if err != nil {
				t.Fatal(err)
			}
			if st := statuses(t, got); st[statusDeleted] != 3 || len(got) != 3 {
				t.Errorf("keys file: %v", got)
			}
			var want []string
			for i, k := range awkwardKeys {
				if !slices.Contains([]int{0, 1, 2, 7, 8, 9}, i) {
					want = append(want, k)
				}
			}
			slices.Sort(want)
			if keys := keysOf(awsListing(t, tg, bucket, "")); !slices.Equal(keys, want) {
				t.Errorf("aws lists %q, want %q", keys, want)
			}
		})
	}
}

// TestDeleteFilesKeysFileBadLine: a bad line stops the run before any
// delete.
func TestDeleteFilesKeysFileBadLine(t *testing.T) {
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	seedObjects(t, tg, bucket, map[string]string{"a": "a"})
	file := writeFile(t, "keys.txt", []byte("a\n/\n"))
	_, err := run(t, tg, DeleteFiles, map[string]any{"bucket": bucket, "keys_file": file})
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("err = %v, want line 2 named", err)
	}
	if keys := keysOf(awsListing(t, tg, bucket, "")); !slices.Equal(keys, []string{"a"}) {
		t.Errorf("aws lists %q; nothing should be deleted", keys)
	}
}

// deleteRequest is the body of a DeleteObjects request.
type deleteRequest struct {
	Quiet   bool
	Objects []struct{ Key string } `xml:"Object"`
}

// TestDeleteFilesPerKeyErrors: a fake server refuses one key of a batch;
// that key's bundle says why, the others are deleted, and the run fails at
// the end saying how many could not be deleted.
func TestDeleteFilesPerKeyErrors(t *testing.T) {
	tg, seen := fakeS3(t, "us-east-1", func(w http.ResponseWriter, r seenRequest) {
		var req deleteRequest
		if r.Method != http.MethodPost || !strings.Contains(r.Query, "delete") || xml.Unmarshal([]byte(r.Body), &req) != nil {
			writeS3Error(w, http.StatusBadRequest, "UnexpectedRequest")
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		// Quiet: only the failures.
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`+
			`<Error><Key>locked.txt</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error></DeleteResult>`)
	})
	got, err := run(t, tg, DeleteFiles, map[string]any{"bucket": "demo", "keys": []any{"a.txt", "locked.txt", "b c+d.txt"}})
	if err == nil || !strings.Contains(err.Error(), `delete files in bucket "demo": 1 of 3 files could not be deleted`) {
		t.Errorf("err = %v", err)
	}
	want := []module.Bundle{
		{"key": "a.txt", "status": "deleted", "code": "", "message": ""},
		{"key": "locked.txt", "status": "error", "code": "AccessDenied", "message": "Access Denied"},
		{"key": "b c+d.txt", "status": "deleted", "code": "", "message": ""},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("bundles\n%v\nwant\n%v", got, want)
	}
	reqs := seen()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want one DeleteObjects", len(reqs))
	}
	var req deleteRequest
	if err := xml.Unmarshal([]byte(reqs[0].Body), &req); err != nil {
		t.Fatal(err)
	}
	if !req.Quiet || len(req.Objects) != 3 || req.Objects[2].Key != "b c+d.txt" || reqs[0].Path != "/demo" {
		t.Errorf("request %s %s: %+v", reqs[0].Method, reqs[0].Path, req)
	}
}

// TestDeleteFilesRequestError: a refused DeleteObjects fails the run with
// S3's words, after nothing was reported deleted.
func TestDeleteFilesRequestError(t *testing.T) {
	tg, _ := fakeS3(t, "us-east-1", func(w http.ResponseWriter, r seenRequest) {
		writeS3Error(w, http.StatusForbidden, "AccessDenied")
	})
	got, err := run(t, tg, DeleteFiles, map[string]any{"bucket": "demo", "keys": []any{"a.txt"}})
	if err == nil || !strings.Contains(err.Error(), `delete files in bucket "demo": AccessDenied`) || len(got) != 0 {
		t.Errorf("bundles %v, err = %v", got, err)
	}
}

func TestDeleteFilesBatchesKeys(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	tg, _ := fakeS3(t, "us-east-1", func(w http.ResponseWriter, r seenRequest) {
		var req deleteRequest
		xml.Unmarshal([]byte(r.Body), &req)
		mu.Lock()
		sizes = append(sizes, len(req.Objects))
		mu.Unlock()
		fmt.Fprint(w, `<DeleteResult></DeleteResult>`)
	})
	var keys []string
	for i := range 2345 {
		keys = append(keys, fmt.Sprintf("k/%d", i))
	}
	file := filepath.Join(t.TempDir(), "keys.txt")
	if err := os.WriteFile(file, []byte(strings.Join(keys, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := run(t, tg, DeleteFiles, map[string]any{"bucket": "demo", "keys_file": file})
	if err != nil || len(got) != len(keys) {
		t.Fatalf("%d bundles, %v", len(got), err)
	}
	if fmt.Sprint(sizes) != "[1000 1000 345]" {
		t.Errorf("batches of %v, want [1000 1000 345]", sizes)
	}
}
