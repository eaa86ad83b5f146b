package s3

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3test"
)

// waitKeys are the keys of the files a Wait for files bundle lists.
func waitKeys(t *testing.T, b module.Bundle) []string {
	t.Helper()
	files, ok := b["files"].([]any)
	if !ok {
		t.Fatalf("files = %#v, want a list", b["files"])
	}
	var keys []string
	for _, f := range files {
		m, _ := f.(map[string]any)
		keys = append(keys, fmt.Sprint(m["key"]))
	}
	return keys
}

// TestWaitForFilesAppearLater waits for two CSV files of which one is
// there: the second is uploaded once the module has reported that it
// waits, and the wait ends with both; files elsewhere do not count.
func TestWaitForFilesAppearLater(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			awsPutWith(t, tg, bucket, "in/a.csv", []byte("a,1\n"))
			awsPutWith(t, tg, bucket, "in/notes.txt", []byte("not a csv"))
			awsPutWith(t, tg, bucket, "in/deeper/c.csv", []byte("below the folder"))
			var (
				mu    sync.Mutex
				found []string
			)
			env := module.Env{Waited: func(ws module.WaitState, w *module.Waiting) {
				mu.Lock()
				found = append(found, w.Found)
				first := len(found) == 1
				mu.Unlock()
				if first {
					awsPutWith(t, tg, bucket, "in/b.csv", []byte("b,2\n"))
				}
			}}
			got, err := runEnv(t, tg, env, WaitForFiles, map[string]any{
				"bucket": bucket, "prefix": "in", "pattern": "*.csv", "count": 2, "timeout": "5m"})
			if err != nil {
				t.Fatal(err)
			}
			b := one(t, got)
			if keys := waitKeys(t, b); !slices.Equal(keys, []string{"in/a.csv", "in/b.csv"}) {
				t.Errorf("files = %v, want in/a.csv and in/b.csv", keys)
			}
			if b["count"] != int64(2) {
				t.Errorf("count = %#v, want 2", b["count"])
			}
			if len(found) == 0 || found[0] != "1 of 2 file(s)" {
				t.Errorf("the checks found %q, want the first to find 1 of 2 file(s)", found)
			}
			var head awsHeadInfo
			if err := json.Unmarshal([]byte(tg.AWS(t, "s3api", "head-object", "--bucket", bucket, "--key", "in/b.csv")), &head); err != nil {
				t.Fatal(err)
			}
			f := b["files"].([]any)[1].(map[string]any)
			if f["etag"] != head.ETag || f["size"] != head.ContentLength {
				t.Errorf("in/b.csv listed as %v, aws says ETag %s, size %d", f, head.ETag, head.ContentLength)
			}
		})
	}
}

// TestWaitForFilesTimeout fails with the timeout, what was looked for and
// what was found.
func TestWaitForFilesTimeout(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			awsPutWith(t, tg, bucket, "in/a.csv", []byte("a,1\n"))
			start := time.Now()
			_, err := runEnv(t, tg, module.Env{}, WaitForFiles, map[string]any{
				"bucket": bucket, "prefix": "in/", "pattern": "*.csv", "count": 3, "timeout": "1s"})
			want := fmt.Sprintf(`timed out after 1s waiting for at least 3 file(s) matching "*.csv" under "in/" in bucket %q: found 1`, bucket)
			if err == nil || err.Error() != want {
				t.Fatalf("err = %v, want %s", err, want)
			}
			if waited := time.Since(start); waited < time.Second {
				t.Errorf("gave up after %s, before the timeout", waited)
			}
		})
	}
}

