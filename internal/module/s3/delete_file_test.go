package s3

import (
	"net/http"
	"strings"
	"testing"

	"github.com/s3flow/s3flow/internal/s3test"
)

func TestDeleteFile(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			awsPutWith(t, tg, bucket, awkwardCopyKey, []byte("bye"))
			awsPutWith(t, tg, bucket, "stays.txt", []byte("stay"))

			got, err := run(t, tg, DeleteFile, map[string]any{"bucket": bucket, "path": "/" + awkwardCopyKey})
			if err != nil {
				t.Fatal(err)
			}
			b := one(t, got)
			if b["bucket"] != bucket || b["key"] != awkwardCopyKey || b["deleteMarker"] != false {
				t.Errorf("bundle %v", b)
			}
			if _, ok := b["versionId"].(string); !ok {
				t.Errorf("versionId is %T, want a string", b["versionId"])
			}
			assertNoObject(t, tg, bucket, awkwardCopyKey)
			if keys := keysOf(awsListing(t, tg, bucket, "")); len(keys) != 1 || keys[0] != "stays.txt" {
				t.Errorf("aws lists %q, want only stays.txt", keys)
			}

			// S3 cannot tell: deleting what is not there succeeds.
			if _, err := run(t, tg, DeleteFile, map[string]any{"bucket": bucket, "path": awkwardCopyKey}); err != nil {
				t.Errorf("deleting a missing file: %v", err)
			}
			_, err = run(t, tg, DeleteFile, map[string]any{"bucket": bucket + "-gone", "path": "x"})
			if err == nil || !strings.Contains(err.Error(), `delete file "x" in bucket "`+bucket+`-gone": NoSuchBucket`) {
				t.Errorf("missing bucket: err = %v", err)
			}
		})
	}
}

// TestDeleteFileVersion: version_id goes out as the versionId query
// parameter, and the answer's version and delete marker come back.
func TestDeleteFileVersion(t *testing.T) {
	tg, seen := fakeS3(t, "us-east-1", func(w http.ResponseWriter, r seenRequest) {
		w.Header().Set("X-Amz-Version-Id", "v2")
		w.Header().Set("X-Amz-Delete-Marker", "true")
		w.WriteHeader(http.StatusNoContent)
	})
	got, err := run(t, tg, DeleteFile, map[string]any{"bucket": "demo", "path": "a b.txt", "version_id": "v2"})
	if err != nil {
		t.Fatal(err)
	}
	if b := one(t, got); b["versionId"] != "v2" || b["deleteMarker"] != true {
		t.Errorf("bundle %v", b)
	}
	reqs := seen()
	if len(reqs) != 1 || reqs[0].Method != http.MethodDelete || reqs[0].Path != "/demo/a b.txt" || !strings.Contains("&"+reqs[0].Query+"&", "&versionId=v2&") {
		t.Errorf("requests %+v", reqs)
	}
}

func TestDeleteFileChecks(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{"bucket": "b"}, "path: is required"},
		{map[string]any{"bucket": "b", "path": "logs/"}, "must name a file"},
		{map[string]any{"bucket": "a b", "path": "x"}, "bucket:"},
	} {
		if _, err := DeleteFile.Check(tt.raw); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Check(%v) = %v, want %q", tt.raw, err, tt.want)
		}
	}
}
