package s3

import (
	"context"
	"fmt"
	"regexp"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

// byteRange is a Range input: first-last, first- (to the end) or -n (the
// last n bytes).
type byteRange struct {
	first, last int64 // last < 0: to the end
	suffix      int64 // > 0: the last suffix bytes
}

var rangePattern = regexp.MustCompile(`^(?:bytes=)?(\d*)-(\d*)$`)

// parseRange reads a range input; "" means the whole object (nil).
func parseRange(s string) (*byteRange, error) {
	if s == "" {
		return nil, nil
	}
	bad := func(why string) error {
		return &module.InputError{Field: "range", Rule: fmt.Sprintf("%q %s; write first-last (0-99), first- (100-) or -n (-500)", s, why)}
	}
	m := rangePattern.FindStringSubmatch(s)
	if m == nil || (m[1] == "" && m[2] == "") {
		return nil, bad("is not a byte range")
	}
	if m[1] == "" {
		n, err := strconv.ParseInt(m[2], 10, 64)
		if err != nil || n == 0 {
			return nil, bad("asks for no bytes")
		}
		return &byteRange{suffix: n}, nil
	}
	first, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return nil, bad("has a start that is too large")
	}
	r := &byteRange{first: first, last: -1}
	if m[2] != "" {
		if r.last, err = strconv.ParseInt(m[2], 10, 64); err != nil || r.last < first {
			return nil, bad("ends before it starts")
		}
	}
	return r, nil
}

// resolveRange turns a range input into S3's explicit "bytes=first-last"
// within the object's size; "" when none.
func resolveRange(ctx context.Context, c *s3client.Client, obj objectRef, input string) (string, error) {
	r, err := parseRange(input)
	if err != nil || r == nil {
		return "", err
	}
	// The transfer manager splits a range into parts itself and needs its
	// exact end, so the object's size is asked first (HEAD).
	var head *s3.HeadObjectOutput
	err = c.Do(ctx, func(cl *s3.Client) error {
		var err error
		head, err = cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(obj.bucket), Key: aws.String(obj.key), VersionId: obj.versionID()})
		return err
	})
	if err != nil {
		return "", err
	}
	return r.explicit(aws.ToInt64(head.ContentLength))
}

// explicit resolves the range against an object of size bytes.
func (r *byteRange) explicit(size int64) (string, error) {
	first, last := r.first, r.last
	if r.suffix > 0 {
		first, last = max(size-r.suffix, 0), size-1
	}
	if last < 0 || last >= size {
		last = size - 1
	}
	if first >= size {
		return "", &module.InputError{Field: "range", Rule: fmt.Sprintf("starts at byte %d, but the object has %d bytes", first, size)}
	}
	return fmt.Sprintf("bytes=%d-%d", first, last), nil
}
