package s3

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
	"github.com/s3flow/s3flow/internal/s3test"
)

// apiCall runs Make an API call and returns its one bundle (nil if none).
func apiCall(t *testing.T, tg s3test.Target, raw map[string]any) (module.Bundle, error) {
	t.Helper()
	got, err := run(t, tg, APICall, raw)
	if len(got) > 1 {
		t.Fatalf("api-call emitted %d bundles, want at most one", len(got))
	}
	if len(got) == 0 {
		return nil, err
	}
	return got[0], err
}

func TestAPICallURLMustBeRelative(t *testing.T) {
	t.Parallel()
	tg, seen := fakeS3(t, "us-east-1", func(w http.ResponseWriter, r seenRequest) {
		t.Errorf("a request reached the server: %s %s", r.Method, r.Path)
	})
	for _, raw := range []string{
		"https://evil.example/x",
		"http://127.0.0.1:1/bucket",
		"//evil/x",
		"//evil.example",
		"evil/x",
		"evil.example/x",
		"bucket?list-type=2",
		"/bucket/key#fragment",
		"/bucket/key\r\nX-Injected: 1",
	} {
		t.Run(raw, func(t *testing.T) {
			// Through the declaration's check, as every interface does.
			_, err := run(t, tg, APICall, map[string]any{"url": raw})
			var ie *module.InputError
			if !errors.As(err, &ie) || ie.Field != "url" {
				t.Errorf("Check: %v, want an InputError on url", err)
			}
			// And Run alone, in case a caller skips Check.
			err = APICall.Exec(context.Background(), module.Env{Files: module.AllLocalFiles(), Connection: &tg.Conn}, module.Values{"url": raw, "method": "GET"},
				func(module.Bundle) error { t.Error("a bundle was emitted"); return nil })
			if !errors.As(err, &ie) || ie.Field != "url" {
				t.Errorf("Run: %v, want an InputError on url", err)
			}
		})
	}
	if n := len(seen()); n != 0 {
		t.Errorf("the server saw %d requests, want none", n)
	}
}

// FuzzParseRelativeURL checks the promise of parseRelativeURL: whatever
// the user writes, an accepted URL goes to the connection's host.
func FuzzParseRelativeURL(f *testing.F) {
	for _, s := range []string{"/b/k", "//evil/x", "https://evil/x", "/b?list-type=2&prefix=a b", "/b/%2F..%2F", "/@evil/x", "/b/a:b"} {
		f.Add(s)
	}
	endpoint, _ := url.Parse("http://s3.example:9000")
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := parseRelativeURL(raw)
		if err != nil {
			var ie *module.InputError
			if !errors.As(err, &ie) || ie.Field != "url" {
				t.Fatalf("parseRelativeURL(%q) = %v, want an InputError on url", raw, err)
			}
			return
		}
		if !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") {
			t.Fatalf("accepted %q", raw)
		}
		u, err := r.URL(endpoint)
		if err != nil {
			return // refused later, before any request
		}
		if u.Scheme != "http" || u.Host != "s3.example:9000" || u.User != nil {
			t.Fatalf("%q goes to %s", raw, u.Redacted())
		}
	})
}

func TestAPICallPutThenGet(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			u := "/" + bucket + "/dir/hello.txt"
			put, err := apiCall(t, tg, map[string]any{"url": u, "method": "PUT", "body": "hello, world\n",
				"headers": map[string]any{"Content-Type": "text/plain"}})
			if err != nil {
				t.Fatal(err)
			}
			if put["statusCode"] != int64(200) {
				t.Errorf("PUT status %v, want 200", put["statusCode"])
			}
			etag := put["headers"].(map[string]string)["Etag"]
			if etag == "" {
				t.Errorf("PUT answer has no ETag header: %v", put["headers"])
			}
			get, err := apiCall(t, tg, map[string]any{"url": u})
			if err != nil {
				t.Fatal(err)
			}
			if get["statusCode"] != int64(200) || get["body"] != "hello, world\n" {
				t.Errorf("GET = %v %q, want 200 %q", get["statusCode"], get["body"], "hello, world\n")
			}
			if h := get["headers"].(map[string]string); h["Etag"] != etag || h["Content-Type"] != "text/plain" {
				t.Errorf("GET headers ETag %q Content-Type %q, want %q text/plain", h["Etag"], h["Content-Type"], etag)
			}
		})
	}
}

