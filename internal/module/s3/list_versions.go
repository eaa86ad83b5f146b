package s3

import (
	"context"
	"fmt"
	"iter"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

// ListVersions is "List versions": one bundle per version or delete marker.
var ListVersions = &module.Module{
	Name:  "s3.list_versions",
	Verb:  "list-versions",
	Title: "List versions",
	Group: module.GroupObjects,
	Help: "Lists every version and delete marker of the files in a folder of a bucket, newest first for each file, following every page. " +
		"An unversioned bucket has one version per file, whose id S3 calls \"null\".",
	NeedsConnection: true,
	Many:            true,
	Fields: []module.Field{
		bucketField,
		prefixField,
		limitField,
		{Name: "recursive", Label: "Recursive", Type: module.Bool, Default: false,
			Help: "also list the files in every folder below the prefix"},
		regionField,
	},
	Outputs: []module.Output{
		{Name: "key", Type: module.String, Help: "the file's full path in the bucket"},
		{Name: "versionId", Type: module.String, Help: "the version's id (\"null\" for a version written while versioning was off)"},
		{Name: "isLatest", Type: module.Bool, Help: "true for the file's current version (or delete marker)"},
		{Name: "deleteMarker", Type: module.Bool, Help: "true when this entry is a delete marker, not data"},
		{Name: "size", Type: module.Int, Help: "size in bytes (0 for a delete marker)"},
		{Name: "lastModified", Type: module.Time, Help: "when it was written"},
		{Name: "etag", Type: module.String, Help: "the version's ETag (\"\" for a delete marker)"},
		{Name: "storageClass", Type: module.String, Help: "the version's storage class, e.g. STANDARD (\"\" for a delete marker)"},
	},
	Empty: func(in module.Values) string {
		return "no file versions " + emptyWhere(in)
	},
	Validate: checkBucketRef,
	Run:      runListVersions,
}

// versionEntry is one version or delete marker of a listing page.
type versionEntry struct {
	key, versionID, etag string
	storageClass         string
	isLatest, marker     bool
	size                 int64
	lastModified         time.Time
}

func runListVersions(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	c, err := client(ctx, env, in)
	if err != nil {
		return err
	}
	bucket, prefix, limit := in.String("bucket"), folderPrefix(in.String("prefix")), in.Int("limit")
	input := s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
	if !in.Bool("recursive") {
		input.Delimiter = aws.String("/")
	}
	files := fileEmitter{emit: emit, limit: limit}
	err = c.Do(ctx, func(cl *s3.Client) error {
		for page, err := range versionPages(ctx, cl, input, pageSize(limit)) {
			if err != nil {
				return err
			}
			for _, v := range pageVersions(page) {
				done, err := files.file(v.key, func(key string) module.Bundle {
					return module.Bundle{
						"key": key, "versionId": v.versionID, "isLatest": v.isLatest, "deleteMarker": v.marker,
						"size": v.size, "lastModified": v.lastModified, "etag": v.etag, "storageClass": v.storageClass,
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
		err = s3client.Explain(err)
		if notImplemented(err) {
			err = fmt.Errorf("%w; this server does not list versions (list-files shows the current files)", err)
		}
		return fmt.Errorf("list versions in %q under %q: %w", bucket, prefix, err)
	}
	return nil
}

// pageVersions merges a page's versions and delete markers in listing
// order: by key, then the latest first, then newest first.
func pageVersions(page *s3.ListObjectVersionsOutput) []versionEntry {
	entries := make([]versionEntry, 0, len(page.Versions)+len(page.DeleteMarkers))
	for _, v := range page.Versions {
		entries = append(entries, versionEntry{
			key: aws.ToString(v.Key), versionID: aws.ToString(v.VersionId), etag: aws.ToString(v.ETag), storageClass: string(v.StorageClass),
			isLatest: aws.ToBool(v.IsLatest), size: aws.ToInt64(v.Size), lastModified: aws.ToTime(v.LastModified).UTC(),
		})
	}
	for _, m := range page.DeleteMarkers {
		entries = append(entries, versionEntry{
			key: aws.ToString(m.Key), versionID: aws.ToString(m.VersionId), marker: true,
			isLatest: aws.ToBool(m.IsLatest), lastModified: aws.ToTime(m.LastModified).UTC(),
		})
	}
	slices.SortStableFunc(entries, func(a, b versionEntry) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		if a.isLatest != b.isLatest {
			if a.isLatest {
				return -1
			}
			return 1
		}
		return b.lastModified.Compare(a.lastModified)
	})
	return entries
}

// versionPages yields ListObjectVersions pages one at a time, like pages
// does for ListObjectsV2. Some servers (versitygw 1.8) list the entry the
// markers name once more at the top of the next page; each page is
// cleared of the entries the page before it held, and a server that does
// not move on is an error, not an endless loop.
func versionPages(ctx context.Context, c *s3.Client, input s3.ListObjectVersionsInput, maxKeys int32) iter.Seq2[*s3.ListObjectVersionsOutput, error] {
	return func(yield func(*s3.ListObjectVersionsOutput, error) bool) {
		if maxKeys > 0 {
			// One entry a page could be the repeated one each time.
			input.MaxKeys = aws.Int32(max(maxKeys, 2))
		}
		input.EncodingType = types.EncodingTypeUrl
		var seen map[versionRef]bool
		for {
			page, err := c.ListObjectVersions(ctx, &input)
			if err == nil {
				err = decodeVersionKeys(page)
			}
			var fresh int
			if err == nil {
				seen, fresh = dropRepeated(page, seen)
				more := aws.ToBool(page.IsTruncated)
				same := aws.ToString(page.NextKeyMarker) == aws.ToString(input.KeyMarker) &&
					aws.ToString(page.NextVersionIdMarker) == aws.ToString(input.VersionIdMarker)
				switch {
				case more && aws.ToString(page.NextKeyMarker) == "":
					err = fmt.Errorf("the server says the listing goes on but gives no marker to go on from")
				case more && fresh == 0 && same:
					err = fmt.Errorf("the server lists the same versions again after %q (version %q)", aws.ToString(input.KeyMarker), aws.ToString(input.VersionIdMarker))
				}
			}
			if !yield(page, err) || err != nil || !aws.ToBool(page.IsTruncated) {
				return
			}
			input.KeyMarker, input.VersionIdMarker = page.NextKeyMarker, page.NextVersionIdMarker
		}
	}
}

// versionRef names one version or delete marker.
type versionRef struct{ key, id string }

// dropRepeated removes from page the entries that seen (the page before)
// held, and returns the page's own entries and how many are new.
func dropRepeated(page *s3.ListObjectVersionsOutput, seen map[versionRef]bool) (map[versionRef]bool, int) {
	this := make(map[versionRef]bool, len(page.Versions)+len(page.DeleteMarkers))
	keep := func(key, id *string) bool {
		ref := versionRef{aws.ToString(key), aws.ToString(id)}
		this[ref] = true
		return !seen[ref]
	}
	page.Versions = slices.DeleteFunc(page.Versions, func(v types.ObjectVersion) bool { return !keep(v.Key, v.VersionId) })
	page.DeleteMarkers = slices.DeleteFunc(page.DeleteMarkers, func(m types.DeleteMarkerEntry) bool { return !keep(m.Key, m.VersionId) })
	return this, len(page.Versions) + len(page.DeleteMarkers)
}

// decodeVersionKeys undoes the URL encoding of a versions page, as
// decodeKeys does for ListObjectsV2. The key markers are encoded too, and
// go back to the server as plain keys.
func decodeVersionKeys(page *s3.ListObjectVersionsOutput) error {
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
	var keys []*string
	for i := range page.Versions {
		keys = append(keys, page.Versions[i].Key)
	}
	for i := range page.DeleteMarkers {
		keys = append(keys, page.DeleteMarkers[i].Key)
	}
	for i := range page.CommonPrefixes {
		keys = append(keys, page.CommonPrefixes[i].Prefix)
	}
	keys = append(keys, page.KeyMarker, page.NextKeyMarker, page.Prefix, page.Delimiter)
	for _, k := range keys {
		if err := decode(k); err != nil {
			return err
		}
	}
	return nil
}
