package faultproxy_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/faultproxy"
	s3mod "github.com/s3flow/s3flow/internal/module/s3"
	"github.com/s3flow/s3flow/internal/s3client"
)

const amzDate = "20060102T150405Z"

// aheadServer makes the proxy play a server whose clock is offset ahead
// of this machine's, as S3 behaves: a request signed more than 15 minutes
// from its time gets 403 RequestTimeTooSkewed; every answer's Date is its
// time. Requests it accepts are signed again with the real time for the
// real server behind it. It returns the count of requests refused.
func aheadServer(th *through, offset time.Duration) *atomic.Int32 {
	var refused atomic.Int32
	now := func() time.Time { return time.Now().Add(offset).UTC() }
	th.proxy.Intercept = func(w http.ResponseWriter, r *http.Request) bool {
		signed, err := time.Parse(amzDate, r.Header.Get("X-Amz-Date"))
		if err != nil || (signed.Sub(now()) < 15*time.Minute && now().Sub(signed) < 15*time.Minute) {
			return false
		}
		refused.Add(1)
		w.Header().Set("Date", now().Format(http.TimeFormat))
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
			`<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message>`+
			`<RequestTime>%s</RequestTime><ServerTime>%s</ServerTime><MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds></Error>`,
			signed.Format(time.RFC3339), now().Format(time.RFC3339))
		return true
	}
	th.proxy.Rewrite = resign(th.conn, time.Now)
	th.proxy.ModifyResponse = func(resp *http.Response) error {
		resp.Header.Set("Date", now().Format(http.TimeFormat))
		return nil
	}
	return &refused
}

// TestClockSkewIsCorrected: against a server whose clock is 20 minutes
// ahead, the SDK's clock-skew correction (on by default) learns the offset
// from the first refusal and signs every later request with it: a
// multipart upload costs one refused request, and the object is whole.
func TestClockSkewIsCorrected(t *testing.T) {
	tg, bucket := setup(t)
	th := proxied(t, tg)
	refused := aheadServer(th, 20*time.Minute)
	data := randomBytes(6, uploadSize)
	if _, err := th.run(context.Background(), t, s3mod.UploadFile, map[string]any{"bucket": bucket, "file": writeFile(t, "big.bin", data), "part_size": partMiB}); err != nil {
		t.Fatalf("upload: %v", err)
	}
	if n := refused.Load(); n != 1 {
		t.Errorf("%d requests refused as skewed, want 1 (requests %v)", n, ops(th.proxy.Requests()))
	}
	obj, ok := awsObject(t, tg, bucket, "big.bin")
	if !ok {
		t.Fatal("no object")
	}
	assertSame(t, "the object", obj, data)
}

// TestClockSkewExplained: with one attempt per request there is no room
// to correct, and the refusal comes back in words: what is wrong and by
// how much.
func TestClockSkewExplained(t *testing.T) {
	tg, bucket := setup(t)
	th := proxied(t, tg)
	th.conn.MaxAttempts = 1
	refused := aheadServer(th, 20*time.Minute)
	_, err := th.run(context.Background(), t, s3mod.ListFiles, map[string]any{"bucket": bucket})
	var e *s3client.Error
	if !errors.As(err, &e) || e.Code != "RequestTimeTooSkewed" {
		t.Fatalf("err = %v, want RequestTimeTooSkewed", err)
	}
	t.Logf("error: %v", err)
	if !strings.Contains(e.Hint, "20 minutes behind") || !strings.Contains(e.Hint, "clock") {
		t.Errorf("hint %q does not say the clock is 20 minutes behind", e.Hint)
	}
	if n := refused.Load(); n != 1 {
		t.Errorf("%d requests refused, want 1", n)
	}
}

// TestClockSkewRealServer signs every request as a machine whose clock is
// 20 minutes behind: the real server refuses with RequestTimeTooSkewed.
// Its Date agrees with this machine's clock, so the SDK sees no skew to
// correct, and the answer is explained.
func TestClockSkewRealServer(t *testing.T) {
	tg, bucket := setup(t)
	th := proxied(t, tg)
	th.proxy.Rewrite = resign(th.conn, func() time.Time { return time.Now().Add(-20 * time.Minute) })
	_, err := th.run(context.Background(), t, s3mod.ListFiles, map[string]any{"bucket": bucket})
	var e *s3client.Error
	if !errors.As(err, &e) || e.Code != "RequestTimeTooSkewed" {
		t.Fatalf("err = %v, want the server's RequestTimeTooSkewed", err)
	}
	t.Logf("error: %v", err)
	if !strings.Contains(e.Hint, "clock") {
		t.Errorf("hint %q says nothing of the clock", e.Hint)
	}
	if n := th.proxy.Count(faultproxy.Match{Op: "ListObjectsV2"}); n != 1 {
		t.Errorf("%d ListObjectsV2 requests, want 1: a skew the client cannot see is not retried", n)
	}
}
