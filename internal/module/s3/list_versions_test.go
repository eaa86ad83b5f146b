package s3

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
	"github.com/s3flow/s3flow/internal/s3test"
)

// enableVersioning turns versioning on and reports whether the server
// could. The standalone versitygw and the local endpoint run without a
// versioning folder and answer VersioningNotConfigured; SeaweedFS can.
func enableVersioning(t *testing.T, tg s3test.Target, bucket string) bool {
	t.Helper()
	_, err := tg.Client(t).S3("").PutBucketVersioning(context.Background(), &s3.PutBucketVersioningInput{
		Bucket: aws.String(bucket), VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	})
	if err != nil {
		t.Logf("%s cannot version buckets: %v", tg.Name, s3client.Explain(err))
		return false
	}
	return true
}

// listedVersion is what both s3flow and the aws CLI say about one version.
type listedVersion struct {
	Key, VersionID   string
	IsLatest, Marker bool
	Size             int64
	ETag             string
}

func versionsOf(t *testing.T, bundles []module.Bundle) []listedVersion {
	t.Helper()
	got := make([]listedVersion, len(bundles))
	for i, b := range bundles {
		size, ok := b["size"].(int64)
		if !ok {
			t.Fatalf("bundle %d: size is %T, want int64", i, b["size"])
		}
		if lm, _ := b["lastModified"].(time.Time); lm.IsZero() || lm.Location() != time.UTC {
			t.Errorf("bundle %d: lastModified %v, want a UTC time", i, b["lastModified"])
		}
		got[i] = listedVersion{
			Key: b["key"].(string), VersionID: b["versionId"].(string), IsLatest: b["isLatest"].(bool),
			Marker: b["deleteMarker"].(bool), Size: size, ETag: b["etag"].(string),
		}
	}
	return got
}

// awsVersions lists versions and delete markers with the aws CLI, folder
// markers left out, sorted as s3flow sorts them.
func awsVersions(t *testing.T, tg s3test.Target, bucket string, args ...string) []listedVersion {
	t.Helper()
	out := tg.AWS(t, append([]string{"s3api", "list-object-versions", "--bucket", bucket}, args...)...)
	if strings.TrimSpace(out) == "" {
		return nil
	}
	type entry struct {
		Key, VersionId, ETag string
		IsLatest             bool
		Size                 int64
		LastModified         time.Time
	}
	var doc struct{ Versions, DeleteMarkers []entry }
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("aws list-object-versions output: %v\n%s", err, out)
	}
	type timed struct {
		v  listedVersion
		at time.Time
	}
	var all []timed
	for _, e := range doc.Versions {
		all = append(all, timed{listedVersion{Key: e.Key, VersionID: e.VersionId, IsLatest: e.IsLatest, Size: e.Size, ETag: e.ETag}, e.LastModified})
	}
	for _, e := range doc.DeleteMarkers {
		all = append(all, timed{listedVersion{Key: e.Key, VersionID: e.VersionId, IsLatest: e.IsLatest, Marker: true}, e.LastModified})
	}
	slices.SortStableFunc(all, func(a, b timed) int {
		if c := strings.Compare(a.v.Key, b.v.Key); c != 0 {
			return c
		}
		if a.v.IsLatest != b.v.IsLatest {
			if a.v.IsLatest {
				return -1
			}
			return 1
		}
		return b.at.Compare(a.at)
	})
	var got []listedVersion
	for _, e := range all {
		if !strings.HasSuffix(e.v.Key, "/") {
			got = append(got, e.v)
		}
	}
	return got
}

