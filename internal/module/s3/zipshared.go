package s3

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// What Zip files and Unzip a file share: the rule for a name inside an
// archive, and an io.ReaderAt over an object.

// zipNameProblem says why name may not be a file's name inside a zip
// archive, or "" when it may. The rule is the same both ways: Zip files
// never writes a name that Unzip a file (or any unzip tool) would have to
// refuse, and Unzip a file refuses names that would climb out of the
// folder they are unzipped into ("zip slip"), whatever wrote them.
func zipNameProblem(name string) string {
	trimmed := strings.TrimSuffix(name, "/") // a folder entry ends in /
	switch {
	case trimmed == "":
		return "is empty"
	case !utf8.ValidString(name):
		return "is not valid UTF-8"
	case strings.ContainsRune(name, 0):
		return "holds a NUL byte"
	case strings.HasPrefix(name, "/"):
		return "is absolute (starts with /)"
	case strings.Contains(name, `\`):
		return `holds a backslash (a folder separator on Windows, where ..\ climbs out)`
	case len(name) >= 2 && name[1] == ':' && ('a' <= name[0]|32 && name[0]|32 <= 'z'):
		return "starts with a drive letter"
	}
	for _, seg := range strings.Split(trimmed, "/") {
		switch seg {
		case "..":
			return "has a .. segment, which climbs out of the folder it is unzipped into"
		case ".":
			return "has a . segment"
		case "":
			return "has an empty segment (//)"
		}
	}
	return ""
}

// zipMethodStored are the extensions of formats that are compressed
// already: Zip files stores them, as deflating them again costs time and
// gains nothing.
var zipMethodStored = map[string]bool{
	".zip": true, ".gz": true, ".tgz": true, ".bz2": true, ".xz": true, ".zst": true, ".7z": true, ".rar": true,
	".jpg": true, ".jpeg": true, ".png": true, ".gif": true, ".webp": true, ".avif": true, ".heic": true,
	".mp3": true, ".mp4": true, ".m4a": true, ".mov": true, ".mkv": true, ".webm": true, ".ogg": true,
	".docx": true, ".xlsx": true, ".pptx": true, ".jar": true, ".parquet": true,
}

// compressedAlready reports whether name's extension says its data is
// compressed already.
func compressedAlready(name string) bool {
	return zipMethodStored[strings.ToLower(path.Ext(name))]
}

// Object reads go in blocks of readAtBlock, and the last readAtBlocks are
// kept: archive/zip reads the central directory 4 KiB at a time and each
// local header in 30 bytes, which would otherwise each be a GET.
const (
	readAtBlock  = 256 << 10
	readAtBlocks = 8
)

// objectReaderAt is an io.ReaderAt over one version of an object (its
// ETag, If-Match on every GET, so a replaced object fails the read instead
// of mixing two versions), reading ranged blocks and keeping a few.
type objectReaderAt struct {
	ctx         context.Context
	cl          *s3.Client
	bucket, key string
	etag        string
	size        int64
	mu          sync.Mutex
	blocks      []cachedBlock // most recently used last
	blockSize   int64         // 0: readAtBlock
	gets        int           // GETs made, for tests
	fetched     int64         // bytes those GETs read, for tests
}

// readHeadersOf sets the block size for reading the local headers of
// entries that average avg compressed bytes (after the directory, which is
// read in whole blocks). Where many entries share a block, a block read
// for one header brings the next ones; where entries are larger than a
// block, each header would cost a block of data that is read again with
// the entry, so a small block does.
func (r *objectReaderAt) readHeadersOf(avg int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	size := int64(readAtBlock)
	if avg >= readAtBlock {
		size = headerBlock
	}
	if size != r.blockLen() {
		r.blockSize, r.blocks = size, nil
	}
}

// headerBlock is what is read for one local header of a large entry: its
// 30 bytes, its name and its extra field, all but always.
const headerBlock = 4 << 10

// blockLen is the size of the blocks read now.
func (r *objectReaderAt) blockLen() int64 {
	if r.blockSize == 0 {
		return readAtBlock
	}
	return r.blockSize
}

type cachedBlock struct {
	index, size int64
	data        []byte
}

// ReadAt reads len(p) bytes at off, block by block.
func (r *objectReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read at %d: negative offset", off)
	}
	n := 0
	for n < len(p) {
		at := off + int64(n)
		if at >= r.size {
			return n, io.EOF
		}
		r.mu.Lock()
		size := r.blockLen()
		r.mu.Unlock()
		b, err := r.block(at/size, size)
		if err != nil {
			return n, err
		}
		n += copy(p[n:], b[at%size:])
	}
	return n, nil
}

// block returns block i of the given size, from the cache or with one
// ranged GET.
func (r *objectReaderAt) block(i, size int64) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for j, b := range r.blocks {
		if b.index == i && b.size == size {
			r.blocks = append(append(r.blocks[:j:j], r.blocks[j+1:]...), b)
			return b.data, nil
		}
	}
	first := i * size
	last := min(first+size, r.size) - 1
	body, err := r.stream(r.ctx, first, last-first+1)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	data := make([]byte, last-first+1)
	if _, err := io.ReadFull(body, data); err != nil {
		return nil, fmt.Errorf("read bytes %d-%d of %q: %w", first, last, r.key, err)
	}
	r.gets++
	r.fetched += int64(len(data))
	if len(r.blocks) >= readAtBlocks {
		r.blocks = r.blocks[1:]
	}
	r.blocks = append(r.blocks, cachedBlock{index: i, size: size, data: data})
	return data, nil
}

// stream is one ranged GET of n bytes at off, continued where it breaks
// off (resumingGets), pinned to the object's ETag.
func (r *objectReaderAt) stream(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	if n <= 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	if off+n > r.size {
		return nil, fmt.Errorf("bytes %d-%d are past the end of %q (%d bytes): the archive is truncated or damaged", off, off+n-1, r.key, r.size)
	}
	out, err := resumingGets{r.cl}.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(r.bucket), Key: aws.String(r.key), IfMatch: aws.String(r.etag),
		Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1)),
	})
	if err != nil {
		return nil, err
	}
	return out.Body, nil
}
