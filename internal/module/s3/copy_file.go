package s3

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/encoding/httpbinding"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

// Multipart copy tuning. S3's CopyObject copies at most 5 GiB; larger
// objects are copied in ranged parts (UploadPartCopy). Variables, so tests
// can exercise the multipart path on small objects.
var (
	copyMultipartThreshold int64 = 5 << 30
	copyPartSize           int64 = 512 << 20
	copyConcurrency              = 8
)

// maxParts is S3's limit on the parts of one multipart upload.
const maxParts = 10000

// CopyFile is "Copy a file": a server-side copy within or across buckets.
var CopyFile = &module.Module{
	Name:            "s3.copy_file",
	Verb:            "copy-file",
	Title:           "Copy a file",
	Group:           module.GroupObjects,
	Help:            "Copies a file within a bucket or to another bucket on the server, without downloading it. Files over 5 GiB are copied in parallel parts; a failed copy leaves nothing behind.",
	NeedsConnection: true,
	Fields: []module.Field{
		{Name: "bucket", Label: "Bucket", Type: module.String, Kind: module.Bucket, Required: true,
			Help: "the bucket holding the file to copy"},
		{Name: "path", Label: "Path", Type: module.String, Kind: module.ObjectKey, Required: true,
			Help: "the file to copy (a leading / is ignored)", Example: "/reports/q3.csv"},
		{Name: "version_id", Flag: "version-id", Label: "Source version", Type: module.String,
			Help: "copy this version of the file, in versioned buckets (default: the current one); List versions shows the ids"},
		{Name: "to_bucket", Flag: "to-bucket", Label: "Target bucket", Type: module.String, Kind: module.Bucket,
			Help: "the bucket to copy into (default: the same bucket)"},
		{Name: "to_path", Flag: "to-path", Label: "Target path", Type: module.String, Kind: module.ObjectKey, Required: true,
			Help: "the new file's path; ending in / it is a folder and the file keeps its name", Example: "archive/2026/"},
		{Name: "size", Label: "Size (from a listing)", Type: module.Int, Min: module.AtLeast(0),
			Help: "the source's size in bytes when a listing gave it, e.g. {{ steps.list.size }}: a copy under 5 GiB then needs no HEAD request first (half the requests of a bulk copy)"},
		{Name: "metadata_directive", Flag: "metadata-directive", Label: "Metadata", Type: module.String, Default: "COPY",
			Choices: []string{"COPY", "REPLACE"},
			Help:    "COPY keeps the source's metadata and headers; REPLACE takes them from headers instead (Content-Type stays the source's unless given)"},
		{Name: "headers", Flag: "header", Label: "Headers", Type: module.Pairs, Kind: module.Headers, Separator: ": ",
			Help: "headers of the new file, e.g. 'x-amz-meta-owner: ana' or 'Content-Type: text/csv' (with REPLACE), 'x-amz-storage-class: STANDARD_IA', 'x-amz-tagging: a=1&b=2'"},
		regionField,
	},
	Outputs: []module.Output{
		{Name: "bucket", Type: module.String, Help: "the bucket the copy is in"},
		{Name: "key", Type: module.String, Help: "the copy's path"},
		{Name: "etag", Type: module.String, Help: "the copy's ETag"},
		{Name: "versionId", Type: module.String, Help: "the copy's version id, in versioned buckets"},
		{Name: "sourceVersionId", Type: module.String, Help: "the version of the source that was copied, in versioned buckets"},
		{Name: "size", Type: module.Int, Help: "size in bytes"},
	},
	Validate: func(in module.Values) error {
		_, err := planCopy(in)
		return err
	},
	Run: runCopyFile,
}

// copyPlan is a checked Copy a file request.
type copyPlan struct {
	srcBucket, srcKey string
	srcVersion        string
	dstBucket, dstKey string
	directive         types.MetadataDirective
	props             copyProps
}

// copyProps are the properties the headers input gives the copy.
type copyProps struct {
	contentType, cacheControl, contentDisposition *string
	contentEncoding, contentLanguage              *string
	metadata                                      map[string]string
	storageClass                                  types.StorageClass
	tagging                                       *string
	acl                                           types.ObjectCannedACL
	// replaceOnly names the first header given that S3 applies only when
	// the metadata is replaced.
	replaceOnly string
}

