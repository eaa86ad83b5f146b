package s3

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

// CreateBucket is "Create a bucket".
var CreateBucket = &module.Module{
	Name:            "s3.create_bucket",
	Verb:            "create-bucket",
	Title:           "Create a bucket",
	Group:           module.GroupBuckets,
	Help:            "Creates a bucket in the region. A bucket you already own counts as success (created: false), so flows can re-run.",
	NeedsConnection: true,
	Fields: []module.Field{
		{Name: "name", Label: "Name", Type: module.String, Required: true,
			Help: "the new bucket's name: 3-63 lowercase letters, numbers, dots and hyphens", Example: "my-reports-2026"},
		regionField,
	},
	Outputs: []module.Output{
		{Name: "name", Type: module.String, Help: "the bucket's name"},
		{Name: "region", Type: module.String, Help: "the region it lives in"},
		{Name: "created", Type: module.Bool, Help: "false when you owned it already"},
	},
	Validate: func(in module.Values) error { return ValidateBucketName(in.String("name")) },
	Run:      runCreateBucket,
}

func runCreateBucket(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	c, err := client(ctx, env, in)
	if err != nil {
		return err
	}
	name, region := in.String("name"), c.Region()
	input := &s3.CreateBucketInput{Bucket: aws.String(name)}
	// us-east-1 is the one region S3 wants no LocationConstraint for.
	if region != "us-east-1" {
		input.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(region),
		}
	}
	// For legacy compatibility S3 in us-east-1 answers 200 OK, not
	// BucketAlreadyOwnedByYou, when you re-create a bucket you own there.
	// A bucket that answers HEAD before the create existed already; if the
	// create then succeeds, it is ours.
	existed := false
	if region == "us-east-1" {
		_, err := c.S3("").HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(name)})
		existed = err == nil
	}
	created := !existed
	if _, err := c.S3("").CreateBucket(ctx, input); err != nil {
		if s3client.Code(err) != "BucketAlreadyOwnedByYou" {
			return fmt.Errorf("create bucket %q in %s: %w", name, region, s3client.Explain(err))
		}
		created = false
	}
	return emit(module.Bundle{"name": name, "region": region, "created": created})
}
