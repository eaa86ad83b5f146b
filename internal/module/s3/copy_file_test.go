package s3

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/faultproxy"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3test"
)

// awkwardCopyKey breaks every naive encoding of x-amz-copy-source: a space,
// "+" (a space once query-decoded), "=", parentheses, a folder and
// non-ASCII text.
const awkwardCopyKey = "a b+c=d (1)/résumé ü 日本.txt"

func TestCopySource(t *testing.T) {
	t.Parallel()
	// A version goes after the encoded key as a query parameter, itself
	// encoded: a "?" in the key stays part of the key.
	for version, want := range map[string]string{
		"3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY": "b/q%3F.txt?versionId=3HL4kqtJlcpXroDTDmJ%2BrmSpXd3dIbrHY",
		"null":                              "b/q%3F.txt?versionId=null",
	} {
		if got := copySource("b", "q?.txt", version); got != want {
			t.Errorf("copySource with version %q = %q, want %q", version, got, want)
		}
	}
	for _, tt := range []struct{ bucket, key, want string }{
		{"b", "plain.txt", "b/plain.txt"},
		{"b", "dir/sub/x.csv", "b/dir/sub/x.csv"},
		{"b", "with space.txt", "b/with%20space.txt"},
		{"b", "plus+sign.txt", "b/plus%2Bsign.txt"},
		{"b", "q?versionId=1", "b/q%3FversionId%3D1"},
		{"b", "100% done", "b/100%25%20done"},
		{"b", "100%25", "b/100%2525"},
		{"b", "amp&hash#", "b/amp%26hash%23"},
		{"b", "tilde~dash-dot.under_", "b/tilde~dash-dot.under_"},
		{"b", "é", "b/%C3%A9"},
		{"b", "日本", "b/%E6%97%A5%E6%9C%AC"},
		{"b", awkwardCopyKey, "b/a%20b%2Bc%3Dd%20%281%29/r%C3%A9sum%C3%A9%20%C3%BC%20%E6%97%A5%E6%9C%AC.txt"},
		{"b", "/leading", "b//leading"},
	} {
		got := copySource(tt.bucket, tt.key, "")
		if got != tt.want {
			t.Errorf("copySource(%q, %q) = %q, want %q", tt.bucket, tt.key, got, tt.want)
		}
		// Servers decode the header as a query string (versitygw) or as a
		// path; both must give the key back exactly.
		for name, unescape := range map[string]func(string) (string, error){"query": url.QueryUnescape, "path": url.PathUnescape} {
			if dec, err := unescape(got); err != nil || dec != tt.bucket+"/"+tt.key {
				t.Errorf("%s-decoding %q gives %q, %v; want %q", name, got, dec, err, tt.bucket+"/"+tt.key)
			}
		}
	}
	// Why url.PathEscape is not enough: it keeps "+", which a query
	// decoder turns into a space, naming another object.
	if dec, _ := url.QueryUnescape(url.PathEscape("a+b")); dec == "a+b" {
		t.Error("url.PathEscape now escapes +; revisit copySource's comment")
	}
}

func FuzzCopySource(f *testing.F) {
	for _, k := range append(awkwardKeys, awkwardCopyKey, "a/b/c", "%", "+", "?versionId=x") {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		got := copySource("bucket", key, "")
		for _, unescape := range []func(string) (string, error){url.QueryUnescape, url.PathUnescape} {
			if dec, err := unescape(got); err != nil || dec != "bucket/"+key {
				t.Fatalf("copySource(%q) = %q decodes to %q, %v", key, got, dec, err)
			}
		}
		for i := 0; i < len(got); i++ {
			c := got[i]
			switch {
			case c == '%':
				i += 2
			case c == '/' || c == '-' || c == '.' || c == '_' || c == '~' ||
				'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9':
			default:
				t.Fatalf("copySource(%q) = %q keeps %q unencoded", key, got, c)
			}
		}
	})
}