func setCopyString(field func(*copyProps) **string) func(*copyProps, string) error {
	return func(p *copyProps, v string) error {
		*field(p) = aws.String(v)
		return nil
	}
}

// copyHeaders are the CopyObject request headers Copy a file accepts, by
// lower-case name; x-amz-meta-* is handled on its own. The first five are
// metadata: S3 applies them only with metadata_directive REPLACE.
var copyHeaders = map[string]func(*copyProps, string) error{
	"content-type":        setCopyString(func(p *copyProps) **string { return &p.contentType }),
	"cache-control":       setCopyString(func(p *copyProps) **string { return &p.cacheControl }),
	"content-disposition": setCopyString(func(p *copyProps) **string { return &p.contentDisposition }),
	"content-encoding":    setCopyString(func(p *copyProps) **string { return &p.contentEncoding }),
	"content-language":    setCopyString(func(p *copyProps) **string { return &p.contentLanguage }),
	"x-amz-storage-class": func(p *copyProps, v string) error {
		if v == "" {
			return fmt.Errorf("must name a storage class, e.g. STANDARD_IA")
		}
		p.storageClass = types.StorageClass(strings.ToUpper(v))
		return nil
	},
	"x-amz-tagging": func(p *copyProps, v string) error {
		if _, err := url.ParseQuery(v); err != nil {
			return fmt.Errorf("must look like key1=value1&key2=value2 (URL-encoded): %v", err)
		}
		p.tagging = aws.String(v)
		return nil
	},
	"x-amz-acl": func(p *copyProps, v string) error {
		p.acl = types.ObjectCannedACL(v)
		return nil
	},
}

var metadataHeaders = map[string]bool{
	"content-type": true, "cache-control": true, "content-disposition": true,
	"content-encoding": true, "content-language": true,
}

// parseCopyHeaders reads the headers input, or names the header refused.
func parseCopyHeaders(headers []module.Pair) (copyProps, error) {
	var p copyProps
	for _, h := range headers {
		name := strings.ToLower(strings.TrimSpace(h.Name))
		if strings.HasPrefix(name, metaPrefix) && len(name) > len(metaPrefix) {
			if p.metadata == nil {
				p.metadata = map[string]string{}
			}
			p.metadata[name[len(metaPrefix):]] = h.Value
			if p.replaceOnly == "" {
				p.replaceOnly = h.Name
			}
			continue
		}
		set, ok := copyHeaders[name]
		if !ok {
			return copyProps{}, &module.InputError{Field: "headers", Rule: fmt.Sprintf("%q is not a copy header s3flow accepts; accepted: %s", h.Name, acceptedCopyHeaders())}
		}
		if err := set(&p, h.Value); err != nil {
			return copyProps{}, &module.InputError{Field: "headers", Rule: fmt.Sprintf("%s %v", h.Name, err)}
		}
		if metadataHeaders[name] && p.replaceOnly == "" {
			p.replaceOnly = h.Name
		}
	}
	return p, nil
}

