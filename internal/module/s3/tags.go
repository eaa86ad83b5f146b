package s3

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

// S3's limits on the tags of one object.
const (
	maxTags        = 10
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

// Fields the two tag modules share.
var (
	tagPathField = module.Field{
		Name: "path", Label: "Path", Type: module.String, Kind: module.ObjectKey, Required: true,
		Help: "the file's path in the bucket (a leading / is ignored)", Example: "/reports/q3.csv",
	}
	tagVersionField = module.Field{
		Name: "version_id", Flag: "version-id", Label: "Version", Type: module.String,
		Help: "a version of the file, in versioned buckets (default: the current one)",
	}
)

// GetTags is "Get tags": a file's tags as name/value pairs.
var GetTags = &module.Module{
	Name:            "s3.get_tags",
	Verb:            "get-tags",
	Title:           "Get tags",
	Group:           module.GroupObjects,
	Help:            "Reads a file's tags (up to 10 key/value pairs S3 keeps beside the data).",
	NeedsConnection: true,
	Fields:          []module.Field{bucketField, tagPathField, tagVersionField, regionField},
	Outputs: []module.Output{
		{Name: "bucket", Type: module.String}, {Name: "key", Type: module.String},
		{Name: "tags", Type: module.Map, Help: "the tags, key to value (empty when it has none)"},
		{Name: "versionId", Type: module.String, Help: "the version the tags belong to"},
	},
	Validate: checkObjectRef,
	Run:      runGetTags,
}

// SetTags is "Set tags": replaces all of a file's tags.
var SetTags = &module.Module{
	Name:            "s3.set_tags",
	Verb:            "set-tags",
	Title:           "Set tags",
	Group:           module.GroupObjects,
	Help:            "Replaces all of a file's tags with the ones given: tags it had that are not given are removed, and giving none removes every tag (Get tags shows what it has).",
	NeedsConnection: true,
	Fields: []module.Field{
		bucketField,
		tagPathField,
		{Name: "tags", Flag: "tag", Label: "Tags", Type: module.Pairs, Separator: "=",
			Help: "the file's new tags as key=value, e.g. 'team=finance' (a map in flows); at most 10, keys up to 128 characters, values up to 256"},
		tagVersionField,
		regionField,
	},
	Outputs: []module.Output{
		{Name: "bucket", Type: module.String}, {Name: "key", Type: module.String},
		{Name: "tags", Type: module.Map, Help: "the tags the file has now"},
	},
	Examples: []module.Example{{
		With: []module.Pair{{Name: "bucket", Value: "demo"}, {Name: "path", Value: "/reports/q3.csv"},
			{Name: "tags", Value: "team=finance"}, {Name: "tags", Value: "year=2026"}},
		Says: "replaces every tag of reports/q3.csv with team=finance and year=2026",
	}},
	Validate: func(in module.Values) error {
		if err := checkObjectRef(in); err != nil {
			return err
		}
		return checkTags(in.Pairs("tags"))
	},
	Run: runSetTags,
}

// checkTags applies S3's limits on object tags, so a bad set fails before
// any request with the rule it breaks.
func checkTags(tags []module.Pair) error {
	bad := func(format string, args ...any) error {
		return &module.InputError{Field: "tags", Rule: fmt.Sprintf(format, args...)}
	}
	if len(tags) > maxTags {
		return bad("%d tags given; a file may have at most %d", len(tags), maxTags)
	}
	seen := map[string]bool{}
	for _, t := range tags {
		switch n := utf8.RuneCountInString(t.Name); {
		case n == 0:
			return bad("a tag key may not be empty")
		case n > maxTagKeyLen:
			return bad("the key %q is %d characters; at most %d", t.Name, n, maxTagKeyLen)
		case strings.HasPrefix(strings.ToLower(t.Name), "aws:"):
			return bad("the key %q starts with aws:, which AWS reserves for itself", t.Name)
		}
		if n := utf8.RuneCountInString(t.Value); n > maxTagValueLen {
			return bad("the value of %q is %d characters; at most %d", t.Name, n, maxTagValueLen)
		}
		if seen[t.Name] {
			return bad("the key %q is given twice; each key may have one value", t.Name)
		}
		seen[t.Name] = true
	}
	return nil
}

func runGetTags(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	c, err := client(ctx, env, in)
	if err != nil {
		return err
	}
	bucket := in.String("bucket")
	key, err := objectKey(in.String("path"))
	if err != nil {
		return err
	}
	input := &s3.GetObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if v := in.String("version_id"); v != "" {
		input.VersionId = aws.String(v)
	}
	var out *s3.GetObjectTaggingOutput
	err = c.Do(ctx, func(cl *s3.Client) error {
		var err error
		out, err = cl.GetObjectTagging(ctx, input)
		return err
	})
	if err != nil {
		return fmt.Errorf("get the tags of %q in bucket %q: %w", key, bucket, s3client.Explain(err))
	}
	tags := make(map[string]string, len(out.TagSet))
	for _, t := range out.TagSet {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return emit(module.Bundle{"bucket": bucket, "key": key, "tags": tags, "versionId": aws.ToString(out.VersionId)})
}

func runSetTags(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	c, err := client(ctx, env, in)
	if err != nil {
		return err
	}
	bucket := in.String("bucket")
	key, err := objectKey(in.String("path"))
	if err != nil {
		return err
	}
	given := in.Pairs("tags")
	if err := checkTags(given); err != nil {
		return err
	}
	var version *string
	if v := in.String("version_id"); v != "" {
		version = aws.String(v)
	}
	tags := make(map[string]string, len(given))
	set := make([]types.Tag, len(given))
	for i, t := range given {
		tags[t.Name] = t.Value
		set[i] = types.Tag{Key: aws.String(t.Name), Value: aws.String(t.Value)}
	}
	// An empty set removes every tag: one request, one permission
	// (s3:PutObjectTagging), where DeleteObjectTagging would need another.
	input := &s3.PutObjectTaggingInput{
		Bucket: aws.String(bucket), Key: aws.String(key), VersionId: version, Tagging: &types.Tagging{TagSet: set},
	}
	err = c.Do(ctx, func(cl *s3.Client) error {
		_, err := cl.PutObjectTagging(ctx, input)
		return err
	})
	if err != nil {
		return fmt.Errorf("set the tags of %q in bucket %q: %w", key, bucket, s3client.Explain(err))
	}
	return emit(module.Bundle{"bucket": bucket, "key": key, "tags": tags})
}
