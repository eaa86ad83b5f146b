package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3test"
)

// writeFile writes data to name in a fresh temporary folder.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// randomBytes is n bytes of seeded noise: the same on every run.
func randomBytes(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// objectSHA256 streams the object through SHA-256 and returns the digest
// and the number of bytes read.
func objectSHA256(t *testing.T, tg s3test.Target, bucket, key string) (string, int64) {
	t.Helper()
	out, err := tg.Client(t).S3("").GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, out.Body)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

// headObject is the aws CLI's view of an object.
type headObject struct {
	ContentType        string
	CacheControl       string
	ContentDisposition string
	ContentLength      int64
	ETag               string
	StorageClass       string
	Metadata           map[string]string
}

func awsHead(t *testing.T, tg s3test.Target, bucket, key string) headObject {
	t.Helper()
	var h headObject
	out := tg.AWS(t, "s3api", "head-object", "--bucket", bucket, "--key", key)
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		t.Fatalf("head-object output %q: %v", out, err)
	}
	return h
}

// assertNoObject checks with the aws CLI that key does not exist.
func assertNoObject(t *testing.T, tg s3test.Target, bucket, key string) {
	t.Helper()
	out, err := tg.AWSResult("s3api", "head-object", "--bucket", bucket, "--key", key)
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("head-object %s: %v %s; want a 404", key, err, out)
	}
}

func TestUploadKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		folder, name, want string
	}{
		{"/work//reports/", "q3.csv", "work/reports/q3.csv"},
		{"work/reports", "q3.csv", "work/reports/q3.csv"},
		{"", "q3.csv", "q3.csv"},
		{"/", "/q3.csv", "q3.csv"},
		{"///", "", "local.csv"},
		{"work/reports", "", "work/reports/local.csv"},
		{"a", "sub//x.csv", "a/sub/x.csv"},
		{"a/", "/b/", "a/b"},
		{"", "naïve résumé.txt", "naïve résumé.txt"},
	}
	for _, tt := range tests {
		in := module.Values{"folder": tt.folder, "name": tt.name, "file": &module.BytesFile{FileName: "local.csv"}}
		got, err := uploadKey(in)
		if err != nil || got != tt.want {
			t.Errorf("uploadKey(folder %q, name %q) = %q, %v; want %q", tt.folder, tt.name, got, err, tt.want)
		}
	}
	for _, name := range []string{"/", "//", "..", ".", strings.Repeat("k", 1025), "bad\xffutf8"} {
		in := module.Values{"folder": "f", "name": name, "file": &module.BytesFile{FileName: "local.csv"}}
		var ie *module.InputError
		if got, err := uploadKey(in); !errors.As(err, &ie) || ie.Field != "name" {
			t.Errorf("uploadKey(name %.20q) = %q, %v; want an InputError on name", name, got, err)
		}
	}
}

