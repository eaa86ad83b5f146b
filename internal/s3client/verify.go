package s3client

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Verification failures, told apart so users know what to fix.
var (
	ErrUnknownKey  = errors.New("the access key id is not known to the endpoint")
	ErrWrongSecret = errors.New("the secret access key does not match the access key id")
	ErrUnreachable = errors.New("the endpoint cannot be reached")
)

// Verified is a successful verification.
type Verified struct {
	// Status says in words what was proven.
	Status string
	// Warning is set when the keys are valid but may not list buckets.
	Warning string
}

// Verify makes one real signed call (ListBuckets) to prove the keys. An
// AccessDenied answer still proves them: S3 checks the signature first.
// An address the endpoint policy refuses fails with code CodeRefused.
func (c *Client) Verify(ctx context.Context) (Verified, error) {
	_, err := c.S3("").ListBuckets(ctx, &s3.ListBucketsInput{})
	if err == nil {
		return Verified{Status: "verified: the keys can list buckets"}, nil
	}
	explained := Explain(err)
	// The sentinel below already says what is wrong; S3's code and request
	// id follow it without the general hint repeating it.
	detail := WithoutHint(explained)
	switch Code(err) {
	case "AccessDenied", "AllAccessDisabled":
		return Verified{
			Status:  "verified: the keys are valid",
			Warning: "the keys are valid but may not list buckets (AccessDenied); modules that need other permissions may still work",
		}, nil
	// versitygw answers an unknown key with its own code (HTTP 404).
	case "InvalidAccessKeyId", "InvalidClientTokenId", "XAdminUserNotFound":
		return Verified{}, fmt.Errorf("%w: %w", ErrUnknownKey, detail)
	case "SignatureDoesNotMatch":
		return Verified{}, fmt.Errorf("%w: %w", ErrWrongSecret, detail)
	case "Forbidden":
		// A bare 403 (no S3 error document) is what any web server may
		// answer; S3 answers a signed GET with a document naming its code.
		return Verified{}, fmt.Errorf("the endpoint answered 403 without an S3 error document, which proves nothing about the keys; check that it is an S3 endpoint: %w", detail)
	case CodeUnreachable:
		return Verified{}, fmt.Errorf("%w: %w", ErrUnreachable, detail)
	}
	return Verified{}, explained
}
