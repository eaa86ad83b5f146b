package s3client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/s3flow/s3flow/internal/connection"
)

// Verification failures, told apart so users know what to fix.
var (
	ErrUnknownKey  = errors.New("the access key id is not known to the endpoint")
	ErrWrongSecret = errors.New("the secret access key does not match the access key id")
	ErrUnreachable = errors.New("the endpoint cannot be reached")
	ErrNotS3       = errors.New("the endpoint answered 200 without an S3 bucket listing; check that it is an S3 endpoint")
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
//
// A connection whose credentials come from elsewhere (a role, a profile)
// gets them first, so that a failure names its step: the source
// credentials, the role's assumption, or the bucket listing.
func (c *Client) Verify(ctx context.Context) (Verified, error) {
	fetched := c.conn.Kind == connection.KindRole || c.conn.Kind == connection.KindWebIdentity || c.conn.Kind == connection.KindProfile
	if fetched {
		if _, err := c.cfg.Credentials.Retrieve(ctx); err != nil {
			// Without the cache's "failed to refresh cached credentials".
			var step *CredentialsError
			if errors.As(err, &step) {
				return Verified{}, step
			}
			return Verified{}, err
		}
	}
	v, err := c.verifyListing(ctx)
	if !fetched {
		return v, err
	}
	if err != nil {
		return v, &CredentialsError{Connection: c.conn.Name, Step: StepListing, Err: err}
	}
	whose := "the role's credentials"
	if c.conn.Kind == connection.KindProfile {
		whose = "the profile's credentials"
	}
	v.Status = strings.Replace(v.Status, "the keys", whose, 1)
	v.Warning = strings.Replace(v.Warning, "the keys", "the credentials", 1)
	return v, nil
}

func (c *Client) verifyListing(ctx context.Context) (Verified, error) {
	_, err := c.S3("").ListBuckets(ctx, &s3.ListBucketsInput{}, func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, requireListing)
	})
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

// requireListing fails a 200 answer to ListBuckets that does not start
// with S3's ListAllMyBucketsResult document: any web server answers
// GET / with 200, and the SDK takes a page it cannot read for an empty
// listing. It runs inside the SDK's deserializer (added after it), so it
// sees the raw answer first; only the head of the body is peeked at.
func requireListing(stack *middleware.Stack) error {
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("s3flowRequireListing", func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
		out, md, err := next.HandleDeserialize(ctx, in)
		resp, ok := out.RawResponse.(*smithyhttp.Response)
		if err != nil || !ok || resp.StatusCode != http.StatusOK {
			return out, md, err
		}
		head := bufio.NewReaderSize(resp.Body, 1024)
		peeked, _ := head.Peek(1024)
		resp.Body = struct {
			io.Reader
			io.Closer
		}{head, resp.Body}
		if !bytes.Contains(peeked, []byte("<ListAllMyBucketsResult")) {
			return out, md, ErrNotS3
		}
		return out, md, nil
	}), middleware.After)
}
