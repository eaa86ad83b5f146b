package s3

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/s3test"
)

// rawEntry is an entry written as given, headers and all: what a hostile
// archive holds.
type rawEntry struct {
	name string
	data []byte // the entry's data as stored (compressed already for Deflate)
	// method, crc and size are what the headers declare.
	method uint16
	crc    uint32
	size   uint64
}

// plainEntry is an honest deflated entry.
func plainEntry(name string, data []byte) rawEntry {
	return rawEntry{name: name, data: deflate(data), method: zip.Deflate, crc: crc32.ChecksumIEEE(data), size: uint64(len(data))}
}

func deflate(data []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write(data)
	w.Close()
	return buf.Bytes()
}

// buildZip writes the entries into an archive.
func buildZip(t testing.TB, entries ...rawEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.CreateRaw(&zip.FileHeader{Name: e.name, Method: e.method, CRC32: e.crc,
			CompressedSize64: uint64(len(e.data)), UncompressedSize64: e.size})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCheckUnzip(t *testing.T) {
	t.Parallel()
	zeros := make([]byte, 8<<20)
	p := unzipPlan{bucket: "b", key: "out/a.zip", dstBucket: "b", folder: "out/", maxEntries: 3, maxTotal: 10 << 20, maxRatio: 100}
	for _, tt := range []struct {
		name    string
		entries []rawEntry
		want    string // "" means accepted
		limit   string // the field a *LimitError names
	}{
		{"plain", []rawEntry{plainEntry("a.txt", []byte("a")), plainEntry("dir/", nil), plainEntry("dir/b.txt", []byte("b"))}, "", ""},
		{"climbs out", []rawEntry{plainEntry("../evil", []byte("x"))}, `"../evil", which has a .. segment`, ""},
		{"climbs out later", []rawEntry{plainEntry("a/b/../../../evil", []byte("x"))}, ".. segment", ""},
		{"absolute", []rawEntry{plainEntry("/etc/cron.d/x", []byte("x"))}, "is absolute", ""},
		{"backslashes", []rawEntry{plainEntry(`..\..\evil`, []byte("x"))}, "backslash", ""},
		{"drive", []rawEntry{plainEntry("C:/evil", []byte("x"))}, "drive letter", ""},
		{"twice", []rawEntry{plainEntry("a", []byte("x")), plainEntry("a", []byte("y"))}, `holds "a" twice`, ""},
		{"too many", []rawEntry{plainEntry("a", nil), plainEntry("b", nil), plainEntry("c", nil), plainEntry("d", nil)}, "4 entries, more than the 3 allowed; nothing was written", "max_entries"},
		{"too large", []rawEntry{{name: "a", data: randomBytes(1, 1000), method: zip.Store, size: 11 << 20}}, "more than the 10485760 allowed", "max_total_size"},
		{"declared bomb", []rawEntry{plainEntry("bomb", zeros)}, `"bomb" declares 8388608 bytes from`, "max_ratio"},
		{"the archive itself", []rawEntry{plainEntry("a.zip", []byte("x"))}, "would replace the archive itself", ""},
		{"bzip2", []rawEntry{{name: "a", data: []byte("x"), method: 12, size: 1}}, "compression method 12", ""},
	} {
		data := buildZip(t, tt.entries...)
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got, err := checkUnzip(zr.File, p, int64(len(data)))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want == "" && (len(got) != 2 || got[1].key != "out/dir/b.txt"):
			t.Errorf("%s: entries %v", tt.name, got)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
		var le *LimitError
		if tt.limit != "" && (!errors.As(err, &le) || le.Field != tt.limit || !strings.HasPrefix(err.Error(), tt.limit+": ")) {
			t.Errorf("%s: err = %v, want it to name the field %s", tt.name, err, tt.limit)
		}
	}
}

// TestUnzipFileRefuses puts hostile archives on each server: each must end
// with a clear error and leave nothing in the target folder, whether it is
// refused before anything is written (names, limits, a truncated archive)
// or while it inflates (a header that lies), when the files written before
// it are deleted.
func TestUnzipFileRefuses(t *testing.T) {
	zeros := make([]byte, 50<<20)
	small := plainEntry("ok/first.txt", []byte(strings.Repeat("fine\n", 200)))
	second := plainEntry("ok/second.bin", randomBytes(5, 3000))
	// 50 MiB of zeros whose header says 400 KiB: under the ratio floor, so
	// only the bytes themselves give it away.
	lyingSize := plainEntry("bomb.bin", zeros)
	lyingSize.size = 400 << 10
	// 5 MiB of zeros (a few KiB deflated) padded to 100 KiB of compressed
	// data: the header's ratio is 50, what inflates is over 1,000.
	padded := plainEntry("padded.bin", zeros[:5<<20])
	padded.data = append(padded.data, randomBytes(9, 100<<10-len(padded.data))...)
	valid := buildZip(t, small, second)

	cases := []struct {
		name  string
		zip   []byte
		extra map[string]any
		want  string
	}{
		{"zip slip", buildZip(t, small, plainEntry("../../evil.txt", []byte("x"))), nil, `the name "../../evil.txt", which has a .. segment`},
		{"absolute", buildZip(t, small, plainEntry("/abs.txt", []byte("x"))), nil, "is absolute"},
		{"truncated", valid[:len(valid)/2], nil, "read the archive's directory"},
		{"not a zip", []byte("just text, no archive"), nil, "read the archive's directory"},
		{"entries", valid, map[string]any{"max_entries": int64(1)}, "max_entries: the archive has 2 entries, more than the 1 allowed"},
		{"total", valid, map[string]any{"max_total_size": int64(1000)}, "max_total_size: the archive's files declare"},
		{"declared ratio", buildZip(t, small, plainEntry("zeros.bin", zeros)), nil, `max_ratio: the entry "zeros.bin" declares`},
		{"lying size", buildZip(t, small, second, lyingSize), nil, `"bomb.bin" inflates to more than the 409600 bytes its header declares`},
		{"ratio as it flows", buildZip(t, small, second, padded), nil, `max_ratio: the entry "padded.bin" inflated to`},
	}
	for _, tg := range s3test.Standalone(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			archives := map[string][]byte{}
			for i, c := range cases {
				archives[fmt.Sprintf("in/%d.zip", i)] = c.zip
			}
			putObjects(t, tg, bucket, archives)
			for i, c := range cases {
				folder := fmt.Sprintf("out-%d/", i)
				raw := map[string]any{"bucket": bucket, "path": fmt.Sprintf("in/%d.zip", i), "to_folder": folder, "parallel_files": int64(1)}
				for k, v := range c.extra {
					raw[k] = v
				}
				got, err := run(t, tg, UnzipFile, raw)
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%s: bundles %v, err = %v; want %q", c.name, got, err, c.want)
				}
				if left := awsList(t, tg, bucket, folder); len(left) != 0 {
					t.Errorf("%s: left %d file(s) behind: %v", c.name, len(left), left)
				}
				if strings.Contains(c.name, "as it flows") || c.name == "lying size" {
					// The two good files went up before the bad one.
					if !strings.Contains(err.Error(), "the 2 file(s) this run had written were deleted") {
						t.Errorf("%s: err = %v; want it to say the 2 files written were deleted", c.name, err)
					}
				}
			}
			ups, err := tg.Client(t).S3("").ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
			if err != nil || len(ups.Uploads) != 0 {
				t.Errorf("multipart uploads left behind: %v %v", err, ups.Uploads)
			}
		})
	}
}

