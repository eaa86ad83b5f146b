package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/partbuf"
	"github.com/s3flow/s3flow/internal/s3client"
)

// streamPartMiB is the first part size of an object written as a stream
// (an archive, a gzip file): its size is not known until it ends, so the
// parts start at S3's least and grow (see partSizeAt).
const streamPartMiB = minUploadPartMiB

// streamParallel is how many parts of a streamed object go up at once
// while the next is written: one is enough when the data is made (zipped,
// compressed) slower than it uploads, and keeps memory at two parts.
const streamParallel = 1

// partsPerSize is how many parts go up at one size before the size
// doubles: 900 parts of 5 MiB, then 900 of 10 MiB, ... reach S3's largest
// object (5 TiB) within its 10,000 parts, while an archive of a few GiB
// keeps small buffers.
var partsPerSize int32 = 900 // a variable for tests

// maxPartSize is S3's largest part.
const maxPartSize = 5 << 30

// partSizeAt is the size of part n (from 1) when parts start at first.
func partSizeAt(first int64, n int32) int64 {
	size := first
	for k := (n - 1) / partsPerSize; k > 0 && size < maxPartSize; k-- {
		size *= 2
	}
	return min(size, maxPartSize)
}

// partWriter writes an object of unknown size as it is produced: what is
// written fills a part, a full part goes up (UploadPart) while the next
// fills, up to parallel parts in flight. Its buffers are allocated once
// and reused, so memory is parallel+1 parts however long the object; an
// object smaller than a part goes up in one PUT. Close completes the
// upload; Abort (or a failed Close) leaves nothing behind: no object, no
// parts. The SDK signs, checksums and retries each request.
type partWriter struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	cl     *s3.Client
	// bucket, key and contentType are the object's.
	bucket, key, contentType *string
	alg                      types.ChecksumAlgorithm
	env                      module.Env
	tracker                  module.Tracker

	first    int64
	small    int64         // the buffer's size for an object smaller than a part (see expect)
	part     *partbuf.Part // the part being filled
	slots    chan struct{} // one per part in memory: parallel+1
	uploadID *string
	next     int32 // the number of the part being filled
	wg       sync.WaitGroup

	// written counts the bytes written, sent or not.
	written int64

	mu    sync.Mutex
	parts []types.CompletedPart
	sent  int64
}

// Written is how many bytes were written: the object's size once closed.
func (w *partWriter) Written() int64 { return w.written }

// uploadError marks an error of the upload a writer's caller sees from
// Write, to tell it from an error of what was being written (a source
// that could not be read).
type uploadError struct{ err error }

func (e *uploadError) Error() string { return e.err.Error() }
func (e *uploadError) Unwrap() error { return e.err }

// newPartWriter starts writing key in bucket, whose parts start at
// tune.partSize with up to tune.parallel in flight while the next fills
// (0: each part goes up before the next fills, in one buffer); tracker
// follows the bytes sent. Nothing is sent until a part is full or Close.
func newPartWriter(ctx context.Context, env module.Env, c *s3client.Client, cl *s3.Client, bucket, key, contentType string, tune tuning, tracker module.Tracker) *partWriter {
	ctx, cancel := context.WithCancelCause(ctx)
	w := &partWriter{ctx: ctx, cancel: cancel, cl: cl, env: env, tracker: tracker,
		bucket: aws.String(bucket), key: aws.String(key),
		first: max(tune.partSize, int64(minUploadPartMiB)<<20), slots: make(chan struct{}, max(tune.parallel, 0)+1), next: 1}
	if contentType != "" {
		w.contentType = aws.String(contentType)
	}
	if c.Config().RequestChecksumCalculation != aws.RequestChecksumCalculationWhenRequired {
		w.alg = types.ChecksumAlgorithmCrc32
	}
	return w
}

func (w *partWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if w.part == nil {
			if err := w.take(); err != nil {
				return written, &uploadError{err}
			}
		}
		n := copy(w.part.Space(), p)
		w.part.Wrote(n)
		p, written = p[n:], written+n
		w.written += int64(n)
		if w.part.Full() {
			if err := w.send(); err != nil {
				return written, &uploadError{err}
			}
		}
	}
	return written, nil
}

// expect says the object will have size bytes, when it is known (an
// entry of an archive): an object smaller than a part is then held in a
// buffer of its own size, not a part's.
func (w *partWriter) expect(size int64) {
	if size >= 0 && size < w.first {
		w.small = size + 1 // one more: the buffer never fills, so Close sends it in one PUT
	}
}

// ReadFrom reads r to its end straight into the parts.
func (w *partWriter) ReadFrom(r io.Reader) (int64, error) {
	var read int64
	for {
		if w.part == nil {
			if err := w.take(); err != nil {
				return read, &uploadError{err}
			}
		}
		n, err := r.Read(w.part.Space())
		w.part.Wrote(n)
		read += int64(n)
		w.written += int64(n)
		if w.part.Full() {
			if serr := w.send(); serr != nil {
				return read, &uploadError{serr}
			}
		}
		if errors.Is(err, io.EOF) {
			return read, nil
		}
		if err != nil {
			return read, err
		}
	}
}

