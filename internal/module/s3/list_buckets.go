package s3

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

// listBucketsPageSize is how many buckets one ListBuckets page asks for.
const listBucketsPageSize = 1000

// ListBuckets is "List buckets": one bundle per bucket the connection owns.
var ListBuckets = &module.Module{
	Name:            "s3.list_buckets",
	Verb:            "list-buckets",
	Title:           "List buckets",
	Group:           module.GroupBuckets,
	Help:            "Lists the buckets the connection's keys own, one bundle per bucket, following every page.",
	NeedsConnection: true,
	Many:            true,
	Fields:          []module.Field{regionField},
	Outputs: []module.Output{
		{Name: "name", Type: module.String, Help: "the bucket's name"},
		{Name: "createdAt", Type: module.Time, Help: "when it was created"},
		{Name: "region", Type: module.String, Help: "the region it lives in, when the server says (AWS does; most S3-compatible servers do not)"},
	},
	Empty: func(module.Values) string { return "no buckets" },
	Run:   runListBuckets,
}

func runListBuckets(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	c, err := client(ctx, env, in)
	if err != nil {
		return err
	}
	// ListBuckets names no bucket, so there is no region redirect to follow
	// (and c.Do's retry could repeat bundles already emitted).
	if err := listBuckets(ctx, c.S3(""), listBucketsPageSize, emit); err != nil {
		return fmt.Errorf("list buckets: %w", s3client.Explain(err))
	}
	return nil
}

// listBuckets emits one bundle per bucket, pageSize buckets per request.
func listBuckets(ctx context.Context, cl *s3.Client, pageSize int32, emit func(module.Bundle) error) error {
	p := s3.NewListBucketsPaginator(cl, &s3.ListBucketsInput{MaxBuckets: aws.Int32(pageSize)},
		func(o *s3.ListBucketsPaginatorOptions) { o.StopOnDuplicateToken = true })
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, b := range page.Buckets {
			if err := emit(module.Bundle{
				"name": aws.ToString(b.Name), "createdAt": aws.ToTime(b.CreationDate).UTC(), "region": aws.ToString(b.BucketRegion),
			}); err != nil {
				return err
			}
		}
	}
	return nil
}
