package s3test_test

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/s3client"
	"github.com/s3flow/s3flow/internal/s3test"
)

// difference is one row of docs/compatibility.md's table: what each
// standalone server answers to the same requests, pinned so that the page
// cannot drift from the servers (a new server version that changes an
// answer fails here, and the page is updated with it).
type difference struct {
	name string
	// probe makes the requests in bucket and describes the answer.
	probe func(ctx context.Context, t *testing.T, tg s3test.Target, cl *s3.Client, bucket string) string
	// want is the answer per target name.
	want map[string]string
}

// refused describes a refusal by its S3 code (and HTTP status).
func refused(err error) string {
	var re *awshttp.ResponseError
	status := ""
	if errors.As(err, &re) {
		status = " " + strconv.Itoa(re.HTTPStatusCode())
	}
	return "refused: " + s3client.Code(err) + status
}

func put(ctx context.Context, cl *s3.Client, bucket, key, body string) error {
	_, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	return err
}

// listed is the keys under prefix, in the server's order, with a folder
// (delimiter "/") listing's common prefixes after them.
func listed(ctx context.Context, t *testing.T, cl *s3.Client, bucket, prefix, delimiter string) string {
	t.Helper()
	out, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix), Delimiter: aws.String(delimiter)})
	if err != nil {
		t.Fatalf("list %q: %v", prefix, err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	for _, p := range out.CommonPrefixes {
		keys = append(keys, aws.ToString(p.Prefix))
	}
	return strings.Join(keys, " ")
}

// stored puts key and says under which keys (listed under prefix) the
// server keeps it, or its refusal.
func stored(key, prefix string) func(context.Context, *testing.T, s3test.Target, *s3.Client, string) string {
	return func(ctx context.Context, t *testing.T, _ s3test.Target, cl *s3.Client, bucket string) string {
		if err := put(ctx, cl, bucket, key, "x"); err != nil {
			return refused(err)
		}
		return "stored as " + listed(ctx, t, cl, bucket, prefix, "")
	}
}

var differences = []difference{
	{
		name:  "a//b",
		probe: stored("slashes/a//b", "slashes/"),
		want:  map[string]string{"versitygw": "stored as slashes/a/b", "seaweedfs": "stored as slashes/a/b", "minio": "refused: XMinioInvalidObjectName 400"},
	},
	{
		name:  "leading slash",
		probe: stored("/lead.txt", "lead"),
		want:  map[string]string{"versitygw": "stored as lead.txt", "seaweedfs": "stored as lead.txt", "minio": "stored as lead.txt"},
	},
	{
		name:  "dot-dot segment",
		probe: stored("dots/a/../up.txt", "dots/"),
		want:  map[string]string{"versitygw": "stored as dots/up.txt", "seaweedfs": "refused: InvalidRequest 400", "minio": "refused: XMinioInvalidResourceName 400"},
	},
	{
		name:  "backslash",
		probe: stored(`back\slash.txt`, "back"),
		want:  map[string]string{"versitygw": `stored as back\slash.txt`, "seaweedfs": "stored as back/slash.txt", "minio": `stored as back\slash.txt`},
	},
	{
		name: "x then x/y",
		probe: func(ctx context.Context, t *testing.T, _ s3test.Target, cl *s3.Client, bucket string) string {
			if err := put(ctx, cl, bucket, "clash/x", "x"); err != nil {
				t.Fatal(err)
			}
			if err := put(ctx, cl, bucket, "clash/x/y", "y"); err != nil {
				return refused(err)
			}
			// Whether x/y can be read back, beside what a listing shows.
			_, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("clash/x/y")})
			return "listed: " + listed(ctx, t, cl, bucket, "clash/", "") + "; head x/y: " + errText(err)
		},
		want: map[string]string{
			"versitygw": "refused: ObjectParentIsFile 409",
			"seaweedfs": "listed: clash/x clash/x/y; head x/y: ok",
			"minio":     "listed: clash/x; head x/y: ok",
		},
	},
	{
		name: "x/y then x",
		probe: func(ctx context.Context, t *testing.T, _ s3test.Target, cl *s3.Client, bucket string) string {
			if err := put(ctx, cl, bucket, "nest/x/y", "y"); err != nil {
				t.Fatal(err)
			}
			if err := put(ctx, cl, bucket, "nest/x", "x"); err != nil {
				return refused(err)
			}
			return "listed: " + listed(ctx, t, cl, bucket, "nest/", "")
		},
		want: map[string]string{
			"versitygw": "refused: ExistingObjectIsDirectory 409",
			"seaweedfs": "listed: nest/x nest/x/y",
			"minio":     "listed: nest/x",
		},
	},
	{
		name: "folder marker with data",
		probe: func(ctx context.Context, t *testing.T, _ s3test.Target, cl *s3.Client, bucket string) string {
			if err := put(ctx, cl, bucket, "marker/d/", "data"); err != nil {
				return refused(err)
			}
			head, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("marker/d/")})
			if err != nil {
				return "head: " + errText(err)
			}
			return "stored, size " + strconv.Itoa(int(aws.ToInt64(head.ContentLength)))
		},
		want: map[string]string{"versitygw": "refused: DirectoryObjectContainsData 400", "seaweedfs": "stored, size 4", "minio": "stored, size 4"},
	},
	{
		name: "emptied folder",
		probe: func(ctx context.Context, t *testing.T, _ s3test.Target, cl *s3.Client, bucket string) string {
			if err := put(ctx, cl, bucket, "gone/e/only", "x"); err != nil {
				t.Fatal(err)
			}
			if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("gone/e/only")}); err != nil {
				t.Fatal(err)
			}
			return "listed: " + listed(ctx, t, cl, bucket, "gone/", "/")
		},
		// SeaweedFS's directory stays until a background cleaner
		// removes it, about two minutes later.
		want: map[string]string{"versitygw": "listed: ", "seaweedfs": "listed: gone/e/", "minio": "listed: "},
	},
	{
		name: "listing order",
		probe: func(ctx context.Context, t *testing.T, tg s3test.Target, cl *s3.Client, _ string) string {
			// A bucket of its own: the keys are at the top level.
			bucket := tg.Bucket(t)
			for _, k := range []string{"many.txt", "many/x", "many-/y", "reports/a", "reports-old/a"} {
				if err := put(ctx, cl, bucket, k, "x"); err != nil {
					t.Fatal(err)
				}
			}
			return listed(ctx, t, cl, bucket, "", "") + "; folders: " + listed(ctx, t, cl, bucket, "", "/") +
				"; under many: " + listed(ctx, t, cl, bucket, "many", "")
		},
		want: map[string]string{
			"versitygw": "many-/y many.txt many/x reports-old/a reports/a; folders: many.txt many-/ many/ reports-old/ reports/; under many: many-/y many.txt many/x",
			// Directory order for folders (many/ before many-/), byte
			// order for these keys listed flat.
			"seaweedfs": "many-/y many.txt many/x reports-old/a reports/a; folders: many.txt many/ many-/ reports/ reports-old/; under many: many-/y many.txt many/x",
			"minio":     "many-/y many.txt many/x reports-old/a reports/a; folders: many.txt many-/ many/ reports-old/ reports/; under many: many-/y many.txt many/x",
		},
	},
	{
		name: "encoding-type=url",
		probe: func(ctx context.Context, t *testing.T, _ s3test.Target, cl *s3.Client, bucket string) string {
			if err := put(ctx, cl, bucket, "enc/a b+c", "x"); err != nil {
				t.Fatal(err)
			}
			out, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("enc/"), EncodingType: types.EncodingTypeUrl})
			if err != nil {
				return refused(err)
			}
			if len(out.Contents) != 1 {
				t.Fatalf("listed %d objects under enc/", len(out.Contents))
			}
			return "key " + aws.ToString(out.Contents[0].Key) + ", encoding " + string(out.EncodingType)
		},
		want: map[string]string{
			"versitygw": "key enc/a b+c, encoding ",
			"seaweedfs": "key enc/a+b%2Bc, encoding url",
			"minio":     "key enc/a+b%2Bc, encoding url",
		},
	},
	{
		name: "default Content-Type, storage class on HEAD",
		probe: func(ctx context.Context, t *testing.T, _ s3test.Target, cl *s3.Client, bucket string) string {
			// The SDK sends application/octet-stream when given no type;
			// the header is taken off before signing, as other clients
			// (curl, the aws CLI's s3api put-object) send none.
			_, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("type/plain"), Body: strings.NewReader("just some text\n")},
				func(o *s3.Options) { o.APIOptions = append(o.APIOptions, dropContentType) })
			if err != nil {
				t.Fatal(err)
			}
			head, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("type/plain")})
			if err != nil {
				t.Fatal(err)
			}
			return aws.ToString(head.ContentType) + ", storage class " + string(head.StorageClass)
		},
		want: map[string]string{
			"versitygw": "binary/octet-stream, storage class STANDARD",
			"seaweedfs": "text/plain; charset=utf-8, storage class ",
			"minio":     "binary/octet-stream, storage class ",
		},
	},
	{
		name: "range on a 0-byte object",
		probe: func(ctx context.Context, t *testing.T, _ s3test.Target, cl *s3.Client, bucket string) string {
			if err := put(ctx, cl, bucket, "range/empty", ""); err != nil {
				t.Fatal(err)
			}
			out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("range/empty"), Range: aws.String("bytes=0-1023")})
			if err != nil {
				return refused(err)
			}
			io.Copy(io.Discard, out.Body)
			out.Body.Close()
			return "ok"
		},
		want: map[string]string{"versitygw": "refused: InvalidRange 416", "seaweedfs": "refused: InvalidRange 416", "minio": "refused: InvalidRange 416"},
	},
	{
		name: "LastModified in listings",
		probe: func(ctx context.Context, t *testing.T, _ s3test.Target, cl *s3.Client, bucket string) string {
			// Three objects: all three on a whole second by chance is
			// one in a billion on a server that keeps milliseconds.
			for _, k := range []string{"time/a", "time/b", "time/c"} {
				if err := put(ctx, cl, bucket, k, "x"); err != nil {
					t.Fatal(err)
				}
			}
			out, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("time/")})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out.Contents {
				if aws.ToTime(o.LastModified).Nanosecond() != 0 {
					return "milliseconds"
				}
			}
			return "whole seconds"
		},
		want: map[string]string{"versitygw": "whole seconds", "seaweedfs": "whole seconds", "minio": "milliseconds"},
	},
	{
		name: "re-creating your own bucket",
		probe: func(ctx context.Context, t *testing.T, _ s3test.Target, cl *s3.Client, bucket string) string {
			_, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
			return errText(err)
		},
		want: map[string]string{
			"versitygw": "refused: BucketAlreadyOwnedByYou 409",
			"seaweedfs": "refused: BucketAlreadyOwnedByYou 409",
			"minio":     "refused: BucketAlreadyOwnedByYou 409",
		},
	},
	{
		name: "a bucket name with upper case and _",
		probe: func(ctx context.Context, t *testing.T, _ s3test.Target, cl *s3.Client, bucket string) string {
			// Against today's AWS rules, which s3flow's Create a bucket
			// checks before any request.
			name := bucket + "-Up_C"
			_, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
			if err == nil {
				s3test.EmptyAndDelete(t, cl, name)
			}
			return errText(err)
		},
		want: map[string]string{
			"versitygw": "refused: InvalidBucketName 400",
			"seaweedfs": "refused: InvalidBucketName 400",
			"minio":     "refused: InvalidBucketName 400",
		},
	},
	{
		name: "PUT to a missing bucket",
		probe: func(ctx context.Context, t *testing.T, _ s3test.Target, cl *s3.Client, bucket string) string {
			return errText(put(ctx, cl, bucket+"-missing", "a.txt", "x"))
		},
		want: map[string]string{
			"versitygw": "refused: NoSuchBucket 404",
			"seaweedfs": "refused: NoSuchBucket 404",
			"minio":     "refused: NoSuchBucket 404",
		},
	},
	{
		name: "a request signed for another region",
		probe: func(ctx context.Context, t *testing.T, tg s3test.Target, _ *s3.Client, bucket string) string {
			_, err := tg.Client(t).S3("eu-west-1").ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(1)})
			return errText(err)
		},
		want: map[string]string{"versitygw": "refused: AuthorizationHeaderMalformed 400", "seaweedfs": "ok", "minio": "ok"},
	},
	{
		name: "unknown access key id",
		probe: func(ctx context.Context, t *testing.T, tg s3test.Target, _ *s3.Client, bucket string) string {
			conn := tg.Conn
			conn.AccessKeyID = "S3FLOWNOSUCHKEY"
			conn.SecretAccessKey = connection.NewSecret("not-the-secret")
			_, err := s3test.Target{Name: tg.Name, Conn: conn}.Client(t).S3("").HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
			return errText(err)
		},
		// HEAD has no body: the code is the SDK's reading of the status.
		want: map[string]string{"versitygw": "refused: NotFound 404", "seaweedfs": "refused: Forbidden 403", "minio": "refused: Forbidden 403"},
	},
	{
		name: "unknown access key id, with a body",
		probe: func(ctx context.Context, t *testing.T, tg s3test.Target, _ *s3.Client, bucket string) string {
			conn := tg.Conn
			conn.AccessKeyID = "S3FLOWNOSUCHKEY"
			conn.SecretAccessKey = connection.NewSecret("not-the-secret")
			_, err := s3test.Target{Name: tg.Name, Conn: conn}.Client(t).S3("").ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
			return errText(err)
		},
		want: map[string]string{
			"versitygw": "refused: XAdminUserNotFound 404",
			"seaweedfs": "refused: InvalidAccessKeyId 403",
			"minio":     "refused: InvalidAccessKeyId 403",
		},
	},
	{
		name: "a 300-byte key segment",
		// At the top level: versitygw makes the folders of a key before it
		// finds a name too long, and would leave them behind.
		probe: stored(strings.Repeat("s", 296)+".txt", "sss"),
		want: map[string]string{
			"versitygw": "refused: KeyTooLongError 400",
			"seaweedfs": "refused: KeyTooLongError 400",
			"minio":     "refused: XMinioInvalidObjectName 400",
		},
	},
	{
		name: "a tag value with a non-ASCII letter",
		probe: func(ctx context.Context, t *testing.T, _ s3test.Target, cl *s3.Client, bucket string) string {
			if err := put(ctx, cl, bucket, "tags/a.csv", "x"); err != nil {
				t.Fatal(err)
			}
			_, err := cl.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{
				Bucket: aws.String(bucket), Key: aws.String("tags/a.csv"),
				Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("note"), Value: aws.String("café")}}},
			})
			return errText(err)
		},
		want: map[string]string{"versitygw": "ok", "seaweedfs": "ok", "minio": "refused: InvalidTag 400"},
	},
	{
		name: "versioning",
		probe: func(ctx context.Context, t *testing.T, tg s3test.Target, cl *s3.Client, _ string) string {
			// A bucket of its own: versioning stays on once enabled.
			_, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
				Bucket:                  aws.String(tg.Bucket(t)),
				VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
			})
			return errText(err)
		},
		want: map[string]string{"versitygw": "refused: VersioningNotConfigured 501", "seaweedfs": "ok", "minio": "ok"},
	},
}

// dropContentType takes the Content-Type header off a request before it
// is signed.
func dropContentType(stack *middleware.Stack) error {
	return stack.Build.Add(middleware.BuildMiddlewareFunc("s3test:dropContentType",
		func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
			if req, ok := in.Request.(*smithyhttp.Request); ok {
				req.Header.Del("Content-Type")
			}
			return next.HandleBuild(ctx, in)
		}), middleware.After)
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return refused(err)
}

// TestServerDifferences pins each standalone server's answer for every row
// of docs/compatibility.md that the module tests do not already pin. The
// local endpoint embeds versitygw's backend and answers as it does.
func TestServerDifferences(t *testing.T) {
	for _, tg := range s3test.Standalone(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			cl := tg.Client(t).S3("")
			ctx := context.Background()
			for _, d := range differences {
				t.Run(d.name, func(t *testing.T) {
					want, ok := d.want[tg.Name]
					if !ok {
						t.Fatalf("no answer recorded for %s: add it here and to docs/compatibility.md", tg.Name)
					}
					if got := d.probe(ctx, t, tg, cl, bucket); got != want {
						t.Errorf("%s answers %q, docs/compatibility.md says %q", tg.Name, got, want)
					}
				})
			}
		})
	}
}