// TestAPICallAwkwardKeys shows keys are encoded exactly once: what
// api-call writes, the aws CLI finds under the literal key, and the other
// way round.
func TestAPICallAwkwardKeys(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			objects := awkwardObjects()
			for key, body := range objects {
				b, err := apiCall(t, tg, map[string]any{"url": "/" + bucket + "/s3flow/" + key, "method": "PUT", "body": body})
				if err != nil {
					t.Fatalf("PUT %q: %v", key, err)
				}
				if b["statusCode"] != int64(200) {
					t.Fatalf("PUT %q: status %v", key, b["statusCode"])
				}
			}
			var heads [][]string
			for _, key := range awkwardKeys {
				heads = append(heads, []string{"s3api", "head-object", "--bucket", bucket, "--key", "s3flow/" + key})
			}
			for i, out := range awsParallel(t, tg, heads) {
				key := awkwardKeys[i]
				var head struct{ ContentLength int64 }
				if err := json.Unmarshal([]byte(out), &head); err != nil || head.ContentLength != int64(len(objects[key])) {
					t.Errorf("aws head-object %q: %v, length %d, want %d", key, err, head.ContentLength, len(objects[key]))
				}
			}
			var wantKeys []string
			for _, k := range awkwardKeys {
				wantKeys = append(wantKeys, "s3flow/"+k)
			}
			slices.Sort(wantKeys)
			if keys := keysOf(awsListing(t, tg, bucket, "s3flow/")); !slices.Equal(keys, wantKeys) {
				t.Errorf("aws lists %q, want %q", keys, wantKeys)
			}

			// The reverse: the aws CLI uploads, api-call reads by literal key.
			awsObjects := map[string]string{}
			for key, body := range objects {
				awsObjects["aws/"+key] = "aws " + body
			}
			awsPutAll(t, tg, bucket, awsObjects)
			for key, body := range awsObjects {
				b, err := apiCall(t, tg, map[string]any{"url": "/" + bucket + "/" + key})
				if err != nil {
					t.Errorf("GET %q: %v", key, err)
					continue
				}
				if b["statusCode"] != int64(200) || b["body"] != body {
					t.Errorf("GET %q = %v %q, want 200 %q", key, b["statusCode"], b["body"], body)
				}
			}
		})
	}
}

// listBucketResult is the part of a ListObjectsV2 answer the tests read.
type listBucketResult struct {
	IsTruncated bool
	Contents    []struct{ Key string }
}

func parseListing(t *testing.T, b module.Bundle) []string {
	t.Helper()
	var doc listBucketResult
	if err := xml.Unmarshal([]byte(b["body"].(string)), &doc); err != nil {
		t.Fatalf("answer is not a listing: %v\n%s", err, b["body"])
	}
	var keys []string
	for _, c := range doc.Contents {
		keys = append(keys, c.Key)
	}
	return keys
}

func TestAPICallQuery(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			seedObjects(t, tg, bucket, map[string]string{
				"some prefix with spaces/a.txt":  "a",
				"some prefix with spaces/b+.txt": "b",
				"some prefix/c.txt":              "c",
				"some+prefix with spaces/d.txt":  "d",
			})

			b, err := apiCall(t, tg, map[string]any{"url": "/" + bucket,
				"query": map[string]any{"list-type": "2", "prefix": "some prefix with spaces/"}})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"some prefix with spaces/a.txt", "some prefix with spaces/b+.txt"}
			if keys := parseListing(t, b); !slices.Equal(keys, want) {
				t.Errorf("query prefix: keys %q, want %q", keys, want)
			}

			b, err = apiCall(t, tg, map[string]any{"url": "/" + bucket + "?list-type=2&max-keys=1"})
			if err != nil {
				t.Fatal(err)
			}
			var doc listBucketResult
			if err := xml.Unmarshal([]byte(b["body"].(string)), &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.Contents) != 1 || !doc.IsTruncated || doc.Contents[0].Key != "some prefix with spaces/a.txt" {
				t.Errorf("max-keys=1 in the URL: %+v, want one key and a truncated listing", doc)
			}

			// Both at once: items from the URL and from the query input.
			b, err = apiCall(t, tg, map[string]any{"url": "/" + bucket + "?list-type=2",
				"query": map[string]any{"prefix": "some+prefix"}})
			if err != nil {
				t.Fatal(err)
			}
			if keys, want := parseListing(t, b), []string{"some+prefix with spaces/d.txt"}; !slices.Equal(keys, want) {
				t.Errorf("prefix with +: keys %q, want %q", keys, want)
			}
		})
	}
}

