package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3test"
)

// getFixture is a bucket holding reports/q3.csv.
type getFixture struct {
	bucket string
	data   []byte
	etag   string
}

func setupGet(t *testing.T, tg s3test.Target) getFixture {
	t.Helper()
	f := getFixture{bucket: tg.Bucket(t), data: []byte("region,total\neu,42\nus,17\n")}
	f.etag = putObject(t, tg, f.bucket, "reports/q3.csv", f.data, &s3.PutObjectInput{
		ContentType: aws.String("text/csv"), Metadata: map[string]string{"owner": "ana"},
	})
	return f
}

// putObject stores data under key with the SDK (with the options of in,
// if given) and returns the ETag.
func putObject(t *testing.T, tg s3test.Target, bucket, key string, data []byte, in *s3.PutObjectInput) string {
	t.Helper()
	if in == nil {
		in = &s3.PutObjectInput{}
	}
	in.Bucket, in.Key, in.Body = aws.String(bucket), aws.String(key), bytes.NewReader(data)
	out, err := tg.Client(t).S3("").PutObject(context.Background(), in)
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return aws.ToString(out.ETag)
}

// runEnv is run with an Env of the test's choosing.
func runEnv(t *testing.T, tg s3test.Target, env module.Env, m *module.Module, raw map[string]any) ([]module.Bundle, error) {
	t.Helper()
	in, err := m.Check(raw)
	if err != nil {
		return nil, err
	}
	env.Connection = &tg.Conn
	var got []module.Bundle
	err = m.Exec(context.Background(), env, in, func(b module.Bundle) error {
		got = append(got, b)
		return nil
	})
	return got, err
}

// one returns the one bundle a run emitted.
func one(t *testing.T, got []module.Bundle) module.Bundle {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("%d bundles, want 1: %v", len(got), got)
	}
	return got[0]
}

func assertFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s holds %d bytes (sha256 %.12s), want %d (%.12s)", path, len(got), sha256Hex(got), len(want), sha256Hex(want))
	}
}

// assertDir checks that dir holds exactly the names given: no temporary
// files left behind, nothing else created.
func assertDir(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, "|") != strings.Join(names, "|") {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}

func TestGetFile(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			f := setupGet(t, tg)

			t.Run("into a folder", func(t *testing.T) {
				dir := t.TempDir()
				got, err := run(t, tg, GetFile, map[string]any{"bucket": f.bucket, "path": "/reports/q3.csv", "out": dir})
				if err != nil {
					t.Fatal(err)
				}
				assertFile(t, filepath.Join(dir, "q3.csv"), f.data)
				assertDir(t, dir, "q3.csv")
				b := one(t, got)
				if b["bucket"] != f.bucket || b["key"] != "reports/q3.csv" || b["fileName"] != "q3.csv" ||
					b["size"] != int64(len(f.data)) || b["contentType"] != "text/csv" || b["etag"] != f.etag ||
					b["savedTo"] != filepath.Join(dir, "q3.csv") {
					t.Errorf("bundle = %v", b)
				}
				if meta, _ := b["metadata"].(map[string]string); meta["owner"] != "ana" {
					t.Errorf("metadata = %v", b["metadata"])
				}
				if lm, _ := b["lastModified"].(time.Time); time.Since(lm) > time.Hour || lm.Location() != time.UTC {
					t.Errorf("lastModified = %v", b["lastModified"])
				}
			})

			t.Run("into a new folder", func(t *testing.T) {
				dir := t.TempDir()
				out := filepath.Join(dir, "new", "deeper") + string(os.PathSeparator)
				if _, err := run(t, tg, GetFile, map[string]any{"bucket": f.bucket, "path": "reports/q3.csv", "out": out}); err != nil {
					t.Fatal(err)
				}
				assertFile(t, filepath.Join(out, "q3.csv"), f.data)
				assertDir(t, filepath.Join(dir, "new", "deeper"), "q3.csv")
			})

			t.Run("over an existing file", func(t *testing.T) {
				dir := t.TempDir()
				out := filepath.Join(dir, "renamed.csv")
				if err := os.WriteFile(out, []byte("an older, longer version of the report\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				got, err := run(t, tg, GetFile, map[string]any{"bucket": f.bucket, "path": "reports/q3.csv", "out": out})
				if err != nil {
					t.Fatal(err)
				}
				assertFile(t, out, f.data)
				assertDir(t, dir, "renamed.csv")
				if one(t, got)["savedTo"] != out {
					t.Errorf("savedTo = %v, want %s", one(t, got)["savedTo"], out)
				}
				if st, err := os.Stat(out); err != nil {
					t.Error(err)
				} else if st.Mode().Perm() != 0o644 {
					t.Errorf("mode = %v, want an ordinary 0644 file", st.Mode())
				}
			})
		})
	}
}

