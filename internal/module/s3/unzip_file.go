package s3

import (
	"archive/zip"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"mime"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/semaphore"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

// The limits of Unzip a file that a run may change.
const (
	defaultUnzipMaxEntries = 100_000
	defaultUnzipMaxTotal   = 100 << 30
	defaultUnzipMaxRatio   = 100
	defaultUnzipParallel   = 4
	// ratioFloor: an entry that inflates to less than this is not held to
	// the ratio (a few KiB of zeros compress 1000:1 and harm no one).
	ratioFloor = 1 << 20
)

// UnzipFile is "Unzip a file": a zip object into a folder, streamed.
var UnzipFile = &module.Module{
	Name:  "s3.unzip_file",
	Verb:  "unzip-file",
	Title: "Unzip a file",
	Group: module.GroupObjects,
	Help: "Unzips a zip file in a bucket into a folder, reading the archive with ranged GETs and uploading each file as it is inflated: nothing is held whole in memory or on disk. " +
		"Names that would climb out of the folder, and archives over the limits (files, total size, compression ratio: zip bombs), are refused with nothing written; " +
		"a file that breaks a limit while it inflates fails the run and the files this run wrote are deleted. One bundle per file.",
	NeedsConnection: true,
	Moves:           module.Upload,
	Many:            true,
	Fields: []module.Field{
		bucketField,
		{Name: "path", Label: "Path", Type: module.String, Kind: module.ObjectKey, Required: true,
			Help: "the zip file's path in the bucket", Example: "archives/reports-2026-11.zip"},
		{Name: "to_bucket", Flag: "to-bucket", Label: "Target bucket", Type: module.String, Kind: module.Bucket,
			Help: "the bucket to unzip into (default: the same bucket)"},
		{Name: "to_folder", Flag: "to-folder", Label: "Target folder", Type: module.String, Kind: module.Folder,
			Help: "the folder to unzip into; the archive's folders are kept below it (default: the top level)", Example: "restored/reports"},
		{Name: "max_entries", Flag: "max-entries", Label: "Most files", Type: module.Int, Default: int64(defaultUnzipMaxEntries), Min: module.AtLeast(1),
			Help: "refuse an archive with more entries than this"},
		{Name: "max_total_size", Flag: "max-total-size", Label: "Most bytes in all", Type: module.Int, Default: int64(defaultUnzipMaxTotal), Min: module.AtLeast(1),
			Help: "refuse an archive whose files inflate to more than this many bytes in all (default: 100 GiB)"},
		{Name: "max_ratio", Flag: "max-ratio", Label: "Highest compression ratio", Type: module.Int, Default: int64(defaultUnzipMaxRatio), Min: module.AtLeast(1),
			Help: "refuse a file that inflates to more than this many times its compressed size (files under 1 MiB are not held to it): zip bombs"},
		{Name: "parallel_files", Flag: "parallel-files", Label: "Files at once", Type: module.Int, Default: int64(defaultUnzipParallel), Min: module.AtLeast(1),
			Help: "how many files are inflated and uploaded at once"},
		regionField,
		partSizeField,
	},
	Outputs: []module.Output{
		{Name: "bucket", Type: module.String, Help: "the bucket the file was unzipped into"},
		{Name: "key", Type: module.String, Help: "the file's path"},
		{Name: "name", Type: module.String, Help: "its name in the archive"},
		{Name: "size", Type: module.Int, Help: "size in bytes"},
		{Name: "etag", Type: module.String, Help: "the file's ETag"},
	},
	Examples: []module.Example{{
		With: []module.Pair{{Name: "bucket", Value: "demo"}, {Name: "path", Value: "archives/reports.zip"}, {Name: "to_folder", Value: "restored/reports"}},
		Says: "unzips archives/reports.zip (made by the zip-files example) into restored/reports/, replacing files of the same names",
	}},
	Validate: func(in module.Values) error {
		_, err := planUnzip(in)
		return err
	},
	Run: runUnzipFile,
}

// unzipPlan is a checked Unzip a file request.
type unzipPlan struct {
	bucket, key       string
	dstBucket, folder string
	maxEntries        int64
	maxTotal          int64
	maxRatio          int64
	parallel          int
}

func planUnzip(in module.Values) (unzipPlan, error) {
	if err := checkObjectRef(in); err != nil {
		return unzipPlan{}, err
	}
	key, _ := objectKey(in.String("path"))
	p := unzipPlan{
		bucket: in.String("bucket"), key: key, dstBucket: in.String("to_bucket"), folder: folderPrefix(in.String("to_folder")),
		maxEntries: in.Int("max_entries"), maxTotal: in.Int("max_total_size"), maxRatio: in.Int("max_ratio"), parallel: int(in.Int("parallel_files")),
	}
	if p.dstBucket == "" {
		p.dstBucket = p.bucket
	} else if err := checkBucketRef(module.Values{"bucket": p.dstBucket}); err != nil {
		err.(*module.InputError).Field = "to_bucket"
		return unzipPlan{}, err
	}
	// Defaults for callers that skip Check (none in s3flow; tests).
	p.maxEntries = cmpOr(p.maxEntries, defaultUnzipMaxEntries)
	p.maxTotal = cmpOr(p.maxTotal, defaultUnzipMaxTotal)
	p.maxRatio = cmpOr(p.maxRatio, defaultUnzipMaxRatio)
	p.parallel = int(cmpOr(int64(p.parallel), defaultUnzipParallel))
	return p, checkTuning(in, minUploadPartMiB)
}

func cmpOr(v, def int64) int64 {
	if v <= 0 {
		return def
	}
	return v
}

// unzipEntry is one file of the archive to write, checked.
type unzipEntry struct {
	f   *zip.File
	key string
}

// LimitError is an archive over one of Unzip a file's limits: it names
// the field that sets the limit.
type LimitError struct {
	Field string
	Rule  string
}

func (e *LimitError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Rule) }

