package s3

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3flow/s3flow/internal/days"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

// deleteBatchSize is the most keys one DeleteObjects request may name.
const deleteBatchSize = 1000

// The statuses of Delete files bundles.
const (
	statusDeleted     = "deleted"
	statusWouldDelete = "would-delete"
	statusError       = "error"
)

// DeleteFiles is "Delete files": many files, by list or by folder.
var DeleteFiles = &module.Module{
	Name:  "s3.delete_files",
	Verb:  "delete-files",
	Title: "Delete files",
	Group: module.GroupObjects,
	Help: "Deletes many files, 1,000 per request: the paths of keys (a list, in flows) or keys_file (a local file, one path per line, on the command line), " +
		"or the files in the folder prefix (with recursive, in every folder below it too; optionally only those older than older_than). One bundle per file says what happened; dry_run only lists them. " +
		"The run fails at the end if any file could not be deleted.",
	NeedsConnection: true,
	Many:            true,
	Fields: []module.Field{
		bucketField,
		{Name: "keys", Label: "Paths", Type: module.List,
			Help: "the paths of the files to delete, a list (a leading / is ignored)"},
		{Name: "keys_file", Flag: "keys-file", Label: "Paths file", Type: module.FileRef,
			Help: "a text file with the paths to delete, one per line (blank lines are skipped)", Example: "./to-delete.txt"},
		{Name: "prefix", Label: "Folder", Type: module.String, Kind: module.Folder,
			Help: "delete the files in this folder, e.g. logs/2025 (/ and recursive for the whole bucket); folder markers included", Example: "logs/2025"},
		{Name: "recursive", Label: "Recursive", Type: module.Bool, Default: false,
			Help: "with prefix: also the files in every folder below it (default: the folder's own files only, as List files)"},
		{Name: "older_than", Flag: "older-than", Label: "Older than", Type: module.String,
			Help: "with prefix: only files last modified before this time (2026-01-31, 2026-01-31T12:00:00Z) or this long ago (720h, 30d, 1d12h)"},
		{Name: "dry_run", Flag: "dry-run", Label: "Dry run", Type: module.Bool, Default: false,
			Help: "list what would be deleted (status would-delete) and delete nothing"},
		regionField,
	},
	Outputs: []module.Output{
		{Name: "key", Type: module.String, Help: "the file's path"},
		{Name: "status", Type: module.String, Help: "deleted, would-delete (dry run) or error"},
		{Name: "code", Type: module.String, Help: "S3's error code, when status is error"},
		{Name: "message", Type: module.String, Help: "S3's error message, when status is error"},
	},
	Examples: []module.Example{{
		With: []module.Pair{{Name: "bucket", Value: "demo"}, {Name: "prefix", Value: "logs/2025"}, {Name: "dry_run", Value: "true"}},
		Says: "lists the files in logs/2025 that would be deleted; deletes nothing",
	}, {
		With: []module.Pair{{Name: "bucket", Value: "demo"}, {Name: "prefix", Value: "logs/2025"}},
		Says: "deletes the files in logs/2025 (not in its subfolders: add --recursive)",
	}},
	Empty: func(in module.Values) string {
		if in.String("prefix") == "" {
			return "no files to delete"
		}
		return "nothing deleted: no files " + emptyWhere(in)
	},
	Validate: checkDeleteFiles,
	Run:      runDeleteFiles,
}

func checkDeleteFiles(in module.Values) error {
	if err := checkBucketRef(in); err != nil {
		return err
	}
	var given []string
	if in["keys"] != nil {
		given = append(given, "keys")
	}
	if in.File("keys_file") != nil {
		given = append(given, "keys_file")
	}
	if in.String("prefix") != "" {
		given = append(given, "prefix")
	}
	switch len(given) {
	case 0:
		return &module.InputError{Field: "prefix", Rule: "say what to delete: give exactly one of {keys}, {keys_file} and {prefix} (/ for the whole bucket)",
			Refs: []string{"keys", "keys_file", "prefix"}}
	case 1:
	default:
		return &module.InputError{Field: given[1], Rule: fmt.Sprintf("give exactly one of {keys}, {keys_file} and {prefix}, not {%s}", strings.Join(given, "} and {")),
			Refs: []string{"keys", "keys_file", "prefix"}}
	}
	if in.String("older_than") != "" {
		if given[0] != "prefix" {
			return &module.InputError{Field: "older_than", Rule: "works only with {prefix} (the dates come from the listing)", Refs: []string{"prefix"}}
		}
		if _, err := parseOlderThan(in.String("older_than"), time.Now()); err != nil {
			return err
		}
	}
	for i, item := range in.List("keys") {
		if _, err := listedKey(item, i); err != nil {
			return err
		}
	}
	return nil
}

