package s3

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3test"
)

// The tests here need what only MinIO of the test servers has: versions
// kept by a standalone server, object lock (docs/compatibility.md).

// awsJSON runs the aws CLI against the target and decodes its JSON answer.
func awsJSON(t *testing.T, tg s3test.Target, v any, args ...string) {
	t.Helper()
	out := tg.AWS(t, args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// versionedBucket makes a bucket on MinIO and turns versioning on with Set
// bucket versioning, checked with the aws CLI. The bucket is deleted with
// everything in it when the test ends.
func versionedBucket(t *testing.T) (s3test.Target, string) {
	t.Helper()
	tg := s3test.Minio(t)
	bucket := tg.Bucket(t)
	forceDeleteAtEnd(t, tg, bucket)
	got, err := run(t, tg, SetBucketVersioning, map[string]any{"bucket": bucket, "status": "Enabled"})
	if err != nil {
		t.Fatalf("enable versioning: %v", err)
	}
	if b := one(t, got); b["status"] != "Enabled" || b["previousStatus"] != "" {
		t.Fatalf("enable versioning of a new bucket: %v", b)
	}
	var conf struct{ Status string }
	awsJSON(t, tg, &conf, "s3api", "get-bucket-versioning", "--bucket", bucket)
	if conf.Status != "Enabled" {
		t.Fatalf("aws get-bucket-versioning says %q after enabling", conf.Status)
	}
	return tg, bucket
}

// forceDeleteAtEnd deletes the bucket with every version when the test
// ends (s3test's clean-up deletes current objects only). Registered after
// the bucket, it runs before s3test's.
func forceDeleteAtEnd(t *testing.T, tg s3test.Target, bucket string) {
	t.Cleanup(func() {
		if _, err := run(t, tg, DeleteBucket, map[string]any{"name": bucket, "force": true}); err != nil {
			t.Logf("clean up bucket %s: %v", bucket, err)
		}
	})
}

// put uploads content to key with Upload a file and returns its bundle.
func put(t *testing.T, tg s3test.Target, bucket, key, content string, extra map[string]any) (module.Bundle, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), filepath.Base(key))
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	raw := map[string]any{"bucket": bucket, "file": p, "name": key}
	for k, v := range extra {
		raw[k] = v
	}
	got, err := run(t, tg, UploadFile, raw)
	if err != nil {
		return nil, err
	}
	return one(t, got), nil
}

func mustPut(t *testing.T, tg s3test.Target, bucket, key, content string) module.Bundle {
	t.Helper()
	b, err := put(t, tg, bucket, key, content, nil)
	if err != nil {
		t.Fatalf("upload %s: %v", key, err)
	}
	return b
}

