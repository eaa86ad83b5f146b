// Package s3test gives tests real S3 servers: the standalone versitygw,
// SeaweedFS and MinIO that scripts/test.sh starts (S3FLOW_TEST_*,
// S3FLOW_TEST_SEAWEED_* and S3FLOW_TEST_MINIO_* variables) and the embedded
// local endpoint, plus the
// reference aws CLI to cross-check results. docs/compatibility.md describes
// how the servers differ.
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/locals3"
	"github.com/s3flow/s3flow/internal/locals3/gateway"
	"github.com/s3flow/s3flow/internal/s3client"
)

// AWSCLI is the reference aws CLI v2 (Debian's package); an older v1 on
// PATH is not used.
const AWSCLI = "/usr/bin/aws"

// Target is a real S3-compatible server to test against.
type Target struct {
	// Name is "versitygw", "seaweedfs", "minio" or "local".
	Name string
	// Conn reaches it.
	Conn connection.Connection
}

// InCI reports whether the tests run under CI, where a missing server or
// fixture is a failure, never a skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// SkipOrFail skips the test, or fails it under CI.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true: "+format, args...)
	}
	t.Skipf(format, args...)
}

// Versitygw returns the standalone server scripts/test.sh started.
func Versitygw(t testing.TB) Target {
	t.Helper()
	endpoint := os.Getenv("S3FLOW_TEST_ENDPOINT")
	if endpoint == "" {
		SkipOrFail(t, "no test S3 server: run the tests with scripts/test.sh (S3FLOW_TEST_ENDPOINT is unset)")
	}
	return Target{Name: "versitygw", Conn: connection.Connection{
		Name: "test", Kind: connection.KindKeys,
		AccessKeyID:     os.Getenv("S3FLOW_TEST_ACCESS_KEY"),
		SecretAccessKey: connection.NewSecret(os.Getenv("S3FLOW_TEST_SECRET_KEY")),
		Region:          "us-east-1", Endpoint: endpoint, PathStyle: true,
		ChecksumMode: connection.ChecksumWhenRequired, AllowPrivate: true, // test servers listen on 127.0.0.1
	}}
}

// seaweedEndpointEnv names the SeaweedFS S3 endpoint scripts/test.sh
// started; its keys are in S3FLOW_TEST_SEAWEED_ACCESS_KEY and _SECRET_KEY.
const seaweedEndpointEnv = "S3FLOW_TEST_SEAWEED_ENDPOINT"

// Seaweed returns the SeaweedFS server ("weed mini") scripts/test.sh
// started. Without one it skips the test, or fails it under CI.
func Seaweed(t testing.TB) Target {
	t.Helper()
	endpoint := os.Getenv(seaweedEndpointEnv)
	if endpoint == "" {
		SkipOrFail(t, "no SeaweedFS test server: run the tests with scripts/test.sh (%s is unset)", seaweedEndpointEnv)
	}
	return Target{Name: "seaweedfs", Conn: connection.Connection{
		Name: "test-seaweedfs", Kind: connection.KindKeys,
		AccessKeyID:     os.Getenv("S3FLOW_TEST_SEAWEED_ACCESS_KEY"),
		SecretAccessKey: connection.NewSecret(os.Getenv("S3FLOW_TEST_SEAWEED_SECRET_KEY")),
		Region:          "us-east-1", Endpoint: endpoint, PathStyle: true,
		ChecksumMode: connection.ChecksumWhenRequired, AllowPrivate: true, // test servers listen on 127.0.0.1
	}}
}

// minioEndpointEnv names the MinIO endpoint scripts/test.sh started; its
// root keys are in S3FLOW_TEST_MINIO_ACCESS_KEY and _SECRET_KEY.
const minioEndpointEnv = "S3FLOW_TEST_MINIO_ENDPOINT"

// Minio returns the MinIO server scripts/test.sh started: the one with
// STS, versioning and object lock. Without one it skips the test, or fails
// it under CI.
func Minio(t testing.TB) Target {
	t.Helper()
	endpoint := os.Getenv(minioEndpointEnv)
	if endpoint == "" {
		SkipOrFail(t, "no MinIO test server: run the tests with scripts/test.sh (%s is unset)", minioEndpointEnv)
	}
	return Target{Name: "minio", Conn: connection.Connection{
		Name: "test-minio", Kind: connection.KindKeys,
		AccessKeyID:     os.Getenv("S3FLOW_TEST_MINIO_ACCESS_KEY"),
		SecretAccessKey: connection.NewSecret(os.Getenv("S3FLOW_TEST_MINIO_SECRET_KEY")),
		Region:          "us-east-1", Endpoint: endpoint, PathStyle: true,
		ChecksumMode: connection.ChecksumWhenRequired, AllowPrivate: true, // test servers listen on 127.0.0.1
	}}
}

// childEnv marks a test binary re-executed to serve the local endpoint.
const childEnv = "S3FLOW_TEST_LOCALS3_CHILD"

// Main is TestMain for packages that use Local: the test binary doubles as
// the s3flow-local program.
func Main(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(gateway.Main(os.Args[1:], os.Stdin, os.Stderr))
	}
	os.Exit(m.Run())
}