func runUnzipFile(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	p, err := planUnzip(in)
	if err != nil {
		return err
	}
	c, err := client(ctx, env, in)
	if err != nil {
		return err
	}
	tune := tuningOf(in, env.Connection, defaultUploadPartMiB, 1)
	fail := func(err error) error {
		return fmt.Errorf("unzip %q of bucket %q into %q in bucket %q: %w", p.key, p.bucket, p.folder, p.dstBucket, s3client.Explain(err))
	}
	head, err := headFile(ctx, c, p.bucket, p.key, "")
	if err != nil {
		return fail(err)
	}
	var bundles []module.Bundle
	err = c.Do(ctx, func(cl *s3.Client) error {
		var err error
		bundles, err = unzipObject(ctx, env, c, cl, p, head, tune)
		return err
	})
	if err != nil {
		return fail(err)
	}
	// Bundles go out once every file is in: a failed run deletes what it
	// wrote, and no later step may have seen those files.
	for _, b := range bundles {
		if err := emit(b); err != nil {
			return err
		}
	}
	return nil
}

// unzipObject reads the archive's central directory, checks every entry
// against the rules and limits before anything is written, then inflates
// and uploads the files, parallel at a time. If one fails, the files
// already written are deleted.
func unzipObject(ctx context.Context, env module.Env, c *s3client.Client, cl *s3.Client, p unzipPlan, head *s3.HeadObjectOutput, tune tuning) ([]module.Bundle, error) {
	ra := &objectReaderAt{ctx: ctx, cl: cl, bucket: p.bucket, key: p.key, etag: aws.ToString(head.ETag), size: aws.ToInt64(head.ContentLength)}
	// The count is checked before archive/zip reads the directory into
	// memory: a hostile archive may claim millions of entries.
	if n, ok := declaredEntries(ra, ra.size); ok && n > uint64(p.maxEntries) {
		return nil, tooManyEntries(n, p.maxEntries)
	}
	zr, err := zip.NewReader(ra, ra.size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, fmt.Errorf("read the archive's directory (is it a whole zip file?): %w", err)
	}
	entries, err := checkUnzip(zr.File, p, ra.size)
	if err != nil {
		return nil, err
	}
	if len(entries) > 0 {
		ra.readHeadersOf(ra.size / int64(len(entries)))
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu       sync.Mutex
		written  []string // keys this run wrote, to delete on failure
		bundles  = make([]module.Bundle, len(entries))
		total    atomic.Int64
		wg       sync.WaitGroup
		slots    = make(chan struct{}, p.parallel)
		progress = env.StartProgress(p.key, -1)
	)
	defer progress.Done()
	// The files' buffers share one part's worth of memory: a file smaller
	// than a part holds a buffer of its own size, a larger one a part at
	// a time (each part goes up before the next is inflated), so small
	// files go side by side and a large one alone.
	budget := semaphore.NewWeighted(tune.partSize)
	tune.parallel = 0
	for i, e := range entries {
		weight := min(int64(e.f.UncompressedSize64)+1, tune.partSize)
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil || budget.Acquire(ctx, weight) != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			defer budget.Release(weight)
			etag, size, err := unzipOne(ctx, env, c, cl, tune, ra, p, e, &total)
			if err != nil {
				cancel(err)
				return
			}
			mu.Lock()
			written = append(written, e.key)
			progress.Update(int64(len(written)), int64(len(entries)))
			mu.Unlock()
			bundles[i] = module.Bundle{"bucket": p.dstBucket, "key": e.key, "name": e.f.Name, "size": size, "etag": etag}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		// Deleted on a fresh context: a cancelled run cleans up too.
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer dcancel()
		if derr := deleteWritten(dctx, cl, p.dstBucket, written); derr != nil {
			return nil, fmt.Errorf("%w; and %d file(s) it had written could not all be deleted: %v", err, len(written), derr)
		}
		if len(written) > 0 {
			return nil, fmt.Errorf("%w (the %d file(s) this run had written were deleted)", err, len(written))
		}
		return nil, err
	}
	return bundles, nil
}

