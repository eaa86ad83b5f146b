package s3

import (
	"context"
	"fmt"
	"iter"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// pages yields listing pages one at a time, so memory holds one page (at
// most 1,000 entries) whatever the bucket's size. maxKeys is the wanted page
// size (0: the server's maximum).
func pages(ctx context.Context, c *s3.Client, input s3.ListObjectsV2Input, maxKeys int32) iter.Seq2[*s3.ListObjectsV2Output, error] {
	return func(yield func(*s3.ListObjectsV2Output, error) bool) {
		if maxKeys > 0 {
			input.MaxKeys = aws.Int32(maxKeys)
		}
		// Keys may hold characters XML 1.0 cannot carry (U+0001, say); asked
		// for URL-encoded keys, S3 sends them safely, as the aws CLI asks.
		input.EncodingType = types.EncodingTypeUrl
		p := s3.NewListObjectsV2Paginator(c, &input)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err == nil {
				err = decodeKeys(page)
			}
			if !yield(page, err) || err != nil {
				return
			}
		}
	}
}

// pagesAhead is pages with the next page fetched while the caller works
// on the one yielded. A folder's pages come one after another (each needs
// the last one's continuation token); without this, the time the caller
// takes over a page (a thousand bundles printed or handed to the next
// step) is added to every round trip. Memory holds two pages.
func pagesAhead(ctx context.Context, c *s3.Client, input s3.ListObjectsV2Input, maxKeys int32) iter.Seq2[*s3.ListObjectsV2Output, error] {
	return func(yield func(*s3.ListObjectsV2Output, error) bool) {
		fetchCtx, cancel := context.WithCancel(ctx)
		next := make(chan walked)
		go func() {
			defer close(next)
			forward(fetchCtx, pages(fetchCtx, c, input, maxKeys), next)
		}()
		defer func() {
			// A caller that stops early cuts the page in flight short; the
			// fetcher is gone before the listing returns.
			cancel()
			for range next {
			}
		}()
		for r := range next {
			if !yield(r.page, r.err) || r.err != nil {
				return
			}
		}
		// The fetcher also stops when ctx ends: that is no end of the
		// folder.
		if err := ctx.Err(); err != nil {
			yield(nil, err)
		}
	}
}

// forward sends the pages of list to next until the listing ends, fails
// (its error is sent too) or ctx ends.
func forward(ctx context.Context, list iter.Seq2[*s3.ListObjectsV2Output, error], next chan<- walked) {
	for page, err := range list {
		select {
		case next <- walked{page, err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// decodeKeys undoes the URL encoding of a page's keys and prefixes. Only a
// page that says it is encoded is decoded: servers that ignore
// encoding-type send keys as they are, and "a+b" must stay "a+b".
func decodeKeys(page *s3.ListObjectsV2Output) error {
	if page.EncodingType != types.EncodingTypeUrl {
		return nil
	}
	decode := func(s *string) error {
		if s == nil {
			return nil
		}
		d, err := url.QueryUnescape(*s)
		if err != nil {
			return fmt.Errorf("the server sent a badly encoded key %q: %w", *s, err)
		}
		*s = d
		return nil
	}
	for i := range page.Contents {
		if err := decode(page.Contents[i].Key); err != nil {
			return err
		}
	}
	for i := range page.CommonPrefixes {
		if err := decode(page.CommonPrefixes[i].Prefix); err != nil {
			return err
		}
	}
	for _, s := range []*string{page.Prefix, page.Delimiter, page.StartAfter} {
		if err := decode(s); err != nil {
			return err
		}
	}
	return nil
}

// pageSize asks for no more than a limit needs (0: no limit).
func pageSize(limit int64) int32 {
	if limit > 0 && limit < 1000 {
		return int32(limit)
	}
	return 0
}
