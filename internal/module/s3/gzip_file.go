package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/klauspost/compress/gzip"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

// The gzip codec is klauspost/compress's, chosen by BenchmarkGzip
// (gzip_bench_test.go) on 64 MiB of CSV on the 2-core test machine:
// compressing at the default level 138.6 MB/s against the standard
// library's 27.3 MB/s (output 22.0% of the input against 19.2%), level 1
// 160.6 against 150.5 MB/s, inflating 459.9 against 199.9 MB/s with 26
// allocations against 1,497. Both keep well under 2 MiB per stream.

// GzipFile is "Gzip a file": one object compressed into another.
var GzipFile = &module.Module{
	Name:            "s3.gzip_file",
	Verb:            "gzip-file",
	Title:           "Gzip a file",
	Group:           module.GroupObjects,
	Help:            "Compresses a file into another with gzip, streamed from the GET to a multipart upload: nothing is held whole in memory or on disk, and a failed run leaves nothing behind.",
	NeedsConnection: true,
	Fields: []module.Field{
		codecSourceBucket, codecSourcePath, codecToBucket,
		{Name: "to_path", Flag: "to-path", Label: "Target path", Type: module.String, Kind: module.ObjectKey,
			Help: "the compressed file's path; ending in / it is a folder (default: the source's path with .gz added)", Example: "archive/q3.csv.gz"},
		{Name: "level", Label: "Level", Type: module.Int, Default: int64(6), Min: module.AtLeast(1),
			Help: "1 (fastest) to 9 (smallest); 6 is gzip's own default"},
		regionField, streamPartSizeField, streamParallelField,
	},
	Outputs: codecOutputs,
	Examples: []module.Example{{
		With: []module.Pair{{Name: "bucket", Value: "demo"}, {Name: "path", Value: "/reports/q3.csv"}, {Name: "to_path", Value: "archive/"}},
		Says: "writes archive/q3.csv.gz; an object of that name is replaced",
	}},
	Validate: func(in module.Values) error {
		if l := in.Int("level"); l > 9 {
			return &module.InputError{Field: "level", Rule: fmt.Sprintf("must be from 1 to 9, got %d", l)}
		}
		_, err := codecPlanOf(in, gzipTarget)
		return err
	},
	Run: func(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
		level := int(in.Int("level"))
		return runCodec(ctx, env, in, emit, "gzip", gzipTarget, "application/gzip", func(dst io.Writer, src io.Reader) (int64, error) {
			zw, err := gzip.NewWriterLevel(dst, level)
			if err != nil {
				return 0, err
			}
			n, err := io.Copy(zw, src)
			if cerr := zw.Close(); err == nil {
				err = cerr
			}
			return n, err
		})
	},
}

// Fields and outputs the two codec modules share.
var (
	codecSourceBucket = module.Field{Name: "bucket", Label: "Bucket", Type: module.String, Kind: module.Bucket, Required: true,
		Help: "the bucket holding the source file"}
	codecSourcePath = module.Field{Name: "path", Label: "Path", Type: module.String, Kind: module.ObjectKey, Required: true,
		Help: "the source file (a leading / is ignored)", Example: "/reports/q3.csv"}
	codecToBucket = module.Field{Name: "to_bucket", Flag: "to-bucket", Label: "Target bucket", Type: module.String, Kind: module.Bucket,
		Help: "the bucket to write into (default: the same bucket)"}
	codecOutputs = []module.Output{
		{Name: "bucket", Type: module.String, Help: "the bucket the new file is in"},
		{Name: "key", Type: module.String, Help: "the new file's path"},
		{Name: "size", Type: module.Int, Help: "the new file's size in bytes"},
		{Name: "sourceSize", Type: module.Int, Help: "the source file's size in bytes"},
		{Name: "etag", Type: module.String, Help: "the new file's ETag"},
		{Name: "versionId", Type: module.String, Help: "its version, on a versioned bucket"},
	}
)

// codecPlan is where a codec module reads and writes.
type codecPlan struct {
	bucket, key, toBucket, toKey string
}

// gzipTarget is the default target of gzip: the source with .gz added.
func gzipTarget(key string) string { return key + ".gz" }

// gunzipTarget is the default target of gunzip: the source without .gz
// (or .gzip, .tgz becoming .tar); a name without one gets ".out".
func gunzipTarget(key string) string {
	switch {
	case strings.HasSuffix(key, ".gz"):
		return strings.TrimSuffix(key, ".gz")
	case strings.HasSuffix(key, ".gzip"):
		return strings.TrimSuffix(key, ".gzip")
	case strings.HasSuffix(key, ".tgz"):
		return strings.TrimSuffix(key, ".tgz") + ".tar"
	}
	return key + ".out"
}

