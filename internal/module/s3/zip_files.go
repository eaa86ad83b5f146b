package s3

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

// zipReadAhead is how much of each object being read ahead is held before
// its turn in the archive comes: small files arrive whole while the one
// before them is compressed; a large one streams on from its GET.
const zipReadAhead = 256 << 10

// defaultZipReads is how many objects are read at once.
const defaultZipReads = 4

// ZipFiles is "Zip files": a folder's files into one zip object, streamed.
var ZipFiles = &module.Module{
	Name:  "s3.zip_files",
	Verb:  "zip-files",
	Title: "Zip files",
	Group: module.GroupObjects,
	Help: "Zips the files under a folder (every folder below it too), or a list of files, into one zip file in a bucket, streamed: " +
		"files are read a few at a time and the archive goes up in parts while it is written, so nothing is held whole in memory or on disk. " +
		"Names in the archive are relative to the folder; ZIP64 is used past 4 GiB or 65,535 files. A failed run leaves nothing behind. " +
		"The archive goes up in parts of 5 MiB, twice as large every 900 parts, one at a time while the next is written: memory stays at two parts.",
	NeedsConnection: true,
	Moves:           module.Upload,
	Fields: []module.Field{
		bucketField,
		{Name: "prefix", Label: "Folder", Type: module.String, Kind: module.Folder,
			Help: "zip the files in this folder and every folder below it (/ for the whole bucket)", Example: "reports/2026-11"},
		{Name: "keys", Label: "Paths", Type: module.List,
			Help: "zip these files instead (a list of paths); with prefix, each must be in that folder and is named relative to it"},
		{Name: "to_bucket", Flag: "to-bucket", Label: "Target bucket", Type: module.String, Kind: module.Bucket,
			Help: "the bucket to put the archive in (default: the same bucket)"},
		{Name: "to_path", Flag: "to-path", Label: "Archive path", Type: module.String, Kind: module.ObjectKey, Required: true,
			Help: "the archive's path in the target bucket", Example: "archives/reports-2026-11.zip"},
		{Name: "compression", Label: "Compression", Type: module.String, Default: "deflate", Choices: []string{"deflate", "store"},
			Help: "deflate compresses each file (files compressed already, such as .jpg or .gz, are stored as they are); store compresses nothing"},
		{Name: "parallel_files", Flag: "parallel-files", Label: "Files at once", Type: module.Int, Default: int64(defaultZipReads), Min: module.AtLeast(1),
			Help: "how many files are read ahead at once"},
		regionField,
		streamPartSizeField,
		streamParallelField,
	},
	Outputs: []module.Output{
		{Name: "bucket", Type: module.String, Help: "the bucket the archive is in"},
		{Name: "key", Type: module.String, Help: "the archive's path"},
		{Name: "entries", Type: module.Int, Help: "how many files the archive holds"},
		{Name: "size", Type: module.Int, Help: "the archive's size in bytes"},
		{Name: "etag", Type: module.String, Help: "the archive's ETag"},
	},
	Examples: []module.Example{{
		With: []module.Pair{{Name: "bucket", Value: "demo"}, {Name: "prefix", Value: "reports"}, {Name: "to_path", Value: "archives/reports.zip"}},
		Says: "zips every file under reports/ into archives/reports.zip (replacing it if it exists)",
	}},
	Validate: func(in module.Values) error {
		_, err := planZip(in)
		return err
	},
	Run: runZipFiles,
}

// zipPlan is a checked Zip files request.
type zipPlan struct {
	bucket, prefix    string
	keys              []string // nil: list the prefix
	dstBucket, dstKey string
	method            uint16
	parallel          int
}