// checkUnzip applies the rules and limits to the central directory, before
// anything is written: the count, each name, duplicates, what s3flow can
// inflate, the sizes the archive declares. It returns the files to write
// (folder entries need no object).
func checkUnzip(files []*zip.File, p unzipPlan, archiveSize int64) ([]unzipEntry, error) {
	if int64(len(files)) > p.maxEntries {
		return nil, tooManyEntries(uint64(len(files)), p.maxEntries)
	}
	var (
		entries    []unzipEntry
		seen       = map[string]bool{}
		total      uint64
		compressed uint64
	)
	for _, f := range files {
		if problem := zipNameProblem(f.Name); problem != "" {
			return nil, fmt.Errorf("the archive holds the name %q, which %s: refused, nothing was written", f.Name, problem)
		}
		if f.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("the archive holds a symbolic link %q: refused, nothing was written", f.Name)
		}
		if strings.HasSuffix(f.Name, "/") {
			continue // a folder: S3 needs no object for it
		}
		if f.Flags&1 != 0 {
			return nil, fmt.Errorf("the entry %q is encrypted, which s3flow cannot unzip", f.Name)
		}
		if f.Method != zip.Store && f.Method != zip.Deflate {
			return nil, fmt.Errorf("the entry %q uses compression method %d; s3flow unzips stored and deflated entries", f.Name, f.Method)
		}
		key := p.folder + f.Name
		if len(key) > 1024 {
			return nil, fmt.Errorf("the entry %q would be the key %q, longer than S3's 1024 bytes", f.Name, key)
		}
		if p.dstBucket == p.bucket && key == p.key {
			return nil, fmt.Errorf("the entry %q would replace the archive itself (%q) while it is read: unzip into another folder", f.Name, key)
		}
		if seen[key] {
			return nil, fmt.Errorf("the archive holds %q twice: refused, nothing was written", f.Name)
		}
		seen[key] = true
		total += f.UncompressedSize64
		compressed += f.CompressedSize64
		if total > uint64(p.maxTotal) {
			return nil, &LimitError{Field: "max_total_size", Rule: fmt.Sprintf("the archive's files declare %d bytes or more in all, more than the %d allowed; nothing was written", total, p.maxTotal)}
		}
		if f.UncompressedSize64 > ratioFloor && f.UncompressedSize64 > uint64(p.maxRatio)*f.CompressedSize64 {
			return nil, &LimitError{Field: "max_ratio", Rule: fmt.Sprintf("the entry %q declares %d bytes from %d compressed, more than %d times; nothing was written", f.Name, f.UncompressedSize64, f.CompressedSize64, p.maxRatio)}
		}
		entries = append(entries, unzipEntry{f: f, key: key})
	}
	if compressed > uint64(archiveSize) {
		return nil, fmt.Errorf("the archive's entries declare %d compressed bytes, more than its %d bytes: it is damaged; nothing was written", compressed, archiveSize)
	}
	return entries, nil
}