// TestObjectReaderAtBlocks: reading a central directory of 300 entries
// takes a GET per 256 KiB block, not one per 4 KiB read.
func TestObjectReaderAtBlocks(t *testing.T) {
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	var entries []rawEntry
	for i := range 300 {
		entries = append(entries, plainEntry(fmt.Sprintf("folder-with-a-long-name-%03d/file-%03d.txt", i, i), []byte(strings.Repeat("x", i))))
	}
	data := buildZip(t, entries...)
	putObjects(t, tg, bucket, map[string][]byte{"a.zip": data})
	cl := tg.Client(t).S3("")
	head, err := cl.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("a.zip")})
	if err != nil {
		t.Fatal(err)
	}
	ra := &objectReaderAt{ctx: context.Background(), cl: cl, bucket: bucket, key: "a.zip", etag: aws.ToString(head.ETag), size: int64(len(data))}
	zr, err := zip.NewReader(ra, ra.size)
	if err != nil || len(zr.File) != 300 {
		t.Fatalf("%v, %d entries", err, len(zr.File))
	}
	if want := len(data)/readAtBlock + 1; ra.gets > want {
		t.Errorf("%d GETs for a %d-byte archive, want at most %d", ra.gets, len(data), want)
	}
	if ra.gets == 0 {
		t.Error("no GETs counted")
	}

	// Local headers: of small entries, one block brings many; of large
	// ones, a header costs a small block, not a block of data read again
	// with the entry. The bytes read are the archive's either way.
	for _, tt := range []struct {
		avg, want int64
	}{{1 << 10, readAtBlock}, {1 << 20, headerBlock}} {
		ra := &objectReaderAt{ctx: context.Background(), cl: cl, bucket: bucket, key: "a.zip", etag: aws.ToString(head.ETag), size: int64(len(data))}
		ra.readHeadersOf(tt.avg)
		for _, off := range []int64{0, int64(len(data)) / 2, int64(len(data)) - 30} {
			before := ra.fetched
			got := make([]byte, 30)
			if _, err := ra.ReadAt(got, off); err != nil || !bytes.Equal(got, data[off:off+30]) {
				t.Fatalf("ReadAt(30, %d) = %q, %v; want %q", off, got, err, data[off:off+30])
			}
			if fetched := ra.fetched - before; fetched > min(tt.want, int64(len(data))) || off == 0 && fetched == 0 {
				t.Errorf("entries of %d bytes on average: a header read fetched %d bytes, want at most %d", tt.avg, fetched, tt.want)
			}
		}
	}
}

// TestDeclaredEntries reads the count of entries from the end of an
// archive, ZIP64 or not, before its directory is read.
func TestDeclaredEntries(t *testing.T) {
	t.Parallel()
	small := buildZip(t, plainEntry("a", nil), plainEntry("b", nil), plainEntry("c", nil))
	if n, ok := declaredEntries(bytes.NewReader(small), int64(len(small))); !ok || n != 3 {
		t.Errorf("3 entries: got %d, %v", n, ok)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range 70_000 {
		if _, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprint(i), Method: zip.Store}); err != nil {
			t.Fatal(err)
		}
	}
	zw.Close()
	big := buf.Bytes()
	if n, ok := declaredEntries(bytes.NewReader(big), int64(len(big))); !ok || n != 70_000 {
		t.Errorf("70,000 entries (ZIP64): got %d, %v", n, ok)
	}
	for _, bad := range [][]byte{nil, []byte("not a zip at all, but long enough to be read"), small[:len(small)-1]} {
		if n, ok := declaredEntries(bytes.NewReader(bad), int64(len(bad))); ok {
			t.Errorf("%q: got %d entries", bad, n)
		}
	}
}