// TestGetFileDefaultsAndStdout changes the working folder, so it and its
// subtests never run in parallel.
func TestGetFileDefaultsAndStdout(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			f := setupGet(t, tg)

			t.Run("current folder", func(t *testing.T) {
				dir := t.TempDir()
				t.Chdir(dir)
				got, err := run(t, tg, GetFile, map[string]any{"bucket": f.bucket, "path": "reports/q3.csv"})
				if err != nil {
					t.Fatal(err)
				}
				assertFile(t, filepath.Join(dir, "q3.csv"), f.data)
				assertDir(t, dir, "q3.csv")
				saved, _ := one(t, got)["savedTo"].(string)
				st1, err1 := os.Stat(saved)
				st2, err2 := os.Stat(filepath.Join(dir, "q3.csv"))
				if !filepath.IsAbs(saved) || err1 != nil || err2 != nil || !os.SameFile(st1, st2) {
					t.Errorf("savedTo = %q, want the absolute path of %s", saved, filepath.Join(dir, "q3.csv"))
				}
			})

			t.Run("standard output", func(t *testing.T) {
				dir := t.TempDir()
				t.Chdir(dir)
				var stdout bytes.Buffer
				got, err := runEnv(t, tg, module.Env{Stdout: &stdout}, GetFile, map[string]any{"bucket": f.bucket, "path": "/reports/q3.csv", "out": "-"})
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(stdout.Bytes(), f.data) {
					t.Errorf("stdout = %q, want %q", stdout.Bytes(), f.data)
				}
				if b := one(t, got); b["savedTo"] != "-" || b["size"] != int64(len(f.data)) || b["etag"] != f.etag || b["key"] != "reports/q3.csv" {
					t.Errorf("bundle = %v", b)
				}
				assertDir(t, dir)
			})
		})
	}
}

// TestTargetPathStaysInFolder: whatever the key, the file lands inside the
// folder asked for, named after the key's last segment.
func TestTargetPathStaysInFolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A backslash separates folders on Windows only.
	backslashed := `a\..\..\z`
	if os.PathSeparator == '\\' {
		backslashed = ""
	}
	tests := []struct{ key, want string }{
		{"reports/q3.csv", "q3.csv"},
		{"a/../../evil.txt", "evil.txt"},
		{"../x.txt", "x.txt"},
		{"../../../../../../etc/passwd", "passwd"},
		{"./y", "y"},
		{`a\..\..\z`, backslashed},
		{"..", ""},
		{"a/..", ""},
		{"a/.", ""},
		{".", ""},
		{"a/b\x00c", ""},
	}
	for _, tt := range tests {
		got, err := targetPath(module.AllLocalFiles(), dir, tt.key)
		if tt.want == "" {
			if err == nil {
				t.Errorf("targetPath(%q) = %q, want an error", tt.key, got)
			}
			continue
		}
		if err != nil || got != filepath.Join(dir, tt.want) || filepath.Dir(got) != dir {
			t.Errorf("targetPath(dir, %q) = %q, %v; want %s", tt.key, got, err, filepath.Join(dir, tt.want))
		}
		if name, err := targetPath(module.AllLocalFiles(), "", tt.key); err != nil || name != tt.want {
			t.Errorf("targetPath(\"\", %q) = %q, %v; want %q", tt.key, name, err, tt.want)
		}
	}
}