func acceptedCopyHeaders() string {
	names := make([]string, 0, len(copyHeaders)+1)
	for n := range copyHeaders {
		names = append(names, n)
	}
	names = append(names, metaPrefix+"*")
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// planCopy checks the inputs and resolves the source and target.
func planCopy(in module.Values) (copyPlan, error) {
	if err := checkBucketRef(in); err != nil {
		return copyPlan{}, err
	}
	p := copyPlan{srcBucket: in.String("bucket"), srcVersion: in.String("version_id"), dstBucket: in.String("to_bucket")}
	if p.dstBucket == "" {
		p.dstBucket = p.srcBucket
	} else if err := checkBucketRef(module.Values{"bucket": p.dstBucket}); err != nil {
		err.(*module.InputError).Field = "to_bucket"
		return copyPlan{}, err
	}
	var err error
	if p.srcKey, err = objectKey(in.String("path")); err != nil {
		return copyPlan{}, err
	}
	if p.dstKey, err = copyTargetKey(in.String("to_path"), p.srcKey); err != nil {
		return copyPlan{}, err
	}
	p.directive = types.MetadataDirective(in.String("metadata_directive"))
	if p.directive == "" {
		p.directive = types.MetadataDirectiveCopy
	}
	if p.props, err = parseCopyHeaders(in.Pairs("headers")); err != nil {
		return copyPlan{}, err
	}
	if p.directive == types.MetadataDirectiveCopy && p.props.replaceOnly != "" {
		return copyPlan{}, &module.InputError{Field: "headers", Rule: fmt.Sprintf("%s is metadata, which S3 sets only with {metadata_directive} REPLACE (COPY keeps the source's)", p.props.replaceOnly), Refs: []string{"metadata_directive"}}
	}
	if p.srcBucket == p.dstBucket && p.srcKey == p.dstKey && p.srcVersion == "" && p.directive == types.MetadataDirectiveCopy && p.props.storageClass == "" {
		return copyPlan{}, &module.InputError{Field: "to_path", Rule: fmt.Sprintf("is the file itself (%q); copying it onto itself changes nothing (S3 refuses it): give another path, or {metadata_directive} REPLACE to change its metadata", p.dstKey), Refs: []string{"metadata_directive"}}
	}
	return p, nil
}

// copyTargetKey turns a Target path into a key: a leading / is ignored, and
// a path ending in / is a folder that gets the source file's name.
func copyTargetKey(toPath, srcKey string) (string, error) {
	key := strings.TrimPrefix(toPath, "/")
	if key == "" || strings.HasSuffix(key, "/") {
		key += path.Base(srcKey)
	}
	if !utf8.ValidString(key) {
		return "", &module.InputError{Field: "to_path", Rule: "the key must be valid UTF-8"}
	}
	if strings.ContainsRune(key, 0) {
		return "", &module.InputError{Field: "to_path", Rule: fmt.Sprintf("the key %q %s", key, nulRule)}
	}
	if len(key) > 1024 {
		return "", &module.InputError{Field: "to_path", Rule: fmt.Sprintf("the key %q is %d bytes; S3 allows 1024", key, len(key))}
	}
	return key, nil
}

// copySource is the x-amz-copy-source header: bucket/key, every byte but
// RFC 3986's unreserved characters and the slashes of the key
// percent-encoded. The SDK sends the header as given, and servers decode
// it as a query string, where a bare "+" would become a space (so
// url.PathEscape, which keeps "+", is not enough).
// A version, when given, follows as the versionId query parameter.
func copySource(bucket, key, version string) string {
	src := httpbinding.EscapePath(bucket, true) + "/" + httpbinding.EscapePath(key, false)
	if version != "" {
		src += "?versionId=" + url.QueryEscape(version)
	}
	return src
}

func runCopyFile(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	p, err := planCopy(in)
	if err != nil {
		return err
	}
	c, err := client(ctx, env, in)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		return fmt.Errorf("copy file %q in bucket %q to %q in bucket %q: %w", p.srcKey, p.srcBucket, p.dstKey, p.dstBucket, s3client.Explain(err))
	}
	// The size decides between one CopyObject and a multipart copy; a
	// missing source is reported before anything is written. A size the
	// listing gave saves the HEAD when one CopyObject will do and needs
	// nothing else of it (REPLACE keeps the source's Content-Type unless
	// given); the CopyObject then reports a missing source itself.
	var head *s3.HeadObjectOutput
	if known, ok := in["size"].(int64); ok && known <= copyMultipartThreshold &&
		(p.directive == types.MetadataDirectiveCopy || p.props.contentType != nil) {
		head = &s3.HeadObjectOutput{ContentLength: aws.Int64(known)}
	} else if head, err = headFile(ctx, c, p.srcBucket, p.srcKey, p.srcVersion); err != nil {
		return fail(err)
	}
	size := aws.ToInt64(head.ContentLength)
	multipart := size > copyMultipartThreshold
	var tags *string
	if multipart && p.props.tagging == nil {
		// A new multipart upload has nothing of the source; CopyObject
		// copies the tags whatever the metadata directive.
		if tags, err = sourceTags(ctx, c, p); err != nil {
			return fail(err)
		}
	}
	var etag, versionID string
	// The HEAD saw the version a multipart copy copies (its parts are
	// pinned to its ETag); CopyObject says which one it copied.
	sourceVersion := aws.ToString(head.VersionId)
	err = c.Do(ctx, func(cl *s3.Client) error {
		var err error
		if multipart {
			etag, versionID, err = multipartCopy(ctx, env, cl, p, head, tags)
		} else {
			var copied string
			etag, versionID, copied, err = singleCopy(ctx, cl, p, head)
			if copied != "" {
				sourceVersion = copied
			}
		}
		return err
	})
	if err != nil {
		return fail(err)
	}
	return emit(module.Bundle{"bucket": p.dstBucket, "key": p.dstKey, "etag": etag, "versionId": versionID, "sourceVersionId": sourceVersion, "size": size})
}

