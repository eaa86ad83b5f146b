package s3

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3test"
)

// awkwardKeys are object keys that break naive URL encoding or decoding:
// reserved characters, "+" (a space in form encoding), a literal "%25",
// and non-ASCII text.
var awkwardKeys = []string{
	"with space.txt",
	"plus+sign.txt",
	"a+b=c.txt",
	"colon:12:00.txt",
	"paren (1).txt",
	"amp&dollar$.txt",
	"tilde~at@home.txt",
	"résumé ü 日本.txt",
	"100%25 done.txt",
	"folder with space/inner+file (2).txt",
}

// listedObject is what both s3flow and the aws CLI say about one object.
type listedObject struct {
	Key  string
	Size int64
	ETag string
}

// seedObjects puts each key with its body, one after the other, and
// returns the ETag S3 gave each.
func seedObjects(t *testing.T, tg s3test.Target, bucket string, objects map[string]string) map[string]string {
	t.Helper()
	cl := tg.Client(t).S3("")
	keys := make([]string, 0, len(objects))
	for k := range objects {
		keys = append(keys, k)
	}
	// Sorted, so a folder marker ("a/") goes in before the files below it.
	slices.Sort(keys)
	etags := map[string]string{}
	for _, k := range keys {
		out, err := cl.PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String(k), Body: strings.NewReader(objects[k]),
		})
		if err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
		etags[k] = aws.ToString(out.ETag)
	}
	return etags
}

// awsListing lists every object under prefix with the reference aws CLI,
// which follows the pages itself.
func awsListing(t *testing.T, tg s3test.Target, bucket, prefix string) []listedObject {
	t.Helper()
	out := tg.AWS(t, "s3api", "list-objects-v2", "--bucket", bucket, "--prefix", prefix)
	if strings.TrimSpace(out) == "" {
		return nil // the CLI prints nothing for an empty listing
	}
	var doc struct{ Contents []listedObject }
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("aws list-objects-v2 output: %v\n%s", err, out)
	}
	return doc.Contents
}

// awsPutAll uploads each key with its body using the aws CLI.
func awsPutAll(t *testing.T, tg s3test.Target, bucket string, objects map[string]string) {
	t.Helper()
	dir := t.TempDir()
	var calls [][]string
	for key, body := range objects {
		file := filepath.Join(dir, fmt.Sprint(len(calls)))
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		calls = append(calls, []string{"s3api", "put-object", "--bucket", bucket, "--key", key, "--body", file})
	}
	awsParallel(t, tg, calls)
}

