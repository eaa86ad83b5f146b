package s3test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// CountingServer stands in for an S3 endpoint on 127.0.0.1 where a test
// must prove that no request (or how many) reached it: it counts requests
// and answers each with an empty bucket listing.
func CountingServer(t testing.TB) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult><Buckets></Buckets></ListAllMyBucketsResult>`))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}