func TestUploadFile(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			data := []byte("region,total\neu,42\n")

			t.Run("folder and name form the key", func(t *testing.T) {
				got, err := run(t, tg, UploadFile, map[string]any{
					"bucket": bucket, "folder": "/work//reports/", "file": writeFile(t, "q3.csv", data),
				})
				if err != nil {
					t.Fatal(err)
				}
				b := one(t, got)
				if b["bucket"] != bucket || b["key"] != "work/reports/q3.csv" || b["size"] != int64(len(data)) || b["etag"] == "" {
					t.Fatalf("bundle = %v", b)
				}
				out := tg.AWS(t, "s3api", "list-objects-v2", "--bucket", bucket, "--prefix", "work", "--query", "Contents[].Key")
				var keys []string
				if err := json.Unmarshal([]byte(out), &keys); err != nil || len(keys) != 1 || keys[0] != "work/reports/q3.csv" {
					t.Errorf("keys under work = %s (%v)", out, err)
				}
				if h := awsHead(t, tg, bucket, "work/reports/q3.csv"); h.ETag != b["etag"] {
					t.Errorf("etag = %v, head-object says %s", b["etag"], h.ETag)
				}
			})

			t.Run("headers reach the object", func(t *testing.T) {
				_, err := run(t, tg, UploadFile, map[string]any{
					"bucket": bucket, "file": &module.BytesFile{FileName: "x.bin", Data: data}, "name": "q3-final.csv",
					"headers": pairs(
						"Content-Type", "application/vnd.s3flow+csv",
						"Cache-Control", "max-age=60",
						"Content-Disposition", `attachment; filename="q3.csv"`,
						"x-amz-meta-owner", "ana",
						"X-Amz-Meta-Team", "finance",
						"x-amz-storage-class", "STANDARD",
					)})
				if err != nil {
					t.Fatal(err)
				}
				h := awsHead(t, tg, bucket, "q3-final.csv")
				want := headObject{
					ContentType: "application/vnd.s3flow+csv", CacheControl: "max-age=60",
					ContentDisposition: `attachment; filename="q3.csv"`, ContentLength: int64(len(data)),
					Metadata: map[string]string{"owner": "ana", "team": "finance"},
				}
				if h.StorageClass != "" && h.StorageClass != "STANDARD" {
					t.Errorf("storage class %q, want STANDARD", h.StorageClass)
				}
				h.ETag, h.StorageClass = "", ""
				if fmt.Sprint(h) != fmt.Sprint(want) {
					t.Errorf("head-object = %+v\nwant          %+v", h, want)
				}
				outfile := filepath.Join(t.TempDir(), "back.csv")
				tg.AWS(t, "s3api", "get-object", "--bucket", bucket, "--key", "q3-final.csv", outfile)
				if back, err := os.ReadFile(outfile); err != nil || !bytes.Equal(back, data) {
					t.Errorf("aws get-object wrote %q, %v; want %q", back, err, data)
				}
			})

			t.Run("content type from the extension", func(t *testing.T) {
				for name, want := range map[string]string{
					"report.csv": "text/csv", "page.html": "text/html", "data.json": "application/json",
					"photo.JPG": "image/jpeg", "blob.s3flowunknown": "application/octet-stream", "README": "application/octet-stream",
				} {
					if _, err := run(t, tg, UploadFile, map[string]any{"bucket": bucket, "folder": "types", "file": writeFile(t, name, data)}); err != nil {
						t.Fatal(err)
					}
					h, err := tg.Client(t).S3("").HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("types/" + name)})
					if err != nil {
						t.Fatal(err)
					}
					if got := aws.ToString(h.ContentType); !strings.HasPrefix(got, want) {
						t.Errorf("%s: Content-Type %q, want %q", name, got, want)
					}
				}
			})

			t.Run("content-md5", func(t *testing.T) {
				_, err := run(t, tg, UploadFile, map[string]any{
					"bucket": bucket, "name": "md5-ok.csv", "file": &module.BytesFile{FileName: "a", Data: data},
					"headers": map[string]any{"Content-MD5": md5Base64(string(data))},
				})
				if err != nil {
					t.Fatalf("correct Content-MD5: %v", err)
				}
				if sum, _ := objectSHA256(t, tg, bucket, "md5-ok.csv"); sum != sha256Hex(data) {
					t.Error("md5-ok.csv holds other bytes")
				}

				_, err = run(t, tg, UploadFile, map[string]any{
					"bucket": bucket, "name": "md5-bad.csv", "file": &module.BytesFile{FileName: "a", Data: data},
					"headers": map[string]any{"Content-MD5": md5Base64("something else")},
				})
				if err == nil || !strings.Contains(err.Error(), "BadDigest") {
					t.Errorf("wrong Content-MD5: err = %v, want BadDigest", err)
				}
				assertNoObject(t, tg, bucket, "md5-bad.csv")
			})

			t.Run("if-none-match on an existing key", func(t *testing.T) {
				first := []byte("first version\n")
				in := map[string]any{"bucket": bucket, "name": "once.txt", "file": &module.BytesFile{FileName: "a", Data: first},
					"headers": map[string]any{"If-None-Match": "*"}}
				if _, err := run(t, tg, UploadFile, in); err != nil {
					t.Fatalf("first upload: %v", err)
				}
				in["file"] = &module.BytesFile{FileName: "a", Data: []byte("second version, longer\n")}
				_, err := run(t, tg, UploadFile, in)
				if err == nil || !strings.Contains(err.Error(), "PreconditionFailed") {
					t.Errorf("second upload: err = %v, want PreconditionFailed", err)
				}
				if sum, n := objectSHA256(t, tg, bucket, "once.txt"); sum != sha256Hex(first) {
					t.Errorf("once.txt changed: %d bytes", n)
				}
			})
		})
	}
}

// unopenable claims a size and fails the test if anything opens it.
type unopenable struct {
	t    *testing.T
	size int64
}

func (f unopenable) Name() string { return "huge.bin" }
func (f unopenable) Size() int64  { return f.size }
func (f unopenable) Open() (io.ReadCloser, error) {
	f.t.Error("the file was opened")
	return nil, errors.New("opened")
}