func TestCopyTargetKey(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ toPath, src, want string }{
		{"archive/q3.csv", "reports/q3.csv", "archive/q3.csv"},
		{"/archive/q3.csv", "reports/q3.csv", "archive/q3.csv"},
		{"archive/", "reports/q3.csv", "archive/q3.csv"},
		{"/archive/2026/", "reports/q3.csv", "archive/2026/q3.csv"},
		{"/", "reports/q3.csv", "q3.csv"},
		{"copies/", awkwardCopyKey, "copies/résumé ü 日本.txt"},
		{"renamed.txt", "q3.csv", "renamed.txt"},
		{"a//b", "q3.csv", "a//b"}, // keys may hold "//"; only one leading slash goes
		{"invalid\xff", "q3.csv", "valid UTF-8"},
		{strings.Repeat("k", 1025), "q3.csv", "S3 allows 1024"},
		{strings.Repeat("k", 1020) + "/", "q3.csv", "S3 allows 1024"},
	} {
		got, err := copyTargetKey(tt.toPath, tt.src)
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, tt.want) || (err == nil && got != tt.want) {
			t.Errorf("copyTargetKey(%q, %q) = %q, want %q", tt.toPath, tt.src, got, tt.want)
		}
	}
}

// TestCopyFileChecks: inputs refused before any request.
func TestCopyFileChecks(t *testing.T) {
	t.Parallel()
	base := func(extra map[string]any) map[string]any {
		raw := map[string]any{"bucket": "b", "path": "r/q3.csv", "to_path": "archive/"}
		for k, v := range extra {
			raw[k] = v
		}
		return raw
	}
	for _, tt := range []struct {
		name string
		raw  map[string]any
		want string // "" means accepted
	}{
		{"plain", base(nil), ""},
		{"to_path required", map[string]any{"bucket": "b", "path": "q.csv"}, "to_path: is required"},
		{"folder as source", base(map[string]any{"path": "r/"}), "must name a file"},
		{"bad target bucket", base(map[string]any{"to_bucket": "a/b"}), "to_bucket:"},
		{"bad directive", base(map[string]any{"metadata_directive": "MERGE"}), "must be one of COPY, REPLACE"},
		{"metadata with COPY", base(map[string]any{"headers": pairs("x-amz-meta-owner", "ana")}), "only with metadata_directive REPLACE"},
		{"content type with COPY", base(map[string]any{"headers": pairs("Content-Type", "text/csv")}), "Content-Type is metadata"},
		{"metadata with REPLACE", base(map[string]any{"metadata_directive": "REPLACE", "headers": pairs("x-amz-meta-owner", "ana", "Content-Type", "text/csv")}), ""},
		{"storage class with COPY", base(map[string]any{"headers": pairs("x-amz-storage-class", "standard_ia")}), ""},
		{"tagging with COPY", base(map[string]any{"headers": pairs("x-amz-tagging", "a=1&b=2")}), ""},
		{"bad tagging", base(map[string]any{"headers": pairs("x-amz-tagging", "a=%zz")}), "x-amz-tagging must look like"},
		{"unknown header", base(map[string]any{"headers": pairs("Content-MD5", "x")}), `"Content-MD5" is not a copy header`},
		{"bare meta prefix", base(map[string]any{"metadata_directive": "REPLACE", "headers": pairs("x-amz-meta-", "x")}), "is not a copy header"},
		{"onto itself", base(map[string]any{"to_path": "/r/q3.csv"}), "copying it onto itself changes nothing"},
		{"onto itself in the folder", base(map[string]any{"to_path": "r/"}), "copying it onto itself"},
		{"onto itself, REPLACE", base(map[string]any{"to_path": "r/q3.csv", "metadata_directive": "REPLACE"}), ""},
		{"onto itself, new class", base(map[string]any{"to_path": "r/q3.csv", "headers": pairs("x-amz-storage-class", "GLACIER")}), ""},
		{"same key, other bucket", base(map[string]any{"to_path": "r/q3.csv", "to_bucket": "other"}), ""},
	} {
		_, err := CopyFile.Check(tt.raw)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	// The storage class is sent upper-case, as S3 names them.
	in, err := CopyFile.Check(base(map[string]any{"headers": pairs("x-amz-storage-class", "standard_ia")}))
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := planCopy(in); p.props.storageClass != "STANDARD_IA" || p.dstKey != "archive/q3.csv" || p.dstBucket != "b" {
		t.Errorf("plan = %+v", p)
	}
}

func TestCopyParts(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	for _, tt := range []struct {
		size, partSize int64
		want           []copyPart
	}{
		{12 * mib, 5 * mib, []copyPart{{0, 5*mib - 1}, {5 * mib, 10*mib - 1}, {10 * mib, 12*mib - 1}}},
		{10 * mib, 5 * mib, []copyPart{{0, 5*mib - 1}, {5 * mib, 10*mib - 1}}},
		{10*mib + 1, 5 * mib, []copyPart{{0, 5*mib - 1}, {5 * mib, 10*mib - 1}, {10 * mib, 10 * mib}}},
		{1, 5 * mib, []copyPart{{0, 0}}},
		{0, 5 * mib, nil},
	} {
		if got := copyParts(tt.size, tt.partSize); fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("copyParts(%d, %d) = %v, want %v", tt.size, tt.partSize, got, tt.want)
		}
	}
	// 5 TiB, S3's largest object, in parts of 512 MiB would need 10,240
	// parts: the parts grow to stay within 10,000, and still cover it all.
	for _, size := range []int64{5 << 40, 5<<40 - 1, 6 << 30, 512<<20*maxParts + 1} {
		parts := copyParts(size, 512<<20)
		if len(parts) > maxParts {
			t.Errorf("size %d: %d parts", size, len(parts))
		}
		var next int64
		for i, p := range parts {
			if p.first != next || p.last < p.first || (i < len(parts)-1 && p.last-p.first+1 < 5<<20) {
				t.Fatalf("size %d: part %d is %v after %d", size, i, p, next)
			}
			next = p.last + 1
		}
		if next != size {
			t.Errorf("size %d: parts end at %d", size, next)
		}
	}
}

