package s3

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

// ListFolders is "List folders": one bundle per folder directly in a prefix.
var ListFolders = &module.Module{
	Name:            "s3.list_folders",
	Verb:            "list-folders",
	Title:           "List folders",
	Group:           module.GroupObjects,
	Help:            "Lists the folders directly in a folder of a bucket (from S3's common prefixes), one bundle per folder.",
	NeedsConnection: true,
	Many:            true,
	Fields:          []module.Field{bucketField, prefixField, limitField, regionField},
	Outputs: []module.Output{
		{Name: "prefix", Type: module.String, Help: "the folder's full path, ending in /"},
		{Name: "name", Type: module.String, Help: "the folder's own name"},
	},
	Empty: func(in module.Values) string {
		return fmt.Sprintf("no folders in %s/%s", in.String("bucket"), folderPrefix(in.String("prefix")))
	},
	Validate: checkBucketRef,
	Run:      runListFolders,
}

func runListFolders(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	c, err := client(ctx, env, in)
	if err != nil {
		return err
	}
	bucket, prefix, limit := in.String("bucket"), folderPrefix(in.String("prefix")), in.Int("limit")
	input := s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/")}
	var emitted int64
	err = c.Do(ctx, func(cl *s3.Client) error {
		for page, err := range pages(ctx, cl, input, pageSize(limit)) {
			if err != nil {
				return err
			}
			for _, cp := range page.CommonPrefixes {
				p := aws.ToString(cp.Prefix)
				if err := emit(module.Bundle{"prefix": p, "name": path.Base(strings.TrimSuffix(p, "/"))}); err != nil {
					return err
				}
				if emitted++; limit > 0 && emitted >= limit {
					return nil
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list folders in %q under %q: %w", bucket, prefix, s3client.Explain(err))
	}
	return nil
}
