package s3

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

// GetFile is "Get a file": downloads one object.
var GetFile = &module.Module{
	Name:            "s3.get_file",
	Verb:            "get-file",
	Title:           "Get a file",
	Group:           module.GroupObjects,
	Help:            "Downloads a file from a bucket. The data is streamed to disk and appears under its name only when complete and checked.",
	NeedsConnection: true,
	Moves:           module.Download,
	Fields: []module.Field{
		bucketField,
		{Name: "path", Label: "Path", Type: module.String, Kind: module.ObjectKey, Required: true,
			Help: "the file's path in the bucket (a leading / is ignored)", Example: "/photos/2019/February/image023.png"},
		readVersionField,
		{Name: "range", Label: "Byte range", Type: module.String,
			Help: "only these bytes: first-last (0-99), from an offset (100-) or the last N (-500); bytes=... works too"},
		{Name: "out", Label: "Save to", Type: module.String, Kind: module.LocalPathOrStdout,
			Help: "local file or folder to save to, or - for standard output (default: the file's name in the current folder)"},
		regionField,
		partSizeField,
		parallelPartsField,
	},
	Outputs: []module.Output{
		{Name: "bucket", Type: module.String}, {Name: "key", Type: module.String}, {Name: "fileName", Type: module.String}, {Name: "size", Type: module.Int}, {Name: "contentType", Type: module.String},
		{Name: "etag", Type: module.String}, {Name: "lastModified", Type: module.Time}, {Name: "metadata", Type: module.Map}, {Name: "savedTo", Type: module.String, Kind: module.LocalPath},
		{Name: "versionId", Type: module.String, Help: "the version read (\"\" where the server keeps no versions)"},
		{Name: "file", Type: module.FileRef, FlowOnly: true, Help: "in flows: a reference to the downloaded data, for Upload a file"},
	},
	Validate: func(in module.Values) error {
		if err := checkBucketRef(in); err != nil {
			return err
		}
		if err := checkTuning(in, 1); err != nil {
			return err
		}
		if _, err := objectKey(in.String("path")); err != nil {
			return err
		}
		_, err := parseRange(in.String("range"))
		return err
	},
	Run: runGetFile,
}

// objectKey turns a Path input into a key naming one file.
func objectKey(p string) (string, error) {
	key := strings.TrimPrefix(p, "/")
	if key == "" || strings.HasSuffix(key, "/") {
		return "", &module.InputError{Field: "path", Rule: fmt.Sprintf("%q must name a file, not a folder", p)}
	}
	if strings.ContainsRune(key, 0) {
		return "", &module.InputError{Field: "path", Rule: fmt.Sprintf("%q %s", p, nulRule)}
	}
	return key, nil
}

// nulRule is the rule a key holding a NUL byte breaks. XML 1.0 cannot carry
// NUL, not even escaped, so no S3 listing could show such a key; versitygw
// answers it with 500 InternalError ("please try again", retried in vain)
// and SeaweedFS with 400 InvalidRequest.
const nulRule = "must not contain a NUL byte (S3's XML listings cannot carry one)"

// localName is the file name a key is saved under: its last segment, which
// can never climb out of the target folder.
func localName(key string) (string, error) {
	name := path.Base(key)
	// filepath's checks catch what is a separator or ".." only on this OS
	// (a key "a\..\..\x" climbs out on Windows).
	if name == "." || name == ".." || name == "/" || strings.ContainsRune(name, 0) ||
		filepath.Base(name) != name || !filepath.IsLocal(name) {
		return "", fmt.Errorf("the key %q has no usable file name; give --out FILE", key)
	}
	return name, nil
}