// TestUploadFileContentMD5NeedsSinglePut: Content-MD5 covers one PUT, so a
// file that would go up in parts (or of unknown size) is refused before it
// is opened or any request is sent.
func TestUploadFileContentMD5NeedsSinglePut(t *testing.T) {
	t.Parallel()
	for _, size := range []int64{uploadThresholdParts * defaultUploadPartMiB << 20, 1 << 30, -1} {
		_, err := run(t, nowhere, UploadFile, map[string]any{
			"bucket": "b", "file": unopenable{t, size}, "headers": pairs("Content-MD5", md5Base64("x")), "part_size": int64(defaultUploadPartMiB),
		})
		var ie *module.InputError
		if !errors.As(err, &ie) || ie.Field != "headers" || !strings.Contains(ie.Rule, "Content-MD5") {
			t.Errorf("size %d: err = %v, want an InputError on headers about Content-MD5", size, err)
		}
	}
}

const bigSize = 40 << 20

// TestUploadFileMultipart: a file past the threshold goes up in parts,
// keeps its headers, reads back identical, and honours If-None-Match. The
// servers are on 127.0.0.1, where only a part size set by the call (or the
// connection) makes a file this small go up in parts.
func TestUploadFileMultipart(t *testing.T) {
	data := randomBytes(1, bigSize)
	src := writeFile(t, "big.bin", data)
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			in := map[string]any{"bucket": bucket, "folder": "big", "file": src, "part_size": int64(defaultUploadPartMiB),
				"headers": pairs("Cache-Control", "no-store", "x-amz-meta-owner", "ana", "If-None-Match", "*")}
			got, err := run(t, tg, UploadFile, in)
			if err != nil {
				t.Fatal(err)
			}
			etag, _ := one(t, got)["etag"].(string)
			if !strings.Contains(etag, "-") {
				t.Errorf("etag %s is not a multipart etag", etag)
			}
			if one(t, got)["size"] != int64(bigSize) {
				t.Errorf("size = %v, want %d", one(t, got)["size"], bigSize)
			}
			sum, n := objectSHA256(t, tg, bucket, "big/big.bin")
			if n != bigSize || sum != sha256Hex(data) {
				t.Errorf("read back %d bytes with another sha256", n)
			}
			cl := tg.Client(t).S3("")
			h, err := cl.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("big/big.bin")})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(h.CacheControl) != "no-store" || h.Metadata["owner"] != "ana" || aws.ToString(h.ContentType) != "application/octet-stream" {
				t.Errorf("head: Cache-Control %q, metadata %v, Content-Type %q", aws.ToString(h.CacheControl), h.Metadata, aws.ToString(h.ContentType))
			}

			in["file"] = writeFile(t, "big.bin", randomBytes(5, bigSize))
			if _, err := run(t, tg, UploadFile, in); err == nil || !strings.Contains(err.Error(), "PreconditionFailed") {
				t.Errorf("second upload with If-None-Match: err = %v, want PreconditionFailed", err)
			}
			if sum, _ := objectSHA256(t, tg, bucket, "big/big.bin"); sum != sha256Hex(data) {
				t.Error("If-None-Match did not keep the first upload")
			}
			ups, err := cl.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
			if err != nil || len(ups.Uploads) != 0 {
				t.Errorf("multipart uploads left behind: %v, %v", ups, err)
			}
		})
	}
}

// streamFile is a file that can be read once, like an upload through the
// API: its reader cannot seek.
type streamFile struct {
	name string
	data []byte
}

func (f streamFile) Name() string { return f.name }
func (f streamFile) Size() int64  { return int64(len(f.data)) }
func (f streamFile) Open() (io.ReadCloser, error) {
	return io.NopCloser(struct{ io.Reader }{bytes.NewReader(f.data)}), nil
}

