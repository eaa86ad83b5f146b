package s3

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// fakeAborter answers aborts and ListParts from scripts: the nth answer of
// each, the last one repeated.
type fakeAborter struct {
	aborts, lists []error
	nAbort, nList int
}

func (f *fakeAborter) AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	err := f.aborts[min(f.nAbort, len(f.aborts)-1)]
	f.nAbort++
	return &s3.AbortMultipartUploadOutput{}, err
}

func (f *fakeAborter) ListParts(context.Context, *s3.ListPartsInput, ...func(*s3.Options)) (*s3.ListPartsOutput, error) {
	err := f.lists[min(f.nList, len(f.lists)-1)]
	f.nList++
	return &s3.ListPartsOutput{}, err
}

func apiErr(code string) error { return &smithy.GenericAPIError{Code: code, Message: code} }

// TestAbortUpload: abortUpload aborts until ListParts says NoSuchUpload,
// at most abortTries times, and trusts a server that will not list parts.
func TestAbortUpload(t *testing.T) {
	pause := abortFirstPause
	abortFirstPause = time.Millisecond
	t.Cleanup(func() { abortFirstPause = pause })
	gone, there := apiErr("NoSuchUpload"), error(nil)
	for _, tt := range []struct {
		name          string
		aborts, lists []error
		wantAborts    int
		wantErr       string
	}{
		{"gone after one abort", []error{nil}, []error{gone}, 1, ""},
		{"abort answer lost, the retry finds nothing", []error{gone}, []error{gone}, 1, ""},
		{"still listed once", []error{nil}, []error{there, gone}, 2, ""},
		{"first abort refused", []error{apiErr("InternalError"), nil}, []error{there, gone}, 2, ""},
		{"never goes", []error{nil}, []error{there}, 5, "still there after 5 aborts"},
		{"abort always refused", []error{apiErr("InternalError")}, []error{there}, 5, "InternalError"},
		{"ListParts not implemented", []error{nil}, []error{apiErr("NotImplemented")}, 1, ""},
		{"ListParts not allowed", []error{nil}, []error{apiErr("AccessDenied")}, 1, ""},
		{"ListParts failing, abort refused", []error{apiErr("InternalError")}, []error{apiErr("NotImplemented")}, 5, "InternalError"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAborter{aborts: tt.aborts, lists: tt.lists}
			err := abortUpload(context.Background(), f, &s3.AbortMultipartUploadInput{
				Bucket: aws.String("b"), Key: aws.String("k"), UploadId: aws.String("u"),
			})
			if f.nAbort != tt.wantAborts || f.nList != tt.wantAborts {
				t.Errorf("%d aborts, %d checks, want %d of each", f.nAbort, f.nList, tt.wantAborts)
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestAbortUploadStopsWithContext: the pause between aborts ends with the
// context, not after it.
func TestAbortUploadStopsWithContext(t *testing.T) {
	pause := abortFirstPause
	abortFirstPause = time.Hour
	t.Cleanup(func() { abortFirstPause = pause })
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeAborter{aborts: []error{nil}, lists: []error{nil}}
	done := make(chan error, 1)
	go func() {
		done <- abortUpload(ctx, f, &s3.AbortMultipartUploadInput{Key: aws.String("k"), UploadId: aws.String("u")})
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}
