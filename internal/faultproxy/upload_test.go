package faultproxy_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/faultproxy"
	s3mod "github.com/s3flow/s3flow/internal/module/s3"
)

// uploadSize makes upload_file go up in three parts of partMiB.
const uploadSize = 24 << 20

// partMiB is the part size these tests set: on a loopback endpoint (the
// proxy) a file under 5 GiB otherwise goes up in one PUT.
const partMiB = int64(8)

// TestUploadRetriesOnlyTheFailedPart breaks the 3rd UploadPart once, in
// each way a server or network can: the SDK's retryer sends that part
// again, and only that part; the object is the source, byte for byte.
func TestUploadRetriesOnlyTheFailedPart(t *testing.T) {
	tg, bucket := setup(t)
	data := randomBytes(1, uploadSize)
	src := writeFile(t, "big.bin", data)
	cases := []struct {
		name  string
		fault faultproxy.Fault
	}{
		{"503 SlowDown with Retry-After", faultproxy.SlowDown()},
		{"500 InternalError", faultproxy.InternalError()},
		{"502 from a gateway, no body", faultproxy.Fault{Kind: faultproxy.Error, Status: http.StatusBadGateway}},
		{"504 from a gateway, no body", faultproxy.Fault{Kind: faultproxy.Error, Status: http.StatusGatewayTimeout}},
		{"reset after 1 MiB of the part", faultproxy.Fault{Kind: faultproxy.ResetRequest, Bytes: 1 << 20}},
		{"answer lost after the part was stored", faultproxy.Fault{Kind: faultproxy.ResetResponse}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			th := proxied(t, tg)
			th.proxy.Add(faultproxy.Rule{Match: faultproxy.Match{Op: "UploadPart"}, Nth: 3, Fault: c.fault})
			key := "up/" + strings.NewReplacer(" ", "-", ",", "").Replace(c.name) + ".bin"
			folder, name, _ := strings.Cut(key, "/")
			if _, err := th.run(context.Background(), t, s3mod.UploadFile, map[string]any{
				"bucket": bucket, "folder": folder, "name": name, "file": src, "part_size": partMiB,
			}); err != nil {
				t.Fatalf("upload: %v", err)
			}
			reqs := th.proxy.Requests()
			faulted := th.proxy.Faulted()
			if len(faulted) != 1 {
				t.Fatalf("%d requests faulted, want 1 (requests: %v)", len(faulted), ops(reqs))
			}
			broken := faulted[0].Query.Get("partNumber")
			tries := map[string]int{}
			for _, r := range reqs {
				if r.Op == "UploadPart" {
					tries[r.Query.Get("partNumber")]++
				}
			}
			want := map[string]int{"1": 1, "2": 1, "3": 1}
			want[broken] = 2
			for part, n := range want {
				if tries[part] != n {
					t.Errorf("part %s sent %d times, want %d (part %s was broken; tries %v)", part, tries[part], n, broken, tries)
				}
			}
			got := ops(reqs)
			if got["UploadPart"] != 4 || got["CreateMultipartUpload"] != 1 || got["CompleteMultipartUpload"] != 1 || got["AbortMultipartUpload"] != 0 {
				t.Errorf("requests %v, want 4 UploadPart, one Create and one Complete, no Abort", got)
			}
			obj, ok := awsObject(t, tg, bucket, key)
			if !ok {
				t.Fatalf("aws s3api get-object: no object %s", key)
			}
			assertSame(t, "the object", obj, data)
			if ups := awsPendingUploads(t, tg, bucket, key); len(ups) != 0 {
				t.Errorf("multipart uploads left: %q", ups)
			}
		})
	}
}

