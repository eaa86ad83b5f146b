package s3

import (
	"fmt"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/module"
)

// Transfer tuning: large uploads and downloads move in parts, several at
// once. The defaults come from bench/compare.sh's sweep (docs/benchmarks.md);
// part_size and parallel_parts override them per call.
const (
	// Uploads: 8 MiB parts, 4 at a time. Larger parts or more of them were
	// no faster on one versitygw and cost memory (the transfer manager
	// buffers each part in flight): 16 MiB x 8 peaked at 220 MiB RSS.
	defaultUploadPartMiB  = 8
	defaultUploadParallel = 4
	// Downloads: 8 MiB ranges, 8 at a time, written in place (WriteAt);
	// memory stays flat whatever the setting.
	defaultDownloadPartMiB  = 8
	defaultDownloadParallel = 8

	// A call's part_size and parallel_parts have a connection's bounds.
	maxPartMiB, maxParallel = connection.MaxPartSizeMiB, connection.MaxParallelParts
	minUploadPartMiB        = connection.MinPartSizeMiB
	uploadThresholdParts    = 2 // files below this many parts go up in one PUT
)

var (
	partSizeField = module.Field{
		Name: "part_size", Flag: "part-size", Label: "Part size (MiB)", Type: module.Int, Default: int64(0), Min: module.AtLeast(0),
		Help: "size of each part of a large transfer, in MiB (0: the connection's setting, else 8)",
	}
	parallelPartsField = module.Field{
		Name: "parallel_parts", Flag: "parallel-parts", Label: "Parts at once", Type: module.Int, Default: int64(0), Min: module.AtLeast(0),
		Help: "how many parts of a large transfer move at once (0: the connection's setting, else 4 up, 8 down)",
	}
	// An object written as a stream (an archive, a gzip file) has parts
	// that start small and grow; see partWriter.
	streamPartSizeField = module.Field{
		Name: "part_size", Flag: "part-size", Label: "First part size (MiB)", Type: module.Int, Default: int64(0), Min: module.AtLeast(0),
		Help: "size of the first parts of the output, in MiB (0: the connection's setting, else 5); they double every 900 parts",
	}
	streamParallelField = module.Field{
		Name: "parallel_parts", Flag: "parallel-parts", Label: "Parts at once", Type: module.Int, Default: int64(0), Min: module.AtLeast(0),
		Help: "how many parts of the output go up at once while the next is written (0: the connection's setting, else 1)",
	}
)

// tuning is a transfer's part size and parallelism.
type tuning struct {
	partSize int64
	parallel int
}

// checkTuning checks part_size and parallel_parts; minPart is the
// smallest part the transfer allows.
func checkTuning(in module.Values, minPart int64) error {
	if p := in.Int("part_size"); p != 0 && (p < minPart || p > maxPartMiB) {
		return &module.InputError{Field: "part_size", Rule: fmt.Sprintf("must be from %d to %d MiB (or 0 for the default), got %d", minPart, maxPartMiB, p)}
	}
	if n := in.Int("parallel_parts"); n < 0 || n > maxParallel {
		return &module.InputError{Field: "parallel_parts", Rule: fmt.Sprintf("must be from 1 to %d (or 0 for the default), got %d", maxParallel, n)}
	}
	return nil
}

// tuningOf is the call's tuning: its own part_size and parallel_parts,
// else the connection's, else s3flow's defaults.
func tuningOf(in module.Values, conn *connection.Connection, partMiB, parallel int) tuning {
	t := tuning{partSize: int64(partMiB) << 20, parallel: parallel}
	if conn != nil && conn.PartSizeMiB > 0 {
		t.partSize = int64(conn.PartSizeMiB) << 20
	}
	if conn != nil && conn.ParallelParts > 0 {
		t.parallel = conn.ParallelParts
	}
	if p := in.Int("part_size"); p > 0 {
		t.partSize = p << 20
	}
	if n := in.Int("parallel_parts"); n > 0 {
		t.parallel = int(n)
	}
	return t
}

// partSizeSet reports whether the call or the connection chose a part
// size, which then also decides when an upload goes up in parts.
func partSizeSet(in module.Values, conn *connection.Connection) bool {
	return in.Int("part_size") > 0 || (conn != nil && conn.PartSizeMiB > 0)
}
