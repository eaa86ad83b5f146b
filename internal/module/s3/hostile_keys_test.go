package s3

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3test"
)

// hostileKey is one key TestHostileKeys puts on a server.
type hostileKey struct {
	what string
	key  string
	// exact: every server must store the key byte for byte as given.
	// Otherwise the server may store it under another key or refuse it
	// (docs/compatibility.md: leading "/", "." and "..", backslash).
	exact bool
}

// longKey is a key of exactly n bytes in segments of 200 bytes, so that
// POSIX-backed servers (one folder per segment, at most 255 bytes a name)
// can store it.
func longKey(n int) string {
	var b strings.Builder
	b.WriteString("long/")
	for b.Len()+201+len("end.txt") < n {
		b.WriteString(strings.Repeat("k", 200) + "/")
	}
	b.WriteString(strings.Repeat("k", n-b.Len()-len("end.txt")) + "end.txt")
	return b.String()
}

// Names that differ only in case or in Unicode normalisation: é as
// U+00E9 (NFC) and as e + U+0301 (NFD).
const (
	upperKey = "case/Report.csv"
	lowerKey = "case/report.csv"
	nfcKey   = "norm/caf\u00e9.txt"
	nfdKey   = "norm/cafe\u0301.txt"
	nulKey   = "nul/a\x00b.txt"
)

var hostileKeys = []hostileKey{
	{"1,024 bytes (S3's maximum)", longKey(1024), true},
	{"upper case", upperKey, true},
	{"lower case", lowerKey, true},
	{"NFC", nfcKey, true},
	{"NFD", nfdKey, true},
	{"leading slash", "/slash/lead.txt", false},
	{"dot-dot segment", "dots/a/../up.txt", false},
	{"dot segment", "dots/./here.txt", false},
	{"climbs out of the bucket", "../escape.txt", false},
	{"backslash", `back\slash.txt`, false},
	{"a 250-byte file name", "name/" + strings.Repeat("n", 246) + ".txt", true},
	// At the top level: versitygw makes the folders of a key before it
	// finds the name too long, and an empty folder left behind keeps the
	// bucket from being deleted (BucketNotEmpty) though nothing is listed.
	{"a 300-byte segment", strings.Repeat("s", 296) + ".txt", false},
	{"NUL", nulKey, false},
}

// hostileBody is the data put under the i-th key: each body differs, so an
// object's ETag (the MD5 of its body) says which put made it.
func hostileBody(i int) string {
	return fmt.Sprintf("hostile key %d: %q\n", i, hostileKeys[i].key)
}

