package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

// DeleteBucket is "Delete a bucket".
var DeleteBucket = &module.Module{
	Name:  "s3.delete_bucket",
	Verb:  "delete-bucket",
	Title: "Delete a bucket",
	Group: module.GroupBuckets,
	Help: "Deletes a bucket. S3 deletes only empty buckets; with force, every file, version, delete marker and unfinished upload in it is deleted first, for good. " +
		"In a bucket with object lock, force first checks every version and deletes nothing if one is under retention or legal hold. " +
		"A bucket that does not exist counts as success (deleted: false), so flows can re-run.",
	NeedsConnection: true,
	Fields: []module.Field{
		{Name: "name", Label: "Name", Type: module.String, Kind: module.Bucket, Required: true,
			Help: "the bucket's name", Example: "my-reports-2026"},
		{Name: "force", Label: "Force", Type: module.Bool, Default: false,
			Help: "first delete everything in the bucket, every version included (this cannot be undone)"},
		regionField,
	},
	Outputs: []module.Output{
		{Name: "name", Type: module.String, Help: "the bucket's name"},
		{Name: "deletedObjects", Type: module.Int, Help: "how many files, versions and delete markers force deleted"},
		{Name: "deleted", Type: module.Bool, Help: "false when there was no such bucket"},
	},
	Examples: []module.Example{{
		With: []module.Pair{{Name: "name", Value: "my-reports-2026"}},
		Says: "deletes the bucket my-reports-2026 if it is empty",
	}},
	Validate: checkBucketToDelete,
	Run:      runDeleteBucket,
}

// checkBucketToDelete applies the light check for existing buckets to the
// name field.
func checkBucketToDelete(in module.Values) error {
	err := checkBucketRef(module.Values{"bucket": in.String("name")})
	var bad *module.InputError
	if errors.As(err, &bad) {
		return &module.InputError{Field: "name", Rule: bad.Rule}
	}
	return err
}

func runDeleteBucket(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	c, err := client(ctx, env, in)
	if err != nil {
		return err
	}
	name, force := in.String("name"), in.Bool("force")
	var removed int64
	// A wrong-region answer comes to the first request, before anything is
	// deleted, so c.Do may run the whole sequence again in the right region.
	err = c.Do(ctx, func(cl *s3.Client) error {
		removed = 0
		if force {
			// Checked before anything is deleted: S3 would refuse the
			// locked versions only, after the others were gone.
			if err := checkNoLocks(ctx, env, cl, name, time.Now()); err != nil {
				return err
			}
			if err := abortUploads(ctx, env, cl, name); err != nil {
				return err
			}
			n, err := emptyBucket(ctx, env, cl, name)
			removed = n
			if err != nil {
				return err
			}
		}
		_, err := cl.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)})
		return err
	})
	if s3client.Code(err) == "NoSuchBucket" {
		return emit(module.Bundle{"name": name, "deletedObjects": removed, "deleted": false})
	}
	if err != nil {
		explained := s3client.Explain(err)
		var e *s3client.Error
		if errors.As(explained, &e) && e.Code == "BucketNotEmpty" {
			e.Hint = "the bucket still holds files, versions or unfinished uploads; delete them first, or use force (--force) to delete them with the bucket"
			if force {
				e.Hint = "something was written to the bucket while it was emptied; run again"
			}
		}
		if removed > 0 {
			return fmt.Errorf("delete bucket %q (after deleting %d of its objects): %w", name, removed, explained)
		}
		return fmt.Errorf("delete bucket %q: %w", name, explained)
	}
	return emit(module.Bundle{"name": name, "deletedObjects": removed, "deleted": true})
}

// lockedVersion is a version object lock keeps from being deleted.
type lockedVersion struct {
	key, version string
	mode         types.ObjectLockMode
	until        time.Time
	legalHold    bool
}

func (v lockedVersion) String() string {
	var why []string
	if !v.until.IsZero() {
		why = append(why, fmt.Sprintf("under %s retention until %s", v.mode, module.FormatTime(v.until)))
	}
	if v.legalHold {
		why = append(why, "under legal hold")
	}
	return fmt.Sprintf("%q version %q is %s", v.key, v.version, strings.Join(why, " and "))
}

// maxLockedShown bounds how many locked versions an error names.
const maxLockedShown = 3