// TestGetFileDotDotKeys stores keys with ".." where the server allows it
// and gets them: nothing may appear outside the target folder.
func TestGetFileDotDotKeys(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			src := writeFile(t, "evil.txt", []byte("evil\n"))
			for _, key := range []string{"a/../../evil.txt", "../evil.txt", `a\..\..\evil.txt`, "a/b/../../../evil.txt"} {
				if _, err := tg.AWSResult("s3api", "put-object", "--bucket", bucket, "--key", key, "--body", src); err != nil {
					t.Logf("%s refuses key %q: %v", tg.Name, key, err)
				}
				parent := t.TempDir()
				inner := filepath.Join(parent, "inner", "folder")
				if err := os.MkdirAll(inner, 0o755); err != nil {
					t.Fatal(err)
				}
				got, err := run(t, tg, GetFile, map[string]any{"bucket": bucket, "path": key, "out": inner})
				assertDir(t, parent, "inner")
				assertDir(t, filepath.Join(parent, "inner"), "folder")
				if err != nil {
					assertDir(t, inner)
					continue
				}
				saved, _ := one(t, got)["savedTo"].(string)
				if filepath.Dir(saved) != inner {
					t.Errorf("key %q saved to %s, outside %s", key, saved, inner)
				}
				assertDir(t, inner, filepath.Base(saved))
			}
		})
	}
}

func TestGetFileMissingKey(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			f := setupGet(t, tg)
			dir := t.TempDir()
			keep := []byte("keep me\n")
			if err := os.WriteFile(filepath.Join(dir, "gone.csv"), keep, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, out := range []string{dir, filepath.Join(dir, "gone.csv"), filepath.Join(dir, "other.csv")} {
				_, err := run(t, tg, GetFile, map[string]any{"bucket": f.bucket, "path": "reports/gone.csv", "out": out})
				if err == nil || !strings.Contains(err.Error(), "NoSuchKey") {
					t.Errorf("out %s: err = %v, want NoSuchKey", out, err)
				}
				assertFile(t, filepath.Join(dir, "gone.csv"), keep)
				assertDir(t, dir, "gone.csv")
			}
			var stdout bytes.Buffer
			_, err := runEnv(t, tg, module.Env{Stdout: &stdout}, GetFile, map[string]any{"bucket": f.bucket, "path": "gone.csv", "out": "-"})
			if err == nil || !strings.Contains(err.Error(), "NoSuchKey") || stdout.Len() != 0 {
				t.Errorf("out -: err = %v, stdout %q; want NoSuchKey and nothing written", err, stdout.Bytes())
			}
		})
	}
}

func TestGetFileEmptyObject(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			etag := putObject(t, tg, bucket, "empty.txt", nil, nil)
			dir := t.TempDir()
			got, err := run(t, tg, GetFile, map[string]any{"bucket": bucket, "path": "empty.txt", "out": dir})
			if err != nil {
				t.Fatal(err)
			}
			assertFile(t, filepath.Join(dir, "empty.txt"), nil)
			assertDir(t, dir, "empty.txt")
			if b := one(t, got); b["size"] != int64(0) || etag == "" || b["etag"] != etag || b["savedTo"] != filepath.Join(dir, "empty.txt") {
				t.Errorf("bundle = %v, want size 0 and etag %s", b, etag)
			}
		})
	}
}

func TestGetFileLarge(t *testing.T) {
	data := randomBytes(3, bigSize)
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			putObject(t, tg, bucket, "big/big.bin", data, nil)
			dir := t.TempDir()
			got, err := run(t, tg, GetFile, map[string]any{"bucket": bucket, "path": "big/big.bin", "out": dir})
			if err != nil {
				t.Fatal(err)
			}
			assertFile(t, filepath.Join(dir, "big.bin"), data)
			assertDir(t, dir, "big.bin")
			if one(t, got)["size"] != int64(bigSize) {
				t.Errorf("size = %v, want %d", one(t, got)["size"], bigSize)
			}
		})
	}
}