func planZip(in module.Values) (zipPlan, error) {
	if err := checkBucketRef(in); err != nil {
		return zipPlan{}, err
	}
	p := zipPlan{bucket: in.String("bucket"), dstBucket: in.String("to_bucket"), parallel: int(in.Int("parallel_files"))}
	if p.parallel <= 0 {
		p.parallel = defaultZipReads
	}
	if p.dstBucket == "" {
		p.dstBucket = p.bucket
	} else if err := checkBucketRef(module.Values{"bucket": p.dstBucket}); err != nil {
		err.(*module.InputError).Field = "to_bucket"
		return zipPlan{}, err
	}
	rawPrefix := in.String("prefix")
	p.prefix = folderPrefix(rawPrefix)
	if in["keys"] == nil && rawPrefix == "" {
		return zipPlan{}, &module.InputError{Field: "prefix", Rule: "say what to zip: give {prefix} (/ for the whole bucket) or {keys}", Refs: []string{"prefix", "keys"}}
	}
	if in["keys"] != nil {
		p.keys = []string{}
		for i, item := range in.List("keys") {
			key, err := listedKey(item, i)
			if err != nil {
				return zipPlan{}, err
			}
			if !strings.HasPrefix(key, p.prefix) {
				return zipPlan{}, &module.InputError{Field: "keys", Rule: fmt.Sprintf("item %d (%q) is not in the folder {prefix} (%q)", i+1, key, p.prefix), Refs: []string{"prefix"}}
			}
			if problem := zipNameProblem(key[len(p.prefix):]); problem != "" {
				return zipPlan{}, &module.InputError{Field: "keys", Rule: fmt.Sprintf("item %d (%q) cannot be named in a zip archive: its name %s", i+1, key, problem)}
			}
			p.keys = append(p.keys, key)
		}
		if len(p.keys) == 0 {
			return zipPlan{}, &module.InputError{Field: "keys", Rule: "is an empty list: there is nothing to zip"}
		}
	}
	key := strings.TrimPrefix(in.String("to_path"), "/")
	if key == "" || strings.HasSuffix(key, "/") {
		return zipPlan{}, &module.InputError{Field: "to_path", Rule: fmt.Sprintf("%q must name the archive file, e.g. archives/reports.zip", in.String("to_path"))}
	}
	var err error
	if p.dstKey, err = copyTargetKey(key, ""); err != nil {
		return zipPlan{}, err
	}
	p.method = zip.Deflate
	if in.String("compression") == "store" {
		p.method = zip.Store
	}
	return p, checkTuning(in, minUploadPartMiB)
}

// zipEntry is one file to zip: its key, its name in the archive and, when
// a listing gave them, its size and time.
type zipEntry struct {
	key, name string
	size      int64 // -1: not known until it is read
	modified  time.Time
}

// zipSource is the open data of one entry.
type zipSource struct {
	body     io.ReadCloser
	size     int64
	modified time.Time
}

func runZipFiles(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	p, err := planZip(in)
	if err != nil {
		return err
	}
	c, err := client(ctx, env, in)
	if err != nil {
		return err
	}
	tune := tuningOf(in, env.Connection, streamPartMiB, streamParallel)
	var b module.Bundle
	err = c.Do(ctx, func(cl *s3.Client) error {
		var err error
		b, err = zipToObject(ctx, env, c, cl, p, tune)
		return err
	})
	if err != nil {
		what := fmt.Sprintf("the files under %q", p.prefix)
		if p.keys != nil {
			what = fmt.Sprintf("%d files", len(p.keys))
		}
		return fmt.Errorf("zip %s of bucket %q into %q in bucket %q: %w", what, p.bucket, p.dstKey, p.dstBucket, s3client.Explain(err))
	}
	return emit(b)
}

// zipToObject writes the archive straight into the parts of an upload:
// parts go up while later files are still being read. A failure on
// either side aborts the upload (no orphan parts) and no archive appears.
func zipToObject(ctx context.Context, env module.Env, c *s3client.Client, cl *s3.Client, p zipPlan, tune tuning) (module.Bundle, error) {
	tracker := env.StartProgress(p.dstKey, -1)
	defer tracker.Done()
	up := newPartWriter(ctx, env, c, cl, p.dstBucket, p.dstKey, "application/zip", tune, tracker)
	n, err := writeZip(ctx, up, zipEntries(ctx, cl, p), objectFetcher(cl, p.bucket), p.method, p.parallel)
	if err != nil {
		up.Abort()
		return nil, err
	}
	etag, _, err := up.Close()
	if err != nil {
		return nil, err
	}
	return module.Bundle{"bucket": p.dstBucket, "key": p.dstKey, "entries": n, "size": up.Written(), "etag": etag}, nil
}

// zipEntries yields the files to zip: the keys given, or a listing of the
// prefix a page at a time (never held whole). Folder markers and the
// archive itself are left out.
func zipEntries(ctx context.Context, cl *s3.Client, p zipPlan) iter.Seq2[zipEntry, error] {
	return func(yield func(zipEntry, error) bool) {
		if p.keys != nil {
			for _, k := range p.keys {
				if !yield(zipEntry{key: k, name: k[len(p.prefix):], size: -1}, nil) {
					return
				}
			}
			return
		}
		input := s3.ListObjectsV2Input{Bucket: aws.String(p.bucket), Prefix: aws.String(p.prefix)}
		for page, err := range pages(ctx, cl, input, 0) {
			if err != nil {
				yield(zipEntry{}, fmt.Errorf("list the files: %w", err))
				return
			}
			for _, o := range page.Contents {
				key := aws.ToString(o.Key)
				if strings.HasSuffix(key, "/") || (p.bucket == p.dstBucket && key == p.dstKey) {
					continue
				}
				name := key[len(p.prefix):]
				if problem := zipNameProblem(name); problem != "" {
					yield(zipEntry{}, fmt.Errorf("the file %q cannot be named in a zip archive: %q %s", key, name, problem))
					return
				}
				e := zipEntry{key: key, name: name, size: aws.ToInt64(o.Size), modified: aws.ToTime(o.LastModified)}
				if !yield(e, nil) {
					return
				}
			}
		}
	}
}