// TestWaitForFilesSuspended checks a run that a queue suspends: the first
// check returns Waiting with its state at once, and a check resumed with
// a state whose wait began longer ago than the timeout fails: the timeout
// counts from the first check, not from the resume.
func TestWaitForFilesSuspended(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			raw := map[string]any{"bucket": bucket, "pattern": "*.json", "timeout": "1h"}
			var seen module.WaitState
			_, err := runEnv(t, tg, module.Env{Suspend: true, Waited: func(ws module.WaitState, _ *module.Waiting) { seen = ws }}, WaitForFiles, raw)
			var w *module.Waiting
			if !errors.As(err, &w) || w.After <= 0 || w.Found != "0 of 1 file(s)" {
				t.Fatalf("err = %v, want Waiting for 0 of 1 file(s) with a time to check again", err)
			}
			if seen.Since.IsZero() || seen.State["files"] == "" {
				t.Fatalf("Waited was told %+v, want the wait's start and state", seen)
			}
			seen.Since = seen.Since.Add(-2 * time.Hour)
			_, err = runEnv(t, tg, module.Env{Suspend: true, Wait: seen}, WaitForFiles, raw)
			if err == nil || !strings.Contains(err.Error(), "timed out after 1h0m0s") {
				t.Fatalf("err = %v, want a timeout: the wait began two hours ago", err)
			}
		})
	}
}

// TestWaitForFilesSettle waits until the matching files have not changed
// for the settle time: a file replaced while it settles starts it over.
func TestWaitForFilesSettle(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			awsPutWith(t, tg, bucket, "drop/part.dat", []byte("first part"))
			var (
				states  []module.WaitState
				changed time.Time
			)
			env := module.Env{Waited: func(ws module.WaitState, w *module.Waiting) {
				states = append(states, ws)
				if len(states) == 1 {
					// The writer is not done: the file grows.
					awsPutWith(t, tg, bucket, "drop/part.dat", []byte("first part, second part"))
					changed = time.Now()
				}
			}}
			got, err := runEnv(t, tg, env, WaitForFiles, map[string]any{
				"bucket": bucket, "prefix": "drop", "settle": "2s", "timeout": "5m"})
			if err != nil {
				t.Fatal(err)
			}
			done := time.Now()
			if f := one(t, got)["files"].([]any)[0].(map[string]any); f["size"] != int64(len("first part, second part")) {
				t.Errorf("the file is listed as %v, want its final size", f)
			}
			if len(states) < 2 {
				t.Fatalf("%d checks waited, want the first and one after the change", len(states))
			}
			if states[1].State["files"] == states[0].State["files"] || states[1].State["seenAt"] == states[0].State["seenAt"] {
				t.Errorf("the change was not seen: %v then %v", states[0].State, states[1].State)
			}
			if settled := done.Sub(changed); settled < 2*time.Second {
				t.Errorf("the wait ended %s after the file changed, before the settle time", settled)
			}
		})
	}
}

func TestWaitForFilesInputs(t *testing.T) {
	for _, tc := range []struct {
		with map[string]any
		want string
	}{
		{map[string]any{"pattern": "[a-"}, `pattern: "[a-" is not a glob pattern`},
		{map[string]any{"settle": "soon"}, `settle: "soon" is not a duration`},
		{map[string]any{"timeout": "500ms"}, `timeout: "500ms" is too short: at least 1s`},
		{map[string]any{"timeout": ""}, `timeout: "" is not a duration`},
		{map[string]any{"count": 0}, "count: must be at least 1"},
	} {
		raw := map[string]any{"bucket": "reports"}
		for k, v := range tc.with {
			raw[k] = v
		}
		_, err := WaitForFiles.Check(raw)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %s…", tc.with, err, tc.want)
		}
	}
	if _, err := WaitForFiles.Check(map[string]any{"bucket": "reports", "pattern": "*/2026-*.csv", "settle": "30s"}); err != nil {
		t.Errorf("good inputs refused: %v", err)
	}
}

// TestWaitingDeclared: a module that reports module.Waiting says so in its
// declaration (Waits), so that every interface knows it may wait; one file
// per module, so the file that makes a Waiting declares it.
func TestWaitingDeclared(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	declares := regexp.MustCompile(`\bWaits:\s+true\b`)
	var waiting int
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(src, []byte("module.Waiting{")) {
			continue
		}
		waiting++
		if !declares.Match(src) {
			t.Errorf("%s reports module.Waiting but its module does not declare Waits: true", name)
		}
	}
	if waiting == 0 || !WaitForFiles.Waits {
		t.Errorf("no module here waits (%d files), or Wait for files does not declare it", waiting)
	}
	for _, m := range Modules() {
		if m.Waits && m.Many {
			t.Errorf("%s waits and emits many bundles: a resumed wait would not be reused", m.Name)
		}
	}
}
