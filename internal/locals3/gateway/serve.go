// Package gateway serves the local endpoint: versitygw's POSIX backend over
// real HTTP with real SigV4 checks. It lives in the s3flow-local program,
// not in s3flow, because versitygw and what it links (Kafka, NATS, fiber...)
// would double the size, and so the memory, of every s3flow command; see
// docs/design.md.
//
// The gateway changes the process's working directory and allows one
// instance per process, so it always runs in a process of its own, which
// s3flow starts (package locals3) and talks to over 127.0.0.1.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/versity/versitygw/backend"
	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/embedgw"

	"github.com/s3flow/s3flow/internal/locals3"
)

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
	// EventsFile is where a running s3flow server says it takes this
	// endpoint's S3 events (locals3.EventsFile); "" sends none.
	EventsFile string
}

// Serve runs the endpoint until ctx ends. It changes the working directory,
// so call it only in a process of its own.
func Serve(ctx context.Context, o ServeOptions) error {
	if o.AccessKeyID == "" || o.Secret == "" {
		return errors.New("local endpoint: credentials are required")
	}
	// Objects are the user's files: only the user reads them (0700
	// folders, 0600 files), as they would their own home.
	if err := privateDir(o.Root); err != nil {
		return err
	}
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return err
	}
	// One endpoint per data folder, whoever starts it: two would each
	// change the folder behind the other's back.
	release, err := locals3.LockData(root)
	if err != nil {
		return err
	}
	defer release()
	opts := posix.PosixOpts{
		// Without it every CopyObject fails; 5 GiB is S3's own limit.
		CopyObjectThreshold: 5 << 30,
		Concurrency:         256,
		ValidateBucketNames: true,
	}
	opts.SetNewDirPerm(0o700)
	opts.SetNewFilePerm(0o600)
	var store meta.MetadataStorer = meta.XattrMeta{}
	if err := (meta.XattrMeta{}).Test(root); err != nil {
		// No user xattrs here (tmpfs, some containers): keep metadata
		// beside the root instead.
		if o.MetaDir == "" {
			o.MetaDir = root + "-meta"
		}
		if err := privateDir(o.MetaDir); err != nil {
			return err
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
	var served backend.Backend = be
	if o.EventsFile != "" {
		// Deferred after be.Shutdown, so it runs first: the last events
		// may still ask the backend for sizes.
		n := newNotifier(o.EventsFile, region, be, os.Stderr)
		go n.run()
		defer n.close()
		served = notifyingBackend{Backend: be, n: n}
	}
	err = embedgw.RunVersityGW(ctx, served, &embedgw.Config{
		RootUserAccess:    o.AccessKeyID,
		RootUserSecret:    o.Secret,
		Region:            region,
		Ports:             []string{o.Addr},
		MaxConnections:    4096,
		MaxRequests:       1024,
		MultipartMaxParts: 10000,
		HealthPath:        locals3.HealthPath,
		Quiet:             true,
		KeepAlive:         true,
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("local endpoint on %s: %w", o.Addr, err)
	}
	return nil
}

// privateDir creates dir 0700, or tightens one an earlier version created
// 0755: the folders inside stay as they are, but no one else can reach
// them.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("make %s private (chmod 700 %s): %w", dir, dir, err)
		}
	}
	return nil
}
