// Package s3 declares the S3 modules. Each file holds one module; Modules
// lists them for registration.
package s3

import (
	"context"
	"fmt"
	"strings"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

// Modules returns the S3 modules: the six of the product docs in their
// order, then the object and bucket modules users ask for most.
func Modules() []*module.Module {
	mods := []*module.Module{CreateBucket, GetFile, UploadFile, APICall, ListFiles, ListFolders}
	mods = append(mods, objectModules()...)
	return append(mods, bucketModules()...)
}

// Fields more than one module shares, declared once.
var (
	regionField = module.Field{
		Name: "region", Label: "Region", Type: module.String, Kind: module.Region,
		Help: "AWS region, e.g. eu-central-1 (default: the connection's region)",
	}
	bucketField = module.Field{
		Name: "bucket", Label: "Bucket", Type: module.String, Kind: module.Bucket, Required: true,
		Help: "the bucket's name",
	}
	prefixField = module.Field{
		Name: "prefix", Label: "Prefix", Type: module.String, Kind: module.Folder,
		Help: "folder path to look in, e.g. work/reports (default: the bucket's top level)", Example: "work/reports",
	}
	readVersionField = module.Field{
		Name: "version_id", Flag: "version-id", Label: "Version", Type: module.String,
		Help: "a version of the file, in versioned buckets (default: the current one); List versions shows the ids",
	}
	limitField = module.Field{
		Name: "limit", Label: "Limit", Type: module.Int, Default: int64(0), Min: module.AtLeast(0),
		Help: "stop after this many results (0: all)",
	}
)

// client builds the S3 client for a module run.
func client(ctx context.Context, env module.Env, in module.Values) (*s3client.Client, error) {
	if env.Connection == nil {
		return nil, fmt.Errorf("a connection is required")
	}
	// The local endpoint answers in its one region only; any other fails
	// every request's signature check, which S3 would blame on the
	// bucket's region.
	if conn := env.Connection; conn.Kind == connection.KindLocal {
		if r := in.String("region"); r != "" && r != conn.Region {
			return nil, &module.InputError{Field: "region", Rule: fmt.Sprintf(
				"the local connection has one region, %s, where all its buckets live; leave the region out (got %q)", conn.Region, r)}
		}
	}
	// The region input is checked by its field kind (module.Region);
	// s3client.New checks it again, whatever the caller.
	return s3client.Shared(ctx, *env.Connection, in.String("region"), s3client.Options{Logger: env.Logger})
}

// checkBucketRef is the light check for a bucket that already exists:
// legacy buckets may break today's naming rules, but never these.
func checkBucketRef(in module.Values) error {
	b := in.String("bucket")
	if strings.ContainsAny(b, "/\\ ") || len(b) > 255 {
		return &module.InputError{Field: "bucket", Rule: fmt.Sprintf("%q is not a bucket name: no '/', '\\' or spaces (give folders in the path or prefix)", b)}
	}
	return nil
}

// checkObjectRef checks the bucket and that path names a file.
func checkObjectRef(in module.Values) error {
	if err := checkBucketRef(in); err != nil {
		return err
	}
	_, err := objectKey(in.String("path"))
	return err
}

// folderPrefix turns a folder path into a listing prefix: no leading slash,
// one trailing slash ("" stays "", the bucket's top level).
func folderPrefix(p string) string {
	p = strings.Trim(cleanSlashes(p), "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

// cleanSlashes collapses runs of slashes into one.
func cleanSlashes(p string) string {
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	return p
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
