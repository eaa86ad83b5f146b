package s3

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

// maxWaitListed bounds the files the bundle of Wait for files lists; its
// count counts them all.
const maxWaitListed = 1000

// WaitForFiles is "Wait for files": a step that holds its bundle until
// files matching a glob pattern are in a folder. It reports
// module.Waiting between checks, so a server suspends the run on its
// queue (no worker is held) and the CLI sleeps in between.
var WaitForFiles = &module.Module{
	Name:  "s3.wait_for_files",
	Verb:  "wait-for-files",
	Title: "Wait for files",
	Group: module.GroupObjects,
	Help: "Waits until at least count files matching pattern are in a folder of a bucket (and, with settle, have not changed for that long), " +
		"checking again and again up to timeout, then emits one bundle that lists them.",
	NeedsConnection: true,
	Waits:           true,
	Fields: []module.Field{
		bucketField,
		prefixField,
		{Name: "pattern", Label: "Pattern", Type: module.String, Example: "*.csv",
			Help: "glob matched against each key after the prefix: * and ? match within one folder level (not /), [a-z] a character of a class; " +
				"*/*.csv looks one folder down (default: every file in the folder)"},
		{Name: "count", Label: "Count", Type: module.Int, Default: int64(1), Min: module.AtLeast(1),
			Help: "how many matching files to wait for, at least"},
		{Name: "settle", Label: "Settle", Type: module.String,
			Help: "also wait until the matching files (their names, sizes and ETags) have not changed for this long, e.g. 30s or 2m (default: no settling)"},
		{Name: "timeout", Label: "Timeout", Type: module.String, Default: "1h",
			Help: "how long to wait in all, from the first check, e.g. 10m or 24h: then the step fails and its on_error decides"},
		regionField,
	},
	Outputs: []module.Output{
		{Name: "files", Type: module.List, Help: "the matching files in key order (the first 1,000), each with key, size, lastModified (text), etag and storageClass as List files gives them"},
		{Name: "count", Type: module.Int, Help: "how many files matched"},
		{Name: "since", Type: module.Time, Help: "when the wait began"},
	},
	Examples: []module.Example{
		{With: []module.Pair{{Name: "bucket", Value: "demo"}, {Name: "prefix", Value: "reports/daily/2026-11-24"}, {Name: "pattern", Value: "*.csv"},
			{Name: "count", Value: "1"}, {Name: "settle", Value: "2s"}, {Name: "timeout", Value: "10m"}},
			Says: "waits up to ten minutes for a CSV file of the day that has not changed for 2 seconds"},
	},
	Validate: checkWaitForFiles,
	Run:      runWaitForFiles,
}

// waitOptions are the checked inputs of Wait for files.
type waitOptions struct {
	bucket, prefix, pattern string
	count                   int64
	settle, timeout         time.Duration
}

func checkWaitForFiles(in module.Values) error {
	if err := checkBucketRef(in); err != nil {
		return err
	}
	_, err := waitInputs(in)
	return err
}

func waitInputs(in module.Values) (waitOptions, error) {
	o := waitOptions{bucket: in.String("bucket"), prefix: folderPrefix(in.String("prefix")),
		pattern: strings.TrimPrefix(in.String("pattern"), "/"), count: in.Int("count")}
	if _, err := path.Match(o.pattern, ""); err != nil {
		return o, &module.InputError{Field: "pattern", Rule: fmt.Sprintf("%q is not a glob pattern (an unclosed [ or a trailing \\?)", o.pattern)}
	}
	var err error
	if o.settle, err = waitDuration(in, "settle", 0); err != nil {
		return o, err
	}
	if o.timeout, err = waitDuration(in, "timeout", time.Second); err != nil {
		return o, err
	}
	return o, nil
}