// checkNoLocks fails when the bucket has object lock and any version in
// it is under retention (until a time after now) or legal hold, naming
// them; a bucket without object lock is not looked at. It reads each
// version's lock with a HEAD of that version, as S3 lists no locks.
// GOVERNANCE retention is refused too: s3flow never bypasses it.
// (AWS sends the lock headers only to keys allowed s3:GetObjectRetention
// and s3:GetObjectLegalHold; without them a lock goes unseen here and S3
// refuses that version when it comes to it.)
func checkNoLocks(ctx context.Context, env module.Env, cl *s3.Client, bucket string, now time.Time) error {
	conf, err := cl.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(bucket)})
	switch {
	case notImplemented(err) || s3client.Code(err) == "ObjectLockConfigurationNotFoundError":
		return nil
	case s3client.Code(err) == "AccessDenied":
		// Keys allowed to empty a bucket but not to read its lock
		// configuration delete as before; S3 still refuses locked
		// versions, only after deleting the others.
		env.Log().WarnContext(ctx, "cannot read the bucket's object lock configuration; deleting without checking for locked versions", "bucket", bucket)
		return nil
	case err != nil:
		return fmt.Errorf("check the bucket's object lock: %w", err)
	case conf.ObjectLockConfiguration == nil || conf.ObjectLockConfiguration.ObjectLockEnabled != types.ObjectLockEnabledEnabled:
		return nil
	}
	env.Log().DebugContext(ctx, "the bucket has object lock; checking every version", "bucket", bucket)
	var locked []lockedVersion
	var checked int
	for page, err := range versionPages(ctx, cl, s3.ListObjectVersionsInput{Bucket: aws.String(bucket)}, deleteBatchSize) {
		if err != nil {
			return fmt.Errorf("list versions to check their object lock: %w", err)
		}
		// Delete markers hold no lock.
		for _, v := range page.Versions {
			checked++
			input := &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: v.Key, VersionId: v.VersionId}
			// versitygw keeps locks without versions, lists each file as
			// its "null" version and refuses a HEAD that names it (400);
			// the current "null" version is the file itself everywhere.
			if aws.ToBool(v.IsLatest) && aws.ToString(v.VersionId) == "null" {
				input.VersionId = nil
			}
			head, err := cl.HeadObject(ctx, input)
			if err != nil {
				return fmt.Errorf("check the object lock of %q version %q: %w", aws.ToString(v.Key), aws.ToString(v.VersionId), err)
			}
			lv := lockedVersion{key: aws.ToString(v.Key), version: aws.ToString(v.VersionId), legalHold: head.ObjectLockLegalHoldStatus == types.ObjectLockLegalHoldStatusOn}
			if until := aws.ToTime(head.ObjectLockRetainUntilDate); head.ObjectLockMode != "" && until.After(now) {
				lv.mode, lv.until = head.ObjectLockMode, until.UTC()
			}
			if lv.legalHold || !lv.until.IsZero() {
				locked = append(locked, lv)
			}
		}
	}
	if len(locked) == 0 {
		return nil
	}
	names := make([]string, 0, maxLockedShown)
	for _, v := range locked[:min(len(locked), maxLockedShown)] {
		names = append(names, v.String())
	}
	more := ""
	if len(locked) > maxLockedShown {
		more = fmt.Sprintf(" (and %d more)", len(locked)-maxLockedShown)
	}
	return fmt.Errorf("object lock keeps %d of the bucket's %d versions from being deleted: %s%s; nothing was deleted (force checks every version first): wait until the retention ends, or remove the legal hold",
		len(locked), checked, strings.Join(names, "; "), more)
}

// notImplemented reports whether the server does not offer an operation
// (S3-compatible servers answer 501 NotImplemented).
func notImplemented(err error) bool {
	var e *s3client.Error
	return s3client.Code(err) == "NotImplemented" ||
		errors.As(s3client.Explain(err), &e) && e.Status == http.StatusNotImplemented
}

// abortUploads aborts every unfinished multipart upload in the bucket, so
// that no stored parts outlive it or, on some servers, keep it from being
// deleted. Like emptyBucket it lists from the start each round. A server
// without multipart listing has nothing to abort that s3flow can find.
func abortUploads(ctx context.Context, env module.Env, cl *s3.Client, bucket string) error {
	var last map[string]bool
	for {
		page, err := cl.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
		if notImplemented(err) {
			return nil
		}
		if err != nil || len(page.Uploads) == 0 {
			return err
		}
		this := map[string]bool{}
		for _, u := range page.Uploads {
			key, id := aws.ToString(u.Key), aws.ToString(u.UploadId)
			if last[id] {
				return fmt.Errorf("the server still lists the upload %q of %q after aborting it", id, key)
			}
			this[id] = true
			env.Log().DebugContext(ctx, "abort upload", "bucket", bucket, "key", key)
			err := abortUpload(ctx, cl, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: u.Key, UploadId: u.UploadId})
			if err != nil {
				return fmt.Errorf("abort the upload of %q: %w", key, err)
			}
		}
		last = this
	}
}

