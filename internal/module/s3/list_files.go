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

// ListFiles is "List files": one bundle per object in a folder.
var ListFiles = &module.Module{
	Name:            "s3.list_files",
	Verb:            "list-files",
	Title:           "List files",
	Group:           module.GroupObjects,
	Help:            "Lists the files in a folder of a bucket, one bundle per file, following every page.",
	NeedsConnection: true,
	Many:            true,
	Fields: []module.Field{
		bucketField,
		prefixField,
		limitField,
		{Name: "recursive", Label: "Recursive", Type: module.Bool, Default: false,
			Help: "also list the files in every folder below the prefix (default: the folder's own files only, as Delete files)"},
		{Name: "start_after", Flag: "start-after", Label: "Start after", Type: module.String, Kind: module.ObjectKey,
			Help: "list only the keys after this one, in S3's order (UTF-8 bytes): for keys that grow in order, such as dated paths"},
		regionField,
	},
	Outputs: []module.Output{
		{Name: "key", Type: module.String, Help: "the object's full path in the bucket"},
		{Name: "size", Type: module.Int, Help: "size in bytes"},
		{Name: "lastModified", Type: module.Time, Help: "when it was last written"},
		{Name: "etag", Type: module.String, Help: "the object's ETag"},
		{Name: "storageClass", Type: module.String, Help: "e.g. STANDARD"},
	},
	Empty: func(in module.Values) string {
		return "no files " + emptyWhere(in)
	},
	Validate: checkBucketRef,
	Run:      runListFiles,
}

// fileEmitter passes a listing's files on as bundles, up to limit (0: no
// limit). Keys ending in "/" are folder markers, not files, and are left
// out.
type fileEmitter struct {
	emit           func(module.Bundle) error
	limit, emitted int64
}

// file emits the bundle for key, unless key is a folder marker; done says
// the limit is reached.
func (f *fileEmitter) file(key string, bundle func(key string) module.Bundle) (done bool, err error) {
	if strings.HasSuffix(key, "/") {
		return false, nil
	}
	if err := f.emit(bundle(key)); err != nil {
		return false, err
	}
	f.emitted++
	return f.limit > 0 && f.emitted >= f.limit, nil
}

func runListFiles(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	c, err := client(ctx, env, in)
	if err != nil {
		return err
	}
	bucket, prefix, limit := in.String("bucket"), folderPrefix(in.String("prefix")), in.Int("limit")
	input := s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
	if !in.Bool("recursive") {
		input.Delimiter = aws.String("/")
	}
	if after := in.String("start_after"); after != "" {
		input.StartAfter = aws.String(after)
	}
	files := fileEmitter{emit: emit, limit: limit}
	err = c.Do(ctx, func(cl *s3.Client) error {
		// A limit wants the first keys soonest, one page after another:
		// a page fetched ahead could be one too many.
		list := pages
		switch {
		case in.Bool("recursive") && limit == 0 && input.StartAfter == nil:
			// A whole recursive listing: folders side by side. A
			// start_after listing is one range of keys.
			list = spreadPages
		case limit == 0:
			list = pagesAhead
		}
		for page, err := range list(ctx, cl, input, pageSize(limit)) {
			if err != nil {
				return err
			}
			for _, o := range page.Contents {
				done, err := files.file(aws.ToString(o.Key), func(key string) module.Bundle {
					return module.Bundle{
						"key": key, "size": aws.ToInt64(o.Size), "lastModified": aws.ToTime(o.LastModified).UTC(),
						"etag": aws.ToString(o.ETag), "storageClass": string(o.StorageClass),
					}
				})
				if err != nil || done {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list files in %q under %q: %w", bucket, prefix, s3client.Explain(err))
	}
	return nil
}

// emptyWhere says where a listing that found nothing looked: in a folder
// only, or below it too (the recursive input), so that a person who
// expected files in its subfolders sees why.
func emptyWhere(in module.Values) string {
	where := in.String("bucket") + "/" + folderPrefix(in.String("prefix"))
	if in.Bool("recursive") {
		return "under " + where
	}
	return "in " + where + " (its subfolders are not looked in without recursive)"
}
