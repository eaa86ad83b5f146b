package s3

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

// CreateFolder is "Create a folder".
var CreateFolder = &module.Module{
	Name:  "s3.create_folder",
	Verb:  "create-folder",
	Title: "Create a folder",
	Group: module.GroupObjects,
	Help: "Creates an empty folder: a zero-byte marker object whose key ends in /, as the S3 console makes. " +
		"Folders appear by themselves when files are put in them; a marker keeps an empty one listed.",
	NeedsConnection: true,
	Fields: []module.Field{
		bucketField,
		{Name: "path", Label: "Path", Type: module.String, Kind: module.Folder, Required: true,
			Help: "the folder's path in the bucket (leading and trailing / are ignored)", Example: "work/new"},
		regionField,
	},
	Outputs: []module.Output{
		{Name: "bucket", Type: module.String},
		{Name: "key", Type: module.String, Help: "the marker's key, ending in /"},
	},
	Validate: func(in module.Values) error {
		if err := checkBucketRef(in); err != nil {
			return err
		}
		_, err := folderKey(in.String("path"))
		return err
	},
	Run: runCreateFolder,
}

// folderKey turns a folder path into its marker's key: "work//new/" and
// "/work/new" both give "work/new/".
func folderKey(p string) (string, error) {
	key := folderPrefix(p)
	if key == "" {
		return "", &module.InputError{Field: "path", Rule: fmt.Sprintf("%q names the bucket's top level, which needs no folder; give a folder path such as work/new", p)}
	}
	for _, seg := range strings.Split(strings.TrimSuffix(key, "/"), "/") {
		if seg == "." || seg == ".." {
			return "", &module.InputError{Field: "path", Rule: fmt.Sprintf("%q has a %q segment; give the folder's path without . or ..", p, seg)}
		}
	}
	return key, nil
}

func runCreateFolder(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	c, err := client(ctx, env, in)
	if err != nil {
		return err
	}
	bucket := in.String("bucket")
	key, err := folderKey(in.String("path"))
	if err != nil {
		return err
	}
	err = c.Do(ctx, func(cl *s3.Client) error {
		_, err := cl.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(""), ContentLength: aws.Int64(0),
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("create folder %q in bucket %q: %w", key, bucket, s3client.Explain(err))
	}
	return emit(module.Bundle{"bucket": bucket, "key": key})
}