func TestAPICallErrorAnswer(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			b, err := apiCall(t, tg, map[string]any{"url": "/nosuchbucket-xyz/k"})
			if err == nil {
				t.Fatal("no error for a missing bucket")
			}
			var s3err *s3client.Error
			if !errors.As(err, &s3err) || s3err.Code != "NoSuchBucket" || s3err.RequestID == "" || s3err.Status != 404 {
				t.Errorf("error %#v, want an *s3client.Error with code NoSuchBucket, a request id and status 404", s3err)
			}
			for _, part := range []string{"NoSuchBucket", "request id", "/nosuchbucket-xyz/k"} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not mention %q", err, part)
				}
			}
			if b == nil || b["statusCode"] != int64(404) || !strings.Contains(b["body"].(string), "NoSuchBucket") {
				t.Errorf("bundle %v, want statusCode 404 and the error document", b)
			}
		})
	}
}

// TestAPICallIgnoresAuthorization: s3flow signs; a user's Authorization
// header must neither replace nor break the signature.
func TestAPICallIgnoresAuthorization(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			for _, name := range []string{"Authorization", "authorization"} {
				b, err := apiCall(t, tg, map[string]any{"url": "/" + bucket, "query": map[string]any{"list-type": "2"},
					"headers": map[string]any{name: "AWS4-HMAC-SHA256 Credential=NOTME/20200101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00"}})
				if err != nil || b["statusCode"] != int64(200) {
					t.Errorf("with an %s header: %v, status %v; want 200", name, err, b["statusCode"])
				}
			}
		})
	}
}

// TestParseRelativeURL pins how the URL's path and query are split: both
// are literal (s3flow encodes them), items keep their order.
func TestParseRelativeURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw, path string
		query     []s3client.QueryParam
	}{
		{raw: "/", path: "/"},
		{raw: "/demo?tagging", path: "/demo", query: []s3client.QueryParam{{Name: "tagging"}}},
		{raw: "/b?list-type=2&max-keys=1", path: "/b", query: []s3client.QueryParam{{Name: "list-type", Value: "2"}, {Name: "max-keys", Value: "1"}}},
		{raw: "/b/a b+c=d.txt", path: "/b/a b+c=d.txt"},
		{raw: "/b?prefix=a=b&&x=", path: "/b", query: []s3client.QueryParam{{Name: "prefix", Value: "a=b"}, {Name: "x"}}},
	} {
		r, err := parseRelativeURL(tc.raw)
		if err != nil {
			t.Errorf("parseRelativeURL(%q): %v", tc.raw, err)
			continue
		}
		if r.Path != tc.path || !slices.Equal(r.Query, tc.query) {
			t.Errorf("parseRelativeURL(%q) = %q %v, want %q %v", tc.raw, r.Path, r.Query, tc.path, tc.query)
		}
	}
	// The encoding itself: each reserved character once, as %XX.
	r, _ := parseRelativeURL("/b/a b+c=d&(1)~é.txt?prefix=x y+z")
	u, err := r.URL(&url.URL{Scheme: "http", Host: "h"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.EscapedPath(), "/b/a%20b%2Bc%3Dd%26%281%29~%C3%A9.txt"; got != want {
		t.Errorf("path %s, want %s", got, want)
	}
	if got, want := u.RawQuery, "prefix=x%20y%2Bz"; got != want {
		t.Errorf("query %s, want %s", got, want)
	}
	if q, _ := url.ParseQuery(u.RawQuery); q.Get("prefix") != "x y+z" {
		t.Errorf("query decodes to %q", q.Get("prefix"))
	}
}