// objectFetcher opens an object for reading: a ranged GET that continues
// where it breaks off when the listing gave its size, a plain GET for a
// key given by name.
func objectFetcher(cl *s3.Client, bucket string) func(context.Context, zipEntry) (zipSource, error) {
	return func(ctx context.Context, e zipEntry) (zipSource, error) {
		if e.size == 0 {
			return zipSource{body: io.NopCloser(bytes.NewReader(nil)), modified: e.modified}, nil
		}
		in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(e.key)}
		if e.size > 0 {
			in.Range = aws.String(fmt.Sprintf("bytes=0-%d", e.size-1))
		}
		out, err := resumingGets{cl}.GetObject(ctx, in)
		if err != nil {
			return zipSource{}, fmt.Errorf("read %q: %w", e.key, s3client.Explain(err))
		}
		src := zipSource{body: out.Body, size: e.size, modified: e.modified}
		if e.size < 0 {
			src.size, src.modified = aws.ToInt64(out.ContentLength), aws.ToTime(out.LastModified)
		}
		return src, nil
	}
}

// pending is an entry being read ahead: ready closes once its first bytes
// are in (or it failed).
type pending struct {
	entry zipEntry
	src   zipSource
	err   error
	ready chan struct{}
}

// writeZip writes the entries into w as one zip archive, in the order
// given, and returns how many it wrote. Up to parallel entries are opened
// and read ahead (zipReadAhead bytes each) while the one before them is
// written, so memory stays bounded whatever the files' sizes. It does not
// close w.
func writeZip(ctx context.Context, w io.Writer, entries iter.Seq2[zipEntry, error], fetch func(context.Context, zipEntry) (zipSource, error), method uint16, parallel int) (int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	queue := make(chan *pending, parallel)
	slots := make(chan struct{}, parallel)
	listErr := make(chan error, 1)
	go func() {
		defer close(queue)
		for e, err := range entries {
			if err != nil {
				listErr <- err
				return
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			p := &pending{entry: e, ready: make(chan struct{})}
			go func() {
				defer close(p.ready)
				p.src, p.err = fetch(ctx, e)
				if p.err != nil {
					return
				}
				// Read ahead what fits, so a small file is in before its turn.
				buf := make([]byte, min(zipReadAhead, max(p.src.size, 0)+1))
				n, err := io.ReadFull(p.src.body, buf)
				if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					p.src.body.Close()
					p.err = fmt.Errorf("read %q: %w", e.key, err)
					return
				}
				p.src.body = readCloser{io.MultiReader(bytes.NewReader(buf[:n]), p.src.body), p.src.body}
			}()
			select {
			case queue <- p:
			case <-ctx.Done():
				<-p.ready
				if p.src.body != nil {
					p.src.body.Close()
				}
				return
			}
		}
	}()
	// Whatever is left in the queue when writing stops is closed.
	defer func() {
		cancel(errors.New("the archive was not finished"))
		for p := range queue {
			<-p.ready
			if p.src.body != nil {
				p.src.body.Close()
			}
		}
	}()

	zw := zip.NewWriter(w)
	var count int64
	for p := range queue {
		<-p.ready
		if p.err != nil {
			return count, p.err
		}
		err := writeEntry(zw, p, method)
		p.src.body.Close()
		<-slots
		if err != nil {
			return count, err
		}
		count++
	}
	select {
	case err := <-listErr:
		return count, err
	default:
	}
	if err := context.Cause(ctx); err != nil {
		return count, err
	}
	if count == 0 {
		return 0, errors.New("there are no files to zip")
	}
	if err := zw.Close(); err != nil {
		return count, fmt.Errorf("finish the archive: %w", err)
	}
	return count, nil
}

// writeEntry writes one entry; its data must be as long as the listing
// said, so a file that changed while it was zipped fails the run.
func writeEntry(zw *zip.Writer, p *pending, method uint16) error {
	h := &zip.FileHeader{Name: p.entry.name, Method: method, Modified: p.src.modified}
	if method == zip.Deflate && compressedAlready(p.entry.name) {
		h.Method = zip.Store
	}
	h.SetMode(0o644)
	ew, err := zw.CreateHeader(h)
	if err != nil {
		return fmt.Errorf("add %q to the archive: %w", p.entry.name, err)
	}
	n, err := copyInSteps(ew, p.src.body)
	if err != nil {
		return fmt.Errorf("zip %q after %d bytes: %w", p.entry.key, n, err)
	}
	if p.src.size >= 0 && n != p.src.size {
		return fmt.Errorf("zip %q: read %d bytes, the listing said %d (the file changed while it was zipped?)", p.entry.key, n, p.src.size)
	}
	return nil
}

// readCloser reads from one reader and closes another.
type readCloser struct {
	io.Reader
	io.Closer
}