// take gets an empty buffer the size of the next part, once fewer than
// parallel+1 parts are in memory (else it waits for one to go up).
func (w *partWriter) take() error {
	select {
	case w.slots <- struct{}{}:
	case <-w.ctx.Done():
		return context.Cause(w.ctx)
	}
	size := partSizeAt(w.first, w.next)
	if w.small > 0 && w.next == 1 {
		size = w.small
	}
	w.part = partbuf.NewPart(int(size))
	return nil
}

// done gives back a part's buffer once nothing reads it.
func (w *partWriter) done(part *partbuf.Part) {
	part.Release()
	<-w.slots
}

// send starts the upload of the full buffer as the next part.
func (w *partWriter) send() error {
	if err := context.Cause(w.ctx); err != nil {
		return err
	}
	if w.uploadID == nil {
		out, err := w.cl.CreateMultipartUpload(w.ctx, &s3.CreateMultipartUploadInput{
			Bucket: w.bucket, Key: w.key, ContentType: w.contentType, ChecksumAlgorithm: w.alg,
		})
		if err != nil {
			w.cancel(err)
			return err
		}
		w.uploadID = out.UploadId
	}
	part, n := w.part, w.next
	w.part, w.next = nil, w.next+1
	w.wg.Go(func() {
		defer w.done(part)
		size := int64(part.Len())
		out, err := w.cl.UploadPart(w.ctx, &s3.UploadPartInput{
			Bucket: w.bucket, Key: w.key, UploadId: w.uploadID, PartNumber: aws.Int32(n),
			Body: part.NewReader(), ContentLength: aws.Int64(size), ChecksumAlgorithm: w.alg,
		})
		if err != nil {
			w.cancel(fmt.Errorf("part %d: %w", n, err))
			return
		}
		w.mu.Lock()
		w.parts = append(w.parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag,
			ChecksumCRC32: out.ChecksumCRC32, ChecksumCRC32C: out.ChecksumCRC32C, ChecksumCRC64NVME: out.ChecksumCRC64NVME,
			ChecksumSHA1: out.ChecksumSHA1, ChecksumSHA256: out.ChecksumSHA256})
		w.sent += size
		sent := w.sent
		w.mu.Unlock()
		w.tracker.Update(sent, -1)
	})
	return nil
}

// Close sends what is left and completes the object; it returns the
// object's ETag and version. On failure nothing is left behind.
func (w *partWriter) Close() (etag, versionID string, err error) {
	if w.uploadID == nil {
		// All of it fits one part: one PUT.
		defer w.cancel(nil)
		part := w.part
		if part == nil {
			part = partbuf.NewPart(0)
		} else {
			defer w.done(part)
			w.part = nil
		}
		out, err := w.cl.PutObject(w.ctx, &s3.PutObjectInput{
			Bucket: w.bucket, Key: w.key, Body: part.NewReader(), ContentLength: aws.Int64(int64(part.Len())),
			ContentType: w.contentType, ChecksumAlgorithm: w.alg,
		})
		if err != nil {
			return "", "", err
		}
		w.tracker.Update(int64(part.Len()), -1)
		return aws.ToString(out.ETag), aws.ToString(out.VersionId), nil
	}
	if w.part != nil && w.part.Len() > 0 {
		if err := w.send(); err != nil {
			w.Abort()
			return "", "", err
		}
	} else if w.part != nil { // the data ended just after a part
		w.done(w.part)
		w.part = nil
	}
	w.wg.Wait()
	if err := context.Cause(w.ctx); err != nil {
		w.Abort()
		return "", "", err
	}
	slices.SortFunc(w.parts, func(a, b types.CompletedPart) int { return int(aws.ToInt32(a.PartNumber) - aws.ToInt32(b.PartNumber)) })
	out, err := w.cl.CompleteMultipartUpload(w.ctx, &s3.CompleteMultipartUploadInput{
		Bucket: w.bucket, Key: w.key, UploadId: w.uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: w.parts},
	})
	if err != nil {
		w.Abort()
		return "", "", err
	}
	w.cancel(nil)
	return aws.ToString(out.ETag), aws.ToString(out.VersionId), nil
}

// Abort stops the parts in flight and aborts the upload, if one was
// started, even when the run's context is cancelled.
func (w *partWriter) Abort() {
	w.cancel(errors.New("the upload was aborted"))
	w.wg.Wait()
	if w.part != nil {
		w.done(w.part)
		w.part = nil
	}
	if w.uploadID == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), abortTimeout)
	defer cancel()
	if err := abortUpload(ctx, w.cl, &s3.AbortMultipartUploadInput{Bucket: w.bucket, Key: w.key, UploadId: w.uploadID}); err != nil {
		w.env.Log().WarnContext(ctx, "abort a streamed upload", "bucket", aws.ToString(w.bucket), "key", aws.ToString(w.key), "error", err)
	}
	w.uploadID = nil
}
