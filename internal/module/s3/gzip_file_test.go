package s3

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3test"
)

// codecFixture is data that compresses poorly (random bytes) followed by
// CSV rows, so that its gzip output passes two 5 MiB parts (a multipart
// upload) and still has text to compress.
func codecFixture(t *testing.T) []byte {
	t.Helper()
	data := make([]byte, 11<<20)
	rand.Read(data)
	var csv bytes.Buffer
	for i := 0; csv.Len() < 1<<20; i++ {
		csv.WriteString("2026-12-02,order-" + strings.Repeat("x", i%7) + ",ana,PT,12.50,paid\n")
	}
	return append(data, csv.Bytes()...)
}

// putWithAWS uploads data to bucket/key with the aws CLI.
func putWithAWS(t *testing.T, tg s3test.Target, bucket, key string, data []byte) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "fixture")
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	tg.AWS(t, "s3", "cp", "--only-show-errors", f, "s3://"+bucket+"/"+key)
}

// getWithAWS downloads bucket/key with the aws CLI into a file and returns
// its path.
func getWithAWS(t *testing.T, tg s3test.Target, bucket, key string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), filepath.Base(key))
	tg.AWS(t, "s3", "cp", "--only-show-errors", "s3://"+bucket+"/"+key, f)
	return f
}

// assertNothingLeft checks with the aws CLI that key does not exist and
// that no multipart upload is pending in bucket.
func assertNothingLeft(t *testing.T, tg s3test.Target, bucket, key string) {
	t.Helper()
	if out, err := tg.AWSResult("s3api", "head-object", "--bucket", bucket, "--key", key); err == nil {
		t.Errorf("%s: %s was written: %s", tg.Name, key, out)
	}
	if out := tg.AWS(t, "s3api", "list-multipart-uploads", "--bucket", bucket); strings.Contains(out, "UploadId") {
		t.Errorf("%s: a multipart upload was left behind: %s", tg.Name, out)
	}
}

func TestGzipFileRoundTrip(t *testing.T) {
	data := codecFixture(t)
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			putWithAWS(t, tg, bucket, "in/report.csv", data)

			got, err := run(t, tg, GzipFile, map[string]any{"bucket": bucket, "path": "in/report.csv", "to_path": "gz/", "part_size": 5, "level": 1})
			if err != nil {
				t.Fatal(err)
			}
			b := got[0]
			if b["key"] != "gz/report.csv.gz" || b["sourceSize"] != int64(len(data)) {
				t.Fatalf("bundle %v: want key gz/report.csv.gz, sourceSize %d", b, len(data))
			}
			// Debian's gzip is the judge of the output.
			gz := getWithAWS(t, tg, bucket, "gz/report.csv.gz")
			if st, _ := os.Stat(gz); st.Size() != b["size"].(int64) {
				t.Errorf("size output %v, the object has %d bytes", b["size"], st.Size())
			}
			if out, err := exec.Command("gzip", "-t", gz).CombinedOutput(); err != nil {
				t.Fatalf("gzip -t: %v: %s", err, out)
			}
			plain, err := exec.Command("gunzip", "-c", gz).Output()
			if err != nil || !bytes.Equal(plain, data) {
				t.Fatalf("gunzip -c gave %d bytes (%v), want the %d of the source", len(plain), err, len(data))
			}
			if b["size"].(int64) <= 10<<20 {
				t.Fatalf("the gzip output is %v bytes: the test means to pass two parts of 5 MiB", b["size"])
			}

			// And back, into another bucket-relative path.
			got, err = run(t, tg, GunzipFile, map[string]any{"bucket": bucket, "path": "gz/report.csv.gz", "to_path": "back/r.csv", "part_size": 5})
			if err != nil {
				t.Fatal(err)
			}
			if got[0]["size"] != int64(len(data)) {
				t.Errorf("gunzip size %v, want %d", got[0]["size"], len(data))
			}
			back, err := os.ReadFile(getWithAWS(t, tg, bucket, "back/r.csv"))
			if err != nil || !bytes.Equal(back, data) {
				t.Fatalf("the gunzipped object differs from the source (%d bytes, %v)", len(back), err)
			}

			// A target that cannot be written ends the read too, with the
			// upload's error.
			_, err = run(t, tg, GzipFile, map[string]any{"bucket": bucket, "path": "in/report.csv", "to_bucket": "s3flow-test-no-such-bucket", "part_size": 5})
			if err == nil || !strings.Contains(err.Error(), `write "in/report.csv.gz" to bucket "s3flow-test-no-such-bucket"`) {
				t.Errorf("gzip into a missing bucket: %v", err)
			}
		})
	}
}