// awsParallel runs the aws CLI once per call, a few processes at a time
// (each start takes a while), and returns their outputs in order. Any
// failure fails the test.
func awsParallel(t *testing.T, tg s3test.Target, calls [][]string) []string {
	t.Helper()
	outs := make([]string, len(calls))
	errs := make([]error, len(calls))
	limit := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, args := range calls {
		wg.Go(func() {
			limit <- struct{}{}
			defer func() { <-limit }()
			outs[i], errs[i] = tg.AWSResult(args...)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("aws %q: %v", calls[i], err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return outs
}

// awkwardObjects maps each awkward key to a body of its own length.
func awkwardObjects() map[string]string {
	m := map[string]string{}
	for i, k := range awkwardKeys {
		m[k] = strings.Repeat("x", i)
	}
	return m
}

// listed turns list-files bundles into listedObjects, in order.
func listed(t *testing.T, bundles []module.Bundle) []listedObject {
	t.Helper()
	got := make([]listedObject, len(bundles))
	for i, b := range bundles {
		size, ok := b["size"].(int64)
		if !ok {
			t.Fatalf("bundle %d: size is %T, want int64", i, b["size"])
		}
		got[i] = listedObject{Key: b["key"].(string), Size: size, ETag: b["etag"].(string)}
	}
	return got
}

func keysOf(objs []listedObject) []string {
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = o.Key
	}
	return keys
}

func TestListFilesFolderPrefix(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			etags := seedObjects(t, tg, bucket, map[string]string{
				"work/reports/":           "", // a folder marker, not a file
				"work/reports/a.csv":      "a,b\n1,2\n",
				"work/reports/empty.txt":  "",
				"work/reports/sub/b.csv":  "b\n",
				"work/reports-old/c.csv":  "c\n",
				"work/reportsfile.txt":    "not in the folder",
				"other/work/reports/x.go": "x",
			})
			flat := []string{"work/reports/a.csv", "work/reports/empty.txt"}
			deep := []string{"work/reports/a.csv", "work/reports/empty.txt", "work/reports/sub/b.csv"}
			for _, prefix := range []string{"work/reports", "work/reports/", "/work/reports", "/work//reports/"} {
				for _, recursive := range []bool{false, true} {
					t.Run(fmt.Sprintf("%q/recursive=%v", prefix, recursive), func(t *testing.T) {
						got, err := run(t, tg, ListFiles, map[string]any{"bucket": bucket, "prefix": prefix, "recursive": recursive})
						if err != nil {
							t.Fatal(err)
						}
						want := flat
						if recursive {
							want = deep
						}
						if keys := keysOf(listed(t, got)); !slices.Equal(keys, want) {
							t.Fatalf("keys = %q, want %q", keys, want)
						}
						for _, b := range got {
							key := b["key"].(string)
							if b["etag"] != etags[key] {
								t.Errorf("%s: etag %v, want %s", key, b["etag"], etags[key])
							}
							if lm, _ := b["lastModified"].(time.Time); lm.IsZero() || lm.Location() != time.UTC {
								t.Errorf("%s: lastModified %v, want a UTC time", key, b["lastModified"])
							}
							if _, ok := b["storageClass"].(string); !ok {
								t.Errorf("%s: storageClass is %T, want string", key, b["storageClass"])
							}
						}
						if size := got[1]["size"]; size != int64(0) {
							t.Errorf("empty.txt size = %v, want 0", size)
						}
						if size := got[0]["size"]; size != int64(len("a,b\n1,2\n")) {
							t.Errorf("a.csv size = %v, want %d", size, len("a,b\n1,2\n"))
						}
					})
				}
			}
		})
	}
}

// requestCounter is a slog handler that counts the client's "s3 request"
// debug lines, one per HTTP request.
type requestCounter struct{ n atomic.Int64 }

func (c *requestCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *requestCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "s3 request" {
		c.n.Add(1)
	}
	return nil
}
func (c *requestCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *requestCounter) WithGroup(string) slog.Handler      { return c }

// runCounting runs m like run and also returns how many HTTP requests it
// made.
func runCounting(t *testing.T, tg s3test.Target, m *module.Module, raw map[string]any) ([]module.Bundle, int64, error) {
	t.Helper()
	in, err := m.Check(raw)
	if err != nil {
		t.Fatal(err)
	}
	counter := &requestCounter{}
	env := module.Env{Files: module.AllLocalFiles(), Connection: &tg.Conn, Logger: slog.New(counter)}
	var got []module.Bundle
	err = m.Exec(context.Background(), env, in, func(b module.Bundle) error {
		got = append(got, b)
		return nil
	})
	return got, counter.n.Load(), err
}

