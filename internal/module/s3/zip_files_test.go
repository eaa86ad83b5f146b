package s3

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/s3test"
)

func TestZipNameProblem(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		want string // "" means allowed
	}{
		{"a.txt", ""},
		{"sub/dir/a.txt", ""},
		{"folder/", ""},
		{"résumé 日本.txt", ""},
		{"a..b/c..", ""},
		{"../evil", ".. segment"},
		{"a/../../evil", ".. segment"},
		{"a/..", ".. segment"},
		{"/etc/passwd", "absolute"},
		{`a\..\..\evil`, "backslash"},
		{"C:/Windows/x", "drive letter"},
		{"c:x", "drive letter"},
		{"./a", ". segment"},
		{"a//b", "empty segment"},
		{"", "empty"},
		{"/", "empty"},
		{"a\x00b", "NUL"},
		{"bad\xff", "UTF-8"},
	} {
		got := zipNameProblem(tt.name)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("zipNameProblem(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func FuzzZipNameProblem(f *testing.F) {
	for _, s := range []string{"a", "../a", `a\b`, "C:/", "a/./b", "a//b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if zipNameProblem(name) != "" {
			return
		}
		// What the rule lets through stays inside any folder it is
		// unzipped into, on this OS and on Windows.
		if !filepath.IsLocal(name) || strings.Contains(name, `\`) || strings.HasPrefix(name, "/") {
			t.Fatalf("zipNameProblem(%q) allows a name that is not local", name)
		}
		for _, seg := range strings.Split(strings.TrimSuffix(name, "/"), "/") {
			if seg == ".." || seg == "" {
				t.Fatalf("zipNameProblem(%q) allows segment %q", name, seg)
			}
		}
	})
}

func TestZipFilesChecks(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		raw  map[string]any
		want string // "" means accepted
	}{
		{"prefix", map[string]any{"bucket": "b", "prefix": "reports", "to_path": "a.zip"}, ""},
		{"whole bucket", map[string]any{"bucket": "b", "prefix": "/", "to_path": "a.zip"}, ""},
		{"keys", map[string]any{"bucket": "b", "keys": []any{"x/a", "x/b"}, "to_path": "a.zip"}, ""},
		{"keys in prefix", map[string]any{"bucket": "b", "prefix": "x", "keys": []any{"x/a"}, "to_path": "a.zip"}, ""},
		{"nothing", map[string]any{"bucket": "b", "to_path": "a.zip"}, "prefix: say what to zip"},
		{"empty keys", map[string]any{"bucket": "b", "keys": []any{}, "to_path": "a.zip"}, "keys: is an empty list"},
		{"key outside prefix", map[string]any{"bucket": "b", "prefix": "x", "keys": []any{"y/a"}, "to_path": "a.zip"}, `item 1 ("y/a") is not in the folder prefix`},
		{"key climbing out", map[string]any{"bucket": "b", "keys": []any{"a/../../b"}, "to_path": "a.zip"}, ".. segment"},
		{"folder as archive", map[string]any{"bucket": "b", "prefix": "x", "to_path": "archives/"}, "to_path: \"archives/\" must name the archive file"},
		{"no archive", map[string]any{"bucket": "b", "prefix": "x"}, "to_path: is required"},
		{"bad compression", map[string]any{"bucket": "b", "prefix": "x", "to_path": "a.zip", "compression": "bzip2"}, "must be one of deflate, store"},
		{"bad target bucket", map[string]any{"bucket": "b", "prefix": "x", "to_path": "a.zip", "to_bucket": "a b"}, "to_bucket:"},
		{"no parallel", map[string]any{"bucket": "b", "prefix": "x", "to_path": "a.zip", "parallel_files": int64(0)}, "parallel_files: must be at least 1"},
		{"small parts", map[string]any{"bucket": "b", "prefix": "x", "to_path": "a.zip", "part_size": int64(1)}, "part_size: must be from 5"},
	} {
		_, err := ZipFiles.Check(tt.raw)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestWriteZipZip64Entries writes 70,000 empty entries, more than the
// 65,535 a zip without ZIP64 can count: the archive must say how many it
// holds (a ZIP64 end record), for Go's reader and for Debian's unzip.
func TestWriteZipZip64Entries(t *testing.T) {
	t.Parallel()
	const n = 70_000
	entries := func(yield func(zipEntry, error) bool) {
		for i := range n {
			if !yield(zipEntry{key: fmt.Sprintf("p/%05d", i), name: fmt.Sprintf("%05d", i), size: 0}, nil) {
				return
			}
		}
	}
	empty := func(context.Context, zipEntry) (zipSource, error) {
		return zipSource{body: io.NopCloser(bytes.NewReader(nil))}, nil
	}
	var buf bytes.Buffer
	count, err := writeZip(context.Background(), &buf, entries, empty, zip.Deflate, 4)
	if err != nil || count != n {
		t.Fatalf("writeZip = %d, %v; want %d entries", count, err, n)
	}
	if !bytes.Contains(buf.Bytes(), []byte("PK\x06\x06")) {
		t.Error("no ZIP64 end of central directory record")
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil || len(zr.File) != n {
		t.Fatalf("read back: %v, %d entries", err, len(zr.File))
	}
	if zr.File[n-1].Name != fmt.Sprintf("%05d", n-1) {
		t.Errorf("last entry is %q", zr.File[n-1].Name)
	}
	file := filepath.Join(t.TempDir(), "many.zip")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := debianUnzip(t, "zipinfo", "-t", file)
	if !strings.HasPrefix(out, fmt.Sprintf("%d files", n)) {
		t.Errorf("zipinfo -t: %s", out)
	}
}

// debianUnzip runs unzip or zipinfo (Debian's unzip package).
func debianUnzip(t *testing.T, tool string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath(tool)
	if err != nil {
		s3test.SkipOrFail(t, "%s is missing (apt-get install unzip)", tool)
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// putObjects puts the objects with single PUTs, a few at a time.
func putObjects(t *testing.T, tg s3test.Target, bucket string, objects map[string][]byte) {
	t.Helper()
	cl := tg.Client(t).S3("")
	var wg sync.WaitGroup
	limit := make(chan struct{}, 8)
	for k, data := range objects {
		limit <- struct{}{}
		wg.Go(func() {
			defer func() { <-limit }()
			if _, err := cl.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: bytes.NewReader(data)}); err != nil {
				t.Errorf("put %s: %v", k, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// zipFixture is a folder of a few hundred files: text that compresses,
// noise that does not, a .gz stored as it is, an empty file, nested
// folders, awkward names, and one file over 5 MiB so that parts run.
func zipFixture() map[string][]byte {
	files := map[string][]byte{}
	for i := range 240 {
		name := fmt.Sprintf("reports/day-%03d/sales.csv", i)
		if i%3 == 0 {
			name = fmt.Sprintf("reports/day-%03d/noise.bin", i)
			files[name] = randomBytes(int64(i), 1+i*97)
			continue
		}
		files[name] = []byte(strings.Repeat(fmt.Sprintf("day,%d,region,north,revenue,%d\n", i, i*13), 10+i))
	}
	files["reports/empty.txt"] = nil
	files["reports/archive.gz"] = randomBytes(99, 30_000)
	files["reports/a b+c=d (1)/résumé 日本.txt"] = []byte("awkward\n")
	files["reports/big/large.bin"] = randomBytes(7, 6<<20+123)
	return files
}

// awsObject is a listing entry as the aws CLI shows it.
type awsObject struct {
	Key  string
	ETag string
	Size int64
}

// awsList lists everything under prefix with the aws CLI, by key relative
// to prefix.
func awsList(t *testing.T, tg s3test.Target, bucket, prefix string) map[string]awsObject {
	t.Helper()
	var out struct{ Contents []awsObject }
	text := tg.AWS(t, "s3api", "list-objects-v2", "--bucket", bucket, "--prefix", prefix)
	if strings.TrimSpace(text) == "" {
		return map[string]awsObject{}
	}
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		t.Fatalf("list-objects-v2: %v: %s", err, text)
	}
	got := map[string]awsObject{}
	for _, o := range out.Contents {
		got[strings.TrimPrefix(o.Key, prefix)] = o
	}
	return got
}

// TestZipFiles zips a folder on each server, checks the archive with
// Debian's unzip and Go's reader byte by byte, then unzips it into another
// folder: the aws CLI must list the same names, sizes and ETags.
func TestZipFiles(t *testing.T) {
	files := zipFixture()
	for _, tg := range s3test.Standalone(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			putObjects(t, tg, bucket, files)
			got, err := run(t, tg, ZipFiles, map[string]any{
				"bucket": bucket, "prefix": "reports", "to_path": "/archives/reports.zip", "part_size": int64(5),
			})
			if err != nil {
				t.Fatal(err)
			}
			b := got[0]
			if len(got) != 1 || b["key"] != "archives/reports.zip" || b["bucket"] != bucket || b["entries"] != int64(len(files)) {
				t.Fatalf("bundles = %v", got)
			}
			head := awsHead(t, tg, bucket, "archives/reports.zip")
			if head.ContentLength != b["size"] || head.ETag != b["etag"] || head.ContentType != "application/zip" {
				t.Errorf("aws CLI sees %+v; the bundle says size %v etag %v", head, b["size"], b["etag"])
			}
			// Bigger than a part: it went up in parts, while it was written.
			if !strings.Contains(head.ETag, "-") {
				t.Errorf("ETag %s is not a multipart upload's", head.ETag)
			}

			dir := t.TempDir()
			local := filepath.Join(dir, "reports.zip")
			tg.AWS(t, "s3", "cp", fmt.Sprintf("s3://%s/archives/reports.zip", bucket), local)
			if out := debianUnzip(t, "unzip", "-t", local); !strings.Contains(out, "No errors detected") {
				t.Errorf("unzip -t: %s", out)
			}
			info := debianUnzip(t, "zipinfo", local)
			for _, want := range []string{"day-003/noise.bin", "résumé 日本.txt", "big/large.bin", fmt.Sprintf("%d files", len(files))} {
				if !strings.Contains(info, want) {
					t.Errorf("zipinfo does not show %q:\n%s", want, info[max(0, len(info)-500):])
				}
			}
			zr, err := zip.OpenReader(local)
			if err != nil {
				t.Fatal(err)
			}
			defer zr.Close()
			seen := map[string]bool{}
			for _, f := range zr.File {
				want, ok := files["reports/"+f.Name]
				if !ok {
					t.Errorf("unexpected entry %q", f.Name)
					continue
				}
				seen[f.Name] = true
				rc, err := f.Open()
				if err != nil {
					t.Fatal(err)
				}
				data, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(data, want) {
					t.Errorf("entry %q: %d bytes, %v; want the %d bytes zipped", f.Name, len(data), err, len(want))
				}
				wantMethod := zip.Deflate
				if strings.HasSuffix(f.Name, ".gz") {
					wantMethod = zip.Store
				}
				if f.Method != wantMethod {
					t.Errorf("entry %q has method %d, want %d", f.Name, f.Method, wantMethod)
				}
			}
			if len(seen) != len(files) {
				t.Errorf("%d of %d files in the archive", len(seen), len(files))
			}

			// Back again: the same names, sizes and (single-part) MD5 ETags.
			restored, err := run(t, tg, UnzipFile, map[string]any{"bucket": bucket, "path": "archives/reports.zip", "to_folder": "restored"})
			if err != nil {
				t.Fatal(err)
			}
			if len(restored) != len(files) {
				t.Errorf("unzip emitted %d bundles, want %d", len(restored), len(files))
			}
			src, back := awsList(t, tg, bucket, "reports/"), awsList(t, tg, bucket, "restored/")
			if len(src) != len(files) || len(back) != len(src) {
				t.Fatalf("aws CLI lists %d files zipped and %d unzipped, want %d", len(src), len(back), len(files))
			}
			for name, o := range src {
				r, ok := back[name]
				if !ok || r.ETag != o.ETag || r.Size != o.Size {
					t.Errorf("%s: unzipped %+v, zipped %+v", name, r, o)
				}
				sum := md5.Sum(files["reports/"+name])
				if strings.Trim(o.ETag, `"`) != hex.EncodeToString(sum[:]) {
					t.Errorf("%s: ETag %s is not the MD5 of its data", name, o.ETag)
				}
			}
			for _, rb := range restored {
				name := rb["name"].(string)
				if rb["key"] != "restored/"+name || rb["size"] != back[name].Size || rb["etag"] != back[name].ETag {
					t.Errorf("bundle %v; the aws CLI lists %+v", rb, back[name])
				}
			}

			// The large file again, in parts this time.
			if _, err := run(t, tg, UnzipFile, map[string]any{"bucket": bucket, "path": "archives/reports.zip", "to_folder": "parts", "part_size": int64(5)}); err != nil {
				t.Fatal(err)
			}
			sum, n := objectSHA256(t, tg, bucket, "parts/big/large.bin")
			if want := files["reports/big/large.bin"]; sum != sha256Hex(want) || n != int64(len(want)) {
				t.Errorf("large.bin unzipped in parts: %d bytes, sha256 %s", n, sum)
			}
			if etag := awsHead(t, tg, bucket, "parts/big/large.bin").ETag; !strings.HasSuffix(etag, `-2"`) {
				t.Errorf("large.bin unzipped with 5 MiB parts has ETag %s, want 2 parts", etag)
			}
		})
	}
}