func tooManyEntries(n uint64, allowed int64) error {
	return &LimitError{Field: "max_entries", Rule: fmt.Sprintf("the archive has %d entries, more than the %d allowed; nothing was written", n, allowed)}
}

// declaredEntries reads the entry count from the end of central directory
// record (or its ZIP64 record) of an archive without a comment; ok is
// false when the end does not look like that (archive/zip then finds the
// record, and checkUnzip counts what it read).
func declaredEntries(r io.ReaderAt, size int64) (n uint64, ok bool) {
	const endLen, locatorLen, end64Len = 22, 20, 56
	if size < endLen {
		return 0, false
	}
	end := make([]byte, endLen)
	if _, err := r.ReadAt(end, size-endLen); err != nil || string(end[:4]) != "PK\x05\x06" {
		return 0, false
	}
	if n := binary.LittleEndian.Uint16(end[10:]); n != 0xffff {
		return uint64(n), true
	}
	if size < endLen+locatorLen {
		return 0, false
	}
	loc := make([]byte, locatorLen)
	if _, err := r.ReadAt(loc, size-endLen-locatorLen); err != nil || string(loc[:4]) != "PK\x06\x07" {
		return 0, false
	}
	off := binary.LittleEndian.Uint64(loc[8:])
	if off > uint64(size-end64Len) {
		return 0, false
	}
	rec := make([]byte, end64Len)
	if _, err := r.ReadAt(rec, int64(off)); err != nil || string(rec[:4]) != "PK\x06\x06" {
		return 0, false
	}
	return binary.LittleEndian.Uint64(rec[32:]), true
}

// unzipOne inflates one entry from a ranged GET of its data and uploads it
// as it inflates.
func unzipOne(ctx context.Context, env module.Env, c *s3client.Client, cl *s3.Client, tune tuning, ra *objectReaderAt, p unzipPlan, e unzipEntry, total *atomic.Int64) (etag string, size int64, err error) {
	f := e.f
	off, err := f.DataOffset()
	if err != nil {
		return "", 0, fmt.Errorf("find the data of %q: %w", f.Name, err)
	}
	raw, err := ra.stream(ctx, off, int64(f.CompressedSize64))
	if err != nil {
		return "", 0, fmt.Errorf("read %q: %w", f.Name, err)
	}
	defer raw.Close()
	counted := &countingReader{r: raw}
	var inflated io.Reader = counted
	// An empty file may be stored with no deflate data at all.
	if f.Method == zip.Deflate && f.CompressedSize64 > 0 {
		fr := inflater(counted)
		defer inflaters.Put(fr)
		inflated = fr
	}
	g := &inflateGuard{r: inflated, compressed: counted, name: f.Name, declared: f.UncompressedSize64, crc: f.CRC32,
		sum: crc32.NewIEEE(), total: total, p: p}
	contentType := mime.TypeByExtension(path.Ext(f.Name))
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	up := newPartWriter(ctx, env, c, cl, p.dstBucket, e.key, contentType, tune, module.Env{}.StartProgress("", -1))
	up.expect(int64(f.UncompressedSize64))
	if _, err := up.ReadFrom(g); err != nil {
		up.Abort()
		// The guard's own error says what was wrong with the data.
		if g.err != nil {
			return "", 0, g.err
		}
		return "", 0, fmt.Errorf("upload %q as %q: %w", f.Name, e.key, s3client.Explain(err))
	}
	if !g.done {
		up.Abort()
		return "", 0, fmt.Errorf("upload %q: the upload ended before the file did", f.Name)
	}
	etag, _, err = up.Close()
	if err != nil {
		return "", 0, fmt.Errorf("upload %q as %q: %w", f.Name, e.key, s3client.Explain(err))
	}
	return etag, g.n, nil
}