// TestListVersionsMinio: every version and delete marker of a versioned
// bucket, as the aws CLI lists them, with the version ids the writes
// reported; an unversioned bucket's files have the version "null".
func TestListVersionsMinio(t *testing.T) {
	tg, bucket := versionedBucket(t)
	first := mustPut(t, tg, bucket, "docs/a.txt", "one")
	second := mustPut(t, tg, bucket, "docs/a.txt", "two!")
	b := mustPut(t, tg, bucket, "docs/b.txt", "bee")
	del, err := run(t, tg, DeleteFile, map[string]any{"bucket": bucket, "path": "docs/a.txt"})
	if err != nil {
		t.Fatal(err)
	}
	marker := one(t, del)
	if marker["deleteMarker"] != true || marker["versionId"] == "" {
		t.Fatalf("delete without a version in a versioned bucket: %v", marker)
	}
	ids := []any{first["versionId"], second["versionId"], b["versionId"], marker["versionId"]}
	for _, id := range ids {
		if id == "" || id == "null" {
			t.Fatalf("version ids of writes: %v", ids)
		}
	}

	bundles, err := run(t, tg, ListVersions, map[string]any{"bucket": bucket, "prefix": "docs"})
	if err != nil {
		t.Fatal(err)
	}
	got := versionsOf(t, bundles)
	want := awsVersions(t, tg, bucket, "--prefix", "docs/")
	if !slices.Equal(got, want) {
		t.Fatalf("s3flow lists\n%+v\nthe aws CLI\n%+v", got, want)
	}
	wantIDs := []listedVersion{
		{Key: "docs/a.txt", VersionID: marker["versionId"].(string), IsLatest: true, Marker: true},
		{Key: "docs/a.txt", VersionID: second["versionId"].(string), Size: 4, ETag: second["etag"].(string)},
		{Key: "docs/a.txt", VersionID: first["versionId"].(string), Size: 3, ETag: first["etag"].(string)},
		{Key: "docs/b.txt", VersionID: b["versionId"].(string), IsLatest: true, Size: 3, ETag: b["etag"].(string)},
	}
	if !slices.Equal(got, wantIDs) {
		t.Fatalf("s3flow lists\n%+v\nthe writes reported\n%+v", got, wantIDs)
	}
	for _, v := range bundles {
		want := "STANDARD"
		if v["deleteMarker"] == true {
			want = ""
		}
		if v["storageClass"] != want {
			t.Errorf("%s %s: storageClass %q, want %q", v["key"], v["versionId"], v["storageClass"], want)
		}
	}

	// Page by page: two entries a page give three pages, which together
	// are the one listing.
	var paged []listedVersion
	pages := 0
	for page, err := range versionPages(t.Context(), tg.Client(t).S3(""), s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String("docs/")}, 2) {
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, e := range pageVersions(page) {
			paged = append(paged, listedVersion{Key: e.key, VersionID: e.versionID, IsLatest: e.isLatest, Marker: e.marker, Size: e.size, ETag: e.etag})
		}
	}
	if pages < 2 || !slices.Equal(paged, want) {
		t.Fatalf("in %d pages of two: %+v, want %+v", pages, paged, want)
	}

	// --limit stops early, in listing order.
	limited, err := run(t, tg, ListVersions, map[string]any{"bucket": bucket, "prefix": "docs", "limit": 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := versionsOf(t, limited); !slices.Equal(got, want[:3]) {
		t.Fatalf("limit 3: %+v, want %+v", got, want[:3])
	}

	// A bucket never versioned: one version per file, id "null".
	plain := tg.Bucket(t)
	put := mustPut(t, tg, plain, "x.txt", "x")
	if put["versionId"] != "" && put["versionId"] != "null" {
		t.Errorf("upload to an unversioned bucket: versionId %q", put["versionId"])
	}
	bundles, err = run(t, tg, ListVersions, map[string]any{"bucket": plain})
	if err != nil {
		t.Fatal(err)
	}
	got = versionsOf(t, bundles)
	if want := awsVersions(t, tg, plain); !slices.Equal(got, want) || len(got) != 1 || got[0].VersionID != "null" || !got[0].IsLatest {
		t.Fatalf("unversioned bucket: s3flow %+v, aws %+v", got, want)
	}
}

// TestObjectVersionsMinio: Get a file, Get file info and Copy a file read
// the version asked for; Delete a file with a version deletes it for good,
// and without one leaves a delete marker. Checked with the aws CLI.
func TestObjectVersionsMinio(t *testing.T) {
	tg, bucket := versionedBucket(t)
	v1 := mustPut(t, tg, bucket, "r/doc.txt", "version one")
	v2 := mustPut(t, tg, bucket, "r/doc.txt", "two")
	id1, id2 := v1["versionId"].(string), v2["versionId"].(string)
	if id1 == id2 {
		t.Fatalf("two uploads, one version id %q", id1)
	}

	getVersion := func(t *testing.T, version string, extra map[string]any) (module.Bundle, string) {
		t.Helper()
		var out strings.Builder
		raw := map[string]any{"bucket": bucket, "path": "r/doc.txt", "out": "-", "version_id": version}
		for k, v := range extra {
			raw[k] = v
		}
		in, err := GetFile.Check(raw)
		if err != nil {
			t.Fatal(err)
		}
		var got module.Bundle
		err = GetFile.Exec(t.Context(), module.Env{Files: module.AllLocalFiles(), Connection: &tg.Conn, Stdout: &out}, in, func(b module.Bundle) error {
			got = b
			return nil
		})
		if err != nil {
			t.Fatalf("get version %s: %v", version, err)
		}
		return got, out.String()
	}
	t.Run("get", func(t *testing.T) {
		b, content := getVersion(t, id1, nil)
		if content != "version one" || b["versionId"] != id1 || b["etag"] != v1["etag"] || b["size"] != int64(11) {
			t.Errorf("version 1 to stdout: %q %v", content, b)
		}
		if _, content := getVersion(t, id1, map[string]any{"range": "-3"}); content != "one" {
			t.Errorf("last 3 bytes of version 1: %q", content)
		}
		if b, content := getVersion(t, "", nil); content != "two" || b["versionId"] != id2 {
			t.Errorf("current version: %q %v", content, b)
		}
		// To a file, through the transfer manager.
		target := filepath.Join(t.TempDir(), "old.txt")
		got, err := run(t, tg, GetFile, map[string]any{"bucket": bucket, "path": "r/doc.txt", "version_id": id1, "out": target})
		if err != nil {
			t.Fatal(err)
		}
		if data, _ := os.ReadFile(target); string(data) != "version one" || one(t, got)["versionId"] != id1 {
			t.Errorf("version 1 to a file: %q %v", data, got)
		}
		_, err = run(t, tg, GetFile, map[string]any{"bucket": bucket, "path": "r/doc.txt", "version_id": "00000000-0000-0000-0000-000000000000", "out": filepath.Join(t.TempDir(), "x")})
		if err == nil || !strings.Contains(err.Error(), "get version \"00000000-0000-0000-0000-000000000000\" of file \"r/doc.txt\"") {
			t.Errorf("a version that does not exist: err = %v", err)
		}
	})
	t.Run("info", func(t *testing.T) {
		got, err := run(t, tg, GetFileInfo, map[string]any{"bucket": bucket, "path": "r/doc.txt", "version_id": id1})
		if err != nil {
			t.Fatal(err)
		}
		var head struct {
			ETag, VersionId string
			ContentLength   int64
		}
		awsJSON(t, tg, &head, "s3api", "head-object", "--bucket", bucket, "--key", "r/doc.txt", "--version-id", id1)
		if b := one(t, got); b["versionId"] != head.VersionId || b["etag"] != head.ETag || b["size"] != head.ContentLength || head.VersionId != id1 {
			t.Errorf("info of version 1: %v; aws head-object: %+v", b, head)
		}
	})
	t.Run("copy", func(t *testing.T) {
		got, err := run(t, tg, CopyFile, map[string]any{"bucket": bucket, "path": "r/doc.txt", "version_id": id1, "to_path": "r/restored.txt"})
		if err != nil {
			t.Fatal(err)
		}
		b := one(t, got)
		if b["sourceVersionId"] != id1 || b["versionId"] == "" || b["size"] != int64(11) {
			t.Errorf("copy of version 1: %v", b)
		}
		if got := get(t, tg, bucket, "r/restored.txt"); got != "version one" {
			t.Errorf("the copy of version 1 holds %q", got)
		}
		listed := awsVersions(t, tg, bucket, "--prefix", "r/restored.txt")
		if len(listed) != 1 || listed[0].VersionID != b["versionId"] || listed[0].ETag != b["etag"] {
			t.Errorf("copy reported %v; aws lists %+v", b, listed)
		}
		// Onto the file itself: restores the old version as the newest.
		got, err = run(t, tg, CopyFile, map[string]any{"bucket": bucket, "path": "r/doc.txt", "version_id": id1, "to_path": "r/doc.txt"})
		if err != nil {
			t.Fatalf("copy version 1 onto the file: %v", err)
		}
		if c := get(t, tg, bucket, "r/doc.txt"); c != "version one" || one(t, got)["sourceVersionId"] != id1 {
			t.Errorf("after restoring version 1 the file holds %q (%v)", c, got)
		}
	})
	t.Run("delete", func(t *testing.T) {
		before := awsVersions(t, tg, bucket, "--prefix", "r/doc.txt")
		got, err := run(t, tg, DeleteFile, map[string]any{"bucket": bucket, "path": "r/doc.txt", "version_id": id1})
		if err != nil {
			t.Fatal(err)
		}
		if b := one(t, got); b["versionId"] != id1 || b["deleteMarker"] != false {
			t.Errorf("delete of version 1: %v", b)
		}
		after := awsVersions(t, tg, bucket, "--prefix", "r/doc.txt")
		wantAfter := slices.DeleteFunc(slices.Clone(before), func(v listedVersion) bool { return v.VersionID == id1 })
		if len(wantAfter) != len(before)-1 || !slices.Equal(after, wantAfter) {
			t.Fatalf("delete of version 1: before %+v, after %+v", before, after)
		}
		// Without a version: a delete marker, the versions kept.
		got, err = run(t, tg, DeleteFile, map[string]any{"bucket": bucket, "path": "r/doc.txt"})
		if err != nil {
			t.Fatal(err)
		}
		m := one(t, got)
		listed := awsVersions(t, tg, bucket, "--prefix", "r/doc.txt")
		if m["deleteMarker"] != true || len(listed) != len(after)+1 || !listed[0].Marker || listed[0].VersionID != m["versionId"] {
			t.Fatalf("delete without a version: %v; aws lists %+v", m, listed)
		}
		// Deleting the marker brings the file back.
		got, err = run(t, tg, DeleteFile, map[string]any{"bucket": bucket, "path": "r/doc.txt", "version_id": m["versionId"]})
		if err != nil {
			t.Fatal(err)
		}
		if b := one(t, got); b["deleteMarker"] != true || b["versionId"] != m["versionId"] {
			t.Errorf("delete of the delete marker: %v", b)
		}
		if !slices.Equal(awsVersions(t, tg, bucket, "--prefix", "r/doc.txt"), after) {
			t.Errorf("after deleting the marker aws lists %+v, want %+v", awsVersions(t, tg, bucket, "--prefix", "r/doc.txt"), after)
		}
	})
}

// TestSetBucketVersioningMinio: Enabled, then Suspended, as the aws CLI
// reads them; a server that keeps no versions is refused in words.
func TestSetBucketVersioningMinio(t *testing.T) {
	tg, bucket := versionedBucket(t)
	got, err := run(t, tg, SetBucketVersioning, map[string]any{"bucket": bucket, "status": "Suspended"})
	if err != nil {
		t.Fatal(err)
	}
	if b := one(t, got); b["status"] != "Suspended" || b["previousStatus"] != "Enabled" {
		t.Errorf("suspend: %v", b)
	}
	var conf struct{ Status string }
	awsJSON(t, tg, &conf, "s3api", "get-bucket-versioning", "--bucket", bucket)
	if conf.Status != "Suspended" {
		t.Errorf("aws get-bucket-versioning says %q after suspending", conf.Status)
	}
	// Suspended: a write replaces the "null" version.
	if b := mustPut(t, tg, bucket, "n.txt", "n"); b["versionId"] != "" && b["versionId"] != "null" {
		t.Errorf("upload while suspended: versionId %q", b["versionId"])
	}
	if _, err := SetBucketVersioning.Check(map[string]any{"bucket": bucket, "status": "Off"}); err == nil || !strings.Contains(err.Error(), "status") {
		t.Errorf("status Off: err = %v", err)
	}
	vgw := s3test.Versitygw(t)
	plain := vgw.Bucket(t)
	_, err = run(t, vgw, SetBucketVersioning, map[string]any{"bucket": plain, "status": "Enabled"})
	if err == nil || !strings.Contains(err.Error(), "keeps no versions") {
		t.Errorf("versitygw without a versioning folder: err = %v", err)
	}
}

// TestUploadConditionsMinio: no_overwrite (If-None-Match: *) and if_match
// (If-Match) on MinIO, in one PUT and in parts; a failed condition writes
// nothing, which the aws CLI's version list shows.
func TestUploadConditionsMinio(t *testing.T) {
	tg, bucket := versionedBucket(t)
	first, err := put(t, tg, bucket, "c/doc.txt", "one", map[string]any{"no_overwrite": true})
	if err != nil {
		t.Fatalf("no_overwrite on a new key: %v", err)
	}
	_, err = put(t, tg, bucket, "c/doc.txt", "two", map[string]any{"no_overwrite": true})
	if err == nil || !strings.Contains(err.Error(), "exists already and must not be overwritten") || !strings.Contains(err.Error(), `"c/doc.txt"`) {
		t.Fatalf("no_overwrite on an existing key: err = %v", err)
	}
	stale := `"0123456789abcdef0123456789abcdef"`
	_, err = put(t, tg, bucket, "c/doc.txt", "three", map[string]any{"if_match": stale})
	if err == nil || !strings.Contains(err.Error(), "no longer has ETag "+stale) {
		t.Fatalf("if_match with a stale ETag: err = %v", err)
	}
	// Large enough for parts: the condition is checked on completion.
	big := strings.Repeat("b", 6<<20)
	_, err = put(t, tg, bucket, "c/doc.txt", big, map[string]any{"no_overwrite": true, "part_size": 5})
	if err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Fatalf("no_overwrite in parts on an existing key: err = %v", err)
	}
	if listed := awsVersions(t, tg, bucket, "--prefix", "c/"); len(listed) != 1 || listed[0].VersionID != first["versionId"] || listed[0].ETag != first["etag"] {
		t.Fatalf("after three refused writes aws lists %+v, want only %v", listed, first)
	}
	var ups struct{ Uploads []any }
	if out := tg.AWS(t, "s3api", "list-multipart-uploads", "--bucket", bucket); strings.TrimSpace(out) != "" {
		if err := json.Unmarshal([]byte(out), &ups); err != nil || len(ups.Uploads) != 0 {
			t.Errorf("a refused upload in parts left uploads behind: %s", out)
		}
	}
	second, err := put(t, tg, bucket, "c/doc.txt", "four", map[string]any{"if_match": first["etag"]})
	if err != nil {
		t.Fatalf("if_match with the current ETag: %v", err)
	}
	if c := get(t, tg, bucket, "c/doc.txt"); c != "four" || second["versionId"] == first["versionId"] {
		t.Fatalf("after if_match with the current ETag: %q, %v", c, second)
	}
	if _, err := put(t, tg, bucket, "c/doc.txt", big, map[string]any{"if_match": second["etag"], "part_size": 5}); err != nil {
		t.Fatalf("if_match in parts with the current ETag: %v", err)
	}
}