// awsPutWith uploads data under key with the aws CLI and extra
// put-object arguments (headers, metadata, tags).
func awsPutWith(t *testing.T, tg s3test.Target, bucket, key string, data []byte, extra ...string) {
	t.Helper()
	file := writeFile(t, "body", data)
	tg.AWS(t, append([]string{"s3api", "put-object", "--bucket", bucket, "--key", key, "--body", file}, extra...)...)
}

// awsTags reads an object's tags with the aws CLI.
func awsTags(t *testing.T, tg s3test.Target, bucket, key string) map[string]string {
	t.Helper()
	var doc struct{ TagSet []struct{ Key, Value string } }
	out := tg.AWS(t, "s3api", "get-object-tagging", "--bucket", bucket, "--key", key)
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("get-object-tagging output %q: %v", out, err)
	}
	tags := map[string]string{}
	for _, tag := range doc.TagSet {
		tags[tag.Key] = tag.Value
	}
	return tags
}

func TestCopyFile(t *testing.T) {
	data := []byte("region,total\neu,42\nus,17\n")
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket, other := tg.Bucket(t), tg.Bucket(t)
			awsPutWith(t, tg, bucket, awkwardCopyKey, data, "--content-type", "text/csv", "--cache-control", "max-age=60",
				"--content-disposition", "attachment", "--metadata", "owner=ana,stage=raw", "--tagging", "team=data")
			src := awsHead(t, tg, bucket, awkwardCopyKey)

			t.Run("COPY into a folder", func(t *testing.T) {
				got, err := run(t, tg, CopyFile, map[string]any{"bucket": bucket, "path": "/" + awkwardCopyKey, "to_path": "copies/"})
				if err != nil {
					t.Fatal(err)
				}
				const want = "copies/résumé ü 日本.txt"
				b := one(t, got)
				if b["bucket"] != bucket || b["key"] != want || b["size"] != int64(len(data)) || b["etag"] != src.ETag {
					t.Errorf("bundle %v; want key %q, size %d, etag %s", b, want, len(data), src.ETag)
				}
				h := awsHead(t, tg, bucket, want)
				if h.ContentLength != src.ContentLength || h.ETag != src.ETag || h.ContentType != "text/csv" ||
					h.CacheControl != "max-age=60" || h.ContentDisposition != "attachment" ||
					h.Metadata["owner"] != "ana" || h.Metadata["stage"] != "raw" || len(h.Metadata) != 2 {
					t.Errorf("aws head-object of the copy: %+v\nsource: %+v", h, src)
				}
				if tags := awsTags(t, tg, bucket, want); tags["team"] != "data" {
					t.Errorf("copy's tags %v, want team=data kept", tags)
				}
				if got, _ := objectSHA256(t, tg, bucket, want); got != sha256Hex(data) {
					t.Error("the copy's data differs")
				}
			})
			t.Run("REPLACE to another bucket", func(t *testing.T) {
				got, err := run(t, tg, CopyFile, map[string]any{
					"bucket": bucket, "path": awkwardCopyKey, "to_bucket": other, "to_path": "/in/" + awkwardCopyKey,
					"metadata_directive": "REPLACE",
					"headers":            pairs("x-amz-meta-stage", "clean", "Cache-Control", "no-cache", "x-amz-tagging", "team=ops&tier=2"),
				})
				if err != nil {
					t.Fatal(err)
				}
				b := one(t, got)
				if b["bucket"] != other || b["key"] != "in/"+awkwardCopyKey {
					t.Errorf("bundle %v", b)
				}
				h := awsHead(t, tg, other, "in/"+awkwardCopyKey)
				// Content-Type stays; the rest is exactly what was given.
				if h.ContentLength != src.ContentLength || h.ContentType != "text/csv" || h.CacheControl != "no-cache" ||
					h.ContentDisposition != "" || len(h.Metadata) != 1 || h.Metadata["stage"] != "clean" {
					t.Errorf("aws head-object of the copy: %+v", h)
				}
				if tags := awsTags(t, tg, other, "in/"+awkwardCopyKey); len(tags) != 2 || tags["team"] != "ops" || tags["tier"] != "2" {
					t.Errorf("copy's tags %v, want team=ops, tier=2", tags)
				}
				if got, _ := objectSHA256(t, tg, other, "in/"+awkwardCopyKey); got != sha256Hex(data) {
					t.Error("the copy's data differs")
				}
			})
			t.Run("REPLACE onto itself", func(t *testing.T) {
				_, err := run(t, tg, CopyFile, map[string]any{
					"bucket": bucket, "path": awkwardCopyKey, "to_path": awkwardCopyKey, "metadata_directive": "REPLACE",
					"headers": pairs("Content-Type", "text/plain", "x-amz-meta-stage", "checked"),
				})
				if err != nil {
					t.Fatal(err)
				}
				h := awsHead(t, tg, bucket, awkwardCopyKey)
				if h.ContentType != "text/plain" || len(h.Metadata) != 1 || h.Metadata["stage"] != "checked" || h.ContentLength != src.ContentLength {
					t.Errorf("aws head-object after REPLACE onto itself: %+v", h)
				}
			})
		})
	}
}

