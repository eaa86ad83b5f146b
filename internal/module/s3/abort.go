package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/s3client"
)

// How hard abortUpload tries: S3 warns that an abort may have to be
// repeated while part uploads are in progress (a part cancelled on the
// client can still be stored after the abort). Variables, so tests need
// not wait out the backoff.
var (
	abortTries      = 5
	abortFirstPause = 100 * time.Millisecond
)

// aborter is what abortUpload needs of an S3 client.
type aborter interface {
	AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
	ListParts(context.Context, *s3.ListPartsInput, ...func(*s3.Options)) (*s3.ListPartsOutput, error)
}

// abortUpload aborts a multipart upload and makes the abort stick: after
// each abort ListParts must answer NoSuchUpload, else it waits (100 ms,
// doubling) and aborts again, up to abortTries times. Every path that
// aborts an upload calls it. A server that will not list parts
// (NotImplemented, AccessDenied) is trusted once its abort succeeded.
func abortUpload(ctx context.Context, cl aborter, in *s3.AbortMultipartUploadInput, opts ...func(*s3.Options)) error {
	pause := abortFirstPause
	var last error
	for try := 1; ; try++ {
		_, err := cl.AbortMultipartUpload(ctx, in, opts...)
		aborted := err == nil || s3client.Code(err) == "NoSuchUpload"
		if !aborted {
			last = fmt.Errorf("abort: %w", err)
		}
		_, err = cl.ListParts(ctx, &s3.ListPartsInput{
			Bucket: in.Bucket, Key: in.Key, UploadId: in.UploadId, MaxParts: aws.Int32(1),
			ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
		}, opts...)
		switch {
		case s3client.Code(err) == "NoSuchUpload":
			return nil
		case aborted && cannotListParts(err):
			return nil
		case !aborted:
			// The abort's own error says most.
		case err == nil:
			last = errors.New("the server still lists its parts after the abort")
		default:
			last = fmt.Errorf("check that the abort took: %w", err)
		}
		if try >= abortTries {
			return fmt.Errorf("multipart upload %q of %q still there after %d aborts: %w",
				aws.ToString(in.UploadId), aws.ToString(in.Key), try, last)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("multipart upload %q of %q may still be there: %w (last: %w)",
				aws.ToString(in.UploadId), aws.ToString(in.Key), ctx.Err(), last)
		case <-t.C:
		}
		pause *= 2
	}
}

// cannotListParts reports an answer that says ListParts is not for us,
// rather than that the upload is there.
func cannotListParts(err error) bool {
	switch s3client.Code(err) {
	case "NotImplemented", "AccessDenied":
		return true
	}
	var e *s3client.Error
	return errors.As(s3client.Explain(err), &e) && (e.Status == http.StatusNotImplemented || e.Status == http.StatusForbidden)
}

// stickyAbort gives the transfer manager abortUpload for its abort.
type stickyAbort struct {
	transferClient
}

// transferClient is the transfer manager's client plus ListParts.
type transferClient interface {
	transfermanager.S3APIClient
	ListParts(context.Context, *s3.ListPartsInput, ...func(*s3.Options)) (*s3.ListPartsOutput, error)
}

func (c stickyAbort) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, opts ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	if err := abortUpload(ctx, c.transferClient, in, opts...); err != nil {
		return nil, err
	}
	return &s3.AbortMultipartUploadOutput{}, nil
}
