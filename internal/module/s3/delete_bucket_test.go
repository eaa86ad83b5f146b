package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
	"github.com/s3flow/s3flow/internal/s3test"
)

// bucketToDelete creates a bucket for a test that deletes it itself; whatever
// is left when the test ends is removed.
func bucketToDelete(t *testing.T, tg s3test.Target) string {
	t.Helper()
	name := uniqueBucketName(t)
	cl := tg.Client(t).S3("")
	if _, err := cl.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	t.Cleanup(func() {
		if _, err := cl.HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String(name)}); err == nil {
			s3test.EmptyAndDelete(t, cl, name)
		}
	})
	return name
}

// putKeysConcurrently puts each key (its own name as body), 16 at a time.
func putKeysConcurrently(t *testing.T, tg s3test.Target, bucket string, keys []string) {
	t.Helper()
	cl := tg.Client(t).S3("")
	work := make(chan string)
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 16 {
		wg.Go(func() {
			for k := range work {
				_, err := cl.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: strings.NewReader(k)})
				if err != nil {
					failed.CompareAndSwap(nil, fmt.Errorf("put %s: %w", k, err))
				}
			}
		})
	}
	for _, k := range keys {
		work <- k
	}
	close(work)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
}

// awsHeadBucket asks the aws CLI whether the bucket exists.
func awsHeadBucket(tg s3test.Target, bucket string) error {
	_, err := tg.AWSResult("s3api", "head-bucket", "--bucket", bucket)
	return err
}

func TestDeleteBucketForce(t *testing.T) {
	const n = 1500
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := bucketToDelete(t, tg)
			keys := make([]string, 0, n)
			for i := range n - 2 {
				keys = append(keys, fmt.Sprintf("data/%d.txt", i))
			}
			keys = append(keys, "top.txt", "deep/er/a+b (1).txt")
			putKeysConcurrently(t, tg, bucket, keys)
			cl := tg.Client(t).S3("")
			up, err := cl.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("big/pending.bin")})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cl.UploadPart(context.Background(), &s3.UploadPartInput{
				Bucket: aws.String(bucket), Key: aws.String("big/pending.bin"), UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("part one"),
			}); err != nil {
				t.Fatal(err)
			}

			// More versions than one page holds: list-versions follows the
			// markers (versitygw lists the marker's entry twice).
			bundles, requests, err := runCounting(t, tg, ListVersions, map[string]any{"bucket": bucket, "recursive": true})
			if err != nil {
				t.Fatal(err)
			}
			listedKeys := versionKeys(versionsOf(t, bundles))
			if want := slices.Sorted(slices.Values(keys)); !slices.Equal(listedKeys, want) {
				t.Errorf("list-versions gave %d keys, want the %d put, each once and in order", len(listedKeys), len(want))
			}
			if requests < 2 {
				t.Errorf("%d versions listed in %d request(s); a page holds at most 1,000", n, requests)
			}

			_, err = run(t, tg, DeleteBucket, map[string]any{"name": bucket})
			if s3client.Code(err) != "BucketNotEmpty" || !strings.Contains(err.Error(), "--force") || !strings.Contains(err.Error(), fmt.Sprintf("%q", bucket)) {
				t.Fatalf("without force: %v, want BucketNotEmpty naming the bucket and --force", err)
			}
			if err := awsHeadBucket(tg, bucket); err != nil {
				t.Fatalf("the bucket is gone after a refused delete: %v", err)
			}

			// None of the test servers refuses to delete a bucket for an
			// unfinished upload, so the debug log tells whether it was aborted.
			in, err := DeleteBucket.Check(map[string]any{"name": bucket, "force": true})
			if err != nil {
				t.Fatal(err)
			}
			logged := &debugLines{}
			var got []module.Bundle
			err = DeleteBucket.Exec(context.Background(), module.Env{Files: module.AllLocalFiles(), Connection: &tg.Conn, Logger: slog.New(logged)}, in, func(b module.Bundle) error {
				got = append(got, b)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if want := (module.Bundle{"name": bucket, "deletedObjects": int64(n), "deleted": true}); len(got) != 1 || !sameBundle(got[0], want) {
				t.Fatalf("force: bundles %v, want [%v]", got, want)
			}
			if aborted := logged.find("abort upload"); !slices.Equal(aborted, []string{"big/pending.bin"}) {
				t.Errorf("aborted uploads of %q, want big/pending.bin", aborted)
			}
			if err := awsHeadBucket(tg, bucket); err == nil {
				t.Fatal("aws s3api head-bucket finds the bucket after delete-bucket --force")
			}

			// Deleting it again succeeds and says nothing was there.
			got, err = run(t, tg, DeleteBucket, map[string]any{"name": bucket, "force": true})
			if want := (module.Bundle{"name": bucket, "deletedObjects": int64(0), "deleted": false}); err != nil || len(got) != 1 || !sameBundle(got[0], want) {
				t.Fatalf("again: %v, %v; want [%v]", got, err, want)
			}
		})
	}
}

