package s3

import (
	"crypto/md5"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3test"
)

// nowhere is a target no server listens on: a module that reaches it fails
// with EndpointUnreachable, so an InputError proves no I/O happened.
var nowhere = s3test.Target{Name: "nowhere", Conn: connection.Connection{
	Name: "nowhere", Kind: connection.KindKeys, AccessKeyID: "AKIDNOWHERE",
	SecretAccessKey: connection.NewSecret("nowhere-secret"), Region: "us-east-1",
	Endpoint: "http://127.0.0.1:1", PathStyle: true, ChecksumMode: connection.ChecksumWhenRequired,
	AllowPrivate: true,
}}

// pairs makes headers from name, value, name, value...
func pairs(nameValues ...string) []module.Pair {
	var ps []module.Pair
	for i := 0; i+1 < len(nameValues); i += 2 {
		ps = append(ps, module.Pair{Name: nameValues[i], Value: nameValues[i+1]})
	}
	return ps
}

func md5Base64(data string) string {
	sum := md5.Sum([]byte(data))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// TestUploadFileRefusesHeaders: a header Upload a file does not know, or a
// value it cannot parse, is an input error on "headers" before any request.
func TestUploadFileRefusesHeaders(t *testing.T) {
	t.Parallel()
	short := base64.StdEncoding.EncodeToString(make([]byte, 15))
	tests := []struct {
		name    string
		headers any
		// wantRule is a substring of the InputError's rule; "" means the
		// inputs are accepted.
		wantRule string
		// listsAccepted: a refused name comes with the accepted names.
		listsAccepted bool
	}{
		{"unknown header", pairs("X-Foo", "bar"), `"X-Foo" is not a PUT Object request header`, true},
		{"authorization", pairs("Authorization", "AWS4-HMAC-SHA256 x"), `"Authorization" is not`, true},
		{"host", map[string]any{"Host": "evil.example"}, `"Host" is not`, true},
		{"bare meta prefix", pairs("x-amz-meta-", "v"), `"x-amz-meta-" is not`, true},
		{"refused after accepted", pairs("Content-Type", "text/csv", "Range", "bytes=0-1"), `"Range" is not`, true},
		{"expires not a date", pairs("Expires", "tomorrow"), "Expires must be an HTTP date", false},
		{"retain-until not a date", map[string]string{"x-amz-object-lock-retain-until-date": "soon"}, "must be an HTTP date", false},
		{"md5 not base64", pairs("Content-MD5", "not base64!"), "Content-MD5 must be the base64 of a 16-byte MD5 digest", false},
		{"md5 of 15 bytes", pairs("Content-MD5", short), "Content-MD5 must be the base64", false},
		{"md5 hex", pairs("Content-MD5", "9e107d9d372bb6826bd81d3542a419d6"), "Content-MD5 must be the base64", false},
		{"bucket key not bool", pairs("x-amz-server-side-encryption-bucket-key-enabled", "maybe"), "must be true or false", false},

		{"http date", pairs("Expires", "Wed, 21 Oct 2026 07:28:00 GMT"), "", false},
		{"rfc 3339", pairs("Expires", "2026-10-21T07:28:00Z"), "", false},
		{"md5 ok", pairs("Content-MD5", md5Base64("hello")), "", false},
		{"names ignore case and space", pairs("  CONTENT-type ", "text/csv", "X-Amz-Meta-Owner", "ana"), "", false},
		{"map form", map[string]any{"Cache-Control": "no-cache", "x-amz-meta-n": 3}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := map[string]any{
				"bucket": "b", "file": &module.BytesFile{FileName: "q3.csv", Data: []byte("a,b\n")},
				"headers": tt.headers,
			}
			if tt.wantRule == "" {
				if _, err := UploadFile.Check(in); err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			_, err := run(t, nowhere, UploadFile, in)
			var ie *module.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v (%T), want *module.InputError", err, err)
			}
			if ie.Field != "headers" || !strings.Contains(ie.Rule, tt.wantRule) {
				t.Errorf("err = %v, want field headers with %q", ie, tt.wantRule)
			}
			if tt.listsAccepted && !strings.Contains(ie.Rule, "accepted: ") {
				t.Errorf("rule %q does not list the accepted headers", ie.Rule)
			}
		})
	}
}