func TestListVersions(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			versioned := enableVersioning(t, tg, bucket)
			cl := tg.Client(t).S3("")
			etags := seedObjects(t, tg, bucket, map[string]string{
				"docs/":          "", // a folder marker, not a file
				"docs/a.txt":     "first",
				"docs/b.txt":     "bee",
				"docs/sub/c.txt": "sea",
				"docsx.txt":      "not in the folder",
			})
			if versioned {
				// Time stamps have whole seconds on some servers: the order of
				// versions is only clear a second apart.
				time.Sleep(1100 * time.Millisecond)
				seedObjects(t, tg, bucket, map[string]string{"docs/a.txt": "second!"})
				if _, err := cl.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("docs/b.txt")}); err != nil {
					t.Fatal(err)
				}
			}

			got, err := run(t, tg, ListVersions, map[string]any{"bucket": bucket, "prefix": "/docs/"})
			if err != nil {
				t.Fatal(err)
			}
			flat := versionsOf(t, got)
			if want := awsVersions(t, tg, bucket, "--prefix", "docs/", "--delimiter", "/"); !slices.Equal(flat, want) {
				t.Errorf("s3flow lists\n%+v\naws lists\n%+v", flat, want)
			}
			if versioned {
				want := []listedVersion{
					{Key: "docs/a.txt", IsLatest: true, Size: 7},
					{Key: "docs/a.txt", Size: 5, ETag: etags["docs/a.txt"]},
					{Key: "docs/b.txt", IsLatest: true, Marker: true},
					{Key: "docs/b.txt", Size: 3, ETag: etags["docs/b.txt"]},
				}
				if len(flat) != len(want) {
					t.Fatalf("got %+v, want 4 entries like %+v", flat, want)
				}
				for i, w := range want {
					g := flat[i]
					if g.Key != w.Key || g.IsLatest != w.IsLatest || g.Marker != w.Marker || g.Size != w.Size || (w.ETag != "" && g.ETag != w.ETag) || g.VersionID == "" {
						t.Errorf("entry %d: %+v, want like %+v with a version id", i, g, w)
					}
				}
			} else {
				// Without versioning every file has one version, the latest.
				// Which id it has is the server's to say: S3 says "null".
				if keys := versionKeys(flat); !slices.Equal(keys, []string{"docs/a.txt", "docs/b.txt"}) {
					t.Fatalf("keys %q, want docs/a.txt, docs/b.txt", keys)
				}
				for _, v := range flat {
					if !v.IsLatest || v.Marker || v.ETag != etags[v.Key] {
						t.Errorf("%+v: want the latest version, no delete marker, the put's ETag", v)
					}
					t.Logf("%s: %s lists version id %q", tg.Name, v.Key, v.VersionID)
				}
			}

			got, err = run(t, tg, ListVersions, map[string]any{"bucket": bucket, "prefix": "docs", "recursive": true})
			if err != nil {
				t.Fatal(err)
			}
			deep := versionsOf(t, got)
			if want := awsVersions(t, tg, bucket, "--prefix", "docs/"); !slices.Equal(deep, want) {
				t.Errorf("recursive: s3flow lists\n%+v\naws lists\n%+v", deep, want)
			}
			if keys := slices.Compact(versionKeys(deep)); !slices.Equal(keys, []string{"docs/a.txt", "docs/b.txt", "docs/sub/c.txt"}) {
				t.Errorf("recursive keys %q", keys)
			}

			got, err = run(t, tg, ListVersions, map[string]any{"bucket": bucket, "prefix": "docs", "limit": 1})
			if err != nil {
				t.Fatal(err)
			}
			if one := versionsOf(t, got); len(one) != 1 || one[0] != flat[0] {
				t.Errorf("limit 1: %+v, want [%+v]", one, flat[0])
			}

			_, err = run(t, tg, ListVersions, map[string]any{"bucket": bucket + "-missing"})
			if s3client.Code(err) != "NoSuchBucket" || !strings.Contains(err.Error(), "list versions in") {
				t.Errorf("missing bucket: %v, want NoSuchBucket saying what failed", err)
			}
		})
	}
}

func versionKeys(vs []listedVersion) []string {
	keys := make([]string, len(vs))
	for i, v := range vs {
		keys[i] = v.Key
	}
	return keys
}

// TestListVersionsAwkwardKeys follows markers two entries at a time
// through keys that URL encoding mangles: the markers in the answer are
// encoded and must go back decoded.
func TestListVersionsAwkwardKeys(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			seedObjects(t, tg, bucket, awkwardObjects())
			var keys []string
			pages := 0
			for page, err := range versionPages(context.Background(), tg.Client(t).S3(""), s3.ListObjectVersionsInput{Bucket: aws.String(bucket)}, 2) {
				if err != nil {
					t.Fatal(err)
				}
				if pages++; pages > len(awkwardKeys) {
					t.Fatalf("more than %d pages: the markers go round in circles", pages)
				}
				for _, v := range pageVersions(page) {
					keys = append(keys, v.key)
				}
			}
			if want := slices.Sorted(slices.Values(awkwardKeys)); !slices.Equal(keys, want) {
				t.Errorf("keys\n%q\nwant\n%q", keys, want)
			}
			if pages < len(awkwardKeys)/2 {
				t.Errorf("%d pages for %d keys two at a time", pages, len(awkwardKeys))
			}
		})
	}
}

// TestListVersionsPageOrder merges versions and delete markers as S3 lists them.
func TestListVersionsPageOrder(t *testing.T) {
	t.Parallel()
	at := func(sec int) *time.Time { x := time.Date(2026, 1, 1, 0, 0, sec, 0, time.UTC); return &x }
	page := &s3.ListObjectVersionsOutput{
		Versions: []types.ObjectVersion{
			{Key: aws.String("a"), VersionId: aws.String("a2"), IsLatest: aws.Bool(false), LastModified: at(2), Size: aws.Int64(2)},
			{Key: aws.String("a"), VersionId: aws.String("a1"), IsLatest: aws.Bool(false), LastModified: at(1), Size: aws.Int64(1)},
			{Key: aws.String("b"), VersionId: aws.String("b1"), IsLatest: aws.Bool(true), LastModified: at(1)},
		},
		DeleteMarkers: []types.DeleteMarkerEntry{
			{Key: aws.String("a"), VersionId: aws.String("am"), IsLatest: aws.Bool(true), LastModified: at(3)},
			{Key: aws.String("0"), VersionId: aws.String("zm"), IsLatest: aws.Bool(true), LastModified: at(9)},
		},
	}
	var got []string
	for _, v := range pageVersions(page) {
		got = append(got, fmt.Sprintf("%s/%s/%v/%v", v.key, v.versionID, v.isLatest, v.marker))
	}
	want := []string{"0/zm/true/true", "a/am/true/true", "a/a2/false/false", "a/a1/false/false", "b/b1/true/false"}
	if !slices.Equal(got, want) {
		t.Errorf("order\n%q\nwant\n%q", got, want)
	}
}