// listedKey turns one item of the keys list into a key.
func listedKey(item any, i int) (string, error) {
	var s string
	switch v := item.(type) {
	case string:
		s = v
	case int, int64:
		s = fmt.Sprint(v) // a YAML list item such as 2026
	default:
		return "", &module.InputError{Field: "keys", Rule: fmt.Sprintf("item %d must be a path (text), got %T", i+1, item)}
	}
	key, err := deleteKey(s)
	if err != nil {
		return "", &module.InputError{Field: "keys", Rule: fmt.Sprintf("item %d: %v", i+1, err)}
	}
	return key, nil
}

// deleteKey turns a given path into a key: a leading / is ignored.
func deleteKey(p string) (string, error) {
	key := strings.TrimPrefix(p, "/")
	switch {
	case key == "":
		return "", fmt.Errorf("%q is not a path", p)
	case !utf8.ValidString(key):
		return "", fmt.Errorf("%q is not valid UTF-8", p)
	case strings.ContainsRune(key, 0):
		return "", fmt.Errorf("%q %s", p, nulRule)
	case len(key) > 1024:
		return "", fmt.Errorf("%q is %d bytes; S3 allows 1024", key, len(key))
	}
	return key, nil
}

// parseOlderThan reads older_than: a time (RFC 3339, or a date meaning
// midnight UTC) or a duration back from now (Go's 720h, or days: 30d,
// 1d12h). Files last modified before the result are older.
func parseOlderThan(s string, now time.Time) (time.Time, error) {
	bad := func(why string) error {
		return &module.InputError{Field: "older_than", Rule: fmt.Sprintf("%q %s; give a time (2026-01-31, 2026-01-31T12:00:00Z) or a duration (720h, 30d, 1d12h)", s, why)}
	}
	v := strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	if v == "" {
		return time.Time{}, bad("is no time at all")
	}
	d, err := days.Parse(v)
	var de *days.Error
	switch {
	case errors.As(err, &de) && de.Why == days.Negative:
		return time.Time{}, bad("is negative")
	case errors.As(err, &de) && de.Why == days.TooLong:
		return time.Time{}, bad("is too long ago")
	case err != nil:
		return time.Time{}, bad("is neither a time nor a duration")
	case d <= 0:
		return time.Time{}, bad("is no time at all")
	}
	return now.Add(-d), nil
}

func runDeleteFiles(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	c, err := client(ctx, env, in)
	if err != nil {
		return err
	}
	d := &bulkDelete{env: env, bucket: in.String("bucket"), dryRun: in.Bool("dry_run"), emit: emit}
	switch {
	case in.String("prefix") != "":
		var cutoff time.Time
		if s := in.String("older_than"); s != "" {
			if cutoff, err = parseOlderThan(s, time.Now()); err != nil {
				return err
			}
		}
		prefix := folderPrefix(in.String("prefix"))
		if err := d.byPrefix(ctx, c, prefix, in.Bool("recursive"), cutoff); err != nil {
			return fmt.Errorf("delete files in bucket %q under %q: %w", d.bucket, prefix, s3client.Explain(err))
		}
	case in.File("keys_file") != nil:
		file := in.File("keys_file")
		// A bad line is reported before anything is deleted.
		for _, err := range fileKeys(file) {
			if err != nil {
				return err
			}
		}
		if err := d.byKeys(ctx, c, fileKeys(file)); err != nil {
			return fmt.Errorf("delete files in bucket %q: %w", d.bucket, s3client.Explain(err))
		}
	default:
		keys := make([]string, 0, len(in.List("keys")))
		for i, item := range in.List("keys") {
			key, err := listedKey(item, i)
			if err != nil {
				return err
			}
			keys = append(keys, key)
		}
		seq := func(yield func(string, error) bool) {
			for _, k := range keys {
				if !yield(k, nil) {
					return
				}
			}
		}
		if err := d.byKeys(ctx, c, seq); err != nil {
			return fmt.Errorf("delete files in bucket %q: %w", d.bucket, s3client.Explain(err))
		}
	}
	if d.failed > 0 {
		return fmt.Errorf("delete files in bucket %q: %d of %d files could not be deleted; the bundles with status error say why", d.bucket, d.failed, d.total)
	}
	return nil
}