// waitDuration reads a duration input such as 30s or 2h ("" is none);
// a duration must be at least least.
func waitDuration(in module.Values, field string, least time.Duration) (time.Duration, error) {
	s := strings.TrimSpace(in.String(field))
	if s == "" && least == 0 {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < least || d < 0 {
		rule := fmt.Sprintf("%q is not a duration; give one such as 30s, 10m or 2h", s)
		if err == nil {
			rule = fmt.Sprintf("%q is too short: at least %s", s, max(least, time.Second))
		}
		return 0, &module.InputError{Field: field, Rule: rule}
	}
	return d, nil
}

func runWaitForFiles(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	o, err := waitInputs(in)
	if err != nil {
		return err
	}
	c, err := client(ctx, env, in)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	since := env.Wait.Since
	if since.IsZero() {
		since = now
	}
	input := s3.ListObjectsV2Input{Bucket: aws.String(o.bucket), Prefix: aws.String(o.prefix)}
	if !strings.Contains(o.pattern, "/") {
		// The pattern cannot match below the folder: its files are enough.
		input.Delimiter = aws.String("/")
	}
	var (
		files []any
		n     int64
		sum   = sha256.New()
	)
	err = c.Do(ctx, func(cl *s3.Client) error {
		files, n = nil, 0
		sum.Reset()
		for page, err := range pages(ctx, cl, input, 0) {
			if err != nil {
				return err
			}
			for _, obj := range page.Contents {
				key := aws.ToString(obj.Key)
				if strings.HasSuffix(key, "/") {
					continue
				}
				if o.pattern != "" {
					if ok, _ := path.Match(o.pattern, strings.TrimPrefix(key, o.prefix)); !ok {
						continue
					}
				}
				n++
				// What settle watches: the names, sizes and ETags of
				// every match, held as one digest whatever their number.
				fmt.Fprintf(sum, "%q %d %q\n", key, aws.ToInt64(obj.Size), aws.ToString(obj.ETag))
				if len(files) < maxWaitListed {
					files = append(files, map[string]any{
						"key": key, "size": aws.ToInt64(obj.Size), "lastModified": module.FormatTime(aws.ToTime(obj.LastModified)),
						"etag": aws.ToString(obj.ETag), "storageClass": string(obj.StorageClass),
					})
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("wait for files in %q under %q: %w", o.bucket, o.prefix, s3client.Explain(err))
	}
	digest := hex.EncodeToString(sum.Sum(nil))
	// seenAt is when the matches were first seen as they are now.
	seenAt := now
	if prev := env.Wait.State; prev["files"] == digest {
		if t, err := time.Parse(time.RFC3339Nano, prev["seenAt"]); err == nil && !t.After(now) {
			seenAt = t
		}
	}
	found := fmt.Sprintf("%d of %d file(s)", n, o.count)
	enough := n >= o.count
	unchanged := now.Sub(seenAt)
	if enough && unchanged >= o.settle {
		return emit(module.Bundle{"files": files, "count": n, "since": since})
	}
	if enough {
		found += fmt.Sprintf(", unchanged for %s of settle %s", unchanged.Truncate(time.Second), o.settle)
	}
	deadline := since.Add(o.timeout)
	if !now.Before(deadline) {
		what := ""
		if enough {
			what = fmt.Sprintf(", which had not stopped changing for settle %s", o.settle)
		}
		return fmt.Errorf("timed out after %s waiting for at least %d file(s) matching %q under %q in bucket %q: found %d%s",
			o.timeout, o.count, o.pattern, o.prefix, o.bucket, n, what)
	}
	// Check often at first, then less, as the wait grows old: a tenth of
	// the time waited so far, from 1s to 1m, never past the settle time
	// or the deadline.
	after := min(max(now.Sub(since)/10, time.Second), time.Minute)
	if enough {
		after = min(after, o.settle-unchanged)
	}
	after = max(min(after, deadline.Sub(now)), 10*time.Millisecond)
	return &module.Waiting{After: after, Found: found,
		State: map[string]string{"files": digest, "seenAt": seenAt.Format(time.RFC3339Nano)}}
}