// TestDeleteBucketForceMinio: force deletes every version and delete
// marker of a versioned bucket, then the bucket.
func TestDeleteBucketForceMinio(t *testing.T) {
	tg, bucket := versionedBucket(t)
	for i, key := range []string{"a.txt", "a.txt", "d/b.txt", "d/b.txt", "d/b.txt", "c+ d.txt"} {
		mustPut(t, tg, bucket, key, strings.Repeat("x", i))
	}
	for _, key := range []string{"a.txt", "c+ d.txt", "gone.txt"} {
		if _, err := run(t, tg, DeleteFile, map[string]any{"bucket": bucket, "path": key}); err != nil {
			t.Fatal(err)
		}
	}
	// MinIO makes no delete marker for gone.txt, which never existed
	// (AWS S3 would): 6 versions and 2 markers.
	listed := awsVersions(t, tg, bucket)
	if len(listed) != 8 {
		t.Fatalf("aws lists %d versions and markers, want 8: %+v", len(listed), listed)
	}
	got, err := run(t, tg, DeleteBucket, map[string]any{"name": bucket, "force": true})
	if err != nil {
		t.Fatal(err)
	}
	if b := one(t, got); b["deleted"] != true || b["deletedObjects"] != int64(len(listed)) {
		t.Errorf("force delete: %v, want %d objects deleted", b, len(listed))
	}
	if _, err := tg.AWSResult("s3api", "head-bucket", "--bucket", bucket); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("aws head-bucket after the delete: %v", err)
	}
}

