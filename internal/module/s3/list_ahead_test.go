package s3

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/s3client"
	"github.com/s3flow/s3flow/internal/s3test"
)

// TestPagesAhead: a listing that fetches its next page while the caller
// works on the last yields every page in order; a caller that stops early
// gets no page fetched beyond the one ahead; a listing cancelled between
// pages ends in an error, never as a folder that ended.
func TestPagesAhead(t *testing.T) {
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	keys := []string{"a", "b", "c", "d", "e"} // three pages of two
	putKeysConcurrently(t, tg, bucket, keys)
	target, _ := url.Parse(tg.Conn.Endpoint)

	for _, tt := range []struct {
		name         string
		stopAfter    int        // pages the caller takes (0: all)
		cancelOnNext bool       // the caller's context ends when the second page is asked for
		want         [][]string // what may be listed: one of these
		wantErr      error
		maxRequests  int32
	}{
		{name: "whole", want: [][]string{keys}, maxRequests: 3},
		{name: "stopped after a page", stopAfter: 1, want: [][]string{keys[:2]}, maxRequests: 2},
		// The second page's answer races the cancel on its way back, so
		// it may or may not be yielded; the third is never asked for.
		{name: "cancelled at the second page", cancelOnNext: true, want: [][]string{keys[:2], keys[:4]}, wantErr: context.Canceled, maxRequests: 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// The listing goes through a proxy of its own that counts its
			// requests.
			proxy := httputil.NewSingleHostReverseProxy(target)
			proxy.ErrorLog = log.New(io.Discard, "", 0) // cancelled requests
			var requests atomic.Int32
			counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				if tt.cancelOnNext && r.URL.Query().Has("continuation-token") {
					cancel()
				}
				proxy.ServeHTTP(w, r)
			}))
			defer counting.Close()
			conn := tg.Conn
			conn.Endpoint = counting.URL
			c, err := s3client.New(context.Background(), conn, "", s3client.Options{})
			if err != nil {
				t.Fatal(err)
			}

			var got []string
			pagesSeen := 0
			for page, err := range pagesAhead(ctx, c.S3(""), s3.ListObjectsV2Input{Bucket: aws.String(bucket)}, 2) {
				if err != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("err = %v, want %v", err, tt.wantErr)
					}
					tt.wantErr = nil
					break
				}
				for _, o := range page.Contents {
					got = append(got, aws.ToString(o.Key))
				}
				if pagesSeen++; pagesSeen == tt.stopAfter {
					break
				}
			}
			if tt.wantErr != nil {
				t.Fatalf("the listing ended without an error, want %v", tt.wantErr)
			}
			if !slices.ContainsFunc(tt.want, func(w []string) bool { return slices.Equal(got, w) }) {
				t.Errorf("listed %q, want one of %q", got, tt.want)
			}
			if n := requests.Load(); n > tt.maxRequests {
				t.Errorf("%d requests, want at most %d", n, tt.maxRequests)
			}
		})
	}
}