// TestListVersionsNotImplemented: a server without version listing says
// so in words.
func TestListVersionsNotImplemented(t *testing.T) {
	t.Parallel()
	tg, _ := fakeS3(t, "us-east-1", func(w http.ResponseWriter, r seenRequest) {
		writeS3Error(w, http.StatusNotImplemented, "NotImplemented")
	})
	_, err := run(t, tg, ListVersions, map[string]any{"bucket": "demo"})
	if s3client.Code(err) != "NotImplemented" || !strings.Contains(err.Error(), "does not list versions") {
		t.Errorf("error %v, want NotImplemented explained", err)
	}
}

// versionsServer answers ListObjectVersions for keys, one null version
// each, max-keys at a time. inclusive lists the entry the key marker names
// again, as versitygw 1.8 does; stuck never moves past the first page.
func versionsServer(keys []string, inclusive, stuck bool) func(http.ResponseWriter, seenRequest) {
	return func(w http.ResponseWriter, r seenRequest) {
		q, _ := url.ParseQuery(r.Query)
		n, _ := strconv.Atoi(q.Get("max-keys"))
		start := 0
		if m := q.Get("key-marker"); m != "" && !stuck {
			start = slices.Index(keys, m)
			if !inclusive {
				start++
			}
		}
		end := min(start+n, len(keys))
		var b strings.Builder
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><ListVersionsResult>`)
		if end < len(keys) {
			fmt.Fprintf(&b, `<IsTruncated>true</IsTruncated><NextKeyMarker>%s</NextKeyMarker><NextVersionIdMarker>null</NextVersionIdMarker>`, keys[end-1])
		}
		for _, k := range keys[start:end] {
			fmt.Fprintf(&b, `<Version><Key>%s</Key><VersionId>null</VersionId><IsLatest>true</IsLatest><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"e"</ETag><Size>1</Size></Version>`, k)
		}
		b.WriteString(`</ListVersionsResult>`)
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, b.String())
	}
}

// TestListVersionsRepeatedMarker: a server that lists the marker's entry
// again still gives each version once, whatever the page size; one that
// never moves on fails instead of looping.
func TestListVersionsRepeatedMarker(t *testing.T) {
	t.Parallel()
	keys := []string{"a", "b", "c", "d", "e"}
	for _, inclusive := range []bool{false, true} {
		for _, limit := range []int64{1, 2, 3, 0} {
			t.Run(fmt.Sprintf("inclusive=%v/limit=%d", inclusive, limit), func(t *testing.T) {
				t.Parallel()
				tg, seen := fakeS3(t, "us-east-1", versionsServer(keys, inclusive, false))
				var got []string
				// A page size of limit; limit 0 lists all, 2 a page.
				for page, err := range versionPages(context.Background(), tg.Client(t).S3(""), s3.ListObjectVersionsInput{Bucket: aws.String("demo")}, int32(max(limit, 2))) {
					if err != nil {
						t.Fatal(err)
					}
					for _, v := range pageVersions(page) {
						got = append(got, v.key)
					}
				}
				if !slices.Equal(got, keys) {
					t.Errorf("keys %q, want %q", got, keys)
				}
				if limit == 0 {
					return
				}
				bundles, err := run(t, tg, ListVersions, map[string]any{"bucket": "demo", "limit": limit})
				if err != nil {
					t.Fatal(err)
				}
				if len(bundles) != int(limit) || bundles[0]["key"] != "a" {
					t.Errorf("limit %d: %v", limit, bundles)
				}
				if len(seen()) > 20 {
					t.Errorf("%d requests for 5 keys", len(seen()))
				}
			})
		}
	}
	t.Run("stuck", func(t *testing.T) {
		t.Parallel()
		tg, _ := fakeS3(t, "us-east-1", versionsServer(keys, true, true))
		var err error
		pages := 0
		for _, err = range versionPages(context.Background(), tg.Client(t).S3(""), s3.ListObjectVersionsInput{Bucket: aws.String("demo")}, 2) {
			if pages++; pages > 5 {
				t.Fatal("still listing after 5 pages")
			}
		}
		if err == nil || !strings.Contains(err.Error(), "lists the same versions again") {
			t.Errorf("error %v, want one saying the server does not move on", err)
		}
	})
}