// TestCopyFileAwkwardKeys copies every awkward key and checks each copy
// with the aws CLI: a wrongly encoded copy source names another object
// (or none), so a size or ETag would differ or the copy fail.
func TestCopyFileAwkwardKeys(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			objects := awkwardObjects()
			// "a b" next to "a+b": decoding + as a space would copy the wrong one.
			objects["a b=c.txt"] = "the space one"
			// The SDK puts them (each aws CLI start takes seconds); the aws
			// CLI checks the copies.
			seedObjects(t, tg, bucket, objects)
			for key := range objects {
				if _, err := run(t, tg, CopyFile, map[string]any{"bucket": bucket, "path": key, "to_path": "copy/" + key}); err != nil {
					t.Errorf("copy %q: %v", key, err)
				}
			}
			// One aws listing shows every object's size and ETag.
			byKey := map[string]listedObject{}
			for _, o := range awsListing(t, tg, bucket, "") {
				byKey[o.Key] = o
			}
			if len(byKey) != 2*len(objects) {
				t.Errorf("aws lists %d objects, want %d sources and as many copies", len(byKey), 2*len(objects))
			}
			for key, body := range objects {
				src, dst := byKey[key], byKey["copy/"+key]
				if src.ETag != dst.ETag || dst.Size != int64(len(body)) || src.Size != dst.Size {
					t.Errorf("%q: source %+v, copy %+v", key, src, dst)
				}
			}
		})
	}
}

func TestCopyFileMissingSource(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			_, err := run(t, tg, CopyFile, map[string]any{"bucket": bucket, "path": "nope.csv", "to_path": "copy.csv"})
			if err == nil || !strings.Contains(err.Error(), "NoSuchKey") || !strings.Contains(err.Error(), `copy file "nope.csv" in bucket "`+bucket) {
				t.Errorf("missing key: err = %v", err)
			}
			assertNoObject(t, tg, bucket, "copy.csv")
			_, err = run(t, tg, CopyFile, map[string]any{"bucket": bucket + "-gone", "path": "nope.csv", "to_bucket": bucket, "to_path": "copy.csv"})
			if err == nil || !strings.Contains(err.Error(), "NoSuchBucket") {
				t.Errorf("missing bucket: err = %v", err)
			}
		})
	}
}

