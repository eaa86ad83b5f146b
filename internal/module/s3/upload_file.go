package s3

import (
	"context"
	"fmt"
	"io"
	"mime"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

// UploadFile is "Upload a file".
var UploadFile = &module.Module{
	Name:            "s3.upload_file",
	Verb:            "upload-file",
	Title:           "Upload a file",
	Group:           module.GroupObjects,
	Help:            "Uploads a file to a folder of a bucket. Large files go up in parallel parts; a failed upload leaves nothing behind.",
	NeedsConnection: true,
	Moves:           module.Upload,
	Fields: []module.Field{
		bucketField,
		{Name: "folder", Label: "Folder", Type: module.String, Kind: module.Folder,
			Help: "folder in the bucket to upload into (default: the top level)", Example: "work/reports"},
		{Name: "file", Label: "Source file", Type: module.FileRef, Required: true,
			Help: "the file to upload"},
		{Name: "name", Label: "File name", Type: module.String,
			Help: "the name in the bucket (default: the source file's name)"},
		{Name: "no_overwrite", Flag: "no-overwrite", Label: "Do not overwrite", Type: module.Bool, Default: false,
			Help: "fail instead of replacing an object that exists (If-None-Match: *)"},
		{Name: "if_match", Flag: "if-match", Label: "Only if unchanged", Type: module.String,
			Help: "replace the object only if it still has this ETag (If-Match)"},
		{Name: "headers", Flag: "header", Label: "Headers", Type: module.Pairs, Kind: module.Headers, Separator: ": ",
			Help: "PUT Object request headers, e.g. 'Content-Type: text/csv' or 'x-amz-meta-owner: ana'"},
		regionField,
		partSizeField,
		parallelPartsField,
	},
	Outputs: []module.Output{
		{Name: "bucket", Type: module.String}, {Name: "key", Type: module.String}, {Name: "etag", Type: module.String}, {Name: "versionId", Type: module.String}, {Name: "size", Type: module.Int},
	},
	Validate: func(in module.Values) error {
		if err := checkBucketRef(in); err != nil {
			return err
		}
		if _, err := uploadKey(in); err != nil {
			return err
		}
		if err := checkTuning(in, minUploadPartMiB); err != nil {
			return err
		}
		input := &transfermanager.UploadObjectInput{}
		if _, err := applyHeaders(input, in.Pairs("headers")); err != nil {
			return err
		}
		return applyConditions(input, in)
	},
	Run: runUploadFile,
}

// uploadKey joins Folder and Name into a key without leading or doubled
// slashes: "work/reports/" + "q3.csv" is "work/reports/q3.csv".
func uploadKey(in module.Values) (string, error) {
	name := in.String("name")
	if name == "" {
		if f := in.File("file"); f != nil {
			name = f.Name()
		}
	}
	name = strings.Trim(cleanSlashes(name), "/")
	if name == "" || name == "." || name == ".." {
		return "", &module.InputError{Field: "name", Rule: "must be a file name"}
	}
	key := folderPrefix(in.String("folder")) + name
	if !utf8.ValidString(key) {
		return "", &module.InputError{Field: "name", Rule: "the key must be valid UTF-8"}
	}
	if strings.ContainsRune(key, 0) {
		return "", &module.InputError{Field: "name", Rule: fmt.Sprintf("the key %q %s", key, nulRule)}
	}
	if len(key) > 1024 {
		return "", &module.InputError{Field: "name", Rule: fmt.Sprintf("the key %q is %d bytes; S3 allows 1024", key, len(key))}
	}
	return key, nil
}

func runUploadFile(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	c, err := client(ctx, env, in)
	if err != nil {
		return err
	}
	bucket := in.String("bucket")
	key, err := uploadKey(in)
	if err != nil {
		return err
	}
	file := in.File("file")
	input := &transfermanager.UploadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	contentMD5, err := applyHeaders(input, in.Pairs("headers"))
	if err != nil {
		return err
	}
	if err := applyConditions(input, in); err != nil {
		return err
	}
	if typed, ok := file.(interface{ Type() string }); ok && input.ContentType == nil && typed.Type() != "" {
		// A file from Get a file keeps the type it had.
		input.ContentType = aws.String(typed.Type())
	}
	if input.ContentType == nil {
		if t := mime.TypeByExtension(path.Ext(key)); t != "" {
			input.ContentType = aws.String(t)
		} else {
			input.ContentType = aws.String("application/octet-stream")
		}
	}
	size := file.Size()
	tune := tuningOf(in, env.Connection, defaultUploadPartMiB, defaultUploadParallel)
	// Files under partsThreshold go up in one PUT, larger ones in parts.
	partsThreshold := uploadThresholdParts * tune.partSize
	loopback := c.Loopback()
	conditional := input.IfNoneMatch != nil || input.IfMatch != nil
	if conditional {
		// A server may refuse a PUT's condition before it reads the body
		// and close the connection: the client, still sending, sees a
		// reset, not the 412 it is (MinIO, for a 6 MiB PUT, one time in
		// seven). Bodies it drains first are safe; larger ones go in
		// parts, whose condition is checked when the upload completes.
		partsThreshold = min(partsThreshold, conditionalSinglePutMax)
	}
	// A file that can be read again (a local file, not a stream) may go up
	// in one PUT streamed from it, up to this size: more on loopback.
	singlePutMax := partsThreshold
	if loopback && !conditional && !partSizeSet(in, env.Connection) {
		singlePutMax = loopbackSinglePutMiB << 20
	}
	md5Rule := func(max int64) error {
		return &module.InputError{Field: "headers", Rule: fmt.Sprintf("Content-MD5 covers a single PUT, which s3flow uses for files under %s; use x-amz-checksum-sha256 or leave it out (parts are checksummed anyway)", mibOrKib(max))}
	}
	if contentMD5 != "" && (size < 0 || size >= singlePutMax) {
		return md5Rule(singlePutMax)
	}
	body, err := file.Open()
	if err != nil {
		return fmt.Errorf("open %s: %w", file.Name(), err)
	}
	defer body.Close()
	seeker, seekable := body.(io.ReadSeeker)
	if !seekable {
		// The transfer manager reads a single PUT's body into memory; a
		// stream (an upload through the API) keeps to the parts threshold.
		singlePutMax = partsThreshold
		if contentMD5 != "" && size >= singlePutMax {
			return md5Rule(singlePutMax)
		}
	}
	input.Body = body
	if size >= 0 {
		input.ContentLength = aws.Int64(size)
	}
	tracker := env.StartProgress(key, size)
	defer tracker.Done()
	var etag, versionID *string
	err = c.Do(ctx, func(cl *s3.Client) error {
		if seekable && size >= 0 && size < singlePutMax {
			// A retry in another region starts from the top of the file.
			if _, err := seeker.Seek(0, io.SeekStart); err != nil {
				return err
			}
			out, err := putFromFile(ctx, cl, input, contentMD5, seeker, size, loopback, tracker)
			if err == nil {
				etag, versionID = out.ETag, out.VersionId
			}
			return err
		}
		var api transferClient = cl
		if contentMD5 != "" {
			api = withContentMD5{cl, contentMD5}
		}
		// The transfer manager aborts once; abortUpload makes it stick.
		api = stickyAbort{api}
		tm := transfermanager.New(api, func(o *transfermanager.Options) {
			o.PartSizeBytes = tune.partSize
			o.MultipartUploadThreshold = partsThreshold
			o.Concurrency = tune.parallel
			// A cancelled upload (Ctrl-C, a step timeout) still aborts its
			// multipart upload, on a fresh context: no orphan parts.
			o.FailTimeout = 30 * time.Second
			o.RequestChecksumCalculation = c.Config().RequestChecksumCalculation
			o.ObjectProgressListeners.Register(progressListener{tracker})
		})
		out, err := tm.UploadObject(ctx, input)
		if err == nil {
			etag, versionID = out.ETag, out.VersionID
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("upload %s to %q as %q: %w", file.Name(), bucket, key, conditionFailed(err, input))
	}
	return emit(module.Bundle{
		"bucket": bucket, "key": key, "etag": aws.ToString(etag),
		"versionId": aws.ToString(versionID), "size": size,
	})
}

// withContentMD5 puts the user's Content-MD5 on the single PUT of a small
// upload (the transfer manager's input has no field for it).
type withContentMD5 struct {
	*s3.Client
	md5 string
}

func (c withContentMD5) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	in.ContentMD5 = aws.String(c.md5)
	return c.Client.PutObject(ctx, in, opts...)
}

// applyConditions sets the conditional-write options; a condition given
// both as an option and as a header must agree.
func applyConditions(input *transfermanager.UploadObjectInput, in module.Values) error {
	if in.Bool("no_overwrite") {
		if input.IfNoneMatch != nil && *input.IfNoneMatch != "*" {
			return &module.InputError{Field: "no_overwrite", Rule: "conflicts with the If-None-Match header"}
		}
		input.IfNoneMatch = aws.String("*")
	}
	if etag := in.String("if_match"); etag != "" {
		if input.IfMatch != nil && strings.Trim(*input.IfMatch, `"`) != strings.Trim(etag, `"`) {
			return &module.InputError{Field: "if_match", Rule: "conflicts with the If-Match header"}
		}
		input.IfMatch = aws.String(etag)
	}
	if input.IfMatch != nil && input.IfNoneMatch != nil {
		return &module.InputError{Field: "if_match", Rule: "cannot be combined with {no_overwrite} (If-None-Match)", Refs: []string{"no_overwrite"}}
	}
	return nil
}

// conditionFailed puts a 412 answer in words: which condition did not hold.
// Nothing was written either way.
func conditionFailed(err error, input *transfermanager.UploadObjectInput) error {
	explained := s3client.Explain(err)
	if s3client.Code(err) != "PreconditionFailed" {
		return explained
	}
	// The words below replace the general hint.
	explained = s3client.WithoutHint(explained)
	switch {
	case input.IfNoneMatch != nil:
		return fmt.Errorf("the object exists already and must not be overwritten (no_overwrite / If-None-Match); nothing was changed: %w", explained)
	case input.IfMatch != nil:
		return fmt.Errorf("the object no longer has ETag %s (it changed or was deleted); nothing was changed: %w", aws.ToString(input.IfMatch), explained)
	}
	return explained
}

// conditionalSinglePutMax is the largest body a conditional upload sends
// in one PUT. When a handler answers without reading the body, Go's HTTP
// server (MinIO's, versitygw's, SeaweedFS's) reads and drops up to 256 KiB
// of it before it goes on; past that it closes the connection under a
// client still sending.
const conditionalSinglePutMax = 256 << 10

// mibOrKib writes n bytes in MiB, or in KiB under one MiB.
func mibOrKib(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}