func runGetFile(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	c, err := client(ctx, env, in)
	if err != nil {
		return err
	}
	bucket := in.String("bucket")
	key, _ := objectKey(in.String("path"))
	obj := objectRef{bucket: bucket, key: key, version: in.String("version_id")}
	fail := func(err error) error {
		if obj.version != "" {
			return fmt.Errorf("get version %q of file %q from bucket %q: %w", obj.version, key, bucket, s3client.Explain(err))
		}
		return fmt.Errorf("get file %q from bucket %q: %w", key, bucket, s3client.Explain(err))
	}
	rng, err := resolveRange(ctx, c, obj, in.String("range"))
	if err != nil {
		return fail(err)
	}
	if in.String("out") == "-" {
		b, err := getToWriter(ctx, c, obj, rng, env.Stdout)
		if err != nil {
			return fail(err)
		}
		b["savedTo"] = "-"
		return emit(b)
	}
	if in.String("out") == "" && env.SpoolDir != "" {
		return spool(ctx, env, c, obj, rng, tuningOf(in, env.Connection, defaultDownloadPartMiB, defaultDownloadParallel), emit, fail)
	}
	target, err := targetPath(env.Files, in.String("out"), key)
	if err != nil {
		return err
	}
	b, err := download(ctx, env, env.Files, c, obj, rng, target, tuningOf(in, env.Connection, defaultDownloadPartMiB, defaultDownloadParallel))
	if err != nil {
		return fail(err)
	}
	return emit(b)
}

// spool downloads into the flow run's spool folder and yields the data as a
// file reference for later steps; the engine removes it when the bundle is
// done.
func spool(ctx context.Context, env module.Env, c *s3client.Client, obj objectRef, rng string, tune tuning, emit func(module.Bundle) error, fail func(error) error) error {
	name, err := localName(obj.key)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(env.SpoolDir, "get-")
	if err != nil {
		return fmt.Errorf("make a spool folder: %w", err)
	}
	// The spool folder is the run's own, not a path a user gave.
	b, err := download(ctx, env, module.AllLocalFiles(), c, obj, rng, filepath.Join(dir, name), tune)
	if err != nil {
		os.RemoveAll(dir)
		return fail(err)
	}
	b["file"] = &module.SpooledFile{
		Path: b["savedTo"].(string), FileName: name, Bytes: b["size"].(int64), ContentType: b["contentType"].(string),
	}
	return emit(b)
}

// targetPath resolves --out: empty means the key's name in the current
// folder; an existing folder (or one ending in a separator) gets the key's
// name inside it.
func targetPath(files *module.LocalFiles, out, key string) (string, error) {
	name, err := localName(key)
	if err != nil {
		return "", err
	}
	if files == nil {
		return "", &module.InputError{Field: "out", Rule: module.ErrNoLocalFiles.Error()}
	}
	if out == "" {
		return name, nil
	}
	if strings.HasSuffix(out, string(os.PathSeparator)) {
		// "--out reports/" asks for a folder: make it.
		if err := files.MkdirAll(out, 0o755); err != nil {
			return "", fmt.Errorf("create folder %s: %w", out, err)
		}
		return filepath.Join(out, name), nil
	}
	if st, err := files.Stat(out); err == nil && st.IsDir() {
		return filepath.Join(out, name), nil
	}
	return out, nil
}

func getToWriter(ctx context.Context, c *s3client.Client, obj objectRef, rng string, w io.Writer) (module.Bundle, error) {
	var out *s3.GetObjectOutput
	err := c.Do(ctx, func(cl *s3.Client) error {
		var err error
		input := &s3.GetObjectInput{Bucket: aws.String(obj.bucket), Key: aws.String(obj.key), VersionId: obj.versionID(), ChecksumMode: types.ChecksumModeEnabled}
		if rng != "" {
			input.Range = aws.String(rng)
		}
		out, err = cl.GetObject(ctx, input, s3client.FastCRC64)
		return err
	})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	n, err := copyInSteps(w, out.Body)
	if err != nil {
		return nil, fmt.Errorf("after %d bytes: %w", n, err)
	}
	if want := aws.ToInt64(out.ContentLength); n != want {
		return nil, fmt.Errorf("got %d bytes, the server announced %d", n, want)
	}
	return fileBundle(obj, "", objectInfo{
		size: n, contentType: out.ContentType, etag: out.ETag, lastModified: out.LastModified, metadata: out.Metadata, versionID: out.VersionId,
	}), nil
}

type objectInfo struct {
	size         int64
	contentType  *string
	etag         *string
	lastModified *time.Time
	metadata     map[string]string
	versionID    *string
}

// objectRef names one object, or one version of it (version "": the
// current one).
type objectRef struct{ bucket, key, version string }

// versionID is the VersionId of a request: nil for the current version.
func (o objectRef) versionID() *string {
	if o.version == "" {
		return nil
	}
	return aws.String(o.version)
}