func md5ETag(body string) string {
	sum := md5.Sum([]byte(body))
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// TestHostileKeys puts keys that break naive code — 1,024 bytes, names
// differing only in case or normalisation, a leading "/", "." and "..",
// a backslash, a NUL — straight to each server, then checks that List
// files shows exactly what the aws CLI shows and that Get a file saves
// every one inside the folder asked for, with its own bytes.
func TestHostileKeys(t *testing.T) {
	if n := len(longKey(1024)); n != 1024 {
		t.Fatalf("longKey(1024) is %d bytes", n)
	}
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			cl := tg.Client(t).S3("")
			// Which put each ETag came from, and which puts the server took.
			byETag := map[string]int{}
			accepted := map[int]bool{}
			for i, hk := range hostileKeys {
				body := hostileBody(i)
				byETag[md5ETag(body)] = i
				_, err := cl.PutObject(context.Background(), &s3.PutObjectInput{
					Bucket: aws.String(bucket), Key: aws.String(hk.key), Body: strings.NewReader(body),
				})
				if err != nil {
					if hk.exact {
						t.Errorf("put %s key %q: %v", hk.what, hk.key, err)
					} else {
						t.Logf("%s refuses the %s key %q: %v", tg.Name, hk.what, hk.key, err)
					}
					continue
				}
				accepted[i] = true
			}

			bundles, err := run(t, tg, ListFiles, map[string]any{"bucket": bucket, "recursive": true})
			if err != nil {
				t.Fatal(err)
			}
			got := listed(t, bundles)
			if want := awsListing(t, tg, bucket, ""); !slices.Equal(got, want) {
				t.Errorf("s3flow lists\n%+q\naws lists\n%+q", keysOf(got), keysOf(want))
			}

			// Every listed object is one that was put, and every put the
			// server took is listed once: exactly as given where S3's rules
			// leave no choice, under the server's own spelling otherwise.
			seen := map[int]string{}
			for _, o := range got {
				i, ok := byETag[o.ETag]
				if !ok {
					t.Errorf("listed %q (etag %s) was never put", o.Key, o.ETag)
					continue
				}
				if prev, dup := seen[i]; dup {
					t.Errorf("the %s object is listed twice, as %q and %q", hostileKeys[i].what, prev, o.Key)
				}
				seen[i] = o.Key
				if o.Size != int64(len(hostileBody(i))) {
					t.Errorf("%q: size %d, want %d", o.Key, o.Size, len(hostileBody(i)))
				}
			}
			for i, hk := range hostileKeys {
				listedAs, ok := seen[i]
				switch {
				case !accepted[i]:
				case !ok:
					t.Errorf("the %s key %q was accepted but is not listed", hk.what, hk.key)
				case listedAs == hk.key:
				case hk.exact:
					t.Errorf("the %s key %q is listed as %q", hk.what, hk.key, listedAs)
				default:
					t.Logf("%s stores the %s key %q as %q", tg.Name, hk.what, hk.key, listedAs)
				}
			}

			t.Run("get each listed key", func(t *testing.T) {
				for _, o := range got {
					saved, err := getInto(t, tg, bucket, o.Key)
					if errors.Is(err, errNameTooLong) && len(path.Base(o.Key)) > 255 {
						// A name no local filesystem holds: the download
						// fails in words and leaves nothing.
						t.Logf("%q: %v", o.Key, err)
						continue
					}
					if err != nil {
						t.Errorf("get %q: %v", o.Key, err)
						continue
					}
					if filepath.Base(saved) != path.Base(o.Key) {
						t.Errorf("%q saved as %s, want %s", o.Key, filepath.Base(saved), path.Base(o.Key))
					}
					assertFile(t, saved, []byte(hostileBody(byETag[o.ETag])))
				}
			})

			t.Run("get each key as put", func(t *testing.T) {
				for i, hk := range hostileKeys {
					saved, err := getInto(t, tg, bucket, hk.key)
					if err != nil {
						t.Logf("get the %s key %q: %v", hk.what, hk.key, err)
						if hk.exact && accepted[i] {
							t.Errorf("the %s key %q was stored as given but cannot be fetched: %v", hk.what, hk.key, err)
						}
						continue
					}
					// A server that rewrites keys answers with the object
					// it stored; whichever it is, its bytes are one put's.
					if got, err := os.ReadFile(saved); err != nil {
						t.Error(err)
					} else if j, ok := byETag[md5ETag(string(got))]; !ok || (hk.exact && j != i) {
						t.Errorf("the %s key %q fetched %q", hk.what, hk.key, got)
					}
				}
			})

			// Names that differ only in case or normalisation are distinct
			// keys, so both downloads into one folder are distinct files.
			// On a filesystem that folds them (macOS, Windows) the second
			// would replace the first, as any download replaces an existing
			// file of its name; that is checked only where the folder tells
			// the names apart, which Linux's filesystems do.
			for _, pair := range [][2]int{{1, 2}, {3, 4}} {
				a, b := hostileKeys[pair[0]], hostileKeys[pair[1]]
				t.Run(a.what+" and "+b.what, func(t *testing.T) {
					dir := t.TempDir()
					if folds(t, dir, path.Base(a.key), path.Base(b.key)) {
						t.Skipf("%s treats %q and %q as one name: the second download replaces the first", dir, path.Base(a.key), path.Base(b.key))
					}
					for _, hk := range []hostileKey{a, b} {
						if _, err := run(t, tg, GetFile, map[string]any{"bucket": bucket, "path": hk.key, "out": dir}); err != nil {
							t.Fatal(err)
						}
					}
					assertDir(t, dir, slices.Sorted(slices.Values([]string{path.Base(a.key), path.Base(b.key)}))...)
					assertFile(t, filepath.Join(dir, path.Base(a.key)), []byte(hostileBody(pair[0])))
					assertFile(t, filepath.Join(dir, path.Base(b.key)), []byte(hostileBody(pair[1])))
				})
			}

			// S3's XML listing cannot carry NUL, and no local file name can
			// hold one: s3flow refuses the key before any request.
			t.Run("NUL", func(t *testing.T) {
				dir := t.TempDir()
				for _, c := range []struct {
					m     *module.Module
					field string
					raw   map[string]any
				}{
					{GetFile, "path", map[string]any{"bucket": bucket, "path": nulKey, "out": dir}},
					{GetFileInfo, "path", map[string]any{"bucket": bucket, "path": nulKey}},
					{DeleteFile, "path", map[string]any{"bucket": bucket, "path": nulKey}},
					{UploadFile, "name", map[string]any{"bucket": bucket, "name": nulKey, "file": writeFile(t, "x.txt", []byte("x"))}},
					{CopyFile, "path", map[string]any{"bucket": bucket, "path": nulKey, "to_path": "copy.txt"}},
					{CopyFile, "to_path", map[string]any{"bucket": bucket, "path": upperKey, "to_path": nulKey}},
					{DeleteFiles, "keys", map[string]any{"bucket": bucket, "keys": []any{upperKey, nulKey}}},
					{GetTags, "path", map[string]any{"bucket": bucket, "path": nulKey}},
					{PresignURL, "path", map[string]any{"bucket": bucket, "path": nulKey}},
				} {
					_, err := run(t, tg, c.m, c.raw)
					var ie *module.InputError
					if !errors.As(err, &ie) || ie.Field != c.field || !strings.Contains(ie.Rule, "NUL") {
						t.Errorf("%s with %s %q: err = %v, want an input error on %s about NUL", c.m.Name, c.field, nulKey, err, c.field)
					}
				}
				assertDir(t, dir)
			})
		})
	}
}