// TestGetFileTruncatedBody puts a proxy in front of each server that cuts
// GET bodies short (the full Content-Length announced, the connection
// closed half way): the download fails and nothing is renamed into place.
func TestGetFileTruncatedBody(t *testing.T) {
	data := randomBytes(4, 20<<20) // three ranged GETs of 8 MiB
	cases := []struct {
		name string
		cut  func(*http.Request) bool
	}{
		{"every response", func(*http.Request) bool { return true }},
		{"a later range", func(r *http.Request) bool {
			rng := r.Header.Get("Range")
			return rng != "" && !strings.HasPrefix(rng, "bytes=0-")
		}},
	}
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			putObject(t, tg, bucket, "cut.bin", data, nil)
			t.Run("control: the proxy alone changes nothing", func(t *testing.T) {
				faulty := tg
				faulty.Conn.Endpoint = cuttingProxy(t, tg.Conn.Endpoint, func(*http.Request) bool { return false })
				dir := t.TempDir()
				if _, err := run(t, faulty, GetFile, map[string]any{"bucket": bucket, "path": "cut.bin", "out": dir}); err != nil {
					t.Fatal(err)
				}
				assertFile(t, filepath.Join(dir, "cut.bin"), data)
			})
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					faulty := tg
					faulty.Conn.Endpoint = cuttingProxy(t, tg.Conn.Endpoint, c.cut)
					dir := t.TempDir()
					_, err := run(t, faulty, GetFile, map[string]any{"bucket": bucket, "path": "cut.bin", "out": dir})
					if err == nil || !strings.Contains(err.Error(), "unexpected EOF") {
						t.Errorf("cut body into a folder: err = %v, want unexpected EOF", err)
					}
					assertDir(t, dir)

					old := []byte("the previous download\n")
					target := filepath.Join(dir, "kept.bin")
					if err := os.WriteFile(target, old, 0o644); err != nil {
						t.Fatal(err)
					}
					if _, err := run(t, faulty, GetFile, map[string]any{"bucket": bucket, "path": "cut.bin", "out": target}); err == nil {
						t.Error("no error for a cut body over an existing file")
					}
					assertFile(t, target, old)
					assertDir(t, dir, "kept.bin")
				})
			}
			t.Run("standard output", func(t *testing.T) {
				faulty := tg
				faulty.Conn.Endpoint = cuttingProxy(t, tg.Conn.Endpoint, cases[0].cut)
				var stdout bytes.Buffer
				_, err := runEnv(t, faulty, module.Env{Stdout: &stdout}, GetFile, map[string]any{"bucket": bucket, "path": "cut.bin", "out": "-"})
				if err == nil || !strings.Contains(err.Error(), "unexpected EOF") {
					t.Errorf("err = %v after %d of %d bytes, want unexpected EOF", err, stdout.Len(), len(data))
				}
			})
		})
	}
}

// cuttingProxy starts a reverse proxy to endpoint that delivers half of
// each successful GET body for which cut is true, then drops the
// connection. It returns the proxy's URL.
func cuttingProxy(t *testing.T, endpoint string, cut func(*http.Request) bool) string {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	quiet := log.New(io.Discard, "", 0)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = quiet
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method == http.MethodGet && resp.StatusCode/100 == 2 && resp.ContentLength > 1 && cut(resp.Request) {
			resp.Body = &cutBody{ReadCloser: resp.Body, left: resp.ContentLength / 2}
		}
		return nil
	}
	srv := httptest.NewUnstartedServer(rp)
	srv.Config.ErrorLog = quiet
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

// cutBody ends in an error after left bytes, which makes the proxy abort
// the response mid-body.
type cutBody struct {
	io.ReadCloser
	left int64
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errors.New("cut short by the test proxy")
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// TestGetFileStdoutWithoutStdout: a run with nowhere to stream to (a flow
// on the server, say) fails in words instead of panicking.
func TestGetFileStdoutWithoutStdout(t *testing.T) {
	t.Parallel()
	_, err := runEnv(t, nowhere, module.Env{}, GetFile, map[string]any{"bucket": "b", "path": "q3.csv", "out": "-"})
	if err == nil || !strings.Contains(err.Error(), "standard output") {
		t.Errorf("err = %v, want one about standard output", err)
	}
}
