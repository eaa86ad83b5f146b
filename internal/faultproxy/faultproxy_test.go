package faultproxy_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/s3flow/s3flow/internal/faultproxy"
)

func TestOperation(t *testing.T) {
	t.Parallel()
	copySource := http.Header{"X-Amz-Copy-Source": {"/b/src"}}
	tests := []struct {
		method string
		object bool
		query  string
		header http.Header
		want   string
	}{
		{"GET", true, "x-id=GetObject", nil, "GetObject"},
		{"GET", true, "", nil, "GetObject"},
		{"PUT", true, "partNumber=3&uploadId=u", nil, "UploadPart"},
		{"PUT", true, "partNumber=3&uploadId=u", copySource, "UploadPartCopy"},
		{"POST", true, "uploads", nil, "CreateMultipartUpload"},
		{"POST", true, "uploadId=u", nil, "CompleteMultipartUpload"},
		{"DELETE", true, "uploadId=u", nil, "AbortMultipartUpload"},
		{"PUT", true, "", copySource, "CopyObject"},
		{"GET", false, "list-type=2&max-keys=10", nil, "ListObjectsV2"},
		{"GET", false, "uploads", nil, "ListMultipartUploads"},
		{"HEAD", false, "", nil, "HeadBucket"},
		{"GET", false, "tagging&acl", nil, "GET?acl&tagging"},
	}
	for _, tt := range tests {
		q, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		if got := faultproxy.Operation(tt.method, tt.object, q, tt.header); got != tt.want {
			t.Errorf("Operation(%s, object %v, %q) = %q, want %q", tt.method, tt.object, tt.query, got, tt.want)
		}
	}
}

// TestRuleCounting: a rule breaks the Nth matching request and Count-1
// after it; requests that do not match are not counted.
func TestRuleCounting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		nth, count int
		want       []bool // for matching requests 1, 2, ...
	}{
		{0, 0, []bool{true, false, false}},
		{3, 0, []bool{false, false, true, false}},
		{2, 2, []bool{false, true, true, false}},
		{2, -1, []bool{false, true, true, true}},
	}
	for _, tt := range tests {
		var got []bool
		for i := range tt.want {
			got = append(got, faultproxy.Hit(&faultproxy.Rule{Nth: tt.nth, Count: tt.count}, i+1))
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("Nth %d Count %d: request %d broken = %v, want %v", tt.nth, tt.count, i+1, got[i], tt.want[i])
			}
		}
	}
}

func TestCheckAborts(t *testing.T) {
	t.Parallel()
	abort := func(status int) faultproxy.Request {
		return faultproxy.Request{Op: "AbortMultipartUpload", Status: status}
	}
	check := func(status int) faultproxy.Request { return faultproxy.Request{Op: "ListParts", Status: status} }
	part := faultproxy.Request{Op: "UploadPart", Status: 200}
	tests := []struct {
		name   string
		reqs   []faultproxy.Request
		aborts int // 0: an error
	}{
		{"one abort that took", []faultproxy.Request{part, abort(204), check(404)}, 1},
		{"a part stored after the first abort", []faultproxy.Request{abort(204), part, check(200), abort(204), check(404)}, 2},
		{"the first abort refused", []faultproxy.Request{abort(500), check(200), abort(204), check(404)}, 2},
		{"no abort", []faultproxy.Request{part}, 0},
		{"an abort not checked", []faultproxy.Request{abort(204)}, 0},
		{"checked twice", []faultproxy.Request{abort(204), check(200), check(404)}, 0},
		{"the upload still there at the end", []faultproxy.Request{abort(204), check(200)}, 0},
		{"aborted again after it was gone", []faultproxy.Request{abort(204), check(404), abort(404), check(404)}, 0},
	}
	for _, tt := range tests {
		n, err := faultproxy.CheckAborts(tt.reqs)
		if n != tt.aborts || (err == nil) != (tt.aborts > 0) {
			t.Errorf("%s: %d aborts, err %v; want %d", tt.name, n, err, tt.aborts)
		}
	}
}