// TestDeleteBucketObjectLockMinio: with a version under retention or legal
// hold, force deletes nothing and names each; once they are lifted it
// deletes everything.
func TestDeleteBucketObjectLockMinio(t *testing.T) {
	tg := s3test.Minio(t)
	bucket := "s3flow-lock-" + rand.Text()[:12]
	bucket = strings.ToLower(bucket)
	tg.AWS(t, "s3api", "create-bucket", "--bucket", bucket, "--object-lock-enabled-for-bucket")
	forceDeleteAtEnd(t, tg, bucket)
	old := mustPut(t, tg, bucket, "keep/contract.pdf", "signed")
	mustPut(t, tg, bucket, "keep/contract.pdf", "signed again")
	held := mustPut(t, tg, bucket, "hold.txt", "evidence")
	mustPut(t, tg, bucket, "free.txt", "free")
	until := time.Now().UTC().Add(24 * time.Hour).Truncate(time.Second)
	tg.AWS(t, "s3api", "put-object-retention", "--bucket", bucket, "--key", "keep/contract.pdf", "--version-id", old["versionId"].(string),
		"--retention", `{"Mode":"GOVERNANCE","RetainUntilDate":"`+until.Format(time.RFC3339)+`"}`)
	tg.AWS(t, "s3api", "put-object-legal-hold", "--bucket", bucket, "--key", "hold.txt", "--legal-hold", `{"Status":"ON"}`)
	var retention struct {
		Retention struct{ Mode, RetainUntilDate string }
	}
	awsJSON(t, tg, &retention, "s3api", "get-object-retention", "--bucket", bucket, "--key", "keep/contract.pdf", "--version-id", old["versionId"].(string))
	told, err := time.Parse(time.RFC3339, retention.Retention.RetainUntilDate)
	if err != nil || !told.Equal(until) || retention.Retention.Mode != "GOVERNANCE" {
		t.Fatalf("aws get-object-retention: %+v (%v), want GOVERNANCE until %s", retention, err, until)
	}
	before := awsVersions(t, tg, bucket)

	_, err = run(t, tg, DeleteBucket, map[string]any{"name": bucket, "force": true})
	t.Logf("force delete of a locked bucket: %v", err)
	for _, want := range []string{
		`delete bucket "` + bucket + `"`, "object lock keeps 2 of the bucket's 4 versions from being deleted",
		`"hold.txt" version "` + held["versionId"].(string) + `" is under legal hold`,
		`"keep/contract.pdf" version "` + old["versionId"].(string) + `" is under GOVERNANCE retention until ` + module.FormatTime(until),
		"nothing was deleted",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("force delete of a locked bucket: err = %v\nwant it to say %s", err, want)
		}
	}
	if after := awsVersions(t, tg, bucket); !slices.Equal(after, before) {
		t.Fatalf("a refused force delete changed the bucket: before %+v, after %+v", before, after)
	}

	// Lifted: the hold off, the governed version deleted past its
	// retention with the aws CLI.
	tg.AWS(t, "s3api", "put-object-legal-hold", "--bucket", bucket, "--key", "hold.txt", "--legal-hold", `{"Status":"OFF"}`)
	tg.AWS(t, "s3api", "delete-object", "--bucket", bucket, "--key", "keep/contract.pdf", "--version-id", old["versionId"].(string), "--bypass-governance-retention")
	got, err := run(t, tg, DeleteBucket, map[string]any{"name": bucket, "force": true})
	if err != nil {
		t.Fatalf("force delete once nothing is locked: %v", err)
	}
	if b := one(t, got); b["deleted"] != true || b["deletedObjects"] != int64(3) {
		t.Errorf("force delete: %v, want 3 objects deleted", b)
	}
}