// lowerCopyThreshold makes objects over 5 MiB go the multipart way, in
// 5 MiB parts (S3's smallest), until the test ends. Tests that call it
// must not be parallel with other copy tests.
func lowerCopyThreshold(t *testing.T) {
	threshold, part := copyMultipartThreshold, copyPartSize
	copyMultipartThreshold, copyPartSize = 5<<20, 5<<20
	t.Cleanup(func() { copyMultipartThreshold, copyPartSize = threshold, part })
}

// TestCopyFileMultipart copies a 12 MiB object in three UploadPartCopy
// parts and checks data, headers, metadata and tags with the aws CLI.
func TestCopyFileMultipart(t *testing.T) {
	lowerCopyThreshold(t)
	const size = 12 << 20
	data := randomBytes(7, size)
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket, other := tg.Bucket(t), tg.Bucket(t)
			awsPutWith(t, tg, bucket, awkwardCopyKey, data, "--content-type", "application/x-demo", "--cache-control", "no-store",
				"--metadata", "owner=ana", "--tagging", "team=data&note=a%20b")
			for _, tc := range []struct {
				name      string
				directive string
				headers   []module.Pair
			}{
				{"COPY", "COPY", nil},
				{"REPLACE", "REPLACE", pairs("x-amz-meta-stage", "clean")},
			} {
				t.Run(tc.name, func(t *testing.T) {
					ops := &opCounter{}
					key := tc.name + "/big.bin"
					got, err := runEnv(t, tg, module.Env{Logger: slog.New(ops)}, CopyFile, map[string]any{
						"bucket": bucket, "path": awkwardCopyKey, "to_bucket": other, "to_path": key,
						"metadata_directive": tc.directive, "headers": tc.headers,
					})
					if err != nil {
						t.Fatal(err)
					}
					if n := ops.count("UploadPartCopy"); n != 3 {
						t.Errorf("%d UploadPartCopy requests, want 3 (12 MiB in 5 MiB parts)", n)
					}
					if n := ops.count("CopyObject"); n != 0 {
						t.Errorf("%d CopyObject requests, want none", n)
					}
					b := one(t, got)
					if etag, _ := b["etag"].(string); !strings.HasSuffix(etag, `-3"`) || b["size"] != int64(size) {
						t.Errorf("bundle %v; want a 3-part ETag and size %d", b, size)
					}
					if sum, n := objectSHA256(t, tg, other, key); n != size || sum != sha256Hex(data) {
						t.Errorf("the copy reads back %d bytes with another sha256", n)
					}
					h := awsHead(t, tg, other, key)
					if h.ContentType != "application/x-demo" || h.ContentLength != size || h.ETag != b["etag"] {
						t.Errorf("aws head-object of the copy: %+v", h)
					}
					wantMeta := map[string]string{"owner": "ana"}
					if tc.directive == "REPLACE" {
						wantMeta = map[string]string{"stage": "clean"}
					} else if h.CacheControl != "no-store" {
						t.Errorf("Cache-Control %q, want the source's no-store", h.CacheControl)
					}
					if fmt.Sprint(h.Metadata) != fmt.Sprint(wantMeta) {
						t.Errorf("metadata %v, want %v", h.Metadata, wantMeta)
					}
					// Tags are copied whatever the metadata directive, as CopyObject does.
					if tags := awsTags(t, tg, other, key); len(tags) != 2 || tags["team"] != "data" || tags["note"] != "a b" {
						t.Errorf("tags %v, want the source's team=data, note=a b", tags)
					}
				})
			}
			ups, err := tg.Client(t).S3("").ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(other)})
			if err != nil || len(ups.Uploads) != 0 {
				t.Errorf("multipart uploads left behind: %v, %v", ups, err)
			}
		})
	}
}

