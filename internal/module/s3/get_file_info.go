package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

// GetFileInfo is "Get file info": an object's metadata, without its data.
var GetFileInfo = &module.Module{
	Name:            "s3.get_file_info",
	Verb:            "get-file-info",
	Title:           "Get file info",
	Group:           module.GroupObjects,
	Help:            "Reads a file's size, type, ETag, metadata and checksum without downloading it (HEAD).",
	NeedsConnection: true,
	Fields: []module.Field{
		bucketField,
		{Name: "path", Label: "Path", Type: module.String, Kind: module.ObjectKey, Required: true,
			Help: "the file's path in the bucket (a leading / is ignored)", Example: "/reports/q3.csv"},
		readVersionField,
		regionField,
	},
	Outputs: []module.Output{
		{Name: "bucket", Type: module.String}, {Name: "key", Type: module.String},
		{Name: "size", Type: module.Int, Help: "size in bytes"},
		{Name: "etag", Type: module.String},
		{Name: "contentType", Type: module.String},
		{Name: "lastModified", Type: module.Time},
		{Name: "metadata", Type: module.Map, Help: "the x-amz-meta-* headers, without the prefix"},
		{Name: "storageClass", Type: module.String, Help: "e.g. STANDARD"},
		{Name: "versionId", Type: module.String},
		{Name: "checksum", Type: module.Map, Help: "the checksums the server stores, by algorithm (e.g. CRC32), base64"},
		{Name: "cacheControl", Type: module.String}, {Name: "contentDisposition", Type: module.String}, {Name: "contentEncoding", Type: module.String},
	},
	Validate: checkObjectRef,
	Run:      runGetFileInfo,
}

func runGetFileInfo(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	c, err := client(ctx, env, in)
	if err != nil {
		return err
	}
	bucket := in.String("bucket")
	key, err := objectKey(in.String("path"))
	if err != nil {
		return err
	}
	h, err := headFile(ctx, c, bucket, key, in.String("version_id"))
	if err != nil {
		return fmt.Errorf("get file info %q in bucket %q: %w", key, bucket, err)
	}
	meta := h.Metadata
	if meta == nil {
		meta = map[string]string{}
	}
	// S3 leaves the header out for the STANDARD class.
	class := string(h.StorageClass)
	if class == "" {
		class = string(types.StorageClassStandard)
	}
	return emit(module.Bundle{
		"bucket": bucket, "key": key, "size": aws.ToInt64(h.ContentLength), "etag": aws.ToString(h.ETag),
		"contentType": aws.ToString(h.ContentType), "lastModified": aws.ToTime(h.LastModified).UTC(),
		"metadata": meta, "storageClass": class, "versionId": aws.ToString(h.VersionId),
		"checksum": headChecksums(h), "cacheControl": aws.ToString(h.CacheControl),
		"contentDisposition": aws.ToString(h.ContentDisposition), "contentEncoding": aws.ToString(h.ContentEncoding),
	})
}

// headChecksums collects the checksums a HEAD returned, by algorithm.
func headChecksums(h *s3.HeadObjectOutput) map[string]string {
	sums := map[string]string{}
	for name, v := range map[string]*string{
		"CRC32": h.ChecksumCRC32, "CRC32C": h.ChecksumCRC32C, "CRC64NVME": h.ChecksumCRC64NVME,
		"MD5": h.ChecksumMD5, "SHA1": h.ChecksumSHA1, "SHA256": h.ChecksumSHA256, "SHA512": h.ChecksumSHA512,
		"XXHASH3": h.ChecksumXXHASH3, "XXHASH64": h.ChecksumXXHASH64, "XXHASH128": h.ChecksumXXHASH128,
	} {
		if v != nil && *v != "" {
			sums[name] = *v
		}
	}
	return sums
}

// headFile reads an object's metadata and stored checksums. The answer
// to a HEAD has no body, so a 404 says neither whether the bucket or the
// file is missing; a HEAD of the bucket then tells them apart, and the
// error gets the code GET would have given (NoSuchKey, NoSuchBucket).
func headFile(ctx context.Context, c *s3client.Client, bucket, key, versionID string) (*s3.HeadObjectOutput, error) {
	input := &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled}
	if versionID != "" {
		input.VersionId = aws.String(versionID)
	}
	var out *s3.HeadObjectOutput
	err := c.Do(ctx, func(cl *s3.Client) error {
		var err error
		out, err = cl.HeadObject(ctx, input)
		return err
	})
	if err == nil {
		return out, nil
	}
	explained := s3client.Explain(err)
	var e *s3client.Error
	if !errors.As(explained, &e) || e.Status != http.StatusNotFound {
		return nil, explained
	}
	missing := *e
	missing.Code, missing.Message, missing.Hint = "NoSuchKey", "the file does not exist", s3client.Hint("NoSuchKey")
	if versionID != "" {
		missing.Code, missing.Message = "NoSuchVersion", fmt.Sprintf("the file or its version %q does not exist", versionID)
		missing.Hint = "check the path and the version id"
	}
	berr := c.Do(ctx, func(cl *s3.Client) error {
		_, err := cl.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
		return err
	})
	var be *s3client.Error
	if errors.As(s3client.Explain(berr), &be) && be.Status == http.StatusNotFound {
		missing.Code, missing.Message, missing.Hint = "NoSuchBucket", "the bucket does not exist", s3client.Hint("NoSuchBucket")
	}
	return nil, &missing
}
