package s3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/s3test"
)

// seenRequest is what a fake S3 server recorded of one request.
type seenRequest struct {
	Method, Path, Body string
	// Query is the raw query string.
	Query string
	// Region is the region of the Authorization header's credential scope.
	Region string
}

var scopeRegion = regexp.MustCompile(`Credential=[^/]+/\d{8}/([^/]+)/s3/aws4_request`)

// fakeS3 starts an httptest server standing in for S3, for answers a real
// server will not give on demand (another owner's bucket, another region).
// It returns a target that reaches it and a function returning the
// requests seen so far.
func fakeS3(t *testing.T, region string, answer func(w http.ResponseWriter, r seenRequest)) (s3test.Target, func() []seenRequest) {
	t.Helper()
	var mu sync.Mutex
	var seen []seenRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := seenRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(body)}
		if m := scopeRegion.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
			req.Region = m[1]
		}
		mu.Lock()
		seen = append(seen, req)
		mu.Unlock()
		answer(w, req)
	}))
	t.Cleanup(srv.Close)
	tg := s3test.Target{Name: "fake", Conn: connection.Connection{
		Name: "fake", Kind: connection.KindKeys,
		AccessKeyID: "AKIDFAKE", SecretAccessKey: connection.NewSecret("fake-secret"),
		Region: region, Endpoint: srv.URL, PathStyle: true, ChecksumMode: connection.ChecksumWhenRequired,
		AllowPrivate: true, // the fake runs on 127.0.0.1
	}}
	return tg, func() []seenRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]seenRequest(nil), seen...)
	}
}

// writeS3Error writes an S3 XML error document.
func writeS3Error(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("X-Amz-Request-Id", "FAKEREQ123")
	w.WriteHeader(status)
	io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+code+`</Code><Message>fake `+code+`</Message><RequestId>FAKEREQ123</RequestId></Error>`)
}

func uniqueBucketName(t *testing.T) string {
	b := make([]byte, 6)
	rand.Read(b)
	return "s3flow-cb-" + hex.EncodeToString(b)
}

func TestCreateBucket(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			name := uniqueBucketName(t)
			cl := tg.Client(t).S3("")
			t.Cleanup(func() { s3test.EmptyAndDelete(t, cl, name) })

			got, err := run(t, tg, CreateBucket, map[string]any{"name": name})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"name": name, "region": "us-east-1", "created": true}
			if len(got) != 1 || !sameBundle(got[0], want) {
				t.Fatalf("first create: bundles %v, want [%v]", got, want)
			}
			if _, err := cl.HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String(name)}); err != nil {
				t.Fatalf("the bucket is not there after create: %v", err)
			}

			got, err = run(t, tg, CreateBucket, map[string]any{"name": name})
			if err != nil {
				t.Fatalf("second create of a bucket we own: %v", err)
			}
			want["created"] = false
			if len(got) != 1 || !sameBundle(got[0], want) {
				t.Fatalf("second create: bundles %v, want [%v]", got, want)
			}
		})
	}
}

