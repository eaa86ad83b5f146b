package s3

import (
	"context"
	"iter"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// pages yields listing pages one at a time, so memory holds one page (at
// most 1,000 entries) whatever the bucket's size. maxKeys is the wanted page
// size (0: the server's maximum).
func pages(ctx context.Context, c *s3.Client, input s3.ListObjectsV2Input, maxKeys int32) iter.Seq2[*s3.ListObjectsV2Output, error] {
	return func(yield func(*s3.ListObjectsV2Output, error) bool) {
		if maxKeys > 0 {
			input.MaxKeys = aws.Int32(maxKeys)
		}
		p := s3.NewListObjectsV2Paginator(c, &input)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if !yield(page, err) || err != nil {
				return
			}
		}
	}
}

// pageSize asks for no more than a limit needs (0: no limit).
func pageSize(limit int64) int32 {
	if limit > 0 && limit < 1000 {
		return int32(limit)
	}
	return 0
}