// TestUploadFileSinglePutLoopback: on a loopback endpoint a file under
// 5 GiB goes up in one streamed PUT (its ETag is the MD5 of the bytes, not
// a multipart ETag), keeps its headers and reads back identical. With a
// condition (If-None-Match) it goes up in parts, and a failed condition is
// a clean PreconditionFailed: a server may answer a single PUT's 412 before
// reading the body and reset the connection.
func TestUploadFileSinglePutLoopback(t *testing.T) {
	data := randomBytes(3, bigSize)
	src := writeFile(t, "big.bin", data)
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			in := map[string]any{"bucket": bucket, "folder": "one", "file": src,
				"headers": pairs("Cache-Control", "no-store", "x-amz-meta-owner", "ana")}
			got, err := run(t, tg, UploadFile, in)
			if err != nil {
				t.Fatal(err)
			}
			sum := md5.Sum(data)
			if etag := one(t, got)["etag"]; etag != `"`+hex.EncodeToString(sum[:])+`"` {
				t.Errorf("etag %v is not the MD5 of the data: not one PUT", etag)
			}
			if sum, n := objectSHA256(t, tg, bucket, "one/big.bin"); n != bigSize || sum != sha256Hex(data) {
				t.Errorf("read back %d bytes with another sha256", n)
			}
			h, err := tg.Client(t).S3("").HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("one/big.bin")})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(h.CacheControl) != "no-store" || h.Metadata["owner"] != "ana" {
				t.Errorf("head: Cache-Control %q, metadata %v", aws.ToString(h.CacheControl), h.Metadata)
			}
			// A stream cannot be read twice, and the transfer manager would
			// hold a single PUT's body in memory: it goes up in parts.
			got, err = run(t, tg, UploadFile, map[string]any{"bucket": bucket, "folder": "stream", "file": streamFile{"big.bin", data}})
			if err != nil {
				t.Fatal(err)
			}
			if etag, _ := one(t, got)["etag"].(string); !strings.Contains(etag, "-") {
				t.Errorf("a stream went up as etag %s, not in parts", etag)
			}
			if sum, n := objectSHA256(t, tg, bucket, "stream/big.bin"); n != bigSize || sum != sha256Hex(data) {
				t.Errorf("stream: read back %d bytes with another sha256", n)
			}
			in["file"] = writeFile(t, "big.bin", randomBytes(6, bigSize))
			in["no_overwrite"] = true
			if _, err := run(t, tg, UploadFile, in); err == nil || !strings.Contains(err.Error(), "PreconditionFailed") {
				t.Errorf("second upload with no_overwrite: err = %v, want PreconditionFailed", err)
			}
			if sum, _ := objectSHA256(t, tg, bucket, "one/big.bin"); sum != sha256Hex(data) {
				t.Error("no_overwrite did not keep the first upload")
			}
		})
	}
}

// TestUploadFileAbortsFailedMultipart puts a proxy in front of each server
// that refuses the second UploadPart: the upload must fail and leave
// neither an object nor a pending multipart upload behind.
func TestUploadFileAbortsFailedMultipart(t *testing.T) {
	src := writeFile(t, "big.bin", randomBytes(2, bigSize))
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			proxy := newPartFailer(t, tg.Conn.Endpoint)
			faulty := tg
			faulty.Conn.Endpoint = proxy.URL

			_, err := run(t, faulty, UploadFile, map[string]any{"bucket": bucket, "file": src, "part_size": int64(defaultUploadPartMiB)})
			if err == nil || !strings.Contains(err.Error(), "InvalidArgument") {
				t.Fatalf("err = %v, want the injected InvalidArgument", err)
			}
			if injected, aborts := proxy.counts(); injected != 1 || aborts != 1 {
				t.Errorf("proxy refused %d part(s) and saw %d abort(s), want 1 and 1", injected, aborts)
			}
			cl := tg.Client(t).S3("")
			ups, err := cl.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
			if err != nil {
				t.Fatal(err)
			}
			if len(ups.Uploads) != 0 {
				t.Errorf("%d multipart upload(s) left behind, first %s", len(ups.Uploads), aws.ToString(ups.Uploads[0].Key))
			}
			assertNoObject(t, tg, bucket, "big.bin")
		})
	}
}

// partFailer is a reverse proxy to a real server that answers the second
// UploadPart with an S3 error and counts what it saw.
type partFailer struct {
	URL string

	mu       sync.Mutex
	parts    int
	injected int
	aborts   int
}

func newPartFailer(t *testing.T, endpoint string) *partFailer {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	p := &partFailer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		isPart := r.Method == http.MethodPut && q.Has("partNumber") && q.Has("uploadId")
		p.mu.Lock()
		if isPart {
			p.parts++
		}
		fail := isPart && p.parts == 2
		if fail {
			p.injected++
		}
		if r.Method == http.MethodDelete && q.Has("uploadId") {
			p.aborts++
		}
		p.mu.Unlock()
		if !fail {
			rp.ServeHTTP(w, r)
			return
		}
		// Read the part first so the client sees the answer, not a reset.
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidArgument</Code><Message>injected by the test proxy</Message><RequestId>test</RequestId></Error>`)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// counts returns how many parts it refused and aborts it passed on.
func (p *partFailer) counts() (injected, aborts int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.injected, p.aborts
}
