package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/s3test"
)

// tidyFlow watches incoming/ and moves each file when its run ends: to
// done/ when it succeeded, to failed/ when it failed (a key holding "bad"
// asks for a file that is not there).
const tidyFlow = `name: tidy
trigger:
  watch_files:
    connection: vg
    bucket: %[1]s
    prefix: incoming/
    every: 1s
    after: {success: {move_to: done/}, failure: {move_to: failed/}}
steps:
  - id: info
    module: s3.get_file_info
    connection: vg
    with: {bucket: %[1]s, path: "{{ trigger.key contains 'bad' ? 'absent/nothing.csv' : trigger.key }}"}
`

// changesFlow fires on new and modified files of watched/.
const changesFlow = `name: changes
trigger:
  watch_files: {connection: vg, bucket: %[1]s, prefix: watched/, every: 1s, events: [created, modified]}
steps:
  - {id: items, module: flow.iterate, with: {items: "{{ [trigger.event, trigger.etag] }}"}}
`

// vanishFlow deletes its own file, so the move after the run has nothing
// to move: the failure is recorded in the run's history.
const vanishFlow = `name: vanish
trigger:
  watch_files: {connection: vg, bucket: %[1]s, prefix: vanish/, every: 1s, after: {success: {move_to: kept/}}}
steps:
  - id: del
    module: s3.delete_file
    connection: vg
    with: {bucket: %[1]s, path: "{{ trigger.key }}"}
`