// TestZipFilesAbortsOnFailure zips a large file and then one that does
// not exist: the run fails naming it, and neither an archive nor the parts
// already uploaded are left behind.
func TestZipFilesAbortsOnFailure(t *testing.T) {
	for _, tg := range s3test.Standalone(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			putObjects(t, tg, bucket, map[string][]byte{"in/large.bin": randomBytes(3, 12<<20)})
			_, err := run(t, tg, ZipFiles, map[string]any{
				"bucket": bucket, "prefix": "in", "keys": []any{"in/large.bin", "in/missing.txt"},
				"to_path": "out/a.zip", "compression": "store", "part_size": int64(5),
			})
			if err == nil || !strings.Contains(err.Error(), `"in/missing.txt"`) || !strings.Contains(err.Error(), "NoSuchKey") {
				t.Fatalf("err = %v, want NoSuchKey naming in/missing.txt", err)
			}
			ups, err := tg.Client(t).S3("").ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
			if err != nil {
				t.Fatal(err)
			}
			if len(ups.Uploads) != 0 {
				t.Errorf("%d multipart upload(s) left behind", len(ups.Uploads))
			}
			assertNoObject(t, tg, bucket, "out/a.zip")

			// The upload's side failing: a proxy refuses the second part.
			proxy := newPartFailer(t, tg.Conn.Endpoint)
			faulty := tg
			faulty.Conn.Endpoint = proxy.URL
			_, err = run(t, faulty, ZipFiles, map[string]any{
				"bucket": bucket, "prefix": "in", "to_path": "out/b.zip", "compression": "store", "part_size": int64(5),
			})
			if err == nil || !strings.Contains(err.Error(), "InvalidArgument") {
				t.Fatalf("err = %v, want the injected InvalidArgument", err)
			}
			if injected, aborts := proxy.counts(); injected != 1 || aborts != 1 {
				t.Errorf("proxy refused %d part(s) and saw %d abort(s), want 1 and 1", injected, aborts)
			}
			ups, err = tg.Client(t).S3("").ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
			if err != nil || len(ups.Uploads) != 0 {
				t.Errorf("multipart uploads left behind: %v, %v", err, ups.Uploads)
			}
			assertNoObject(t, tg, bucket, "out/b.zip")
		})
	}
}
