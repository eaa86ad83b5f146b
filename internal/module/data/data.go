// Package data declares the modules that turn data into bundles and back:
// csv.parse, csv.write and json.parse. Each file holds one module; Modules
// lists them for registration. They stream: a row becomes a bundle as it
// is read, so memory does not grow with the file.
package data

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/s3flow/s3flow/internal/module"
	s3mod "github.com/s3flow/s3flow/internal/module/s3"
)

// Modules returns the data modules.
func Modules() []*module.Module {
	return []*module.Module{CSVParse, CSVWrite, JSONParse}
}

// The source fields of the parse modules: an object (bucket and path) or
// a file reference of an earlier step, declared once.
var (
	sourceBucket = module.Field{Name: "bucket", Label: "Bucket", Type: module.String, Kind: module.Bucket,
		Help: "the bucket holding the file to read (or give file)"}
	sourcePath = module.Field{Name: "path", Label: "Path", Type: module.String, Kind: module.ObjectKey,
		Help: "the file's path in the bucket", Example: "/reports/q3.csv"}
	sourceFile = module.Field{Name: "file", Label: "File", Type: module.FileRef,
		Help: "a file of an earlier step (Get a file, file.read) to read instead of an object"}
	sourceRegion = module.Field{Name: "region", Label: "Region", Type: module.String, Kind: module.Region,
		Help: "AWS region, e.g. eu-central-1 (default: the connection's region)"}
)

// checkSource checks that the inputs name one source: an object or a
// file.
func checkSource(in module.Values) error {
	hasObject := in.String("bucket") != "" || in.String("path") != ""
	switch {
	case in.File("file") != nil && hasObject:
		return &module.InputError{Field: "file", Rule: "give either file or {bucket} and {path}, not both", Refs: []string{"bucket", "path"}}
	case in.File("file") != nil:
		return nil
	case in.String("bucket") == "":
		return &module.InputError{Field: "bucket", Rule: "is required unless file is given", Refs: []string{"file"}}
	case strings.ContainsAny(in.String("bucket"), "/\\ "):
		return &module.InputError{Field: "bucket", Rule: fmt.Sprintf("%q is not a bucket name: no '/', '\\' or spaces (give folders in the path)", in.String("bucket"))}
	}
	p := strings.TrimPrefix(in.String("path"), "/")
	if p == "" || strings.HasSuffix(p, "/") {
		return &module.InputError{Field: "path", Rule: fmt.Sprintf("%q must name a file in the bucket, not a folder", in.String("path"))}
	}
	return nil
}

// openSource opens the file or object the inputs name, to be read once
// from the start; name is how errors refer to it.
func openSource(ctx context.Context, env module.Env, in module.Values) (r io.ReadCloser, name string, err error) {
	if f := in.File("file"); f != nil {
		r, err := f.Open()
		if err != nil {
			return nil, f.Name(), fmt.Errorf("open %s: %w", f.Name(), err)
		}
		return r, f.Name(), nil
	}
	bucket, key := in.String("bucket"), strings.TrimPrefix(in.String("path"), "/")
	r, err = s3mod.OpenObject(ctx, env, bucket, key, in.String("region"))
	return r, bucket + "/" + key, err
}

// sourceName is the file name of the source, for choosing a format by
// its extension.
func sourceName(in module.Values) string {
	if f := in.File("file"); f != nil {
		return f.Name()
	}
	return in.String("path")
}