// singleCopy copies with one CopyObject request.
func singleCopy(ctx context.Context, cl *s3.Client, p copyPlan, head *s3.HeadObjectOutput) (etag, versionID, sourceVersion string, err error) {
	input := &s3.CopyObjectInput{
		Bucket: aws.String(p.dstBucket), Key: aws.String(p.dstKey),
		CopySource: aws.String(copySource(p.srcBucket, p.srcKey, p.srcVersion)), MetadataDirective: p.directive,
		StorageClass: p.props.storageClass, ACL: p.props.acl,
	}
	if p.directive == types.MetadataDirectiveReplace {
		input.ContentType, input.CacheControl, input.ContentDisposition = p.props.contentType, p.props.cacheControl, p.props.contentDisposition
		input.ContentEncoding, input.ContentLanguage, input.Metadata = p.props.contentEncoding, p.props.contentLanguage, p.props.metadata
		// Without one S3 would set binary/octet-stream.
		if input.ContentType == nil {
			input.ContentType = head.ContentType
		}
	}
	if p.props.tagging != nil {
		input.Tagging, input.TaggingDirective = p.props.tagging, types.TaggingDirectiveReplace
	}
	out, err := cl.CopyObject(ctx, input)
	if err != nil {
		return "", "", "", err
	}
	if out.CopyObjectResult != nil {
		etag = aws.ToString(out.CopyObjectResult.ETag)
	}
	return etag, aws.ToString(out.VersionId), aws.ToString(out.CopySourceVersionId), nil
}

// copyPart is one byte range of a multipart copy, last inclusive.
type copyPart struct{ first, last int64 }

// copyParts splits size bytes into parts of partSize, or larger ones when
// that would need more than S3's 10,000 parts.
func copyParts(size, partSize int64) []copyPart {
	partSize = max(partSize, (size+maxParts-1)/maxParts)
	var parts []copyPart
	for first := int64(0); first < size; first += partSize {
		parts = append(parts, copyPart{first, min(first+partSize, size) - 1})
	}
	return parts
}