// TestUploadSinglePutRetried breaks the one PUT that carries a file on a
// loopback endpoint, in each way a server or network can: the SDK seeks
// back to the start of the file and sends it again; the object is the
// source, byte for byte. Past the max attempts nothing is written.
func TestUploadSinglePutRetried(t *testing.T) {
	tg, bucket := setup(t)
	data := randomBytes(7, uploadSize)
	src := writeFile(t, "big.bin", data)
	for _, c := range []struct {
		name  string
		fault faultproxy.Fault
	}{
		{"503 SlowDown with Retry-After", faultproxy.SlowDown()},
		{"500 InternalError", faultproxy.InternalError()},
		{"reset after 1 MiB of the body", faultproxy.Fault{Kind: faultproxy.ResetRequest, Bytes: 1 << 20}},
		{"answer lost after the object was stored", faultproxy.Fault{Kind: faultproxy.ResetResponse}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			th := proxied(t, tg)
			th.proxy.Add(faultproxy.Rule{Match: faultproxy.Match{Op: "PutObject"}, Nth: 1, Fault: c.fault})
			key := strings.NewReplacer(" ", "-", ",", "").Replace(c.name) + ".bin"
			if _, err := th.run(context.Background(), t, s3mod.UploadFile, map[string]any{
				"bucket": bucket, "folder": "one", "name": key, "file": src,
			}); err != nil {
				t.Fatalf("upload: %v", err)
			}
			if got := ops(th.proxy.Requests()); got["PutObject"] != 2 || got["UploadPart"] != 0 {
				t.Errorf("requests %v, want 2 PutObject (the broken one again) and no parts", got)
			}
			obj, ok := awsObject(t, tg, bucket, "one/"+key)
			if !ok {
				t.Fatalf("aws s3api get-object: no object one/%s", key)
			}
			assertSame(t, "the object", obj, data)
		})
	}
	t.Run("past max attempts", func(t *testing.T) {
		t.Parallel()
		th := proxied(t, tg)
		th.conn.MaxAttempts = 2
		th.proxy.Add(faultproxy.Rule{Match: faultproxy.Match{Op: "PutObject"}, Count: -1, Fault: faultproxy.Fault{Kind: faultproxy.ResetRequest, Bytes: 1 << 20}})
		_, err := th.run(context.Background(), t, s3mod.UploadFile, map[string]any{"bucket": bucket, "folder": "never", "file": src})
		if err == nil {
			t.Fatal("an upload whose every try was cut off succeeded")
		}
		if n := th.proxy.Count(faultproxy.Match{Op: "PutObject"}); n != 2 {
			t.Errorf("PUT sent %d times, want 2 (max attempts 2)", n)
		}
		if obj, ok := awsObject(t, tg, bucket, "never/big.bin"); ok {
			t.Errorf("a failed upload left an object of %d bytes", len(obj))
		}
	})
}

// TestUploadFailureOutlastingRetries breaks every try of part 2: with the
// connection's max attempts at 2 the part is sent exactly twice, then the
// multipart upload is aborted. Nothing is left: no pending upload, no new
// object, and an object of that name that existed is unchanged.
func TestUploadFailureOutlastingRetries(t *testing.T) {
	tg, bucket := setup(t)
	data := randomBytes(2, uploadSize)
	src := writeFile(t, "big.bin", data)
	old := []byte("the object as it was before the upload\n")
	putObjects(t, tg, bucket, map[string][]byte{"kept/big.bin": old})
	cases := []struct {
		folder string
		before []byte
	}{
		{"new", nil},
		{"kept", old},
	}
	for _, c := range cases {
		t.Run(c.folder, func(t *testing.T) {
			t.Parallel()
			th := proxied(t, tg)
			th.conn.MaxAttempts = 2
			part2 := faultproxy.Match{Op: "UploadPart", Query: map[string]string{"partNumber": "2"}}
			th.proxy.Add(faultproxy.Rule{Match: part2, Count: -1, Fault: faultproxy.InternalError()})
			_, err := th.run(context.Background(), t, s3mod.UploadFile, map[string]any{"bucket": bucket, "folder": c.folder, "file": src, "part_size": partMiB})
			if err == nil || !strings.Contains(err.Error(), "InternalError") {
				t.Fatalf("err = %v, want the injected InternalError", err)
			}
			if n := th.proxy.Count(part2); n != 2 {
				t.Errorf("part 2 sent %d times, want 2 (max attempts 2)", n)
			}
			// The parts in flight are answered before the abort: one does it.
			if n, err := faultproxy.CheckAborts(th.proxy.Requests()); err != nil || n != 1 {
				t.Errorf("%d aborts (%v), want 1", n, err)
			}
			if ups := awsPendingUploads(t, tg, bucket, c.folder+"/"); len(ups) != 0 {
				t.Errorf("multipart uploads left: %q", ups)
			}
			obj, ok := awsObject(t, tg, bucket, c.folder+"/big.bin")
			switch {
			case c.before == nil && ok:
				t.Errorf("a failed upload left an object of %d bytes", len(obj))
			case c.before != nil && !ok:
				t.Error("the object that existed is gone")
			case c.before != nil:
				assertSame(t, "the object that existed", obj, c.before)
			}
		})
	}
}