// inflaters holds deflate readers for reuse: each holds a 32 KiB window
// and its tables, which would be garbage after every entry.
var inflaters sync.Pool

func inflater(r io.Reader) io.Reader {
	if fr, ok := inflaters.Get().(io.Reader); ok {
		if err := fr.(flate.Resetter).Reset(r, nil); err == nil {
			return fr
		}
	}
	return flate.NewReader(r)
}

// countingReader counts the compressed bytes read.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// inflateGuard holds an entry's data to the limits as it flows, whatever
// the archive's headers claim: no more than the declared size, the ratio
// of inflated to compressed bytes read so far, the run's total; at the end
// the size and CRC-32 must be the declared ones.
type inflateGuard struct {
	r          io.Reader
	compressed *countingReader
	name       string
	declared   uint64
	crc        uint32
	sum        hash.Hash32
	total      *atomic.Int64
	p          unzipPlan
	n          int64
	done       bool
	err        error
}

func (g *inflateGuard) Read(b []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.r.Read(b)
	g.n += int64(n)
	g.sum.Write(b[:n])
	all := g.total.Add(int64(n))
	switch {
	case uint64(g.n) > g.declared:
		g.err = fmt.Errorf("the entry %q inflates to more than the %d bytes its header declares: a zip bomb or a damaged archive", g.name, g.declared)
	case g.n > ratioFloor && g.n > g.p.maxRatio*g.compressed.n:
		g.err = &LimitError{Field: "max_ratio", Rule: fmt.Sprintf("the entry %q inflated to %d bytes from %d compressed, more than %d times", g.name, g.n, g.compressed.n, g.p.maxRatio)}
	case all > g.p.maxTotal:
		g.err = &LimitError{Field: "max_total_size", Rule: fmt.Sprintf("the archive's files inflated to more than the %d bytes allowed in all", g.p.maxTotal)}
	case errors.Is(err, io.EOF):
		if uint64(g.n) != g.declared {
			g.err = fmt.Errorf("the entry %q ended after %d of its %d bytes: the archive is truncated or damaged", g.name, g.n, g.declared)
		} else if g.sum.Sum32() != g.crc {
			g.err = fmt.Errorf("the entry %q does not match its CRC-32: the archive is damaged", g.name)
		} else {
			g.done = true
			return n, io.EOF
		}
	case err != nil:
		g.err = fmt.Errorf("inflate %q after %d bytes: %w", g.name, g.n, err)
	default:
		return n, nil
	}
	return 0, g.err
}

// deleteWritten deletes the keys a failed run wrote, 1,000 per request.
func deleteWritten(ctx context.Context, cl *s3.Client, bucket string, keys []string) error {
	d := &bulkDelete{bucket: bucket, emit: func(module.Bundle) error { return nil }}
	for batch := range slices.Chunk(keys, deleteBatchSize) {
		if err := d.batch(ctx, cl, batch); err != nil {
			return err
		}
	}
	if d.failed > 0 {
		return fmt.Errorf("%d could not be deleted", d.failed)
	}
	return nil
}
