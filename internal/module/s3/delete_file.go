package s3

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

// DeleteFile is "Delete a file".
var DeleteFile = &module.Module{
	Name:            "s3.delete_file",
	Verb:            "delete-file",
	Title:           "Delete a file",
	Group:           module.GroupObjects,
	Help:            "Deletes one file (or one version of it). S3 answers the same whether the file existed or not, so deleting a missing file succeeds too.",
	NeedsConnection: true,
	Fields: []module.Field{
		bucketField,
		{Name: "path", Label: "Path", Type: module.String, Kind: module.ObjectKey, Required: true,
			Help: "the file's path in the bucket (a leading / is ignored)", Example: "/reports/old.csv"},
		{Name: "version_id", Flag: "version-id", Label: "Version", Type: module.String,
			Help: "delete this version for good, in versioned buckets (default: the current one, which a versioned bucket keeps behind a delete marker)"},
		regionField,
	},
	Outputs: []module.Output{
		{Name: "bucket", Type: module.String}, {Name: "key", Type: module.String},
		{Name: "versionId", Type: module.String, Help: "the version deleted, or the delete marker's version"},
		{Name: "deleteMarker", Type: module.Bool, Help: "true when a versioned bucket made (or removed) a delete marker"},
	},
	Examples: []module.Example{{
		With: []module.Pair{{Name: "bucket", Value: "demo"}, {Name: "path", Value: "/reports/old.csv"}},
		Says: "deletes the file reports/old.csv",
	}},
	Validate: checkObjectRef,
	Run:      runDeleteFile,
}

func runDeleteFile(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	c, err := client(ctx, env, in)
	if err != nil {
		return err
	}
	bucket := in.String("bucket")
	key, err := objectKey(in.String("path"))
	if err != nil {
		return err
	}
	input := &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if v := in.String("version_id"); v != "" {
		input.VersionId = aws.String(v)
	}
	var out *s3.DeleteObjectOutput
	err = c.Do(ctx, func(cl *s3.Client) error {
		var err error
		out, err = cl.DeleteObject(ctx, input)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete file %q in bucket %q: %w", key, bucket, s3client.Explain(err))
	}
	return emit(module.Bundle{
		"bucket": bucket, "key": key, "versionId": aws.ToString(out.VersionId), "deleteMarker": aws.ToBool(out.DeleteMarker),
	})
}
