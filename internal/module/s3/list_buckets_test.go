package s3

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3test"
)

// awsBucketNames lists the bucket names with the aws CLI.
func awsBucketNames(t *testing.T, tg s3test.Target) []string {
	t.Helper()
	var doc struct{ Buckets []struct{ Name string } }
	if err := json.Unmarshal([]byte(tg.AWS(t, "s3api", "list-buckets")), &doc); err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(doc.Buckets))
	for i, b := range doc.Buckets {
		names[i] = b.Name
	}
	return names
}

func TestListBuckets(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			start := time.Now().Add(-time.Minute)
			mine := []string{tg.Bucket(t), tg.Bucket(t)}
			// The standalone servers are shared with tests running beside
			// this one, which make and delete buckets meanwhile: what the aws
			// CLI lists before and after bounds what s3flow may list.
			before := awsBucketNames(t, tg)
			got, err := run(t, tg, ListBuckets, map[string]any{})
			if err != nil {
				t.Fatal(err)
			}
			after := awsBucketNames(t, tg)

			var names []string
			for _, b := range got {
				name, _ := b["name"].(string)
				names = append(names, name)
				if _, ok := b["region"].(string); !ok {
					t.Errorf("%s: region is %T, want a string", name, b["region"])
				}
				created, _ := b["createdAt"].(time.Time)
				if created.IsZero() || created.Location() != time.UTC {
					t.Errorf("%s: createdAt %v, want a UTC time", name, b["createdAt"])
				}
				if slices.Contains(mine, name) && (created.Before(start) || created.After(time.Now().Add(time.Minute))) {
					t.Errorf("%s: createdAt %v, want about now", name, created)
				}
			}
			for _, name := range mine {
				if !slices.Contains(names, name) {
					t.Errorf("the new bucket %s is not listed in %q", name, names)
				}
			}
			if len(slices.Compact(slices.Sorted(slices.Values(names)))) != len(names) {
				t.Errorf("a bucket is listed twice: %q", names)
			}
			for _, name := range names {
				// A bucket that another test made after the first aws
				// listing and removed before the second is seen by
				// s3flow alone; any other name must be in one of them.
				transient := strings.HasPrefix(name, s3test.BucketPrefix)
				if !slices.Contains(before, name) && !slices.Contains(after, name) && !transient {
					t.Errorf("s3flow lists %s, which the aws CLI never did", name)
				}
			}
			for _, name := range before {
				if slices.Contains(after, name) && !slices.Contains(names, name) {
					t.Errorf("the aws CLI lists %s before and after, s3flow does not", name)
				}
			}
			if tg.Name != "local" {
				return
			}
			// The local endpoint is this test's own: the lists are equal,
			// and so they are when each page holds one bucket.
			if !slices.Equal(names, after) {
				t.Errorf("s3flow lists %q, aws lists %q", names, after)
			}
			var paged []string
			err = listBuckets(context.Background(), tg.Client(t).S3(""), 1, func(b module.Bundle) error {
				paged = append(paged, b["name"].(string))
				return nil
			})
			if err != nil || !slices.Equal(paged, after) {
				t.Errorf("one bucket a page: %q, %v; want %q", paged, err, after)
			}
		})
	}
}

// TestListBucketsPages follows ContinuationToken pages and reads
// BucketRegion, as AWS sends them; the test servers send one page and no
// regions.
func TestListBucketsPages(t *testing.T) {
	t.Parallel()
	tg, seen := fakeS3(t, "us-east-1", func(w http.ResponseWriter, r seenRequest) {
		q, _ := url.ParseQuery(r.Query)
		w.Header().Set("Content-Type", "application/xml")
		page := `<Bucket><Name>alpha</Name><CreationDate>2024-01-02T03:04:05.000Z</CreationDate><BucketRegion>eu-west-1</BucketRegion></Bucket>` +
			`<Bucket><Name>beta</Name><CreationDate>2025-06-07T08:09:10.000Z</CreationDate><BucketRegion>us-east-1</BucketRegion></Bucket>`
		token := "<ContinuationToken>page-2</ContinuationToken>"
		if q.Get("continuation-token") == "page-2" {
			page = `<Bucket><Name>gamma</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket>`
			token = ""
		}
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`+
			`<Owner><ID>me</ID></Owner><Buckets>`+page+`</Buckets>`+token+`</ListAllMyBucketsResult>`)
	})
	got, err := run(t, tg, ListBuckets, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	want := []module.Bundle{
		{"name": "alpha", "createdAt": time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), "region": "eu-west-1"},
		{"name": "beta", "createdAt": time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC), "region": "us-east-1"},
		{"name": "gamma", "createdAt": time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "region": ""},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("bundles\n%v\nwant\n%v", got, want)
	}
	reqs := seen()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2 (one per page): %+v", len(reqs), reqs)
	}
	for i, r := range reqs {
		q, _ := url.ParseQuery(r.Query)
		if q.Get("max-buckets") != "1000" {
			t.Errorf("request %d: max-buckets=%q, want 1000 (paginated)", i+1, q.Get("max-buckets"))
		}
	}
	if q, _ := url.ParseQuery(reqs[1].Query); q.Get("continuation-token") != "page-2" {
		t.Errorf("second request %q does not continue from page-2", reqs[1].Query)
	}
}
