package faultproxy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/faultproxy"
	s3mod "github.com/s3flow/s3flow/internal/module/s3"
)

// listPageSize is the page size the proxy asks for in every
// ListObjectsV2, so 1,000 keys make 100 pages. list_files asks for the
// server's maximum; the proxy rewrites max-keys and signs again.
const listPageSize = 10

// TestListRetriesTheFailedPage breaks page 57 of 100 once, in each way a
// server or network can: the SDK's retryer asks for page 57 again (same
// continuation token) and the output has every key exactly once, in order.
func TestListRetriesTheFailedPage(t *testing.T) {
	tg, bucket := setup(t)
	objects := map[string][]byte{}
	var want []string
	for i := range 1000 {
		key := fmt.Sprintf("key-%04d", i)
		objects[key] = []byte(key)
		want = append(want, key)
	}
	putObjects(t, tg, bucket, objects)
	var viaCLI struct{ Contents []struct{ Key string } }
	if err := json.Unmarshal([]byte(tg.AWS(t, "s3api", "list-objects-v2", "--bucket", bucket)), &viaCLI); err != nil {
		t.Fatal(err)
	}
	var cliKeys []string
	for _, o := range viaCLI.Contents {
		cliKeys = append(cliKeys, o.Key)
	}
	if !slices.Equal(cliKeys, want) {
		t.Fatalf("the aws CLI lists %d keys, want the %d put", len(cliKeys), len(want))
	}

	cases := []struct {
		name  string
		fault faultproxy.Fault
	}{
		{"500 InternalError", faultproxy.InternalError()},
		{"503 SlowDown", faultproxy.SlowDown()},
		{"reset after 300 bytes of the page", faultproxy.Fault{Kind: faultproxy.ResetResponse, Bytes: 300}},
		{"truncated after 300 bytes of the page", faultproxy.Fault{Kind: faultproxy.Truncate, Bytes: 300}},
		{"answer lost", faultproxy.Fault{Kind: faultproxy.ResetResponse}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			th := proxied(t, tg)
			sign := resign(th.conn, time.Now)
			th.proxy.Rewrite = func(r *http.Request) {
				q := r.URL.Query()
				if !q.Has("list-type") {
					return
				}
				q.Set("max-keys", fmt.Sprint(listPageSize))
				r.URL.RawQuery = q.Encode()
				sign(r)
			}
			th.proxy.Add(faultproxy.Rule{Match: faultproxy.Match{Op: "ListObjectsV2"}, Nth: 57, Fault: c.fault})
			got, err := th.run(context.Background(), t, s3mod.ListFiles, map[string]any{"bucket": bucket})
			if err != nil {
				t.Fatalf("list files: %v", err)
			}
			var keys []string
			for _, b := range got {
				keys = append(keys, b["key"].(string))
			}
			if !slices.Equal(keys, want) {
				t.Errorf("listed %d keys, want each of the %d exactly once, in order (first difference at %d)",
					len(keys), len(want), firstDifference(keys, want))
			}
			var lists []faultproxy.Request
			for _, r := range th.proxy.Requests() {
				if r.Op == "ListObjectsV2" {
					lists = append(lists, r)
				}
			}
			if len(lists) != 101 {
				t.Fatalf("%d ListObjectsV2 requests, want 100 pages and one retry", len(lists))
			}
			if lists[56].Fault.Kind == 0 {
				t.Fatalf("request 57 was not the broken one")
			}
			token := func(r faultproxy.Request) string { return r.Query.Get("continuation-token") }
			if token(lists[56]) == "" || token(lists[57]) != token(lists[56]) || token(lists[58]) == token(lists[57]) {
				t.Errorf("requests 57-59 asked for pages %q, %q, %q: want page 57 twice, then the next",
					token(lists[56]), token(lists[57]), token(lists[58]))
			}
		})
	}
}

func firstDifference(a, b []string) int {
	i := 0
	for i < min(len(a), len(b)) && a[i] == b[i] {
		i++
	}
	return i
}