// emptyBucket deletes every object version and delete marker, or where the
// server lists no versions every object, and returns how many it deleted.
// Each round lists the bucket from its start and deletes that page, until
// a listing is empty: no marker ever names something already deleted.
func emptyBucket(ctx context.Context, env module.Env, cl *s3.Client, bucket string) (int64, error) {
	list := func() ([]types.ObjectIdentifier, error) { return firstVersions(ctx, cl, bucket) }
	// A bucket never versioned holds one "null" version per file, which a
	// delete without a version id removes for good; versitygw refuses
	// "null" as a version id there (InvalidArgument).
	never := false
	if v, err := cl.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(bucket)}); err == nil && v.Status == "" {
		never = true
	}
	var ids []types.ObjectIdentifier
	var err error
	if !never {
		ids, err = list()
	}
	if never || notImplemented(err) {
		env.Log().DebugContext(ctx, "the bucket keeps no versions; deleting objects", "bucket", bucket)
		list = func() ([]types.ObjectIdentifier, error) { return firstObjects(ctx, cl, bucket) }
		ids, err = list()
	}
	type version struct{ key, id string }
	var total int64
	var last map[version]bool
	for ; ; ids, err = list() {
		if err != nil || len(ids) == 0 {
			return total, err
		}
		// A server that says it deleted what it lists again would keep
		// this loop going for ever.
		this := map[version]bool{}
		for _, id := range ids {
			v := version{aws.ToString(id.Key), aws.ToString(id.VersionId)}
			if last[v] {
				return total, fmt.Errorf("the server still lists %q (version %q) after deleting it", v.key, v.id)
			}
			this[v] = true
		}
		last = this
		for batch := range slices.Chunk(ids, deleteBatchSize) {
			n, err := deleteBatch(ctx, env, cl, bucket, batch)
			total += n
			if err != nil {
				return total, err
			}
		}
	}
}

// firstVersions lists the first page of the bucket's versions and delete
// markers.
func firstVersions(ctx context.Context, cl *s3.Client, bucket string) ([]types.ObjectIdentifier, error) {
	out, err := cl.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{
		Bucket: aws.String(bucket), MaxKeys: aws.Int32(deleteBatchSize), EncodingType: types.EncodingTypeUrl,
	})
	if err != nil {
		return nil, err
	}
	if err := decodeVersionKeys(out); err != nil {
		return nil, err
	}
	ids := make([]types.ObjectIdentifier, 0, len(out.Versions)+len(out.DeleteMarkers))
	for _, v := range out.Versions {
		ids = append(ids, versionID(v.Key, v.VersionId))
	}
	for _, m := range out.DeleteMarkers {
		ids = append(ids, versionID(m.Key, m.VersionId))
	}
	return ids, nil
}

// versionID names one version for DeleteObjects; a listing without a
// version id names the object itself.
func versionID(key, version *string) types.ObjectIdentifier {
	id := types.ObjectIdentifier{Key: aws.String(aws.ToString(key))}
	if aws.ToString(version) != "" {
		id.VersionId = aws.String(*version)
	}
	return id
}

// firstObjects lists the first page of the bucket's objects.
func firstObjects(ctx context.Context, cl *s3.Client, bucket string) ([]types.ObjectIdentifier, error) {
	for page, err := range pages(ctx, cl, s3.ListObjectsV2Input{Bucket: aws.String(bucket)}, deleteBatchSize) {
		if err != nil {
			return nil, err
		}
		ids := make([]types.ObjectIdentifier, len(page.Contents))
		for i, o := range page.Contents {
			ids[i] = types.ObjectIdentifier{Key: o.Key}
		}
		return ids, nil
	}
	return nil, nil
}

// deleteBatch deletes up to 1,000 objects or versions in one request and
// returns how many went; any that did not fail the batch.
func deleteBatch(ctx context.Context, env module.Env, cl *s3.Client, bucket string, ids []types.ObjectIdentifier) (int64, error) {
	env.Log().DebugContext(ctx, "delete batch", "bucket", bucket, "objects", len(ids))
	out, err := cl.DeleteObjects(ctx, &s3.DeleteObjectsInput{
		Bucket: aws.String(bucket), Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
	})
	if err != nil {
		return 0, err
	}
	if len(out.Errors) > 0 {
		e := out.Errors[0]
		return int64(len(ids) - len(out.Errors)), fmt.Errorf("%d of %d objects could not be deleted, first %q: %s: %s",
			len(out.Errors), len(ids), aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
	}
	return int64(len(ids)), nil
}