func sameBundle(got, want map[string]any) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// TestCreateBucketLocationConstraint records the CreateBucket request: a
// region other than us-east-1 goes in the body, us-east-1 sends none.
func TestCreateBucketLocationConstraint(t *testing.T) {
	for _, tc := range []struct {
		connRegion, region string
		wantBody           string // "" means no LocationConstraint at all
	}{
		{connRegion: "us-east-1", region: "eu-west-1", wantBody: "<LocationConstraint>eu-west-1</LocationConstraint>"},
		{connRegion: "eu-west-1", region: "", wantBody: "<LocationConstraint>eu-west-1</LocationConstraint>"},
		{connRegion: "eu-west-1", region: "us-east-1"},
		{connRegion: "us-east-1", region: ""},
	} {
		t.Run(tc.connRegion+"/"+tc.region, func(t *testing.T) {
			t.Parallel()
			tg, seen := fakeS3(t, tc.connRegion, func(w http.ResponseWriter, r seenRequest) {
				if r.Method == http.MethodHead {
					w.WriteHeader(http.StatusNotFound)
					return
				}
				w.Header().Set("Location", "/demo")
			})
			raw := map[string]any{"name": "demo-bucket"}
			if tc.region != "" {
				raw["region"] = tc.region
			}
			got, err := run(t, tg, CreateBucket, raw)
			if err != nil {
				t.Fatal(err)
			}
			wantRegion := tc.region
			if wantRegion == "" {
				wantRegion = tc.connRegion
			}
			if want := map[string]any{"name": "demo-bucket", "region": wantRegion, "created": true}; len(got) != 1 || !sameBundle(got[0], want) {
				t.Fatalf("bundles %v, want [%v]", got, want)
			}
			var put *seenRequest
			for _, r := range seen() {
				if r.Method == http.MethodPut {
					put = &r
				}
				if r.Region != wantRegion {
					t.Errorf("%s %s signed for %q, want %q", r.Method, r.Path, r.Region, wantRegion)
				}
			}
			if put == nil || put.Path != "/demo-bucket" {
				t.Fatalf("no PUT /demo-bucket among %+v", seen())
			}
			if tc.wantBody == "" {
				if strings.Contains(put.Body, "LocationConstraint") {
					t.Errorf("body %q has a LocationConstraint; us-east-1 wants none", put.Body)
				}
			} else if !strings.Contains(put.Body, tc.wantBody) {
				t.Errorf("body %q does not contain %s", put.Body, tc.wantBody)
			}
		})
	}
}

// TestCreateBucketAnswers covers the answers that say the bucket exists.
func TestCreateBucketAnswers(t *testing.T) {
	for _, tc := range []struct {
		name        string
		region      string
		head        int    // status for HeadBucket
		put         int    // status for CreateBucket
		code        string // S3 error code of the CreateBucket answer
		wantCreated bool
		wantErr     []string // parts of the error; nil means success
	}{
		{name: "owned elsewhere", region: "us-east-1", head: 403, put: 409, code: "BucketAlreadyExists",
			wantErr: []string{"BucketAlreadyExists", "FAKEREQ123", "choose another name", `"demo-bucket"`}},
		{name: "owned elsewhere eu", region: "eu-west-1", put: 409, code: "BucketAlreadyExists",
			wantErr: []string{"BucketAlreadyExists", "choose another name"}},
		{name: "owned by you", region: "eu-west-1", put: 409, code: "BucketAlreadyOwnedByYou"},
		// us-east-1 answers 200 to re-creating a bucket you own.
		{name: "owned by you us-east-1 legacy", region: "us-east-1", head: 200, put: 200},
		{name: "new", region: "us-east-1", head: 404, put: 200, wantCreated: true},
		{name: "access denied", region: "us-east-1", head: 403, put: 403, code: "AccessDenied",
			wantErr: []string{"AccessDenied", "FAKEREQ123"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tg, _ := fakeS3(t, tc.region, func(w http.ResponseWriter, r seenRequest) {
				switch {
				case r.Method == http.MethodHead && tc.head != 0:
					w.WriteHeader(tc.head)
				case r.Method == http.MethodPut && tc.code != "":
					writeS3Error(w, tc.put, tc.code)
				case r.Method == http.MethodPut:
					w.WriteHeader(tc.put)
				default:
					t.Errorf("unexpected %s %s", r.Method, r.Path)
					w.WriteHeader(http.StatusTeapot)
				}
			})
			got, err := run(t, tg, CreateBucket, map[string]any{"name": "demo-bucket"})
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("no error; bundles %v", got)
				}
				for _, part := range tc.wantErr {
					if !strings.Contains(err.Error(), part) {
						t.Errorf("error %q does not mention %q", err, part)
					}
				}
				if len(got) != 0 {
					t.Errorf("bundles %v emitted for a failed create", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"name": "demo-bucket", "region": tc.region, "created": tc.wantCreated}
			if len(got) != 1 || !sameBundle(got[0], want) {
				t.Fatalf("bundles %v, want [%v]", got, want)
			}
		})
	}
}