// errNameTooLong marks a download whose file name the local filesystem
// refused as too long.
var errNameTooLong = errors.New("file name too long")

// getInto gets key into a fresh folder two levels down and checks that
// nothing appeared anywhere else: at most one file, inside that folder,
// and no temporary file. It returns where the file was saved.
func getInto(t *testing.T, tg s3test.Target, bucket, key string) (string, error) {
	t.Helper()
	parent := t.TempDir()
	inner := filepath.Join(parent, "inner", "folder")
	if err := os.MkdirAll(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	p := key
	if strings.HasPrefix(p, "/") {
		p = "/" + p // a leading / of Path is ignored
	}
	got, err := run(t, tg, GetFile, map[string]any{"bucket": bucket, "path": p, "out": inner})
	var files []string
	walkErr := filepath.WalkDir(parent, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, p)
		} else if p != parent && p != filepath.Dir(inner) && p != inner {
			t.Errorf("get %q made the folder %s", key, p)
		}
		return nil
	})
	if walkErr != nil {
		t.Fatal(walkErr)
	}
	if err != nil {
		if len(files) > 0 {
			t.Errorf("get %q failed (%v) but left %q", key, err, files)
		}
		if strings.Contains(err.Error(), "file name too long") {
			return "", fmt.Errorf("%w: %v", errNameTooLong, err)
		}
		return "", err
	}
	saved, _ := one(t, got)["savedTo"].(string)
	if len(files) != 1 || files[0] != saved || filepath.Dir(saved) != inner {
		t.Errorf("get %q saved to %s; the folder %s holds %q, want one file inside %s", key, saved, parent, files, inner)
	}
	return saved, nil
}

// folds reports whether the folder dir treats names a and b as one file.
func folds(t *testing.T, dir, a, b string) bool {
	t.Helper()
	probe := filepath.Join(dir, a)
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(probe)
	_, err := os.Lstat(filepath.Join(dir, b))
	return err == nil
}

// FuzzObjectKey: whatever path a user gives Get a file (or any module
// naming an object), the key is refused with an input error on path, or
// is a file's key without NUL; and the name it is saved under, when it has
// one, stays inside the target folder.
func FuzzObjectKey(f *testing.F) {
	for _, seed := range []string{"/photos/2019/February/image023.jpg", "a", "/", "a/", "../../etc/passwd", `a\..\..\x`,
		"a/\x00b", "./.", "..", "a/..", strings.Repeat("k/", 600), "résumé ü 日本.txt", "cafe\u0301.txt"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p string) {
		key, err := objectKey(p)
		if err != nil {
			var ie *module.InputError
			if !errors.As(err, &ie) || ie.Field != "path" {
				t.Fatalf("objectKey(%q): %v, want an input error on path", p, err)
			}
			return
		}
		if key == "" || strings.HasSuffix(key, "/") || strings.ContainsRune(key, 0) || strings.HasPrefix(p, "/") && key != p[1:] {
			t.Fatalf("objectKey(%q) = %q", p, key)
		}
		name, err := localName(key)
		if err != nil {
			return
		}
		dir := filepath.Join("target", "folder")
		if got := filepath.Join(dir, name); filepath.Dir(got) != dir {
			t.Fatalf("key %q is saved as %q, outside %s", key, got, dir)
		}
	})
}