// multipartCopy copies in ranged parts, several at a time, each only from
// the version of the source the HEAD saw (x-amz-copy-source-if-match), so
// a source replaced meanwhile fails the copy instead of mixing versions.
// On any failure the upload is aborted: no parts are left behind.
func multipartCopy(ctx context.Context, env module.Env, cl *s3.Client, p copyPlan, head *s3.HeadObjectOutput, sourceTags *string) (etag, versionID string, err error) {
	create := &s3.CreateMultipartUploadInput{
		Bucket: aws.String(p.dstBucket), Key: aws.String(p.dstKey),
		StorageClass: p.props.storageClass, ACL: p.props.acl, Tagging: p.props.tagging,
	}
	// A new multipart upload has nothing of the source: what CopyObject
	// would copy is set here.
	if p.directive == types.MetadataDirectiveCopy {
		create.ContentType, create.CacheControl, create.ContentDisposition = head.ContentType, head.CacheControl, head.ContentDisposition
		create.ContentEncoding, create.ContentLanguage, create.Metadata = head.ContentEncoding, head.ContentLanguage, head.Metadata
		create.Expires, create.WebsiteRedirectLocation = head.Expires, head.WebsiteRedirectLocation
	} else {
		create.ContentType, create.CacheControl, create.ContentDisposition = p.props.contentType, p.props.cacheControl, p.props.contentDisposition
		create.ContentEncoding, create.ContentLanguage, create.Metadata = p.props.contentEncoding, p.props.contentLanguage, p.props.metadata
		if create.ContentType == nil {
			create.ContentType = head.ContentType
		}
	}
	if create.Tagging == nil {
		create.Tagging = sourceTags
	}
	up, err := cl.CreateMultipartUpload(ctx, create)
	if err != nil {
		return "", "", err
	}
	uploadID := up.UploadId
	done := false
	defer func() {
		if done {
			return
		}
		// Abort even when ctx was cancelled: that is when it matters most.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		if aerr := abortUpload(actx, cl, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(p.dstBucket), Key: aws.String(p.dstKey), UploadId: uploadID,
		}); aerr != nil {
			env.Log().WarnContext(ctx, "abort multipart copy", "bucket", p.dstBucket, "key", p.dstKey, "error", aerr)
		}
	}()

	size := aws.ToInt64(head.ContentLength)
	tracker := env.StartProgress(p.dstKey, size)
	defer tracker.Done()
	parts := copyParts(size, copyPartSize)
	completed := make([]types.CompletedPart, len(parts))
	// A failed part stops new parts but does not cut those in flight: the
	// server would finish a cut part copy anyway, perhaps after the abort,
	// and bring the upload back. Waiting for their answers first keeps the
	// abort from racing them. (A cancelled ctx still cuts them; then
	// abortUpload checks and aborts again.)
	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		copied int64
		limit  = make(chan struct{}, max(copyConcurrency, 1))
	)
	source := aws.String(copySource(p.srcBucket, p.srcKey, p.srcVersion))
	for i, part := range parts {
		select {
		case limit <- struct{}{}:
		case <-pctx.Done():
		}
		if pctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-limit }()
			n := int32(i + 1)
			out, err := cl.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
				Bucket: aws.String(p.dstBucket), Key: aws.String(p.dstKey), UploadId: uploadID, PartNumber: aws.Int32(n),
				CopySource: source, CopySourceIfMatch: head.ETag,
				CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", part.first, part.last)),
			})
			if err != nil {
				// Explained here: the words of the wrapping would be lost later.
				cancel(fmt.Errorf("part %d of %d: %w", n, len(parts), s3client.Explain(err)))
				return
			}
			completed[i] = types.CompletedPart{PartNumber: aws.Int32(n)}
			if r := out.CopyPartResult; r != nil {
				completed[i].ETag = r.ETag
				completed[i].ChecksumCRC32, completed[i].ChecksumCRC32C = r.ChecksumCRC32, r.ChecksumCRC32C
				completed[i].ChecksumCRC64NVME = r.ChecksumCRC64NVME
				completed[i].ChecksumSHA1, completed[i].ChecksumSHA256 = r.ChecksumSHA1, r.ChecksumSHA256
			}
			mu.Lock()
			copied += part.last - part.first + 1
			tracker.Update(copied, size)
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := context.Cause(pctx); err != nil {
		return "", "", err
	}
	out, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(p.dstBucket), Key: aws.String(p.dstKey), UploadId: uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: completed},
	})
	if err != nil {
		return "", "", err
	}
	done = true
	return aws.ToString(out.ETag), aws.ToString(out.VersionId), nil
}

// abortTimeout bounds the clean-up of a failed multipart copy.
const abortTimeout = 30 * time.Second

// sourceTags reads the source's tags as an x-amz-tagging value, as
// CopyObject would copy them; a server without tagging has none.
func sourceTags(ctx context.Context, c *s3client.Client, p copyPlan) (*string, error) {
	var out *s3.GetObjectTaggingOutput
	err := c.Do(ctx, func(cl *s3.Client) error {
		var err error
		out, err = cl.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(p.srcBucket), Key: aws.String(p.srcKey)})
		return err
	})
	if err != nil {
		if s3client.Code(err) == "NotImplemented" {
			return nil, nil
		}
		return nil, fmt.Errorf("read the source's tags: %w", err)
	}
	if len(out.TagSet) == 0 {
		return nil, nil
	}
	items := make([]string, len(out.TagSet))
	for i, t := range out.TagSet {
		items[i] = httpbinding.EscapePath(aws.ToString(t.Key), true) + "=" + httpbinding.EscapePath(aws.ToString(t.Value), true)
	}
	return aws.String(strings.Join(items, "&")), nil
}