// fileKeys yields the keys of a keys file, one per line; a line ending in
// CR LF loses the CR, blank lines are skipped.
func fileKeys(file module.File) iter.Seq2[string, error] {
	name := file.Name()
	return func(yield func(string, error) bool) {
		f, err := file.Open()
		if err != nil {
			yield("", &module.InputError{Field: "keys_file", Rule: err.Error()})
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		line := 0
		for sc.Scan() {
			line++
			text := strings.TrimSuffix(sc.Text(), "\r")
			if strings.TrimSpace(text) == "" {
				continue
			}
			key, err := deleteKey(text)
			if err != nil {
				yield("", &module.InputError{Field: "keys_file", Rule: fmt.Sprintf("%s line %d: %v", name, line, err)})
				return
			}
			if !yield(key, nil) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				err = fmt.Errorf("line %d is longer than any key", line+1)
			}
			yield("", &module.InputError{Field: "keys_file", Rule: fmt.Sprintf("read %s: %v", name, err)})
		}
	}
}

// keyBatches groups keys into batches of at most n, holding one batch.
func keyBatches(keys iter.Seq2[string, error], n int) iter.Seq2[[]string, error] {
	return func(yield func([]string, error) bool) {
		batch := make([]string, 0, n)
		for k, err := range keys {
			if err != nil {
				yield(nil, err)
				return
			}
			batch = append(batch, k)
			if len(batch) == n {
				if !yield(batch, nil) {
					return
				}
				batch = make([]string, 0, n)
			}
		}
		if len(batch) > 0 {
			yield(batch, nil)
		}
	}
}

// bulkDelete deletes batches of keys and emits one bundle per key.
type bulkDelete struct {
	env    module.Env
	bucket string
	dryRun bool
	emit   func(module.Bundle) error

	total, failed int
}

// byPrefix deletes what a listing finds, a page at a time: the listing is
// never held whole, and a key is deleted at most a page after it is seen.
func (d *bulkDelete) byPrefix(ctx context.Context, c *s3client.Client, prefix string, recursive bool, cutoff time.Time) error {
	input := s3.ListObjectsV2Input{Bucket: aws.String(d.bucket), Prefix: aws.String(prefix)}
	if !recursive {
		input.Delimiter = aws.String("/")
	}
	return c.Do(ctx, func(cl *s3.Client) error {
		for page, err := range pages(ctx, cl, input, 0) {
			if err != nil {
				return err
			}
			keys := make([]string, 0, len(page.Contents))
			for _, o := range page.Contents {
				if !cutoff.IsZero() && !aws.ToTime(o.LastModified).Before(cutoff) {
					continue
				}
				keys = append(keys, aws.ToString(o.Key))
			}
			// S3 pages hold at most 1,000 keys; other servers may send more.
			for batch := range slices.Chunk(keys, deleteBatchSize) {
				if err := d.batch(ctx, cl, batch); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// byKeys deletes the keys given, in batches.
func (d *bulkDelete) byKeys(ctx context.Context, c *s3client.Client, keys iter.Seq2[string, error]) error {
	for batch, err := range keyBatches(keys, deleteBatchSize) {
		if err != nil {
			return err
		}
		// The same key twice in one request is refused by some servers.
		seen := make(map[string]bool, len(batch))
		batch = slices.DeleteFunc(batch, func(k string) bool {
			dup := seen[k]
			seen[k] = true
			return dup
		})
		err := c.Do(ctx, func(cl *s3.Client) error { return d.batch(ctx, cl, batch) })
		if err != nil {
			return err
		}
	}
	return nil
}

// batch deletes up to 1,000 keys with one DeleteObjects request (none in a
// dry run) and emits a bundle for each. S3 answers in quiet mode with the
// keys it could not delete; every other key is deleted (a key that did not
// exist counts as deleted, as S3 says).
func (d *bulkDelete) batch(ctx context.Context, cl *s3.Client, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	failed := map[string]types.Error{}
	if !d.dryRun {
		ids := make([]types.ObjectIdentifier, len(keys))
		for i, k := range keys {
			ids[i] = types.ObjectIdentifier{Key: aws.String(k)}
		}
		d.env.Log().DebugContext(ctx, "delete batch", "bucket", d.bucket, "keys", len(keys))
		out, err := cl.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(d.bucket), Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return err
		}
		for _, e := range out.Errors {
			failed[aws.ToString(e.Key)] = e
		}
	}
	for _, k := range keys {
		d.total++
		b := module.Bundle{"key": k, "status": statusDeleted, "code": "", "message": ""}
		if d.dryRun {
			b["status"] = statusWouldDelete
		} else if e, ok := failed[k]; ok {
			d.failed++
			b["status"], b["code"], b["message"] = statusError, aws.ToString(e.Code), aws.ToString(e.Message)
		}
		if err := d.emit(b); err != nil {
			return err
		}
	}
	return nil
}
