package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/s3test"
)

func TestProbe(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			b := tg.Bucket(t)
			cl := tg.Client(t).S3("")
			ctx := context.Background()
			for _, k := range []string{"a/../../evil.txt", "../x.txt", "..", "a/..", "./y", "a\\..\\..\\z"} {
				out, err := tg.AWSResult("s3api", "put-object", "--bucket", b, "--key", k, "--body", "/etc/hostname")
				t.Logf("aws put %q: %v %s", k, err, out)
				_, err = cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String(k), Body: bytes.NewReader([]byte("hi"))})
				t.Logf("sdk put %q: %v", k, err)
			}
			lo, _ := tg.AWSResult("s3api", "list-objects-v2", "--bucket", b)
			t.Logf("list: %s", lo)
			sum := md5.Sum([]byte("other"))
			_, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("md5"), Body: bytes.NewReader([]byte("hi")), ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum[:]))})
			t.Logf("bad md5: %v", err)
			_, err = cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("md5x"), Body: bytes.NewReader([]byte("hi")), IfNoneMatch: aws.String("*")})
			t.Logf("inm new: %v", err)
			_, err = cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("md5x"), Body: bytes.NewReader([]byte("ho")), IfNoneMatch: aws.String("*")})
			t.Logf("inm existing: %v", err)
			_, err = cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("empty"), Body: bytes.NewReader(nil)})
			g, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("empty"), Range: aws.String("bytes=0-8388607")})
			t.Logf("empty range get: %v %v", err, g != nil && g.ETag != nil)
			_, err = cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("sc"), Body: bytes.NewReader([]byte("x")), StorageClass: "STANDARD_IA"})
			t.Logf("sc: %v", err)
		})
	}
}