func TestListFilesAllPages(t *testing.T) {
	const n = 1205
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			cl := tg.Client(t).S3("")
			keys := make(chan string)
			var wg sync.WaitGroup
			var failed atomic.Value
			for range 16 {
				wg.Go(func() {
					for k := range keys {
						// Bodies differ in content and length, so do ETags and sizes.
						_, err := cl.PutObject(context.Background(), &s3.PutObjectInput{
							Bucket: aws.String(bucket), Key: aws.String(k), Body: strings.NewReader(strings.Repeat(k, len(k)%7+1)),
						})
						if err != nil {
							failed.CompareAndSwap(nil, fmt.Errorf("put %s: %w", k, err))
						}
					}
				})
			}
			for i := range n {
				// Mixed widths, so lexicographic order differs from numeric.
				keys <- fmt.Sprintf("many/%d.txt", i)
			}
			close(keys)
			wg.Wait()
			if err, _ := failed.Load().(error); err != nil {
				t.Fatal(err)
			}
			want := awsListing(t, tg, bucket, "many/")
			if len(want) != n {
				t.Fatalf("aws lists %d objects, want %d", len(want), n)
			}

			t.Run("all", func(t *testing.T) {
				bundles, requests, err := runCounting(t, tg, ListFiles, map[string]any{"bucket": bucket, "prefix": "many"})
				if err != nil {
					t.Fatal(err)
				}
				got := listed(t, bundles)
				if len(got) != n {
					t.Fatalf("got %d bundles, want %d", len(got), n)
				}
				if !slices.IsSorted(keysOf(got)) {
					t.Error("keys are not in lexicographic order")
				}
				if len(slices.Compact(keysOf(got))) != n {
					t.Error("some key is listed twice")
				}
				if !slices.Equal(got, want) {
					for i := range got {
						if got[i] != want[i] {
							t.Fatalf("object %d: s3flow %+v, aws %+v", i, got[i], want[i])
						}
					}
				}
				if requests < 2 {
					t.Errorf("%d objects listed in %d request(s); a page holds at most 1,000", n, requests)
				}
			})
			// A recursive listing lists the folders below the prefix side by
			// side. Under many/ the folder level (1,205 files) is more than
			// a page: it is listed the ordinary way.
			t.Run("recursive/flat", func(t *testing.T) {
				bundles, err := run(t, tg, ListFiles, map[string]any{"bucket": bucket, "prefix": "many", "recursive": true})
				if err != nil {
					t.Fatal(err)
				}
				if got := listed(t, bundles); !slices.Equal(got, want) {
					t.Fatalf("got %d objects, want aws's %d in the same order", len(got), len(want))
				}
			})
			// From the top: a file before the folders and one after, a
			// folder of two pages and a nested folder.
			putKeysConcurrently(t, tg, bucket, []string{"a/x", "a/b/c", "z/q", "0", "zz"})
			t.Run("recursive/spread", func(t *testing.T) {
				listAllLikeAWS(t, tg, bucket, 5, "one for the folder level, then a/, many/ (two pages) and z/ side by side")
			})
			// A folder whose name begins another name followed by a character
			// below "/" ("many" and "many-/", "many.txt") sorts differently
			// by key (S3) and by name (SeaweedFS): the listing then goes the
			// ordinary way, in the server's own order.
			putKeysConcurrently(t, tg, bucket, []string{"many-/y", "many.txt"})
			t.Run("recursive/ambiguous", func(t *testing.T) {
				listAllLikeAWS(t, tg, bucket, 3, "the folder level, then two pages")
			})
			for _, tc := range []struct {
				limit        int64
				want         int
				maxRequests  int64
				wantRequests string
			}{
				{limit: 5, want: 5, maxRequests: 1, wantRequests: "one page of 5"},
				{limit: 1001, want: 1001, maxRequests: 2, wantRequests: "two pages"},
				{limit: 1500, want: n, maxRequests: 2, wantRequests: "two pages"},
			} {
				t.Run(fmt.Sprintf("limit=%d", tc.limit), func(t *testing.T) {
					bundles, requests, err := runCounting(t, tg, ListFiles, map[string]any{"bucket": bucket, "prefix": "many/", "limit": tc.limit})
					if err != nil {
						t.Fatal(err)
					}
					got := listed(t, bundles)
					if !slices.Equal(got, want[:tc.want]) {
						t.Fatalf("got %d objects, want the first %d of the listing", len(got), tc.want)
					}
					if requests > tc.maxRequests {
						t.Errorf("made %d requests, want at most %d (%s)", requests, tc.maxRequests, tc.wantRequests)
					}
				})
			}
		})
	}
}

