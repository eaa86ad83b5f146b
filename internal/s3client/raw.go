package s3client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/httpbinding"

	"github.com/s3flow/s3flow/internal/connection"
)

// EmptyPayloadHash is the SHA-256 of no bytes.
const EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// QueryParam is one query string item, unencoded.
type QueryParam struct{ Name, Value string }

// RawRequest is a request to the S3 REST API that s3flow signs and sends.
type RawRequest struct {
	Method string
	// Path is relative to the endpoint, unencoded: "/demo/a b+c.txt".
	Path string
	// Query items, unencoded; a name with an empty value ("tagging") is
	// sent without "=".
	Query  []QueryParam
	Header http.Header
	// Body is sent as the payload; nil means none. It is read twice, once
	// to hash it and once to send it.
	Body io.ReadSeeker
}

// URL puts the request's path and query under endpoint, encoded exactly
// once the way S3 expects (RFC 3986 unreserved characters stay, all else is
// %XX). The URL is built from its parts, never parsed from a pasted
// string: whatever the path holds ("//host", "@host", "http://..."), the
// scheme and host are the endpoint's.
func (r RawRequest) URL(endpoint *url.URL) (*url.URL, error) {
	if endpoint == nil || endpoint.Host == "" || endpoint.User != nil {
		return nil, fmt.Errorf("the endpoint must be a URL with a host and no login")
	}
	p := r.Path
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	u := &url.URL{
		Scheme:  endpoint.Scheme,
		Host:    endpoint.Host,
		Path:    strings.TrimRight(endpoint.Path, "/") + p,
		RawPath: strings.TrimRight(endpoint.EscapedPath(), "/") + httpbinding.EscapePath(p, false),
	}
	if len(r.Query) > 0 {
		parts := make([]string, len(r.Query))
		for i, q := range r.Query {
			parts[i] = httpbinding.EscapePath(q.Name, true)
			if q.Value != "" {
				parts[i] += "=" + httpbinding.EscapePath(q.Value, true)
			}
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	return u, nil
}

// Sign signs req in place with SigV4 (the SDK's signer) for service in
// region at t, hashing the payload into x-amz-content-sha256 as S3 requires.
// S3 paths are already escaped once, so the signer must not escape again.
func Sign(ctx context.Context, req *http.Request, creds aws.Credentials, payloadHash, service, region string, t time.Time) error {
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	return v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).
		SignHTTP(ctx, creds, req, payloadHash, service, region, t)
}

// Send signs and sends r to the endpoint of region ("" for the default).
// When S3 answers that the bucket lives in another region, it sends it once
// more there. The caller closes the response body.
func (c *Client) Send(ctx context.Context, region string, r RawRequest) (*http.Response, error) {
	if region == "" {
		region = c.cfg.Region
	}
	if err := connection.CheckRegion(region); err != nil {
		return nil, err
	}
	if key := rawKey(r.Path); key != "" && c.conn.Kind == connection.KindLocal {
		if err := CheckLocalKey(key); err != nil {
			return nil, err
		}
	}
	resp, err := c.send(ctx, region, r)
	if err != nil {
		return nil, err
	}
	if other := headerRegion(resp.Header); other != "" && other != region &&
		(resp.StatusCode == http.StatusMovedPermanently || resp.StatusCode == http.StatusBadRequest) {
		resp.Body.Close()
		c.logger.DebugContext(ctx, "bucket is in another region; retrying there", "from", region, "to", other)
		return c.send(ctx, other, r)
	}
	return resp, nil
}

func (c *Client) send(ctx context.Context, region string, r RawRequest) (*http.Response, error) {
	endpoint, err := c.Endpoint(region)
	if err != nil {
		return nil, err
	}
	u, err := r.URL(endpoint)
	if err != nil {
		return nil, fmt.Errorf("build the request URL: %w", err)
	}
	payloadHash := EmptyPayloadHash
	var body io.Reader
	var length int64
	if r.Body != nil {
		h := sha256.New()
		if _, err := r.Body.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		if length, err = io.Copy(h, r.Body); err != nil {
			return nil, fmt.Errorf("read the body: %w", err)
		}
		if _, err := r.Body.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		payloadHash, body = hex.EncodeToString(h.Sum(nil)), r.Body
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), body)
	if err != nil {
		return nil, err
	}
	req.URL = u
	req.ContentLength = length
	for name, values := range r.Header {
		req.Header[http.CanonicalHeaderKey(name)] = values
	}
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("get credentials of connection %q: %w", c.conn.Name, err)
	}
	if err := Sign(ctx, req, creds, payloadHash, "s3", region, time.Now().UTC()); err != nil {
		return nil, fmt.Errorf("sign the request: %w", err)
	}
	start := time.Now()
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, Explain(err)
	}
	c.logger.DebugContext(ctx, "s3 request", "op", "APICall", "method", r.Method, "host", u.Host, "path", u.EscapedPath(),
		"status", resp.StatusCode, "requestId", resp.Header.Get("X-Amz-Request-Id"), "duration", time.Since(start).Round(time.Millisecond))
	return resp, nil
}
