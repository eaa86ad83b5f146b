package s3

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

// SetBucketVersioning is "Set bucket versioning": turns versioning on or
// suspends it.
var SetBucketVersioning = &module.Module{
	Name:  "s3.set_bucket_versioning",
	Verb:  "set-bucket-versioning",
	Title: "Set bucket versioning",
	Group: module.GroupBuckets,
	Help: "Turns versioning of a bucket on (Enabled: every overwrite and delete keeps the version before it) or suspends it (Suspended: new writes replace the \"null\" version; the versions kept stay). " +
		"S3 cannot turn versioning off once it was on, and a bucket with object lock stays Enabled.",
	NeedsConnection: true,
	Fields: []module.Field{
		bucketField,
		{Name: "status", Label: "Status", Type: module.String, Required: true,
			Choices: []string{string(types.BucketVersioningStatusEnabled), string(types.BucketVersioningStatusSuspended)},
			Help:    "Enabled or Suspended", Example: "Enabled"},
		regionField,
	},
	Outputs: []module.Output{
		{Name: "bucket", Type: module.String, Help: "the bucket's name"},
		{Name: "status", Type: module.String, Help: "the versioning status the server now reports: Enabled or Suspended"},
		{Name: "previousStatus", Type: module.String, Help: "the status before: Enabled, Suspended, or \"\" for a bucket never versioned"},
	},
	Examples: []module.Example{{
		With: []module.Pair{{Name: "bucket", Value: "demo"}, {Name: "status", Value: "Enabled"}},
		Says: "keeps every version of the files in demo from now on",
	}},
	Validate: checkBucketRef,
	Run:      runSetBucketVersioning,
}

func runSetBucketVersioning(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	c, err := client(ctx, env, in)
	if err != nil {
		return err
	}
	bucket, status := in.String("bucket"), types.BucketVersioningStatus(in.String("status"))
	var before, after *s3.GetBucketVersioningOutput
	err = c.Do(ctx, func(cl *s3.Client) error {
		var err error
		if before, err = cl.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(bucket)}); err != nil {
			return err
		}
		if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
			Bucket: aws.String(bucket), VersioningConfiguration: &types.VersioningConfiguration{Status: status},
		}); err != nil {
			return err
		}
		// What the server says now, not what was asked: a server may
		// accept the request and keep its own state.
		after, err = cl.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(bucket)})
		return err
	})
	if err != nil {
		explained := s3client.Explain(err)
		var e *s3client.Error
		if errors.As(explained, &e) {
			switch {
			case e.Code == "VersioningNotConfigured" || notImplemented(err):
				e.Hint = "this server keeps no versions (a versitygw needs a versioning directory; the local endpoint has none)"
			case e.Code == "InvalidBucketState":
				e.Hint = "a bucket with object lock must stay versioned"
			}
		}
		return fmt.Errorf("set versioning of bucket %q to %s: %w", bucket, status, explained)
	}
	if after.Status != status {
		return fmt.Errorf("set versioning of bucket %q to %s: the server accepted it but reports %q", bucket, status, after.Status)
	}
	return emit(module.Bundle{"bucket": bucket, "status": string(after.Status), "previousStatus": string(before.Status)})
}