// Local starts the local endpoint (in a child process) with its data in a
// temporary folder, stopped when the test ends. The package's TestMain must
// call Main.
func Local(t testing.TB) Target {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := locals3.Start(context.Background(), locals3.Options{
		Executable: exe, Args: []string{os.Args[0]}, Env: []string{childEnv + "=1"},
		Root: t.TempDir(), Region: "us-east-1",
		AccessKeyID: "S3FLOWTEST", Secret: "local-test-secret",
	})
	if err != nil {
		t.Fatalf("start the local endpoint: %v", err)
	}
	t.Cleanup(func() { srv.Stop() })
	return Target{Name: "local", Conn: connection.Connection{
		Name: connection.LocalName, Kind: connection.KindLocal,
		AccessKeyID: "S3FLOWTEST", SecretAccessKey: connection.NewSecret("local-test-secret"),
		Region: "us-east-1", Endpoint: srv.Endpoint, PathStyle: true, ChecksumMode: connection.ChecksumWhenRequired,
	}}
}

// Standalone returns the servers scripts/test.sh started: versitygw,
// SeaweedFS and MinIO. Without versitygw the test is skipped (failed under
// CI), like Versitygw. Without SeaweedFS or MinIO (S3FLOW_TEST_SEAWEED_ENDPOINT
// or S3FLOW_TEST_MINIO_ENDPOINT unset) only that target is left out, with a
// note in the test log; under CI that fails the test.
func Standalone(t testing.TB) []Target {
	t.Helper()
	targets := []Target{Versitygw(t)}
	for _, opt := range []struct {
		name, env string
		target    func(testing.TB) Target
	}{
		{"seaweedfs", seaweedEndpointEnv, Seaweed},
		{"minio", minioEndpointEnv, Minio},
	} {
		if os.Getenv(opt.env) != "" || InCI() {
			targets = append(targets, opt.target(t))
		} else {
			t.Logf("the %s target is skipped: %s is unset (scripts/test.sh sets it)", opt.name, opt.env)
		}
	}
	return targets
}

// Targets returns every server: the standalone versitygw, SeaweedFS and
// MinIO (see Standalone) and the local endpoint. Run each module test
// against every one.
func Targets(t testing.TB) []Target {
	t.Helper()
	return append(Standalone(t), Local(t))
}

// Client returns an s3flow client for the target.
func (tg Target) Client(t testing.TB) *s3client.Client {
	t.Helper()
	c, err := s3client.New(context.Background(), tg.Conn, "", s3client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// BucketPrefix begins the name of every bucket Bucket makes.
const BucketPrefix = "s3flow-test-"

// Bucket creates a bucket with a unique name, emptied and deleted when the
// test ends.
func (tg Target) Bucket(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := BucketPrefix + hex.EncodeToString(b)
	cl := tg.Client(t).S3("")
	ctx := context.Background()
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s on %s: %v", name, tg.Name, err)
	}
	t.Cleanup(func() { EmptyAndDelete(t, cl, name) })
	return name
}

// EmptyAndDelete removes every object, every older version and delete
// marker, pending multipart upload and the bucket itself.
func EmptyAndDelete(t testing.TB, cl *s3.Client, bucket string) {
	ctx := context.Background()
	p := s3.NewListObjectsV2Paginator(cl, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Logf("empty %s: %v", bucket, err)
			return
		}
		var ids []types.ObjectIdentifier
		for _, o := range page.Contents {
			ids = append(ids, types.ObjectIdentifier{Key: o.Key})
		}
		if len(ids) > 0 {
			if _, err := cl.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &types.Delete{Objects: ids}}); err != nil {
				t.Logf("empty %s: %v", bucket, err)
			}
		}
	}
	deleteVersions(t, cl, bucket)
	if ups, err := cl.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)}); err == nil {
		for _, u := range ups.Uploads {
			cl.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: u.Key, UploadId: u.UploadId})
		}
	}
	if _, err := cl.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Logf("delete bucket %s: %v", bucket, err)
	}
}

// deleteVersions removes what a versioned bucket keeps after its objects
// are deleted: older versions and delete markers (MinIO and SeaweedFS
// version buckets; without it their versioned test buckets would not
// delete). A server that cannot list versions leaves nothing to remove.
func deleteVersions(t testing.TB, cl *s3.Client, bucket string) {
	ctx := context.Background()
	p := s3.NewListObjectVersionsPaginator(cl, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Logf("list versions in %s: %v", bucket, err)
			return
		}
		var ids []types.ObjectIdentifier
		for _, v := range page.Versions {
			ids = append(ids, types.ObjectIdentifier{Key: v.Key, VersionId: v.VersionId})
		}
		for _, m := range page.DeleteMarkers {
			ids = append(ids, types.ObjectIdentifier{Key: m.Key, VersionId: m.VersionId})
		}
		if len(ids) > 0 {
			if _, err := cl.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &types.Delete{Objects: ids}}); err != nil {
				t.Logf("delete versions in %s: %v", bucket, err)
			}
		}
	}
}

// AWS runs the reference aws CLI against the target and returns its
// standard output; a failure fails the test.
func (tg Target) AWS(t testing.TB, args ...string) string {
	t.Helper()
	out, err := tg.AWSResult(args...)
	if err != nil {
		t.Fatalf("aws %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// AWSResult runs the aws CLI and returns stdout, or an error with stderr.
func (tg Target) AWSResult(args ...string) (string, error) {
	if _, err := os.Stat(AWSCLI); err != nil {
		return "", fmt.Errorf("%s is missing (scripts/test.sh installs it): %w", AWSCLI, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, AWSCLI, append([]string{"--endpoint-url", tg.Conn.Endpoint, "--region", tg.Conn.Region, "--output", "json"}, args...)...)
	// Only this target's keys: no profile or variable of the machine's.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "AWS_CA_BUNDLE=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env,
		"AWS_ACCESS_KEY_ID="+tg.Conn.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+tg.Conn.SecretAccessKey.Reveal(),
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_REQUEST_CHECKSUM_CALCULATION=when_required", "AWS_RESPONSE_CHECKSUM_VALIDATION=when_required",
		"AWS_PAGER=",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