// TestApplyHeaders: each accepted header lands in its field of the upload.
func TestApplyHeaders(t *testing.T) {
	t.Parallel()
	when := time.Date(2026, 10, 21, 7, 28, 0, 0, time.UTC)
	tests := []struct {
		header, value string
		check         func(*transfermanager.UploadObjectInput) bool
	}{
		{"Content-Type", "text/csv", func(i *transfermanager.UploadObjectInput) bool { return aws.ToString(i.ContentType) == "text/csv" }},
		{"cache-control", "max-age=60", func(i *transfermanager.UploadObjectInput) bool { return aws.ToString(i.CacheControl) == "max-age=60" }},
		{"Content-Disposition", `attachment; filename="q3.csv"`, func(i *transfermanager.UploadObjectInput) bool {
			return aws.ToString(i.ContentDisposition) == `attachment; filename="q3.csv"`
		}},
		{"Content-Encoding", "gzip", func(i *transfermanager.UploadObjectInput) bool { return aws.ToString(i.ContentEncoding) == "gzip" }},
		{"Content-Language", "pt", func(i *transfermanager.UploadObjectInput) bool { return aws.ToString(i.ContentLanguage) == "pt" }},
		{"Expires", "Wed, 21 Oct 2026 07:28:00 GMT", func(i *transfermanager.UploadObjectInput) bool { return aws.ToTime(i.Expires).Equal(when) }},
		{"Expires", "2026-10-21T09:28:00+02:00", func(i *transfermanager.UploadObjectInput) bool { return aws.ToTime(i.Expires).Equal(when) }},
		{"X-Amz-Meta-Owner", "ana", func(i *transfermanager.UploadObjectInput) bool { return i.Metadata["owner"] == "ana" }},
		{"x-amz-storage-class", "STANDARD", func(i *transfermanager.UploadObjectInput) bool { return i.StorageClass == tmtypes.StorageClassStandard }},
		{"x-amz-tagging", "a=b", func(i *transfermanager.UploadObjectInput) bool { return aws.ToString(i.Tagging) == "a=b" }},
		{"x-amz-acl", "private", func(i *transfermanager.UploadObjectInput) bool { return i.ACL == tmtypes.ObjectCannedACLPrivate }},
		{"x-amz-server-side-encryption-bucket-key-enabled", "true", func(i *transfermanager.UploadObjectInput) bool { return aws.ToBool(i.BucketKeyEnabled) }},
		{"x-amz-checksum-algorithm", "sha256", func(i *transfermanager.UploadObjectInput) bool {
			return i.ChecksumAlgorithm == tmtypes.ChecksumAlgorithmSha256
		}},
		{"If-None-Match", "*", func(i *transfermanager.UploadObjectInput) bool { return aws.ToString(i.IfNoneMatch) == "*" }},
		{"If-Match", `"abc"`, func(i *transfermanager.UploadObjectInput) bool { return aws.ToString(i.IfMatch) == `"abc"` }},
	}
	for _, tt := range tests {
		in := &transfermanager.UploadObjectInput{}
		gotMD5, err := applyHeaders(in, pairs(tt.header, tt.value))
		if err != nil {
			t.Errorf("%s: %s: %v", tt.header, tt.value, err)
			continue
		}
		if gotMD5 != "" {
			t.Errorf("%s: returned Content-MD5 %q", tt.header, gotMD5)
		}
		if !tt.check(in) {
			t.Errorf("%s: %s did not set its field: %+v", tt.header, tt.value, in)
		}
	}

	want := md5Base64("hello")
	got, err := applyHeaders(&transfermanager.UploadObjectInput{}, pairs("content-md5", want))
	if err != nil || got != want {
		t.Errorf("Content-MD5: got %q, %v; want %q", got, err, want)
	}
}

func TestAcceptedHeadersListsEveryName(t *testing.T) {
	t.Parallel()
	list := acceptedHeaders()
	for name := range putHeaders {
		if !strings.Contains(list, name) {
			t.Errorf("accepted list lacks %q", name)
		}
	}
	if !strings.Contains(list, "x-amz-meta-*") {
		t.Errorf("accepted list lacks x-amz-meta-*: %s", list)
	}
}

// FuzzApplyHeaders: any header either applies or is an InputError on
// "headers"; nothing panics.
func FuzzApplyHeaders(f *testing.F) {
	f.Add("Content-Type", "text/csv")
	f.Add("Expires", "Wed, 21 Oct 2026 07:28:00 GMT")
	f.Add("Content-MD5", "XUFAKrxLKna5cZ2REBfFkg==")
	f.Add("x-amz-meta-", "")
	f.Add("X-Foo", "bar")
	f.Fuzz(func(t *testing.T, name, value string) {
		_, err := applyHeaders(&transfermanager.UploadObjectInput{}, pairs(name, value))
		var ie *module.InputError
		if err != nil && (!errors.As(err, &ie) || ie.Field != "headers") {
			t.Fatalf("applyHeaders(%q, %q) = %v, want an InputError on headers", name, value, err)
		}
	})
}
