package s3

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/s3test"
)

// awsHeadInfo is the aws CLI's head-object answer, with checksums.
type awsHeadInfo struct {
	ContentLength      int64
	ETag               string
	ContentType        string
	LastModified       string
	Metadata           map[string]string
	StorageClass       string
	VersionId          string
	CacheControl       string
	ContentDisposition string
	ContentEncoding    string
	ChecksumCRC32      string
	ChecksumSHA256     string
}

func TestGetFileInfo(t *testing.T) {
	data := []byte(strings.Repeat("info,", 1000))
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			awsPutWith(t, tg, bucket, awkwardCopyKey, data, "--content-type", "text/csv; charset=utf-8",
				"--cache-control", "max-age=3600", "--content-disposition", `attachment; filename="r.csv"`,
				"--content-encoding", "identity", "--metadata", "owner=ana,Stage=Raw", "--checksum-algorithm", "CRC32")
			awsPutWith(t, tg, bucket, "plain.bin", []byte("x"))

			var want awsHeadInfo
			out := tg.AWS(t, "s3api", "head-object", "--bucket", bucket, "--key", awkwardCopyKey, "--checksum-mode", "ENABLED")
			if err := json.Unmarshal([]byte(out), &want); err != nil {
				t.Fatalf("head-object output %q: %v", out, err)
			}
			got, err := run(t, tg, GetFileInfo, map[string]any{"bucket": bucket, "path": "/" + awkwardCopyKey})
			if err != nil {
				t.Fatal(err)
			}
			b := one(t, got)
			wantClass := want.StorageClass
			if wantClass == "" {
				wantClass = "STANDARD" // S3 leaves the header out for STANDARD
			}
			for field, w := range map[string]any{
				"bucket": bucket, "key": awkwardCopyKey, "size": int64(len(data)), "etag": want.ETag,
				"contentType": want.ContentType, "storageClass": wantClass, "versionId": want.VersionId,
				"cacheControl": want.CacheControl, "contentDisposition": want.ContentDisposition,
				"contentEncoding": want.ContentEncoding,
			} {
				if b[field] != w {
					t.Errorf("%s = %#v, aws says %#v", field, b[field], w)
				}
			}
			if want.ContentType != "text/csv; charset=utf-8" || want.CacheControl != "max-age=3600" || want.ContentEncoding != "identity" {
				t.Errorf("the aws CLI reads back other headers than were put: %+v", want)
			}
			if meta, _ := b["metadata"].(map[string]string); fmt.Sprint(meta) != fmt.Sprint(want.Metadata) || len(meta) != 2 {
				t.Errorf("metadata = %v, aws says %v", b["metadata"], want.Metadata)
			}
			lm, _ := b["lastModified"].(time.Time)
			awsLM, err := time.Parse(time.RFC3339, want.LastModified)
			if err != nil {
				t.Fatalf("aws LastModified %q: %v", want.LastModified, err)
			}
			if !lm.Equal(awsLM) || lm.Location() != time.UTC {
				t.Errorf("lastModified = %v, aws says %v", lm, awsLM)
			}
			sums, _ := b["checksum"].(map[string]string)
			if want.ChecksumCRC32 == "" {
				t.Logf("%s returns no CRC32 on HEAD; checksum = %v", tg.Name, sums)
			} else if sums["CRC32"] != want.ChecksumCRC32 {
				t.Errorf("checksum = %v, aws says CRC32 %s", sums, want.ChecksumCRC32)
			}

			got, err = run(t, tg, GetFileInfo, map[string]any{"bucket": bucket, "path": "plain.bin"})
			if err != nil {
				t.Fatal(err)
			}
			b = one(t, got)
			if meta, ok := b["metadata"].(map[string]string); !ok || len(meta) != 0 || b["size"] != int64(1) || b["cacheControl"] != "" {
				t.Errorf("plain object: %v", b)
			}
			if _, ok := b["checksum"].(map[string]string); !ok {
				t.Errorf("checksum is %T, want a map even when empty", b["checksum"])
			}
		})
	}
}

// TestGetFileInfoMissing: a HEAD 404 has no body; the error still says
// whether the file or the bucket is missing.
func TestGetFileInfoMissing(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			_, err := run(t, tg, GetFileInfo, map[string]any{"bucket": bucket, "path": "reports/gone.csv"})
			if err == nil || !strings.Contains(err.Error(), `get file info "reports/gone.csv" in bucket "`+bucket+`": NoSuchKey: the file does not exist`) ||
				!strings.Contains(err.Error(), "list-files") {
				t.Errorf("missing key: err = %v", err)
			}
			_, err = run(t, tg, GetFileInfo, map[string]any{"bucket": bucket + "-gone", "path": "reports/gone.csv"})
			if err == nil || !strings.Contains(err.Error(), "NoSuchBucket: the bucket does not exist") {
				t.Errorf("missing bucket: err = %v", err)
			}
		})
	}
}

func TestGetFileInfoChecks(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{"bucket": "b"}, "path: is required"},
		{map[string]any{"bucket": "b", "path": "dir/"}, "must name a file"},
		{map[string]any{"bucket": "b", "path": "/"}, "must name a file"},
		{map[string]any{"bucket": "b/c", "path": "x"}, "bucket:"},
	} {
		if _, err := GetFileInfo.Check(tt.raw); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Check(%v) = %v, want %q", tt.raw, err, tt.want)
		}
	}
}
