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

// spreadWidth is how many folders of one level a recursive listing
// fetches ahead of the one it yields: on this 2-core machine 2 and 8
// listed 20,000 objects in 20 folders as fast as 4 (0.9 s, against 1.5 s
// one folder at a time). walkAhead bounds the folders fetched ahead at all
// levels together; each holds up to two pages (about 1 MiB of heap) while
// it waits its turn, so memory stays bounded whatever the tree.
const (
	spreadWidth = 4
	walkAhead   = 8
)

// spreadPages yields a recursive listing's pages in key order, like pages,
// but lists folders side by side: a listing's pages come one after
// another (each needs the last one's continuation token), so one folder
// at a time leaves the server's other cores idle. It lists the level
// below the prefix with a delimiter; where that level holds one folder
// alone, it goes down into it, and so on, to the first level with two or
// more folders (or none). That level's files are yielded as they come and
// its folders listed whole, up to spreadWidth fetched ahead while the
// first is yielded. A level whose first page is ambiguous in order (see
// ambiguousOrder) is listed the ordinary way, in the server's own order.
func spreadPages(ctx context.Context, c *s3.Client, input s3.ListObjectsV2Input, maxKeys int32) iter.Seq2[*s3.ListObjectsV2Output, error] {
	w := &walker{c: c, maxKeys: maxKeys, ahead: make(chan struct{}, walkAhead)}
	return w.level(ctx, input)
}

// walker is one recursive listing's walk of the tree.
type walker struct {
	c       *s3.Client
	maxKeys int32
	// ahead holds a token for each folder being fetched ahead, at any
	// level; a folder is fetched ahead only when one is free, and the
	// folder being yielded never waits for one (it is listed in place).
	ahead chan struct{}
}

// feed is a folder fetched ahead: its pages, in order.
type feed chan walked

type walked struct {
	page *s3.ListObjectsV2Output
	err  error
}

// level yields the listing of everything under input.Prefix, in key order.
func (w *walker) level(ctx context.Context, input s3.ListObjectsV2Input) iter.Seq2[*s3.ListObjectsV2Output, error] {
	return func(yield func(*s3.ListObjectsV2Output, error) bool) {
		delimited := input
		delimited.Delimiter = aws.String("/")
		first := true
		for page, err := range pagesAhead(ctx, w.c, delimited, w.maxKeys) {
			if err != nil {
				yield(nil, err)
				return
			}
			if first && ambiguousOrder(page) {
				for page, err := range pagesAhead(ctx, w.c, input, w.maxKeys) {
					if !yield(page, err) || err != nil {
						return
					}
				}
				return
			}
			// One folder alone on the level (one/ holding 100 folders): the
			// walk goes down into it, to the level where folders stand side
			// by side. Two or more are listed whole, side by side: going
			// further down costs a request per folder, which a deep tree of
			// small folders (10,000 with one file each) pays many times
			// over.
			descend := first && !aws.ToBool(page.IsTruncated) && len(page.CommonPrefixes) == 1
			first = false
			if !w.units(ctx, input, levelUnits(page), descend, yield) {
				return
			}
		}
	}
}

// units yields one delimited page's files and the walks of its folders,
// in key order, fetching up to spreadWidth folders ahead. It reports
// whether the listing goes on.
func (w *walker) units(ctx context.Context, input s3.ListObjectsV2Input, units []levelUnit, descend bool, yield func(*s3.ListObjectsV2Output, error) bool) bool {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var folders []string
	for _, u := range units {
		if u.folder != "" {
			folders = append(folders, u.folder)
		}
	}
	feeds := make([]feed, len(folders))
	list := func(k int) iter.Seq2[*s3.ListObjectsV2Output, error] {
		in := input
		in.Prefix = aws.String(folders[k])
		if descend {
			return w.level(ctx, in)
		}
		return pages(ctx, w.c, in, w.maxKeys)
	}
	fetchAhead := func(k int) {
		if k >= len(folders) || feeds[k] != nil {
			return
		}
		select {
		case w.ahead <- struct{}{}:
		default:
			return // listed in place when its turn comes
		}
		ch := make(feed, 1)
		feeds[k] = ch
		wg.Go(func() {
			defer func() { <-w.ahead }()
			defer close(ch)
			forward(ctx, list(k), ch)
		})
	}
	k := 0 // the next folder to yield
	for _, u := range units {
		if u.folder == "" {
			if !yield(&s3.ListObjectsV2Output{Contents: u.files}, nil) {
				return false
			}
			continue
		}
		for ahead := 1; ahead < spreadWidth; ahead++ {
			fetchAhead(k + ahead)
		}
		if feeds[k] == nil {
			for page, err := range list(k) {
				if !yield(page, err) || err != nil {
					return false
				}
			}
		} else {
			for r := range feeds[k] {
				if !yield(r.page, r.err) || r.err != nil {
					return false
				}
			}
			// A feed cut short by a cancelled listing must not read as a
			// folder that ended.
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return false
			}
		}
		k++
	}
	return true
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