// TestUploadStalledPartAborts holds the 2nd UploadPart until the run is
// cancelled (a hung server, Ctrl-C): the multipart upload is aborted and
// no object appears.
func TestUploadStalledPartAborts(t *testing.T) {
	tg, bucket := setup(t)
	src := writeFile(t, "big.bin", randomBytes(3, uploadSize))
	th := proxied(t, tg)
	th.proxy.Add(faultproxy.Rule{Match: faultproxy.Match{Op: "UploadPart"}, Nth: 2, Fault: faultproxy.Fault{Kind: faultproxy.Stall}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := th.run(ctx, t, s3mod.UploadFile, map[string]any{"bucket": bucket, "file": src, "part_size": partMiB})
		done <- err
	}()
	select {
	case <-th.proxy.Stalled():
	case err := <-done:
		t.Fatalf("the upload ended before the stall: %v", err)
	case <-time.After(2 * time.Minute): // a guard against hanging, not a measurement
		t.Fatal("no part reached the proxy")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	// The cancel cuts the parts in flight: usually one abort does it, two
	// when a cut part is stored after the first.
	if n, err := faultproxy.CheckAborts(th.proxy.Requests()); err != nil {
		t.Errorf("%d aborts: %v", n, err)
	}
	if ups := awsPendingUploads(t, tg, bucket, ""); len(ups) != 0 {
		t.Errorf("multipart uploads left: %q", ups)
	}
	if _, ok := awsObject(t, tg, bucket, "big.bin"); ok {
		t.Error("a cancelled upload left an object")
	}
}

// TestStalledRequestTimesOut: a part the server takes and never answers
// fails after S3FLOW_RESPONSE_TIMEOUT as a timeout, which the SDK's
// retryer tries again: the upload completes, that part sent twice.
func TestStalledRequestTimesOut(t *testing.T) {
	t.Setenv("S3FLOW_RESPONSE_TIMEOUT", "2s")
	tg, bucket := setup(t)
	data := randomBytes(6, uploadSize)
	src := writeFile(t, "big.bin", data)
	th := proxied(t, tg)
	th.proxy.Add(faultproxy.Rule{Match: faultproxy.Match{Op: "UploadPart"}, Nth: 2, Fault: faultproxy.Fault{Kind: faultproxy.Stall}})
	if _, err := th.run(context.Background(), t, s3mod.UploadFile, map[string]any{"bucket": bucket, "file": src, "part_size": partMiB}); err != nil {
		t.Fatalf("upload: %v", err)
	}
	if n := th.proxy.Count(faultproxy.Match{Op: "UploadPart"}); n != 4 {
		t.Errorf("%d UploadPart requests, want 4 (the stalled one again)", n)
	}
	got, ok := awsObject(t, tg, bucket, "big.bin")
	if !ok {
		t.Fatal("no object")
	}
	assertSame(t, "the object", got, data)
}

// TestUploadAbortRepeatedUntilGone fails part 2 once (max attempts 1), so
// the upload is aborted, and breaks that first abort: refused with a 500,
// or answered 204 without reaching the server, as when a part the client
// gave up on is stored after the abort and brings the upload back. Either
// way ListParts still shows the upload, so s3flow aborts again: two aborts,
// two checks, and no upload is left.
func TestUploadAbortRepeatedUntilGone(t *testing.T) {
	tg, bucket := setup(t)
	src := writeFile(t, "big.bin", randomBytes(4, uploadSize))
	for _, c := range []struct {
		name  string
		fault faultproxy.Fault
	}{
		{"first abort refused", faultproxy.InternalError()},
		{"first abort answered but not done", faultproxy.Fault{Kind: faultproxy.Error, Status: http.StatusNoContent}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			th := proxied(t, tg)
			th.conn.MaxAttempts = 1
			th.proxy.Add(
				faultproxy.Rule{Match: faultproxy.Match{Op: "UploadPart", Query: map[string]string{"partNumber": "2"}}, Fault: faultproxy.InternalError()},
				faultproxy.Rule{Match: faultproxy.Match{Op: "AbortMultipartUpload"}, Fault: c.fault},
			)
			folder := strings.ReplaceAll(c.name, " ", "-")
			_, err := th.run(context.Background(), t, s3mod.UploadFile, map[string]any{"bucket": bucket, "folder": folder, "file": src, "part_size": partMiB})
			if err == nil || !strings.Contains(err.Error(), "InternalError") {
				t.Fatalf("err = %v, want the injected InternalError", err)
			}
			if strings.Contains(err.Error(), "failed to abort") {
				t.Errorf("err = %v, want no abort failure: the second abort took", err)
			}
			if n, err := faultproxy.CheckAborts(th.proxy.Requests()); err != nil || n != 2 {
				t.Errorf("%d aborts (%v), want 2", n, err)
			}
			if ups := awsPendingUploads(t, tg, bucket, folder+"/"); len(ups) != 0 {
				t.Errorf("multipart uploads left: %q", ups)
			}
			if obj, ok := awsObject(t, tg, bucket, folder+"/big.bin"); ok {
				t.Errorf("a failed upload left an object of %d bytes", len(obj))
			}
		})
	}
}
