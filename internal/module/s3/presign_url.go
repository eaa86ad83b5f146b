package s3

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/module"
)

// maxPresignExpiry is the longest a SigV4 presigned URL may live.
const maxPresignExpiry = 7 * 24 * time.Hour

// PresignURL is "Presign a URL": a link that reads or writes one file
// without credentials.
var PresignURL = &module.Module{
	Name:  "s3.presign_url",
	Verb:  "presign-url",
	Title: "Presign a URL",
	Group: module.GroupObjects,
	Help: "Makes a time-limited link that downloads (GET) or uploads (PUT) one file without credentials. " +
		"No request is sent; the link is signed for the region given (default: the connection's), which must be the bucket's.",
	NeedsConnection: true,
	Fields: []module.Field{
		bucketField,
		{Name: "path", Label: "Path", Type: module.String, Kind: module.ObjectKey, Required: true,
			Help: "the file's path in the bucket (a leading / is ignored)", Example: "/reports/q3.csv"},
		{Name: "method", Label: "Method", Type: module.String, Default: http.MethodGet, Choices: []string{http.MethodGet, http.MethodPut},
			Help: "GET to download the file, PUT to upload it"},
		{Name: "expires", Label: "Expires in", Type: module.String, Default: "15m",
			Help: "how long the link works: 15m, 1h, 168h (at most 7 days)"},
		{Name: "content_type", Flag: "content-type", Label: "Content type", Type: module.String,
			Help: "with PUT: the type the upload must declare (signed into the link), e.g. text/csv"},
		regionField,
	},
	Outputs: []module.Output{
		{Name: "url", Type: module.String, Help: "the presigned link", Kind: module.Link},
		{Name: "method", Type: module.String, Help: "the HTTP method the link is for"},
		{Name: "expiresAt", Type: module.Time, Help: "when the link stops working"},
		{Name: "headers", Type: module.Map, Help: "headers the request must send as they are, e.g. Content-Type"},
	},
	Validate: checkPresign,
	Run:      runPresignURL,
}

func checkPresign(in module.Values) error {
	if err := checkObjectRef(in); err != nil {
		return err
	}
	if in.String("content_type") != "" && in.String("method") != http.MethodPut {
		return &module.InputError{Field: "content_type", Rule: "works only with {method} PUT (a download's type is the stored file's)", Refs: []string{"method"}}
	}
	_, err := parseExpiry(in.String("expires"))
	return err
}

// parseExpiry reads how long a presigned URL lives: a Go duration of more
// than nothing and at most seven days, whole seconds.
func parseExpiry(s string) (time.Duration, error) {
	bad := func(why string) error {
		return &module.InputError{Field: "expires", Rule: fmt.Sprintf("%q %s; give a duration such as 15m, 1h or 168h (at most 7 days)", s, why)}
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	switch {
	case err != nil:
		return 0, bad("is not a duration")
	case d < time.Second:
		return 0, bad("is less than a second")
	case d > maxPresignExpiry:
		return 0, bad("is longer than S3 allows")
	}
	// X-Amz-Expires counts whole seconds.
	return d.Truncate(time.Second), nil
}

func runPresignURL(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	c, err := client(ctx, env, in)
	if err != nil {
		return err
	}
	bucket, method, contentType := in.String("bucket"), in.String("method"), in.String("content_type")
	key, err := objectKey(in.String("path"))
	if err != nil {
		return err
	}
	expires, err := parseExpiry(in.String("expires"))
	if err != nil {
		return err
	}
	p := s3.NewPresignClient(c.S3(""), s3.WithPresignExpires(expires))
	var req *v4.PresignedHTTPRequest
	switch method {
	case http.MethodPut:
		input := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
		if contentType != "" {
			// Signed: an upload that declares another type is refused.
			input.ContentType = aws.String(contentType)
		}
		req, err = p.PresignPutObject(ctx, input)
	default:
		req, err = p.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	}
	if err != nil {
		return fmt.Errorf("presign %s of %q in bucket %q: %w", method, key, bucket, err)
	}
	return emit(module.Bundle{
		"url": req.URL, "method": req.Method, "expiresAt": presignedUntil(req.URL, expires), "headers": mustSend(req.SignedHeader),
	})
}

// presignedUntil is the signing time in the URL plus its lifetime; a URL
// without one (never from the SDK) counts from now.
func presignedUntil(rawURL string, expires time.Duration) time.Time {
	signed := time.Now().UTC().Truncate(time.Second)
	if u, err := url.Parse(rawURL); err == nil {
		if t, err := time.Parse("20060102T150405Z", u.Query().Get("X-Amz-Date")); err == nil {
			signed = t
		}
	}
	return signed.Add(expires)
}

// mustSend lists the signed headers a caller has to send itself: all but
// Host, which every HTTP client sends from the URL.
func mustSend(h http.Header) map[string]string {
	out := map[string]string{}
	for name, values := range h {
		if strings.EqualFold(name, "Host") {
			continue
		}
		out[http.CanonicalHeaderKey(name)] = strings.Join(values, ",")
	}
	return out
}