// TestCopyFileMultipartAborts refuses the second UploadPartCopy through a
// proxy: the copy fails, is aborted, and leaves no object and no upload.
func TestCopyFileMultipartAborts(t *testing.T) {
	lowerCopyThreshold(t)
	data := randomBytes(8, 12<<20)
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			putObject(t, tg, bucket, "big.bin", data, nil)
			proxy := newPartFailer(t, tg.Conn.Endpoint)
			faulty := tg
			faulty.Conn.Endpoint = proxy.URL
			_, err := run(t, faulty, CopyFile, map[string]any{"bucket": bucket, "path": "big.bin", "to_path": "copy.bin"})
			// Parts go in parallel: the second to arrive may be any of them.
			if err == nil || !strings.Contains(err.Error(), "InvalidArgument") || !regexp.MustCompile(`: part [123] of 3: `).MatchString(err.Error()) {
				t.Fatalf("err = %v, want the injected InvalidArgument on a part of 3", err)
			}
			if injected, aborts := proxy.counts(); injected != 1 || aborts != 1 {
				t.Errorf("proxy refused %d part(s) and saw %d abort(s), want 1 and 1", injected, aborts)
			}
			ups, err := tg.Client(t).S3("").ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
			if err != nil || len(ups.Uploads) != 0 {
				t.Errorf("multipart uploads left behind: %v, %v", ups, err)
			}
			assertNoObject(t, tg, bucket, "copy.bin")
		})
	}
}

// TestCopyFileAbortRepeated fails part 2 of a multipart copy (max attempts
// 1) and breaks the abort that follows: refused with a 500, or answered
// 204 without reaching the server, as when a part copy the client gave up
// on lands after the abort. ListParts still shows the upload, so the copy
// aborts again; nothing is left, as the aws CLI sees it.
func TestCopyFileAbortRepeated(t *testing.T) {
	lowerCopyThreshold(t)
	data := randomBytes(10, 12<<20)
	for _, tg := range s3test.Targets(t) {
		for _, c := range []struct {
			name  string
			fault faultproxy.Fault
		}{
			{"refused", faultproxy.InternalError()},
			{"answered but not done", faultproxy.Fault{Kind: faultproxy.Error, Status: http.StatusNoContent}},
		} {
			t.Run(tg.Name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				bucket := tg.Bucket(t)
				putObject(t, tg, bucket, "big.bin", data, nil)
				proxy := faultproxy.New(t, tg.Conn.Endpoint)
				proxy.Add(
					faultproxy.Rule{Match: faultproxy.Match{Op: "UploadPartCopy", Query: map[string]string{"partNumber": "2"}}, Fault: faultproxy.InternalError()},
					faultproxy.Rule{Match: faultproxy.Match{Op: "AbortMultipartUpload"}, Fault: c.fault},
				)
				faulty := tg
				faulty.Conn.Endpoint = proxy.URL
				faulty.Conn.MaxAttempts = 1
				_, err := run(t, faulty, CopyFile, map[string]any{"bucket": bucket, "path": "big.bin", "to_path": "copy.bin"})
				if err == nil || !strings.Contains(err.Error(), "part 2 of 3") {
					t.Fatalf("err = %v, want the injected failure of part 2 of 3", err)
				}
				if n, err := faultproxy.CheckAborts(proxy.Requests()); err != nil || n != 2 {
					t.Errorf("%d aborts (%v), want 2, each checked by ListParts", n, err)
				}
				if out := tg.AWS(t, "s3api", "list-multipart-uploads", "--bucket", bucket); strings.Contains(out, "UploadId") {
					t.Errorf("multipart uploads left behind: %s", out)
				}
				assertNoObject(t, tg, bucket, "copy.bin")
			})
		}
	}
}

// TestCopyFileSmallStaysSingle: at the threshold itself one CopyObject
// does it (S3 copies up to 5 GiB in one request).
func TestCopyFileSmallStaysSingle(t *testing.T) {
	lowerCopyThreshold(t)
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	putObject(t, tg, bucket, "exact.bin", randomBytes(9, 5<<20), nil)
	ops := &opCounter{}
	if _, err := runEnv(t, tg, module.Env{Logger: slog.New(ops)}, CopyFile, map[string]any{"bucket": bucket, "path": "exact.bin", "to_path": "c/exact.bin"}); err != nil {
		t.Fatal(err)
	}
	if ops.count("CopyObject") != 1 || ops.count("UploadPartCopy") != 0 {
		t.Errorf("CopyObject %d, UploadPartCopy %d; want one CopyObject", ops.count("CopyObject"), ops.count("UploadPartCopy"))
	}
}