// TestDeleteBucketVersioned deletes old versions and delete markers too,
// on the servers that version buckets.
func TestDeleteBucketVersioned(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := bucketToDelete(t, tg)
			if !enableVersioning(t, tg, bucket) {
				t.Skipf("%s does not version buckets (see TestListVersions)", tg.Name)
			}
			seedObjects(t, tg, bucket, map[string]string{"a.txt": "one", "b.txt": "bee"})
			seedObjects(t, tg, bucket, map[string]string{"a.txt": "two"})
			if _, err := tg.Client(t).S3("").DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("b.txt")}); err != nil {
				t.Fatal(err)
			}
			// a.txt twice, b.txt and its delete marker.
			if all := awsVersions(t, tg, bucket); len(all) != 4 {
				t.Fatalf("aws lists %+v, want 4 versions and markers", all)
			}
			got, err := run(t, tg, DeleteBucket, map[string]any{"name": bucket, "force": true})
			if err != nil {
				t.Fatal(err)
			}
			if want := (module.Bundle{"name": bucket, "deletedObjects": int64(4), "deleted": true}); len(got) != 1 || !sameBundle(got[0], want) {
				t.Fatalf("bundles %v, want [%v]", got, want)
			}
			if err := awsHeadBucket(tg, bucket); err == nil {
				t.Fatal("aws s3api head-bucket finds the bucket after delete-bucket --force")
			}
		})
	}
}

func TestDeleteBucketCheck(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"reports/2026", "my bucket", ""} {
		_, err := DeleteBucket.Check(map[string]any{"name": name})
		var input *module.InputError
		if !errors.As(err, &input) || input.Field != "name" {
			t.Errorf("name %q: %v, want an InputError on name", name, err)
		}
	}
	// Legacy names that break today's rules for new buckets still exist.
	if _, err := DeleteBucket.Check(map[string]any{"name": "Legacy_Bucket"}); err != nil {
		t.Errorf("a legacy name: %v", err)
	}
}

// debugLines is a slog handler that keeps each record's message and key.
type debugLines struct {
	mu    sync.Mutex
	lines [][2]string
}

func (d *debugLines) Enabled(context.Context, slog.Level) bool { return true }
func (d *debugLines) Handle(_ context.Context, r slog.Record) error {
	key := ""
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "key" {
			key = a.Value.String()
		}
		return true
	})
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lines = append(d.lines, [2]string{r.Message, key})
	return nil
}
func (d *debugLines) WithAttrs([]slog.Attr) slog.Handler { return d }
func (d *debugLines) WithGroup(string) slog.Handler      { return d }

// find returns the keys of the records with message msg.
func (d *debugLines) find(msg string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var keys []string
	for _, l := range d.lines {
		if l[0] == msg {
			keys = append(keys, l[1])
		}
	}
	return keys
}

// emptyListing is a ListObjectsV2 answer with no objects.
const emptyListing = `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>demo</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>`

// TestDeleteBucketWithoutVersionListing: where ListObjectVersions and
// ListMultipartUploads are not implemented, force deletes the objects
// ListObjectsV2 lists, without version ids.
func TestDeleteBucketWithoutVersionListing(t *testing.T) {
	t.Parallel()
	var listed atomic.Int32
	tg, seen := fakeS3(t, "us-east-1", func(w http.ResponseWriter, r seenRequest) {
		switch {
		case strings.Contains(r.Query, "uploads"), strings.Contains(r.Query, "versions"), strings.Contains(r.Query, "object-lock"), strings.Contains(r.Query, "versioning"):
			writeS3Error(w, http.StatusNotImplemented, "NotImplemented")
		case strings.Contains(r.Query, "list-type=2"):
			w.Header().Set("Content-Type", "application/xml")
			if listed.Add(1) > 1 {
				io.WriteString(w, emptyListing)
				return
			}
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>demo</Name><KeyCount>2</KeyCount><IsTruncated>false</IsTruncated>`+
				`<Contents><Key>a.txt</Key><Size>1</Size></Contents><Contents><Key>b/c.txt</Key><Size>1</Size></Contents></ListBucketResult>`)
		case r.Method == http.MethodPost && strings.Contains(r.Query, "delete"):
			w.Header().Set("Content-Type", "application/xml")
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><DeleteResult></DeleteResult>`)
		case r.Method == http.MethodDelete && r.Path == "/demo":
			w.WriteHeader(http.StatusNoContent)
		default:
			t.Errorf("unexpected %s %s?%s", r.Method, r.Path, r.Query)
			w.WriteHeader(http.StatusTeapot)
		}
	})
	got, err := run(t, tg, DeleteBucket, map[string]any{"name": "demo", "force": true})
	if err != nil {
		t.Fatal(err)
	}
	if want := (module.Bundle{"name": "demo", "deletedObjects": int64(2), "deleted": true}); len(got) != 1 || !sameBundle(got[0], want) {
		t.Fatalf("bundles %v, want [%v]", got, want)
	}
	var deletes []seenRequest
	for _, r := range seen() {
		if r.Method == http.MethodPost {
			deletes = append(deletes, r)
		}
	}
	if len(deletes) != 1 || !strings.Contains(deletes[0].Body, "<Key>a.txt</Key>") || !strings.Contains(deletes[0].Body, "<Key>b/c.txt</Key>") ||
		strings.Contains(deletes[0].Body, "VersionId") {
		t.Errorf("DeleteObjects requests %+v, want one naming a.txt and b/c.txt without versions", deletes)
	}
}