func TestGunzipFileFromDebianGzip(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "notes.txt")
	text := []byte(strings.Repeat("a line of notes, gzip -9 made this\n", 5000))
	os.WriteFile(src, text, 0o600)
	if out, err := exec.Command("gzip", "-9", "-k", src).CombinedOutput(); err != nil {
		t.Fatalf("gzip: %v: %s", err, out)
	}
	gz, _ := os.ReadFile(src + ".gz")
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			putWithAWS(t, tg, bucket, "notes.txt.gz", gz)
			got, err := run(t, tg, GunzipFile, map[string]any{"bucket": bucket, "path": "/notes.txt.gz"})
			if err != nil {
				t.Fatal(err)
			}
			if got[0]["key"] != "notes.txt" {
				t.Errorf("key %v, want notes.txt (the source without .gz)", got[0]["key"])
			}
			back, _ := os.ReadFile(getWithAWS(t, tg, bucket, "notes.txt"))
			if !bytes.Equal(back, text) {
				t.Errorf("inflated %d bytes, want the %d gzip was given", len(back), len(text))
			}
			ct := tg.AWS(t, "s3api", "head-object", "--bucket", bucket, "--key", "notes.txt")
			if !strings.Contains(ct, "text/plain") {
				t.Errorf("content type from the .txt name expected: %s", ct)
			}
		})
	}
}

func TestGunzipFileBadData(t *testing.T) {
	big := codecFixture(t)
	var whole bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&whole, 1)
	zw.Write(big)
	zw.Close()
	// Cut past two 5 MiB parts of output, so the upload is multipart when
	// the end is found missing.
	cut := whole.Bytes()[:whole.Len()-(512<<10)]
	flipped := bytes.Clone(whole.Bytes())
	flipped[len(flipped)-6] ^= 0xff // inside the CRC-32 trailer
	var bomb bytes.Buffer
	zw, _ = gzip.NewWriterLevel(&bomb, 9)
	zw.Write(make([]byte, 64<<20))
	zw.Close()

	cases := []struct {
		name string
		data []byte
		in   map[string]any
		want string
	}{
		{"not gzip", []byte("date,amount\n2026-12-02,3\n"), nil, "not gzip"},
		{"empty", nil, nil, "cut off"},
		{"truncated", cut, nil, "cut off"},
		{"bad checksum", flipped, nil, "checksum"},
		{"bomb", bomb.Bytes(), nil, "max_ratio: "},
		{"bomb under a low limit", whole.Bytes(), map[string]any{"max_ratio": 1}, "max_ratio"},
	}
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			for _, c := range cases {
				key := strings.ReplaceAll(c.name, " ", "-") + ".gz"
				putWithAWS(t, tg, bucket, key, c.data)
				in := map[string]any{"bucket": bucket, "path": key, "part_size": 5}
				for k, v := range c.in {
					in[k] = v
				}
				_, err := run(t, tg, GunzipFile, in)
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
				}
				assertNothingLeft(t, tg, bucket, strings.TrimSuffix(key, ".gz"))
			}
		})
	}
}

func TestCodecInputErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		m     *module.Module
		in    map[string]any
		field string
	}{
		{GzipFile, map[string]any{"bucket": "b", "path": "a.csv", "level": 10}, "level"},
		{GzipFile, map[string]any{"bucket": "b", "path": "a.csv", "level": 0}, "level"},
		{GzipFile, map[string]any{"bucket": "b", "path": "a.csv", "to_path": "a.csv"}, "to_path"},
		{GunzipFile, map[string]any{"bucket": "b", "path": "dir/"}, "path"},
		{GunzipFile, map[string]any{"bucket": "b", "path": "a.gz", "max_ratio": 0}, "max_ratio"},
		{GunzipFile, map[string]any{"bucket": "b", "path": "a.gz", "to_bucket": "x/y"}, "to_bucket"},
	} {
		_, err := c.m.Check(c.in)
		var ie *module.InputError
		if !errors.As(err, &ie) || ie.Field != c.field {
			t.Errorf("%s %v: error %v, want one naming %s", c.m.Name, c.in, err, c.field)
		}
	}
}

func TestCodecTargets(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, gz, gunz string }{
		{"a/q3.csv", "a/q3.csv.gz", "a/q3.csv.out"},
		{"a/q3.csv.gz", "a/q3.csv.gz.gz", "a/q3.csv"},
		{"x.tgz", "x.tgz.gz", "x.tar"},
		{"x.gzip", "x.gzip.gz", "x"},
	} {
		if g := gzipTarget(c.in); g != c.gz {
			t.Errorf("gzipTarget(%q) = %q, want %q", c.in, g, c.gz)
		}
		if g := gunzipTarget(c.in); g != c.gunz {
			t.Errorf("gunzipTarget(%q) = %q, want %q", c.in, g, c.gunz)
		}
	}
}
