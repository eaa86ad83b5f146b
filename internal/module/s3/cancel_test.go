package s3

import (
	"context"
	"errors"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3test"
)

// TestUploadCancelAborts: cancelling an upload in the middle (Ctrl-C)
// aborts its multipart upload, so no orphan parts remain and no object
// appears.
func TestUploadCancelAborts(t *testing.T) {
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	target, _ := url.Parse(tg.Conn.Endpoint)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var parts atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("partNumber") {
			if parts.Add(1) == 2 {
				cancel() // the user presses Ctrl-C while parts are in flight
			}
			time.Sleep(200 * time.Millisecond)
		}
		proxy.ServeHTTP(w, r)
	}))
	defer slow.Close()
	conn := tg.Conn
	conn.Endpoint = slow.URL

	src := filepath.Join(t.TempDir(), "big.bin")
	data := make([]byte, 40<<20)
	rand.New(rand.NewSource(1)).Read(data)
	os.WriteFile(src, data, 0o644)
	in, err := UploadFile.Check(map[string]any{"bucket": bucket, "file": src, "part_size": int64(defaultUploadPartMiB)})
	if err != nil {
		t.Fatal(err)
	}
	err = UploadFile.Exec(ctx, module.Env{Files: module.AllLocalFiles(), Connection: &conn}, in, func(module.Bundle) error { return nil })
	if err == nil || !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("cancelled upload: err = %v", err)
	}
	cl := tg.Client(t).S3("")
	ups, err := cl.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Errorf("%d multipart upload(s) left after cancelling", len(ups.Uploads))
	}
	if _, err := cl.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("big.bin")}); err == nil {
		t.Errorf("a cancelled upload left an object")
	}
}