// TestDeleteBucketServerKeepsListing: a server that says it deleted what
// it then lists again ends the run with an error, not an endless loop.
func TestDeleteBucketServerKeepsListing(t *testing.T) {
	t.Parallel()
	tg, seen := fakeS3(t, "us-east-1", func(w http.ResponseWriter, r seenRequest) {
		w.Header().Set("Content-Type", "application/xml")
		switch {
		case strings.Contains(r.Query, "uploads"):
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult><Bucket>demo</Bucket><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>`)
		case strings.Contains(r.Query, "object-lock"):
			writeS3Error(w, http.StatusNotFound, "ObjectLockConfigurationNotFoundError")
		case strings.Contains(r.Query, "versioning"):
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>`)
		case strings.Contains(r.Query, "versions"):
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><ListVersionsResult><IsTruncated>false</IsTruncated>`+
				`<Version><Key>stuck.txt</Key><VersionId>v1</VersionId><IsLatest>true</IsLatest><Size>1</Size></Version></ListVersionsResult>`)
		case r.Method == http.MethodPost:
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><DeleteResult></DeleteResult>`)
		default:
			t.Errorf("unexpected %s %s?%s", r.Method, r.Path, r.Query)
			w.WriteHeader(http.StatusTeapot)
		}
	})
	_, err := run(t, tg, DeleteBucket, map[string]any{"name": "demo", "force": true})
	if err == nil || !strings.Contains(err.Error(), `still lists "stuck.txt"`) || !strings.Contains(err.Error(), "after deleting 1 of its objects") {
		t.Errorf("error %v, want one saying the server still lists stuck.txt", err)
	}
	if n := len(seen()); n > 6 { // uploads, object lock, versioning, versions, delete, versions
		t.Errorf("%d requests", n)
	}
}

// TestDeleteBucketLockConfigDenied: keys that may empty a bucket but not
// read its object lock configuration delete it as before.
func TestDeleteBucketLockConfigDenied(t *testing.T) {
	t.Parallel()
	tg, seen := fakeS3(t, "us-east-1", func(w http.ResponseWriter, r seenRequest) {
		switch {
		case strings.Contains(r.Query, "object-lock"):
			writeS3Error(w, http.StatusForbidden, "AccessDenied")
		case strings.Contains(r.Query, "uploads"), strings.Contains(r.Query, "versioning"), strings.Contains(r.Query, "versions"):
			writeS3Error(w, http.StatusNotImplemented, "NotImplemented")
		case strings.Contains(r.Query, "list-type=2"):
			w.Header().Set("Content-Type", "application/xml")
			io.WriteString(w, emptyListing)
		case r.Method == http.MethodDelete && r.Path == "/demo":
			w.WriteHeader(http.StatusNoContent)
		default:
			t.Errorf("unexpected %s %s?%s", r.Method, r.Path, r.Query)
			w.WriteHeader(http.StatusTeapot)
		}
	})
	got, err := run(t, tg, DeleteBucket, map[string]any{"name": "demo", "force": true})
	if err != nil {
		t.Fatal(err)
	}
	if b := one(t, got); b["deleted"] != true {
		t.Errorf("bundle %v", b)
	}
	if reqs := seen(); len(reqs) == 0 || !strings.Contains(reqs[0].Query, "object-lock") {
		t.Errorf("requests %+v, want the lock check first", reqs)
	}
}
