// Package locals3 is the offline default: an S3-compatible endpoint whose
// buckets are folders and objects are files under $S3FLOW_HOME/local-s3. It
// runs the versitygw gateway's POSIX backend over real HTTP with real SigV4
// checks.
//
// The gateway changes the process's working directory and allows one
// instance per process, so s3flow runs it in a child process of its own
// binary ("s3flow local serve") and talks to it over 127.0.0.1.
package locals3

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/embedgw"
)

// HealthPath is answered 200 by a running endpoint, without signing.
const HealthPath = "/_s3flow_health"

// ServeOptions configure the endpoint.
type ServeOptions struct {
	// Root holds the buckets (one folder each).
	Root string
	// MetaDir holds object metadata when the file system lacks user xattrs.
	MetaDir string
	// Addr is host:port to listen on.
	Addr string
	// AccessKeyID and Secret are the only accepted credentials.
	AccessKeyID string
	Secret      string
	// Region is the region the endpoint reports.
	Region string
}

// Serve runs the endpoint until ctx ends. It changes the working directory,
// so call it only in a process of its own.
func Serve(ctx context.Context, o ServeOptions) error {
	if o.AccessKeyID == "" || o.Secret == "" {
		return errors.New("local endpoint: credentials are required")
	}
	if err := os.MkdirAll(o.Root, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", o.Root, err)
	}
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return err
	}
	opts := posix.PosixOpts{
		// Without it every CopyObject fails; 5 GiB is S3's own limit.
		CopyObjectThreshold: 5 << 30,
		Concurrency:         256,
		ValidateBucketNames: true,
	}
	opts.SetNewDirPerm(0o755)
	opts.SetNewFilePerm(0o644)
	var store meta.MetadataStorer = meta.XattrMeta{}
	if err := (meta.XattrMeta{}).Test(root); err != nil {
		// No user xattrs here (tmpfs, some containers): keep metadata
		// beside the root instead.
		if o.MetaDir == "" {
			o.MetaDir = root + "-meta"
		}
		if err := os.MkdirAll(o.MetaDir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", o.MetaDir, err)
		}
		sc, err := meta.NewSideCar(o.MetaDir)
		if err != nil {
			return fmt.Errorf("local endpoint metadata in %s: %w", o.MetaDir, err)
		}
		store, opts.SideCarDir = sc, o.MetaDir
	}
	be, err := posix.New(root, store, opts)
	if err != nil {
		return fmt.Errorf("local endpoint backend in %s: %w", root, err)
	}
	defer be.Shutdown()
	region := o.Region
	if region == "" {
		region = "us-east-1"
	}
	err = embedgw.RunVersityGW(ctx, be, &embedgw.Config{
		RootUserAccess:    o.AccessKeyID,
		RootUserSecret:    o.Secret,
		Region:            region,
		Ports:             []string{o.Addr},
		MaxConnections:    4096,
		MaxRequests:       1024,
		MultipartMaxParts: 10000,
		HealthPath:        HealthPath,
		Quiet:             true,
		KeepAlive:         true,
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("local endpoint on %s: %w", o.Addr, err)
	}
	return nil
}
