// Command sdkcalls makes the S3 calls of bench/compare.sh's two flows with
// s3flow's S3 client alone: the client the modules use (internal/s3client,
// the AWS SDK for Go v2 as s3flow sets it up), called from a plain loop of
// goroutines, with no flow engine, no modules and no run history. Its CPU
// is the floor under the flow rows: what the SDK's request path costs for
// the same objects, which no change to s3flow's own code can go below.
//
//	sdkcalls -endpoint URL -c 16 upload DIR BUCKET PREFIX
//	sdkcalls -endpoint URL -c 16 copy BUCKET PREFIX TO_BUCKET TO_PREFIX
//	sdkcalls -endpoint URL -c 4 list BUCKET
//
// upload puts every file of DIR (not its subfolders) as PREFIX/NAME, read
// from disk as the flow's file.list and upload_file do; copy lists
// BUCKET/PREFIX and copies every object to TO_BUCKET/TO_PREFIX/NAME on the
// server, as the flow's list_files and copy_file do. list makes the
// requests of "s3flow s3 list-files --recursive" (bench/list-layouts.sh):
// it goes down through levels holding one folder alone, then lists the
// folders of the first level with more whole, side by side; it prints the
// number of objects and nothing else. The keys come from AWS_ACCESS_KEY_ID
// and AWS_SECRET_ACCESS_KEY.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/encoding/httpbinding"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/gctune"
	"github.com/s3flow/s3flow/internal/s3client"
)

func main() {
	endpoint := flag.String("endpoint", "", "the S3-compatible endpoint (path-style)")
	callers := flag.Int("c", 16, "calls in flight at once")
	flag.Parse()
	if err := run(context.Background(), *endpoint, *callers, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "sdkcalls:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, endpoint string, callers int, args []string) error {
	if endpoint == "" || callers < 1 || len(args) == 0 {
		return errors.New("usage: sdkcalls -endpoint URL [-c N] upload DIR BUCKET PREFIX | copy BUCKET PREFIX TO_BUCKET TO_PREFIX | list BUCKET")
	}
	conn := connection.Connection{
		Name:            "bench",
		Kind:            connection.KindKeys,
		AccessKeyID:     os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretAccessKey: connection.NewSecret(os.Getenv("AWS_SECRET_ACCESS_KEY")),
		Endpoint:        endpoint,
		PathStyle:       true,
		ChecksumMode:    connection.DefaultChecksumMode(endpoint),
		AllowPrivate:    true, // the benchmark's server is on loopback
	}
	client, err := s3client.New(ctx, conn, "", s3client.Options{})
	if err != nil {
		return err
	}
	api := client.S3("")
	// The collector as s3flow tunes it (see gctune): for the flows, as
	// "s3flow run" does; not for the listing, as list-files does not.
	// The floor is then not raised by a setting s3flow does not have.
	if args[0] != "list" {
		defer gctune.Start(os.Getenv).Stop()
	}
	switch {
	case args[0] == "upload" && len(args) == 4:
		return upload(ctx, api, callers, args[1], args[2], args[3])
	case args[0] == "copy" && len(args) == 5:
		return copyAll(ctx, api, callers, args[1], args[2], args[3], args[4])
	case args[0] == "list" && len(args) == 2:
		n, err := listAll(ctx, api, callers, args[1])
		if err == nil {
			fmt.Println(n)
		}
		return err
	}
	return fmt.Errorf("unknown command or wrong arguments: %q", args)
}

func upload(ctx context.Context, api *s3.Client, callers int, dir, bucket, prefix string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return each(callers, names, func(name string) error {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = api.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(path.Join(prefix, name)), Body: f})
		if err != nil {
			return fmt.Errorf("put %s: %w", name, err)
		}
		return nil
	})
}

func copyAll(ctx context.Context, api *s3.Client, callers int, bucket, prefix, toBucket, toPrefix string) error {
	var keys []string
	pages := s3.NewListObjectsV2Paginator(api, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return each(callers, keys, func(key string) error {
		name := key[strings.LastIndex(key, "/")+1:]
		// Escaped as copy_file's copySource escapes it: url.PathEscape
		// keeps "+", which servers read as a space.
		source := httpbinding.EscapePath(bucket, true) + "/" + httpbinding.EscapePath(key, false)
		_, err := api.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket:     aws.String(toBucket),
			Key:        aws.String(path.Join(toPrefix, name)),
			CopySource: aws.String(source),
		})
		if err != nil {
			return fmt.Errorf("copy %s: %w", key, err)
		}
		return nil
	})
}

// listAll counts the objects of bucket as s3flow's recursive listing
// walks it (internal/module/s3/spread.go), without the order it keeps.
func listAll(ctx context.Context, api *s3.Client, callers int, bucket string) (int64, error) {
	var count atomic.Int64
	list := func(prefix, delimiter string) ([]string, error) {
		var folders []string
		input := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
		if delimiter != "" {
			input.Delimiter = aws.String(delimiter)
		}
		for pages := s3.NewListObjectsV2Paginator(api, input); pages.HasMorePages(); {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("list %s/%s: %w", bucket, prefix, err)
			}
			count.Add(int64(len(page.Contents)))
			for _, p := range page.CommonPrefixes {
				folders = append(folders, aws.ToString(p.Prefix))
			}
		}
		return folders, nil
	}
	prefix := ""
	for {
		before := count.Load()
		folders, err := list(prefix, "/")
		if err != nil {
			return 0, err
		}
		if count.Load() == before && len(folders) == 1 {
			prefix = folders[0]
			continue
		}
		err = each(callers, folders, func(folder string) error {
			_, err := list(folder, "")
			return err
		})
		return count.Load(), err
	}
}

// each calls do for every item, from callers goroutines; the first error
// stops the handing out of items.
func each(callers int, items []string, do func(string) error) error {
	next := make(chan string)
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for item := range next {
				if err := do(item); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var err error
feed:
	for _, item := range items {
		select {
		case next <- item:
		case err = <-errs:
			break feed
		}
	}
	close(next)
	wg.Wait()
	close(errs)
	return errors.Join(err, <-errs)
}
