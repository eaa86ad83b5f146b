package s3

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"

	"github.com/s3flow/s3flow/internal/module"
)

// GunzipFile is "Gunzip a file": a gzip object inflated into another.
var GunzipFile = &module.Module{
	Name:            "s3.gunzip_file",
	Verb:            "gunzip-file",
	Title:           "Gunzip a file",
	Group:           module.GroupObjects,
	Help:            "Inflates a gzip file into another, streamed from the GET to a multipart upload. A corrupt or cut-off file, or one that inflates beyond max_ratio, fails and leaves nothing behind.",
	NeedsConnection: true,
	Fields: []module.Field{
		codecSourceBucket,
		{Name: "path", Label: "Path", Type: module.String, Kind: module.ObjectKey, Required: true,
			Help: "the gzip file (a leading / is ignored)", Example: "/reports/q3.csv.gz"},
		codecToBucket,
		{Name: "to_path", Flag: "to-path", Label: "Target path", Type: module.String, Kind: module.ObjectKey,
			Help: "the inflated file's path; ending in / it is a folder (default: the source's path without .gz)", Example: "reports/q3.csv"},
		{Name: "max_ratio", Flag: "max-ratio", Label: "Largest ratio", Type: module.Int, Default: int64(200), Min: module.AtLeast(1),
			Help: "fail when the data inflates to more than this many times the compressed bytes read (a gzip bomb); CSV and logs stay well under 50"},
		regionField, streamPartSizeField, streamParallelField,
	},
	Outputs: codecOutputs,
	Examples: []module.Example{{
		With: []module.Pair{{Name: "bucket", Value: "demo"}, {Name: "path", Value: "/archive/q3.csv.gz"}, {Name: "to_path", Value: "restored/"}},
		Says: "inflates archive/q3.csv.gz (Gzip a file's example writes it) into restored/q3.csv; an object of that name is replaced",
	}},
	Validate: func(in module.Values) error {
		_, err := codecPlanOf(in, gunzipTarget)
		return err
	},
	Run: func(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
		maxRatio := in.Int("max_ratio")
		return runCodec(ctx, env, in, emit, "gunzip", gunzipTarget, "", func(dst io.Writer, src io.Reader) (int64, error) {
			counted := &gzipSourceCounter{r: src}
			// The gzip reader reads through a bufio.Reader of its own when
			// given none; giving it one keeps the count of compressed bytes
			// within one buffer of the truth.
			zr, err := gzip.NewReader(bufio.NewReaderSize(counted, 64<<10))
			if err != nil {
				return 0, notGzip(err, counted.n)
			}
			defer zr.Close()
			limited := &ratioWriter{w: dst, in: counted, max: maxRatio}
			_, err = io.Copy(limited, zr)
			if err != nil {
				var re *ratioError
				var ue *uploadError
				if errors.As(err, &re) || errors.As(err, &ue) {
					return counted.n, err
				}
				return counted.n, notGzip(err, counted.n)
			}
			return counted.n, nil
		})
	},
}

// notGzip puts a gzip reader's error in words: what is wrong with the data.
func notGzip(err error, read int64) error {
	switch {
	case errors.Is(err, gzip.ErrHeader):
		return fmt.Errorf("the data is not gzip (no gzip header at byte %d)", read)
	case errors.Is(err, gzip.ErrChecksum):
		return errors.New("the data is corrupt: its gzip checksum does not match")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("the gzip data is cut off after %d bytes", read)
	}
	return fmt.Errorf("the gzip data is corrupt near byte %d: %w", read, err)
}

// gunzipRatioFloor is the inflated size below which the ratio is not checked:
// a small file of one repeated byte inflates far beyond any sane ratio
// and harms no one.
const gunzipRatioFloor = 1 << 20

// ratioWriter fails once what was written passes max times the bytes
// read so far from in.
type ratioWriter struct {
	w   io.Writer
	in  *gzipSourceCounter
	max int64
	n   int64
}

func (r *ratioWriter) Write(p []byte) (int, error) {
	r.n += int64(len(p))
	if r.n > gunzipRatioFloor && r.n > r.max*r.in.n {
		return 0, &ratioError{inflated: r.n, read: r.in.n, max: r.max}
	}
	return r.w.Write(p)
}

// ratioError is a gzip bomb: the data inflated beyond max_ratio.
type ratioError struct{ inflated, read, max int64 }

func (e *ratioError) Error() string {
	return fmt.Sprintf("max_ratio: %d compressed bytes inflated to more than %d, beyond the limit of %d times; raise max_ratio if the file is trusted",
		e.read, e.inflated, e.max)
}

// gzipSourceCounter counts the bytes read through it.
type gzipSourceCounter struct {
	r io.Reader
	n int64
}

func (c *gzipSourceCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