// TestListFilesDeepTree: a recursive listing goes down through levels that
// hold one folder alone (top/, then top/mid/, with files beside them) to
// the first level with several folders, lists those side by side, and
// gives what the aws CLI lists, in the same order.
func TestListFilesDeepTree(t *testing.T) {
	keys := []string{"0.txt", "top/0.txt", "top/mid/0.txt", "top/mid/z.txt", "top/z.txt", "z.txt"}
	var walk func(prefix string, depth int)
	walk = func(prefix string, depth int) {
		keys = append(keys, prefix+"0.txt", prefix+"z.txt")
		if depth == 3 {
			return
		}
		for _, f := range []string{"a/", "b-c/", "d/"} {
			walk(prefix+f, depth+1)
		}
	}
	for _, f := range []string{"a/", "b-c/", "d/"} {
		walk("top/mid/"+f, 1)
	}
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			putKeysConcurrently(t, tg, bucket, keys)
			listAllLikeAWS(t, tg, bucket, 6, "the top level, top/ and top/mid/ with a delimiter, then mid's 3 folders side by side")
		})
	}
}

// listAllLikeAWS lists the whole bucket recursively and checks it against
// the aws CLI's listing, in the same order, made in wantRequests requests.
func listAllLikeAWS(t *testing.T, tg s3test.Target, bucket string, wantRequests int64, why string) {
	t.Helper()
	bundles, requests, err := runCounting(t, tg, ListFiles, map[string]any{"bucket": bucket, "recursive": true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := listed(t, bundles), awsListing(t, tg, bucket, ""); !slices.Equal(got, want) {
		t.Fatalf("got %d objects, want aws's %d in the same order:\n%v", len(got), len(want), keysOf(got)[:min(len(got), 12)])
	}
	if requests != wantRequests {
		t.Errorf("made %d requests, want %d (%s)", requests, wantRequests, why)
	}
}

func TestListFilesAwkwardKeys(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			awsPutAll(t, tg, bucket, awkwardObjects())
			bundles, err := run(t, tg, ListFiles, map[string]any{"bucket": bucket, "recursive": true})
			if err != nil {
				t.Fatal(err)
			}
			got := listed(t, bundles)
			want := awsListing(t, tg, bucket, "")
			if !slices.Equal(got, want) {
				t.Errorf("s3flow lists\n%+v\naws lists\n%+v", got, want)
			}
			wantKeys := slices.Sorted(slices.Values(awkwardKeys))
			if keys := keysOf(got); !slices.Equal(keys, wantKeys) {
				t.Errorf("keys = %q, want the uploaded %q", keys, wantKeys)
			}
		})
	}
}

// TestListFilesStartAfter: start_after lists only the keys after it, in
// S3's byte order, recursively or not, whatever the key holds.
func TestListFilesStartAfter(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			seedObjects(t, tg, bucket, map[string]string{
				"in/2026-12-01.csv":     "1",
				"in/2026-12-02.csv":     "2",
				"in/2026-12-02 b+.csv":  "2b",
				"in/2026-12-03.csv":     "3",
				"in/Z.csv":              "z",
				"in/sub/2026-12-04.csv": "4",
			})
			tests := []struct {
				after     string
				recursive bool
				want      []string
			}{
				{"in/2026-12-02.csv", true, []string{"in/2026-12-03.csv", "in/Z.csv", "in/sub/2026-12-04.csv"}},
				{"in/2026-12-02 b+.csv", true, []string{"in/2026-12-02.csv", "in/2026-12-03.csv", "in/Z.csv", "in/sub/2026-12-04.csv"}},
				{"in/2026-12-02", false, []string{"in/2026-12-02 b+.csv", "in/2026-12-02.csv", "in/2026-12-03.csv", "in/Z.csv"}},
				{"in/sub/2026-12-04.csv", true, nil},
			}
			for _, tt := range tests {
				got, err := run(t, tg, ListFiles, map[string]any{"bucket": bucket, "prefix": "in/", "recursive": tt.recursive, "start_after": tt.after})
				if err != nil {
					t.Fatal(err)
				}
				if keys := keysOf(listed(t, got)); !slices.Equal(keys, tt.want) {
					t.Errorf("after %q (recursive=%v): keys = %q, want %q", tt.after, tt.recursive, keys, tt.want)
				}
			}
		})
	}
}