// TestWatchFilesEventsAndAfter, against versitygw with the aws CLI as the
// witness: after success moves the file to done/ and after failure to
// failed/, keeping its path below the prefix (the source is gone, the
// target there); a file that existed before the first listing stays; a
// changed ETag fires modified once per change and a rewrite of the same
// bytes fires nothing; an action that fails is an event of the run.
func TestWatchFilesEventsAndAfter(t *testing.T) {
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	cl := tg.Client(t).S3("")
	put := func(key, body string) {
		t.Helper()
		if _, err := cl.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	exists := func(key string) bool {
		_, err := tg.AWSResult("s3api", "head-object", "--bucket", bucket, "--key", key)
		return err == nil
	}
	put("incoming/old.csv", "old")
	put("watched/a.csv", "v1")
	e := newEnv(t, tg, tg.Conn.Endpoint)
	e.args = append(e.args, "--debug") // logs each poll
	e.writeFlow("tidy", fmt.Sprintf(tidyFlow, bucket))
	e.writeFlow("changes", fmt.Sprintf(changesFlow, bucket))
	e.writeFlow("vanish", fmt.Sprintf(vanishFlow, bucket))
	e.start()
	// polls counts the listings of a flow ("": of all).
	polls := func(flow string) int {
		n := 0
		for _, line := range strings.Split(e.srvLog.String(), "\n") {
			if strings.Contains(line, "watch_files: listed") && strings.Contains(line, "flow="+flow) {
				n++
			}
		}
		return n
	}
	waitFor(t, func() bool { return polls("tidy") >= 1 && polls("changes") >= 1 && polls("vanish") >= 1 }) // first listings recorded

	put("incoming/sub/good.csv", "good")
	put("incoming/bad.csv", "bad")
	put("vanish/v.csv", "v")
	// Moved means copied there and gone from here, as the aws CLI sees it.
	waitFor(t, func() bool { return exists("done/sub/good.csv") && !exists("incoming/sub/good.csv") })
	waitFor(t, func() bool { return exists("failed/bad.csv") && !exists("incoming/bad.csv") })
	if !exists("incoming/old.csv") {
		t.Error("incoming/old.csv, there before the first listing, was moved")
	}
	if n := listCount(t, tg, bucket, "done/"); n != 1 {
		t.Errorf("%d objects under done/, want 1", n)
	}
	if got := tg.AWS(t, "s3", "cp", "s3://"+bucket+"/done/sub/good.csv", "-"); got != "good" {
		t.Errorf("done/sub/good.csv holds %q, want good", got)
	}

	byFlow := func(flow string) []map[string]any {
		var out []map[string]any
		for _, r := range e.runs() {
			if r["flow"] == flow && r["finishedAt"] != nil {
				out = append(out, r)
			}
		}
		return out
	}
	tidy := byFlow("tidy")
	if len(tidy) != 2 || countStatus(tidy, "succeeded") != 1 || countStatus(tidy, "failed") != 1 {
		t.Fatalf("tidy runs %v, want one succeeded and one failed", tidy)
	}

	// The vanished file's move fails after its run, and the run says so.
	waitFor(t, func() bool { return len(byFlow("vanish")) == 1 })
	vanished := byFlow("vanish")[0]
	var afterErr string
	waitFor(t, func() bool {
		_, events := e.run(vanished["id"].(string))
		for _, ev := range events {
			if m, _ := ev.(map[string]any); m["status"] == "after-run-failed" {
				afterErr, _ = m["error"].(string)
				return true
			}
		}
		return false
	})
	if !strings.Contains(afterErr, "vanish/v.csv") || vanished["status"] != "succeeded" {
		t.Errorf("run %v: after-run-failed event says %q, want it to name vanish/v.csv", vanished["status"], afterErr)
	}
	if exists("kept/v.csv") {
		t.Error("kept/v.csv exists, though its source was gone")
	}
	if !strings.Contains(e.srvLog.String(), "the trigger's action after the run failed") {
		t.Error("the failed action after the run is not in the server's log")
	}

	// Modified: once per new ETag; the same bytes again are no change.
	modified := func() []string {
		var etags []string
		for _, r := range byFlow("changes") {
			trig, _ := r["trigger"].(map[string]any)
			if trig["event"] != "modified" || trig["key"] != "watched/a.csv" {
				t.Fatalf("changes run for %v", trig)
			}
			etags = append(etags, fmt.Sprint(trig["etag"]))
		}
		slices.Sort(etags)
		return etags
	}
	put("watched/a.csv", "v2")
	waitFor(t, func() bool { return len(modified()) == 1 })
	put("watched/a.csv", "v2")
	after := polls("changes")
	waitFor(t, func() bool { return polls("changes") >= after+2 }) // two more listings
	if got := modified(); len(got) != 1 {
		t.Fatalf("rewriting the same bytes fired again: %v", got)
	}
	put("watched/a.csv", "v3")
	waitFor(t, func() bool { return len(modified()) == 2 })
	after = polls("changes")
	waitFor(t, func() bool { return polls("changes") >= after+2 })
	if got := modified(); len(got) != 2 || got[0] == got[1] {
		t.Fatalf("modified runs for ETags %v, want one per change (2)", got)
	}
}

// TestWatchFilesStartAfter: with start_after, the listings after the first
// ask versitygw (through a proxy that notes each ListObjectsV2 request)
// for the keys after the greatest seen, and a new dated key fires once.
func TestWatchFilesStartAfter(t *testing.T) {
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	target, _ := url.Parse(tg.Conn.Endpoint)
	var mu sync.Mutex
	var startAfters []string // of each listing of the bucket, in order
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query(); r.Method == http.MethodGet && q.Get("list-type") == "2" && strings.Contains(r.URL.Path, bucket) {
			mu.Lock()
			startAfters = append(startAfters, q.Get("start-after"))
			mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	listings := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(startAfters)
	}
	put := putter(t, tg, bucket)
	put("in/2026/12/01/a.csv")
	put("in/2026/12/02/a.csv")
	e := newEnv(t, tg, front.URL)
	e.writeFlow("dated", fmt.Sprintf(`name: dated
trigger:
  watch_files: {connection: vg, bucket: %s, prefix: in/, every: 1s, start_after: true}
steps:
  - {id: items, module: flow.iterate, with: {items: "{{ [trigger.key] }}"}}
`, bucket))
	e.start()
	// The first poll is done when one starts after the greatest key.
	waitFor(t, func() bool { return slices.Contains(listings(), "in/2026/12/02/a.csv") })
	put("in/2026/12/03/a.csv")
	waitFor(t, func() bool { return countStatus(e.runs(), "succeeded") == 1 })
	n := len(listings())
	waitFor(t, func() bool { return len(listings()) >= n+2 })
	rs := e.runs()
	if len(rs) != 1 || rs[0]["trigger"].(map[string]any)["key"] != "in/2026/12/03/a.csv" {
		t.Fatalf("runs %v, want one for in/2026/12/03/a.csv", rs)
	}
	// The first poll lists the whole prefix: a request for each level the
	// walk goes down (in/, 2026/, 12/ each hold one folder alone) and one
	// for each folder of the first level with several (01/, 02/), so 5.
	// Later ones start after 02/a.csv until 03/a.csv is seen, then after it.
	got := listings()
	first := 0
	for first < len(got) && got[first] == "" {
		first++
	}
	if first == 0 || first > 5 {
		t.Errorf("the first poll made %d requests without start-after, want 1 to 5: %q", first, got)
	}
	seen03 := false
	for i, after := range got[first:] {
		switch after {
		case "in/2026/12/02/a.csv":
			if seen03 {
				t.Errorf("listing %d started after 02/a.csv once 03/a.csv was seen", first+i)
			}
		case "in/2026/12/03/a.csv":
			seen03 = true
		default:
			t.Errorf("listing %d started after %q: %q", first+i, after, got)
		}
	}
	if !seen03 {
		t.Errorf("no listing started after in/2026/12/03/a.csv: %q", got)
	}
}