func codecPlanOf(in module.Values, defaultTarget func(string) string) (codecPlan, error) {
	if err := checkObjectRef(in); err != nil {
		return codecPlan{}, err
	}
	key, _ := objectKey(in.String("path"))
	p := codecPlan{bucket: in.String("bucket"), key: key, toBucket: in.String("to_bucket")}
	if p.toBucket == "" {
		p.toBucket = p.bucket
	} else if strings.ContainsAny(p.toBucket, "/\\ ") {
		return p, &module.InputError{Field: "to_bucket", Rule: fmt.Sprintf("%q is not a bucket name: no '/', '\\' or spaces", p.toBucket)}
	}
	to := strings.TrimPrefix(in.String("to_path"), "/")
	switch {
	case to == "":
		p.toKey = defaultTarget(key)
	case strings.HasSuffix(to, "/"):
		p.toKey = to + path.Base(defaultTarget(key))
	default:
		p.toKey = to
	}
	if strings.ContainsRune(p.toKey, 0) {
		return p, &module.InputError{Field: "to_path", Rule: nulRule}
	}
	if p.toBucket == p.bucket && p.toKey == p.key {
		// The upload would replace the object while it is being read.
		return p, &module.InputError{Field: "to_path", Rule: fmt.Sprintf("%q is the source file itself; give another path", p.toKey)}
	}
	return p, nil
}

// transform reads src and writes the result to dst, returning the bytes
// read from src.
type transform func(dst io.Writer, src io.Reader) (int64, error)

// runCodec streams the source object through t into a multipart upload:
// a goroutine writes t's output into a pipe that the transfer manager
// reads part by part. Memory is one part per upload in flight plus the
// codec's window, whatever the size. An error on either side ends the
// other: the upload, already in parts or not, is aborted, so nothing is
// left behind.
func runCodec(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error,
	verb string, defaultTarget func(string) string, contentType string, t transform) error {
	p, err := codecPlanOf(in, defaultTarget)
	if err != nil {
		return err
	}
	c, err := client(ctx, env, in)
	if err != nil {
		return err
	}
	src, err := openObject(ctx, c, p.bucket, p.key)
	if err != nil {
		return fmt.Errorf("read %q from bucket %q: %w", p.key, p.bucket, s3client.Explain(err))
	}
	defer src.Close()
	if contentType == "" {
		contentType = mime.TypeByExtension(path.Ext(p.toKey))
		if contentType == "" {
			contentType = "application/octet-stream"
		}
	}
	tune := tuningOf(in, env.Connection, streamPartMiB, streamParallel)
	tracker := env.StartProgress(p.toKey, -1)
	defer tracker.Done()
	// The upload reads a stream once, so it must not run twice: c.Do would
	// run it again in the bucket's region after a wrong-region answer, on
	// what is left of the stream. The region is found first instead.
	cl := targetClient(ctx, c, p.toBucket)
	up := newPartWriter(ctx, env, c, cl, p.toBucket, p.toKey, contentType, tune, tracker)
	read, err := t(up, src)
	if err != nil {
		up.Abort()
		var upErr *uploadError
		if errors.As(err, &upErr) {
			return fmt.Errorf("write %q to bucket %q: %w", p.toKey, p.toBucket, s3client.Explain(upErr.err))
		}
		// The source's error is the cause.
		return fmt.Errorf("%s %q in bucket %q (nothing was written to %q): %w", verb, p.key, p.bucket, p.toKey, s3client.Explain(err))
	}
	etag, versionID, err := up.Close()
	if err != nil {
		return fmt.Errorf("write %q to bucket %q: %w", p.toKey, p.toBucket, s3client.Explain(err))
	}
	return emit(module.Bundle{
		"bucket": p.toBucket, "key": p.toKey, "size": up.Written(), "sourceSize": read,
		"etag": etag, "versionId": versionID,
	})
}

// targetClient is the client for bucket's region, found with a HEAD of
// the bucket (which c.Do follows to the right region). A HEAD that fails
// otherwise (a key that may upload but not list) leaves the default; the
// upload then says what is wrong.
func targetClient(ctx context.Context, c *s3client.Client, bucket string) *s3.Client {
	found := c.S3("")
	c.Do(ctx, func(cl *s3.Client) error {
		_, err := cl.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
		if err == nil {
			found = cl
		}
		return err
	})
	return found
}

// openObject starts a GET of the whole object and returns its body to
// stream from. The body is checked against the object's full-object
// checksum, where it has one, as Get a file does: data transformed on
// the way must be the data stored.
func openObject(ctx context.Context, c *s3client.Client, bucket, key string) (io.ReadCloser, error) {
	var body io.ReadCloser
	err := c.Do(ctx, func(cl *s3.Client) error {
		out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled}, s3client.FastCRC64)
		if err == nil {
			body = out.Body
		}
		return err
	})
	return body, err
}

// OpenObject streams the object at path in bucket over env's connection,
// for modules outside this package that read an object (csv.parse): the
// AWS SDK stays here. region may be empty (the connection's).
func OpenObject(ctx context.Context, env module.Env, bucket, key, region string) (io.ReadCloser, error) {
	c, err := client(ctx, env, module.Values{"region": region})
	if err != nil {
		return nil, err
	}
	body, err := openObject(ctx, c, bucket, key)
	if err != nil {
		return nil, fmt.Errorf("read %q from bucket %q: %w", key, bucket, s3client.Explain(err))
	}
	return body, nil
}
