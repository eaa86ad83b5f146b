package s3

import (
	"context"
	"iter"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// spreadWidth is how many folders a recursive listing fetches at once: on
// this 2-core machine 2 and 8 listed 20,000 objects in 20 folders as fast
// as 4 (0.9 s, against 1.5 s one folder at a time); each one more holds up
// to two more pages (about 1 MiB of heap) while it waits its turn.
const spreadWidth = 4

// spreadPages yields a recursive listing's pages in key order, like pages,
// but lists the folders one level below the prefix side by side: a
// listing's pages come one after another (each needs the last one's
// continuation token), so one folder at a time leaves the server's other
// cores idle. It first asks for the folder level with a delimiter; when
// that does not fit in one page (a flat bucket), or holds fewer than two
// folders, it lists the ordinary way. At most spreadWidth folders are
// fetched ahead, each at most two pages ahead, so memory stays bounded.
func spreadPages(ctx context.Context, c *s3.Client, input s3.ListObjectsV2Input, maxKeys int32) iter.Seq2[*s3.ListObjectsV2Output, error] {
	return func(yield func(*s3.ListObjectsV2Output, error) bool) {
		top := input
		top.Delimiter = aws.String("/")
		var level *s3.ListObjectsV2Output
		for page, err := range pages(ctx, c, top, 0) {
			if err != nil {
				yield(nil, err)
				return
			}
			level = page
			break
		}
		if level == nil || aws.ToBool(level.IsTruncated) || len(level.CommonPrefixes) < 2 || ambiguousOrder(level) {
			for page, err := range pages(ctx, c, input, maxKeys) {
				if !yield(page, err) || err != nil {
					return
				}
			}
			return
		}

		ctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer wg.Wait()
		defer cancel()
		units := levelUnits(level)
		type result struct {
			page *s3.ListObjectsV2Output
			err  error
		}
		var folders []string
		for _, u := range units {
			if u.folder != "" {
				folders = append(folders, u.folder)
			}
		}
		feeds := make([]chan result, len(folders))
		start := func(k int) {
			if k >= len(folders) || feeds[k] != nil {
				return
			}
			ch := make(chan result, 1)
			feeds[k] = ch
			folder := input
			folder.Prefix = aws.String(folders[k])
			wg.Go(func() {
				defer close(ch)
				for page, err := range pages(ctx, c, folder, maxKeys) {
					select {
					case ch <- result{page, err}:
					case <-ctx.Done():
						return
					}
					if err != nil {
						return
					}
				}
			})
		}
		k := 0 // the next folder to yield
		for _, u := range units {
			if u.folder == "" {
				if !yield(&s3.ListObjectsV2Output{Contents: u.files}, nil) {
					return
				}
				continue
			}
			for ahead := range spreadWidth {
				start(k + ahead)
			}
			for r := range feeds[k] {
				if !yield(r.page, r.err) || r.err != nil {
					return
				}
			}
			k++
		}
	}
}

// ambiguousOrder reports whether a folder's name begins another name of
// the level followed by a character below "/": "many/" and "many.txt" sort
// one way by key (S3: "many.txt" first) and the other by name (SeaweedFS
// lists a folder's entries by name). Merging the level's files and folders
// could then change the server's order, so such a level is not spread.
func ambiguousOrder(level *s3.ListObjectsV2Output) bool {
	names := make([]string, 0, len(level.Contents)+len(level.CommonPrefixes))
	for _, o := range level.Contents {
		names = append(names, aws.ToString(o.Key))
	}
	for _, p := range level.CommonPrefixes {
		names = append(names, aws.ToString(p.Prefix))
	}
	for _, p := range level.CommonPrefixes {
		folder := strings.TrimSuffix(aws.ToString(p.Prefix), "/")
		for _, name := range names {
			if len(name) > len(folder) && strings.HasPrefix(name, folder) && name[len(folder)] < '/' {
				return true
			}
		}
	}
	return false
}

// levelUnit is one step of a spread listing, in key order: a run of files
// directly under the prefix, or one folder to list whole.
type levelUnit struct {
	files  []types.Object
	folder string
}

// levelUnits merges a delimited page's files and folders in key order. A
// file "a.txt" and the keys of folder "a/" never interleave, so comparing
// the file's key with the folder's prefix orders them.
func levelUnits(page *s3.ListObjectsV2Output) []levelUnit {
	var units []levelUnit
	files, folders := page.Contents, page.CommonPrefixes
	for len(files) > 0 || len(folders) > 0 {
		if len(folders) == 0 || (len(files) > 0 && strings.Compare(aws.ToString(files[0].Key), aws.ToString(folders[0].Prefix)) < 0) {
			if n := len(units); n > 0 && units[n-1].folder == "" {
				units[n-1].files = append(units[n-1].files, files[0])
			} else {
				units = append(units, levelUnit{files: []types.Object{files[0]}})
			}
			files = files[1:]
			continue
		}
		units = append(units, levelUnit{folder: aws.ToString(folders[0].Prefix)})
		folders = folders[1:]
	}
	return units
}