// TestDeleteBucketLockedEveryServer: versitygw (locks without versions),
// SeaweedFS and MinIO all keep object lock; on each, force refuses a bucket
// with a file under legal hold and deletes nothing, and a bucket without
// object lock is deleted as before. (A legal hold, unlike a retention, can
// be lifted on SeaweedFS: it refuses --bypass-governance-retention.)
func TestDeleteBucketLockedEveryServer(t *testing.T) {
	for _, tg := range append(s3test.Standalone(t), s3test.Minio(t)) {
		t.Run(tg.Name, func(t *testing.T) {
			plain := tg.Bucket(t)
			mustPut(t, tg, plain, "a.txt", "a")
			if err := checkNoLocks(t.Context(), module.Env{}, tg.Client(t).S3(""), plain, time.Now()); err != nil {
				t.Fatalf("lock check of a bucket without object lock: %v", err)
			}

			bucket := "s3flow-lock-" + strings.ToLower(rand.Text()[:12])
			tg.AWS(t, "s3api", "create-bucket", "--bucket", bucket, "--object-lock-enabled-for-bucket")
			forceDeleteAtEnd(t, tg, bucket)
			mustPut(t, tg, bucket, "free.txt", "free")
			locked := mustPut(t, tg, bucket, "d/locked.txt", "locked")
			tg.AWS(t, "s3api", "put-object-legal-hold", "--bucket", bucket, "--key", "d/locked.txt", "--legal-hold", `{"Status":"ON"}`)
			before := awsVersions(t, tg, bucket)
			version := locked["versionId"].(string)
			if version == "" {
				version = "null" // versitygw: no versions, listed as "null"
			}
			_, err := run(t, tg, DeleteBucket, map[string]any{"name": bucket, "force": true})
			want := `"d/locked.txt" version "` + version + `" is under legal hold; nothing was deleted`
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("force delete of a bucket with a file under retention: err = %v\nwant it to say %s", err, want)
			}
			if after := awsVersions(t, tg, bucket); !slices.Equal(after, before) {
				t.Fatalf("a refused force delete changed the bucket: before %+v, after %+v", before, after)
			}
			tg.AWS(t, "s3api", "put-object-legal-hold", "--bucket", bucket, "--key", "d/locked.txt", "--legal-hold", `{"Status":"OFF"}`)
			if _, err := run(t, tg, DeleteBucket, map[string]any{"name": bucket, "force": true}); err != nil {
				t.Fatalf("force delete once the locked file is gone: %v", err)
			}
		})
	}
}