func fileBundle(obj objectRef, savedTo string, o objectInfo) module.Bundle {
	bucket, key := obj.bucket, obj.key
	meta := o.metadata
	if meta == nil {
		meta = map[string]string{}
	}
	return module.Bundle{
		"bucket": bucket, "key": key, "fileName": path.Base(key), "size": o.size,
		"contentType": aws.ToString(o.contentType), "etag": aws.ToString(o.etag),
		"lastModified": aws.ToTime(o.lastModified).UTC(), "metadata": meta, "savedTo": savedTo,
		"versionId": aws.ToString(o.versionID),
	}
}

// download writes the object to a temporary file beside target with
// parallel ranged GETs, checks its size, and only then renames it into
// place. On any failure the temporary file is removed and an existing
// target is untouched.
func download(ctx context.Context, env module.Env, files *module.LocalFiles, c *s3client.Client, obj objectRef, rng, target string, tune tuning) (module.Bundle, error) {
	bucket, key := obj.bucket, obj.key
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	tmp, tmpName, err := files.CreateTemp(dir, module.TempPattern(base))
	if err != nil {
		return nil, fmt.Errorf("create a temporary file in %s: %w", dir, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			files.Remove(tmpName)
		}
	}()
	tracker := env.StartProgress(key, -1)
	defer tracker.Done()
	var out *transfermanager.DownloadObjectOutput
	err = c.Do(ctx, func(cl *s3.Client) error {
		tm := transfermanager.New(resumingGets{cl}, func(o *transfermanager.Options) {
			o.GetObjectType = tmtypes.GetObjectRanges
			o.PartSizeBytes, o.Concurrency = tune.partSize, tune.parallel
			o.ObjectProgressListeners.Register(progressListener{tracker})
		})
		var err error
		input := &transfermanager.DownloadObjectInput{
			Bucket: aws.String(bucket), Key: aws.String(key), VersionID: obj.versionID(), WriterAt: tmp, ChecksumMode: tmtypes.ChecksumModeEnabled,
		}
		if rng != "" {
			input.Range = aws.String(rng)
		}
		out, err = tm.DownloadObject(ctx, input)
		return err
	})
	if err != nil {
		return nil, err
	}
	// The transfer manager reports the bytes it wrote as ContentLength and
	// the span it set out to fetch, from the size the server announced, as
	// ContentRange ("bytes=first-last"). It takes an answer whose
	// Content-Length is shorter than its Content-Range at its word; a short
	// last range then leaves a file whose size agrees with the count. Both
	// are held against the span.
	written := aws.ToInt64(out.ContentLength)
	want := written
	var first, last int64
	if _, err := fmt.Sscanf(aws.ToString(out.ContentRange), "bytes=%d-%d", &first, &last); err == nil {
		want = last - first + 1
	}
	info := objectInfo{
		size: want, contentType: out.ContentType, etag: out.ETag,
		lastModified: out.LastModified, metadata: out.Metadata, versionID: out.VersionID,
	}
	// A zero-byte object answers the ranged GET with 416 and no metadata.
	if out.ETag == nil {
		head, err := c.S3("").HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: obj.versionID()})
		if err != nil {
			return nil, err
		}
		info = objectInfo{size: aws.ToInt64(head.ContentLength), contentType: head.ContentType, etag: head.ETag,
			lastModified: head.LastModified, metadata: head.Metadata, versionID: head.VersionId}
		want = info.size
	}
	st, err := tmp.Stat()
	if err != nil {
		return nil, err
	}
	if written != want || st.Size() != want {
		return nil, fmt.Errorf("incomplete download: %d of %d bytes arrived (the server sent less than it announced); nothing was saved", written, want)
	}
	// CreateTemp makes files only the owner can read; a download is an
	// ordinary file.
	if err := tmp.Chmod(0o644); err != nil {
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("write %s: %w", tmpName, err)
	}
	if err := files.Rename(tmpName, target); err != nil {
		return nil, fmt.Errorf("move the download into place at %s: %w", target, err)
	}
	done = true
	return fileBundle(obj, files.Abs(target), info), nil
}

// progressListener feeds transfer manager events into a Tracker.
type progressListener struct{ t module.Tracker }

func (l progressListener) OnObjectBytesTransferred(_ context.Context, e *transfermanager.ObjectBytesTransferredEvent) {
	l.t.Update(e.BytesTransferred, e.TotalBytes)
}
